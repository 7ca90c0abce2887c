package k8se2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// scrape reads an exporter's /metrics into "name{k="v",...}" -> value for
// the families with one of the prefixes.
func scrape(url string, prefixes ...string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, f := range fams {
		keep := false
		for _, pre := range prefixes {
			keep = keep || strings.HasPrefix(name, pre)
		}
		if !keep {
			continue
		}
		for _, m := range f.Metric {
			out[seriesKey(name, m.Label)] = value(f.GetType(), m)
		}
	}
	return out, nil
}

func seriesKey(name string, labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// key builds a series key from alternating label names and values.
func key(name string, kv ...string) string {
	var labels []*dto.LabelPair
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
	}
	return seriesKey(name, labels)
}

// scaleWatch counts the HPA's decisions as the API server reports them,
// with the definition loadlens_hpa_scale_events_total documents: a change
// of status.desiredReplicas between consecutive versions of one HPA, except
// from its first status (desired and current both 0). The test counts from
// its own watch, which starts before the HPA exists.
type scaleWatch struct {
	mu       sync.Mutex
	up, down int
	last     map[string]autoscalingv2.HorizontalPodAutoscalerStatus
}

// watch opens the watch (call it before the HPA is created) and returns
// the loop that counts, to run in its own goroutine until ctx ends.
func (s *scaleWatch) watch(ctx context.Context, t testing.TB, c *Cluster, ns string) func() {
	t.Helper()
	w, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch HPAs: %v", err)
	}
	s.last = map[string]autoscalingv2.HorizontalPodAutoscalerStatus{}
	return func() { defer w.Stop(); s.count(w) }
}

func (s *scaleWatch) count(w watch.Interface) {
	for ev := range w.ResultChan() {
		h, ok := ev.Object.(*autoscalingv2.HorizontalPodAutoscaler)
		if !ok {
			continue
		}
		s.mu.Lock()
		switch ev.Type {
		case watch.Added, watch.Modified:
			prev, seen := s.last[h.Name]
			if seen && prev.DesiredReplicas != 0 { // desired 0: no decision yet
				switch {
				case h.Status.DesiredReplicas > prev.DesiredReplicas:
					s.up++
				case h.Status.DesiredReplicas < prev.DesiredReplicas:
					s.down++
				}
			}
			s.last[h.Name] = h.Status
		case watch.Deleted:
			delete(s.last, h.Name)
		}
		s.mu.Unlock()
	}
}

func (s *scaleWatch) counts() (up, down int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.down
}

// expectedHPASeries is what loadlens-exporter must report for h, derived
// from the object read through client-go (independently of the exporter's
// code): replicas, bounds, each metric's target and current value,
// conditions as state sets, last scale time and the scale-event counter.
func expectedHPASeries(h *autoscalingv2.HorizontalPodAutoscaler, up, down int) map[string]float64 {
	ns, name := h.Namespace, h.Name
	obj := []string{"hpa", name, "namespace", ns}
	want := map[string]float64{
		key("loadlens_hpa_info", append(obj, "scaletargetref_kind", h.Spec.ScaleTargetRef.Kind, "scaletargetref_name", h.Spec.ScaleTargetRef.Name)...): 1,
		key("loadlens_hpa_current_replicas", obj...):                                float64(h.Status.CurrentReplicas),
		key("loadlens_hpa_desired_replicas", obj...):                                float64(h.Status.DesiredReplicas),
		key("loadlens_hpa_min_replicas", obj...):                                    float64(*h.Spec.MinReplicas),
		key("loadlens_hpa_max_replicas", obj...):                                    float64(h.Spec.MaxReplicas),
		key("loadlens_hpa_scale_events_total", append(obj, "direction", "up")...):   float64(up),
		key("loadlens_hpa_scale_events_total", append(obj, "direction", "down")...): float64(down),
	}
	if h.Status.LastScaleTime != nil {
		want[key("loadlens_hpa_last_scale_timestamp_seconds", obj...)] = float64(h.Status.LastScaleTime.Unix())
	}
	metric := func(family, metricName, targetType string, v float64) {
		want[key(family, append(obj, "metric_name", metricName, "metric_target_type", targetType)...)] = v
	}
	values := func(family, metricName string, util *int32, avg, val *resource.Quantity) {
		if util != nil {
			metric(family, metricName, "utilization", float64(*util))
		}
		if avg != nil {
			metric(family, metricName, "average_value", avg.AsApproximateFloat64())
		}
		if val != nil {
			metric(family, metricName, "value", val.AsApproximateFloat64())
		}
	}
	for _, m := range h.Spec.Metrics {
		switch {
		case m.ContainerResource != nil:
			tg := m.ContainerResource.Target
			values("loadlens_hpa_metric_target", m.ContainerResource.Container+"/"+string(m.ContainerResource.Name), tg.AverageUtilization, tg.AverageValue, tg.Value)
		case m.Pods != nil:
			tg := m.Pods.Target
			values("loadlens_hpa_metric_target", m.Pods.Metric.Name, tg.AverageUtilization, tg.AverageValue, tg.Value)
		case m.External != nil:
			tg := m.External.Target
			values("loadlens_hpa_metric_target", m.External.Metric.Name, tg.AverageUtilization, tg.AverageValue, tg.Value)
		}
	}
	for _, m := range h.Status.CurrentMetrics {
		switch {
		case m.ContainerResource != nil:
			cur := m.ContainerResource.Current
			values("loadlens_hpa_metric_current", m.ContainerResource.Container+"/"+string(m.ContainerResource.Name), cur.AverageUtilization, cur.AverageValue, cur.Value)
		case m.Pods != nil:
			cur := m.Pods.Current
			values("loadlens_hpa_metric_current", m.Pods.Metric.Name, cur.AverageUtilization, cur.AverageValue, cur.Value)
		case m.External != nil:
			cur := m.External.Current
			values("loadlens_hpa_metric_current", m.External.Metric.Name, cur.AverageUtilization, cur.AverageValue, cur.Value)
		}
	}
	for _, c := range h.Status.Conditions {
		for _, st := range []string{"true", "false", "unknown"} {
			v := 0.0
			if strings.EqualFold(string(c.Status), st) {
				v = 1
			}
			want[key("loadlens_hpa_condition", append(obj, "condition", string(c.Type), "status", st)...)] = v
		}
	}
	return want
}

// diffSeries lists the differences between want and the got series of the
// same families (a series got has and want lacks is a difference too).
func diffSeries(want, got map[string]float64) string {
	families := map[string]bool{}
	for k := range want {
		families[k[:strings.IndexByte(k, '{')]] = true
	}
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s (want %g)", k, w))
		} else if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
			diffs = append(diffs, fmt.Sprintf("%s = %g, want %g", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && families[k[:strings.IndexByte(k, '{')]] {
			diffs = append(diffs, fmt.Sprintf("unexpected %s = %g", k, g))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// checkExporterHPA compares loadlens-exporter's HPA series with the HPA as
// client-go reads it. The two are read one after the other, so it retries
// until they agree (the exporter's informer trails the API by milliseconds)
// and fails after 10 s.
func checkExporterHPA(t *testing.T, step string, c *Cluster, ns, name, exporterURL string, sw *scaleWatch) {
	t.Helper()
	ctx := context.Background()
	var why string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		up, down := sw.counts()
		got, err := scrape(exporterURL, "loadlens_hpa_")
		if err != nil {
			why = err.Error()
		} else if why = diffSeries(expectedHPASeries(h, up, down), got); why == "" {
			t.Logf("step %s: exporter HPA series equal the API's (replicas %d/%d, scale events up %d down %d)", step, h.Status.CurrentReplicas, h.Status.DesiredReplicas, up, down)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("step %s: exporter HPA series differ from the HPA read through client-go: %s", step, why)
}

// expectedVPASeries is what the exporter must report for a VPA object.
func expectedVPASeries(u *unstructured.Unstructured) map[string]float64 {
	ns, name := u.GetNamespace(), u.GetName()
	kind, _, _ := unstructured.NestedString(u.Object, "spec", "targetRef", "kind")
	target, _, _ := unstructured.NestedString(u.Object, "spec", "targetRef", "name")
	want := map[string]float64{
		key("loadlens_vpa_info", "namespace", ns, "target_kind", kind, "target_name", target, "vpa", name): 1,
	}
	recs, _, _ := unstructured.NestedSlice(u.Object, "status", "recommendation", "containerRecommendations")
	bounds := map[string]string{"target": "target", "lowerBound": "lower_bound", "upperBound": "upper_bound", "uncappedTarget": "uncapped_target"}
	for _, r := range recs {
		rec := r.(map[string]any)
		container := rec["containerName"].(string)
		for field, label := range bounds {
			vals, _, _ := unstructured.NestedStringMap(rec, field)
			for res, q := range vals {
				qty := resource.MustParse(q)
				want[key("loadlens_vpa_container_recommendation", "bound", label, "container", container, "namespace", ns, "resource", res, "vpa", name)] = qty.AsApproximateFloat64()
			}
		}
	}
	return want
}
