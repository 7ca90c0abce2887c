package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/loadtest"
	"github.com/loadlens/loadlens/internal/loadtest/demostub"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

// TestQueriesOnRealPrometheus runs a short k6 smoke test against the demo
// stub with remote write into the stack's real Prometheus (2.42 on the
// native stack) and the repo's recording rules, then sends every dashboard
// query: Prometheus must accept each one, and every query that reads only
// k6 series must return data. (The full-stack live test covers the
// service, exporter and rule queries.)
func TestQueriesOnRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and runs k6")
	}
	k6 := stacktest.K6(t)
	prom := stacktest.PrometheusServer(t, stacktest.PrometheusOptions{ScrapeInterval: time.Second})
	stub := demostub.Start(t, demostub.Options{})

	const testid = "dash-k6.1"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := loadtest.Run(ctx, loadtest.Options{
		K6Binary: k6, Scenario: "smoke", BaseURL: stub.URL, PrometheusURL: prom.URL,
		TestID: testid, TestType: "smoke", Environment: "test", Dir: t.TempDir(), Quiet: true,
		Env: map[string]string{"DURATION": "8s", "VUS": "2"}, Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("k6 exit code %d", res.ExitCode)
	}

	qs, err := QueriesWith(map[string]string{"testid": testid, "namespace": "loadlens", "__range": "5m", "__range_s": "300"})
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	var k6Only []Query
	for _, q := range qs {
		// Every query must be accepted by the real engine.
		if _, err := promQuery(prom.URL, q); err != nil {
			t.Errorf("%s / %s / %s: %v\n%s", q.Dashboard, q.PanelTitle, q.RefID, err, q.Expr)
			continue
		}
		if readsOnlyK6(t, p, q.Expr) {
			k6Only = append(k6Only, q)
		}
	}
	if len(k6Only) < 30 {
		t.Fatalf("only %d queries read k6 series alone", len(k6Only))
	}
	// Rules evaluate every second: poll until each k6 query has data.
	deadline := time.Now().Add(45 * time.Second)
	pending := k6Only
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []Query
		for _, q := range pending {
			n, err := promQuery(prom.URL, q)
			if err != nil || n == 0 {
				still = append(still, q)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	for _, q := range pending {
		t.Errorf("%s / %s / %s: no data after a k6 run\n%s", q.Dashboard, q.PanelTitle, q.RefID, q.Expr)
	}
	t.Logf("%d queries accepted, %d k6 queries with data", len(qs), len(k6Only)-len(pending))
}

// readsOnlyK6 reports whether every series of expr comes from k6 (its
// remote write or the k6 recording rules).
func readsOnlyK6(t *testing.T, p parser.Parser, expr string) bool {
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Fatalf("parse %s: %v", expr, err)
	}
	only, any := true, false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			any = true
			f, ok := contract.Lookup(vs.Name)
			if !ok || !(f.Producer == contract.K6 || (f.Producer == contract.Rules && strings.HasPrefix(f.Name, "testid:"))) {
				only = false
			}
		}
		return nil
	})
	return only && any
}

// promQuery runs q (instant or over the last 2 minutes) and returns the
// number of series in the result.
func promQuery(base string, q Query) (int, error) {
	now := time.Now()
	v := url.Values{"query": {q.Expr}}
	path := "/api/v1/query"
	if q.Instant {
		v.Set("time", strconv.FormatInt(now.Unix(), 10))
	} else {
		path = "/api/v1/query_range"
		v.Set("start", strconv.FormatInt(now.Add(-2*time.Minute).Unix(), 10))
		v.Set("end", strconv.FormatInt(now.Unix(), 10))
		v.Set("step", "2")
	}
	resp, err := http.PostForm(base+path, v)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decode %s answer (HTTP %d): %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", body.Error)
	}
	return len(body.Data.Result), nil
}
