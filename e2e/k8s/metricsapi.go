package k8se2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/loadlens/loadlens/internal/rules"
)

// AdapterRule is one rule of k8s/hpa/prometheus-adapter/config.yaml.
type AdapterRule struct {
	SeriesQuery string `yaml:"seriesQuery"`
	Resources   struct {
		Overrides map[string]struct {
			Resource string `yaml:"resource"`
		} `yaml:"overrides"`
	} `yaml:"resources"`
	Name struct {
		Matches string `yaml:"matches"`
		As      string `yaml:"as"`
	} `yaml:"name"`
	MetricsQuery string `yaml:"metricsQuery"`
}

// LoadAdapterRule reads the shipped prometheus-adapter rule that serves
// metric (http_requests_per_second).
func LoadAdapterRule(t testing.TB, metric string) AdapterRule {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "k8s", "hpa", "prometheus-adapter", "config.yaml")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Rules []AdapterRule `yaml:"rules"`
	}
	if err := yaml.Unmarshal(body, &conf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, r := range conf.Rules {
		if r.Name.As == metric {
			return r
		}
	}
	t.Fatalf("%s: no rule serves %s", path, metric)
	return AdapterRule{}
}

// Series is the metric name the rule's name.matches selects.
func (r AdapterRule) Series() string {
	return strings.TrimSuffix(strings.TrimPrefix(r.Name.Matches, "^"), "$")
}

// Shortened returns the rule with its query's range windows shortened the
// way the live tests shorten the shipped alert and recording rules
// (the test's shortening: 1m becomes 5s), so a test sees the rate react
// in seconds instead of a minute. Nothing else changes.
func (r AdapterRule) Shortened() (AdapterRule, error) {
	probe, err := r.Query("NS", []string{"POD"})
	if err != nil {
		return r, err
	}
	doc, _ := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "adapter", "rules": []any{map[string]any{"record": "adapter:probe", "expr": probe}}}}})
	f, err := rules.Parse("adapter.yml", doc)
	if err != nil {
		return r, err
	}
	short, err := shortening.Apply(rules.Set{Files: []rules.File{f}})
	if err != nil {
		return r, err
	}
	// Carry the shortened windows back into the template: the windows are
	// the only difference between probe and its shortened form.
	got := short.Files[0].Groups[0].Rules[0].Expr
	rng := regexp.MustCompile(`\[[0-9a-z]+\]`)
	was, now := rng.FindAllString(probe, -1), rng.FindAllString(got, -1)
	if len(was) != len(now) {
		return r, fmt.Errorf("shorten %q: got %q", probe, got)
	}
	out := r
	for i := range was {
		out.MetricsQuery = strings.Replace(out.MetricsQuery, was[i], now[i], 1)
	}
	return out, nil
}

// Query renders the rule's metricsQuery the way prometheus-adapter does for
// the pods of one namespace: <<.Series>>, <<.LabelMatchers>> (namespace and
// pod=~"a|b") and <<.GroupBy>> (pod).
func (r AdapterRule) Query(namespace string, pods []string) (string, error) {
	tmpl, err := template.New("q").Delims("<<", ">>").Parse(r.MetricsQuery)
	if err != nil {
		return "", err
	}
	nsLabel, podLabel := "namespace", "pod"
	for label, o := range r.Resources.Overrides {
		switch o.Resource {
		case "namespace":
			nsLabel = label
		case "pod":
			podLabel = label
		}
	}
	quoted := make([]string, len(pods))
	for i, p := range pods {
		quoted[i] = regexp.QuoteMeta(p)
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, map[string]string{
		"Series":        r.Series(),
		"LabelMatchers": fmt.Sprintf(`%s=%q,%s=~%q`, nsLabel, namespace, podLabel, strings.Join(quoted, "|")),
		"GroupBy":       podLabel,
	})
	return b.String(), err
}

// MetricsAPI is the test's metrics adapter: an aggregated API server (HTTPS
// on loopback, registered through APIService objects) that serves
//
//   - custom.metrics.k8s.io/v1beta2: the per-pod metric of the shipped
//     prometheus-adapter rule, computed for each pod from the real
//     Prometheus with the rule's own metricsQuery (what prometheus-adapter
//     does; prometheus-adapter itself is not built here);
//   - metrics.k8s.io/v1beta1: pod resource metrics for the HPA's CPU
//     (ContainerResource) metric. kwok pods have no containers to measure,
//     so their usage is reported as 0: the request rate is the metric under
//     test, and without any resource metrics the HPA refuses to scale down.
type MetricsAPI struct {
	Port    int
	rule    AdapterRule
	metric  string
	prom    promv1.API
	cluster *Cluster
	server  *http.Server
}

// StartMetricsAPI starts the adapter and registers its two APIServices;
// it returns once both are Available.
func StartMetricsAPI(t testing.TB, c *Cluster, prometheusURL string, rule AdapterRule) *MetricsAPI {
	t.Helper()
	pc, err := promapi.NewClient(promapi.Config{Address: prometheusURL})
	if err != nil {
		t.Fatal(err)
	}
	serving := newServingCert(t, filepath.Join(c.Dir, "pki"), "metrics-api", c.CA)
	cert := mustX509KeyPair(t, serving)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &MetricsAPI{Port: l.Addr().(*net.TCPAddr).Port, rule: rule, metric: rule.Name.As, prom: promv1.NewAPI(pc), cluster: c}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/custom.metrics.k8s.io/v1beta2", m.customDiscovery)
	mux.HandleFunc("GET /apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/pods/{pod}/{metric}", m.customPods)
	mux.HandleFunc("GET /apis/metrics.k8s.io/v1beta1", m.resourceDiscovery)
	mux.HandleFunc("GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", m.podMetrics)
	mux.HandleFunc("GET /apis/metrics.k8s.io/v1beta1/nodes", m.nodeMetrics)
	m.server = &http.Server{
		Handler:     mux,
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{cert}},
		ErrorLog:    log.New(os.Stderr, "metrics-api: ", 0),
		ReadTimeout: 10 * time.Second,
	}
	go m.server.ServeTLS(l, "", "")
	t.Cleanup(func() { m.server.Close() })

	c.RegisterAPIService(t, "loadlens-e2e-metrics", m.Port, "custom.metrics.k8s.io/v1beta2", "metrics.k8s.io/v1beta1")
	c.mark(t, "metrics APIServices Available")
	return m
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (m *MetricsAPI) customDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "custom.metrics.k8s.io/v1beta2",
		APIResources: []metav1.APIResource{{Name: "pods/" + m.metric, Namespaced: true, Kind: "MetricValueList", Verbs: []string{"get"}}},
	})
}

func (m *MetricsAPI) resourceDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "metrics.k8s.io/v1beta1",
		APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}},
			{Name: "nodes", Namespaced: false, Kind: "NodeMetrics", Verbs: []string{"get", "list"}},
		},
	})
}

// pods lists the namespace's running pods matching the request's
// labelSelector, sorted by name.
func (m *MetricsAPI) pods(r *http.Request, ns string) ([]corev1.Pod, error) {
	list, err := m.cluster.Client.CoreV1().Pods(ns).List(r.Context(), metav1.ListOptions{LabelSelector: r.URL.Query().Get("labelSelector")})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type metricValue struct {
	DescribedObject corev1.ObjectReference `json:"describedObject"`
	Metric          struct {
		Name     string                `json:"name"`
		Selector *metav1.LabelSelector `json:"selector"`
	} `json:"metric"`
	Timestamp     metav1.Time       `json:"timestamp"`
	WindowSeconds *int64            `json:"windowSeconds,omitempty"`
	Value         resource.Quantity `json:"value"`
}

func (m *MetricsAPI) customPods(w http.ResponseWriter, r *http.Request) {
	ns, podName, metric := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("metric")
	if metric != m.metric {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
		return
	}
	pods, err := m.pods(r, ns)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var names []string
	for _, p := range pods {
		if podName == "*" || p.Name == podName {
			names = append(names, p.Name)
		}
	}
	items := []metricValue{}
	if len(names) > 0 {
		q, err := m.rule.Query(ns, names)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, _, _, err := m.prom.Query(ctx, q, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		vec, _ := v.(model.Vector)
		window := int64(60)
		for _, s := range vec {
			f := float64(s.Value)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			mv := metricValue{
				DescribedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: string(s.Metric["pod"]), APIVersion: "/v1"},
				Timestamp:       metav1.NewTime(s.Timestamp.Time()),
				WindowSeconds:   &window,
				Value:           *resource.NewMilliQuantity(int64(math.Round(f*1000)), resource.DecimalSI),
			}
			mv.Metric.Name = m.metric
			items = append(items, mv)
		}
	}
	if podName != "*" && len(items) == 0 {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
		return
	}
	writeJSON(w, map[string]any{"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta2", "metadata": map[string]any{}, "items": items})
}

func (m *MetricsAPI) podMetrics(w http.ResponseWriter, r *http.Request) {
	pods, err := m.pods(r, r.PathValue("ns"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	now := metav1.Now()
	items := []map[string]any{}
	for _, p := range pods {
		var containers []map[string]any
		for _, c := range p.Spec.Containers {
			containers = append(containers, map[string]any{"name": c.Name, "usage": map[string]string{"cpu": "0", "memory": "0"}})
		}
		items = append(items, map[string]any{
			"metadata":   map[string]any{"name": p.Name, "namespace": p.Namespace, "labels": p.Labels, "creationTimestamp": now},
			"timestamp":  now,
			"window":     "1s",
			"containers": containers,
		})
	}
	writeJSON(w, map[string]any{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": map[string]any{}, "items": items})
}

func (m *MetricsAPI) nodeMetrics(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": map[string]any{}, "items": []any{}})
}

// RegisterAPIService makes the aggregation layer route the group versions
// (e.g. "metrics.k8s.io/v1beta1") to an HTTPS server on the loopback port,
// and waits until every APIService is Available. The aggregator reaches
// loopback through an ExternalName Service to localhost: Endpoints may not
// point at loopback, and there is no kube-proxy.
func (c *Cluster) RegisterAPIService(t testing.TB, service string, port int, groupVersions ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: service, Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port), TargetPort: intstr.FromInt32(int32(port))}}},
	}
	if _, err := c.Client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Service %s: %v", service, err)
	}
	apiservices := c.Dynamic.Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
	var names []string
	for _, gv := range groupVersions {
		group, version, _ := strings.Cut(gv, "/")
		name := version + "." + group
		names = append(names, name)
		as := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1",
			"kind":       "APIService",
			"metadata":   map[string]any{"name": name},
			"spec": map[string]any{
				"service":               map[string]any{"namespace": "kube-system", "name": service, "port": int64(port)},
				"group":                 group,
				"version":               version,
				"insecureSkipTLSVerify": true,
				"groupPriorityMinimum":  int64(100),
				"versionPriority":       int64(100),
			},
		}}
		if _, err := apiservices.Create(ctx, as, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create APIService %s: %v", name, err)
		}
	}
	waitFor(t, "APIServices "+strings.Join(names, ", "), 30*time.Second, nil, func() error {
		for _, name := range names {
			as, err := apiservices.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(as.Object, "status", "conditions")
			ok := false
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				ok = ok || (cm["type"] == "Available" && cm["status"] == "True")
			}
			if !ok {
				return fmt.Errorf("APIService %s not Available: %v", name, conds)
			}
		}
		return nil
	})
}
