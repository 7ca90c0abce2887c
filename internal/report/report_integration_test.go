package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/loadtest"
	"github.com/loadlens/loadlens/internal/loadtest/demostub"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

// repoRoot finds the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// poolMetrics plays the demo service's pool and cache families with a
// saturated PostgreSQL pool whose wait time grows, and a cold cache, driven
// by the stub's request count.
type poolMetrics struct {
	requests *atomic.Int64
	start    time.Time
}

func (p poolMetrics) Describe(chan<- *prometheus.Desc) {}

func (p poolMetrics) Collect(ch chan<- prometheus.Metric) {
	pool := []string{contract.DBConnectionCount, contract.DBConnectionMax, contract.DBConnectionPending}
	gauge := func(name string, v float64, labels ...string) {
		var names, values []string
		for i := 0; i < len(labels); i += 2 {
			names, values = append(names, labels[i]), append(values, labels[i+1])
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "test", names, nil), prometheus.GaugeValue, v, values...)
	}
	gauge(pool[0], 10, labelPool, "postgres", labelPoolState, "used")
	gauge(pool[0], 0, labelPool, "postgres", labelPoolState, "idle")
	gauge(pool[1], 10, labelPool, "postgres")
	gauge(pool[2], 4, labelPool, "postgres")
	// Waited seconds grow quadratically with time: the wait rate grows.
	el := time.Since(p.start).Seconds()
	ch <- prometheus.MustNewConstHistogram(prometheus.NewDesc(contract.DBConnectionWait, "test", []string{labelPool}, nil),
		uint64(el*10), 0.05*el*el, map[float64]uint64{}, "postgres")
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(contract.DBConnectionTimeout, "test", []string{labelPool}, nil),
		prometheus.CounterValue, math.Floor(el), "postgres")
	// The exporter's side (served by the same stub): PostgreSQL at its
	// connection limit, one slow statement, a Redis missing most lookups,
	// an HPA at its maximum.
	gauge(pgSaturation, 1)
	gauge(pgConnections, 90, "state", "active")
	gauge(pgConnections, 7, "state", "idle")
	gauge(pgMaxConns, 100)
	counter := func(name string, v float64, labels ...string) {
		var names, values []string
		for i := 0; i < len(labels); i += 2 {
			names, values = append(names, labels[i]), append(values, labels[i+1])
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "test", names, nil), prometheus.CounterValue, v, values...)
	}
	counter(pgStmtCalls, math.Floor(el*10), labelQueryID, "42")
	counter(pgStmtExec, math.Floor(el*10)*0.25, labelQueryID, "42") // 250 ms per call
	counter(pgStmtCalls, math.Floor(el*100), labelQueryID, "7")
	counter(pgStmtExec, math.Floor(el*100)*0.001, labelQueryID, "7") // 1 ms per call
	counter(redisHits, math.Floor(el*20))
	counter(redisMisses, math.Floor(el*80))
	gauge(hpaReplicas, 3, labelHPA, "demo")
	gauge(hpaMaxReplicas, 3, labelHPA, "demo")

	n := float64(p.requests.Load())
	cache := prometheus.NewDesc(contract.AppCacheRequests, "test", []string{labelCacheName, labelCacheRes}, nil)
	ch <- prometheus.MustNewConstMetric(cache, prometheus.CounterValue, math.Floor(n*0.1), "users", "hit")
	ch <- prometheus.MustNewConstMetric(cache, prometheus.CounterValue, n-math.Floor(n*0.1), "users", "miss")
}

// promQuery is the test's own Prometheus client, independent of Prom.
func promQuery(t *testing.T, base, q string, at time.Time) []struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
	Values [][]any           `json:"values"`
} {
	t.Helper()
	resp, err := http.PostForm(base+"/api/v1/query", url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body.Error)
	}
	return body.Data.Result
}

func fnum(t *testing.T, v any) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type k6Summary struct {
	Metrics map[string]map[string]any `json:"metrics"`
}

func readSummary(t *testing.T, path string) k6Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s k6Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func near(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+abs
}

func runK6(t *testing.T, ctx context.Context, opts loadtest.Options) loadtest.Result {
	t.Helper()
	var out bytes.Buffer
	opts.Stdout, opts.Stderr, opts.Quiet = &out, &out, true
	opts.K6Binary = stacktest.K6(t)
	opts.ScriptDir = filepath.Join(repoRoot(t), "loadtest", "k6")
	res, err := loadtest.Run(ctx, opts)
	if err != nil {
		t.Fatalf("k6 run %s: %v\n%s", opts.Scenario, err, out.String())
	}
	return res
}

func TestReportFromRealRun(t *testing.T) {
	ctx := t.Context()
	var requests atomic.Int64
	reg := prometheus.NewRegistry()
	reg.MustRegister(poolMetrics{requests: &requests, start: time.Now()})
	stub := demostub.Start(t, demostub.Options{Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	go func() { // mirror the stub's request count into the cache counters
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				requests.Store(stub.Requests.Load())
			}
		}
	}()
	rules := filepath.Join(t.TempDir(), "alerts.yml")
	if err := os.WriteFile(rules, []byte(`groups:
  - name: test
    rules:
      - alert: TestPoolSaturated
        expr: db_client_connection_count{db_client_connection_state="used"} >= on (db_client_connection_pool_name) db_client_connection_max
        labels:
          severity: warning
`), 0o644); err != nil {
		t.Fatal(err)
	}
	stubAddr := strings.TrimPrefix(stub.URL, "http://")
	prom := stacktest.PrometheusServer(t, stacktest.PrometheusOptions{
		ScrapeTargets: map[string][]string{"loadlens-demo": {stubAddr}},
		RuleFiles:     []string{rules},
	})
	dir := t.TempDir()
	// Prometheus applies scrape targets a few seconds after it starts.
	waitFor(t, 30*time.Second, "the stub scraped", func() bool {
		return len(promQuery(t, prom.URL, `up{job="loadlens-demo"} == 1`, time.Now())) == 1
	})

	// 1. A smoke run: every route, healthy latency, a saturated pool and a cold cache.
	smoke := runK6(t, ctx, loadtest.Options{Scenario: "smoke", BaseURL: stub.URL, PrometheusURL: prom.URL, TestID: "it-smoke", Dir: dir,
		Env: map[string]string{"DURATION": "4s", "VUS": "2", "SLEEP": "0.005"}})
	if smoke.ExitCode != 0 {
		t.Fatalf("smoke exit code %d", smoke.ExitCode)
	}
	path, err := Generate(ctx, Options{PrometheusURL: prom.URL, TestID: "it-smoke", OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(ctx, Options{PrometheusURL: prom.URL, TestID: "it-smoke", OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.RangeSource != "run.json" || !r.Start.Equal(smoke.Start) || !r.End.Equal(smoke.End) {
		t.Errorf("range %s – %s from %s, want run.json's %s – %s", r.Start, r.End, r.RangeSource, smoke.Start, smoke.End)
	}

	// The report's figures against the test's own queries: last raw sample
	// of every counter series, summed by name.
	raw := promQuery(t, prom.URL, `k6_http_reqs_total{testid="it-smoke"}[1h]`, time.Now())
	want := map[string]float64{}
	var total float64
	for _, s := range raw {
		last := s.Values[len(s.Values)-1]
		want[s.Metric["name"]] += fnum(t, last[1])
		total += fnum(t, last[1])
	}
	if len(r.Endpoints) != 6 || len(want) != 6 {
		t.Fatalf("report has %d endpoints, Prometheus %d names (%v), want the 6 routes", len(r.Endpoints), len(want), want)
	}
	sum := readSummary(t, smoke.SummaryPath)
	for _, e := range r.Endpoints {
		if e.Requests != want[e.Name] {
			t.Errorf("%s: report %v requests, Prometheus %v", e.Name, e.Requests, want[e.Name])
		}
		wantRPS := want[e.Name] / smoke.End.Sub(smoke.Start).Seconds()
		if math.Abs(e.RPS-wantRPS) > 1e-9*wantRPS {
			t.Errorf("%s: report %v req/s, want %v", e.Name, e.RPS, wantRPS)
		}
		q := promQuery(t, prom.URL, fmt.Sprintf(`histogram_quantile(0.95, sum(k6_http_req_duration_seconds{testid="it-smoke",name=%q}))`, e.Name), r.End.Add(time.Second))
		if len(q) != 1 || fnum(t, q[0].Value[1]) != e.P95 {
			t.Errorf("%s: report p95 %v, Prometheus %v", e.Name, e.P95, q)
		}
		if e.Verdict != Pass || e.ErrorRate != 0 {
			t.Errorf("%s: verdict %s error rate %v, want a healthy pass", e.Name, e.Verdict, e.ErrorRate)
		}
		// k6's own median (exact) vs the native histogram's (bucketed),
		// where enough requests make both stable.
		if sm, ok := sum.Metrics["http_req_duration{name:"+e.Name+"}"]; !ok {
			t.Errorf("k6 summary has no http_req_duration{name:%s}", e.Name)
		} else if k6med := fnum(t, sm["med"]) / 1000; e.Requests >= 100 && !near(e.Median, k6med, 0.3, 0.001) {
			t.Errorf("%s: report median %.4fs, k6 summary %.4fs", e.Name, e.Median, k6med)
		}
	}
	all := sum.Metrics["http_req_duration"]
	if k6p95 := fnum(t, all["p(95)"]) / 1000; !near(r.Overall.P95, k6p95, 0.3, 0.001) {
		t.Errorf("all requests: report p95 %.4fs, k6 summary %.4fs", r.Overall.P95, k6p95)
	}
	if k6med := fnum(t, all["med"]) / 1000; !near(r.Overall.Median, k6med, 0.3, 0.001) {
		t.Errorf("all requests: report median %.4fs, k6 summary %.4fs", r.Overall.Median, k6med)
	}
	k6Count := fnum(t, sum.Metrics["http_reqs"]["count"])
	if r.Overall.Requests != total || !near(total, k6Count, 0.01, 0) {
		t.Errorf("requests: report %v, Prometheus %v, k6 summary %v", r.Overall.Requests, total, k6Count)
	}
	if float64(stub.Requests.Load()) != k6Count {
		t.Errorf("the stub served %d requests, k6 counted %v", stub.Requests.Load(), k6Count)
	}
	if r.Verdict != Pass || r.PeakVUs != 2 {
		t.Errorf("verdict %s, peak VUs %v; want pass and 2", r.Verdict, r.PeakVUs)
	}

	// System side: the stub's pool is saturated with growing waits, the cache cold.
	if len(r.System.Pools) != 1 {
		t.Fatalf("pools %+v", r.System.Pools)
	}
	p := r.System.Pools[0]
	if p.Name != "postgres" || p.Size != 10 || p.PeakSaturation != 1 || p.PeakPending != 4 || !p.WaitGrowing() || p.Timeouts <= 0 {
		t.Errorf("pool %+v, want postgres size 10 saturated with 4 waiting, growing wait and timeouts", p)
	}
	if len(r.System.Caches) != 1 || r.System.Caches[0].Name != "users" || !near(r.System.Caches[0].HitRatio, 0.1, 0.1, 0.01) {
		t.Errorf("caches %+v, want users at ~10%% hits", r.System.Caches)
	}
	pg := r.System.Postgres
	if pg == nil || pg.PeakSaturation != 1 || pg.PeakConnections != 97 || pg.MaxConnections != 100 {
		t.Errorf("postgres %+v, want 97 of 100 connections, saturated", pg)
	}
	if st := r.System.Statements; len(st) != 2 || st[0].QueryID != "42" || !near(st[0].MeanTime, 0.25, 0.01, 0) || !near(st[1].MeanTime, 0.001, 0.01, 0) {
		t.Errorf("statements %+v, want 42 at 250 ms then 7 at 1 ms", st)
	}
	if rc := r.System.Redis; rc == nil || !near(rc.HitRatio, 0.2, 0.1, 0.01) {
		t.Errorf("redis %+v, want ~20%% hits", rc)
	}
	if rs := r.System.Replicas; len(rs) != 1 || rs[0].Name != "loadlens/demo" || rs[0].Max != 3 || !rs[0].AtMaxReplicas {
		t.Errorf("replicas %+v, want loadlens/demo at its maximum of 3", rs)
	}
	findings := strings.Join(r.Bottlenecks, "\n")
	for _, w := range []string{"PostgreSQL connection pool (size 10) is the bottleneck", "--postgres.pool-size", `"users" cache is cold`,
		"PostgreSQL ran out of connection slots (peak 97 client backends of max_connections 100", "statement 42 averaged 250 ms per call",
		"Redis misses most lookups", "autoscaler loadlens/demo hit its maximum of 3 replicas"} {
		if !strings.Contains(findings, w) {
			t.Errorf("bottlenecks lack %q:\n%s", w, findings)
		}
	}
	if len(r.Alerts) == 0 || r.Alerts[0].Name != "TestPoolSaturated" || r.Alerts[0].Severity != "warning" {
		t.Errorf("alerts %+v, want TestPoolSaturated firing", r.Alerts)
	}

	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"# Load-test report: it-smoke", "## Verdict: PASS", "| GET /users/{id} | " + strconv.Itoa(int(want["GET /users/{id}"])) + " |",
		"TestPoolSaturated", "is the bottleneck", "![k6 request latency percentiles](latency.png)", "pool-saturation.png", "cache-hit-ratio.png"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	for _, c := range []string{"latency.png", "rps-vus.png", "pool-saturation.png", "cache-hit-ratio.png", "replicas.png"} {
		checkPNG(t, filepath.Join(dir, "it-smoke", c))
	}

	// 2. A stepped run against a service that is slow under concurrency:
	// step 1 (1 VU) is fast, step 2 (3 VUs) breaks the latency SLA.
	slow := demostub.Start(t, demostub.Options{SlowAbove: 1, SlowDelay: 350 * time.Millisecond})
	stepped := runK6(t, ctx, loadtest.Options{Scenario: "stepped", BaseURL: slow.URL, PrometheusURL: prom.URL, TestID: "it-stepped", Dir: dir,
		Env: map[string]string{"STEPS": "1,3", "STEP_DURATION": "3s", "SLEEP": "0"}})
	// k6's thresholds cover the whole run, where step 1's fast requests
	// dominate: only the per-step tables show the break.
	if stepped.ExitCode != 0 {
		t.Errorf("stepped exit code %d, want 0", stepped.ExitCode)
	}
	sr, err := Build(ctx, Options{PrometheusURL: prom.URL, TestID: "it-stepped", Baseline: "it-smoke", OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(sr.Steps) != 2 || sr.Steps[0].Step != "1" || sr.Steps[1].TargetVUs != "3" {
		t.Fatalf("steps %+v", sr.Steps)
	}
	if sr.Steps[0].Verdict != Pass || sr.Steps[1].Verdict != Degraded {
		t.Errorf("step verdicts %s, %s; want pass, degraded (%v)", sr.Steps[0].Verdict, sr.Steps[1].Verdict, sr.Steps[1].Reasons)
	}
	if sr.Verdict != Degraded || !strings.Contains(strings.Join(sr.Reasons, "\n"), "step 2 (3 VUs): ") {
		t.Errorf("stepped verdict %s (%v), want degraded by step 2", sr.Verdict, sr.Reasons)
	}
	if sr.BreakingPoint == nil || sr.BreakingPoint.Step != "2" {
		t.Errorf("breaking point %+v, want step 2", sr.BreakingPoint)
	}
	var stepSum float64
	for _, st := range sr.Steps {
		stepSum += st.Overall.Requests
	}
	if stepSum != sr.Overall.Requests {
		t.Errorf("steps sum to %v requests, the run has %v", stepSum, sr.Overall.Requests)
	}
	if !strings.Contains(strings.Join(sr.Bottlenecks, "\n"), "Throughput plateaued at step 2") {
		t.Errorf("bottlenecks lack the plateau: %v", sr.Bottlenecks)
	}
	spath, err := sr.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	smd, _ := os.ReadFile(spath)
	for _, w := range []string{"**Breaking point: step 2 (3 VUs)**", "### Step 1 (1 VUs", "## Compared with baseline it-smoke", "| change | read-heavy QPS | write-heavy QPS | p99 |", "| delta |"} {
		if !strings.Contains(string(smd), w) {
			t.Errorf("stepped report.md lacks %q", w)
		}
	}
	br, bw := r.QPS()
	if !strings.Contains(string(smd), fmt.Sprintf("| baseline: it-smoke (smoke) | %.1f | %.1f |", br, bw)) {
		t.Errorf("baseline row lacks read/write QPS %.1f/%.1f:\n%s", br, bw, smd)
	}

	// 3. Errors: an unknown testid, a run.json with an empty range, and a
	// range holding no k6 samples.
	_, err = Generate(ctx, Options{PrometheusURL: prom.URL, TestID: "never-ran", OutDir: dir})
	if !errors.Is(err, ErrNoSeries) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `"never-ran"`) {
		t.Errorf("unknown testid: %v", err)
	}
	writeRun(t, dir, "it-empty", smoke.Start, smoke.Start)
	if _, err = Generate(ctx, Options{PrometheusURL: prom.URL, TestID: "it-empty", OutDir: dir}); !errors.Is(err, ErrEmptyRange) {
		t.Errorf("empty range: %v", err)
	}
	writeRun(t, dir, "it-smoke-elsewhen", smoke.Start.Add(-2*time.Hour), smoke.Start.Add(-time.Hour))
	if _, err = Generate(ctx, Options{PrometheusURL: prom.URL, TestID: "it-smoke-elsewhen", OutDir: dir}); !errors.Is(err, ErrNoSeries) {
		t.Errorf("range without samples: %v", err)
	}
	// Without run.json the range comes from the k6 series.
	if err := os.Remove(filepath.Join(dir, "it-smoke", loadtest.RunFile)); err != nil {
		t.Fatal(err)
	}
	d, err := Build(ctx, Options{PrometheusURL: prom.URL, TestID: "it-smoke", OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if d.RangeSource != "k6 series" || d.Overall.Requests != total || d.Start.Before(smoke.Start.Add(-2*time.Second)) || d.End.After(smoke.End.Add(time.Second)) {
		t.Errorf("derived range %s – %s (%s), %v requests; run was %s – %s with %v", d.Start, d.End, d.RangeSource, d.Overall.Requests, smoke.Start, smoke.End, total)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeRun(t *testing.T, dir, id string, start, end time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(loadtest.Result{TestID: id, Scenario: "smoke", Start: start, End: end})
	if err := os.WriteFile(filepath.Join(dir, id, loadtest.RunFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkPNG decodes a chart and checks it is not blank: it has many
// distinct colours (lines, text, grid on white).
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("%s: %v is too small", path, b)
	}
	if n := colours(img); n < 5 {
		t.Errorf("%s: %d distinct colours, want a drawn chart", path, n)
	}
	if !hasColour(img) {
		t.Errorf("%s: no coloured (data line) pixel", path)
	}
}

func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// hasColour finds a saturated pixel: the data lines are coloured, axes and
// text are grey.
func hasColour(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			mx := max(r, g, bl)
			mn := min(r, g, bl)
			if mx-mn > 0x4000 {
				return true
			}
		}
	}
	return false
}
