package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func TestAdapterQuery(t *testing.T) {
	got, err := AdapterQuery("loadlens", "loadlens-demo-7d9f8-abcde")
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(rate(http_server_request_duration_seconds_count{namespace="loadlens",pod="loadlens-demo-7d9f8-abcde"}[1m])) by (pod)`
	if got != want {
		t.Errorf("AdapterQuery:\n got %s\nwant %s", got, want)
	}
}

func TestAdapterQueryRejectsBadNames(t *testing.T) {
	for _, c := range [][2]string{
		{"", "pod"},
		{"loadlens", ""},
		{`a"b`, "pod"},
		{"loadlens", `pod"}) or vector(1`},
		{"Loadlens", "pod"},
	} {
		if q, err := AdapterQuery(c[0], c[1]); err == nil {
			t.Errorf("AdapterQuery(%q, %q) = %q, want an error", c[0], c[1], q)
		}
	}
}

func TestAdapterRuleMatchesTheContract(t *testing.T) {
	c, err := LoadAdapterConfig(filepath.Join(repoRoot(t), AdapterConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Rule(HPAMetricName)
	if err != nil {
		t.Fatal(err)
	}
	if r.SeriesQuery != `http_server_request_duration_seconds_count{namespace!="",pod!=""}` {
		t.Errorf("seriesQuery %q", r.SeriesQuery)
	}
	if r.MetricsQuery != `sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)` {
		t.Errorf("metricsQuery %q", r.MetricsQuery)
	}
	if _, err := c.Rule("no_such_metric"); err == nil {
		t.Errorf("Rule(no_such_metric) succeeded")
	}
}

func TestLoadAdapterConfigIsStrict(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	body := "rules:\n  - seriesQuery: 'x{pod!=\"\"}'\n    metricQuery: typo\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAdapterConfig(p); err == nil || !strings.Contains(err.Error(), "metricQuery") {
		t.Errorf("LoadAdapterConfig accepted an unknown field: %v", err)
	}
}

func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	_, err := DecodeStrict("autoscaling/v2", "HorizontalPodAutoscaler",
		[]byte(`{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"x"},"spec":{"maxReplicas":3,"minReplica":1}}`))
	if err == nil || !strings.Contains(err.Error(), "minReplica") {
		t.Errorf("unknown field accepted: %v", err)
	}
	_, err = DecodeStrict("keda.sh/v1alpha1", "ScaledObject", []byte(`{"spec":{"scaleTargetRef":{"name":"x"},"triggers":[],"maxReplicas":3}}`))
	if err == nil {
		t.Errorf("unknown ScaledObject field accepted")
	}
	if _, err := DecodeStrict("example.com/v1", "Widget", []byte(`{}`)); err == nil {
		t.Errorf("unknown kind accepted")
	}
	v, err := DecodeStrict("autoscaling/v2", "HorizontalPodAutoscaler", []byte(`{"spec":{"maxReplicas":3}}`))
	if err != nil || v.(*autoscalingv2.HorizontalPodAutoscaler).Spec.MaxReplicas != 3 {
		t.Errorf("valid HPA: %v %v", v, err)
	}
}

// TestMemoryComponent renders the optional memory component (included by
// no overlay) through a temporary kustomization.
func TestMemoryComponent(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	// kustomize refuses absolute paths: point at the repository relatively.
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " +
		rel("k8s/base") + "\ncomponents:\n  - " + rel("k8s/hpa") + "\n  - " + rel("k8s/hpa/memory") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := Find[*autoscalingv2.HorizontalPodAutoscaler](objs)
	if len(hs) != 1 {
		t.Fatalf("%d HPAs", len(hs))
	}
	var mem bool
	for _, m := range hs[0].Spec.Metrics {
		if m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource.Name == "memory" && m.ContainerResource.Container == demoContainer {
			mem = true
		}
	}
	if !mem || len(hs[0].Spec.Metrics) != 3 {
		t.Errorf("memory component: metrics %+v, want cpu, requests/s and the demo container's memory", hs[0].Spec.Metrics)
	}
	body, err := os.ReadFile(filepath.Join(root, "k8s/hpa/memory/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "rarely scales down") && !strings.Contains(string(body), "rarely scale down") {
		t.Errorf("k8s/hpa/memory does not document the Go-runtime caveat")
	}
}
