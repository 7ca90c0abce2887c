package instrument

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
)

// redisHook implements redis.Hook.
type redisHook struct {
	i         *Instrumentation
	poolName  string
	names     redisNames
	pipeline  *opEntry
	handshake *opEntry // a pipeline go-redis sends itself on a new connection
}

// RedisHook returns a go-redis hook (client.AddHook) that records
// db.client.operation.duration with db.system.name=redis, the command as
// db.operation.name and db.query.summary (upper case, e.g. "GET"; a pipeline
// is one "PIPELINE" operation, the connection handshake pipeline go-redis
// sends itself is summarised "HANDSHAKE"), counts each command or pipeline as one
// call of the current HTTP request and logs slow commands. poolName names
// the client in logs; pass the same name to ObserveRedisPool.
func (i *Instrumentation) RedisHook(poolName string) redis.Hook {
	return &redisHook{i: i, poolName: poolName,
		pipeline:  i.redisOps.get(opKey{operation: "PIPELINE", name: "PIPELINE", named: true}),
		handshake: i.redisOps.get(opKey{operation: "PIPELINE", name: "HANDSHAKE", named: true})}
}

// DialHook implements redis.Hook.
func (h *redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return next
}

// ProcessHook implements redis.Hook.
func (h *redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !isHandshake(cmd) {
			countQuery(ctx)
		}
		start := time.Now()
		err := next(ctx, cmd)
		e := h.names.entry(h.i, cmd.Name())
		d := time.Since(start)
		h.i.dbDuration.Record(ctx, d.Seconds(), e.opts...)
		h.i.logSlow(ctx, "redis", e, d)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		e := h.pipeline
		if allHandshake(cmds) {
			e = h.handshake
		} else {
			countQuery(ctx)
		}
		start := time.Now()
		err := next(ctx, cmds)
		d := time.Since(start)
		h.i.dbDuration.Record(ctx, d.Seconds(), e.opts...)
		h.i.logSlow(ctx, "redis", e, d)
		return err
	}
}

// redisNames maps go-redis command names ("get") to entries, copy-on-write.
type redisNames struct {
	m  atomic.Pointer[map[string]*opEntry]
	mu sync.Mutex
}

const maxRedisNames = 256

func (r *redisNames) entry(i *Instrumentation, name string) *opEntry {
	if m := r.m.Load(); m != nil {
		if e, ok := (*m)[name]; ok {
			return e
		}
	}
	upper := strings.ToUpper(name)
	if upper == "" {
		upper = otherValue
	}
	e := i.redisOps.get(opKey{operation: upper, name: upper, named: true})
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n >= maxRedisNames {
		return e
	}
	next := make(map[string]*opEntry, n+1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[name] = e
	r.m.Store(&next)
	return e
}

// ObserveRedisPool exports the client's db.client.connection.count (used =
// total - idle, idle), .max, .pending_requests and .timeouts from PoolStats
// under the given pool name. The main pool and go-redis' dedicated pipeline
// pool are added up; max is PoolSize plus PipelinePoolSize for a
// *redis.Client and is omitted for cluster and ring clients (their sizes
// are per node).
func (i *Instrumentation) ObserveRedisPool(name string, client redis.UniversalClient) error {
	if client == nil {
		return errors.New("instrument: ObserveRedisPool got a nil client")
	}
	poolSize := -1
	if c, ok := client.(*redis.Client); ok {
		opt := c.Options()
		poolSize = opt.PoolSize
		// The dedicated pipeline pool (go-redis v9.23) adds its own connections.
		if pps := opt.PipelinePoolSize; pps >= 0 {
			if pps == 0 {
				pps = redis.DefaultPipelinePoolSize
			}
			poolSize += pps
		}
	}
	attrs := newPoolAttrs(name)
	return i.addPoolObserver(name, func(o metric.Observer) {
		s := client.PoolStats()
		if s == nil {
			return
		}
		total, idle := int64(s.TotalConns), int64(s.IdleConns)
		pending, timeouts := int64(s.PendingRequests), int64(s.Timeouts)
		if p := s.PipelineStats; p != nil {
			total, idle = total+int64(p.TotalConns), idle+int64(p.IdleConns)
			pending, timeouts = pending+int64(p.PendingRequests), timeouts+int64(p.Timeouts)
		}
		used := max(total-idle, 0)
		o.ObserveInt64(i.connCount, used, attrs.used)
		o.ObserveInt64(i.connCount, idle, attrs.idle)
		if poolSize >= 0 {
			o.ObserveInt64(i.connMax, int64(poolSize), attrs.pool)
		}
		o.ObserveInt64(i.connPending, pending, attrs.pool)
		o.ObserveInt64(i.connTimeouts, timeouts, attrs.pool)
	})
}

// isHandshake reports the commands go-redis sends itself when it opens a
// connection (HELLO, AUTH, SELECT, READONLY, CLIENT ...). They run through
// the hooks with the caller's context; they are timed like any command but
// not counted as calls of the request, so a request that happens to open a
// connection does not look like an N+1.
func isHandshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "readonly", "client":
		return true
	}
	return false
}

func allHandshake(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if !isHandshake(c) {
			return false
		}
	}
	return len(cmds) > 0
}
