package exporter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/contract/contracttest"
	"github.com/loadlens/loadlens/internal/stacktest"
)

type pgFixture struct {
	pg     *stacktest.Postgres
	pc     *PostgresCollector
	exp    *Exporter
	reg    *prometheus.Registry
	srv    *httptest.Server
	logs   *stacktest.SyncBuffer
	extras []Named
}

// newPgFixture runs the postgres collector (plus extras) behind the real
// HTTP handler.
func newPgFixture(t *testing.T, pg *stacktest.Postgres, budget time.Duration, cfg PostgresConfig, extras ...Named) *pgFixture {
	t.Helper()
	logs := &stacktest.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.DSN == "" {
		cfg.DSN = pg.DSN
	}
	if cfg.StatementsLimit == 0 {
		cfg.StatementsLimit = 20
	}
	pc, err := NewPostgresCollector(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	exp, err := New(append([]Named{{"postgres", pc}}, extras...), Options{Budget: budget, Logger: logger, Build: ReadBuildInfo()})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(exp)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(HandlerOptions{Exporter: exp, Gatherer: reg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &pgFixture{pg: pg, pc: pc, exp: exp, reg: reg, srv: srv, logs: logs}
}

func (f *pgFixture) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s %v", resp.Status, err)
	}
	return string(body)
}

// waitFor scrapes until every line in want is in the exposition.
func (f *pgFixture) waitFor(t *testing.T, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		body := f.scrape(t)
		missing := ""
		for _, w := range want {
			if !hasLine(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s still no %q in:\n%s\nlogs:\n%s", timeout, missing, grepLines(body, "loadlens_"), f.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasLine(body, line string) bool {
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func queryInt(t *testing.T, dsn, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// exporterBackendPID finds the backend serving the exporter's connection.
func exporterBackendPID(t *testing.T, pg *stacktest.Postgres) int64 {
	t.Helper()
	return queryInt(t, pg.SuperDSN, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = $2`, ApplicationName, pg.Database)
}

func TestPostgresCollectorAgainstRealServer(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	stacktest.Exec(t, pg.DSN, `CREATE TABLE items (id int PRIMARY KEY, v text)`)
	stacktest.Exec(t, pg.DSN, `INSERT INTO items SELECT g, 'x' FROM generate_series(1, 1000) g`)
	for range 5 {
		stacktest.Exec(t, pg.DSN, `SELECT count(*) FROM items WHERE v = 'x'`)
	}
	f := newPgFixture(t, pg, 5*time.Second, PostgresConfig{StatementsQueryText: true})
	body := f.waitFor(t, 10*time.Second, "loadlens_postgres_up 1", `loadlens_exporter_collector_success{collector="postgres"} 1`)

	for _, want := range []string{
		"loadlens_postgres_statements_available 1",
		"loadlens_postgres_superuser_reserved_connections 3",
		"loadlens_postgres_reserved_connections 0",
		`loadlens_postgres_server_info{version="15.`,
		`loadlens_postgres_connections{state="active"} `,
		`loadlens_postgres_connections_by_application{application_name="loadlens-exporter"} 1`,
		`query="SELECT count(*) FROM items WHERE v = $1"`,
		fmt.Sprintf(`loadlens_postgres_xact_commit_total{datname="%s"} `, pg.Database),
		"loadlens_postgres_statements_stats_reset_timestamp_seconds ",
		"loadlens_postgres_oldest_query_age_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q:\n%s", want, grepLines(body, "loadlens_postgres"))
		}
	}
	fams, err := contracttest.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	checkContract(t, fams, contract.ConditionPgStatStatements)
	// No family outside the contract (besides go_/process_ self metrics).
	for name := range fams {
		if _, ok := contract.Lookup(name); !ok && strings.HasPrefix(name, "loadlens_") {
			t.Errorf("family %s is exposed but not in the contract", name)
		}
	}
	if problems, err := testutil.CollectAndLint(f.exp); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Errorf("lint of the full registry: %v %v", problems, err)
	}
	promtoolCheck(t, body)
	if strings.Contains(body, pg.Password) || strings.Contains(f.logs.String(), pg.Password) {
		t.Error("password leaked into the exposition or logs")
	}
}

// checkContract checks the core and postgres families of the contract
// (redis and kubernetes run in other tests).
func checkContract(t *testing.T, fams map[string]*dto.MetricFamily, conditions ...string) {
	t.Helper()
	for _, m := range contracttest.Missing(fams, contract.Exporter, conditions...) {
		if strings.HasPrefix(m, "loadlens_postgres_") || strings.HasPrefix(m, "loadlens_exporter_") {
			t.Errorf("contract: %s", m)
		}
	}
}

// promtoolCheck runs `promtool check metrics` on an exposition.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run make setup")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestPostgresWithoutStatStatements(t *testing.T) {
	srv := stacktest.PostgresServer(t, stacktest.PostgresOptions{NoStatStatements: true})
	f := newPgFixture(t, srv.Postgres, 5*time.Second, PostgresConfig{})
	body := f.waitFor(t, 10*time.Second, "loadlens_postgres_up 1",
		"loadlens_postgres_statements_available 0",
		`loadlens_exporter_collector_success{collector="postgres"} 1`)
	if strings.Contains(body, "loadlens_postgres_statement_calls_total") {
		t.Error("statement series without pg_stat_statements")
	}
	fams, err := contracttest.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	checkContract(t, fams) // everything unconditional is still there
	if !strings.Contains(f.logs.String(), "pg_stat_statements not available") {
		t.Errorf("no log line about the missing extension:\n%s", f.logs.String())
	}
}

// A stopped backend must not hold the scrape past its budget; the other
// collectors are intact and postgres recovers.
func TestPostgresScrapeBudgetWithStoppedBackend(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	const budget = time.Second
	other := Named{"other", updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
		ch <- upSample("other", 1)
		return nil
	})}
	f := newPgFixture(t, pg, budget, PostgresConfig{}, other)
	f.waitFor(t, 10*time.Second, "loadlens_postgres_up 1")

	pid := exporterBackendPID(t, pg)
	if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP backend %d: %v", pid, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(int(pid), syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT backend %d: %v", pid, err)
			}
		}
	}
	t.Cleanup(resume)

	start := time.Now()
	body := f.scrape(t)
	took := time.Since(start)
	if took > budget+500*time.Millisecond {
		t.Errorf("scrape took %s with a stopped backend, budget %s", took, budget)
	}
	for _, want := range []string{
		`loadlens_exporter_collector_success{collector="postgres"} 0`,
		"loadlens_postgres_up 0",
		`loadlens_exporter_collector_success{collector="other"} 1`,
		`loadlens_test_up{src="other"} 1`,
	} {
		if !hasLine(body, want) {
			t.Errorf("with a stopped backend, no %q in:\n%s", want, grepLines(body, "loadlens_"))
		}
	}
	resume()
	f.waitFor(t, 15*time.Second, "loadlens_postgres_up 1", `loadlens_exporter_collector_success{collector="postgres"} 1`)
}

// Ten concurrent scrapers share one collection: one set of queries, one connection.
func TestPostgresConcurrentScrapersShareOneCollection(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	const scrapers = 10
	var fx atomic.Pointer[pgFixture]
	gate := Named{"gate", updateFunc(func(ctx context.Context, ch chan<- prometheus.Metric) error {
		for f := fx.Load(); f == nil || f.exp.waiting.Load() < scrapers; f = fx.Load() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		return nil
	})}
	f := newPgFixture(t, pg, 5*time.Second, PostgresConfig{}, gate)
	// Wait for the connection without scraping (a scrape would count).
	deadline := time.Now().Add(10 * time.Second)
	for queryInt(t, pg.SuperDSN, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2`, ApplicationName, pg.Database) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("exporter never connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fx.Store(f)

	var wg sync.WaitGroup
	bodies := make([]string, scrapers)
	for i := range scrapers {
		wg.Go(func() { bodies[i] = f.scrape(t) })
	}
	wg.Wait()
	for i, b := range bodies {
		if !hasLine(b, "loadlens_postgres_up 1") || !hasLine(b, "loadlens_exporter_collections_total 1") {
			t.Errorf("scraper %d:\n%s", i, grepLines(b, "loadlens_"))
		}
	}
	calls := queryInt(t, pg.SuperDSN, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND query LIKE '%FROM pg_stat_database WHERE datname = current_database()%'`, pg.Database)
	if calls != 1 {
		t.Errorf("pg_stat_database was queried %d times by %d concurrent scrapers, want 1", calls, scrapers)
	}
	if n := queryInt(t, pg.SuperDSN, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2`, ApplicationName, pg.Database); n != 1 {
		t.Errorf("exporter holds %d connections, want 1", n)
	}
}

// With every slot taken the dedicated connection keeps working; when it
// is terminated, up drops to 0 at once and the exporter reconnects.
func TestPostgresSlotsExhaustedAndTerminated(t *testing.T) {
	srv := stacktest.PostgresServer(t, stacktest.PostgresOptions{MaxConnections: 10})
	f := newPgFixture(t, srv.Postgres, 2*time.Second, PostgresConfig{})
	f.waitFor(t, 10*time.Second, "loadlens_postgres_up 1")
	pid := exporterBackendPID(t, srv.Postgres)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var fillers []*pgx.Conn
	t.Cleanup(func() {
		for _, c := range fillers {
			c.Close(context.Background())
		}
	})
	for i := 0; ; i++ {
		c, err := pgx.Connect(ctx, srv.DSN)
		if err != nil {
			if !strings.Contains(err.Error(), "too many clients") && !strings.Contains(err.Error(), "remaining connection slots") {
				t.Fatalf("filling slots: unexpected error: %v", err)
			}
			break
		}
		fillers = append(fillers, c)
		if i > 20 {
			t.Fatal("max_connections was not enforced")
		}
	}
	body := f.waitFor(t, 5*time.Second, "loadlens_postgres_up 1", `loadlens_exporter_collector_success{collector="postgres"} 1`)
	if !strings.Contains(body, "loadlens_postgres_max_connections 10") {
		t.Errorf("max_connections not reported:\n%s", grepLines(body, "loadlens_postgres"))
	}

	if _, err := fillers[0].Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	body = f.scrape(t)
	if took := time.Since(start); took > time.Second {
		t.Errorf("scrape after the connection was killed took %s", took)
	}
	if !hasLine(body, "loadlens_postgres_up 0") {
		t.Errorf("first scrape after pg_terminate_backend:\n%s", grepLines(body, "loadlens_postgres_up"))
	}
	f.waitFor(t, 15*time.Second, "loadlens_postgres_up 1")
	if strings.Contains(f.logs.String(), srv.Password) {
		t.Error("password in logs")
	}
}

// The password never appears in logs, metrics, errors or /readyz, also
// when authentication fails.
func TestPostgresPasswordNeverLeaks(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	wrong := strings.Replace(pg.DSN, ":"+pg.Password+"@", ":"+pg.Password+"-wrong@", 1)
	if wrong == pg.DSN {
		t.Fatalf("cannot build a wrong-password DSN from %s", RedactDSN(pg.DSN))
	}
	f := newPgFixture(t, pg, 2*time.Second, PostgresConfig{DSN: wrong})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.logs.String(), "cannot connect to postgres") {
		if time.Now().After(deadline) {
			t.Fatalf("no connection failure logged:\n%s", f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	body := f.scrape(t)
	resp, err := http.Get(f.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with postgres down, want 503: %s", resp.StatusCode, ready)
	}
	_, st := f.exp.Ready()
	var errs strings.Builder
	for _, s := range st {
		errs.WriteString(s.Error)
	}
	if !strings.Contains(f.logs.String(), "password authentication failed") {
		t.Errorf("the log does not say why:\n%s", f.logs.String())
	}
	for what, text := range map[string]string{"logs": f.logs.String(), "metrics": body, "readyz": string(ready), "errors": errs.String()} {
		if strings.Contains(text, pg.Password) {
			t.Errorf("password leaked into %s", what)
		}
	}
}
