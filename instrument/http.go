package instrument

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HTTP methods known to OpenTelemetry semantic conventions; anything else is
// recorded as "_OTHER".
const (
	methodGet = iota
	methodHead
	methodPost
	methodPut
	methodDelete
	methodConnect
	methodOptions
	methodTrace
	methodPatch
	methodOther
	numMethods
)

var methodNames = [numMethods]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return methodGet
	case http.MethodHead:
		return methodHead
	case http.MethodPost:
		return methodPost
	case http.MethodPut:
		return methodPut
	case http.MethodDelete:
		return methodDelete
	case http.MethodConnect:
		return methodConnect
	case http.MethodOptions:
		return methodOptions
	case http.MethodTrace:
		return methodTrace
	case http.MethodPatch:
		return methodPatch
	}
	return methodOther
}

// routeFromPattern turns a ServeMux pattern ("GET /users/{id}",
// "example.com/x") into the http.route value ("/users/{id}").
func routeFromPattern(p string) string {
	if p == "" {
		return unmatchedRoute
	}
	if sp := strings.IndexAny(p, " \t"); sp >= 0 {
		p = strings.TrimLeft(p[sp:], " \t")
	}
	if p == "" {
		return unmatchedRoute
	}
	return p
}

// routeEntry holds the precomputed attribute options of one route.
type routeEntry struct {
	route        string
	queriesOpts  []metric.RecordOption
	durationOpts atomic.Pointer[map[uint32][]metric.RecordOption] // key: method<<16 | status
	mu           sync.Mutex
}

// maxStatusesPerRoute bounds the (method, status) pairs cached per route;
// past it options are built per request (correct, but allocating).
const maxStatusesPerRoute = 256

func (e *routeEntry) durationOptions(method, status int) []metric.RecordOption {
	key := uint32(method)<<16 | uint32(status)
	if m := e.durationOpts.Load(); m != nil {
		if o, ok := (*m)[key]; ok {
			return o
		}
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("http.request.method", methodNames[method]),
		attribute.String("http.route", e.route),
		attribute.Int("http.response.status_code", status),
	))}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.durationOpts.Load()
	var n int
	if old != nil {
		if o, ok := (*old)[key]; ok {
			return o
		}
		n = len(*old)
	}
	if n >= maxStatusesPerRoute {
		return opts
	}
	next := make(map[uint32][]metric.RecordOption, n+1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[key] = opts
	e.durationOpts.Store(&next)
	return opts
}

// routeCache maps ServeMux patterns to route entries, copy-on-write so the
// steady state is a lock-free map read.
type routeCache struct {
	m         atomic.Pointer[map[string]*routeEntry]
	mu        sync.Mutex
	unmatched *routeEntry
	other     *routeEntry
}

func (c *routeCache) init(*Instrumentation) {
	c.unmatched = newRouteEntry(unmatchedRoute)
	c.other = newRouteEntry(otherValue)
	m := map[string]*routeEntry{"": c.unmatched}
	c.m.Store(&m)
}

func newRouteEntry(route string) *routeEntry {
	return &routeEntry{
		route: route,
		queriesOpts: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("http.route", route)))},
	}
}

// entry returns the entry of a raw ServeMux pattern.
func (c *routeCache) entry(pattern string) *routeEntry {
	if e, ok := (*c.m.Load())[pattern]; ok {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if e, ok := old[pattern]; ok {
		return e
	}
	route := routeFromPattern(pattern)
	var e *routeEntry
	// Several patterns may share a route ("GET /x" and "POST /x").
	for _, v := range old {
		if v.route == route {
			e = v
			break
		}
	}
	if e == nil {
		if len(old) >= MaxRoutes {
			return c.other
		}
		e = newRouteEntry(route)
	}
	next := make(map[string]*routeEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[pattern] = e
	c.m.Store(&next)
	return e
}

// reqState is the per-request query counter. The pgx tracer and the Redis
// hook find it through the context: either in a reqCtx the middleware puts
// on the request, or in the connection's connCtx (see ConnContext).
type reqState struct {
	queries atomic.Int64
	req     atomic.Pointer[http.Request] // the request passed to the wrapped handler; Pattern is read after matching
}

type ctxKey int

const (
	reqStateKey ctxKey = iota
	connCtxKey
)

// reqCtx is the context of a request whose connection has no free connCtx:
// it and the request copy that carries it are one allocation. It is never
// reused, so a goroutine that outlives its request keeps a valid context.
type reqCtx struct {
	context.Context
	st  reqState
	req http.Request
}

// Value implements context.Context.
func (c *reqCtx) Value(key any) any {
	if key == reqStateKey {
		return &c.st
	}
	return c.Context.Value(key)
}

// connCtx is the connection context ConnContext installs. net/http serves
// the requests of an HTTP/1 connection one after the other, so one counter
// per connection, reset by the middleware for each request, carries the
// accounting without a per-request context or request copy. busy is taken
// with a compare-and-swap: concurrent requests sharing it (HTTP/2 streams)
// fall back to a reqCtx.
type connCtx struct {
	context.Context
	busy atomic.Bool
	st   reqState
}

// Value implements context.Context: the counter is visible only while a
// request holds it.
func (c *connCtx) Value(key any) any {
	switch key {
	case connCtxKey:
		return c
	case reqStateKey:
		if c.busy.Load() {
			return &c.st
		}
	}
	return c.Context.Value(key)
}

// ConnContext is an http.Server ConnContext hook. With it, the middleware
// keeps the per-request query counter on the connection instead of
// allocating a context and a request copy per request, so the steady-state
// HTTP/1 path allocates nothing:
//
//	srv.ConnContext = instr.ConnContext
//
// A server with a ConnContext of its own calls this one on its result.
// A goroutine that outlives its request and keeps making database calls
// with a context detached by context.WithoutCancel may then have them
// counted to a later request of the same connection; without ConnContext
// they are not counted at all. Calls made with a cancelled context are not
// counted either way.
func (i *Instrumentation) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	if !i.accounting {
		return ctx
	}
	return &connCtx{Context: ctx}
}

func requestState(ctx context.Context) *reqState {
	s, _ := ctx.Value(reqStateKey).(*reqState)
	return s
}

// countQuery adds one database call to the request of ctx, if any.
func countQuery(ctx context.Context) {
	if s := requestState(ctx); s != nil && ctx.Err() == nil {
		s.queries.Add(1)
	}
}

// routeOf returns the http.route of the request of ctx, "" outside one.
func routeOf(ctx context.Context) string {
	s := requestState(ctx)
	if s == nil {
		return ""
	}
	r := s.req.Load()
	if r == nil {
		return ""
	}
	return routeFromPattern(r.Pattern)
}

// responseWriter records the status code. It is pooled: net/http forbids
// using a ResponseWriter after ServeHTTP returns.
type responseWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher when the underlying writer does.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker when the underlying writer does.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("instrument: underlying ResponseWriter is not a http.Hijacker")
	}
	if !w.wroteHeader {
		w.status = http.StatusSwitchingProtocols
		w.wroteHeader = true
	}
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Middleware records http.server.request.duration, http.server.active_requests
// and app.db.queries_per_request around next, which is typically a
// *http.ServeMux: the route is the pattern the mux matched (method prefix
// stripped), "unmatched" when nothing matched. Put it outermost so that the
// mux sets the Pattern on the request it passes down.
func (i *Instrumentation) Middleware(next http.Handler) http.Handler {
	pool := &sync.Pool{New: func() any { return new(responseWriter) }}
	return &middleware{i: i, next: next, writers: pool}
}

type middleware struct {
	i       *Instrumentation
	next    http.Handler
	writers *sync.Pool
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := m.i
	start := time.Now()
	method := methodIndex(r.Method)
	ctx := r.Context()
	var span trace.Span
	if i.tracer != nil {
		ctx = i.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		ctx, span = i.tracer.Start(ctx, methodNames[method], trace.WithSpanKind(trace.SpanKindServer))
	}
	var st *reqState
	var conn *connCtx
	if i.accounting {
		if c, ok := ctx.Value(connCtxKey).(*connCtx); ok && c.busy.CompareAndSwap(false, true) {
			conn, st = c, &c.st
			st.queries.Store(0)
		}
	}
	switch {
	case i.accounting && conn == nil:
		rc := &reqCtx{Context: ctx}
		rc.req = *r.WithContext(rc) // WithContext is inlined: its copy stays on the stack
		r, ctx, st = &rc.req, rc, &rc.st
	case ctx != r.Context():
		r = r.WithContext(ctx)
	}
	if st != nil {
		st.req.Store(r)
	}
	i.active[method].Add(1)
	if !i.activeSeen[method].Load() {
		i.activeSeen[method].Store(true)
	}

	rw := m.writers.Get().(*responseWriter)
	rw.ResponseWriter, rw.status, rw.wroteHeader = w, http.StatusOK, false
	completed := false
	defer m.finish(ctx, r, rw, st, conn, span, method, start, &completed)
	m.next.ServeHTTP(rw, r)
	completed = true
}

// finish runs deferred so that a panicking handler still leaves the
// active-requests gauge right; it is then recorded as a 500.
func (m *middleware) finish(ctx context.Context, r *http.Request, rw *responseWriter, st *reqState, conn *connCtx,
	span trace.Span, method int, start time.Time, completed *bool) {
	i := m.i
	status := rw.status
	if !*completed && !rw.wroteHeader {
		status = http.StatusInternalServerError
	}
	e := i.routes.entry(r.Pattern)
	i.httpDuration.Record(ctx, time.Since(start).Seconds(), e.durationOptions(method, status)...)
	i.active[method].Add(-1)
	if st != nil {
		i.queriesPerReq.Record(ctx, st.queries.Load(), e.queriesOpts...)
	}
	if conn != nil {
		// The connection may stay idle for long: do not keep the request.
		st.req.Store(nil)
		conn.busy.Store(false)
	}
	if span != nil {
		span.SetName(methodNames[method] + " " + e.route)
		span.SetAttributes(
			attribute.String("http.request.method", methodNames[method]),
			attribute.String("http.route", e.route),
			attribute.Int("http.response.status_code", status),
		)
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
	if *completed {
		rw.ResponseWriter = nil
		m.writers.Put(rw)
	}
}
