package instrument

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type registererOnly struct{}

func (registererOnly) Register(prometheus.Collector) error  { return nil }
func (registererOnly) MustRegister(...prometheus.Collector) {}
func (registererOnly) Unregister(prometheus.Collector) bool { return true }

func TestParseSQL(t *testing.T) {
	for _, c := range []struct{ sql, verb, table string }{
		{"SELECT id, name FROM users WHERE id = $1", "SELECT", "users"},
		{"select * from public.posts p join users u on u.id = p.user_id", "SELECT", "public.posts"},
		{"  -- leading comment\n/* block */ SELECT 1", "SELECT", ""},
		{"SELECT (SELECT max(id) FROM other_t) AS m FROM users", "SELECT", "users"},
		{"SELECT 'from x' AS s, \"from\" FROM \"Users\"", "SELECT", "Users"},
		{"INSERT INTO posts (user_id, body) VALUES ($1, $2) RETURNING id", "INSERT", "posts"},
		{"update ONLY users set name = $1", "UPDATE", "users"},
		{"DELETE FROM sessions WHERE expires < now()", "DELETE", "sessions"},
		{"WITH recent AS (SELECT * FROM posts ORDER BY id DESC LIMIT 10) SELECT * FROM recent r", "SELECT", "recent"},
		{"WITH x AS (SELECT 1) INSERT INTO audit SELECT * FROM x", "INSERT", "audit"},
		{"begin", "BEGIN", ""},
		{"COMMIT", "COMMIT", ""},
		{"TRUNCATE TABLE users", "TRUNCATE", "users"},
		{"SELECT $body$ FROM nowhere $body$ FROM real_t", "SELECT", "real_t"},
		{"frobnicate the database", "other", ""},
		{"", "other", ""},
		{"(SELECT 1 FROM a) UNION (SELECT 2 FROM b)", "SELECT", "a"},
	} {
		verb, table := parseSQL(c.sql)
		if verb != c.verb || table != c.table {
			t.Errorf("parseSQL(%q) = %q, %q; want %q, %q", c.sql, verb, table, c.verb, c.table)
		}
	}
}

func TestParseSQLDoesNotAllocate(t *testing.T) {
	sql := "WITH x AS (SELECT 1) SELECT id, name FROM public.users WHERE id = $1 -- by id"
	if n := testing.AllocsPerRun(100, func() { parseSQL(sql) }); n != 0 {
		t.Errorf("parseSQL allocates %v times per call", n)
	}
}

func TestQuerySummaryTopN(t *testing.T) {
	const limit = 5
	i := newTest(t, Config{QuerySummaryLimit: limit})
	seen := map[string]bool{}
	for n := range 50 {
		e := i.pgEntry(fmt.Sprintf("SELECT * FROM table_%d WHERE id = $1", n))
		seen[e.summary] = true
		if n < limit && e.summary != fmt.Sprintf("SELECT table_%d", n) {
			t.Errorf("summary %d = %q, want its own value", n, e.summary)
		}
		if n >= limit && e.summary != otherValue {
			t.Errorf("summary %d = %q, want %q", n, e.summary, otherValue)
		}
	}
	if len(seen) != limit+1 {
		t.Errorf("%d distinct summaries, want %d (+other)", len(seen), limit)
	}
	// An early summary keeps its value after the bound is reached.
	if e := i.pgEntry("select * from table_0 where name = $1"); e.summary != "SELECT table_0" {
		t.Errorf("known summary after the bound = %q", e.summary)
	}
	// Exposition: at most limit+1 summaries on the scrape.
	ctx := context.Background()
	tr := i.PgxTracer()
	for n := range 50 {
		e := i.pgEntry(fmt.Sprintf("SELECT * FROM table_%d WHERE id = $1", n))
		tr.endCall(ctx, e, time.Now())
	}
	fams, body := scrape(t, i)
	f := fams["db_client_operation_duration_seconds"]
	if f == nil {
		t.Fatalf("no db_client_operation_duration_seconds:\n%s", body)
	}
	if got := len(f.GetMetric()); got != limit+1 {
		t.Errorf("%d series, want %d", got, limit+1)
	}
	if m := find(f, map[string]string{"db_system_name": "postgresql", "db_operation_name": "SELECT", "db_query_summary": "other"}); m == nil || m.GetHistogram().GetSampleCount() != 50-limit {
		t.Errorf("other series = %v, want %d samples", m, 50-limit)
	}
}

func TestPreparedStatementSummary(t *testing.T) {
	i := newTest(t, Config{})
	i.prepared.add("get_user", "SELECT * FROM users WHERE id = $1")
	i.prepared.add("stmtcache_abcdef", "SELECT 1")
	if e := i.pgEntry("get_user"); e.summary != "get_user" || e.operation != "SELECT" {
		t.Errorf("prepared entry = %q %q, want SELECT get_user", e.operation, e.summary)
	}
	if e := i.pgEntry("unknown_stmt"); e.summary != "unknown_stmt" || e.operation != "EXECUTE" {
		t.Errorf("unknown named entry = %q %q", e.operation, e.summary)
	}
	if _, ok := i.prepared.sql("stmtcache_abcdef"); ok {
		t.Error("pgx's own statement cache names are remembered")
	}
}

func TestCacheBound(t *testing.T) {
	i := newTest(t, Config{})
	ctx := context.Background()
	users := i.Cache("users")
	if i.Cache("users") != users {
		t.Error("Cache returns a new *Cache for the same name")
	}
	for n := range MaxCaches + 20 {
		c := i.Cache(fmt.Sprintf("cache%d", n))
		c.Hit(ctx)
		c.Miss(ctx)
	}
	users.Hit(ctx)
	fams, body := scrape(t, i)
	f := fams["app_cache_requests_total"]
	if f == nil || f.GetType().String() != "COUNTER" {
		t.Fatalf("app_cache_requests_total missing or not a counter:\n%s", body)
	}
	names := map[string]bool{}
	for _, m := range f.GetMetric() {
		names[labelsOf(m)["cache_name"]] = true
	}
	if len(names) != MaxCaches+1 || !names[otherValue] || !names["users"] {
		t.Errorf("%d cache names (other=%v users=%v), want %d", len(names), names[otherValue], names["users"], MaxCaches+1)
	}
	// users + cache0..cache30 have their own names; cache31.. share other.
	if m := find(f, map[string]string{"cache_name": otherValue, "cache_result": "miss"}); m == nil || m.GetCounter().GetValue() != 21 {
		t.Errorf("other misses = %v, want 21", m)
	}
	if m := find(f, map[string]string{"cache_name": "users", "cache_result": "hit"}); m == nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("users hits = %v, want 1", m)
	}
}
