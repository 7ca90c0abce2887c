package exporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/stacktest"
)

// TestMain is the package's only TestMain (shared servers of stacktest).
func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

var testUpDesc = prometheus.NewDesc("loadlens_test_up", "Test source up.", []string{"src"}, nil)

// updateFunc adapts a function to Collector.
type updateFunc func(ctx context.Context, ch chan<- prometheus.Metric) error

func (f updateFunc) Update(ctx context.Context, ch chan<- prometheus.Metric) error { return f(ctx, ch) }

func upSample(src string, v float64) prometheus.Metric {
	return prometheus.MustNewConstMetric(testUpDesc, prometheus.GaugeValue, v, src)
}

func newTestExporter(t *testing.T, budget time.Duration, cs ...Named) *Exporter {
	t.Helper()
	e, err := New(cs, Options{Budget: budget, Build: BuildInfo{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExporterReportsSuccessAndFailure(t *testing.T) {
	e := newTestExporter(t, time.Second,
		Named{"good", updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
			ch <- upSample("good", 1)
			return nil
		})},
		Named{"bad", updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
			ch <- upSample("bad", 0)
			return errors.New("connection refused")
		})},
		Named{"panicky", updateFunc(func(context.Context, chan<- prometheus.Metric) error { panic("boom") })},
	)
	want := `
# HELP loadlens_exporter_build_info A metric with a constant '1' value labeled by version, revision and Go version.
# TYPE loadlens_exporter_build_info gauge
loadlens_exporter_build_info{goversion="go1.26",revision="abc",version="v1.2.3"} 1
# HELP loadlens_exporter_collector_success Whether the collector's last update succeeded within the scrape budget (1) or failed or overran it (0).
# TYPE loadlens_exporter_collector_success gauge
loadlens_exporter_collector_success{collector="bad"} 0
loadlens_exporter_collector_success{collector="good"} 1
loadlens_exporter_collector_success{collector="panicky"} 0
# HELP loadlens_test_up Test source up.
# TYPE loadlens_test_up gauge
loadlens_test_up{src="bad"} 0
loadlens_test_up{src="good"} 1
`
	if err := testutil.CollectAndCompare(e, strings.NewReader(want),
		"loadlens_exporter_build_info", "loadlens_exporter_collector_success", "loadlens_test_up"); err != nil {
		t.Error(err)
	}
	ready, st := e.Ready()
	if ready || len(st) != 3 || !st[0].Success || st[1].Success || st[1].Error != "connection refused" || !strings.Contains(st[2].Error, "panicked") {
		t.Errorf("Ready() = %v, %+v", ready, st)
	}
}

// A collector that ignores its context must not hold the scrape past the
// budget; its late samples are dropped, and it is not started again while
// still stuck, so goroutines stay bounded.
func TestExporterBudgetDropsLateSamplesAndBoundsGoroutines(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	const budget = 300 * time.Millisecond
	e := newTestExporter(t, budget,
		Named{"stuck", updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
			started.Add(1)
			ch <- upSample("stuck-early", 1)
			<-release // ignores ctx
			ch <- upSample("stuck-late", 1)
			return nil
		})},
		Named{"fast", updateFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
			ch <- upSample("fast", 1)
			return nil
		})},
	)
	var closeOnce sync.Once
	t.Cleanup(func() { closeOnce.Do(func() { close(release) }) })

	for round := range 3 {
		start := time.Now()
		ms := collectAll(e)
		if d := time.Since(start); d > budget+200*time.Millisecond {
			t.Fatalf("round %d: collection took %s, budget %s", round, d, budget)
		}
		got := sampleLabels(ms)
		if !got[`loadlens_test_up{src="fast"}`] || got[`loadlens_test_up{src="stuck-late"}`] {
			t.Errorf("round %d: samples %v", round, got)
		}
		if !got[`loadlens_exporter_collector_success{collector="stuck"}=0`] || !got[`loadlens_exporter_collector_success{collector="fast"}=1`] {
			t.Errorf("round %d: success samples %v", round, got)
		}
	}
	if n := started.Load(); n != 1 {
		t.Errorf("stuck collector started %d times while still running, want 1", n)
	}
	closeOnce.Do(func() { close(release) })
	// Once it returns, the next collection runs it again.
	deadline := time.Now().Add(5 * time.Second)
	for started.Load() < 2 && time.Now().Before(deadline) {
		collectAll(e)
	}
	if started.Load() < 2 {
		t.Error("collector never ran again after it returned")
	}
}

// Ten concurrent scrapes share one collection.
func TestExporterConcurrentScrapesShareOneCollection(t *testing.T) {
	const scrapers = 10
	var e *Exporter
	var updates atomic.Int32
	e = newTestExporter(t, 5*time.Second, Named{"gate", updateFunc(func(ctx context.Context, ch chan<- prometheus.Metric) error {
		updates.Add(1)
		// Hold the collection until every scraper has joined it.
		for e.waiting.Load() < scrapers {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		ch <- upSample("gate", 1)
		return nil
	})})
	var wg sync.WaitGroup
	results := make([][]prometheus.Metric, scrapers)
	for i := range scrapers {
		wg.Go(func() { results[i] = collectAll(e) })
	}
	wg.Wait()
	if n := updates.Load(); n != 1 {
		t.Errorf("%d scrapers caused %d updates, want 1", scrapers, n)
	}
	for i, r := range results {
		if !sampleLabels(r)[`loadlens_exporter_collector_success{collector="gate"}=1`] {
			t.Errorf("scraper %d: gate failed: %v", i, sampleLabels(r))
		}
	}
	if got := e.collections.Load(); got != 1 {
		t.Errorf("collections = %d, want 1", got)
	}
}

func TestNewRejectsBadCollectors(t *testing.T) {
	c := updateFunc(func(context.Context, chan<- prometheus.Metric) error { return nil })
	for _, cs := range [][]Named{{{"", c}}, {{"x", nil}}, {{"x", c}, {"x", c}}} {
		if _, err := New(cs, Options{}); err == nil {
			t.Errorf("New(%v) accepted", cs)
		}
	}
	if _, err := New(nil, Options{Budget: -time.Second}); err == nil {
		t.Error("negative budget accepted")
	}
}

func collectAll(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out
}

// sampleLabels renders samples as name{labels} and name{labels}=value keys.
func sampleLabels(ms []prometheus.Metric) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		name, labels, value := describeSample(m)
		out[name+labels] = true
		out[name+labels+"="+value] = true
	}
	return out
}

func describeSample(m prometheus.Metric) (name, labels, value string) {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		return "invalid", "", ""
	}
	desc := m.Desc().String() // Desc{fqName: "x", ...}
	if i := strings.Index(desc, `fqName: "`); i >= 0 {
		rest := desc[i+len(`fqName: "`):]
		name = rest[:strings.Index(rest, `"`)]
	}
	var ls []string
	for _, lp := range pb.GetLabel() {
		ls = append(ls, lp.GetName()+`="`+lp.GetValue()+`"`)
	}
	if len(ls) > 0 {
		labels = "{" + strings.Join(ls, ",") + "}"
	}
	switch {
	case pb.Gauge != nil:
		value = strconv.FormatFloat(pb.GetGauge().GetValue(), 'g', -1, 64)
	case pb.Counter != nil:
		value = strconv.FormatFloat(pb.GetCounter().GetValue(), 'g', -1, 64)
	}
	return name, labels, value
}

// The README's metrics table lists exactly the contract's exporter families.
func TestREADMEMetricsTableMatchesContract(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "<!-- metrics:begin -->")
	table, _, ok2 := strings.Cut(table, "<!-- metrics:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md lacks the <!-- metrics:begin --> ... <!-- metrics:end --> markers")
	}
	var inReadme []string
	for _, line := range strings.Split(table, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ := strings.Cut(rest, "`")
			inReadme = append(inReadme, name)
		}
	}
	var inContract []string
	for _, f := range contract.ByProducer(contract.Exporter) {
		inContract = append(inContract, f.Name)
	}
	slices.Sort(inReadme)
	if !slices.Equal(inReadme, inContract) {
		t.Errorf("README metrics table differs from the contract; replace it with:\n%s", renderMetricsTable())
	}
}

// renderMetricsTable renders the contract's exporter families as the README table.
func renderMetricsTable() string {
	var sb strings.Builder
	sb.WriteString("| metric | type | labels | needs | description |\n| --- | --- | --- | --- | --- |\n")
	for _, f := range contract.ByProducer(contract.Exporter) {
		labels := strings.Join(f.LabelNames(), ", ")
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s | %s |\n", f.Name, f.Type, labels, f.Condition, strings.ReplaceAll(f.Help, "|", "\\|"))
	}
	return sb.String()
}
