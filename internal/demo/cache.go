package demo

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/loadlens/loadlens/instrument"
)

// Cache is the Redis cache-aside of the read paths.
//
// Reads: GET; on a miss the caller reads PostgreSQL and calls fill.
// Writes: after the UPDATE has committed, invalidate deletes the entry and
// sets a short tombstone; fill refuses to write while a tombstone exists
// (one Lua script, atomic), so a reader that fetched the old row before the
// commit cannot put it back after the delete. The tombstone lives as long
// as a reader can take between its database read and its fill (database
// deadline plus Redis deadline).
//
// Redis failures never fail a request: a lookup that errors counts as a
// miss and the read goes to PostgreSQL; after a failure the cache is
// bypassed for a second (a cheap circuit breaker) so that a dead Redis does
// not add its timeout to every request. Invalidations are always attempted.
// If one fails (Redis unreachable) the entry can stay stale until its TTL;
// the failure is logged.
type Cache struct {
	rdb      *redis.Client
	prefix   string
	ttl      time.Duration
	tombTTL  time.Duration
	timeout  time.Duration
	fill     *redis.Script
	log      *limitedLog
	openTill atomic.Int64 // UnixNano until which the breaker bypasses Redis

	users, posts *instrument.Cache
}

// breakerPause is how long the cache is bypassed after a Redis error.
const breakerPause = time.Second

const fillScript = `if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

// NewCache builds the cache over rdb; users and posts count hits and misses.
func NewCache(rdb *redis.Client, prefix string, ttl, tombTTL, timeout time.Duration, users, posts *instrument.Cache, log *limitedLog) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, ttl: ttl, tombTTL: tombTTL, timeout: timeout,
		fill: redis.NewScript(fillScript), log: log, users: users, posts: posts}
}

func (c *Cache) key(kind string, id int64) string {
	// The hash tag keeps an entry and its tombstone in one cluster slot.
	return c.prefix + "{" + kind + ":" + strconv.FormatInt(id, 10) + "}"
}

func (c *Cache) broken() bool { return time.Now().UnixNano() < c.openTill.Load() }

func (c *Cache) failed(op string, err error) {
	c.openTill.Store(time.Now().Add(breakerPause).UnixNano())
	c.log.Warn("redis unavailable, serving from postgres", "op", op, "err", err)
}

// get looks the entry up and returns its JSON, which is the response body
// as writeJSON encodes it, so a hit is served without decoding and
// re-encoding. nil is a miss (including Redis errors and an entry that is
// not a JSON object).
func (c *Cache) get(ctx context.Context, counter *instrument.Cache, kind string, id int64) []byte {
	if c.broken() {
		counter.Miss(ctx)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, c.key(kind, id)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		counter.Miss(ctx)
		return nil
	case err != nil:
		c.failed("get", err)
		counter.Miss(ctx)
		return nil
	}
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		c.log.Warn("undecodable cache entry ignored", "kind", kind)
		counter.Miss(ctx)
		return nil
	}
	counter.Hit(ctx)
	return b
}

// set fills the entry unless a write invalidated it moments ago.
func (c *Cache) set(ctx context.Context, kind string, id int64, v any) {
	if c.broken() {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	k := c.key(kind, id)
	if err := c.fill.Run(ctx, c.rdb, []string{k, k + ":inv"}, b, c.ttl.Milliseconds()).Err(); err != nil {
		c.failed("fill", err)
	}
}

// invalidate deletes the entry and sets its tombstone; call it after the
// database write committed.
func (c *Cache) invalidate(ctx context.Context, kind string, id int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	k := c.key(kind, id)
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k+":inv", 1, c.tombTTL)
		p.Del(ctx, k)
		return nil
	})
	if err != nil {
		c.failed("invalidate", err)
		return err
	}
	return nil
}

// GetUser returns the cached user's JSON (nil on a miss).
func (c *Cache) GetUser(ctx context.Context, id int64) []byte {
	return c.get(ctx, c.users, "user", id)
}

// SetUser caches the user.
func (c *Cache) SetUser(ctx context.Context, u User) { c.set(ctx, "user", u.ID, u) }

// InvalidateUser drops the cached user after a committed update.
func (c *Cache) InvalidateUser(ctx context.Context, id int64) error {
	return c.invalidate(ctx, "user", id)
}

// GetPost returns the cached post's JSON (nil on a miss).
func (c *Cache) GetPost(ctx context.Context, id int64) []byte {
	return c.get(ctx, c.posts, "post", id)
}

// SetPost caches the post.
func (c *Cache) SetPost(ctx context.Context, p Post) { c.set(ctx, "post", p.ID, p) }

// limitedLog logs at most one line per interval; the next line says how
// many were suppressed.
type limitedLog struct {
	logger     *slog.Logger
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newLimitedLog(logger *slog.Logger, every time.Duration) *limitedLog {
	return &limitedLog{logger: logger, every: every}
}

// Warn logs msg unless a line was logged less than every ago.
func (l *limitedLog) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.logger.Warn(msg, args...)
}
