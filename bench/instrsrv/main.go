// Command instrsrv measures what the instrument package costs a service.
// The demo service has no switch that turns its instrumentation off, so
// this server answers GET /users/{id} the same two ways with and without
// it, and bench/run.sh loads both in turn:
//
//   - --handler hello: a fixed JSON body behind a ServeMux; "on" wraps the
//     mux in instrument.Middleware. The request does nothing else, so this
//     is the worst case: the middleware's share of a near-empty request.
//   - --handler cached: the demo's cached read (a Redis GET under a 200 ms
//     deadline whose stored JSON is checked and served as the body; on a
//     miss a pgx SELECT, JSON encoding and a Redis SET). "on" adds everything
//     the demo wires: the middleware (with per-request query accounting and
//     the server's ConnContext hook), the pgx tracer and pool statistics,
//     the go-redis hook and pool statistics, and the cache hit/miss counters.
//
// With --instrument, GET /metrics serves the instrumentation's registry
// (outside the middleware, as in the demo); it is picked out by a path
// comparison, so that "on" pays for the instrument package and not for a
// second ServeMux in front of it.
//
// --pprof.listen serves net/http/pprof on a second address, to profile
// either variant under load (bench/README.md, "What the numbers say").
//
//	instrsrv --listen ADDR --handler hello|cached [--instrument] [--redis.addr A]
//	         [--pprof.listen ADDR]
//	         (PostgreSQL DSN in $LOADLENS_POSTGRES_DSN for --handler cached)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/loadlens/loadlens/instrument"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "instrsrv: %v\n", err)
		os.Exit(1)
	}
}

// user is the demo's users row.
type user struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const timeout = 200 * time.Millisecond

func run() error {
	listen := flag.String("listen", "127.0.0.1:8082", "address to listen on")
	handler := flag.String("handler", "hello", "hello or cached")
	on := flag.Bool("instrument", false, "instrument the server with the instrument package")
	redisAddr := flag.String("redis.addr", "", "Redis address (--handler cached)")
	prefix := flag.String("key-prefix", "bench:user:", "cache key prefix")
	pprofAddr := flag.String("pprof.listen", "", "address of a net/http/pprof listener (off when empty)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var instr *instrument.Instrumentation
	if *on {
		var err error
		if instr, err = instrument.New(instrument.Config{ServiceName: "instrsrv"}); err != nil {
			return err
		}
		defer instr.Shutdown(context.Background())
	}

	api := http.NewServeMux()
	switch *handler {
	case "hello":
		body := []byte(`{"id":1,"email":"user1@example.com","name":"User 1"}` + "\n")
		api.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	case "cached":
		c, err := newCached(ctx, instr, *redisAddr, *prefix)
		if err != nil {
			return err
		}
		defer c.close()
		api.HandleFunc("GET /users/{id}", c.getUser)
	default:
		return fmt.Errorf("--handler must be hello or cached, got %q", *handler)
	}

	srv := &http.Server{Addr: *listen, Handler: api, ReadHeaderTimeout: 5 * time.Second}
	if instr != nil {
		srv.Handler = withMetrics(instr.MetricsHandler(), instr.Middleware(api))
		srv.ConnContext = instr.ConnContext
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	if *pprofAddr != "" {
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		psrv := &http.Server{Addr: *pprofAddr, Handler: dbg, ReadHeaderTimeout: 5 * time.Second}
		defer psrv.Close()
		go func() { errc <- psrv.ListenAndServe() }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withMetrics serves GET /metrics with metrics and every other request with next.
func withMetrics(metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
			metrics.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cached is the demo's cache-aside read of one user.
type cached struct {
	pool   *pgxpool.Pool
	rdb    *redis.Client
	prefix string
	users  *instrument.Cache // nil when not instrumented
}

func newCached(ctx context.Context, instr *instrument.Instrumentation, redisAddr, prefix string) (*cached, error) {
	if redisAddr == "" {
		return nil, errors.New("--handler cached needs --redis.addr")
	}
	pcfg, err := pgxpool.ParseConfig(os.Getenv("LOADLENS_POSTGRES_DSN"))
	if err != nil {
		return nil, errors.New("$LOADLENS_POSTGRES_DSN is not a valid DSN")
	}
	pcfg.MaxConns = 8
	c := &cached{prefix: prefix}
	if instr != nil {
		pcfg.ConnConfig.Tracer = instr.PgxTracer()
	}
	if c.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, err
	}
	c.rdb = redis.NewClient(&redis.Options{
		Addr: redisAddr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		MaxRetries: -1, ContextTimeoutEnabled: true,
	})
	if instr != nil {
		c.rdb.AddHook(instr.RedisHook("redis"))
		if err := instr.ObservePgxPool("postgres", c.pool); err != nil {
			return nil, err
		}
		if err := instr.ObserveRedisPool("redis", c.rdb); err != nil {
			return nil, err
		}
		c.users = instr.Cache("users")
	}
	return c, nil
}

func (c *cached) close() {
	c.rdb.Close()
	c.pool.Close()
}

func (c *cached) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, `{"error":"bad id"}`, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	key := c.prefix + "{user:" + strconv.FormatInt(id, 10) + "}"
	if b := c.lookup(ctx, key); b != nil {
		writeRaw(w, b)
		return
	}
	var u user
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = c.pool.QueryRow(qctx, "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1", id).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.UpdatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, `{"error":"database unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	b, err := json.Marshal(u)
	if err != nil {
		http.Error(w, `{"error":"cannot encode"}`, http.StatusInternalServerError)
		return
	}
	sctx, scancel := context.WithTimeout(ctx, timeout)
	_ = c.rdb.Set(sctx, key, b, 10*time.Minute).Err()
	scancel()
	writeRaw(w, b)
}

// lookup returns the cached JSON of the user, nil on a miss (Redis errors
// and entries that are not a JSON object included), as the demo's cache.
func (c *cached) lookup(ctx context.Context, key string) []byte {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, key).Bytes()
	if err == nil && (len(b) == 0 || b[0] != '{' || !json.Valid(b)) {
		err = errors.New("undecodable cache entry")
	}
	if c.users != nil {
		if err == nil {
			c.users.Hit(ctx)
		} else {
			c.users.Miss(ctx)
		}
	}
	if err != nil {
		return nil
	}
	return b
}

var newline = []byte("\n")

// writeRaw answers with b, already encoded JSON, as the demo does.
func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	_, _ = w.Write(newline)
}
