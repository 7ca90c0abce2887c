package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/contract/contracttest"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestCRUD(t *testing.T) {
	cfg := testConfig(t)
	seed(t, cfg.PostgresDSN, 3, 5)
	s := startServer(t, cfg)

	var u User
	callJSON(t, "GET", s.URL()+"/users/2", "", 200, &u)
	if u.ID != 2 || u.Email != "user2@example.com" || u.Name != "User 2" {
		t.Fatalf("GET /users/2 = %+v", u)
	}
	callJSON(t, "PATCH", s.URL()+"/users/2", `{"email":"new2@example.com"}`, 200, &u)
	if u.Email != "new2@example.com" || !u.UpdatedAt.After(u.CreatedAt) {
		t.Fatalf("PATCH returned %+v", u)
	}
	callJSON(t, "PATCH", s.URL()+"/users/3", `{"email":"new2@example.com"}`, 409, nil)
	callJSON(t, "GET", s.URL()+"/users/99", "", 404, nil)
	callJSON(t, "PATCH", s.URL()+"/users/99", `{"email":"x@example.com"}`, 404, nil)

	// Keyset pagination walks every user exactly once.
	var ids []int64
	cursor := ""
	for range 5 {
		var p userPage
		callJSON(t, "GET", s.URL()+"/users?limit=2&cursor="+cursor, "", 200, &p)
		for _, u := range p.Users {
			ids = append(ids, u.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(ids, []int64{1, 2, 3}) {
		t.Fatalf("paged user ids %v, want [1 2 3]", ids)
	}
	var empty userPage
	callJSON(t, "GET", s.URL()+"/users?cursor=3", "", 200, &empty)
	if len(empty.Users) != 0 || empty.NextCursor != "" {
		t.Fatalf("past the end: %+v", empty)
	}

	var p Post
	status, b := call(t, "POST", s.URL()+"/posts", `{"user_id":1,"title":"hello","body":"world"}`)
	if status != 201 {
		t.Fatalf("POST /posts: %d %s", status, b)
	}
	callJSON(t, "POST", s.URL()+"/posts", `{"user_id":1,"title":"hello","body":"world"}`, 201, &p)
	if p.ID != 7 || p.UserID != 1 || p.Title != "hello" || p.Body != "world" {
		t.Fatalf("created %+v, want id 7 (seeded 5, one created before)", p)
	}
	var got Post
	callJSON(t, "GET", fmt.Sprintf("%s/posts/%d", s.URL(), p.ID), "", 200, &got)
	if got.ID != p.ID || got.Title != "hello" {
		t.Fatalf("GET post %+v", got)
	}
	callJSON(t, "POST", s.URL()+"/posts", `{"user_id":99,"title":"x","body":"y"}`, 422, nil)
	callJSON(t, "GET", s.URL()+"/posts/999", "", 404, nil)

	var pp postPage
	callJSON(t, "GET", s.URL()+"/posts?user_id=1&limit=100", "", 200, &pp)
	if len(pp.Posts) < 2 || pp.NextCursor != "" {
		t.Fatalf("posts of user 1: %+v", pp)
	}
	for _, q := range pp.Posts {
		if q.UserID != 1 {
			t.Fatalf("post %d of user %d in user 1's list", q.ID, q.UserID)
		}
	}
	var all postPage
	callJSON(t, "GET", s.URL()+"/posts?limit=3", "", 200, &all)
	if len(all.Posts) != 3 || all.NextCursor != "3" {
		t.Fatalf("first page of posts: %d posts, next %q", len(all.Posts), all.NextCursor)
	}
}

// TestCacheInvalidation: with the cache on, a GET after a successful PATCH
// never returns the old email, and reads really are served from Redis.
func TestCacheInvalidation(t *testing.T) {
	cfg := testConfig(t)
	on := true
	cfg.CacheEnabled = &on
	seed(t, cfg.PostgresDSN, 2, 0)
	s := startServer(t, cfg)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, DB: cfg.RedisDB})
	defer rdb.Close()
	key := s.cache.key("user", 1)

	for i := range 20 {
		var u User
		callJSON(t, "GET", s.URL()+"/users/1", "", 200, &u) // miss, fills (unless tombstoned)
		callJSON(t, "GET", s.URL()+"/users/1", "", 200, &u)
		email := fmt.Sprintf("round%d@example.com", i)
		callJSON(t, "PATCH", s.URL()+"/users/1", `{"email":"`+email+`"}`, 200, &u)
		callJSON(t, "GET", s.URL()+"/users/1", "", 200, &u)
		if u.Email != email {
			t.Fatalf("round %d: GET after PATCH returned %q, want %q", i, u.Email, email)
		}
	}
	// The entry is in Redis (the fill after the tombstone expired or on user 2).
	var u User
	callJSON(t, "GET", s.URL()+"/users/2", "", 200, &u)
	if n, err := rdb.Exists(context.Background(), s.cache.key("user", 2)).Result(); err != nil || n != 1 {
		t.Fatalf("user 2 not cached: %d %v", n, err)
	}
	// A stale fill racing with an update is refused while the tombstone lives.
	if err := s.cache.InvalidateUser(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.cache.SetUser(context.Background(), User{ID: 1, Email: "stale@example.com"})
	if n, _ := rdb.Exists(context.Background(), key).Result(); n != 0 {
		t.Fatal("a fill after an invalidation wrote the stale entry")
	}
	hits := counterValue(t, s.URL()+"/metrics", "app_cache_requests_total", map[string]string{"cache_name": "users", "cache_result": "hit"})
	misses := counterValue(t, s.URL()+"/metrics", "app_cache_requests_total", map[string]string{"cache_name": "users", "cache_result": "miss"})
	if hits < 1 || misses < 1 {
		t.Fatalf("cache counters hit=%v miss=%v, want both > 0", hits, misses)
	}

	// A hit serves the cached bytes as they are: the same body as the miss
	// that filled it.
	key2 := s.cache.key("user", 2)
	rdb.Del(context.Background(), key2)
	_, miss := call(t, "GET", s.URL()+"/users/2", "")
	h0 := counterValue(t, s.URL()+"/metrics", "app_cache_requests_total", map[string]string{"cache_name": "users", "cache_result": "hit"})
	_, hit := call(t, "GET", s.URL()+"/users/2", "")
	if h := counterValue(t, s.URL()+"/metrics", "app_cache_requests_total", map[string]string{"cache_name": "users", "cache_result": "hit"}); h != h0+1 {
		t.Fatalf("second GET was not a cache hit (hits %v -> %v)", h0, h)
	}
	if string(hit) != string(miss) {
		t.Fatalf("cache hit body %q differs from the miss body %q", hit, miss)
	}
	// A corrupt entry is a miss answered from PostgreSQL, never sent as is.
	if err := rdb.Set(context.Background(), key2, "not json", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, b := call(t, "GET", s.URL()+"/users/2", ""); string(b) != string(miss) {
		t.Fatalf("with a corrupt cache entry the body is %q, want %q", b, miss)
	}
}

func TestBadInput(t *testing.T) {
	cfg := testConfig(t)
	seed(t, cfg.PostgresDSN, 1, 1)
	s := startServer(t, cfg)
	big := `{"email":"` + strings.Repeat("a", MaxBodyBytes) + `@example.com"}`
	for _, tc := range []struct {
		method, path, body string
		want               int
		contains           string
	}{
		{"PATCH", "/users/1", `{"email":`, 400, "malformed JSON"},
		{"PATCH", "/users/1", `{"email":"a@example.com"`, 400, "malformed JSON"},
		{"PATCH", "/users/1", `not json`, 400, "malformed JSON"},
		{"PATCH", "/users/1", `[]`, 400, "must be of type"},
		{"PATCH", "/users/1", ``, 400, "empty"},
		{"PATCH", "/users/1", `{"email":"a@example.com","admin":true}`, 400, "unknown field \"admin\""},
		{"PATCH", "/users/1", `{"email":"a@example.com"} {"email":"b@example.com"}`, 400, "trailing data"},
		{"PATCH", "/users/1", `{"email":"a@example.com"}}`, 400, "trailing data"},
		{"PATCH", "/users/1", `{"email":42}`, 400, "must be of type"},
		{"PATCH", "/users/1", `{}`, 400, "required"},
		{"PATCH", "/users/1", `{"email":"not-an-email"}`, 400, "email address"},
		{"PATCH", "/users/1", `{"email":"Bob <bob@example.com>"}`, 400, "email address"},
		{"PATCH", "/users/1", big, 413, "exceeds"},
		{"POST", "/posts", big, 413, "exceeds"},
		{"POST", "/posts", `{"user_id":1,"title":"t"}`, 400, "body"},
		{"POST", "/posts", `{"user_id":0,"title":"t","body":"b"}`, 400, "user_id"},
		{"POST", "/posts", `{"user_id":"1","title":"t","body":"b"}`, 400, "must be of type"},
		{"POST", "/posts", `{"user_id":1,"title":"  ","body":"b"}`, 400, "title"},
		{"POST", "/posts", `{"user_id":1,"title":"` + strings.Repeat("x", 201) + `","body":"b"}`, 400, "title"},
		{"POST", "/posts", `{"user_id":1,"title":"t","body":"b","extra":1}`, 400, "unknown field"},
		{"GET", "/users/abc", "", 400, "id must be"},
		{"GET", "/users/0", "", 400, "id must be"},
		{"GET", "/users/-1", "", 400, "id must be"},
		{"GET", "/users/99999999999999999999", "", 400, "id must be"},
		{"GET", "/posts/1.5", "", 400, "id must be"},
		{"PATCH", "/users/x", `{"email":"a@example.com"}`, 400, "id must be"},
		{"GET", "/users?limit=0", "", 400, "limit"},
		{"GET", "/users?limit=101", "", 400, "limit"},
		{"GET", "/users?limit=ten", "", 400, "limit"},
		{"GET", "/users?limit=5&limit=6", "", 400, "limit"},
		{"GET", "/users?cursor=abc", "", 400, "cursor"},
		{"GET", "/users?cursor=-5", "", 400, "cursor"},
		{"GET", "/posts?cursor=%00", "", 400, "cursor"},
		{"GET", "/posts?user_id=x", "", 400, "user_id"},
		{"GET", "/posts?user_id=0", "", 400, "user_id"},
	} {
		t.Run(tc.method+" "+tc.path+" "+trunc(tc.body), func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL()+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e errorBody
			decErr := jsonDecode(resp.Body, &e)
			if resp.StatusCode != tc.want || decErr != nil || !strings.Contains(e.Error, tc.contains) {
				t.Fatalf("status %d error %q (%v), want %d containing %q", resp.StatusCode, e.Error, decErr, tc.want, tc.contains)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// A wrong media type is refused.
	req, _ := http.NewRequest("PATCH", s.URL()+"/users/1", strings.NewReader(`{"email":"a@example.com"}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
	}
	// Nothing above changed user 1.
	var u User
	callJSON(t, "GET", s.URL()+"/users/1", "", 200, &u)
	if u.Email != "user1@example.com" {
		t.Fatalf("user 1 changed to %q", u.Email)
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// TestRandomPathsAddNoSeries floods the public port with 10,000 random paths
// and methods: the set of series on /metrics must not grow.
func TestRandomPathsAddNoSeries(t *testing.T) {
	cfg := testConfig(t)
	seed(t, cfg.PostgresDSN, 1, 0)
	s := startServer(t, cfg)
	// Warm up every (route, status) the flood can produce.
	call(t, "GET", s.URL()+"/no/such/path", "")
	call(t, "GET", s.URL()+"/users/nope", "")
	call(t, "GET", s.URL()+"/posts/nope", "")
	call(t, "DELETE", s.URL()+"/users/1", "")
	call(t, "FOO", s.URL()+"/x", "")
	call(t, "POST", s.URL()+"/y", "")
	call(t, "DELETE", s.URL()+"/z", "")
	before := seriesSet(t, s.URL()+"/metrics")

	r := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "POST", "DELETE", "FOO"}
	var wg sync.WaitGroup
	paths := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				m, path, _ := strings.Cut(p, " ")
				req, _ := http.NewRequest(m, s.URL()+path, nil)
				resp, err := testClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	for i := range 10000 {
		var path string
		switch i % 3 {
		case 0:
			path = fmt.Sprintf("/%x/%x", r.Uint64(), r.Uint32())
		case 1:
			path = fmt.Sprintf("/users/u%x", r.Uint64())
		default:
			path = fmt.Sprintf("/posts/p%x", r.Uint64())
		}
		m := "GET"
		if i%3 == 0 {
			m = methods[r.IntN(len(methods))]
		}
		paths <- m + " " + path
	}
	close(paths)
	wg.Wait()
	after := seriesSet(t, s.URL()+"/metrics")
	var added []string
	for k := range after {
		if !before[k] {
			added = append(added, k)
		}
	}
	sort.Strings(added)
	if len(added) > 0 {
		t.Fatalf("%d new series after 10,000 random paths, e.g. %v", len(added), added[:min(5, len(added))])
	}
	n := counterValue(t, s.URL()+"/metrics", "http_server_request_duration_seconds", map[string]string{"http_route": "unmatched"})
	if n < 3334 {
		t.Fatalf("unmatched requests counted %v, want at least 3334", n)
	}
}

// TestShutdownDrainsInFlight: on shutdown readiness turns 503 first and a
// slow in-flight request still completes with 200.
func TestShutdownDrainsInFlight(t *testing.T) {
	cfg := testConfig(t)
	seed(t, cfg.PostgresDSN, 1, 0)
	cfg.FaultQueryDelay = 2 * time.Second
	cfg.PostgresTimeout = 10 * time.Second
	cfg.ShutdownDelay = time.Second
	var off bool
	cfg.CacheEnabled = &off
	s := startServer(t, cfg)
	url := s.URL()

	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := testClient.Get(url + "/users/1")
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	eventually(t, 10*time.Second, "the slow request to be in flight", func() bool { return s.inflight.Load() == 1 })
	s.stop()
	eventually(t, 5*time.Second, "readiness to turn 503", func() bool {
		status, body := call(t, "GET", url+"/readyz", "")
		return status == 503 && strings.Contains(string(body), "shutting_down")
	})
	select {
	case r := <-res:
		if r.err != nil || r.status != 200 {
			t.Fatalf("in-flight request: %d %v, want 200", r.status, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight request did not finish")
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		s.done <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := testClient.Get(url + "/healthz"); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

// TestRedisDownFallback: reads and writes keep working on PostgreSQL when
// Redis stops; the failure is logged rate-limited; the cache resumes.
func TestRedisDownFallback(t *testing.T) {
	cfg := testConfig(t)
	rs := stacktest.RedisServer(t)
	cfg.RedisAddr, cfg.RedisDB = rs.Addr, rs.DB
	on := true
	cfg.CacheEnabled = &on
	seed(t, cfg.PostgresDSN, 3, 1)
	s := startServer(t, cfg)
	callJSON(t, "GET", s.URL()+"/users/1", "", 200, nil)
	var rd readiness
	callJSON(t, "GET", s.URL()+"/readyz", "", 200, &rd)
	if rd.Status != "ready" || rd.Redis != "ok" {
		t.Fatalf("readiness %+v", rd)
	}

	rs.Stop()
	for i := range 50 {
		var u User
		id := i%3 + 1
		callJSON(t, "GET", fmt.Sprintf("%s/users/%d", s.URL(), id), "", 200, &u)
		if u.ID != int64(id) {
			t.Fatalf("got user %d, want %d", u.ID, id)
		}
	}
	callJSON(t, "GET", s.URL()+"/posts/1", "", 200, nil)
	var u User
	callJSON(t, "PATCH", s.URL()+"/users/2", `{"email":"down@example.com"}`, 200, &u)
	callJSON(t, "GET", s.URL()+"/users/2", "", 200, &u)
	if u.Email != "down@example.com" {
		t.Fatalf("GET after PATCH with Redis down: %q", u.Email)
	}
	callJSON(t, "GET", s.URL()+"/readyz", "", 200, &rd)
	if rd.Status != "degraded" || rd.Redis != "unreachable" || rd.Postgres != "ok" {
		t.Fatalf("readiness with Redis down %+v, want degraded", rd)
	}
	if n := strings.Count(s.logs.String(), "redis unavailable"); n < 1 || n > 3 {
		t.Fatalf("%d 'redis unavailable' log lines for ~50 failing lookups, want 1..3 (rate-limited)", n)
	}

	rs.Start()
	hits := func() float64 {
		return counterValue(t, s.URL()+"/metrics", "app_cache_requests_total", map[string]string{"cache_name": "users", "cache_result": "hit"})
	}
	h0 := hits()
	eventually(t, 10*time.Second, "cache hits to resume", func() bool {
		callJSON(t, "GET", s.URL()+"/users/3", "", 200, nil)
		return hits() > h0
	})
}

// TestPostgresDownAndRecovery: with PostgreSQL stopped the data routes
// answer 503 with a JSON error and readiness fails; both recover when it
// is back.
func TestPostgresDownAndRecovery(t *testing.T) {
	srv := stacktest.PostgresServer(t, stacktest.PostgresOptions{MaxConnections: 20, NoStatStatements: true})
	cfg := testConfig(t)
	cfg.PostgresDSN = srv.DSN
	var off bool
	cfg.CacheEnabled = &off
	cfg.PostgresTimeout = time.Second
	seed(t, cfg.PostgresDSN, 2, 1)
	s := startServer(t, cfg)
	callJSON(t, "GET", s.URL()+"/users/1", "", 200, nil)

	srv.Stop()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/users/1", ""},
		{"PATCH", "/users/1", `{"email":"x@example.com"}`},
		{"GET", "/users", ""},
		{"POST", "/posts", `{"user_id":1,"title":"t","body":"b"}`},
		{"GET", "/posts/1", ""},
		{"GET", "/posts?user_id=1", ""},
	} {
		var e errorBody
		callJSON(t, r.method, s.URL()+r.path, r.body, 503, &e)
		if e.Error != "database unavailable" {
			t.Fatalf("%s %s: error %q", r.method, r.path, e.Error)
		}
	}
	var rd readiness
	callJSON(t, "GET", s.URL()+"/readyz", "", 503, &rd)
	if rd.Postgres != "unreachable" || rd.Status != "not_ready" {
		t.Fatalf("readiness %+v", rd)
	}
	callJSON(t, "GET", s.URL()+"/healthz", "", 200, nil) // liveness is not readiness

	srv.Start()
	eventually(t, 20*time.Second, "GET /users/1 to recover", func() bool {
		st, _ := call(t, "GET", s.URL()+"/users/1", "")
		return st == 200
	})
	callJSON(t, "GET", s.URL()+"/readyz", "", 200, &rd)
}

// TestListenersAndContract: the public /metrics has the contract's
// families and no runtime metrics; pprof and runtime metrics live on the
// admin listener only.
func TestListenersAndContract(t *testing.T) {
	cfg := testConfig(t)
	on := true
	cfg.CacheEnabled = &on
	seed(t, cfg.PostgresDSN, 2, 2)
	s := startServer(t, cfg)
	for range 2 {
		callJSON(t, "GET", s.URL()+"/users/1", "", 200, nil)
		callJSON(t, "GET", s.URL()+"/posts/1", "", 200, nil)
	}
	callJSON(t, "GET", s.URL()+"/users", "", 200, nil)

	public := contracttest.Scrape(t, s.URL()+"/metrics")
	contracttest.Check(t, public, contract.Demo)
	for name := range public {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			t.Errorf("runtime family %s on the public port", name)
		}
	}
	if st, _ := call(t, "GET", s.URL()+"/debug/pprof/", ""); st != 404 {
		t.Errorf("pprof on the public port: %d", st)
	}
	admin := contracttest.Scrape(t, s.AdminURL()+"/metrics")
	contracttest.Check(t, admin, contract.DemoAdmin)
	if _, ok := admin["http_server_request_duration_seconds"]; ok {
		t.Error("request metrics on the admin port")
	}
	if st, b := call(t, "GET", s.AdminURL()+"/debug/pprof/goroutine?debug=1", ""); st != 200 || !strings.Contains(string(b), "goroutine") {
		t.Errorf("admin pprof: %d", st)
	}
	// Probes and scrapes are not counted as workload.
	if hasSeries(public, "http_server_request_duration_seconds", map[string]string{"http_route": "/metrics"}) {
		t.Error("/metrics scrapes counted in http_server_request_duration_seconds")
	}
}

// TestModesShowOnMetrics: the pool size, the cache switch, the query delay
// and the CPU burn each show on the public metrics.
func TestModesShowOnMetrics(t *testing.T) {
	t.Run("naive", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Mode = ModeNaive
		seed(t, cfg.PostgresDSN, 1, 0)
		s := startServer(t, cfg)
		callJSON(t, "GET", s.URL()+"/users/1", "", 200, nil)
		fams := contracttest.Scrape(t, s.URL()+"/metrics")
		if v := gaugeIn(fams, "db_client_connection_max", map[string]string{"db_client_connection_pool_name": "postgres"}); v != 4 {
			t.Errorf("naive pool max %v, want 4", v)
		}
		if hasSeries(fams, "app_cache_requests_total", nil) {
			t.Error("cache lookups with the cache off")
		}
	})
	t.Run("tuned", func(t *testing.T) {
		cfg := testConfig(t)
		seed(t, cfg.PostgresDSN, 1, 0)
		s := startServer(t, cfg)
		callJSON(t, "GET", s.URL()+"/users/1", "", 200, nil)
		fams := contracttest.Scrape(t, s.URL()+"/metrics")
		if v := gaugeIn(fams, "db_client_connection_max", map[string]string{"db_client_connection_pool_name": "postgres"}); v != 50 {
			t.Errorf("tuned pool max %v, want 50", v)
		}
		if !hasSeries(fams, "app_cache_requests_total", map[string]string{"cache_name": "users", "cache_result": "miss"}) {
			t.Error("no cache lookups with the cache on")
		}
	})
	t.Run("query delay saturates the pool", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Mode = ModeNaive
		cfg.PostgresPoolSize = 2
		cfg.FaultQueryDelay = 200 * time.Millisecond
		cfg.PostgresTimeout = 10 * time.Second
		seed(t, cfg.PostgresDSN, 1, 0)
		s := startServer(t, cfg)
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				callJSON(t, "GET", s.URL()+"/users/1", "", 200, nil)
			}()
		}
		wg.Wait()
		// 10 requests through 2 connections held >= 200ms each: at least
		// 0+0+.2+.2+.4+.4+.6+.6+.8+.8 = 4s of waiting in total.
		fams := contracttest.Scrape(t, s.URL()+"/metrics")
		wait := histogramSum(fams, "db_client_connection_wait_time_seconds", map[string]string{"db_client_connection_pool_name": "postgres"})
		if wait < 3.5 {
			t.Errorf("pool wait time sum %.2fs, want >= 3.5s", wait)
		}
	})
	t.Run("saturated pool times out with 503", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Mode = ModeNaive
		cfg.PostgresPoolSize = 1
		cfg.FaultQueryDelay = 2 * time.Second
		cfg.PostgresTimeout = 300 * time.Millisecond
		seed(t, cfg.PostgresDSN, 1, 0)
		s := startServer(t, cfg)
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var e errorBody
				callJSON(t, "GET", s.URL()+"/users/1", "", 503, &e)
				if e.Error != "database timeout" {
					t.Errorf("error %q, want database timeout", e.Error)
				}
			}()
		}
		wg.Wait()
		fams := contracttest.Scrape(t, s.URL()+"/metrics")
		var timeouts float64
		for _, m := range fams["db_client_connection_timeouts_total"].GetMetric() {
			if matches(m, map[string]string{"db_client_connection_pool_name": "postgres"}) {
				timeouts += m.GetCounter().GetValue()
			}
		}
		if timeouts < 1 {
			t.Errorf("db_client_connection_timeouts_total %v with 3 requests on 1 busy connection, want >= 1", timeouts)
		}
	})
	t.Run("cpu burn", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.FaultCPUBurn = 30 * time.Millisecond
		seed(t, cfg.PostgresDSN, 1, 0)
		s := startServer(t, cfg)
		for range 5 {
			callJSON(t, "GET", s.URL()+"/users/abc", "", 400, nil) // burns, no database
		}
		fams := contracttest.Scrape(t, s.URL()+"/metrics")
		if sum := histogramSum(fams, "http_server_request_duration_seconds", map[string]string{"http_route": "/users/{id}"}); sum < 0.15 {
			t.Errorf("request duration sum %.3fs after 5 requests burning 30ms, want >= 0.15s", sum)
		}
	})
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("embedded migrations: %d, %v", len(ms), err)
	}
	var wg sync.WaitGroup
	applied := make([]int, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != len(ms) {
		t.Fatalf("4 concurrent migrations applied %d in total, want %d", total, len(ms))
	}
	if n, err := Migrate(ctx, pool); err != nil || n != 0 {
		t.Fatalf("re-run applied %d, %v", n, err)
	}
	// Every query has an index: the plans use them.
	seed(t, pg.DSN, 200, 2000)
	for q, idx := range map[string]string{
		"SELECT * FROM users WHERE id = 5":                                      "users_pkey",
		"SELECT * FROM users WHERE id > 5 ORDER BY id LIMIT 21":                 "users_pkey",
		"SELECT * FROM posts WHERE id = 5":                                      "posts_pkey",
		"SELECT * FROM posts WHERE id > 5 ORDER BY id LIMIT 21":                 "posts_pkey",
		"SELECT * FROM posts WHERE user_id = 5 AND id > 0 ORDER BY id LIMIT 21": "posts_user_id_id_idx",
		"UPDATE users SET email = 'x@example.com' WHERE id = 5 RETURNING id":    "users_pkey",
		"SELECT * FROM users WHERE email = 'user7@example.com'":                 "users_email_key",
	} {
		var plan string
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		_ = tx.Rollback(ctx)
		plan = strings.Join(lines, "\n")
		if !strings.Contains(plan, idx) {
			t.Errorf("%s: plan does not use %s:\n%s", q, idx, plan)
		}
	}
}

func TestSeedIdempotent(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	ctx := context.Background()
	var progress stacktest.SyncBuffer
	res, err := Seed(ctx, pg.DSN, SeedOptions{Users: 5000, Posts: 20000, Progress: &progress})
	if err != nil || res.Skipped {
		t.Fatalf("first seed: %+v %v", res, err)
	}
	if !strings.HasPrefix(res.String(), "seeded users=5000 posts=20000 in ") {
		t.Errorf("summary %q", res.String())
	}
	out := progress.String()
	for _, want := range []string{"seed: users 5000/5000 rows (100%) in ", "seed: posts 10000/20000 rows (50%), ", "seed: posts 20000/20000 rows (100%) in "} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	res, err = Seed(ctx, pg.DSN, SeedOptions{Users: 5000, Posts: 20000})
	if err != nil || !res.Skipped || !strings.HasPrefix(res.String(), "already seeded users=5000 posts=20000") {
		t.Fatalf("second seed: %+v %v", res, err)
	}
	res, err = Seed(ctx, pg.DSN, SeedOptions{Users: 10, Posts: 30})
	if err != nil || res.Skipped {
		t.Fatalf("reseed: %+v %v", res, err)
	}
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var users, posts, maxOwner int64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), (SELECT max(user_id) FROM posts)").
		Scan(&users, &posts, &maxOwner); err != nil {
		t.Fatal(err)
	}
	if users != 10 || posts != 30 || maxOwner > 10 {
		t.Fatalf("after reseed: %d users, %d posts, max owner %d", users, posts, maxOwner)
	}
	// New rows continue after the seeded ids.
	var id int64
	if err := conn.QueryRow(ctx, "INSERT INTO users (email, name) VALUES ('n@example.com', 'n') RETURNING id").Scan(&id); err != nil || id != 11 {
		t.Fatalf("next user id %d, %v; want 11", id, err)
	}
}

// --- metrics helpers ---

func seriesSet(t *testing.T, url string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name, mf := range contracttest.Scrape(t, url) {
		for _, m := range mf.GetMetric() {
			var b strings.Builder
			b.WriteString(name)
			for _, l := range m.GetLabel() {
				fmt.Fprintf(&b, ",%s=%q", l.GetName(), l.GetValue())
			}
			out[b.String()] = true
		}
	}
	return out
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func hasSeries(fams map[string]*dto.MetricFamily, name string, labels map[string]string) bool {
	for _, m := range fams[name].GetMetric() {
		if matches(m, labels) {
			return true
		}
	}
	return false
}

func gaugeIn(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var v float64
	for _, m := range fams[name].GetMetric() {
		if matches(m, labels) {
			v += m.GetGauge().GetValue()
		}
	}
	return v
}

func histogramSum(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var v float64
	for _, m := range fams[name].GetMetric() {
		if matches(m, labels) {
			v += m.GetHistogram().GetSampleSum()
		}
	}
	return v
}

// counterValue sums a counter (or a histogram's count) over matching series.
func counterValue(t *testing.T, url, name string, labels map[string]string) float64 {
	t.Helper()
	var v float64
	for _, m := range contracttest.Scrape(t, url)[name].GetMetric() {
		if matches(m, labels) {
			v += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v
}

// TestNoStaleReadUnderConcurrentFills: readers keep missing and filling
// the cache while a writer updates the user; every GET issued after a
// PATCH returned must see that PATCH's email.
func TestNoStaleReadUnderConcurrentFills(t *testing.T) {
	cfg := testConfig(t)
	on := true
	cfg.CacheEnabled = &on
	seed(t, cfg.PostgresDSN, 1, 0)
	s := startServer(t, cfg)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if st, b := call(t, "GET", s.URL()+"/users/1", ""); st != 200 {
					t.Errorf("reader: %d %s", st, b)
					return
				}
			}
		}()
	}
	for i := range 30 {
		email := fmt.Sprintf("w%d@example.com", i)
		callJSON(t, "PATCH", s.URL()+"/users/1", `{"email":"`+email+`"}`, 200, nil)
		for range 3 {
			var u User
			callJSON(t, "GET", s.URL()+"/users/1", "", 200, &u)
			if u.Email != email {
				close(stop)
				wg.Wait()
				t.Fatalf("write %d: stale read %q after PATCH to %q", i, u.Email, email)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkSeed reports the COPY load rate of the seed command.
func BenchmarkSeed(b *testing.B) {
	pg := stacktest.PostgresDB(b)
	const users, posts = 20000, 200000
	for i := range b.N {
		if _, err := Seed(context.Background(), pg.DSN, SeedOptions{Users: users, Posts: posts + int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(users+posts)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
