package dashboards

import (
	"fmt"

	c "github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/grafana"
)

// loadlens-exporter's kubernetes collector (internal/contract/exporter_kubernetes.go).
const (
	hpaInfo        = "loadlens_hpa_info"
	hpaCurrent     = "loadlens_hpa_current_replicas"
	hpaDesired     = "loadlens_hpa_desired_replicas"
	hpaMin         = "loadlens_hpa_min_replicas"
	hpaMax         = "loadlens_hpa_max_replicas"
	hpaTarget      = "loadlens_hpa_metric_target"
	hpaCurrentM    = "loadlens_hpa_metric_current"
	hpaCondition   = "loadlens_hpa_condition"
	hpaScaleEvents = "loadlens_hpa_scale_events_total"
	vpaInfo        = "loadlens_vpa_info"
	vpaRecommend   = "loadlens_vpa_container_recommendation"
)

// Process metrics of the demo service's admin listener.
const (
	processCPU = "process_cpu_seconds_total"
	processRSS = "process_resident_memory_bytes"
	adminJob   = `job="loadlens-demo-admin"`
)

const (
	hpaSel = `namespace=~"$namespace", hpa=~"$hpa"`
	// podSel selects the pods of the scaled deployment: ReplicaSet pods are
	// named <deployment>-<hash>-<hash>.
	podSel = `namespace=~"$namespace", pod=~"($deployment)-.*"`
)

// Metric names of HPA metrics: "cpu" for Resource metrics,
// "<container>/cpu" for ContainerResource ones.
const (
	cpuMetric    = `metric_name=~"(.+/)?cpu"`
	memoryMetric = `metric_name=~"(.+/)?memory"`
	otherMetric  = `metric_name!~"(.+/)?(cpu|memory)"`
)

// hourlyCost prices the resources requested by the deployment's pods.
func hourlyCost() string {
	return fmt.Sprintf(`(sum(kube_pod_container_resource_requests{%[1]s, resource="cpu"}) * $cost_cpu_hour + sum(kube_pod_container_resource_requests{%[1]s, resource="memory"}) / 1073741824 * $cost_gb_hour)`, podSel)
}

// podCount counts the pods with resource requests.
func podCount() string {
	return fmt.Sprintf(`count(count by (pod) (kube_pod_container_resource_requests{%s, resource="cpu"}))`, podSel)
}

// Autoscaling shows whether the HorizontalPodAutoscaler reacted to the
// load: replicas against limits, each scaling metric against its target,
// conditions, VPA recommendations and what the replicas cost.
func Autoscaling() *grafana.Dashboard {
	d := &grafana.Dashboard{
		UID:         "loadlens-autoscaling",
		Title:       "loadlens / Autoscaling",
		Description: "HPA replicas, scaling metrics against targets, conditions and scale events; VPA recommendations against requests; estimated cost by replica count.",
		Tags:        []string{Tag, "kubernetes", "hpa"},
		Datasource:  datasource(),
		Refresh:     "10s",
		From:        "now-1h",
		LinkTag:     Tag,
		Variables: []grafana.Variable{
			queryVar("namespace", "Namespace", "Namespace of the demo service and its autoscalers.",
				"label_values("+c.RulePodRequestRate+", namespace)"),
			queryVar("hpa", "HPA", "HorizontalPodAutoscalers watched by loadlens-exporter.",
				`label_values(`+hpaInfo+`{namespace=~"$namespace"}, hpa)`),
			queryVar("deployment", "Deployment", "Workload the HPA scales (its pods are named after it).",
				`label_values(`+hpaInfo+`{namespace=~"$namespace", hpa=~"$hpa"}, scaletargetref_name)`),
			{Name: "cost_cpu_hour", Label: "Price per CPU-hour", Type: "textbox", Query: "0.0316",
				Description: "Price of one requested CPU core for one hour, in your currency (default: a typical on-demand price)."},
			{Name: "cost_gb_hour", Label: "Price per GiB-hour", Type: "textbox", Query: "0.0042",
				Description: "Price of one requested GiB of memory for one hour, in your currency."},
		},
		Annotations: []grafana.Annotation{
			{Name: "Scale events", Enabled: true, Color: "orange", Step: "15s", KubernetesOnly: true,
				Expr:        fmt.Sprintf("sum by (hpa, direction) (changes(%s{%s}[1m])) > 0", hpaScaleEvents, hpaSel),
				TitleFormat: "scale {{direction}}: {{hpa}}", TagKeys: "hpa,direction"},
			{Name: "k6 runs", Enabled: true, Color: "rgba(31, 120, 193, 0.5)", Step: "10s",
				Expr:        fmt.Sprintf("sum by (testid) (%s) > 0", k6VUs),
				TitleFormat: "k6 run {{testid}}", TagKeys: "testid"},
		},
	}

	sum := func(metric string) string { return fmt.Sprintf("sum(%s{%s})", metric, hpaSel) }
	replicaStat := func(title, desc, metric string) *grafana.Panel {
		return stat(title, desc, "none", k8s(in(sum(metric), title)), steps("blue"))
	}
	now := []*grafana.Panel{
		replicaStat("Current replicas", "Replicas of the scaled workload as the HPA last saw them.", hpaCurrent),
		replicaStat("Desired replicas", "Replicas the HPA last decided on; differs from current while pods start or stop.", hpaDesired),
		replicaStat("Min replicas", "spec.minReplicas.", hpaMin),
		replicaStat("Max replicas", "spec.maxReplicas: the HPA cannot scale past it.", hpaMax),
		stat("Headroom to max", "Replicas the HPA can still add. 0 means the HPA is pinned at its maximum: more load only adds latency.", "none",
			k8s(in(sum(hpaMax)+" - "+sum(hpaCurrent), "headroom")), steps("red", 1, "orange", 2, "green")),
		stat("Pods not ready", "Pods of the deployment whose Ready condition is false (kube-state-metrics).", "none",
			k8s(in(fmt.Sprintf(`sum(kube_pod_status_ready{%s, condition="false"})`, podSel), "not ready")), steps("green", 1, "red")),
		stat("Requests/s per pod", "Mean requests per second per pod: the HPA's custom metric (recording rule "+c.RulePodRequestRate+").", "reqps",
			in(fmt.Sprintf("avg(%s{%s})", c.RulePodRequestRate, podSel), "req/s per pod"), steps("blue")),
		stat("Scale events in range", "Scale decisions (up and down) in the time range.", "none",
			k8s(in(fmt.Sprintf("sum(increase(%s{%s}[$__range]))", hpaScaleEvents, hpaSel), "events")), steps("blue")),
	}

	replicas := timeseries("Replicas over time",
		"Current and desired replicas between the HPA's min and max (dashed), the Deployment's available replicas and the pods actually serving requests. Scale events are marked as annotations.",
		"none", 16, 9,
		k8s(q(sum(hpaCurrent), "current")),
		k8s(q(sum(hpaDesired), "desired")),
		k8s(q(sum(hpaMin), "min")),
		k8s(q(sum(hpaMax), "max")),
		q(fmt.Sprintf("count(%s{%s})", c.RulePodRequestRate, podSel), "pods serving requests"),
		k8s(q(`sum(kube_deployment_status_replicas_available{namespace=~"$namespace", deployment=~"$deployment"})`, "available (Deployment)")))
	replicas.Field.Custom = map[string]any{"lineInterpolation": "stepAfter", "fillOpacity": 0, "lineWidth": 2}
	dashedLimit(replicas, "C", "blue")
	dashedLimit(replicas, "D", "red")

	events := bars(timeseries("Scale events", "Scale decisions per direction.", "none", 8, 9,
		k8s(q(fmt.Sprintf("sum by (direction) (increase(%s{%s}[$__rate_interval]))", hpaScaleEvents, hpaSel), "{{direction}}"))))
	color(events, "byName", "up", "green")
	color(events, "byName", "down", "blue")

	conditions := &grafana.Panel{Type: "state-timeline", Title: "HPA conditions",
		Description: "AbleToScale and ScalingActive should stay True. ScalingLimited True means the HPA wanted more (or fewer) replicas than its limits allow.",
		W:           12, H: 8,
		Targets: []grafana.Target{k8s(q(fmt.Sprintf(`max by (hpa, condition) (%[1]s{%[2]s, status="true"}) - max by (hpa, condition) (%[1]s{%[2]s, status="unknown"})`, hpaCondition, hpaSel), "{{hpa}} {{condition}}"))},
		Field: grafana.Field{Color: "thresholds", Mappings: []grafana.ValueMapping{
			{Value: "1", Text: "True", Color: "green"}, {Value: "0", Text: "False", Color: "red"}, {Value: "-1", Text: "Unknown", Color: "gray"}}},
	}
	override(conditions, "byRegexp", ".*ScalingLimited", map[string]any{"mappings": []any{
		map[string]any{"type": "value", "options": map[string]any{
			"1":  map[string]any{"text": "True (at a limit)", "color": "orange"},
			"0":  map[string]any{"text": "False", "color": "green"},
			"-1": map[string]any{"text": "Unknown", "color": "gray"}}}}})

	gap := timeseries("Desired minus current replicas",
		"Positive while the HPA waits for new pods (scheduling, image pulls, readiness); negative while it scales down.",
		"none", 12, 8,
		k8s(q(fmt.Sprintf("sum by (hpa) (%[1]s{%[3]s}) - sum by (hpa) (%[2]s{%[3]s})", hpaDesired, hpaCurrent, hpaSel), "{{hpa}}")))

	perPod := timeseries("Requests/s per pod vs target",
		"Requests per second per pod as the service counts them (mean and busiest pod) and as the HPA sees them, against the HPA's target (dashed).",
		"reqps", 8, 8,
		q(fmt.Sprintf("avg(%s{%s})", c.RulePodRequestRate, podSel), "mean per pod"),
		q(fmt.Sprintf("max(%s{%s})", c.RulePodRequestRate, podSel), "busiest pod"),
		k8s(q(fmt.Sprintf("max by (metric_name) (%s{%s, %s})", hpaCurrentM, hpaSel, otherMetric), "HPA current {{metric_name}}")),
		k8s(q(fmt.Sprintf("max by (metric_name) (%s{%s, %s})", hpaTarget, hpaSel, otherMetric), "HPA target {{metric_name}}")))
	dashedLimit(perPod, "D", "red")

	cpu := timeseries("CPU per pod vs request and target",
		"CPU cores used by each pod's service process, against the pod's CPU request, the HPA's utilisation target converted to cores and the CPU limit (dashed). Utilisation is measured against the request, not the limit.",
		"short", 8, 8,
		q(fmt.Sprintf("sum by (pod) (rate(%s{%s, %s}[$__rate_interval]))", processCPU, podSel, adminJob), "{{pod}} used"),
		k8s(q(fmt.Sprintf(`avg(sum by (pod) (kube_pod_container_resource_requests{%s, resource="cpu"}))`, podSel), "request per pod")),
		k8s(q(fmt.Sprintf(`max(%s{%s, %s, metric_target_type="utilization"}) / 100 * avg(sum by (pod) (kube_pod_container_resource_requests{%s, resource="cpu"}))`, hpaTarget, hpaSel, cpuMetric, podSel), "HPA target")),
		k8s(q(fmt.Sprintf(`avg(sum by (pod) (kube_pod_container_resource_limits{%s, resource="cpu"}))`, podSel), "limit per pod")))
	dashedLimit(cpu, "B", "orange")
	dashedLimit(cpu, "C", "red")
	dashedLimit(cpu, "D", "purple")
	cpu.Field.Custom = map[string]any{"axisLabel": "CPU cores"}

	mem := timeseries("Memory per pod vs request and target",
		"Resident memory of each pod's service process and the container working set, against the pod's memory request and an HPA memory target (dashed).",
		"bytes", 8, 8,
		q(fmt.Sprintf("sum by (pod) (%s{%s, %s})", processRSS, podSel, adminJob), "{{pod}} RSS"),
		k8s(q(fmt.Sprintf(`sum by (pod) (container_memory_working_set_bytes{%s, container!=""})`, podSel), "{{pod}} working set")),
		k8s(q(fmt.Sprintf(`avg(sum by (pod) (kube_pod_container_resource_requests{%s, resource="memory"}))`, podSel), "request per pod")),
		k8s(q(fmt.Sprintf(`max(%s{%s, %s, metric_target_type="average_value"}) or max(%s{%s, %s, metric_target_type="utilization"}) / 100 * avg(sum by (pod) (kube_pod_container_resource_requests{%s, resource="memory"}))`,
			hpaTarget, hpaSel, memoryMetric, hpaTarget, hpaSel, memoryMetric, podSel), "HPA target")))
	dashedLimit(mem, "C", "orange")
	dashedLimit(mem, "D", "red")

	relative := withThresholds(timeseries("HPA metrics relative to target",
		"Each scaling metric divided by its target. Above 1 the HPA scales up (unless at max), below 1 it may scale down; the HPA follows the highest.",
		"percentunit", 12, 8,
		k8s(q(fmt.Sprintf("max by (hpa, metric_name) (%[1]s{%[3]s}) / max by (hpa, metric_name) (%[2]s{%[3]s})", hpaCurrentM, hpaTarget, hpaSel), "{{hpa}} {{metric_name}}"))),
		steps("green", 1, "orange"))

	headroom := withThresholds(timeseries("Headroom to max replicas",
		"Replicas each HPA can still add. At 0 the HPA is pinned at max: latency, not replicas, absorbs more load.",
		"none", 12, 8,
		k8s(q(fmt.Sprintf("sum by (hpa) (%[1]s{%[3]s}) - sum by (hpa) (%[2]s{%[3]s})", hpaMax, hpaCurrent, hpaSel), "{{hpa}}"))),
		steps("red", 1, "orange", 2, "green"))

	vpaPanel := func(resource, unit string) *grafana.Panel {
		p := timeseries("VPA "+resource+" recommendation vs request",
			"VPA recommender's target and bounds per container against the container's current "+resource+" request (kube-state-metrics). A request far below the lower bound starves the pod; far above the upper bound wastes money.",
			unit, 12, 8,
			k8s(q(fmt.Sprintf(`max by (container, bound) (%s{namespace=~"$namespace", resource="%s", bound=~"target|lower_bound|upper_bound"} * on (namespace, vpa) group_left (target_name) %s{namespace=~"$namespace", target_name=~"$deployment"})`,
				vpaRecommend, resource, vpaInfo), "{{container}} {{bound}}")),
			k8s(q(fmt.Sprintf(`avg by (container) (kube_pod_container_resource_requests{%s, resource="%s"})`, podSel, resource), "{{container}} request")))
		override(p, "byRegexp", ".*(lower_bound|upper_bound)", map[string]any{"custom.lineStyle": map[string]any{"fill": "dash", "dash": []int{10, 10}}, "custom.fillOpacity": 0})
		override(p, "byRegexp", ".* request", map[string]any{"custom.lineWidth": 3, "color": map[string]any{"mode": "fixed", "fixedColor": "purple"}})
		if resource == "cpu" {
			p.Field.Custom = map[string]any{"axisLabel": "CPU cores"}
		}
		return p
	}

	costNow := stat("Estimated cost per hour", "Requested CPU and memory of the deployment's pods priced with the variables above (the price variables' currency; USD by default).", "currencyUSD",
		k8s(in(hourlyCost(), "per hour")), steps("blue"))
	costNow.W = 6
	costNow.Field.Decimals = ptr(3)
	costRange := stat("Estimated cost of the time range", "Hourly cost integrated over the time range.", "currencyUSD",
		k8s(in(fmt.Sprintf("sum_over_time(%s[$__range:1m]) / 60", hourlyCost()), "time range")), steps("blue"))
	costRange.W = 6
	costRange.Field.Decimals = ptr(3)
	costMax := stat("Estimated cost per hour at max replicas", "What an hour would cost if the HPA ran its maximum replicas with today's per-pod requests.", "currencyUSD",
		k8s(in(fmt.Sprintf("%s / %s * %s", hourlyCost(), podCount(), sum(hpaMax)), "at max")), steps("blue"))
	costMax.W = 6
	costMax.Field.Decimals = ptr(3)
	costPerReq := stat("Estimated cost per million requests", "Hourly cost divided by the requests served in an hour at the current rate.", "currencyUSD",
		k8s(in(fmt.Sprintf("%s / (sum(%s{%s}) * 3600) * 1e6", hourlyCost(), c.RuleRequestRate, nsSel), "per 1M requests")), steps("blue"))
	costPerReq.W = 6
	costPerReq.Field.Decimals = ptr(3)

	costOverTime := timeseries("Estimated cost per hour by replica count",
		"Cost per hour of the pods running now, against the same pods at the HPA's min and max replicas (dashed); pod count on the right axis.",
		"currencyUSD", 24, 8,
		k8s(q(hourlyCost(), "running pods")),
		k8s(q(fmt.Sprintf("%s / %s * %s", hourlyCost(), podCount(), sum(hpaMin)), "at min replicas")),
		k8s(q(fmt.Sprintf("%s / %s * %s", hourlyCost(), podCount(), sum(hpaMax)), "at max replicas")),
		k8s(q(podCount(), "pods")))
	costOverTime.Field.Decimals = ptr(3)
	dashedLimit(costOverTime, "B", "blue")
	dashedLimit(costOverTime, "C", "red")
	rightAxis(costOverTime, "D", "none")

	notReady := timeseries("Pods not ready and targets down",
		"Pods of the deployment whose Ready condition is false, and scrape targets of the namespace that are down (per job).",
		"none", 8, 8,
		k8s(q(fmt.Sprintf(`sum by (pod) (kube_pod_status_ready{%s, condition="false"})`, podSel), "{{pod}} not ready")),
		q(fmt.Sprintf("sum by (job) (1 - up{%s})", podSel), "{{job}} targets down"))

	restarts := bars(timeseries("Container restarts", "Container restarts per pod (OOM kills and failed probes show here).", "none", 8, 8,
		k8s(q(fmt.Sprintf("sum by (pod) (increase(kube_pod_container_status_restarts_total{%s}[$__rate_interval]))", podSel), "{{pod}}"))))

	balance := timeseries("Requests/s by pod", "Requests per second served by each pod: an uneven spread points at sticky connections or a bad readiness probe.",
		"reqps", 8, 8, q(fmt.Sprintf("sum by (pod) (%s{%s})", c.RulePodRequestRate, podSel), "{{pod}}"))

	d.Rows = []grafana.Row{
		{Title: "Now", Panels: now},
		{Title: "Replicas", Panels: []*grafana.Panel{replicas, events, conditions, gap}},
		{Title: "Scaling metrics against targets", Panels: []*grafana.Panel{perPod, cpu, mem, relative, headroom}},
		{Title: "Pods", Panels: []*grafana.Panel{notReady, restarts, balance}},
		{Title: "Vertical Pod Autoscaler", Panels: []*grafana.Panel{vpaPanel("cpu", "short"), vpaPanel("memory", "bytes")}},
		{Title: "Estimated cost", Panels: []*grafana.Panel{costNow, costRange, costMax, costPerReq, costOverTime}},
	}
	return d
}
