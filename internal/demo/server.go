// Package demo is the loadlens demo service: a users-and-posts JSON API on
// PostgreSQL (pgxpool) with a Redis cache-aside, instrumented by the
// instrument package. It is the workload k6 loads and the source of the
// requests-per-second metric the HPA scales on. Its bottleneck modes (pool
// size, cache on/off, injected query delay, CPU burn) make each bottleneck
// loadlens detects appear on demand.
package demo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/loadlens/loadlens/instrument"
)

// Server is one running demo service. Build it with New, run it with Run.
type Server struct {
	cfg    Config
	logger *slog.Logger
	dbLog  *limitedLog // "database unavailable" lines, at most one per 10 s

	instr *instrument.Instrumentation
	pool  *pgxpool.Pool
	rdb   *redis.Client // nil without --redis.addr
	store *Store
	cache *Cache // nil when the cache is disabled

	public, admin     *http.Server
	publicLn, adminLn net.Listener

	draining  atomic.Bool
	inflight  atomic.Int64 // API requests being served
	closeOnce sync.Once
}

// logEvery is the minimum interval between two repeated failure lines.
const logEvery = 10 * time.Second

// readyFresh: a database operation that succeeded this recently proves
// PostgreSQL reachable without a ping (which would queue on a busy pool).
const readyFresh = 5 * time.Second

// New validates cfg, connects the pools, applies the migrations (retrying
// until cfg.StartupTimeout while PostgreSQL is unreachable) and binds both
// listeners. The caller must call Run (or Close).
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, logger: logger, dbLog: newLimitedLog(logger, logEvery)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	reg := prometheus.NewRegistry()
	s.instr, err = instrument.New(instrument.Config{
		ServiceName:        cfg.ServiceName,
		Logger:             logger,
		SlowQueryThreshold: cfg.SlowQueryThreshold,
		OTLPEndpoint:       cfg.OTLPEndpoint,
		Registerer:         reg,
		Gatherer:           reg,
	})
	if err != nil {
		return nil, fmt.Errorf("instrumentation: %w", err)
	}

	pcfg, err := parsePoolConfig(cfg.PostgresDSN)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(cfg.PoolSize())
	pcfg.MinConns = 0
	pcfg.ConnConfig.ConnectTimeout = cfg.PostgresTimeout
	pcfg.ConnConfig.Tracer = s.instr.PgxTracer()
	if pcfg.ConnConfig.RuntimeParams == nil {
		pcfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = cfg.ServiceName
	s.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %s", redact(err.Error(), pcfg.ConnConfig.Password))
	}
	if err := s.instr.ObservePgxPool("postgres", s.pool); err != nil {
		return nil, fmt.Errorf("observe postgres pool: %w", err)
	}
	s.store = NewStore(s.pool, cfg.PostgresTimeout, cfg.FaultQueryDelay)
	if err := s.migrate(ctx, pcfg.ConnConfig.Password); err != nil {
		return nil, err
	}

	if cfg.RedisAddr != "" {
		s.rdb = redis.NewClient(&redis.Options{
			Addr:         cfg.RedisAddr,
			Password:     cfg.RedisPassword,
			DB:           cfg.RedisDB,
			PoolSize:     cfg.RedisPoolSize,
			DialTimeout:  cfg.RedisTimeout,
			ReadTimeout:  cfg.RedisTimeout,
			WriteTimeout: cfg.RedisTimeout,
			PoolTimeout:  cfg.RedisTimeout,
			MaxRetries:   -1, // a cache lookup is not worth a retry: PostgreSQL answers instead
			// Honour the per-call context deadline too.
			ContextTimeoutEnabled: true,
		})
		s.rdb.AddHook(s.instr.RedisHook("redis"))
		if err := s.instr.ObserveRedisPool("redis", s.rdb); err != nil {
			return nil, fmt.Errorf("observe redis pool: %w", err)
		}
		if cfg.CacheOn() {
			s.cache = NewCache(s.rdb, cfg.RedisKeyPrefix, cfg.CacheTTL, cfg.PostgresTimeout+2*cfg.RedisTimeout,
				cfg.RedisTimeout, s.instr.Cache("users"), s.instr.Cache("posts"), newLimitedLog(logger, logEvery))
		}
	}

	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// migrate applies the migrations, waiting for PostgreSQL to come up.
func (s *Server) migrate(ctx context.Context, password string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	wait := 200 * time.Millisecond
	for {
		n, err := Migrate(ctx, s.pool)
		if err == nil {
			s.logger.Info("migrations applied", "applied", n)
			return nil
		}
		if isPgError(err) {
			return fmt.Errorf("%s", redact(err.Error(), password))
		}
		s.logger.Warn("waiting for postgres", "err", redact(err.Error(), password))
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres unreachable for %s: %s", s.cfg.StartupTimeout, redact(err.Error(), password))
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (s *Server) listen() error {
	var err error
	if s.publicLn, err = net.Listen("tcp", s.cfg.ListenAddress); err != nil {
		return fmt.Errorf("--web.listen-address: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", s.cfg.AdminListenAddress); err != nil {
		return fmt.Errorf("--admin.listen-address: %w", err)
	}
	errLog := slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)

	api := &api{store: s.store, cache: s.cache, s: s}
	apiMux := http.NewServeMux()
	api.routes(apiMux, s.apiHandler)
	mux := http.NewServeMux()
	// Probes and scrapes are not workload: they stay out of the request
	// metrics (and so out of the HPA's requests per second).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.instr.MetricsHandler())
	// The instrument middleware reads the pattern apiMux matched from the
	// request it passed down: nothing between them may copy the request.
	mux.Handle("/", s.instr.Middleware(recoverer(s.logger, apiMux)))
	s.public = &http.Server{
		Handler: recoverer(s.logger, mux),
		// The middleware keeps its per-request query counter on the
		// connection: no allocation per request.
		ConnContext:       s.instr.ConnContext,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    MaxBodyBytes,
		ErrorLog:          errLog,
	}

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("admin registry: %w", err)
		}
	}
	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: errLog}))
	admin.HandleFunc("/debug/pprof/", pprof.Index)
	admin.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
	admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	admin.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.admin = &http.Server{
		Handler:           recoverer(s.logger, admin),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		// No write timeout: CPU profiles and traces stream for their duration.
		ErrorLog: errLog,
	}
	return nil
}

// apiHandler wraps every API route: in-flight accounting and the CPU burn fault.
func (s *Server) apiHandler(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		burnCPU(s.cfg.FaultCPUBurn)
		h(w, r)
	})
}

// burnCPU spins for d of wall time, hashing.
func burnCPU(d time.Duration) {
	if d <= 0 {
		return
	}
	end := time.Now().Add(d)
	sum := sha256.Sum256([]byte("loadlens"))
	for time.Now().Before(end) {
		for range 32 {
			sum = sha256.Sum256(sum[:])
		}
	}
	runtime.KeepAlive(sum)
}

// recoverer turns a panic into a 500 (when nothing was written yet) and a
// log line; http.ErrAbortHandler keeps its meaning.
func recoverer(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			buf := make([]byte, 4<<10)
			buf = buf[:runtime.Stack(buf, false)]
			logger.Error("panic serving request", "method", r.Method, "route", r.Pattern, "panic", fmt.Sprint(v), "stack", string(buf))
			writeError(w, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

type readiness struct {
	Status   string `json:"status"`   // ready, degraded (Redis down), not_ready, shutting_down
	Postgres string `json:"postgres"` // ok, unreachable
	Redis    string `json:"redis"`    // ok, unreachable, not_configured
	Cache    string `json:"cache"`    // enabled, disabled
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := readiness{Postgres: "ok", Redis: "not_configured", Cache: "disabled"}
	if s.cache != nil {
		rd.Cache = "enabled"
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PostgresTimeout)
	defer cancel()
	redisErr := make(chan error, 1)
	if s.rdb != nil {
		go func() {
			rctx, cancel := context.WithTimeout(ctx, s.cfg.RedisTimeout)
			defer cancel()
			redisErr <- s.rdb.Ping(rctx).Err()
		}()
	}
	if err := s.store.Ping(ctx, readyFresh); err != nil {
		rd.Postgres = "unreachable"
		s.dbLog.Warn("readiness: postgres unreachable", "err", err)
	}
	if s.rdb != nil {
		rd.Redis = "ok"
		if err := <-redisErr; err != nil {
			rd.Redis = "unreachable"
		}
	}
	status := http.StatusOK
	switch {
	case s.draining.Load():
		rd.Status, status = "shutting_down", http.StatusServiceUnavailable
	case rd.Postgres != "ok" || (s.cfg.ReadyzRequireRedis && rd.Redis != "ok"):
		rd.Status, status = "not_ready", http.StatusServiceUnavailable
	case rd.Redis == "unreachable" && s.cache != nil:
		rd.Status = "degraded"
	default:
		rd.Status = "ready"
	}
	writeJSON(w, status, rd)
}

// URL is the public listener's base URL (http://host:port).
func (s *Server) URL() string { return "http://" + s.publicLn.Addr().String() }

// AdminURL is the admin listener's base URL.
func (s *Server) AdminURL() string { return "http://" + s.adminLn.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: /readyz turns
// 503 at once, after cfg.ShutdownDelay the listeners close and in-flight
// requests are drained (up to cfg.ShutdownTimeout), then the pools close.
// It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.public.Serve(s.publicLn) }()
	go func() { errc <- s.admin.Serve(s.adminLn) }()
	s.logger.Info("serving", "listen", s.publicLn.Addr().String(), "admin", s.adminLn.Addr().String(),
		"mode", s.cfg.Mode, "pool_size", s.cfg.PoolSize(), "cache", s.cache != nil,
		"query_delay", s.cfg.FaultQueryDelay, "cpu_burn", s.cfg.FaultCPUBurn)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.draining.Store(true)
	s.logger.Info("shutting down: readiness off, draining", "delay", s.cfg.ShutdownDelay, "in_flight", s.inflight.Load())
	if serveErr == nil && s.cfg.ShutdownDelay > 0 {
		t := time.NewTimer(s.cfg.ShutdownDelay)
		<-t.C
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := errors.Join(s.public.Shutdown(sctx), s.admin.Shutdown(sctx))
	s.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.logger.Info("stopped")
	return nil
}

// Close releases the pools and listeners without draining; Run calls it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for _, ln := range []net.Listener{s.publicLn, s.adminLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		if s.pool != nil {
			s.pool.Close()
		}
		if s.rdb != nil {
			_ = s.rdb.Close()
		}
		if s.instr != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.instr.Shutdown(ctx)
		}
	})
}
