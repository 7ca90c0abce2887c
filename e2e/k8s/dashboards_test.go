package k8se2e

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/loadlens/loadlens/dashboards"
)

// checkKubernetesPanels runs every Kubernetes-only query of the Autoscaling
// dashboard whose series come from loadlens-exporter (loadlens_hpa_*,
// loadlens_vpa_*) against the test's Prometheus and fails on an empty
// result. Queries on kube-state-metrics (kube_*) or cAdvisor (container_*)
// series are listed as skipped: this control plane runs neither (kwok has
// no kubelet).
func checkKubernetesPanels(t *testing.T, promURL string) {
	t.Helper()
	qs, err := dashboards.Queries("", namespace)
	if err != nil {
		t.Fatal(err)
	}
	checked, skipped := 0, map[string]bool{}
	for _, q := range qs {
		if !q.KubernetesOnly || q.Annotation || !strings.HasSuffix(q.Dashboard, "Autoscaling") {
			continue
		}
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(q.Expr)
		if err != nil {
			t.Errorf("%s / %s: %v", q.PanelTitle, q.RefID, err)
			continue
		}
		exporterOnly := true
		for _, sel := range parser.ExtractSelectors(expr) {
			for _, m := range sel {
				if m.Name == labels.MetricName && !strings.HasPrefix(m.Value, "loadlens_") {
					exporterOnly = false
				}
			}
		}
		if !exporterOnly {
			skipped[q.PanelTitle] = true
			continue
		}
		checked++
		if v := queryVector(t, promURL, q.Expr); len(v) == 0 {
			t.Errorf("Autoscaling panel %q (%s) returns no data on Kubernetes: %s", q.PanelTitle, q.RefID, q.Expr)
		}
	}
	var names []string
	for n := range skipped {
		names = append(names, n)
	}
	t.Logf("Autoscaling dashboard: %d Kubernetes-only queries on exporter series return data; not checked (kube-state-metrics/cAdvisor series, not run here): %s", checked, strings.Join(names, "; "))
}
