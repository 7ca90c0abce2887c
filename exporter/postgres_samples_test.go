package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// funcCollector adapts a send function to prometheus.Collector for testutil.
type funcCollector func(ch chan<- prometheus.Metric)

func (f funcCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }
func (f funcCollector) Collect(ch chan<- prometheus.Metric) { f(ch) }

func ptr[T any](v T) *T { return &v }

func TestPostgresSnapshotToSamples(t *testing.T) {
	reset := time.Unix(1700000000, 500_000_000)
	settings := &pgSettings{Version: "15.14 (Debian 15.14-0+deb12u1)", MaxConnections: 100, SuperuserReserved: 3, Reserved: 2}
	cases := []struct {
		name    string
		snap    pgSnapshot
		opts    pgSampleOptions
		metrics []string // families compared
		want    string
	}{
		{
			name:    "down emits only up",
			snap:    pgSnapshot{Up: false, Settings: settings},
			metrics: []string{"loadlens_postgres_up", "loadlens_postgres_max_connections", "loadlens_postgres_statements_available"},
			want: `
# HELP loadlens_postgres_up Whether the last scrape could reach postgres (1) or not (0).
# TYPE loadlens_postgres_up gauge
loadlens_postgres_up 0
`,
		},
		{
			name: "connections by state, application top-N, saturation",
			snap: pgSnapshot{Up: true, Settings: settings, ActivityOK: true, Activity: []pgActivityRow{
				{State: ptr("active"), Application: "api", Count: 40, Slow: 3, LockWaiting: 2, OldestAge: 7.5},
				{State: ptr("idle"), Application: "api", Count: 30},
				{State: ptr("idle in transaction"), Application: "worker", Count: 10, OldestAge: 0},
				{State: ptr("active"), Application: "", Count: 2, Slow: 1, OldestAge: 12.25},
				{State: nil, Application: "psql", Count: 1},
				{State: ptr("something new"), Application: "batch", Count: 1},
				{State: ptr("active"), Application: "other", Count: 1},
			}},
			opts: pgSampleOptions{AppsLimit: 2},
			metrics: []string{"loadlens_postgres_connections", "loadlens_postgres_connections_by_application",
				"loadlens_postgres_connection_saturation_ratio", "loadlens_postgres_slow_queries",
				"loadlens_postgres_oldest_query_age_seconds", "loadlens_postgres_lock_waiting_backends",
				"loadlens_postgres_max_connections", "loadlens_postgres_reserved_connections",
				"loadlens_postgres_superuser_reserved_connections", "loadlens_postgres_server_info"},
			want: `
# HELP loadlens_postgres_connection_saturation_ratio Client backends divided by the slots open to ordinary roles (max_connections - superuser_reserved_connections - reserved_connections).
# TYPE loadlens_postgres_connection_saturation_ratio gauge
loadlens_postgres_connection_saturation_ratio 0.8947368421052632
# HELP loadlens_postgres_connections Client backends by state (server-wide).
# TYPE loadlens_postgres_connections gauge
loadlens_postgres_connections{state="active"} 43
loadlens_postgres_connections{state="disabled"} 0
loadlens_postgres_connections{state="fastpath function call"} 0
loadlens_postgres_connections{state="idle"} 30
loadlens_postgres_connections{state="idle in transaction"} 10
loadlens_postgres_connections{state="idle in transaction (aborted)"} 0
loadlens_postgres_connections{state="unknown"} 2
# HELP loadlens_postgres_connections_by_application Client backends by application_name (server-wide), top-N plus other.
# TYPE loadlens_postgres_connections_by_application gauge
loadlens_postgres_connections_by_application{application_name="api"} 70
loadlens_postgres_connections_by_application{application_name="other"} 5
loadlens_postgres_connections_by_application{application_name="worker"} 10
# HELP loadlens_postgres_lock_waiting_backends Client backends waiting on a heavyweight lock.
# TYPE loadlens_postgres_lock_waiting_backends gauge
loadlens_postgres_lock_waiting_backends 2
# HELP loadlens_postgres_max_connections The server's max_connections setting.
# TYPE loadlens_postgres_max_connections gauge
loadlens_postgres_max_connections 100
# HELP loadlens_postgres_oldest_query_age_seconds Age of the oldest active query (0 when none).
# TYPE loadlens_postgres_oldest_query_age_seconds gauge
loadlens_postgres_oldest_query_age_seconds 12.25
# HELP loadlens_postgres_reserved_connections The server's reserved_connections setting (PostgreSQL 16+; 0 on older servers).
# TYPE loadlens_postgres_reserved_connections gauge
loadlens_postgres_reserved_connections 2
# HELP loadlens_postgres_server_info PostgreSQL server version, constant 1.
# TYPE loadlens_postgres_server_info gauge
loadlens_postgres_server_info{version="15.14"} 1
# HELP loadlens_postgres_slow_queries Active queries running longer than --postgres.slow-query-threshold.
# TYPE loadlens_postgres_slow_queries gauge
loadlens_postgres_slow_queries 4
# HELP loadlens_postgres_superuser_reserved_connections The server's superuser_reserved_connections setting.
# TYPE loadlens_postgres_superuser_reserved_connections gauge
loadlens_postgres_superuser_reserved_connections 3
`,
		},
		{
			name: "no activity: zeros, other bucket present, no saturation without settings",
			snap: pgSnapshot{Up: true, ActivityOK: true},
			opts: pgSampleOptions{AppsLimit: 10},
			metrics: []string{"loadlens_postgres_connections_by_application", "loadlens_postgres_oldest_query_age_seconds",
				"loadlens_postgres_connection_saturation_ratio"},
			want: `
# HELP loadlens_postgres_connections_by_application Client backends by application_name (server-wide), top-N plus other.
# TYPE loadlens_postgres_connections_by_application gauge
loadlens_postgres_connections_by_application{application_name="other"} 0
# HELP loadlens_postgres_oldest_query_age_seconds Age of the oldest active query (0 when none).
# TYPE loadlens_postgres_oldest_query_age_seconds gauge
loadlens_postgres_oldest_query_age_seconds 0
`,
		},
		{
			name: "statements in seconds, stats reset, database counters",
			snap: pgSnapshot{Up: true, StatementsAvailable: true, StatsReset: &reset,
				Statements: []pgStatementRow{
					{QueryID: -4242, User: "app", Datname: "shop", Calls: 10, ExecMillis: 2500, Rows: 100, Query: "SELECT 1"},
					{QueryID: 7, User: "app", Datname: "shop", Calls: 3, ExecMillis: 1.5, Rows: 0},
				},
				Database: &pgDatabaseRow{Datname: "shop", BlksHit: 90, BlksRead: 10, XactCommit: 5, XactRollback: 1, Deadlocks: 0},
			},
			metrics: []string{"loadlens_postgres_statement_calls_total", "loadlens_postgres_statement_exec_seconds_total",
				"loadlens_postgres_statement_rows_total", "loadlens_postgres_statements_available",
				"loadlens_postgres_statements_stats_reset_timestamp_seconds", "loadlens_postgres_blocks_hit_total",
				"loadlens_postgres_deadlocks_total"},
			want: `
# HELP loadlens_postgres_blocks_hit_total Disk blocks found in the buffer cache.
# TYPE loadlens_postgres_blocks_hit_total counter
loadlens_postgres_blocks_hit_total{datname="shop"} 90
# HELP loadlens_postgres_deadlocks_total Deadlocks detected.
# TYPE loadlens_postgres_deadlocks_total counter
loadlens_postgres_deadlocks_total{datname="shop"} 0
# HELP loadlens_postgres_statement_calls_total Times the statement was executed (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).
# TYPE loadlens_postgres_statement_calls_total counter
loadlens_postgres_statement_calls_total{datname="shop",queryid="-4242",user="app"} 10
loadlens_postgres_statement_calls_total{datname="shop",queryid="7",user="app"} 3
# HELP loadlens_postgres_statement_exec_seconds_total Total time spent executing the statement (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).
# TYPE loadlens_postgres_statement_exec_seconds_total counter
loadlens_postgres_statement_exec_seconds_total{datname="shop",queryid="-4242",user="app"} 2.5
loadlens_postgres_statement_exec_seconds_total{datname="shop",queryid="7",user="app"} 0.0015
# HELP loadlens_postgres_statement_rows_total Rows retrieved or affected by the statement (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).
# TYPE loadlens_postgres_statement_rows_total counter
loadlens_postgres_statement_rows_total{datname="shop",queryid="-4242",user="app"} 100
loadlens_postgres_statement_rows_total{datname="shop",queryid="7",user="app"} 0
# HELP loadlens_postgres_statements_available Whether pg_stat_statements can be read in the exporter's database (1) or not (0).
# TYPE loadlens_postgres_statements_available gauge
loadlens_postgres_statements_available 1
# HELP loadlens_postgres_statements_stats_reset_timestamp_seconds When pg_stat_statements was last reset, as a Unix timestamp (pg_stat_statements 1.9+, PostgreSQL 14+).
# TYPE loadlens_postgres_statements_stats_reset_timestamp_seconds gauge
loadlens_postgres_statements_stats_reset_timestamp_seconds 1.7000000005e+09
`,
		},
		{
			name: "statements unavailable: flag 0, no statement series",
			snap: pgSnapshot{Up: true, StatementsAvailable: false, Statements: []pgStatementRow{{QueryID: 1}}},
			metrics: []string{"loadlens_postgres_statement_calls_total", "loadlens_postgres_statements_available",
				"loadlens_postgres_statements_stats_reset_timestamp_seconds"},
			want: `
# HELP loadlens_postgres_statements_available Whether pg_stat_statements can be read in the exporter's database (1) or not (0).
# TYPE loadlens_postgres_statements_available gauge
loadlens_postgres_statements_available 0
`,
		},
		{
			name: "query text label: whitespace collapsed, truncated",
			snap: pgSnapshot{Up: true, StatementsAvailable: true, Statements: []pgStatementRow{
				{QueryID: 1, User: "u", Datname: "d", Calls: 1, Query: "SELECT   *\n\tFROM users WHERE id = $1"},
			}},
			opts:    pgSampleOptions{QueryText: true, QueryTextLimit: 20},
			metrics: []string{"loadlens_postgres_statement_calls_total"},
			want: `
# HELP loadlens_postgres_statement_calls_total Times the statement was executed (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).
# TYPE loadlens_postgres_statement_calls_total counter
loadlens_postgres_statement_calls_total{datname="d",query="SELECT * FROM users ...",queryid="1",user="u"} 1
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newPgDescs(tc.opts.QueryText)
			c := funcCollector(func(ch chan<- prometheus.Metric) { d.emit(tc.snap, tc.opts, ch) })
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), tc.metrics...); err != nil {
				t.Error(err)
			}
			if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

func TestTopApplicationsKeepsOtherBounded(t *testing.T) {
	by := map[string]int64{}
	for i := range 500 {
		by[strings.Repeat("a", i%50)+string(rune('a'+i%26))] += 1
	}
	got := topApplications(by, 10)
	if len(got) != 11 || got[len(got)-1].name != "other" {
		t.Fatalf("got %d entries, last %q; want 10 + other", len(got), got[len(got)-1].name)
	}
	var sum int64
	for _, a := range got {
		sum += a.count
	}
	if sum != 500 {
		t.Errorf("counts sum to %d, want 500", sum)
	}
}

func TestStatementsQueryIsVersionAware(t *testing.T) {
	for _, tc := range []struct {
		ext, want, not string
		text           bool
	}{
		{"1.7", "sum(s.total_time)", "total_exec_time", false},
		{"1.8", "sum(s.total_exec_time)", "total_time)", false},
		{"1.10", "sum(s.total_exec_time)", "min(s.query)", false},
		{"1.11", "pg_stat_statements(true)", "pg_stat_statements(false)", true},
	} {
		q := statementsQuery(tc.ext, tc.text)
		if !strings.Contains(q, tc.want) || strings.Contains(q, tc.not) {
			t.Errorf("ext %s text %v: query lacks %q or has %q:\n%s", tc.ext, tc.text, tc.want, tc.not, q)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	const pw = "s3cr3t-P@ss"
	for _, dsn := range []string{
		"postgres://app:s3cr3t-P%40ss@db:5432/shop?sslmode=disable",
		"postgresql://app:s3cr3t-P%40ss@db/shop?password=s3cr3t-P%40ss",
		"host=db user=app password=s3cr3t-P@ss dbname=shop",
		"host=db user=app password='s3cr3t-P@ss' dbname=shop",
		"postgres://app:s3cr3t-P@ss@db:5432/shop%zz", // malformed URL
	} {
		got := RedactDSN(dsn)
		if strings.Contains(got, pw) || strings.Contains(got, "s3cr3t-P%40ss") || !strings.Contains(got, redacted) {
			t.Errorf("RedactDSN(%q) = %q", dsn, got)
		}
		if p := dsnPassword(dsn); p != pw && p != "s3cr3t-P%40ss" {
			t.Errorf("dsnPassword(%q) = %q", dsn, p)
		}
	}
}

func TestInvalidDSNErrorHasNoPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://app:hunter2secret@db:notaport/shop",
		"host=db user=app password=hunter2secret port=notaport",
		"postgres://app:hunter2secret@db:5432/shop?sslmode=bogus",
	} {
		_, err := NewPostgresCollector(PostgresConfig{DSN: dsn}, nil)
		if err == nil {
			t.Fatalf("no error for %q", dsn)
		}
		if strings.Contains(err.Error(), "hunter2secret") || strings.Contains(err.Error(), "\n") {
			t.Errorf("error leaks the password or spans lines: %v", err)
		}
	}
}

func TestQueryFingerprintDropsComments(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-- header\n-- more\nSELECT id FROM users WHERE id = $1", "SELECT id FROM users WHERE id = $1"},
		{"SELECT /* hint */ 1 -- trailing", "SELECT 1"},
		{"SELECT '--not a comment', \"a/*b\" FROM t", "SELECT '--not a comment', \"a/*b\" FROM t"},
		{"SELECT 1 /* unterminated", "SELECT 1"},
		{"UPDATE users\n   SET email = $1\n WHERE id = $2", "UPDATE users SET email = $1 WHERE id = $2"},
	} {
		if got := queryFingerprint(c.in, 0); got != c.want {
			t.Errorf("queryFingerprint(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := queryFingerprint("-- x\nSELECT abcdef", 8); got != "SELECT a..." {
		t.Errorf("truncation after stripping: got %q", got)
	}
}
