package exporter

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/contract/contracttest"
)

// fakeDiscovery serves the VPA API once installed; safe for concurrent use.
type fakeDiscovery struct {
	mu        sync.Mutex
	installed bool
	calls     int
}

func (f *fakeDiscovery) install() { f.mu.Lock(); f.installed = true; f.mu.Unlock() }

func (f *fakeDiscovery) probeVPA(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if !f.installed {
		return apierrors.NewNotFound(vpaGVR.GroupResource(), "")
	}
	return nil
}

func (f *fakeDiscovery) callCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

type kubeFixture struct {
	dyn  *dynamicfake.FakeDynamicClient
	disc *fakeDiscovery
	k    *KubernetesCollector
}

// newFakeDynamic serves HPAs and VPAs as the API server does: as
// unstructured objects.
func newFakeDynamic(t *testing.T, objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	t.Helper()
	dynObjs := make([]runtime.Object, len(objs))
	for i, o := range objs {
		if h, ok := o.(*autoscalingv2.HorizontalPodAutoscaler); ok {
			o = hpaToUnstructured(t, h)
		}
		dynObjs[i] = o
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		vpaGVR: "VerticalPodAutoscalerList",
		hpaGVR: "HorizontalPodAutoscalerList",
	}, dynObjs...)
}

func hpaToUnstructured(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(h)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(hpaGVR.GroupVersion().String())
	u.SetKind("HorizontalPodAutoscaler")
	return u
}

// resourceActions counts the fake API requests made for one resource.
func resourceActions(dyn *dynamicfake.FakeDynamicClient, resource string) int {
	n := 0
	for _, a := range dyn.Actions() {
		if a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

func newKubeFixture(t *testing.T, cfg KubernetesConfig, vpaInstalled bool, vpaInterval time.Duration, objs []runtime.Object, vpas ...*unstructured.Unstructured) *kubeFixture {
	t.Helper()
	f := &kubeFixture{disc: &fakeDiscovery{installed: vpaInstalled}}
	for _, v := range vpas {
		objs = append(objs, v)
	}
	f.dyn = newFakeDynamic(t, objs...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := newKubernetesCollector(ctx, cfg, kubeClients{dynamic: f.dyn, discovery: f.disc}, vpaInterval, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	})
	f.k = k
	return f
}

// scrape runs one Update and returns its samples and error.
func scrapeCollector(t *testing.T, c Collector) (staticSamples, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch := make(chan prometheus.Metric)
	var got staticSamples
	done := make(chan struct{})
	go func() {
		for m := range ch {
			got = append(got, m)
		}
		close(done)
	}()
	err := c.Update(ctx, ch)
	close(ch)
	<-done
	return got, err
}

// waitUntil polls cond until it returns "" or the deadline passes.
func waitUntil(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCompare polls until the collector's samples of the given families
// equal want.
func waitCompare(t *testing.T, c Collector, want string, families ...string) {
	t.Helper()
	waitUntil(t, 10*time.Second, func() string {
		got, err := scrapeCollector(t, c)
		if err != nil {
			return err.Error()
		}
		if err := testutil.CollectAndCompare(got, strings.NewReader(want), families...); err != nil {
			return err.Error()
		}
		return ""
	})
}

func labeled(h *autoscalingv2.HorizontalPodAutoscaler, ns, name string, lbls map[string]string) *autoscalingv2.HorizontalPodAutoscaler {
	h.Namespace, h.Name, h.Labels, h.UID = ns, name, lbls, types.UID("uid-"+ns+"-"+name)
	return h
}

func TestKubernetesCollectorHPAFromInformerCache(t *testing.T) {
	api := labeled(demoHPA(), "shop", "api", map[string]string{"app": "loadlens"})
	otherNS := labeled(demoHPA(), "elsewhere", "api", map[string]string{"app": "loadlens"})
	otherLabel := labeled(demoHPA(), "shop", "batch", map[string]string{"app": "batch"})
	f := newKubeFixture(t, KubernetesConfig{Namespace: "shop", LabelSelector: "app=loadlens"}, false, time.Hour,
		[]runtime.Object{api, otherNS, otherLabel})

	waitCompare(t, f.k, expo(t, "loadlens_kubernetes_up", " 1")+
		expo(t, "loadlens_hpa_info", `{hpa="api",namespace="shop",scaletargetref_kind="Deployment",scaletargetref_name="api"} 1`)+
		expo(t, "loadlens_hpa_desired_replicas", `{hpa="api",namespace="shop"} 4`)+
		expo(t, "loadlens_hpa_scale_events_total", `{direction="up",hpa="api",namespace="shop"} 0`, `{direction="down",hpa="api",namespace="shop"} 0`),
		"loadlens_kubernetes_up", "loadlens_hpa_info", "loadlens_hpa_desired_replicas", "loadlens_hpa_scale_events_total", "loadlens_vpa_info")

	// A scrape reads the cache only: no request reaches the API server.
	before := len(f.dyn.Actions())
	for range 3 {
		if _, err := scrapeCollector(t, f.k); err != nil {
			t.Fatal(err)
		}
	}
	if after := len(f.dyn.Actions()); after != before {
		t.Errorf("scrapes made %d API requests: %v", after-before, f.dyn.Actions()[before:])
	}

	got, _ := scrapeCollector(t, f.k)
	if problems, err := testutil.CollectAndLint(got); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	checkContractFamilies(t, got, []string{"kubernetes"}, "loadlens_kubernetes_", "loadlens_hpa_")
}

func TestKubernetesCollectorCountsScaleEvents(t *testing.T) {
	api := labeled(demoHPA(), "shop", "api", nil)
	f := newKubeFixture(t, KubernetesConfig{}, false, time.Hour, []runtime.Object{api})
	events := func(up, down string) string {
		return expo(t, "loadlens_hpa_scale_events_total",
			`{direction="up",hpa="api",namespace="shop"} `+up, `{direction="down",hpa="api",namespace="shop"} `+down)
	}
	waitCompare(t, f.k, events("0", "0"), "loadlens_hpa_scale_events_total")

	hpas := f.dyn.Resource(hpaGVR).Namespace("shop")
	setStatus := func(current, desired int32) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u, err := hpas.Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, h); err != nil {
			t.Fatal(err)
		}
		h.Status.CurrentReplicas, h.Status.DesiredReplicas = current, desired
		if _, err := hpas.UpdateStatus(ctx, hpaToUnstructured(t, h), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Wait for the informer to see this version before the next change,
		// so every change is one observed update.
		waitCompare(t, f.k, expo(t, "loadlens_hpa_desired_replicas", `{hpa="api",namespace="shop"} `+itoa(desired))+
			expo(t, "loadlens_hpa_current_replicas", `{hpa="api",namespace="shop"} `+itoa(current)),
			"loadlens_hpa_desired_replicas", "loadlens_hpa_current_replicas")
	}
	setStatus(3, 6) // 4 -> 6: up
	setStatus(6, 6) // pods caught up: not a decision
	setStatus(6, 2) // down
	setStatus(2, 5) // up
	waitCompare(t, f.k, events("2", "1"), "loadlens_hpa_scale_events_total")

	// Deleting the HPA drops its series and its counter entry.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hpas.Delete(ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCompare(t, f.k, "", "loadlens_hpa_scale_events_total", "loadlens_hpa_info")
	waitUntil(t, 5*time.Second, func() string {
		if up, down := f.k.events.get("shop", "api"); up != 0 || down != 0 {
			return "counter entry kept after delete"
		}
		f.k.events.mu.Lock()
		defer f.k.events.mu.Unlock()
		if len(f.k.events.counts) != 0 {
			return "counter map not empty"
		}
		return ""
	})
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }

func TestKubernetesCollectorVPA(t *testing.T) {
	vpa := vpaFromYAML(t, demoVPA)
	f := newKubeFixture(t, KubernetesConfig{Namespace: "shop"}, true, time.Hour, nil, vpa)
	waitCompare(t, f.k, expo(t, "loadlens_kubernetes_up", " 1")+
		expo(t, "loadlens_vpa_info", `{namespace="shop",target_kind="Deployment",target_name="api",vpa="api-vpa"} 1`)+
		expo(t, "loadlens_vpa_container_recommendation",
			`{bound="lower_bound",container="app",namespace="shop",resource="cpu",vpa="api-vpa"} 0.1`,
			`{bound="lower_bound",container="app",namespace="shop",resource="memory",vpa="api-vpa"} 1.34217728e+08`,
			`{bound="target",container="app",namespace="shop",resource="cpu",vpa="api-vpa"} 0.25`,
			`{bound="target",container="app",namespace="shop",resource="memory",vpa="api-vpa"} 2.62144e+08`,
			`{bound="target",container="sidecar",namespace="shop",resource="cpu",vpa="api-vpa"} 0.01`,
			`{bound="target",container="sidecar",namespace="shop",resource="memory",vpa="api-vpa"} 1e+06`,
			`{bound="uncapped_target",container="app",namespace="shop",resource="cpu",vpa="api-vpa"} 0.25`,
			`{bound="uncapped_target",container="app",namespace="shop",resource="memory",vpa="api-vpa"} 2.62144e+08`,
			`{bound="upper_bound",container="app",namespace="shop",resource="cpu",vpa="api-vpa"} 2`,
			`{bound="upper_bound",container="app",namespace="shop",resource="memory",vpa="api-vpa"} 1.073741824e+09`),
		"loadlens_kubernetes_up", "loadlens_vpa_info", "loadlens_vpa_container_recommendation")

	before := len(f.dyn.Actions())
	if _, err := scrapeCollector(t, f.k); err != nil {
		t.Fatal(err)
	}
	if after := len(f.dyn.Actions()); after != before {
		t.Errorf("a scrape made %d API requests", after-before)
	}
	got, _ := scrapeCollector(t, f.k)
	checkContractFamilies(t, got, []string{"kubernetes", "vpa"}, "loadlens_vpa_")
}

func TestKubernetesCollectorVPACRDAbsentThenInstalled(t *testing.T) {
	vpa := vpaFromYAML(t, demoVPA)
	f := newKubeFixture(t, KubernetesConfig{}, false, 50*time.Millisecond, nil, vpa)

	// Absent: up 1 (HPAs synced), no VPA series, no VPA requests.
	waitCompare(t, f.k, expo(t, "loadlens_kubernetes_up", " 1"), "loadlens_kubernetes_up", "loadlens_vpa_info")
	if n := resourceActions(f.dyn, vpaGVR.Resource); n != 0 {
		t.Errorf("%d VPA API requests while the CRD is absent", n)
	}
	// Discovery keeps retrying in the background, not from scrapes.
	waitUntil(t, 5*time.Second, func() string {
		if f.disc.callCount() < 3 {
			return "discovery not retried"
		}
		return ""
	})

	f.disc.install()
	waitCompare(t, f.k, expo(t, "loadlens_vpa_info", `{namespace="shop",target_kind="Deployment",target_name="api",vpa="api-vpa"} 1`), "loadlens_vpa_info")
	calls := f.disc.callCount()
	time.Sleep(200 * time.Millisecond) // four retry intervals: the loop must have stopped
	if got := f.disc.callCount(); got != calls {
		t.Errorf("discovery went on after the VPA API was found: %d calls, then %d", calls, got)
	}
}

func TestKubernetesCollectorNotSyncedReportsDown(t *testing.T) {
	dyn := newFakeDynamic(t)
	block := make(chan struct{})
	dyn.PrependReactor("list", "horizontalpodautoscalers", func(clienttesting.Action) (bool, runtime.Object, error) {
		<-block // the API server does not answer the initial list
		return false, nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k, err := newKubernetesCollector(ctx, KubernetesConfig{}, kubeClients{dynamic: dyn, discovery: &fakeDiscovery{}}, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := scrapeCollector(t, k)
	if err == nil {
		t.Error("Update succeeded before the informers synced")
	}
	if err := testutil.CollectAndCompare(got, strings.NewReader(expo(t, "loadlens_kubernetes_up", " 0"))); err != nil {
		t.Error(err)
	}
	close(block)
	waitCompare(t, k, expo(t, "loadlens_kubernetes_up", " 1"), "loadlens_kubernetes_up")
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestKubernetesConfigErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := newKubernetesCollector(ctx, KubernetesConfig{LabelSelector: "app in (("}, kubeClients{
		dynamic: newFakeDynamic(t), discovery: &fakeDiscovery{},
	}, time.Hour, nil); err == nil || !strings.Contains(err.Error(), "label selector") {
		t.Errorf("bad selector: %v", err)
	}
	if _, err := NewKubernetesCollector(ctx, KubernetesConfig{Kubeconfig: "/nonexistent/kubeconfig"}, nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Errorf("missing kubeconfig: %v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := NewKubernetesCollector(ctx, KubernetesConfig{}, nil); err == nil || !strings.Contains(err.Error(), "in-cluster") {
		t.Errorf("in-cluster outside a cluster: %v", err)
	}
}

// checkContractFamilies checks samples against the contract families whose
// names start with one of prefixes (the other collectors' families are
// not in samples).
func checkContractFamilies(t *testing.T, samples staticSamples, conditions []string, prefixes ...string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(samples); err != nil {
		t.Fatal(err)
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]*dto.MetricFamily{}
	for _, mf := range gathered {
		fams[mf.GetName()] = mf
	}
	for _, m := range contracttest.Missing(fams, contract.Exporter, conditions...) {
		for _, p := range prefixes {
			if strings.HasPrefix(m, p) {
				t.Errorf("contract: %s", m)
			}
		}
	}
}
