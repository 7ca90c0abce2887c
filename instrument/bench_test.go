package instrument

import (
	"context"
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

func benchMiddleware(b *testing.B, cfg Config) {
	i := newTest(b, cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	h := i.Middleware(mux)
	r := httptest.NewRequest(http.MethodGet, "/users/42", nil)
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // warm the route cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkMiddleware measures the middleware around a ServeMux; the mux's
// own cost (pattern matching, PathValue storage) is included.
func BenchmarkMiddleware(b *testing.B) {
	b.Run("accounting", func(b *testing.B) { benchMiddleware(b, Config{}) })
	b.Run("no-accounting", func(b *testing.B) { benchMiddleware(b, Config{DisableQueryAccounting: true}) })
}

// BenchmarkMuxOnly is the baseline: the same mux without the middleware.
func BenchmarkMuxOnly(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	r := httptest.NewRequest(http.MethodGet, "/users/42", nil)
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
	ctx := &reqState{Context: context.Background()}
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
	ctx := &reqState{Context: context.Background()}
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
