// Command instrsrv measures what the instrument package costs a service.
// The demo service has no switch that turns its instrumentation off, so
// this server answers GET /users/{id} the same two ways with and without
// it, and bench/run.sh loads both in turn:
//
//   - --handler hello: a fixed JSON body behind a ServeMux; "on" wraps the
//     mux in instrument.Middleware. The request does nothing else, so this
//     is the worst case: the middleware's share of a near-empty request.
//   - --handler cached: the demo's cached read (Redis GET, JSON decode and
//     encode; on a miss a pgx SELECT and a Redis SET). "on" adds everything
//     the demo wires: the middleware, the pgx tracer and pool statistics,
//     the go-redis hook and pool statistics, and the cache hit/miss counters.
//
// With --instrument, /metrics serves the instrumentation's registry (outside
// the middleware, as in the demo).
//
//	instrsrv --listen ADDR --handler hello|cached [--instrument] [--redis.addr A]
//	         (PostgreSQL DSN in $LOADLENS_POSTGRES_DSN for --handler cached)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
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

	var h http.Handler = api
	if instr != nil {
		root := http.NewServeMux()
		root.Handle("GET /metrics", instr.MetricsHandler())
		root.Handle("/", instr.Middleware(api))
		h = root
	}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
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
	key := c.prefix + strconv.FormatInt(id, 10)
	var u user
	if c.lookup(ctx, key, &u) {
		writeJSON(w, u)
		return
	}
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
	if b, err := json.Marshal(u); err == nil {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		_ = c.rdb.Set(sctx, key, b, 10*time.Minute).Err()
		cancel()
	}
	writeJSON(w, u)
}

// lookup reads the cache entry; false is a miss (Redis errors included).
func (c *cached) lookup(ctx context.Context, key string, u *user) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, key).Bytes()
	if err == nil {
		err = json.Unmarshal(b, u)
	}
	if c.users != nil {
		if err == nil {
			c.users.Hit(ctx)
		} else {
			c.users.Miss(ctx)
		}
	}
	return err == nil
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"cannot encode"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(append(b, '\n'))
}
