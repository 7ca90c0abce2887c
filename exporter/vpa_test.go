package exporter

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// vpaFromYAML builds an unstructured VPA as the dynamic client returns it.
func vpaFromYAML(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

const demoVPA = `
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {namespace: shop, name: api-vpa, labels: {app: api}}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  updatePolicy: {updateMode: "Off"}
status:
  recommendation:
    containerRecommendations:
    - containerName: app
      target: {cpu: 250m, memory: "262144k"}
      lowerBound: {cpu: 100m, memory: 128Mi}
      upperBound: {cpu: "2", memory: 1Gi}
      uncappedTarget: {cpu: 250m, memory: "262144k"}
    - containerName: sidecar
      target: {cpu: 10m, memory: 1e6, bogus: not-a-quantity}
`

func TestVPASamples(t *testing.T) {
	modes := func(vpa, current string) []string {
		var out []string
		for _, m := range []string{"Off", "Initial", "Recreate", "InPlaceOrRecreate", "InPlace", "Auto"} {
			v := "0"
			if m == current {
				v = "1"
			}
			out = append(out, `{namespace="shop",update_mode="`+m+`",vpa="`+vpa+`"} `+v)
		}
		return out
	}
	rec := func(container, res, bound, v string) string {
		return `{bound="` + bound + `",container="` + container + `",namespace="shop",resource="` + res + `",vpa="api-vpa"} ` + v
	}
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{
			name: "recommendations in base units",
			doc:  demoVPA,
			want: expo(t, "loadlens_vpa_info", `{namespace="shop",target_kind="Deployment",target_name="api",vpa="api-vpa"} 1`) +
				expo(t, "loadlens_vpa_update_mode", modes("api-vpa", "Off")...) +
				expo(t, "loadlens_vpa_container_recommendation",
					rec("app", "cpu", "target", "0.25"), rec("app", "memory", "target", "2.62144e+08"),
					rec("app", "cpu", "lower_bound", "0.1"), rec("app", "memory", "lower_bound", "1.34217728e+08"),
					rec("app", "cpu", "upper_bound", "2"), rec("app", "memory", "upper_bound", "1.073741824e+09"),
					rec("app", "cpu", "uncapped_target", "0.25"), rec("app", "memory", "uncapped_target", "2.62144e+08"),
					rec("sidecar", "cpu", "target", "0.01"), rec("sidecar", "memory", "target", "1e+06")),
		},
		{
			name: "no status yet, update mode unset defaults to Recreate",
			doc:  "metadata: {namespace: shop, name: fresh}\nspec: {targetRef: {kind: StatefulSet, name: db}}\n",
			want: expo(t, "loadlens_vpa_info", `{namespace="shop",target_kind="StatefulSet",target_name="db",vpa="fresh"} 1`) +
				expo(t, "loadlens_vpa_update_mode", modes("fresh", "Recreate")...),
		},
		{
			name: "wrong types everywhere and an unknown mode: info only",
			doc: "metadata: {namespace: shop, name: odd}\nspec: {targetRef: 7, updatePolicy: {updateMode: Sometimes}}\n" +
				"status: {recommendation: {containerRecommendations: [1, {containerName: 3}, {target: {cpu: 1}}, {containerName: c, target: [1]}]}}\n",
			want: expo(t, "loadlens_vpa_info", `{namespace="shop",target_kind="",target_name="",vpa="odd"} 1`),
		},
	}
	d := newVPADescs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := staticSamples(vpaSamples(vpaFromYAML(t, tt.doc), d))
			if err := testutil.CollectAndCompare(got, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			if problems, err := testutil.CollectAndLint(got); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
	if got := vpaSamples(nil, d); len(got) != 0 {
		t.Errorf("nil object: %d samples", len(got))
	}
}
