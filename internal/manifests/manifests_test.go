package manifests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// The binaries' defaults (the helper brief's fixed conventions; the
// binaries test checks them against --help).
const (
	demoHTTPPort   = 8080
	demoAdminPort  = 6060
	exporterPort   = 9780
	deploymentName = "loadlens-demo"
	demoContainer  = "demo"
	exporterName   = "exporter"
	healthzPath    = "/healthz"
	readyzPath     = "/readyz"
	metricsPath    = "/metrics"
)

var cache renderCache

func TestRenderEveryKustomizationStrictly(t *testing.T) {
	for _, dir := range allKustomizations {
		t.Run(dir, func(t *testing.T) {
			objs := cache.get(t, dir)
			if len(objs) == 0 {
				t.Fatalf("%s renders no object", dir)
			}
			seen := map[string]bool{}
			for _, o := range objs {
				if seen[o.ID()] {
					t.Errorf("%s renders %s twice", dir, o.ID())
				}
				seen[o.ID()] = true
			}
		})
	}
}

func TestOverlayNamespaces(t *testing.T) {
	want := map[string]string{
		"k8s/base":                     "loadlens",
		"k8s/k6":                       "loadlens",
		"k8s/overlays/dev":             "loadlens-dev",
		"k8s/overlays/staging":         "loadlens-staging",
		"k8s/overlays/production":      "loadlens",
		"k8s/overlays/production-keda": "loadlens",
		"k8s/overlays/test":            "loadlens-test",
	}
	for dir, ns := range want {
		for _, o := range cache.get(t, dir) {
			switch o.Kind {
			case "Namespace":
				if o.Name != ns {
					t.Errorf("%s: Namespace object %q, want %q", dir, o.Name, ns)
				}
				n := o.Typed.(*corev1.Namespace)
				if n.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
					t.Errorf("%s: namespace %s does not enforce the restricted pod security profile", dir, o.Name)
				}
			default:
				if o.Namespace != ns {
					t.Errorf("%s: %s is in namespace %q, want %q", dir, o.ID(), o.Namespace, ns)
				}
			}
		}
	}
}

func deployment(t *testing.T, objs []Object) *appsv1.Deployment {
	t.Helper()
	for _, d := range Find[*appsv1.Deployment](objs) {
		if d.Name == deploymentName {
			return d
		}
	}
	t.Fatalf("no Deployment %s rendered", deploymentName)
	return nil
}

func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == name {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatalf("Deployment %s has no container %q", d.Name, name)
	return nil
}

func selects(sel map[string]string, podLabels map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels))
}

func TestSelectorsMatchPodLabels(t *testing.T) {
	for _, dir := range append([]string{"k8s/base"}, overlays...) {
		t.Run(dir, func(t *testing.T) {
			objs := cache.get(t, dir)
			d := deployment(t, objs)
			pod := d.Spec.Template.Labels
			if d.Spec.Selector == nil || len(d.Spec.Selector.MatchExpressions) > 0 || !selects(d.Spec.Selector.MatchLabels, pod) {
				t.Errorf("Deployment selector %v does not select its pod labels %v", d.Spec.Selector, pod)
			}
			for _, s := range Find[*corev1.Service](objs) {
				if !selects(s.Spec.Selector, pod) {
					t.Errorf("Service %s selector %v does not select the pods %v", s.Name, s.Spec.Selector, pod)
				}
				for _, p := range s.Spec.Ports {
					if p.TargetPort.String() != "http" {
						t.Errorf("Service %s port %s targets %s, want the named port http", s.Name, p.Name, p.TargetPort.String())
					}
				}
			}
			pdbs := Find[*policyv1.PodDisruptionBudget](objs)
			if len(pdbs) != 1 {
				t.Fatalf("%d PodDisruptionBudgets, want 1", len(pdbs))
			}
			if sel := pdbs[0].Spec.Selector; sel == nil || !selects(sel.MatchLabels, pod) {
				t.Errorf("PDB selector %v does not select the pods", sel)
			}
			for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
				if tsc.LabelSelector == nil || !selects(tsc.LabelSelector.MatchLabels, pod) {
					t.Errorf("topology spread selector %v does not select the pods", tsc.LabelSelector)
				}
			}
			for _, pm := range Find[*monitoringv1.PodMonitor](objs) {
				if !selects(pm.Spec.Selector.MatchLabels, pod) {
					t.Errorf("PodMonitor %s selector %v does not select the pods", pm.Name, pm.Spec.Selector.MatchLabels)
				}
			}
		})
	}
}

func probePath(t *testing.T, where string, p *corev1.Probe, port string) string {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe", where)
		return ""
	}
	if p.HTTPGet.Port.String() != port {
		t.Errorf("%s: probe port %s, want the named port %s", where, p.HTTPGet.Port.String(), port)
	}
	return p.HTTPGet.Path
}

func portOf(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func TestContainersPortsProbesAndArgs(t *testing.T) {
	for _, dir := range append([]string{"k8s/base"}, overlays...) {
		t.Run(dir, func(t *testing.T) {
			d := deployment(t, cache.get(t, dir))
			demo := container(t, d, demoContainer)
			if got := portOf(demo, "http"); got != demoHTTPPort {
				t.Errorf("demo port http = %d, want %d", got, demoHTTPPort)
			}
			if got := portOf(demo, "admin"); got != demoAdminPort {
				t.Errorf("demo port admin = %d, want %d", got, demoAdminPort)
			}
			if got := probePath(t, "demo liveness", demo.LivenessProbe, "http"); got != healthzPath {
				t.Errorf("demo liveness path %q, want %q", got, healthzPath)
			}
			if got := probePath(t, "demo readiness", demo.ReadinessProbe, "http"); got != readyzPath {
				t.Errorf("demo readiness path %q, want %q", got, readyzPath)
			}
			wantArgs := []string{"--web.listen-address=:8080", "--admin.listen-address=:6060", "--web.shutdown-delay=5s"}
			if !reflect.DeepEqual(demo.Args, wantArgs) {
				t.Errorf("demo args %q, want %q", demo.Args, wantArgs)
			}
			if !strings.HasPrefix(demo.Image, "loadlens/demo:") {
				t.Errorf("demo image %q, want loadlens/demo:TAG", demo.Image)
			}

			exp := container(t, d, exporterName)
			if got := portOf(exp, "metrics"); got != exporterPort {
				t.Errorf("exporter port metrics = %d, want %d", got, exporterPort)
			}
			if got := probePath(t, "exporter liveness", exp.LivenessProbe, "metrics"); got != healthzPath {
				t.Errorf("exporter liveness path %q, want %q", got, healthzPath)
			}
			if exp.ReadinessProbe != nil {
				t.Errorf("the exporter sidecar has a readiness probe: it would take the demo pod out of the Service")
			}
			wantArgs = []string{"--web.listen-address=:9780", "--web.telemetry-path=/metrics", "--collector.kubernetes", "--kube.namespace=$(POD_NAMESPACE)"}
			if !reflect.DeepEqual(exp.Args, wantArgs) {
				t.Errorf("exporter args %q, want %q", exp.Args, wantArgs)
			}
			// $(POD_NAMESPACE) expands only from the container's own env.
			if !slices.ContainsFunc(exp.Env, func(e corev1.EnvVar) bool {
				return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
			}) {
				t.Errorf("exporter env lacks POD_NAMESPACE from metadata.namespace, which --kube.namespace reads")
			}
			if !strings.HasPrefix(exp.Image, "loadlens/exporter:") {
				t.Errorf("exporter image %q, want loadlens/exporter:TAG", exp.Image)
			}

			ann := d.Spec.Template.Annotations
			if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8080" || ann["prometheus.io/path"] != metricsPath {
				t.Errorf("prometheus.io annotations %v, want scrape=true port=8080 path=/metrics", ann)
			}

			for _, c := range []*corev1.Container{demo, exp} {
				envs := map[string]corev1.EnvVar{}
				for _, e := range c.Env {
					envs[e.Name] = e
				}
				dsn, ok := envs["LOADLENS_POSTGRES_DSN"]
				if !ok || dsn.Value != "" || dsn.ValueFrom == nil || dsn.ValueFrom.SecretKeyRef == nil || dsn.ValueFrom.SecretKeyRef.Name == "" {
					t.Errorf("%s: LOADLENS_POSTGRES_DSN must come from a secretKeyRef, got %+v", c.Name, dsn)
				}
				pw, ok := envs["LOADLENS_REDIS_PASSWORD"]
				if !ok || pw.Value != "" || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s: LOADLENS_REDIS_PASSWORD must come from a secretKeyRef, got %+v", c.Name, pw)
				}
				if envs["LOADLENS_REDIS_ADDR"].Value == "" {
					t.Errorf("%s: LOADLENS_REDIS_ADDR is not set", c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s: needs cpu and memory requests and a memory limit, got %v", c.Name, c.Resources)
				}
				if c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()) < 0 {
					t.Errorf("%s: memory limit below the request", c.Name)
				}
			}
			// Only the exporter holds an API token.
			spec := d.Spec.Template.Spec
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("pod automounts the service account token into every container")
			}
			for _, c := range []*corev1.Container{demo, exp} {
				hasToken := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
					return m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount"
				})
				if hasToken != (c.Name == exporterName) {
					t.Errorf("%s: API token mounted = %v, want it only in the exporter", c.Name, hasToken)
				}
			}
		})
	}
}

func TestSecurityContextOnEveryContainer(t *testing.T) {
	for _, dir := range append([]string{"k8s/base"}, overlays...) {
		t.Run(dir, func(t *testing.T) {
			for _, d := range Find[*appsv1.Deployment](cache.get(t, dir)) {
				ps := d.Spec.Template.Spec.SecurityContext
				if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod securityContext needs runAsNonRoot and seccomp RuntimeDefault, got %+v", d.Name, ps)
				}
				all := append(slices.Clone(d.Spec.Template.Spec.InitContainers), d.Spec.Template.Spec.Containers...)
				for _, c := range all {
					checkContainerSecurity(t, d.Name+"/"+c.Name, c.SecurityContext)
				}
			}
		})
	}
}

func checkContainerSecurity(t *testing.T, where string, sc *corev1.SecurityContext) {
	t.Helper()
	switch {
	case sc == nil:
		t.Errorf("%s: no securityContext", where)
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Errorf("%s: runAsNonRoot is not true", where)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities must drop ALL and add none, got %+v", where, sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: privileged", where)
	}
}

func TestRBACIsReadOnlyAndBound(t *testing.T) {
	objs := cache.get(t, "k8s/base")
	d := deployment(t, objs)
	if len(Find[*rbacv1.ClusterRole](objs))+len(Find[*rbacv1.ClusterRoleBinding](objs)) > 0 {
		t.Errorf("base renders cluster-wide RBAC; the exporter needs its namespace only")
	}
	roles := Find[*rbacv1.Role](objs)
	if len(roles) != 1 {
		t.Fatalf("%d Roles, want 1", len(roles))
	}
	want := map[string]string{"autoscaling": "horizontalpodautoscalers", "autoscaling.k8s.io": "verticalpodautoscalers"}
	got := map[string]string{}
	for _, r := range roles[0].Rules {
		if !reflect.DeepEqual(r.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("rule %v: verbs %v, want get list watch", r.Resources, r.Verbs)
		}
		if len(r.APIGroups) != 1 || len(r.Resources) != 1 || len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: want one group and one resource per rule", r)
			continue
		}
		got[r.APIGroups[0]] = r.Resources[0]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Role grants %v, want %v", got, want)
	}
	bindings := Find[*rbacv1.RoleBinding](objs)
	if len(bindings) != 1 {
		t.Fatalf("%d RoleBindings, want 1", len(bindings))
	}
	b := bindings[0]
	if b.RoleRef.Kind != "Role" || b.RoleRef.Name != roles[0].Name {
		t.Errorf("RoleBinding refers to %s %s, want Role %s", b.RoleRef.Kind, b.RoleRef.Name, roles[0].Name)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa {
		t.Errorf("RoleBinding subjects %+v, want the pod's ServiceAccount %q", b.Subjects, sa)
	}
	if !slices.ContainsFunc(Find[*corev1.ServiceAccount](objs), func(s *corev1.ServiceAccount) bool { return s.Name == sa }) {
		t.Errorf("ServiceAccount %q is not rendered", sa)
	}
}

// autoscalerTargets counts, per Deployment name, the HPAs and ScaledObjects
// that scale it.
func autoscalerTargets(objs []Object) (hpas, scaledObjects map[string]int) {
	hpas, scaledObjects = map[string]int{}, map[string]int{}
	for _, h := range Find[*autoscalingv2.HorizontalPodAutoscaler](objs) {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" {
			hpas[h.Spec.ScaleTargetRef.Name]++
		}
	}
	for _, s := range Find[*ScaledObject](objs) {
		if s.Spec.ScaleTargetRef != nil && (s.Spec.ScaleTargetRef.Kind == "" || s.Spec.ScaleTargetRef.Kind == "Deployment") {
			scaledObjects[s.Spec.ScaleTargetRef.Name]++
		}
	}
	return hpas, scaledObjects
}

func TestExactlyOneAutoscalerPerOverlay(t *testing.T) {
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			objs := cache.get(t, dir)
			hpas, sos := autoscalerTargets(objs)
			for name := range hpas {
				if sos[name] > 0 {
					t.Errorf("Deployment %s has both an HPA and a KEDA ScaledObject", name)
				}
			}
			if n := hpas[deploymentName] + sos[deploymentName]; n != 1 {
				t.Errorf("Deployment %s has %d autoscalers, want exactly 1", deploymentName, n)
			}
		})
	}
	// The KEDA variant must not carry the plain HPA.
	objs := cache.get(t, "k8s/overlays/production-keda")
	if n := len(Find[*autoscalingv2.HorizontalPodAutoscaler](objs)); n != 0 {
		t.Errorf("production-keda renders %d HorizontalPodAutoscalers, want 0", n)
	}
	if n := len(Find[*ScaledObject](objs)); n != 1 {
		t.Errorf("production-keda renders %d ScaledObjects, want 1", n)
	}
}

func hpaOf(t *testing.T, dir string) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	hs := Find[*autoscalingv2.HorizontalPodAutoscaler](cache.get(t, dir))
	if len(hs) != 1 {
		t.Fatalf("%s: %d HPAs, want 1", dir, len(hs))
	}
	return hs[0]
}

func TestHPA(t *testing.T) {
	root := repoRoot(t)
	adapter, err := LoadAdapterConfig(filepath.Join(root, AdapterConfigPath))
	if err != nil {
		t.Fatal(err)
	}
	rule, err := adapter.Rule(HPAMetricName)
	if err != nil {
		t.Fatal(err)
	}
	bounds := map[string][2]int32{
		"k8s/overlays/dev":        {1, 3},
		"k8s/overlays/staging":    {2, 6},
		"k8s/overlays/production": {3, 12},
		"k8s/overlays/test":       {1, 5},
	}
	for dir, mm := range bounds {
		t.Run(dir, func(t *testing.T) {
			objs := cache.get(t, dir)
			h := hpaOf(t, dir)
			d := deployment(t, objs)
			ref := h.Spec.ScaleTargetRef
			if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
				t.Errorf("HPA targets %+v, want apps/v1 Deployment %s", ref, d.Name)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != mm[0] || h.Spec.MaxReplicas != mm[1] {
				t.Errorf("HPA bounds %v..%d, want %d..%d", h.Spec.MinReplicas, h.Spec.MaxReplicas, mm[0], mm[1])
			}
			if d.Spec.Replicas != nil {
				t.Errorf("Deployment sets replicas: kubectl apply would reset the HPA's count")
			}
			var cpu, rps bool
			for _, m := range h.Spec.Metrics {
				switch m.Type {
				case autoscalingv2.ContainerResourceMetricSourceType:
					cr := m.ContainerResource
					if cr.Name == corev1.ResourceCPU {
						cpu = cr.Container == demoContainer && cr.Target.Type == autoscalingv2.UtilizationMetricType &&
							cr.Target.AverageUtilization != nil && *cr.Target.AverageUtilization == 70
					}
					container(t, d, cr.Container) // the container exists
				case autoscalingv2.PodsMetricSourceType:
					if m.Pods.Metric.Name != rule.Name.As {
						t.Errorf("HPA Pods metric %q, but the adapter rule serves %q", m.Pods.Metric.Name, rule.Name.As)
					}
					rps = m.Pods.Target.Type == autoscalingv2.AverageValueMetricType && m.Pods.Target.AverageValue != nil &&
						m.Pods.Target.AverageValue.String() == "50"
				case autoscalingv2.ResourceMetricSourceType:
					t.Errorf("HPA uses a pod-level Resource metric (%s): the sidecar and its VPA would skew it; use ContainerResource", m.Resource.Name)
				}
			}
			if !cpu {
				t.Errorf("HPA lacks the demo container's 70%% CPU utilization metric")
			}
			if !rps {
				t.Errorf("HPA lacks the Pods metric %s with AverageValue 50", HPAMetricName)
			}
			b := h.Spec.Behavior
			if b == nil || b.ScaleUp == nil || b.ScaleDown == nil {
				t.Fatalf("HPA has no scaleUp/scaleDown behavior")
			}
			if b.ScaleUp.StabilizationWindowSeconds == nil || *b.ScaleUp.StabilizationWindowSeconds != 0 ||
				b.ScaleUp.SelectPolicy == nil || *b.ScaleUp.SelectPolicy != autoscalingv2.MaxChangePolicySelect {
				t.Errorf("scaleUp must have stabilization 0 and selectPolicy Max")
			}
			wantUp := []autoscalingv2.HPAScalingPolicy{{Type: "Percent", Value: 100, PeriodSeconds: 15}, {Type: "Pods", Value: 4, PeriodSeconds: 15}}
			if !reflect.DeepEqual(b.ScaleUp.Policies, wantUp) {
				t.Errorf("scaleUp policies %+v, want %+v", b.ScaleUp.Policies, wantUp)
			}
			wantDown := int32(300)
			if dir == "k8s/overlays/test" {
				wantDown = 3
			}
			if b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds != wantDown {
				t.Errorf("scaleDown stabilization %v, want %d", b.ScaleDown.StabilizationWindowSeconds, wantDown)
			}
		})
	}
}

func TestHPAFileExplainsEveryNumber(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(repoRoot(t), "k8s/hpa/hpa.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(body), "\n")
	for i, l := range lines {
		code, _, _ := strings.Cut(l, "#")
		if !strings.ContainsAny(code, "0123456789") || strings.Contains(code, "apiVersion") {
			continue
		}
		// A number is explained by a comment on its line or within the
		// four lines above it.
		explained := strings.Contains(l, "#")
		for j := max(0, i-4); j < i && !explained; j++ {
			explained = strings.HasPrefix(strings.TrimSpace(lines[j]), "#")
		}
		if !explained {
			t.Errorf("k8s/hpa/hpa.yaml:%d: %q has no comment explaining it", i+1, strings.TrimSpace(l))
		}
	}
}

func TestKedaMatchesProductionHPA(t *testing.T) {
	h := hpaOf(t, "k8s/overlays/production")
	sos := Find[*ScaledObject](cache.get(t, "k8s/overlays/production-keda"))
	if len(sos) != 1 {
		t.Fatalf("%d ScaledObjects, want 1", len(sos))
	}
	so := sos[0]
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != h.Spec.ScaleTargetRef.Name ||
		so.Spec.ScaleTargetRef.Kind != "Deployment" || so.Spec.ScaleTargetRef.APIVersion != "apps/v1" {
		t.Errorf("ScaledObject targets %+v, want apps/v1 Deployment %s", so.Spec.ScaleTargetRef, h.Spec.ScaleTargetRef.Name)
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount != *h.Spec.MinReplicas ||
		so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount != h.Spec.MaxReplicas {
		t.Errorf("ScaledObject bounds %v..%v, the HPA's %d..%d", so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if so.Spec.Advanced == nil || so.Spec.Advanced.HorizontalPodAutoscalerConfig == nil ||
		!reflect.DeepEqual(so.Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior, h.Spec.Behavior) {
		t.Errorf("ScaledObject behavior differs from the HPA's")
	}
	var prom, cpu bool
	for _, tr := range so.Spec.Triggers {
		switch tr.Type {
		case "prometheus":
			q := tr.Metadata["query"]
			prom = tr.MetricType == autoscalingv2.AverageValueMetricType && tr.Metadata["threshold"] == "50" &&
				strings.Contains(q, "rate(http_server_request_duration_seconds_count{") &&
				strings.Contains(q, `namespace="`+so.Namespace+`"`) && strings.Contains(q, "[1m]") &&
				strings.HasPrefix(tr.Metadata["serverAddress"], "http")
		case "cpu":
			cpu = tr.MetricType == autoscalingv2.UtilizationMetricType && tr.Metadata["value"] == "70" && tr.Metadata["containerName"] == demoContainer
		}
	}
	if !prom {
		t.Errorf("ScaledObject lacks the Prometheus trigger on this namespace's request rate, AverageValue 50")
	}
	if !cpu {
		t.Errorf("ScaledObject lacks the demo container's 70%% CPU trigger")
	}
}

func TestVPA(t *testing.T) {
	wantMode := map[string]vpav1.UpdateMode{
		"k8s/overlays/dev":             vpav1.UpdateModeOff,
		"k8s/overlays/staging":         vpav1.UpdateModeOff,
		"k8s/overlays/production":      vpav1.UpdateModeInitial,
		"k8s/overlays/production-keda": vpav1.UpdateModeInitial,
	}
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			objs := cache.get(t, dir)
			vpas := Find[*vpav1.VerticalPodAutoscaler](objs)
			want, ok := wantMode[dir]
			if !ok {
				if len(vpas) != 0 {
					t.Errorf("%d VPAs, want none", len(vpas))
				}
				return
			}
			if len(vpas) != 1 {
				t.Fatalf("%d VPAs, want exactly 1 (two VPAs on one Deployment conflict)", len(vpas))
			}
			v := vpas[0]
			d := deployment(t, objs)
			if ref := v.Spec.TargetRef; ref == nil || ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
				t.Errorf("VPA targets %+v, want apps/v1 Deployment %s", v.Spec.TargetRef, d.Name)
			}
			if v.Spec.UpdatePolicy == nil || v.Spec.UpdatePolicy.UpdateMode == nil || *v.Spec.UpdatePolicy.UpdateMode != want {
				t.Fatalf("VPA updateMode %v, want %s", v.Spec.UpdatePolicy, want)
			}
			if want == vpav1.UpdateModeOff {
				return
			}
			// Applying mode: only containers whose resources no HPA metric
			// reads may be controlled.
			hpaContainers := map[string]bool{}
			for _, h := range Find[*autoscalingv2.HorizontalPodAutoscaler](objs) {
				for _, m := range h.Spec.Metrics {
					if m.Type == autoscalingv2.ResourceMetricSourceType {
						t.Errorf("HPA scales on the pod's %s while the VPA applies requests", m.Resource.Name)
					}
					if m.Type == autoscalingv2.ContainerResourceMetricSourceType {
						hpaContainers[m.ContainerResource.Container] = true
					}
				}
			}
			for _, so := range Find[*ScaledObject](objs) {
				for _, tr := range so.Spec.Triggers {
					if tr.Type == "cpu" || tr.Type == "memory" {
						hpaContainers[tr.Metadata["containerName"]] = true
					}
				}
			}
			controlled := map[string]bool{}
			for _, c := range d.Spec.Template.Spec.Containers {
				controlled[c.Name] = true // VPA's default: every container, mode Auto
			}
			if v.Spec.ResourcePolicy == nil {
				t.Fatalf("applying VPA without containerPolicies")
			}
			for _, p := range v.Spec.ResourcePolicy.ContainerPolicies {
				if p.ContainerName == "*" {
					t.Errorf("applying VPA has a wildcard container policy")
				}
				if p.Mode != nil && *p.Mode == vpav1.ContainerScalingModeOff {
					controlled[p.ContainerName] = false
				}
			}
			for name, on := range controlled {
				if on && hpaContainers[name] {
					t.Errorf("VPA applies requests to container %s, whose CPU/memory the HPA scales on", name)
				}
			}
			if !controlled[exporterName] || controlled[demoContainer] {
				t.Errorf("VPA controls %v, want the exporter only", controlled)
			}
		})
	}
}

func TestPodMonitorEndpoints(t *testing.T) {
	for _, dir := range []string{"k8s/overlays/dev", "k8s/overlays/staging", "k8s/overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			objs := cache.get(t, dir)
			d := deployment(t, objs)
			pms := Find[*monitoringv1.PodMonitor](objs)
			if len(pms) != 1 {
				t.Fatalf("%d PodMonitors, want 1", len(pms))
			}
			ports := map[string]bool{}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					ports[p.Name] = true
				}
			}
			jobs := map[string]string{}
			for _, ep := range pms[0].Spec.PodMetricsEndpoints {
				if ep.Port == nil || !ports[*ep.Port] {
					t.Errorf("PodMonitor endpoint port %v is not a named container port", ep.Port)
					continue
				}
				if ep.Path != metricsPath {
					t.Errorf("endpoint %s path %q, want %s", *ep.Port, ep.Path, metricsPath)
				}
				for _, r := range ep.RelabelConfigs {
					if r.TargetLabel == "job" && r.Replacement != nil {
						jobs[*ep.Port] = *r.Replacement
					}
				}
			}
			want := map[string]string{"http": "loadlens-demo", "admin": "loadlens-demo-admin", "metrics": "loadlens-exporter"}
			if !reflect.DeepEqual(jobs, want) {
				t.Errorf("PodMonitor jobs %v, want %v (the job names of prometheus/prometheus.yml)", jobs, want)
			}
			rules := Find[*monitoringv1.PrometheusRule](objs)
			if len(rules) != 1 || len(rules[0].Spec.Groups) == 0 {
				t.Errorf("want the generated PrometheusRule with its groups, got %d objects", len(rules))
			}
		})
	}
}

// TestTestOverlayChangesOnlyAllowedFields compares the test overlay with the
// dev overlay after blanking what the test overlay may change: addresses,
// sizes, timings and the kwok nodeName.
func TestTestOverlayChangesOnlyAllowedFields(t *testing.T) {
	dev := map[string]map[string]any{}
	for _, o := range cache.get(t, "k8s/overlays/dev") {
		dev[o.Kind+"/"+o.Name] = masked(t, o)
	}
	for _, o := range cache.get(t, "k8s/overlays/test") {
		if o.Kind == "Namespace" {
			continue
		}
		want, ok := dev[o.Kind+"/"+o.Name]
		if !ok {
			t.Errorf("test overlay renders %s, which dev does not", o.ID())
			continue
		}
		if got := masked(t, o); !reflect.DeepEqual(got, want) {
			g, _ := json.MarshalIndent(got, "", " ")
			w, _ := json.MarshalIndent(want, "", " ")
			t.Errorf("test overlay changes %s beyond addresses, sizes, timings and nodeName:\n test: %s\n dev: %s", o.ID(), g, w)
		}
	}
	d := deployment(t, cache.get(t, "k8s/overlays/test"))
	if d.Spec.Template.Spec.NodeName != "kwok-node-0" {
		t.Errorf("test overlay nodeName %q, want kwok-node-0", d.Spec.Template.Spec.NodeName)
	}
}

func masked(t *testing.T, o Object) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(o.JSON, &m); err != nil {
		t.Fatal(err)
	}
	del := func(obj any, path ...string) {
		for i, p := range path {
			mm, ok := obj.(map[string]any)
			if !ok {
				return
			}
			if i == len(path)-1 {
				delete(mm, p)
				return
			}
			obj = mm[p]
		}
	}
	del(m, "metadata", "namespace")
	switch o.Kind {
	case "RoleBinding":
		for _, s := range m["subjects"].([]any) {
			del(s, "namespace")
		}
	case "Deployment":
		spec := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		delete(spec, "nodeName")
		for _, c := range spec["containers"].([]any) {
			del(c, "resources")
			for _, p := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
				for _, f := range []string{"periodSeconds", "timeoutSeconds", "failureThreshold", "initialDelaySeconds"} {
					del(c, p, f)
				}
			}
			for _, e := range c.(map[string]any)["env"].([]any) {
				if strings.HasSuffix(e.(map[string]any)["name"].(string), "_ADDR") {
					del(e, "value")
				}
			}
		}
	case "HorizontalPodAutoscaler":
		spec := m["spec"].(map[string]any)
		delete(spec, "minReplicas")
		delete(spec, "maxReplicas")
		if b, ok := spec["behavior"].(map[string]any); ok {
			for _, dir := range b {
				dm := dir.(map[string]any)
				delete(dm, "stabilizationWindowSeconds")
				for _, p := range dm["policies"].([]any) {
					del(p, "periodSeconds")
					del(p, "value")
				}
			}
		}
	}
	return m
}
