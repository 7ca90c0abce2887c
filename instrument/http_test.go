package instrument

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func testMux(i *Instrumentation) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no such user", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	return i.Middleware(mux)
}

func TestMiddlewareExposition(t *testing.T) {
	i := newTest(t, Config{ServiceName: "test"})
	h := testMux(i)
	do(t, h, http.MethodGet, "/users/1")
	do(t, h, http.MethodGet, "/users/2")
	do(t, h, http.MethodGet, "/users/missing")
	do(t, h, http.MethodPost, "/users")
	do(t, h, "PROPFIND", "/healthz")
	do(t, h, http.MethodGet, "/no/such/path")
	do(t, h, http.MethodDelete, "/users/1") // 405 from the mux: no pattern matched
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panicking handler did not panic through the middleware")
			}
		}()
		do(t, h, http.MethodGet, "/boom")
	}()

	fams, body := scrape(t, i)
	for _, unwanted := range []string{"otel_scope_", "target_info"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("scrape contains %q:\n%s", unwanted, body)
		}
	}
	dur := fams["http_server_request_duration_seconds"]
	if dur == nil || dur.GetType().String() != "HISTOGRAM" {
		t.Fatalf("http_server_request_duration_seconds missing or not a histogram:\n%s", body)
	}
	want := []struct {
		method, route, status string
		count                 uint64
	}{
		{"GET", "/users/{id}", "200", 2},
		{"GET", "/users/{id}", "404", 1},
		{"POST", "/users", "201", 1},
		{"_OTHER", "/healthz", "200", 1},
		{"GET", "unmatched", "404", 1},
		{"DELETE", "unmatched", "405", 1},
		{"GET", "/boom", "500", 1},
	}
	for _, w := range want {
		m := find(dur, map[string]string{"http_request_method": w.method, "http_route": w.route, "http_response_status_code": w.status})
		if m == nil {
			t.Errorf("no series for %s %s %s:\n%s", w.method, w.route, w.status, body)
			continue
		}
		if got := m.GetHistogram().GetSampleCount(); got != w.count {
			t.Errorf("%s %s %s: count %d, want %d", w.method, w.route, w.status, got, w.count)
		}
		if got, wantNames := labelNames(m), []string{"http_request_method", "http_response_status_code", "http_route"}; !reflect.DeepEqual(got, wantNames) {
			t.Errorf("labels %v, want %v", got, wantNames)
		}
	}
	if n := len(dur.GetMetric()); n != len(want) {
		t.Errorf("%d duration series, want %d", n, len(want))
	}
	// Bucket boundaries include the SLO thresholds.
	var bounds []float64
	for _, b := range dur.GetMetric()[0].GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	if !reflect.DeepEqual(bounds, httpDurationBuckets) {
		t.Errorf("buckets %v, want %v", bounds, httpDurationBuckets)
	}
	for _, slo := range []string{`le="0.1"`, `le="0.3"`, `le="1"`} {
		if !strings.Contains(body, "http_server_request_duration_seconds_bucket{") || !strings.Contains(body, slo) {
			t.Errorf("scrape lacks bucket %s", slo)
		}
	}
	// All requests are over: the active gauge is 0 for every method seen.
	act := fams["http_server_active_requests"]
	if act == nil || act.GetType().String() != "GAUGE" {
		t.Fatalf("http_server_active_requests missing or not a gauge:\n%s", body)
	}
	for _, m := range act.GetMetric() {
		if v := m.GetGauge().GetValue(); v != 0 {
			t.Errorf("active requests %v = %v after all requests ended", labelsOf(m), v)
		}
		if got := labelNames(m); !reflect.DeepEqual(got, []string{"http_request_method"}) {
			t.Errorf("active requests labels %v", got)
		}
	}
	// Per-request accounting: no DB calls, so every request recorded 0.
	q := fams["app_db_queries_per_request"]
	if m := find(q, map[string]string{"http_route": "/users/{id}"}); m == nil || m.GetHistogram().GetSampleCount() != 3 || m.GetHistogram().GetSampleSum() != 0 {
		t.Errorf("app_db_queries_per_request{/users/{id}} = %v, want 3 requests with 0 queries", m)
	}
}

func TestActiveRequestsDuringRequest(t *testing.T) {
	i := newTest(t, Config{})
	inside := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		<-release
	})
	h := i.Middleware(mux)
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(t, h, http.MethodGet, "/slow")
	}()
	<-inside
	fams, body := scrape(t, i)
	m := find(fams["http_server_active_requests"], map[string]string{"http_request_method": "GET"})
	if m == nil || m.GetGauge().GetValue() != 1 {
		t.Errorf("active requests during the request = %v, want 1:\n%s", m, body)
	}
	close(release)
	<-done
	fams, _ = scrape(t, i)
	if m := find(fams["http_server_active_requests"], map[string]string{"http_request_method": "GET"}); m.GetGauge().GetValue() != 0 {
		t.Errorf("active requests after = %v, want 0", m.GetGauge().GetValue())
	}
}

// Raw paths never become label values: 10,000 random paths add no series
// once each route has been seen.
func TestRandomPathsAddNoSeries(t *testing.T) {
	i := newTest(t, Config{})
	h := testMux(i)
	do(t, h, http.MethodGet, "/users/1")
	do(t, h, http.MethodGet, "/nothing")
	before, _ := scrape(t, i)
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 10000 {
		var p string
		if n%2 == 0 {
			p = fmt.Sprintf("/users/%d", rng.Uint64())
		} else {
			p = fmt.Sprintf("/%x/%x", rng.Uint64(), rng.Uint32())
		}
		if rec := do(t, h, http.MethodGet, p); rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
			t.Fatalf("%s: status %d", p, rec.Code)
		}
	}
	after, body := scrape(t, i)
	if b, a := seriesCount(before), seriesCount(after); a != b {
		t.Errorf("series grew from %d to %d after 10000 random paths:\n%s", b, a, body)
	}
	m := find(after["http_server_request_duration_seconds"], map[string]string{"http_route": "unmatched"})
	if m == nil || m.GetHistogram().GetSampleCount() != 5001 {
		t.Errorf("unmatched count = %v, want 5001", m)
	}
}

func TestRouteFromPattern(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "unmatched",
		"/":                     "/",
		"GET /users/{id}":       "/users/{id}",
		"POST  /users":          "/users",
		"example.com/x":         "example.com/x",
		"GET example.com/{$}":   "example.com/{$}",
		"/static/":              "/static/",
		"DELETE /posts/{id...}": "/posts/{id...}",
	} {
		if got := routeFromPattern(in); got != want {
			t.Errorf("routeFromPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRouteBound(t *testing.T) {
	i := newTest(t, Config{})
	var last *routeEntry
	for n := range MaxRoutes + 10 {
		last = i.routes.entry(fmt.Sprintf("GET /r%d", n))
	}
	if last.route != otherValue {
		t.Errorf("route past the bound = %q, want %q", last.route, otherValue)
	}
	if e := i.routes.entry("GET /r1"); e.route != "/r1" {
		t.Errorf("route within the bound = %q", e.route)
	}
}

func TestMiddlewareKeepsFlusher(t *testing.T) {
	i := newTest(t, Config{})
	flushed := false
	h := i.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the middleware: %v", err)
		}
		flushed = true
	}))
	rec := do(t, h, http.MethodGet, "/")
	if !flushed || !rec.Flushed {
		t.Errorf("handler flushed=%v recorder flushed=%v", flushed, rec.Flushed)
	}
}

func TestNewConfigErrors(t *testing.T) {
	if _, err := New(Config{QuerySummaryLimit: -1}); err == nil {
		t.Error("New accepted a negative QuerySummaryLimit")
	}
	if _, err := New(Config{Gatherer: nil, Registerer: registererOnly{}}); err == nil {
		t.Error("New accepted a Registerer that is not a Gatherer without a Gatherer")
	}
}

func TestRedactEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@collector:4318/v1/traces": "http://REDACTED@collector:4318/v1/traces",
		"collector:4318":             "collector:4318",
		"https://collector:4318/x@y": "https://collector:4318/x@y",
	} {
		if got := redactEndpoint(in); got != want {
			t.Errorf("redactEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecordingAfterShutdown(t *testing.T) {
	i, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Recording after Shutdown must not panic.
	do(t, testMux(i), http.MethodGet, "/users/1")
	i.Cache("users").Hit(context.Background())
}
