package exporter

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// vpaGVR is the VerticalPodAutoscaler resource, read as unstructured
// objects so the exporter needs neither the VPA module nor the CRD.
var vpaGVR = schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}

// vpaUpdateModes are the states of loadlens_vpa_update_mode.
var vpaUpdateModes = []string{"Off", "Initial", "Recreate", "InPlaceOrRecreate", "InPlace", "Auto"}

// vpaDefaultUpdateMode applies when spec.updatePolicy.updateMode is unset.
const vpaDefaultUpdateMode = "Recreate"

// vpaBounds maps the recommendation fields to the bound label.
var vpaBounds = []struct{ field, label string }{
	{"target", "target"},
	{"lowerBound", "lower_bound"},
	{"upperBound", "upper_bound"},
	{"uncappedTarget", "uncapped_target"},
}

// vpaDescs are the descriptors of the VerticalPodAutoscaler families.
type vpaDescs struct {
	info, updateMode, recommendation *prometheus.Desc
}

func newVPADescs() *vpaDescs {
	return &vpaDescs{
		info:           contractDesc("loadlens_vpa_info", []string{"namespace", "vpa", "target_kind", "target_name"}, nil),
		updateMode:     contractDesc("loadlens_vpa_update_mode", []string{"namespace", "vpa", "update_mode"}, nil),
		recommendation: contractDesc("loadlens_vpa_container_recommendation", []string{"namespace", "vpa", "container", "resource", "bound"}, nil),
	}
}

// vpaSamples turns one VPA object into samples. Pure and tolerant: fields
// of the wrong type or unparsable quantities are skipped, never a panic.
// An update mode outside the known set yields no update-mode series.
func vpaSamples(u *unstructured.Unstructured, d *vpaDescs) []prometheus.Metric {
	if u == nil {
		return nil
	}
	var out []prometheus.Metric
	ns, name := u.GetNamespace(), u.GetName()
	add := func(desc *prometheus.Desc, v float64, labels ...string) {
		if m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, append([]string{ns, name}, labels...)...); err == nil {
			out = append(out, m)
		}
	}
	obj := u.Object

	kind, _, _ := unstructured.NestedString(obj, "spec", "targetRef", "kind")
	target, _, _ := unstructured.NestedString(obj, "spec", "targetRef", "name")
	add(d.info, 1, labelValue(kind), labelValue(target))

	mode, found, err := unstructured.NestedString(obj, "spec", "updatePolicy", "updateMode")
	if !found || err != nil || mode == "" {
		mode = vpaDefaultUpdateMode
	}
	known := false
	for _, m := range vpaUpdateModes {
		known = known || m == mode
	}
	if known {
		for _, m := range vpaUpdateModes {
			v := 0.0
			if m == mode {
				v = 1
			}
			add(d.updateMode, v, m)
		}
	}

	recs, _, _ := unstructured.NestedSlice(obj, "status", "recommendation", "containerRecommendations")
	seen := map[string]bool{}
	for _, r := range recs {
		rec, ok := r.(map[string]any)
		if !ok {
			continue
		}
		container, _, _ := unstructured.NestedString(rec, "containerName")
		if container == "" || seen[container] {
			continue
		}
		seen[container] = true
		for _, b := range vpaBounds {
			values, _, _ := unstructured.NestedMap(rec, b.field)
			for res, raw := range values {
				v, ok := quantityValue(raw)
				if !ok {
					continue
				}
				add(d.recommendation, v, labelValue(container), labelValue(res), b.label)
			}
		}
	}
	return out
}

// quantityValue reads a resource quantity as JSON gives it: a string such
// as "250m" or "262144k", or a bare number.
func quantityValue(raw any) (float64, bool) {
	switch v := raw.(type) {
	case string:
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return 0, false
		}
		return q.AsApproximateFloat64(), true
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}
