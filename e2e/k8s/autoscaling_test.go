package k8se2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/loadlens/loadlens/internal/rules"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

const (
	namespace      = "loadlens-test"
	deploymentName = "loadlens-demo"
	selector       = "app.kubernetes.io/name=loadlens-demo"
	// The metric the shipped HPA reads and prometheus-adapter's rule serves.
	rpsMetric = "http_requests_per_second"
)

// shortening is how this test's copies of the alert rules and of the
// adapter rule shorten durations: its Prometheus scrapes and evaluates every
// second, so production's 1m windows become 5s and the alerts' `for` a
// sixtieth (LoadlensHPAAtMaxReplicas: 5m -> 5s).
var shortening = rules.Shortening{Divisor: 60, MinRange: 5 * time.Second, MinFor: time.Second}

var vpaGVR = schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}

// scenario is one way the repo's manifests autoscale the demo.
type scenario struct {
	overlay string
	hpaName string // the HPA that scales the Deployment
	keda    bool   // the overlay has a ScaledObject; run KEDA
}

// TestAutoscalingKEDA applies k8s/overlays/test-keda (base + the k8s/keda
// ScaledObject) and runs KEDA's operator and metrics server: KEDA's HPA
// scales the Deployment on the request rate KEDA reads from Prometheus.
func TestAutoscalingKEDA(t *testing.T) {
	t.Parallel()
	runAutoscaling(t, scenario{overlay: "k8s/overlays/test-keda", hpaName: "keda-hpa-loadlens-demo", keda: true})
}

// TestAutoscalingHPA applies k8s/overlays/test (base + the k8s/hpa HPA):
// the HPA scales on the Pods metric the shipped prometheus-adapter rule
// serves, computed per pod from Prometheus with the rule's own query.
func TestAutoscalingHPA(t *testing.T) {
	t.Parallel()
	runAutoscaling(t, scenario{overlay: "k8s/overlays/test", hpaName: "loadlens-demo"})
}

// runAutoscaling applies an overlay to a real control plane and drives the
// real demo service:
//
//  1. the HPA scales the Deployment on the request rate Prometheus
//     measures: above the minimum under load, to the maximum under heavy
//     load, back to the minimum after it;
//  2. at every step loadlens-exporter's HPA series equal the HPA read
//     through client-go, and its VPA series match a VPA whose status the
//     test writes (real CRD);
//  3. LoadlensHPAAtMaxReplicas fires when the HPA is pinned at its maximum
//     and is quiet before and after; LoadlensHPAReplicasMismatch never fires.
func runAutoscaling(t *testing.T, sc scenario) {
	t0 := time.Now()
	if sc.keda {
		// Fail before starting anything when KEDA is not built.
		binary(t, toolKEDAOperator)
		binary(t, toolKEDAAdapter)
	}
	// The demo and exporter build while the control plane starts.
	stacktest.BuildBinariesInBackground()
	c := Start(t, Options{HPASyncPeriod: 1 * time.Second})
	dir := c.Dir
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hpaName := sc.hpaName

	// The VPA API exists before the exporter starts (the exporter looks for
	// it once a minute when it is absent).
	c.InstallVPACRDs(t)
	kedaReady := func() {}
	if sc.keda {
		kedaReady = StartKEDA(t, c)
	}
	// The workload's stand-ins, the exporter, Prometheus and the adapter.
	stacktest.Binaries(t)
	c.mark(t, "loadlens binaries built")
	fleet := startDemoFleet(t, dir, 5)
	c.mark(t, "demo processes ready")
	exporterPort := freePort(t)
	exporterAddr := fmt.Sprintf("127.0.0.1:%d", exporterPort)
	exporterURL := "http://" + exporterAddr + "/metrics"
	exporterArgs := []string{
		"--web.listen-address=" + exporterAddr,
		"--no-collector.postgres", "--no-collector.redis",
		"--collector.kubernetes", "--kube.kubeconfig=" + c.Kubeconfig,
		"--kube.namespace=" + namespace,
	}
	if !sc.keda {
		// KEDA labels its HPA itself; the namespace scopes the exporter.
		exporterArgs = append(exporterArgs, "--kube.label-selector="+selector)
	}
	ep := StartProcess(t, dir, "loadlens-exporter", 10*time.Second, nil, filepath.Join(stacktest.Binaries(t), "loadlens-exporter"), exporterArgs...)
	waitFor(t, "loadlens-exporter", 20*time.Second, ep, func() error { return httpOK(http.DefaultClient, exporterURL) })
	ruleDir := filepath.Join(dir, "rules")
	os.MkdirAll(ruleDir, 0o755)
	ruleFiles, err := rules.WriteTestRules(ruleDir, shortening)
	if err != nil {
		t.Fatal(err)
	}
	promURL := startPrometheus(t, dir, fleet, exporterAddr, ruleFiles)
	c.mark(t, "prometheus ready")
	// The shipped prometheus-adapter rule, its 1m window shortened like
	// this test's copy of the alert rules (5s) so the run fits a test.
	rule, err := LoadAdapterRule(t, rpsMetric).Shortened()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("adapter query: %s", rule.MetricsQuery)
	StartMetricsAPI(t, c, promURL, rule)
	kedaReady()

	var bg sync.WaitGroup
	t.Cleanup(func() { cancel(); bg.Wait() })
	sw := &scaleWatch{}
	goBG := func(f func()) { bg.Add(1); go func() { defer bg.Done(); f() }() }
	goBG(sw.watch(ctx, t, c, namespace))
	objs := Render(t, sc.overlay, func(o *unstructured.Unstructured) {
		if o.GetKind() != "ScaledObject" {
			return
		}
		// The only address the overlay cannot know: the test's Prometheus.
		triggers, _, _ := unstructured.NestedSlice(o.Object, "spec", "triggers")
		for _, tr := range triggers {
			if m, ok := tr.(map[string]any); ok && m["type"] == "prometheus" {
				m["metadata"].(map[string]any)["serverAddress"] = promURL
			}
		}
		unstructured.SetNestedSlice(o.Object, triggers, "spec", "triggers")
	})
	// As k8s/README.md's Apply steps: the namespace, the Secret loadlens-db
	// the manifests reference but do not create, then the overlay. (KEDA
	// resolves the target containers' env, secretKeyRefs included, and
	// creates no HPA while the Secret is missing.)
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			c.ApplyObjects(t, o)
		}
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "loadlens-db", Namespace: namespace},
		StringData: map[string]string{"postgres-dsn": fleet.dsn, "redis-password": ""},
	}
	if _, err := c.Client.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Secret loadlens-db: %v", err)
	}
	c.ApplyObjects(t, objs...)
	c.mark(t, fmt.Sprintf("applied %s (%d objects)", sc.overlay, len(objs)))
	goBG(func() { fleet.follow(ctx, t, c, namespace, selector) })
	load := &loadGenerator{fleet: fleet}
	goBG(func() { load.run(ctx) })
	tl := &timeline{start: time.Now()}
	goBG(func() { tl.sample(ctx, c, promURL, rule, hpaName) })

	hpas := c.Client.AutoscalingV2().HorizontalPodAutoscalers(namespace)
	getHPA := func() *autoscalingv2.HorizontalPodAutoscaler {
		h, err := hpas.Get(ctx, hpaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	waitFor(t, "HPA "+hpaName, 30*time.Second, nil, func() error {
		_, err := hpas.Get(ctx, hpaName, metav1.GetOptions{})
		return err
	})
	minR, maxR := *getHPA().Spec.MinReplicas, getHPA().Spec.MaxReplicas
	if maxR > int32(len(fleet.urls)) {
		t.Fatalf("the overlay's HPA max %d exceeds the %d demo processes", maxR, len(fleet.urls))
	}
	// waitHPA waits until cond holds for the HPA, failing after timeout.
	waitHPA := func(what string, timeout time.Duration, cond func(h *autoscalingv2.HorizontalPodAutoscaler) bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			h := getHPA()
			if cond(h) {
				tl.note(what)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %s (HPA current %d desired %d, conditions %s)\ntimeline:\n%s", what, timeout, h.Status.CurrentReplicas, h.Status.DesiredReplicas, conditions(h), tl.String())
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// Step idle: the HPA holds the minimum. Probes are not workload (the
	// demo keeps them out of its request metrics), so a pod that has served
	// no request yet has no request-rate series: prometheus-adapter then
	// returns no value for it and the HPA reports ScalingActive=False
	// until traffic arrives (KEDA's Prometheus trigger reads an empty sum
	// as 0). Either way it must stay at the minimum.
	waitHPA("idle: HPA at min replicas", 30*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Status.CurrentReplicas == minR && fleet.readyCount() == int(minR) && len(h.Status.Conditions) > 0
	})
	checkExporterHPA(t, "idle", c, namespace, hpaName, exporterURL, sw)
	checkVPA(t, c, exporterURL)

	// Step load: 2.2x one pod's target: above the minimum, below the max.
	target := podsTarget(t, getHPA())
	moderate := int64(2.2 * target)
	load.rate.Store(moderate)
	tl.note(fmt.Sprintf("load %d req/s", moderate))
	waitHPA("load: scaled above the minimum", 90*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Status.CurrentReplicas > minR && h.Status.DesiredReplicas == h.Status.CurrentReplicas
	})
	if h := getHPA(); h.Status.CurrentReplicas >= maxR {
		t.Errorf("load of %d req/s (target %g/pod) took the HPA to its max %d", moderate, target, maxR)
	}
	checkExporterHPA(t, "load", c, namespace, hpaName, exporterURL, sw)
	// Quiet below the maximum: LoadlensHPAAtMaxReplicas not even pending,
	// no HPA alert firing (LoadlensHPAReplicasMismatch may be pending while
	// new pods start: its `for` is there for that).
	for _, a := range alerts(t, promURL, "LoadlensHPA") {
		if strings.HasPrefix(a, "LoadlensHPAAtMaxReplicas") || strings.HasSuffix(a, "firing") {
			t.Errorf("HPA alert active below the maximum: %s", a)
		}
	}

	// Step heavy: more than max pods can serve at target: pinned at max.
	heavy := int64(float64(maxR+1) * target)
	load.rate.Store(heavy)
	tl.note(fmt.Sprintf("load %d req/s", heavy))
	waitHPA("heavy: at max replicas", 120*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Status.CurrentReplicas == maxR
	})
	checkExporterHPA(t, "heavy", c, namespace, hpaName, exporterURL, sw)
	stacktest.Eventually(t, 120*time.Second, time.Second, func() string {
		if a := alerts(t, promURL, "LoadlensHPAAtMaxReplicas"); len(a) == 0 || !strings.Contains(a[0], "firing") {
			return fmt.Sprintf("LoadlensHPAAtMaxReplicas not firing at max replicas (%v)", a)
		}
		return ""
	})
	tl.note("LoadlensHPAAtMaxReplicas firing")
	checkExporterHPA(t, "maxed out", c, namespace, hpaName, exporterURL, sw)
	checkKubernetesPanels(t, promURL)

	// Step after: load stops, the HPA returns to the minimum.
	load.rate.Store(0)
	tl.note("load stopped")
	waitHPA("after: back to min replicas", 150*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Status.CurrentReplicas == minR
	})
	checkExporterHPA(t, "after", c, namespace, hpaName, exporterURL, sw)
	stacktest.Eventually(t, 30*time.Second, time.Second, func() string {
		for _, a := range alerts(t, promURL, "LoadlensHPA") {
			if strings.HasPrefix(a, "LoadlensHPAAtMaxReplicas") || strings.HasSuffix(a, "firing") {
				return "HPA alert still active at min replicas: " + a
			}
		}
		return ""
	})
	for _, q := range []string{
		// Pending is expected while the HPA waits for new pods; firing
		// would be a false alarm.
		`max_over_time(ALERTS{alertname="LoadlensHPAReplicasMismatch",alertstate="firing"}[10m])`,
	} {
		if v := stacktest.Query(t, promURL, q); len(v) > 0 {
			t.Errorf("%s: %v, want no samples", q, v)
		}
	}
	if up, down := sw.counts(); up == 0 || down == 0 {
		t.Errorf("scale events up %d down %d, want both > 0", up, down)
	}
	t.Logf("load: %d requests sent, %d errors", load.sent.Load(), load.errs.Load())
	t.Logf("replica timeline (t from applying the overlay):\n%s", tl.String())
	t.Logf("control plane: %s", strings.Join(c.Timeline, "; "))
	t.Logf("total %s", time.Since(t0).Round(100*time.Millisecond))
}

// podsTarget is the per-pod request rate the HPA aims at: the Pods metric
// of k8s/hpa or the External (AverageValue) metric KEDA makes of its
// Prometheus trigger.
func podsTarget(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) float64 {
	for _, m := range h.Spec.Metrics {
		if m.Pods != nil && m.Pods.Metric.Name == rpsMetric && m.Pods.Target.AverageValue != nil {
			return m.Pods.Target.AverageValue.AsApproximateFloat64()
		}
		if m.External != nil && m.External.Target.AverageValue != nil {
			return m.External.Target.AverageValue.AsApproximateFloat64()
		}
	}
	t.Fatalf("HPA %s has no request-rate metric", h.Name)
	return 0
}

func conditions(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var out []string
	for _, c := range h.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, ", ")
}

// alerts lists the active (pending or firing) alerts whose name starts
// with prefix, as "name state".
func alerts(t *testing.T, promURL, prefix string) []string {
	var out []string
	for _, s := range stacktest.Query(t, promURL, `ALERTS`) {
		name := string(s.Metric["alertname"])
		if strings.HasPrefix(name, prefix) {
			out = append(out, name+" "+string(s.Metric["alertstate"]))
		}
	}
	return out
}

func (f *demoFleet) readyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ready)
}

// checkVPA applies the shipped VPA (k8s/vpa/vpa.yaml) to the test
// namespace, writes a recommendation into its status as the recommender
// would, and compares the exporter's VPA series with the object.
func checkVPA(t *testing.T, c *Cluster, exporterURL string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(RepoRoot(t), "k8s", "vpa", "vpa.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := sigsyaml.Unmarshal(body, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(namespace)
	js, _ := u.MarshalJSON()
	c.Apply(t, js)
	ctx := context.Background()
	vpas := c.Dynamic.Resource(vpaGVR).Namespace(namespace)
	cur, err := vpas.Get(ctx, u.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(container, lower, target, upper, uncapped string) map[string]any {
		parse := func(s string) map[string]any {
			f := strings.Fields(s)
			return map[string]any{"cpu": f[0], "memory": f[1]}
		}
		return map[string]any{"containerName": container, "lowerBound": parse(lower), "target": parse(target), "upperBound": parse(upper), "uncappedTarget": parse(uncapped)}
	}
	cur.Object["status"] = map[string]any{
		"recommendation": map[string]any{"containerRecommendations": []any{
			rec("demo", "100m 64Mi", "250m 160Mi", "1500m 512Mi", "250m 160Mi"),
			rec("exporter", "20m 24Mi", "25m 40Mi", "100m 96Mi", "15m 40Mi"),
		}},
		"conditions": []any{map[string]any{"type": "RecommendationProvided", "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
	}
	updated, err := vpas.UpdateStatus(ctx, cur, metav1.UpdateOptions{FieldManager: FieldManager})
	if err != nil {
		t.Fatalf("write VPA status: %v", err)
	}
	want := expectedVPASeries(updated)
	stacktest.Eventually(t, 20*time.Second, 300*time.Millisecond, func() string {
		got, err := scrape(exporterURL, "loadlens_vpa_info", "loadlens_vpa_container_recommendation")
		if err != nil {
			return err.Error()
		}
		if d := diffSeries(want, got); d != "" {
			return "exporter VPA series differ from the VPA object: " + d
		}
		return ""
	})
	got, _ := scrape(exporterURL, "loadlens_vpa_update_mode")
	if v := got[key("loadlens_vpa_update_mode", "namespace", namespace, "update_mode", "Off", "vpa", u.GetName())]; v != 1 {
		t.Errorf("loadlens_vpa_update_mode{update_mode=\"Off\"} = %g, want 1 (series: %v)", v, got)
	}
	t.Logf("exporter VPA series match the VPA object (%d series)", len(want))
}

func queryVector(t *testing.T, promURL, q string) model.Vector { return stacktest.Query(t, promURL, q) }
