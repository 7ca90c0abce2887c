package instrument

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/stacktest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

func newPool(t *testing.T, i *Instrumentation, dsn string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.Tracer = i.PgxTracer()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newRedis(t *testing.T, i *Instrumentation, rd *stacktest.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rd.Addr, DB: rd.DB, PoolSize: 7})
	c.AddHook(i.RedisHook("redis"))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

const secretParam = "s3cret-param-value"

// TestIntegrationDemoFamilies exercises middleware, pgx, Redis and cache
// against real servers and checks the whole Demo contract on the scrape.
func TestIntegrationDemoFamilies(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	rd := stacktest.RedisDB(t)
	logs := &stacktest.SyncBuffer{}
	i := newTest(t, Config{
		ServiceName:        "it",
		Logger:             slog.New(slog.NewJSONHandler(logs, nil)),
		SlowQueryThreshold: time.Nanosecond, // every call is "slow": the log line is checked
	})
	pool := newPool(t, i, pg.DSN, 4)
	if err := i.ObservePgxPool("postgres", pool); err != nil {
		t.Fatal(err)
	}
	if err := i.ObservePgxPool("postgres", pool); err == nil {
		t.Error("ObservePgxPool accepted a pool name twice")
	}
	rdb := newRedis(t, i, rd)
	if err := i.ObserveRedisPool("redis", rdb); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO users VALUES (1, $1), (2, 'bob')`, secretParam); err != nil {
		t.Fatal(err)
	}

	users := i.Cache("users")
	mux := http.NewServeMux()
	// Four database calls per request: two statements, one batch, one Redis GET
	// (and one SET on a miss).
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		key := rd.Prefix + "user:" + r.PathValue("id")
		name, err := rdb.Get(ctx, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			users.Miss(ctx)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		default:
			users.Hit(ctx)
		}
		if err := pool.QueryRow(ctx, `SELECT name FROM users WHERE id = $1`, r.PathValue("id")).Scan(&name); err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE name <> $1`, secretParam).Scan(&n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`)
		b.Queue(`UPDATE users SET name = name WHERE id = $1`, r.PathValue("id"))
		if err := pool.SendBatch(ctx, b).Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := rdb.Set(ctx, key, name, time.Minute).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, name)
	})
	srv := httptest.NewServer(i.Middleware(mux))
	defer srv.Close()
	get := func(path string) int {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		if code := get("/users/1"); code != http.StatusOK {
			t.Fatalf("GET /users/1: %d", code)
		}
	}
	if code := get("/users/99"); code != http.StatusNotFound {
		t.Fatalf("GET /users/99: %d", code)
	}

	fams, body := scrape(t, i)
	checkContract(t, fams, body)
	problems, err := testutil.GatherAndLint(i.gatherer)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		// The semantic-convention name db.client.connection.count is fixed by
		// the contract; promlint dislikes its _count suffix on a gauge.
		if p.Metric == contract.DBConnectionCount && strings.Contains(p.Text, `"_count" suffix`) {
			continue
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// Per-request accounting: 5 calls on the miss, 5 on each hit (GET, 2
	// statements, batch, SET); the 404 made 2 (GET, 1 statement). Calls made
	// outside requests (CREATE, INSERT above) are not counted.
	q := find(fams["app_db_queries_per_request"], map[string]string{"http_route": "/users/{id}"})
	if q == nil || q.GetHistogram().GetSampleCount() != 4 || q.GetHistogram().GetSampleSum() != 3*5+2 {
		t.Errorf("app_db_queries_per_request{/users/{id}} = %v, want 4 requests, 17 calls", q)
	}
	op := fams["db_client_operation_duration_seconds"]
	for _, w := range []struct {
		system, op, summary string
		count               uint64
	}{
		{"postgresql", "SELECT", "SELECT users", 3*2 + 1},
		{"postgresql", "UPDATE", "UPDATE users", 3},
		{"postgresql", "SELECT", "SELECT", 3},
		{"postgresql", "CREATE", "CREATE", 1},
		{"postgresql", "INSERT", "INSERT users", 1},
		{"redis", "GET", "GET", 4},
		{"redis", "SET", "SET", 3},
	} {
		m := find(op, map[string]string{"db_system_name": w.system, "db_operation_name": w.op, "db_query_summary": w.summary})
		if m == nil || m.GetHistogram().GetSampleCount() != w.count {
			t.Errorf("db_client_operation_duration_seconds{%s,%s,%q} = %v, want count %d", w.system, w.op, w.summary, m, w.count)
		}
	}
	for _, w := range []struct {
		family, pool string
		value        float64
	}{
		{"db_client_connection_max", "postgres", 4},
		{"db_client_connection_max", "redis", 7 + redis.DefaultPipelinePoolSize},
		{"db_client_connection_pending_requests", "postgres", 0},
		{"db_client_connection_timeouts_total", "postgres", 0},
	} {
		m := find(fams[w.family], map[string]string{"db_client_connection_pool_name": w.pool})
		if m == nil || value(m) != w.value {
			t.Errorf("%s{%s} = %v, want %v", w.family, w.pool, m, w.value)
		}
	}
	idle := find(fams["db_client_connection_count"], map[string]string{"db_client_connection_pool_name": "postgres", "db_client_connection_state": "idle"})
	used := find(fams["db_client_connection_count"], map[string]string{"db_client_connection_pool_name": "postgres", "db_client_connection_state": "used"})
	if idle == nil || used == nil || value(idle) < 1 || value(used) != 0 {
		t.Errorf("postgres connections idle=%v used=%v, want idle >= 1, used 0", idle, used)
	}
	if m := find(fams["db_client_connection_wait_time_seconds"], map[string]string{"db_client_connection_pool_name": "postgres"}); m == nil || m.GetHistogram().GetSampleCount() < 10 {
		t.Errorf("postgres wait time = %v, want at least one acquire per statement", m)
	}
	if m := find(fams["app_cache_requests_total"], map[string]string{"cache_name": "users", "cache_result": "hit"}); m == nil || value(m) != 2 {
		t.Errorf("cache hits = %v, want 2", m)
	}

	// Slow query log: summary, duration and route, never parameters or SQL.
	out := logs.String()
	if !strings.Contains(out, `"msg":"slow query"`) || !strings.Contains(out, `"summary":"SELECT users"`) ||
		!strings.Contains(out, `"route":"/users/{id}"`) || !strings.Contains(out, `"duration_seconds":`) || !strings.Contains(out, `"level":"WARN"`) {
		t.Errorf("slow query log lacks fields:\n%s", out)
	}
	for _, leak := range []string{secretParam, "WHERE", "count(*)"} {
		if strings.Contains(out, leak) {
			t.Errorf("slow query log contains %q", leak)
		}
	}
}

// checkContract asserts every Demo family of the contract on the scrape,
// with its type and exactly its labels.
func checkContract(t *testing.T, fams map[string]*dto.MetricFamily, body string) {
	t.Helper()
	demo := contract.ByProducer(contract.Demo)
	if len(demo) == 0 {
		t.Fatal("the contract lists no Demo families")
	}
	types := map[contract.Type]dto.MetricType{
		contract.Counter: dto.MetricType_COUNTER, contract.Gauge: dto.MetricType_GAUGE, contract.Histogram: dto.MetricType_HISTOGRAM,
	}
	for _, f := range demo {
		got := fams[f.Name]
		if got == nil {
			t.Errorf("contract family %s is not on the scrape", f.Name)
			continue
		}
		if want, ok := types[f.Type]; !ok || got.GetType() != want {
			t.Errorf("%s: type %s, contract says %s", f.Name, got.GetType(), f.Type)
		}
		want := f.LabelNames()
		sort.Strings(want)
		for _, m := range got.GetMetric() {
			if names := labelNames(m); !reflect.DeepEqual(names, want) && !(len(names) == 0 && len(want) == 0) {
				t.Errorf("%s: labels %v, contract says %v", f.Name, names, want)
				break
			}
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return -1
}

// TestIntegrationPgxPoolExhaustion holds the only connection of a pool and
// checks pending_requests while an acquire waits, then timeouts_total and
// the wait time of an acquire that runs out of time.
func TestIntegrationPgxPoolExhaustion(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	i := newTest(t, Config{})
	pool := newPool(t, i, pg.DSN, 1)
	if err := i.ObservePgxPool("postgres", pool); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}

	gauge := func(family string) float64 {
		fams, _ := scrape(t, i)
		m := find(fams[family], map[string]string{"db_client_connection_pool_name": "postgres"})
		if m == nil {
			return -1
		}
		return value(m)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		c, err := pool.Acquire(waitCtx)
		if err == nil {
			c.Release()
		}
		errc <- err
	}()
	// Poll (with a deadline) until the waiting acquire shows as pending.
	deadline := time.Now().Add(5 * time.Second)
	for gauge("db_client_connection_pending_requests") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("pending_requests never reached 1 while an acquire waited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fams, _ := scrape(t, i)
	if m := find(fams["db_client_connection_count"], map[string]string{"db_client_connection_pool_name": "postgres", "db_client_connection_state": "used"}); m == nil || value(m) != 1 {
		t.Errorf("used connections = %v, want 1", m)
	}
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on an exhausted pool: %v, want context.DeadlineExceeded", err)
	}
	if v := gauge("db_client_connection_timeouts_total"); v != 1 {
		t.Errorf("timeouts_total = %v, want 1", v)
	}
	if v := gauge("db_client_connection_pending_requests"); v != 0 {
		t.Errorf("pending_requests after the timeout = %v, want 0", v)
	}
	fams, _ = scrape(t, i)
	m := find(fams["db_client_connection_wait_time_seconds"], map[string]string{"db_client_connection_pool_name": "postgres"})
	if m == nil || m.GetHistogram().GetSampleSum() < 0.2 {
		t.Errorf("wait time = %v, want one acquire of at least 0.2 s", m)
	}
	held.Release()
}

// TestIntegrationRedisPool checks the Redis pool gauges and a pipeline.
func TestIntegrationRedisPool(t *testing.T) {
	rd := stacktest.RedisDB(t)
	i := newTest(t, Config{})
	rdb := newRedis(t, i, rd)
	if err := i.ObserveRedisPool("redis", rdb); err != nil {
		t.Fatal(err)
	}
	ctx := &reqCtx{Context: context.Background()}
	pipe := rdb.Pipeline()
	for n := range 5 {
		pipe.Set(ctx, fmt.Sprintf("%sk%d", rd.Prefix, n), n, time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ctx.st.queries.Load(); got != 1 {
		t.Errorf("a pipeline counted as %d calls, want 1", got)
	}
	fams, body := scrape(t, i)
	if m := find(fams["db_client_operation_duration_seconds"], map[string]string{"db_system_name": "redis", "db_query_summary": "PIPELINE"}); m == nil || m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("pipeline operation = %v:\n%s", m, body)
	}
	idle := find(fams["db_client_connection_count"], map[string]string{"db_client_connection_pool_name": "redis", "db_client_connection_state": "idle"})
	if idle == nil || value(idle) < 1 {
		t.Errorf("redis idle connections = %v, want >= 1", idle)
	}
	for _, f := range []string{"db_client_connection_pending_requests", "db_client_connection_timeouts_total"} {
		if m := find(fams[f], map[string]string{"db_client_connection_pool_name": "redis"}); m == nil || value(m) != 0 {
			t.Errorf("%s{redis} = %v, want 0", f, m)
		}
	}
}
