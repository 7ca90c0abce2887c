package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// KubernetesConfig configures the kubernetes collector.
type KubernetesConfig struct {
	Kubeconfig    string       // path of a kubeconfig file; "" = in-cluster configuration
	Namespace     string       // "" = all namespaces
	LabelSelector string       // restricts the watched HPAs and VPAs, e.g. "app=loadlens-demo"
	RestConfig    *rest.Config // tests: overrides Kubeconfig
}

// vpaDiscoveryInterval is how often the collector looks again for the VPA
// API while the CRD is absent. Discovery runs in the background, never
// during a scrape.
const vpaDiscoveryInterval = time.Minute

// hpaGVR is the HorizontalPodAutoscaler resource the collector watches.
var hpaGVR = schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}

// KubernetesCollector reports HorizontalPodAutoscalers (autoscaling/v2)
// and, when the CRD is installed, VerticalPodAutoscalers
// (autoscaling.k8s.io/v1, read as unstructured objects). Both are watched
// with shared informers: a scrape only reads the informer caches and never
// calls the API server.
//
// Both informers list and watch through the dynamic client; HPAs are
// converted to their autoscaling/v2 Go type as they enter the cache. The
// typed clientset, its informer factory and the discovery client are not
// used on purpose: they link every built-in API group's scheme into the
// binary, and kept about 16 MiB more of the executable resident (RSS 46.5
// -> 30.4 MiB in bench/run.sh exporter), in an exporter that runs as a
// sidecar of every pod.
//
// loadlens_hpa_scale_events_total counts changes of status.desiredReplicas
// seen between two versions of an HPA: desiredReplicas is the autoscaler's
// decision, written when it rescales, while currentReplicas follows the
// workload's pods (rollouts, crashes, manual edits). The first status
// written to a new HPA (desired and current both 0 before) is not an event.
// The counter lives in the collector: it starts at 0 when the exporter
// starts and an HPA's entry is dropped when the HPA is deleted.
type KubernetesCollector struct {
	logger  *slog.Logger
	upDesc  *prometheus.Desc
	hpaDesc *hpaDescs
	vpaDesc *vpaDescs

	hpaInformer cache.SharedIndexInformer
	events      *scaleEvents

	dynamic     dynamic.Interface
	namespace   string
	tweak       func(*metav1.ListOptions)
	discovery   vpaDiscoverer
	vpaInterval time.Duration

	mu          sync.Mutex
	vpaInformer cache.SharedIndexInformer // nil until the VPA API is found

	stop      chan struct{}
	stopOnce  sync.Once
	loopDone  chan struct{}
	informers sync.WaitGroup
}

// vpaDiscoverer tells whether the VPA API is served: nil when it is, a
// NotFound API error when it is not, another error when it cannot tell.
type vpaDiscoverer interface {
	probeVPA(ctx context.Context) error
}

// listProbe discovers the VPA API by listing at most one VPA in the watched
// namespace: the same request the informer starts with, so RBAC errors
// show here first.
type listProbe struct {
	res dynamic.ResourceInterface
}

func (p listProbe) probeVPA(ctx context.Context) error {
	_, err := p.res.List(ctx, metav1.ListOptions{Limit: 1})
	return err
}

// kubeClients are the API clients of the collector; tests pass fakes.
type kubeClients struct {
	dynamic   dynamic.Interface
	discovery vpaDiscoverer // nil: list VPAs through dynamic
}

// NewKubernetesCollector connects to the API server described by cfg and
// starts the informers. It returns without waiting for them to sync
// (loadlens_kubernetes_up is 0 until they have); ctx bounds only the first
// discovery of the VPA API, which later continues in the background. Close
// stops the informers.
func NewKubernetesCollector(ctx context.Context, cfg KubernetesConfig, logger *slog.Logger) (*KubernetesCollector, error) {
	restCfg, err := kubeRestConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return newKubernetesCollector(ctx, cfg, kubeClients{dynamic: dyn}, vpaDiscoveryInterval, logger)
}

func kubeRestConfig(cfg KubernetesConfig) (*rest.Config, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case cfg.RestConfig != nil:
		rc = rest.CopyConfig(cfg.RestConfig)
	case cfg.Kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
	default:
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes in-cluster configuration (set --kube.kubeconfig outside a cluster): %w", err)
		}
	}
	rc.UserAgent = "loadlens-exporter"
	return rc, nil
}

func newKubernetesCollector(ctx context.Context, cfg KubernetesConfig, c kubeClients, vpaInterval time.Duration, logger *slog.Logger) (*KubernetesCollector, error) {
	logger = discardLogger(logger).With("collector", "kubernetes")
	if _, err := labels.Parse(cfg.LabelSelector); err != nil {
		return nil, fmt.Errorf("kubernetes label selector %q: %w", cfg.LabelSelector, err)
	}
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = cfg.LabelSelector }

	k := &KubernetesCollector{
		logger:      logger,
		upDesc:      contractDesc("loadlens_kubernetes_up", nil, nil),
		hpaDesc:     newHPADescs(),
		vpaDesc:     newVPADescs(),
		events:      newScaleEvents(),
		dynamic:     c.dynamic,
		namespace:   cfg.Namespace,
		tweak:       tweak,
		discovery:   c.discovery,
		vpaInterval: vpaInterval,
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	if k.discovery == nil {
		k.discovery = listProbe{res: c.dynamic.Resource(vpaGVR).Namespace(cfg.Namespace)}
	}
	k.hpaInformer = k.newInformer(hpaGVR)
	if err := k.hpaInformer.SetTransform(toHPA); err != nil {
		return nil, fmt.Errorf("kubernetes HPA informer: %w", err)
	}
	if _, err := k.hpaInformer.AddEventHandler(k.events.handler()); err != nil {
		return nil, fmt.Errorf("kubernetes HPA informer: %w", err)
	}
	k.run(k.hpaInformer)
	found := k.discoverVPA(ctx)
	go k.vpaLoop(found)
	logger.Info("watching autoscalers", "namespace", orAll(cfg.Namespace), "label_selector", cfg.LabelSelector)
	return k, nil
}

// newInformer returns an informer over one resource of the dynamic client,
// restricted to the configured namespace and label selector. No periodic
// resync: scale events come from watch updates, and the caches are complete
// without it.
func (k *KubernetesCollector) newInformer(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	res := k.dynamic.Resource(gvr).Namespace(k.namespace)
	// The wrapper tells the reflector whether the client can stream the
	// initial list (the fake clients of the unit tests cannot).
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			k.tweak(&o)
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			k.tweak(&o)
			return res.Watch(ctx, o)
		},
	}, k.dynamic)
	inf := cache.NewSharedIndexInformerWithOptions(lw, &unstructured.Unstructured{}, cache.SharedIndexInformerOptions{
		ObjectDescription: gvr.Resource,
	})
	if err := inf.SetWatchErrorHandler(k.watchErrorHandler(gvr.Resource)); err != nil {
		k.logger.Warn("kubernetes informer", "resource", gvr.Resource, "err", err) // only fails once started
	}
	return inf
}

// run starts an informer until Close.
func (k *KubernetesCollector) run(inf cache.SharedIndexInformer) {
	k.informers.Add(1)
	go func() {
		defer k.informers.Done()
		inf.Run(k.stop)
	}()
}

// toHPA is the HPA informer's transform: the cache keeps typed
// autoscaling/v2 objects without their managed fields.
func toHPA(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // already converted, or a DeletedFinalStateUnknown
	}
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), h); err != nil {
		return nil, fmt.Errorf("HPA %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	h.ManagedFields = nil
	return h, nil
}

// stripManagedFields is the VPA informer's transform: managed fields are
// most of an object's size and never read here.
func stripManagedFields(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		u.SetManagedFields(nil)
	}
	return obj, nil
}

func orAll(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

// watchErrorHandler logs list/watch failures through slog instead of klog.
// A missing resource (a VPA CRD removed after discovery) is only debug.
func (k *KubernetesCollector) watchErrorHandler(resource string) cache.WatchErrorHandler {
	return func(_ *cache.Reflector, err error) {
		if apierrors.IsNotFound(err) {
			k.logger.Debug("kubernetes resource not found", "resource", resource, "err", err)
			return
		}
		k.logger.Warn("kubernetes list/watch failed; retrying", "resource", resource, "err", err)
	}
}

// discoverVPA looks for the VPA API once and starts its informer when the
// API is served. It reports whether the informer runs.
func (k *KubernetesCollector) discoverVPA(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := k.discovery.probeVPA(ctx); err != nil {
		if apierrors.IsNotFound(err) {
			k.logger.Debug("VPA API not served; no VPA series", "group_version", vpaGVR.GroupVersion().String(), "retry_in", k.vpaInterval)
		} else {
			k.logger.Warn("cannot discover the VPA API", "retry_in", k.vpaInterval, "err", err)
		}
		return false
	}
	inf := k.newInformer(vpaGVR)
	if err := inf.SetTransform(stripManagedFields); err != nil {
		k.logger.Warn("VPA informer", "err", err)
	}
	k.mu.Lock()
	select {
	case <-k.stop:
		k.mu.Unlock()
		return false
	default:
	}
	k.run(inf)
	k.vpaInformer = inf
	k.mu.Unlock()
	k.logger.Info("watching verticalpodautoscalers")
	return true
}

// vpaLoop retries discovery every vpaInterval until the VPA API appears or
// the collector closes; at most one discovery call is in flight.
func (k *KubernetesCollector) vpaLoop(found bool) {
	defer close(k.loopDone)
	if found {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-k.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(k.vpaInterval)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			if k.discoverVPA(ctx) {
				return
			}
		}
	}
}

// Close stops the informers and the discovery loop.
func (k *KubernetesCollector) Close() error {
	k.stopOnce.Do(func() { close(k.stop) })
	<-k.loopDone
	k.informers.Wait()
	return nil
}

// Update implements Collector from the informer caches alone.
func (k *KubernetesCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	k.mu.Lock()
	vpaInf := k.vpaInformer
	k.mu.Unlock()
	synced := k.hpaInformer.HasSynced() && (vpaInf == nil || vpaInf.HasSynced())
	up := 0.0
	if synced {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(k.upDesc, prometheus.GaugeValue, up)
	if !synced {
		return errors.New("kubernetes informers have not synced yet")
	}

	for _, obj := range k.hpaInformer.GetStore().List() {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
		if !ok {
			continue
		}
		for _, m := range hpaSamples(h, k.hpaDesc) {
			ch <- m
		}
		up, down := k.events.get(h.Namespace, h.Name)
		ch <- prometheus.MustNewConstMetric(k.hpaDesc.scaleEvents, prometheus.CounterValue, float64(up), h.Namespace, h.Name, "up")
		ch <- prometheus.MustNewConstMetric(k.hpaDesc.scaleEvents, prometheus.CounterValue, float64(down), h.Namespace, h.Name, "down")
	}

	if vpaInf == nil {
		return nil
	}
	for _, obj := range vpaInf.GetStore().List() {
		if err := ctx.Err(); err != nil {
			return err
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		for _, m := range vpaSamples(u, k.vpaDesc) {
			ch <- m
		}
	}
	return nil
}

// scaleEvents counts scale decisions per HPA, fed by the informer's event
// handler. Entries exist only for HPAs in the cache, so it stays bounded.
type scaleEvents struct {
	mu     sync.Mutex
	counts map[string]*[2]uint64 // "namespace/name" -> {up, down}
}

func newScaleEvents() *scaleEvents { return &scaleEvents{counts: map[string]*[2]uint64{}} }

func scaleKey(ns, name string) string { return ns + "/" + name }

func (s *scaleEvents) get(ns, name string) (up, down uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.counts[scaleKey(ns, name)]; c != nil {
		return c[0], c[1]
	}
	return 0, 0
}

// observe records the change between two versions of an HPA.
func (s *scaleEvents) observe(old, cur *autoscalingv2.HorizontalPodAutoscaler) {
	key := scaleKey(cur.Namespace, cur.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts[key]
	if c == nil {
		c = &[2]uint64{}
		s.counts[key] = c
	}
	if old == nil || old.UID != cur.UID {
		return // new object: nothing to compare with
	}
	if old.Status.DesiredReplicas == 0 {
		// No decision yet: the controller writes current replicas before
		// its first desired count (an HPA never decides 0; KEDA scales to
		// zero without it).
		return
	}
	switch {
	case cur.Status.DesiredReplicas > old.Status.DesiredReplicas:
		c[0]++
	case cur.Status.DesiredReplicas < old.Status.DesiredReplicas:
		c[1]++
	}
}

func (s *scaleEvents) forget(ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.counts, scaleKey(ns, name))
}

func (s *scaleEvents) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
				s.observe(nil, h)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*autoscalingv2.HorizontalPodAutoscaler)
			cur, ok2 := newObj.(*autoscalingv2.HorizontalPodAutoscaler)
			if ok1 && ok2 {
				s.observe(old, cur)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
				s.forget(h.Namespace, h.Name)
			}
		},
	}
}

var _ Collector = (*KubernetesCollector)(nil)
