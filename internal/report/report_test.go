package report

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestNamesInContract(t *testing.T) {
	for name, producer := range contractNames() {
		f, ok := contract.Lookup(name)
		if !ok {
			t.Errorf("%s: the report reads it but internal/contract does not declare it", name)
			continue
		}
		if f.Producer != producer {
			t.Errorf("%s: contract producer %s, the report expects %s", name, f.Producer, producer)
		}
	}
	// Labels the report selects or groups by.
	for name, labels := range map[string][]string{
		k6Reqs: {labelTestID, labelName, labelStatus}, k6Duration: {labelTestID, labelName}, k6VUs: {labelTestID},
		poolCount: {labelPool, labelPoolState}, poolMax: {labelPool}, poolPending: {labelPool}, poolWait: {labelPool}, poolTimeout: {labelPool},
		appCache: {labelCacheName, labelCacheRes}, pgStmtExec: {labelQueryID}, pgStmtCalls: {labelQueryID},
		hpaReplicas: {"namespace", labelHPA}, hpaMaxReplicas: {"namespace", labelHPA},
	} {
		f, ok := contract.Lookup(name)
		if !ok {
			continue
		}
		for _, l := range labels {
			if !slices.Contains(f.LabelNames(), l) {
				t.Errorf("%s: the report uses label %s, the contract declares %v", name, l, f.LabelNames())
			}
		}
	}
}

// TestDefaultSLAMatchesK6 compares DefaultSLA with the thresholds k6
// builds from loadtest/k6/lib/config.js.
func TestDefaultSLAMatchesK6(t *testing.T) {
	k6 := stacktest.K6(t)
	out, err := exec.Command(k6, "inspect", filepath.Join(repoRoot(t), "loadtest", "k6", "smoke.js")).Output()
	if err != nil {
		t.Fatalf("k6 inspect: %v", err)
	}
	var in struct {
		Thresholds map[string][]string `json:"thresholds"`
	}
	if err := json.Unmarshal(out, &in); err != nil {
		t.Fatal(err)
	}
	sla := DefaultSLA()
	if len(sla.Endpoints) != 6 {
		t.Fatalf("DefaultSLA has %d endpoints, want the 6 routes", len(sla.Endpoints))
	}
	for name, e := range sla.Endpoints {
		lat := strings.Join(in.Thresholds["http_req_duration{name:"+name+"}"], ",")
		want := "p(95)<" + ms(e.P95) + ",p(99)<" + ms(e.P99)
		if lat != want {
			t.Errorf("%s latency: k6 %q, DefaultSLA %q", name, lat, want)
		}
		errs := strings.Join(in.Thresholds["http_req_failed{name:"+name+"}"], ",")
		if wantE := "rate<" + strings.TrimRight(strings.TrimRight(jsonNum(e.MaxErrorRate), "0"), "."); errs != wantE {
			t.Errorf("%s errors: k6 %q, DefaultSLA %q", name, errs, wantE)
		}
	}
}

func ms(d time.Duration) string { return jsonNum(float64(d.Milliseconds())) }

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func TestJudge(t *testing.T) {
	sla := DefaultSLA()
	cases := []struct {
		name       string
		p95, p99   float64
		errors     float64
		want       Verdict
		wantReason string
	}{
		{"GET /users/{id}", 0.1, 0.2, 0, Pass, ""},
		{"GET /users/{id}", 0.35, 0.4, 0, Degraded, "p95 350 ms > 300 ms"},
		{"GET /users/{id}", 0.2, 1.2, 0, Fail, "p99 1200 ms > 2× the 500 ms objective"},
		{"GET /users/{id}", 0.1, 0.2, 0.02, Fail, "error rate 2.00% > 1.00%"},
		{"GET /unknown", 0.45, 0.5, 0, Pass, ""}, // the default SLA: 500 ms
		{"GET /users/{id}", math.NaN(), math.NaN(), 0, Pass, ""},
	}
	for _, c := range cases {
		e := EndpointStats{Name: c.name, Requests: 100, P95: c.p95, P99: c.p99, ErrorRate: c.errors}
		sla.judge(&e)
		if e.Verdict != c.want || !strings.Contains(strings.Join(e.Reasons, ";"), c.wantReason) {
			t.Errorf("%s p95 %v p99 %v errors %v: %s %v, want %s with %q", c.name, c.p95, c.p99, c.errors, e.Verdict, e.Reasons, c.want, c.wantReason)
		}
	}
}

func TestDiagnose(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		r    Report
		want []string // per finding, in order: substrings joined by " && "
	}{
		{"healthy", Report{Verdict: Pass}, []string{"No bottleneck"}},
		{"unexplained", Report{Verdict: Degraded}, []string{"no service-side signal explains it"}},
		{"pool bottleneck", Report{System: System{Pools: []PoolStats{{Name: "postgres", Size: 20, PeakSaturation: 1, WaitFirst: 0.01, WaitLast: 0.5}}}},
			[]string{"The PostgreSQL connection pool (size 20) is the bottleneck && raise --postgres.pool-size or cut query time"}},
		{"pool full, nobody waits", Report{System: System{Pools: []PoolStats{{Name: "postgres", Size: 20, PeakSaturation: 0.95}}}},
			[]string{"not yet the bottleneck"}},
		{"pool fine", Report{Verdict: Pass, System: System{Pools: []PoolStats{{Name: "redis", Size: 10, PeakSaturation: 0.5, WaitLast: 1}}}},
			[]string{"No bottleneck"}},
		{"cold cache", Report{System: System{Caches: []CacheStats{{Name: "users", Lookups: 5000, HitRatio: 0.1}, {Name: "posts", Lookups: 10, HitRatio: 0}}}},
			[]string{`The "users" cache is cold or off: only 10.00% of 5000 lookups hit`}},
		{"cache off (no traffic)", Report{Verdict: Pass, System: System{Caches: []CacheStats{{Name: "users", Lookups: 0, HitRatio: nan}}}},
			[]string{"No bottleneck"}},
		{"postgres slots", Report{System: System{Postgres: &PostgresStats{PeakSaturation: 1, PeakConnections: 97, MaxConnections: 100}}},
			[]string{"PostgreSQL ran out of connection slots (peak 97 client backends of max_connections 100"}},
		{"slow statement", Report{System: System{Statements: []Statement{{QueryID: "42", Calls: 10, TotalTime: 2.5, MeanTime: 0.25}}}},
			[]string{"statement 42 averaged 250 ms per call"}},
		{"hpa at max", Report{System: System{Replicas: []ReplicaStats{{Name: "loadlens/demo", Max: 5, MaxReplicas: 5, AtMaxReplicas: true}}}},
			[]string{"hit its maximum of 5 replicas"}},
		{"plateau", Report{Steps: []StepStats{
			{Step: "1", TargetVUs: "10", Overall: EndpointStats{RPS: 100, P95: 0.05}},
			{Step: "2", TargetVUs: "50", Overall: EndpointStats{RPS: 450, P95: 0.06}},
			{Step: "3", TargetVUs: "100", Overall: EndpointStats{RPS: 460, P95: 0.4}},
		}}, []string{"Throughput plateaued at step 3"}},
		{"breakpoint aborted", Report{TestType: "breakpoint", ExitCode: ptr(99), PeakRPS: 812.5, PeakVUs: 240, Verdict: Degraded},
			[]string{"after a peak of 812.5 req/s with 240 VUs"}},
		{"errors", Report{Verdict: Fail, Overall: EndpointStats{ErrorRate: 0.2}, Endpoints: []EndpointStats{
			{Name: "POST /posts", Requests: 100, Failures: 40, ErrorRate: 0.4, SLA: EndpointSLA{MaxErrorRate: 0.01}},
			{Name: "GET /posts", Requests: 100, ErrorRate: 0, SLA: EndpointSLA{MaxErrorRate: 0.01}},
		}}, []string{"POST /posts failed 40.00% of its requests (40 of 100)"}},
	}
	for _, c := range cases {
		got := diagnose(&c.r)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d findings %q, want %d", c.name, len(got), got, len(c.want))
			continue
		}
		for i, ws := range c.want {
			for _, w := range strings.Split(ws, " && ") {
				if !strings.Contains(got[i], w) {
					t.Errorf("%s: finding %d = %q, want it to contain %q", c.name, i, got[i], w)
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestPromErrors(t *testing.T) {
	if _, err := NewProm("localhost:9090", nil); err == nil || !strings.Contains(err.Error(), "want e.g. http://") {
		t.Errorf("NewProm without scheme: %v", err)
	}
	if _, err := NewProm("http://user:secret@127.0.0.1:1", nil); err != nil {
		t.Fatal(err)
	}
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>nope</html>", http.StatusNotFound)
	}))
	defer html.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`))
	}))
	defer bad.Close()
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{html.URL, "answered HTTP 404, not the query API"},
		{bad.URL, "bad_data: parse error at char 3"},
		{"http://user:secret@127.0.0.1:1", "query Prometheus at http://user:xxxxx@127.0.0.1:1"},
	} {
		p, err := NewProm(c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Query(ctx, "up", time.Now())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v, want %q", c.url, err, c.want)
		}
	}
	_, err := Build(ctx, Options{PrometheusURL: bad.URL})
	if err == nil || !strings.Contains(err.Error(), "no test id") {
		t.Errorf("Build without test id: %v", err)
	}
	_, err = Build(ctx, Options{PrometheusURL: bad.URL, TestID: "ok", Baseline: "../../etc"})
	if err == nil || !strings.Contains(err.Error(), `test id "../../etc"`) {
		t.Errorf("Build with a path as baseline: %v", err)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Second: "1s", 1500 * time.Millisecond: "1500ms", 0: "1ms", 2 * time.Hour: "7200s"} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

func TestLastHistograms(t *testing.T) {
	start := time.Unix(1000, 0)
	got := lastHistograms(`h{a="b"}`, start, start.Add(10*time.Second))
	if got != `(h{a="b"} @ 1010.000)` {
		t.Errorf("short run: %s", got)
	}
	got = lastHistograms(`h`, start, start.Add(20*time.Minute))
	// 20m run: terms at end, -4m, -8m, -12m, -16m (the last within 5m of start).
	if n := strings.Count(got, " @ "); n != 5 {
		t.Errorf("20m run: %d terms: %s", n, got)
	}
	got = lastHistograms(`h`, start, start.Add(24*time.Hour))
	if n := strings.Count(got, " @ "); n > maxLastTerms+1 {
		t.Errorf("24h run: %d terms", n)
	}
}

func TestAlertmanagerAlerts(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	end := start.Add(10 * time.Minute)
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`[
 {"labels":{"alertname":"During","severity":"warning","job":"loadlens-demo"},"startsAt":"2026-01-01T10:05:00Z","endsAt":"2026-01-01T10:30:00Z"},
 {"labels":{"alertname":"Before","severity":"info"},"startsAt":"2026-01-01T08:00:00Z","endsAt":"2026-01-01T09:00:00Z"},
 {"labels":{"alertname":"After","severity":"info"},"startsAt":"2026-01-01T11:00:00Z","endsAt":"2026-01-01T12:00:00Z"}
]`))
	}))
	defer am.Close()
	b := &builder{opts: Options{AlertmanagerURL: am.URL}}
	got, err := b.alertmanager(context.Background(), start, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "During" || got[0].Labels != "job=loadlens-demo" || !got[0].Last.Equal(end) || got[0].Source != "alertmanager" {
		t.Errorf("alerts %+v, want only During, cut at the run's end", got)
	}
	b.opts.AlertmanagerURL = am.URL + "/nope"
	if _, err := b.alertmanager(context.Background(), start, end); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("wrong path: %v", err)
	}
}
