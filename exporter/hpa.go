package exporter

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// hpaDescs are the descriptors of the HorizontalPodAutoscaler families.
type hpaDescs struct {
	info, current, desired, min, max *prometheus.Desc
	target, metricCurrent            *prometheus.Desc
	condition, lastScale             *prometheus.Desc
	scaleEvents                      *prometheus.Desc
}

func newHPADescs() *hpaDescs {
	obj := []string{"namespace", "hpa"}
	metric := []string{"namespace", "hpa", "metric_name", "metric_target_type"}
	return &hpaDescs{
		info:          contractDesc("loadlens_hpa_info", []string{"namespace", "hpa", "scaletargetref_kind", "scaletargetref_name"}, nil),
		current:       contractDesc("loadlens_hpa_current_replicas", obj, nil),
		desired:       contractDesc("loadlens_hpa_desired_replicas", obj, nil),
		min:           contractDesc("loadlens_hpa_min_replicas", obj, nil),
		max:           contractDesc("loadlens_hpa_max_replicas", obj, nil),
		target:        contractDesc("loadlens_hpa_metric_target", metric, nil),
		metricCurrent: contractDesc("loadlens_hpa_metric_current", metric, nil),
		condition:     contractDesc("loadlens_hpa_condition", []string{"namespace", "hpa", "condition", "status"}, nil),
		lastScale:     contractDesc("loadlens_hpa_last_scale_timestamp_seconds", obj, nil),
		scaleEvents:   contractDesc("loadlens_hpa_scale_events_total", []string{"namespace", "hpa", "direction"}, nil),
	}
}

// Values of the metric_target_type label.
const (
	targetUtilization  = "utilization"
	targetAverageValue = "average_value"
	targetValue        = "value"
)

// hpaSamples turns one HPA into samples: every family but the scale-event
// counter, which is collector state (see hpaScaleEvents). Pure; nil
// pointers anywhere in the object mean "absent", never a panic.
func hpaSamples(h *autoscalingv2.HorizontalPodAutoscaler, d *hpaDescs) []prometheus.Metric {
	if h == nil {
		return nil
	}
	var out []prometheus.Metric
	ns, name := h.Namespace, h.Name
	add := func(desc *prometheus.Desc, v float64, labels ...string) {
		if m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, append([]string{ns, name}, labels...)...); err == nil {
			out = append(out, m)
		}
	}

	add(d.info, 1, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
	add(d.current, float64(h.Status.CurrentReplicas))
	add(d.desired, float64(h.Status.DesiredReplicas))
	minReplicas := int32(1) // the API default
	if h.Spec.MinReplicas != nil {
		minReplicas = *h.Spec.MinReplicas
	}
	add(d.min, float64(minReplicas))
	add(d.max, float64(h.Spec.MaxReplicas))
	if h.Status.LastScaleTime != nil {
		add(d.lastScale, float64(h.Status.LastScaleTime.Unix()))
	}

	for _, p := range hpaMetricTargets(h.Spec.Metrics) {
		add(d.target, p.value, p.name, p.targetType)
	}
	for _, p := range hpaMetricCurrents(h.Status.CurrentMetrics) {
		add(d.metricCurrent, p.value, p.name, p.targetType)
	}

	seen := map[string]bool{}
	for _, c := range h.Status.Conditions {
		cond := string(c.Type)
		if cond == "" || seen[cond] {
			continue
		}
		seen[cond] = true
		current := strings.ToLower(string(c.Status))
		if current != "true" && current != "false" {
			current = "unknown"
		}
		for _, s := range []string{"true", "false", "unknown"} {
			v := 0.0
			if s == current {
				v = 1
			}
			add(d.condition, v, cond, s)
		}
	}
	return out
}

// hpaMetricPoint is one value of an autoscaling metric.
type hpaMetricPoint struct {
	name, targetType string
	value            float64
}

// hpaMetricName names a metric source for the metric_name label, or ""
// when the source is malformed (type set, its struct missing).
func hpaMetricName(typ autoscalingv2.MetricSourceType, resource *corev1.ResourceName, container, metric string) string {
	switch typ {
	case autoscalingv2.ResourceMetricSourceType:
		if resource != nil {
			return string(*resource)
		}
	case autoscalingv2.ContainerResourceMetricSourceType:
		if resource != nil {
			return container + "/" + string(*resource)
		}
	default:
		return metric
	}
	return ""
}

// hpaMetricTargets lists the targets of the spec's metrics. Duplicates of
// (metric_name, metric_target_type), possible with several Object or
// External metrics of one name, keep the first so series stay unique.
func hpaMetricTargets(specs []autoscalingv2.MetricSpec) []hpaMetricPoint {
	var out []hpaMetricPoint
	seen := map[[2]string]bool{}
	for _, m := range specs {
		var (
			res      *corev1.ResourceName
			cont, mn string
			target   *autoscalingv2.MetricTarget
		)
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if m.Resource != nil {
				res, target = &m.Resource.Name, &m.Resource.Target
			}
		case autoscalingv2.ContainerResourceMetricSourceType:
			if m.ContainerResource != nil {
				res, cont, target = &m.ContainerResource.Name, m.ContainerResource.Container, &m.ContainerResource.Target
			}
		case autoscalingv2.PodsMetricSourceType:
			if m.Pods != nil {
				mn, target = m.Pods.Metric.Name, &m.Pods.Target
			}
		case autoscalingv2.ObjectMetricSourceType:
			if m.Object != nil {
				mn, target = m.Object.Metric.Name, &m.Object.Target
			}
		case autoscalingv2.ExternalMetricSourceType:
			if m.External != nil {
				mn, target = m.External.Metric.Name, &m.External.Target
			}
		}
		name := hpaMetricName(m.Type, res, cont, mn)
		if target == nil || name == "" {
			continue
		}
		out = appendMetricValues(out, seen, name, target.AverageUtilization, target.AverageValue, target.Value)
	}
	return out
}

// hpaMetricCurrents lists the current values in the HPA status: every
// field the controller filled (a Resource metric usually has both its
// utilization and its average value).
func hpaMetricCurrents(status []autoscalingv2.MetricStatus) []hpaMetricPoint {
	var out []hpaMetricPoint
	seen := map[[2]string]bool{}
	for _, m := range status {
		var (
			res      *corev1.ResourceName
			cont, mn string
			current  *autoscalingv2.MetricValueStatus
		)
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if m.Resource != nil {
				res, current = &m.Resource.Name, &m.Resource.Current
			}
		case autoscalingv2.ContainerResourceMetricSourceType:
			if m.ContainerResource != nil {
				res, cont, current = &m.ContainerResource.Name, m.ContainerResource.Container, &m.ContainerResource.Current
			}
		case autoscalingv2.PodsMetricSourceType:
			if m.Pods != nil {
				mn, current = m.Pods.Metric.Name, &m.Pods.Current
			}
		case autoscalingv2.ObjectMetricSourceType:
			if m.Object != nil {
				mn, current = m.Object.Metric.Name, &m.Object.Current
			}
		case autoscalingv2.ExternalMetricSourceType:
			if m.External != nil {
				mn, current = m.External.Metric.Name, &m.External.Current
			}
		}
		name := hpaMetricName(m.Type, res, cont, mn)
		if current == nil || name == "" {
			continue
		}
		out = appendMetricValues(out, seen, name, current.AverageUtilization, current.AverageValue, current.Value)
	}
	return out
}

func appendMetricValues(out []hpaMetricPoint, seen map[[2]string]bool, name string, util *int32, avg, val *resource.Quantity) []hpaMetricPoint {
	add := func(typ string, v float64) {
		if k := [2]string{name, typ}; !seen[k] {
			seen[k] = true
			out = append(out, hpaMetricPoint{name, typ, v})
		}
	}
	if util != nil {
		add(targetUtilization, float64(*util))
	}
	if avg != nil {
		add(targetAverageValue, avg.AsApproximateFloat64())
	}
	if val != nil {
		add(targetValue, val.AsApproximateFloat64())
	}
	return out
}
