// Package fullstack tests the whole native stack as `loadlens up` runs it:
// the demo service and loadlens-exporter under real traffic, scraped by a
// real Prometheus that evaluates the shipped rules and sends alerts to a
// real Alertmanager.
package fullstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/loadlens/loadlens/dashboards"
	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/contract/contracttest"
	"github.com/loadlens/loadlens/internal/loadtest"
	"github.com/loadlens/loadlens/internal/manifests"
	"github.com/loadlens/loadlens/internal/rules"
	"github.com/loadlens/loadlens/internal/stack"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

const (
	seedUsers = 200
	seedPosts = 1000
	workers   = 8
	// queryDelay keeps each database operation's connection busy, so eight
	// workers need more connections than the naive pool's four.
	queryDelay = "30ms"
)

// start runs a full stack with the test copy of the rules (short windows
// and `for`) and drives traffic at it until the test ends.
func start(t *testing.T, mode string) (*stacktest.Full, *stacktest.TrafficStats) {
	t.Helper()
	ruleFiles, err := rules.WriteTestRules(t.TempDir(), rules.TestShortening)
	if err != nil {
		t.Fatal(err)
	}
	f := stacktest.FullStack(t, stacktest.FullOptions{
		DemoMode:  mode,
		DemoArgs:  []string{"--fault.query-delay=" + queryDelay},
		SeedUsers: seedUsers, SeedPosts: seedPosts,
		RuleFiles: ruleFiles,
	})
	stats, stop := stacktest.Traffic(context.Background(), f.DemoURL, workers, seedUsers, seedPosts)
	t.Cleanup(stop)
	return f, stats
}

// TestTunedStackMeetsTheContract runs the tuned demo under load: every
// producer exposes its whole contract, every target is up, every recording
// rule yields data, and no bottleneck alert fires.
func TestTunedStackMeetsTheContract(t *testing.T) {
	t.Parallel()
	f, stats := start(t, stack.DemoModeTuned)
	st, _ := f.Part(stack.PartDemo)

	// Each producer, scraped directly, exposes its contract. The demo's
	// request families appear with the first requests; poll for them.
	stacktest.Eventually(t, 30*time.Second, 500*time.Millisecond, func() string {
		fams := contracttest.Scrape(t, f.DemoURL+"/metrics")
		if m := contracttest.Missing(fams, contract.Demo); len(m) > 0 {
			return fmt.Sprintf("demo /metrics lacks %v", m)
		}
		return ""
	})
	contracttest.Check(t, contracttest.Scrape(t, "http://"+st.AdminAddress+"/metrics"), contract.DemoAdmin)
	stacktest.Eventually(t, 30*time.Second, time.Second, func() string {
		fams := contracttest.Scrape(t, f.ExporterURL+"/metrics")
		if m := contracttest.Missing(fams, contract.Exporter, contract.ConditionPgStatStatements); len(m) > 0 {
			return fmt.Sprintf("exporter /metrics lacks %v", m)
		}
		return ""
	})

	// Prometheus scrapes all of them.
	jobs := []string{"loadlens-demo", "loadlens-demo-admin", "loadlens-exporter", "alertmanager", "prometheus"}
	stacktest.Eventually(t, 30*time.Second, time.Second, func() string {
		up := map[string]bool{}
		for _, s := range stacktest.Query(t, f.PrometheusURL, "up == 1") {
			up[string(s.Metric["job"])] = true
		}
		for _, j := range jobs {
			if !up[j] {
				return fmt.Sprintf("job %s is not up in Prometheus", j)
			}
		}
		return ""
	})

	// Every recording rule of the contract yields series (k6's only with
	// k6 traffic, which this test does not send).
	var want []string
	for _, fam := range contract.ByProducer(contract.Rules) {
		if fam.Condition == "" || fam.Condition == contract.ConditionPgStatStatements {
			want = append(want, fam.Name)
		}
	}
	stacktest.Eventually(t, 90*time.Second, 2*time.Second, func() string {
		var empty []string
		for _, name := range want {
			if len(stacktest.Query(t, f.PrometheusURL, name)) == 0 {
				empty = append(empty, name)
			}
		}
		if len(empty) > 0 {
			return fmt.Sprintf("recording rules without data: %v", empty)
		}
		return ""
	})

	// The HPA input is per pod and matches the demo's own counter.
	podRate := stacktest.Query(t, f.PrometheusURL, `namespace_pod:http_server_requests:rate1m{pod="demo-0"}`)
	if len(podRate) != 1 || podRate[0].Value <= 0 {
		t.Errorf("per-pod req/s for demo-0 = %v, want one positive sample", podRate)
	}

	// The prometheus-adapter rule the HPA reads, sent as the adapter sends
	// it for pod demo-0, returns that pod's req/s: the same value as the
	// documented HPA input (README) computed from the demo's real counter.
	// (The recording rule runs here with the test's shortened window.)
	q, err := manifests.AdapterQuery("loadlens", "demo-0")
	if err != nil {
		t.Fatal(err)
	}
	stacktest.Eventually(t, 30*time.Second, time.Second, func() string {
		a := stacktest.Query(t, f.PrometheusURL, q)
		r := stacktest.Query(t, f.PrometheusURL, `sum by (namespace, pod) (rate(http_server_request_duration_seconds_count{namespace="loadlens",pod="demo-0"}[1m]))`)
		if len(a) != 1 || a[0].Metric["pod"] != "demo-0" || a[0].Value <= 0 {
			return fmt.Sprintf("adapter query %s returned %v, want one positive sample for pod demo-0", q, a)
		}
		if len(r) != 1 || math.Abs(float64(a[0].Value-r[0].Value)) > 0.05*float64(r[0].Value) {
			return fmt.Sprintf("adapter query %v and the documented HPA input %v disagree", a, r)
		}
		return ""
	})

	// Tuned, the pool has room and the targets are healthy: none of these
	// alerts may be pending or firing.
	quiet := []string{"LoadlensDBPoolSaturated", "LoadlensDBPoolWaiting", "LoadlensTargetDown",
		"LoadlensExporterCollectorFailing", "LoadlensPostgresConnectionsAtMax", "LoadlensAPIErrorRatioHigh"}
	for _, s := range stacktest.Query(t, f.PrometheusURL, "ALERTS") {
		name := string(s.Metric["alertname"])
		if slices.Contains(quiet, name) {
			t.Errorf("tuned stack: alert %s is %s (%v)", name, s.Metric["alertstate"], s.Metric)
		} else {
			t.Logf("tuned stack: alert %s is %s", name, s.Metric["alertstate"])
		}
	}
	if stats.Requests.Load() == 0 {
		t.Fatal("no traffic was sent")
	}
	if e := stats.Errors.Load(); e*100 > stats.Requests.Load() {
		t.Errorf("tuned stack: %d of %d requests failed", e, stats.Requests.Load())
	}
}

// TestNaivePoolBottleneckFires runs the naive demo (pool of 4) under the
// same load: the pool alerts fire in Prometheus and reach Alertmanager.
func TestNaivePoolBottleneckFires(t *testing.T) {
	t.Parallel()
	f, _ := start(t, stack.DemoModeNaive)
	want := []string{"LoadlensDBPoolSaturated", "LoadlensDBPoolWaiting"}
	stacktest.Eventually(t, 120*time.Second, 2*time.Second, func() string {
		got := alertmanagerAlerts(t, f.AlertmanagerURL)
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Sprintf("Alertmanager has %v, want %v", got, want)
			}
		}
		return ""
	})
	// The alert carries the pool and pod it is about.
	for _, s := range stacktest.Query(t, f.PrometheusURL, `ALERTS{alertname="LoadlensDBPoolSaturated",alertstate="firing"}`) {
		if s.Metric["pod"] != "demo-0" || s.Metric["db_client_connection_pool_name"] == "" {
			t.Errorf("LoadlensDBPoolSaturated lacks pod or pool: %v", s.Metric)
		}
	}
}

// alertmanagerAlerts lists the names of the active alerts in Alertmanager.
func alertmanagerAlerts(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts?active=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range alerts {
		if !slices.Contains(names, a.Labels["alertname"]) {
			names = append(names, a.Labels["alertname"])
		}
	}
	sort.Strings(names)
	return names
}

// TestDashboardsShowData runs a short k6 test on the tuned stack beside
// the background traffic and sends every dashboard query: each panel query
// that does not need Kubernetes returns data (no empty panel).
func TestDashboardsShowData(t *testing.T) {
	t.Parallel()
	f, _ := start(t, stack.DemoModeTuned)
	const testid = "fullstack-dashboards"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := loadtest.Run(ctx, loadtest.Options{
		K6Binary: stacktest.K6(t), Scenario: "smoke", BaseURL: f.DemoURL, PrometheusURL: f.PrometheusURL,
		TestID: testid, Environment: "test", Dir: t.TempDir(), Quiet: true,
		Env:    map[string]string{"DURATION": "10s", "VUS": "2", "USERS": fmt.Sprint(seedUsers), "POSTS": fmt.Sprint(seedPosts)},
		Stdout: io.Discard, Stderr: io.Discard,
	})
	// 99 means thresholds crossed (three stacks share two cores here):
	// the data the panels read is there all the same.
	if err != nil || (res.ExitCode != 0 && res.ExitCode != 99) {
		t.Fatalf("k6 smoke: exit %d, %v", res.ExitCode, err)
	}
	qs, err := dashboards.QueriesWith(map[string]string{"testid": testid, "namespace": "loadlens", "__range": "5m", "__range_s": "300"})
	if err != nil {
		t.Fatal(err)
	}
	var want []dashboards.Query
	for _, q := range qs {
		if !q.KubernetesOnly && !q.Annotation {
			want = append(want, q)
		}
	}
	api := stacktest.PromAPI(t, f.PrometheusURL)
	empty := func(q dashboards.Query) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		now := time.Now()
		var v model.Value
		var err error
		if q.Instant {
			v, _, _, err = api.Query(ctx, q.Expr, now)
		} else {
			v, _, _, err = api.QueryRange(ctx, q.Expr, promv1.Range{Start: now.Add(-3 * time.Minute), End: now, Step: 2 * time.Second})
		}
		if err != nil {
			return true, err
		}
		switch v := v.(type) {
		case model.Vector:
			return len(v) == 0, nil
		case model.Matrix:
			return len(v) == 0, nil
		case *model.Scalar:
			return false, nil
		}
		return true, fmt.Errorf("unexpected result type %s", v.Type())
	}
	pending := want
	stacktest.Eventually(t, 90*time.Second, 2*time.Second, func() string {
		var still []dashboards.Query
		var why []string
		for _, q := range pending {
			if e, err := empty(q); e {
				still = append(still, q)
				why = append(why, fmt.Sprintf("%s / %s / %s (err %v): %s", q.Dashboard, q.PanelTitle, q.RefID, err, q.Expr))
			}
		}
		pending = still
		if len(pending) > 0 {
			return fmt.Sprintf("%d of %d panel queries without data:\n%s", len(pending), len(want), strings.Join(why, "\n"))
		}
		return ""
	})
	t.Logf("%d panel queries (of %d; the rest need Kubernetes or are annotations) all returned data", len(want), len(qs))
}
