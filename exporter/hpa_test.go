package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func int32p(v int32) *int32 { return &v }

func qty(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

// demoHPA is an HPA like k8s/hpa's: CPU utilization, memory average value,
// requests/s per pod, an object and an external metric.
func demoHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api", UID: "u1"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "api", APIVersion: "apps/v1"},
			MinReplicas:    int32p(2),
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: int32p(70)}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("512Mi")}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceCPU, Container: "app", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("250m")}}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "http_requests_per_second"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("50")}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: qty("1k")}}},
				// Same name and target type as above: dropped, series stay unique.
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: qty("5")}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "lag"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("100m")}}},
				// Malformed: type set, source missing. Skipped, no panic.
				{Type: autoscalingv2.PodsMetricSourceType},
				{Type: autoscalingv2.ResourceMetricSourceType},
			},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: 3,
			DesiredReplicas: 4,
			LastScaleTime:   &metav1.Time{Time: time.Unix(1700000000, 0)},
			CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
					Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: int32p(85), AverageValue: qty("425m")}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
					Name: corev1.ResourceMemory, Current: autoscalingv2.MetricValueStatus{AverageValue: qty("256Mi")}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{
					Name: corev1.ResourceCPU, Container: "app", Current: autoscalingv2.MetricValueStatus{AverageValue: qty("300m")}}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{
					Metric: autoscalingv2.MetricIdentifier{Name: "http_requests_per_second"}, Current: autoscalingv2.MetricValueStatus{AverageValue: qty("62500m")}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"}, Current: autoscalingv2.MetricValueStatus{Value: qty("1200")}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
					Metric: autoscalingv2.MetricIdentifier{Name: "lag"}, Current: autoscalingv2.MetricValueStatus{AverageValue: qty("50m")}}},
				{Type: autoscalingv2.ExternalMetricSourceType},
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
				{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue},
				{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse},
				{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionUnknown},
			},
		},
	}
}

func TestHPASamples(t *testing.T) {
	bare := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bare"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "db"}, MaxReplicas: 3},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.AbleToScale, Status: "Weird"}, {Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue}, {Status: corev1.ConditionTrue},
		}},
	}
	tests := []struct {
		name string
		hpa  *autoscalingv2.HorizontalPodAutoscaler
		want string
	}{
		{
			name: "every metric source, conditions, last scale",
			hpa:  demoHPA(),
			want: expo(t, "loadlens_hpa_info", `{hpa="api",namespace="shop",scaletargetref_kind="Deployment",scaletargetref_name="api"} 1`) +
				expo(t, "loadlens_hpa_current_replicas", `{hpa="api",namespace="shop"} 3`) +
				expo(t, "loadlens_hpa_desired_replicas", `{hpa="api",namespace="shop"} 4`) +
				expo(t, "loadlens_hpa_min_replicas", `{hpa="api",namespace="shop"} 2`) +
				expo(t, "loadlens_hpa_max_replicas", `{hpa="api",namespace="shop"} 10`) +
				expo(t, "loadlens_hpa_last_scale_timestamp_seconds", `{hpa="api",namespace="shop"} 1.7e+09`) +
				expo(t, "loadlens_hpa_metric_target",
					`{hpa="api",metric_name="cpu",metric_target_type="utilization",namespace="shop"} 70`,
					`{hpa="api",metric_name="memory",metric_target_type="average_value",namespace="shop"} 5.36870912e+08`,
					`{hpa="api",metric_name="app/cpu",metric_target_type="average_value",namespace="shop"} 0.25`,
					`{hpa="api",metric_name="http_requests_per_second",metric_target_type="average_value",namespace="shop"} 50`,
					`{hpa="api",metric_name="queue_depth",metric_target_type="value",namespace="shop"} 1000`,
					`{hpa="api",metric_name="lag",metric_target_type="average_value",namespace="shop"} 0.1`) +
				expo(t, "loadlens_hpa_metric_current",
					`{hpa="api",metric_name="cpu",metric_target_type="utilization",namespace="shop"} 85`,
					`{hpa="api",metric_name="cpu",metric_target_type="average_value",namespace="shop"} 0.425`,
					`{hpa="api",metric_name="memory",metric_target_type="average_value",namespace="shop"} 2.68435456e+08`,
					`{hpa="api",metric_name="app/cpu",metric_target_type="average_value",namespace="shop"} 0.3`,
					`{hpa="api",metric_name="http_requests_per_second",metric_target_type="average_value",namespace="shop"} 62.5`,
					`{hpa="api",metric_name="queue_depth",metric_target_type="value",namespace="shop"} 1200`,
					`{hpa="api",metric_name="lag",metric_target_type="average_value",namespace="shop"} 0.05`) +
				expo(t, "loadlens_hpa_condition",
					`{condition="AbleToScale",hpa="api",namespace="shop",status="true"} 1`,
					`{condition="AbleToScale",hpa="api",namespace="shop",status="false"} 0`,
					`{condition="AbleToScale",hpa="api",namespace="shop",status="unknown"} 0`,
					`{condition="ScalingActive",hpa="api",namespace="shop",status="true"} 0`,
					`{condition="ScalingActive",hpa="api",namespace="shop",status="false"} 1`,
					`{condition="ScalingActive",hpa="api",namespace="shop",status="unknown"} 0`,
					`{condition="ScalingLimited",hpa="api",namespace="shop",status="true"} 0`,
					`{condition="ScalingLimited",hpa="api",namespace="shop",status="false"} 0`,
					`{condition="ScalingLimited",hpa="api",namespace="shop",status="unknown"} 1`),
		},
		{
			name: "fresh HPA: minReplicas defaults to 1, no status, odd and duplicate conditions",
			hpa:  bare,
			want: expo(t, "loadlens_hpa_info", `{hpa="bare",namespace="ns",scaletargetref_kind="StatefulSet",scaletargetref_name="db"} 1`) +
				expo(t, "loadlens_hpa_current_replicas", `{hpa="bare",namespace="ns"} 0`) +
				expo(t, "loadlens_hpa_desired_replicas", `{hpa="bare",namespace="ns"} 0`) +
				expo(t, "loadlens_hpa_min_replicas", `{hpa="bare",namespace="ns"} 1`) +
				expo(t, "loadlens_hpa_max_replicas", `{hpa="bare",namespace="ns"} 3`) +
				expo(t, "loadlens_hpa_condition",
					`{condition="AbleToScale",hpa="bare",namespace="ns",status="true"} 0`,
					`{condition="AbleToScale",hpa="bare",namespace="ns",status="false"} 0`,
					`{condition="AbleToScale",hpa="bare",namespace="ns",status="unknown"} 1`),
		},
		{name: "nil", hpa: nil, want: ""},
	}
	d := newHPADescs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := staticSamples(hpaSamples(tt.hpa, d))
			if err := testutil.CollectAndCompare(got, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			if tt.want == "" && len(got) > 0 {
				t.Errorf("%d samples, want none", len(got))
			}
			if problems, err := testutil.CollectAndLint(got); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

func TestScaleEventsCountDesiredReplicaChanges(t *testing.T) {
	s := newScaleEvents()
	v := func(current, desired int32) *autoscalingv2.HorizontalPodAutoscaler {
		h := demoHPA()
		h.Status.CurrentReplicas, h.Status.DesiredReplicas = current, desired
		return h
	}
	s.observe(nil, v(0, 0))     // add
	s.observe(v(0, 0), v(1, 0)) // current written before any decision
	s.observe(v(1, 0), v(2, 2)) // first decision: not a scale event
	s.observe(v(2, 2), v(2, 4)) // up
	s.observe(v(2, 4), v(4, 4)) // pods catch up: current changes only
	s.observe(v(4, 4), v(4, 4)) // resync
	s.observe(v(4, 4), v(4, 3)) // down
	s.observe(v(4, 3), v(3, 6)) // up
	if up, down := s.get("shop", "api"); up != 2 || down != 1 {
		t.Fatalf("up=%d down=%d, want 2 and 1", up, down)
	}
	recreated := v(3, 2)
	recreated.UID = "u2"
	s.observe(v(3, 6), recreated) // another object under the same name: no comparison
	if up, down := s.get("shop", "api"); up != 2 || down != 1 {
		t.Fatalf("after recreate: up=%d down=%d", up, down)
	}
	s.forget("shop", "api")
	if len(s.counts) != 0 {
		t.Fatalf("entries after delete: %v", s.counts)
	}
}
