package instrument

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
)

// PgxTracer records db.client.operation.duration for every statement,
// db.client.connection.wait_time for every pool acquire, counts calls per
// HTTP request and logs slow statements. Set it as
// pgxpool.Config.ConnConfig.Tracer; it implements pgx.QueryTracer,
// pgx.BatchTracer, pgx.CopyFromTracer, pgx.PrepareTracer and
// pgxpool.AcquireTracer.
type PgxTracer struct {
	i *Instrumentation
}

var (
	_ pgx.QueryTracer       = PgxTracer{}
	_ pgx.BatchTracer       = PgxTracer{}
	_ pgx.CopyFromTracer    = PgxTracer{}
	_ pgx.PrepareTracer     = PgxTracer{}
	_ pgxpool.AcquireTracer = PgxTracer{}
)

// PgxTracer returns the tracer to set as pgxpool.Config.ConnConfig.Tracer.
func (i *Instrumentation) PgxTracer() PgxTracer { return PgxTracer{i: i} }

// pgCall carries a statement's start time from Trace*Start to Trace*End.
type pgCall struct {
	context.Context
	start time.Time
	entry *opEntry
}

type pgCallKey struct{}

// Value implements context.Context.
func (c *pgCall) Value(key any) any {
	if key == (pgCallKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (t PgxTracer) startCall(ctx context.Context, e *opEntry) context.Context {
	countQuery(ctx)
	return &pgCall{Context: ctx, start: time.Now(), entry: e}
}

func (t PgxTracer) endCall(ctx context.Context, e *opEntry, start time.Time) {
	d := time.Since(start)
	t.i.dbDuration.Record(ctx, d.Seconds(), e.opts...)
	t.i.logSlow(ctx, "postgresql", e, d)
}

// TraceQueryStart implements pgx.QueryTracer.
func (t PgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return t.startCall(ctx, t.i.pgEntry(data.SQL))
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if c, ok := ctx.Value(pgCallKey{}).(*pgCall); ok {
		t.endCall(ctx, c.entry, c.start)
	}
}

// TraceBatchStart implements pgx.BatchTracer: a batch is one round trip
// and counts as one call of the request.
func (t PgxTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	countQuery(ctx)
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer: each statement of the batch is
// recorded from when pgx started reading its result.
func (t PgxTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if data.ReadStartTime.IsZero() {
		return
	}
	t.endCall(ctx, t.i.pgEntry(data.SQL), data.ReadStartTime)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (t PgxTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t PgxTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return t.startCall(ctx, t.i.pgOps.get(opKey{operation: "COPY"}))
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t PgxTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	if c, ok := ctx.Value(pgCallKey{}).(*pgCall); ok {
		t.endCall(ctx, c.entry, c.start)
	}
}

// TracePrepareStart implements pgx.PrepareTracer: it learns the SQL text of
// named statements so later executions by name get the name as summary.
// Preparing is not recorded as an operation.
func (t PgxTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	t.i.prepared.add(data.Name, data.SQL)
	return ctx
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (t PgxTracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// pgAcquire carries the acquire start time.
type pgAcquire struct {
	context.Context
	start time.Time
	state *pgPoolState
}

type pgAcquireKey struct{}

// Value implements context.Context.
func (c *pgAcquire) Value(key any) any {
	if key == (pgAcquireKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// TraceAcquireStart implements pgxpool.AcquireTracer.
func (t PgxTracer) TraceAcquireStart(ctx context.Context, pool *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	st := t.i.pgPoolState(pool)
	st.acquiring.Add(1)
	return &pgAcquire{Context: ctx, start: time.Now(), state: st}
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (t PgxTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	a, ok := ctx.Value(pgAcquireKey{}).(*pgAcquire)
	if !ok {
		return
	}
	a.state.acquiring.Add(-1)
	if data.Err != nil && errors.Is(data.Err, context.DeadlineExceeded) {
		a.state.timeouts.Add(1)
	}
	t.i.waitTime.Record(a.Context, time.Since(a.start).Seconds(), a.state.attrs.poolRecs...)
}

// pgPoolState is what the tracer knows of one pool.
type pgPoolState struct {
	attrs     poolAttrs
	acquiring atomic.Int64 // Acquire calls in progress
	timeouts  atomic.Int64 // Acquire calls that ended with context.DeadlineExceeded
}

func (i *Instrumentation) newPgPoolState(name string) *pgPoolState {
	return &pgPoolState{attrs: newPoolAttrs(name)}
}

// pgPoolState returns the state of an observed pool, or the shared state
// of pools not passed to ObservePgxPool (pool name "postgres", wait time
// only).
func (i *Instrumentation) pgPoolState(pool *pgxpool.Pool) *pgPoolState {
	if v, ok := i.pgPools.Load(pool); ok {
		return v.(*pgPoolState)
	}
	return i.defaultPgState
}

// ObservePgxPool exports the pool's db.client.connection.count (used, idle),
// .max, .pending_requests and .timeouts under the given pool name, and
// names the pool on the wait-time histogram. pending_requests is the number
// of Acquire calls in progress and timeouts counts acquires that ended with
// context.DeadlineExceeded, both as seen by PgxTracer: set the tracer on
// the pool's ConnConfig, or they stay 0.
func (i *Instrumentation) ObservePgxPool(name string, pool *pgxpool.Pool) error {
	if pool == nil {
		return errors.New("instrument: ObservePgxPool got a nil pool")
	}
	st := i.newPgPoolState(name)
	if err := i.addPoolObserver(name, func(o metric.Observer) {
		s := pool.Stat()
		o.ObserveInt64(i.connCount, int64(s.AcquiredConns()), st.attrs.used)
		o.ObserveInt64(i.connCount, int64(s.IdleConns()), st.attrs.idle)
		o.ObserveInt64(i.connMax, int64(s.MaxConns()), st.attrs.pool)
		o.ObserveInt64(i.connPending, max(st.acquiring.Load(), 0), st.attrs.pool)
		o.ObserveInt64(i.connTimeouts, st.timeouts.Load(), st.attrs.pool)
	}); err != nil {
		return err
	}
	i.pgPools.Store(pool, st)
	return nil
}

// logSlow writes the slow query log line: never SQL text or parameters.
func (i *Instrumentation) logSlow(ctx context.Context, system string, e *opEntry, d time.Duration) {
	if i.slowThreshold < 0 || d < i.slowThreshold {
		return
	}
	i.logger.LogAttrs(ctx, slog.LevelWarn, "slow query",
		slog.String("db_system", system),
		slog.String("summary", e.summary),
		slog.Float64("duration_seconds", d.Seconds()),
		slog.String("route", routeOf(ctx)),
	)
}
