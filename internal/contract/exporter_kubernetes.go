package contract

// Conditions of the kubernetes collector's families.
const (
	// ConditionKubernetes: the kubernetes collector is enabled and at least
	// one HorizontalPodAutoscaler matches its namespace and label selector.
	ConditionKubernetes = "kubernetes"
	// ConditionVPA: the verticalpodautoscalers.autoscaling.k8s.io/v1 CRD is
	// installed and at least one VPA matches.
	ConditionVPA = "vpa"
)

// Label bounds shared by the kubernetes collector's families.
var (
	k8sNamespaceLabel = Label{"namespace", "namespaces holding watched objects (--kube.namespace, or all)"}
	hpaLabel          = Label{"hpa", "HorizontalPodAutoscalers matching --kube.label-selector"}
	vpaLabel          = Label{"vpa", "VerticalPodAutoscalers matching --kube.label-selector"}
	hpaMetricLabels   = []Label{
		k8sNamespaceLabel, hpaLabel,
		{"metric_name", "metrics in the HPA specs: the resource (cpu, memory) for Resource metrics, " +
			"<container>/<resource> for ContainerResource metrics, the metric name for Pods, Object and External metrics"},
		{"metric_target_type", "fixed set: utilization, average_value, value"},
	}
	vpaUpdateModes = "fixed set: Off, Initial, Recreate, InPlaceOrRecreate, InPlace, Auto"
)

// exporterKubernetesFamilies are produced by loadlens-exporter's kubernetes
// collector, from informer caches (a scrape never calls the API server).
var exporterKubernetesFamilies = []Family{
	{Name: "loadlens_kubernetes_up", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "Whether the informers are synced with the Kubernetes API server (1) or not (0)."},

	// HorizontalPodAutoscaler (autoscaling/v2).
	{Name: "loadlens_hpa_info", Type: Info, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "HorizontalPodAutoscaler and the workload it scales, constant 1.",
		Labels: []Label{k8sNamespaceLabel, hpaLabel,
			{"scaletargetref_kind", "kinds of scalable workloads (Deployment, StatefulSet, ...)"},
			{"scaletargetref_name", "one value per HPA"}}},
	{Name: "loadlens_hpa_current_replicas", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "Current replicas of the scaled workload as last seen by the autoscaler (status.currentReplicas).", Labels: []Label{k8sNamespaceLabel, hpaLabel}},
	{Name: "loadlens_hpa_desired_replicas", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "Replicas the autoscaler last decided on (status.desiredReplicas).", Labels: []Label{k8sNamespaceLabel, hpaLabel}},
	{Name: "loadlens_hpa_min_replicas", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "Lower replica limit of the autoscaler (spec.minReplicas, 1 when unset).", Labels: []Label{k8sNamespaceLabel, hpaLabel}},
	{Name: "loadlens_hpa_max_replicas", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "Upper replica limit of the autoscaler (spec.maxReplicas).", Labels: []Label{k8sNamespaceLabel, hpaLabel}},
	{Name: "loadlens_hpa_metric_target", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help:   "Target of an autoscaling metric in base units (cores, bytes; utilization in percent of the request).",
		Labels: hpaMetricLabels},
	{Name: "loadlens_hpa_metric_current", Type: Gauge, Producer: Exporter, Condition: ConditionKubernetes,
		Help:   "Current value of an autoscaling metric in base units (cores, bytes; utilization in percent of the request).",
		Labels: hpaMetricLabels},
	{Name: "loadlens_hpa_condition", Type: StateSet, Producer: Exporter, Condition: ConditionKubernetes,
		Help: "Status of each condition of the autoscaler: one series per status, 1 for the current one.",
		Labels: []Label{k8sNamespaceLabel, hpaLabel,
			{"condition", "HPA condition types: AbleToScale, ScalingActive, ScalingLimited"},
			{"status", "fixed set: true, false, unknown"}}},
	{Name: "loadlens_hpa_last_scale_timestamp_seconds", Type: Gauge, Unit: "seconds", Producer: Exporter, Condition: ConditionKubernetes,
		Help: "When the autoscaler last changed the replica count, as a Unix timestamp (absent before the first scale).", Labels: []Label{k8sNamespaceLabel, hpaLabel}},
	{Name: "loadlens_hpa_scale_events_total", Type: Counter, Producer: Exporter, Condition: ConditionKubernetes,
		Help:   "Scale decisions seen by the exporter since it started: status.desiredReplicas rising (up) or falling (down) between two observed versions of the HPA, from its first decision on.",
		Labels: []Label{k8sNamespaceLabel, hpaLabel, {"direction", "fixed set: up, down"}}},

	// VerticalPodAutoscaler (autoscaling.k8s.io/v1, a CRD).
	{Name: "loadlens_vpa_info", Type: Info, Producer: Exporter, Condition: ConditionVPA,
		Help: "VerticalPodAutoscaler and the workload it targets, constant 1.",
		Labels: []Label{k8sNamespaceLabel, vpaLabel,
			{"target_kind", "kinds of targeted workloads (Deployment, StatefulSet, ...)"},
			{"target_name", "one value per VPA"}}},
	{Name: "loadlens_vpa_update_mode", Type: StateSet, Producer: Exporter, Condition: ConditionVPA,
		Help:   "Update mode of the VPA (spec.updatePolicy.updateMode, Recreate when unset): one series per mode, 1 for the current one.",
		Labels: []Label{k8sNamespaceLabel, vpaLabel, {"update_mode", vpaUpdateModes}}},
	{Name: "loadlens_vpa_container_recommendation", Type: Gauge, Producer: Exporter, Condition: ConditionVPA,
		Help: "Resource recommendation of the VPA recommender for a container, in base units (cpu in cores, memory in bytes).",
		Labels: []Label{k8sNamespaceLabel, vpaLabel,
			{"container", "containers of the targeted pods"},
			{"resource", "resources the VPA controls: cpu, memory"},
			{"bound", "fixed set: target, lower_bound, upper_bound, uncapped_target"}}},
}
