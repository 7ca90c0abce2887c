package instrument

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

// serverRequest is a request as net/http hands it to a handler: its context
// derives from the connection's, which connContext (a ConnContext hook, or
// nil) may have replaced.
func serverRequest(tb testing.TB, target string, connContext func(context.Context, net.Conn) context.Context) *http.Request {
	ctx := context.Background()
	if connContext != nil {
		ctx = connContext(ctx, nil)
	}
	ctx, cancel := context.WithCancel(ctx)
	tb.Cleanup(cancel)
	return httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)
}

func benchMiddleware(b *testing.B, cfg Config, connContext bool) {
	i := newTest(b, cfg)
	h := i.Middleware(benchMux())
	var cc func(context.Context, net.Conn) context.Context
	if connContext {
		cc = i.ConnContext
	}
	r := serverRequest(b, "/users/42", cc)
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // warm the route cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkMiddleware measures the middleware around a ServeMux; the mux's
// own cost (pattern matching, and the one allocation that stores the
// PathValue) is included: subtract BenchmarkMuxOnly. "accounting" is the
// default configuration on a server without ConnContext (the counter and
// the request copy that carries it are allocated per request);
// "accounting-conncontext" is the same with Instrumentation.ConnContext set
// on the server, as the demo does (the steady state of an HTTP/1 connection).
func BenchmarkMiddleware(b *testing.B) {
	b.Run("accounting", func(b *testing.B) { benchMiddleware(b, Config{}, false) })
	b.Run("accounting-conncontext", func(b *testing.B) { benchMiddleware(b, Config{}, true) })
	b.Run("no-accounting", func(b *testing.B) { benchMiddleware(b, Config{DisableQueryAccounting: true}, false) })
}

// BenchmarkMiddlewareParallel runs "accounting-conncontext" and the bare
// mux on every CPU at once, each goroutine a connection of its own, as
// under load: every request records into the same series, so the
// difference also shows what the SDK's shared atomics cost across CPUs
// (CPU time per request is ns/op times the CPUs).
func BenchmarkMiddlewareParallel(b *testing.B) {
	i := newTest(b, Config{})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"mux-only", benchMux()},
		{"accounting-conncontext", i.Middleware(benchMux())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.h.ServeHTTP(&nopWriter{h: http.Header{}}, serverRequest(b, "/users/42", i.ConnContext))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx, cancel := context.WithCancel(i.ConnContext(context.Background(), nil))
				defer cancel()
				r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/users/42", nil)
				w := &nopWriter{h: http.Header{}}
				for pb.Next() {
					bc.h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// BenchmarkMuxOnly is the baseline: the same mux without the middleware.
func BenchmarkMuxOnly(b *testing.B) {
	mux := benchMux()
	r := serverRequest(b, "/users/42", nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		mux.ServeHTTP(w, r)
	}
}

// BenchmarkPgxTracer measures one traced statement (start + end) inside a
// request context, without a database.
func BenchmarkPgxTracer(b *testing.B) {
	i := newTest(b, Config{})
	tr := i.PgxTracer()
	ctx := &reqCtx{Context: context.Background()}
	start := pgx.TraceQueryStartData{SQL: "SELECT id, name, email FROM users WHERE id = $1"}
	b.ReportAllocs()
	for b.Loop() {
		c := tr.TraceQueryStart(ctx, nil, start)
		tr.TraceQueryEnd(c, nil, pgx.TraceQueryEndData{})
	}
}

// BenchmarkRedisHook measures the hook around a command that does nothing.
func BenchmarkRedisHook(b *testing.B) {
	i := newTest(b, Config{})
	h := i.RedisHook("redis").ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	ctx := &reqCtx{Context: context.Background()}
	cmd := redis.NewStringCmd(ctx, "get", "k")
	b.ReportAllocs()
	for b.Loop() {
		_ = h(ctx, cmd)
	}
}

// BenchmarkCacheHit measures one cache counter increment.
func BenchmarkCacheHit(b *testing.B) {
	i := newTest(b, Config{})
	c := i.Cache("users")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Hit(ctx)
	}
}
