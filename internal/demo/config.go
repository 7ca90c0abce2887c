package demo

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Modes are the --mode shorthands. Explicit --postgres.pool-size and
// --cache.enabled override them.
const (
	ModeNaive = "naive" // pool of 4 connections, cache off
	ModeTuned = "tuned" // pool of 50 connections, cache on
)

// Pool sizes and cache setting of each mode.
const (
	naivePoolSize = 4
	tunedPoolSize = 50
	maxPoolSize   = 1000
)

// MaxBodyBytes is the largest request body the API reads; larger bodies
// are answered with 413.
const MaxBodyBytes = 64 << 10

// Config is everything a Server needs. Build it with DefaultConfig and
// override fields; New validates it.
type Config struct {
	ListenAddress      string // public listener: API, /metrics, /healthz, /readyz
	AdminListenAddress string // admin listener: /debug/pprof/, Go runtime and process /metrics

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownDelay is how long /readyz answers 503 before the listeners
	// stop accepting (lets load balancers drop the pod first).
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds the draining of in-flight requests.
	ShutdownTimeout time.Duration

	PostgresDSN string
	// PostgresPoolSize is the pgxpool MaxConns; 0 takes it from Mode.
	PostgresPoolSize int
	// PostgresTimeout is the deadline of one database operation, pool
	// acquire (and the injected query delay) included.
	PostgresTimeout time.Duration
	// StartupTimeout bounds how long New retries PostgreSQL for migrations.
	StartupTimeout time.Duration

	RedisAddr      string
	RedisPassword  string
	RedisDB        int
	RedisTimeout   time.Duration // deadline of one Redis command (and dial/read/write timeouts)
	RedisPoolSize  int           // 0: go-redis default (10 per CPU)
	RedisKeyPrefix string

	// Mode is ModeNaive or ModeTuned.
	Mode string
	// CacheEnabled overrides the mode's cache setting when not nil.
	CacheEnabled *bool
	CacheTTL     time.Duration

	// FaultQueryDelay runs pg_sleep for this long on the connection of
	// every database operation before its statement: connections stay busy
	// longer, and the pool saturates.
	FaultQueryDelay time.Duration
	// FaultCPUBurn burns CPU for this long in every API request.
	FaultCPUBurn time.Duration

	// ReadyzRequireRedis makes /readyz fail when Redis is unreachable
	// (by default Redis being down only degrades: reads fall back to
	// PostgreSQL, so taking every pod out of service would be worse).
	ReadyzRequireRedis bool

	SlowQueryThreshold time.Duration
	OTLPEndpoint       string
	ServiceName        string
}

// DefaultConfig returns the defaults the flags document.
func DefaultConfig() Config {
	return Config{
		ListenAddress:      ":8080",
		AdminListenAddress: "127.0.0.1:6060",
		ReadHeaderTimeout:  5 * time.Second,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        2 * time.Minute,
		ShutdownDelay:      0,
		ShutdownTimeout:    25 * time.Second,
		PostgresTimeout:    2 * time.Second,
		StartupTimeout:     30 * time.Second,
		RedisAddr:          "localhost:6379",
		RedisTimeout:       200 * time.Millisecond,
		RedisKeyPrefix:     "loadlens:demo:",
		Mode:               ModeTuned,
		CacheTTL:           time.Minute,
		SlowQueryThreshold: 200 * time.Millisecond,
		ServiceName:        "loadlens-demo",
	}
}

// PoolSize is the effective PostgreSQL pool size: the explicit value, else the mode's.
func (c Config) PoolSize() int {
	if c.PostgresPoolSize > 0 {
		return c.PostgresPoolSize
	}
	if c.Mode == ModeNaive {
		return naivePoolSize
	}
	return tunedPoolSize
}

// CacheOn is the effective cache setting: the explicit value, else the mode's.
func (c Config) CacheOn() bool {
	if c.CacheEnabled != nil {
		return *c.CacheEnabled
	}
	return c.Mode != ModeNaive
}

// Validate reports the first configuration error as one line naming the
// flag. It never includes a password.
func (c Config) Validate() error {
	switch {
	case c.Mode != ModeNaive && c.Mode != ModeTuned:
		return fmt.Errorf("--mode must be %q or %q, got %q", ModeNaive, ModeTuned, c.Mode)
	case c.PostgresDSN == "":
		return errors.New("--postgres.dsn (or LOADLENS_POSTGRES_DSN) is required")
	case c.PostgresPoolSize < 0 || c.PostgresPoolSize > maxPoolSize:
		return fmt.Errorf("--postgres.pool-size must be between 1 and %d, got %d", maxPoolSize, c.PostgresPoolSize)
	case c.PostgresTimeout <= 0:
		return errors.New("--postgres.timeout must be positive")
	case c.RedisTimeout <= 0:
		return errors.New("--redis.timeout must be positive")
	case c.CacheOn() && c.RedisAddr == "":
		return errors.New("--redis.addr is required when the cache is enabled (or pass --no-cache.enabled)")
	case c.RedisDB < 0:
		return errors.New("--redis.db must not be negative")
	case c.RedisPoolSize < 0:
		return errors.New("--redis.pool-size must not be negative")
	case c.CacheTTL <= 0:
		return errors.New("--cache.ttl must be positive")
	case c.FaultQueryDelay < 0:
		return errors.New("--fault.query-delay must not be negative")
	case c.FaultCPUBurn < 0:
		return errors.New("--fault.cpu-burn must not be negative")
	case c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("--web.*-timeout values must be positive")
	case c.ShutdownTimeout <= 0 || c.ShutdownDelay < 0:
		return errors.New("--web.shutdown-timeout must be positive and --web.shutdown-delay not negative")
	}
	if _, err := parsePoolConfig(c.PostgresDSN); err != nil {
		return err
	}
	return nil
}

// parsePoolConfig parses the DSN, returning an error that names the flag
// and never contains the password.
func parsePoolConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid --postgres.dsn: %s", redact(rootMessage(err), dsnSecrets(dsn)...))
	}
	return cfg, nil
}

// rootMessage is the innermost error's text: pgconn wraps the whole DSN
// into its outer message.
func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN hides the password of a PostgreSQL URL or keyword/value DSN.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "postgres://[unparsable]"
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// dsnPassword extracts the password from a DSN without full parsing, so
// that it can be scrubbed from error text even when parsing fails.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

// dsnSecrets are the strings to scrub from any text that may quote the
// DSN: the password as written (URL-escaped) and decoded.
func dsnSecrets(dsn string) []string {
	out := []string{dsnPassword(dsn)}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, esc, ok := strings.Cut(u.User.String(), ":"); ok {
			out = append(out, esc)
		}
	}
	return out
}

// redact removes every non-empty secret from msg.
func redact(msg string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}
