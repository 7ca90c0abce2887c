package instrument_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/loadlens/loadlens/instrument"
	"github.com/redis/go-redis/v9"
)

// Example wires the package into a service: the middleware around the
// ServeMux, the pgx tracer on the pool, the Redis hook, pool gauges, a cache
// counter and /metrics. The pool and the client connect lazily, so the
// example runs without servers.
func Example() {
	ctx := context.Background()
	inst, err := instrument.New(instrument.Config{
		ServiceName: "loadlens-demo",
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = inst.Shutdown(ctx) }()

	// PostgreSQL: the tracer goes on ConnConfig; Stat() feeds the pool gauges.
	pgCfg, err := pgxpool.ParseConfig("postgres://demo@127.0.0.1:5432/demo?sslmode=disable")
	if err != nil {
		fmt.Println(err)
		return
	}
	pgCfg.ConnConfig.Tracer = inst.PgxTracer()
	pgCfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(ctx, pgCfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	if err := inst.ObservePgxPool("postgres", pool); err != nil {
		fmt.Println(err)
		return
	}

	// Redis: one hook per client, same pool name for the gauges.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer func() { _ = rdb.Close() }()
	rdb.AddHook(inst.RedisHook("redis"))
	if err := inst.ObserveRedisPool("redis", rdb); err != nil {
		fmt.Println(err)
		return
	}

	users := inst.Cache("users") // once at start-up, not per request
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		users.Miss(r.Context()) // a real handler would ask rdb, then pool, with r.Context()
		fmt.Fprintln(w, "user", r.PathValue("id"))
	})
	mux.Handle("GET /metrics", inst.MetricsHandler())
	handler := inst.Middleware(mux) // outermost, so the route is the matched pattern
	// ConnContext keeps the per-request query counter on the connection:
	// no allocation per request.
	srv := &http.Server{Handler: handler, ConnContext: inst.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	_ = srv // srv.ListenAndServe() in a real service

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/users/42", nil))
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "http_server_request_duration_seconds_count") ||
			strings.HasPrefix(line, "app_cache_requests_total") ||
			strings.HasPrefix(line, `db_client_connection_max{db_client_connection_pool_name="postgres"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// app_cache_requests_total{cache_name="users",cache_result="miss"} 1
	// db_client_connection_max{db_client_connection_pool_name="postgres"} 10
	// http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}"} 1
}
