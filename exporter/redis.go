package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConfig configures the redis collector.
type RedisConfig struct {
	Addr     string // host:port, or a redis:// or rediss:// URL
	Username string // ACL user (Redis 6+); empty for the default user
	Password string
	Timeout  time.Duration // dial, read and write timeout of the connection; default 3s
}

// defaultRedisTimeout is below DefaultBudget, so a stalled server fails a
// scrape on its own timeout rather than overrunning the budget.
const defaultRedisTimeout = 3 * time.Second

// RedisCollector reads one Redis server with INFO through ONE connection
// (a go-redis client with a pool of size 1). A broken connection is
// dropped and redialled by the next scrape; a refused dial fails at once,
// so a stopped server reports loadlens_redis_up 0 without waiting.
type RedisCollector struct {
	client   *redis.Client
	target   string // address without credentials, for logs
	password string // scrubbed from error text
	logger   *slog.Logger
	descs    *redisDescs

	wasUp atomic.Int32 // 0 unknown, 1 up, -1 down: logs state changes once
}

// NewRedisCollector validates cfg and builds the client. It does not
// connect: the first scrape does. Errors never contain the password.
func NewRedisCollector(cfg RedisConfig, logger *slog.Logger) (*RedisCollector, error) {
	logger = discardLogger(logger)
	addr := strings.TrimSpace(cfg.Addr)
	if addr == "" {
		return nil, errors.New("redis address is empty")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("redis timeout %s: must not be negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultRedisTimeout
	}
	opts := &redis.Options{Addr: addr, Username: cfg.Username, Password: cfg.Password}
	if strings.Contains(addr, "://") {
		parsed, err := redis.ParseURL(addr)
		if err != nil {
			// ParseURL's errors may quote the URL: never repeat it.
			return nil, errors.New("invalid redis URL: want redis://[user:password@]host:port[/db] or rediss://")
		}
		opts = parsed
		if cfg.Username != "" {
			opts.Username = cfg.Username
		}
		if cfg.Password != "" {
			opts.Password = cfg.Password
		}
	}
	// CLIENT LIST shows who holds the connection (needs +client|setname
	// for an ACL user); RESP2 keeps INFO plain text on every version.
	opts.ClientName = "loadlens-exporter"
	opts.Protocol = 2
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// One connection, never a pool of many; no retries nor dial retries, so
	// a dead server fails a scrape fast and the next scrape redials.
	opts.PoolSize = 1
	opts.MinIdleConns = 0
	opts.MaxIdleConns = 1
	opts.MaxActiveConns = 1
	opts.MaxConcurrentDials = 1
	opts.PipelinePoolSize = -1
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true

	return &RedisCollector{
		client:   redis.NewClient(opts),
		target:   opts.Addr,
		password: opts.Password,
		logger:   logger.With("collector", "redis", "target", opts.Addr),
		descs:    newRedisDescs(),
	}, nil
}

// Close closes the connection.
func (c *RedisCollector) Close() error { return c.scrub(c.client.Close()) }

// Update implements Collector: one INFO ALL round trip (plus CONFIG GET
// maxclients on servers before 7.0, whose INFO lacks it).
func (c *RedisCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	raw, err := c.client.Info(ctx, "all").Result()
	if err != nil {
		err = c.scrub(err)
		ch <- prometheus.MustNewConstMetric(c.descs.up, prometheus.GaugeValue, 0)
		if c.wasUp.Swap(-1) != -1 {
			c.logger.Warn("redis is unreachable", "err", err)
		}
		return fmt.Errorf("redis INFO on %s: %w", c.target, err)
	}
	if c.wasUp.Swap(1) != 1 {
		c.logger.Info("redis is reachable")
	}
	info := parseInfo(raw)
	var maxclients float64
	maxclientsOK := false
	if _, inInfo := info.Fields["maxclients"]; !inInfo {
		maxclients, maxclientsOK = c.configMaxclients(ctx)
	}
	ch <- prometheus.MustNewConstMetric(c.descs.up, prometheus.GaugeValue, 1)
	for _, m := range redisSamples(info, maxclients, maxclientsOK, c.descs) {
		ch <- m
	}
	return nil
}

// configMaxclients reads maxclients with CONFIG GET, tolerating CONFIG
// being renamed, disabled or denied by an ACL: then the family is absent.
func (c *RedisCollector) configMaxclients(ctx context.Context) (float64, bool) {
	res, err := c.client.ConfigGet(ctx, "maxclients").Result()
	if err != nil {
		c.logger.Debug("cannot read maxclients with CONFIG GET", "err", c.scrub(err))
		return 0, false
	}
	v, err := strconv.ParseFloat(res["maxclients"], 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// scrub removes the password from error text.
func (c *RedisCollector) scrub(err error) error {
	if err == nil || c.password == "" || !strings.Contains(err.Error(), c.password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), c.password, "xxxxx"))
}

var _ Collector = (*RedisCollector)(nil)
