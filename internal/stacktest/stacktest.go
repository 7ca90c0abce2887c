// Package stacktest gives integration tests real PostgreSQL, Redis and
// Prometheus servers, started by internal/stack on free loopback ports in
// temporary directories and stopped afterwards.
//
// Expensive servers are shared by the tests of one package: call Main from
// TestMain. Each test still gets isolation: a fresh database (PostgresDB)
// or a key prefix (RedisDB). Tests that break a server (fill its
// connection slots, stop it) ask for a private one (PostgresServer,
// RedisServer). A missing binary fails the test with the setup command.
package stacktest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/loadlens/loadlens/internal/stack"
)

// shared holds the package's shared servers; it lives for one test binary.
type shared struct {
	mu      sync.Mutex
	inMain  bool
	servers map[string]*stack.Stack // by part name
	dirs    []string
	seq     atomic.Int64
}

var pkg shared

// Main runs the package's tests and stops the shared servers afterwards.
// Use it as: func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }
func Main(m *testing.M) int {
	pkg.mu.Lock()
	pkg.inMain = true
	pkg.mu.Unlock()
	code := m.Run()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	for _, s := range pkg.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if err := s.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stacktest: stop shared server:", err)
			code = 1
		}
		cancel()
	}
	for _, d := range pkg.dirs {
		os.RemoveAll(d)
	}
	binaries.once.Do(func() {}) // waits for a build still running in the background
	if binaries.dir != "" && !binaries.prebuilt {
		os.RemoveAll(binaries.dir)
	}
	return code
}

// runDir makes a run directory the postgres user can enter.
func runDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "loadlens-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func start(t testing.TB, cfg stack.Config) *stack.Stack {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = runDir(t)
	}
	cfg.PostgresNoFsync = true
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start %v: %v", cfg.Parts, err)
	}
	return s
}

func sharedServer(t testing.TB, part string) *stack.Stack {
	t.Helper()
	pkg.mu.Lock()
	defer pkg.mu.Unlock()
	if !pkg.inMain {
		t.Fatal("stacktest: shared servers need TestMain: func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }")
	}
	if s, ok := pkg.servers[part]; ok {
		return s
	}
	dir := runDir(t)
	pkg.dirs = append(pkg.dirs, dir)
	s := start(t, stack.Config{Dir: dir, Parts: []string{part}, PostgresMaxConnections: 200})
	if pkg.servers == nil {
		pkg.servers = map[string]*stack.Stack{}
	}
	pkg.servers[part] = s
	return s
}

func private(t testing.TB, cfg stack.Config) *stack.Stack {
	t.Helper()
	dir := runDir(t)
	// Registered first, so it runs last, and also when the start fails.
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.Dir = dir
	s := start(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop private server: %v", err)
		}
	})
	return s
}

// Postgres is a database on a real PostgreSQL server.
type Postgres struct {
	DSN      string // the test's database, with the password
	SuperDSN string // the "postgres" database, superuser
	Database string
	Host     string
	Port     int
	User     string
	Password string

	stack *stack.Stack
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// PostgresDB returns a fresh database, dropped after the test, on the
// package's shared PostgreSQL (pg_stat_statements created, 200 slots).
func PostgresDB(t testing.TB) *Postgres {
	t.Helper()
	s := sharedServer(t, stack.PartPostgres)
	base := newPostgres(t, s, "postgres")
	name := fmt.Sprintf("t%d_%s", pkg.seq.Add(1), nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(name) > 60 {
		name = name[:60]
	}
	Exec(t, base.SuperDSN, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base.SuperDSN)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return newPostgres(t, s, name)
}

// PostgresOptions configure a private PostgreSQL server.
type PostgresOptions struct {
	MaxConnections   int  // default 100
	NoStatStatements bool // leave pg_stat_statements uncreated
}

// PrivatePostgres is a PostgreSQL server of one test, which it may break.
type PrivatePostgres struct {
	*Postgres
	t testing.TB
}

// PostgresServer starts a private PostgreSQL server for this test only.
// Its DSN points at the "postgres" database.
func PostgresServer(t testing.TB, opts PostgresOptions) *PrivatePostgres {
	t.Helper()
	s := private(t, stack.Config{Parts: []string{stack.PartPostgres}, PostgresMaxConnections: opts.MaxConnections, PostgresNoStatStatements: opts.NoStatStatements})
	return &PrivatePostgres{newPostgres(t, s, "postgres"), t}
}

// Stop stops the server (fast shutdown); Start brings it back on the same
// port with the same data.
func (p *PrivatePostgres) Stop() { p.t.Helper(); stopPart(p.t, p.stack, stack.PartPostgres) }

// Start restarts a stopped server and waits until it is ready.
func (p *PrivatePostgres) Start() { p.t.Helper(); startPart(p.t, p.stack, stack.PartPostgres) }

func newPostgres(t testing.TB, s *stack.Stack, db string) *Postgres {
	t.Helper()
	st, _ := s.Part(stack.PartPostgres)
	pw, err := stack.ReadPassword(st)
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := stack.PostgresDSN(st, db)
	if err != nil {
		t.Fatal(err)
	}
	super, _ := stack.PostgresDSN(st, "postgres")
	return &Postgres{DSN: dsn, SuperDSN: super, Database: db, Host: "127.0.0.1", Port: st.Port, User: st.User, Password: pw, stack: s}
}

// Exec runs one SQL statement on dsn in a connection of its own and fails
// the test on error.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Redis is a key prefix on a real Redis server.
type Redis struct {
	Addr   string
	Prefix string // unique per test: prefix every key with it
	DB     int
	stack  *stack.Stack
}

// RedisDB returns the package's shared Redis with a key prefix unique to
// the test; the prefix's keys are deleted afterwards.
func RedisDB(t testing.TB) *Redis {
	t.Helper()
	s := sharedServer(t, stack.PartRedis)
	st, _ := s.Part(stack.PartRedis)
	r := &Redis{Addr: st.Address, Prefix: fmt.Sprintf("t%d:", pkg.seq.Add(1)), stack: s}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		defer c.Close()
		iter := c.Scan(ctx, 0, r.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return r
}

// PrivateRedis is a Redis server of one test, which it may stop.
type PrivateRedis struct {
	*Redis
	t testing.TB
}

// RedisServer starts a private Redis for this test only.
func RedisServer(t testing.TB) *PrivateRedis {
	t.Helper()
	s := private(t, stack.Config{Parts: []string{stack.PartRedis}})
	st, _ := s.Part(stack.PartRedis)
	return &PrivateRedis{&Redis{Addr: st.Address, Prefix: "", stack: s}, t}
}

// Stop stops the server; Start brings it back on the same port (empty).
func (r *PrivateRedis) Stop() { r.t.Helper(); stopPart(r.t, r.stack, stack.PartRedis) }

// Start restarts a stopped server.
func (r *PrivateRedis) Start() { r.t.Helper(); startPart(r.t, r.stack, stack.PartRedis) }

// PID is the server's process id.
func (r *PrivateRedis) PID() int { st, _ := r.stack.Part(stack.PartRedis); return st.PID }

// PrometheusOptions configure a private Prometheus.
type PrometheusOptions struct {
	// ScrapeTargets by job name of prometheus/prometheus.yml.
	ScrapeTargets map[string][]string
	// RuleFiles to load (default: the repo's rules).
	RuleFiles []string
	// ScrapeInterval (default 1s).
	ScrapeInterval time.Duration
	// WithAlertmanager also starts an Alertmanager and points Prometheus at it.
	WithAlertmanager bool
}

// Prometheus is a private Prometheus server.
type Prometheus struct {
	URL             string // http://127.0.0.1:PORT
	AlertmanagerURL string // set WithAlertmanager
}

// PrometheusServer starts a private Prometheus (remote-write receiver and
// native histograms on) for this test.
func PrometheusServer(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = time.Second
	}
	parts := []string{stack.PartPrometheus}
	if opts.WithAlertmanager {
		parts = []string{stack.PartAlertmanager, stack.PartPrometheus}
	}
	s := private(t, stack.Config{Parts: parts, ScrapeTargets: opts.ScrapeTargets, RuleFiles: opts.RuleFiles, ScrapeInterval: opts.ScrapeInterval})
	st, _ := s.Part(stack.PartPrometheus)
	p := &Prometheus{URL: st.URL}
	if am, ok := s.Part(stack.PartAlertmanager); ok {
		p.AlertmanagerURL = am.URL
	}
	return p
}

func stopPart(t testing.TB, s *stack.Stack, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.StopPart(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func startPart(t testing.TB, s *stack.Stack, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.StartPart(ctx, name); err != nil {
		t.Fatal(err)
	}
}
