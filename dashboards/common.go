// Package dashboards generates loadlens's Grafana dashboards as code: Load
// Testing (k6 runs and what the service did meanwhile), Autoscaling (HPA and
// VPA) and System Performance (service, PostgreSQL, Redis, Go runtime). The
// JSON files beside this package are its committed output, read by
// Grafana's file provider; regenerate them with
//
//	go run ./cmd/loadlens-dashboards -out dashboards
//
// Every metric name comes from internal/contract, except the known series
// of Prometheus, kube-state-metrics and cAdvisor listed in External.
package dashboards

import (
	"strings"

	"github.com/loadlens/loadlens/internal/grafana"
)

// DatasourceUID is the uid of the provisioned Prometheus datasource
// (grafana/provisioning/datasources).
const DatasourceUID = "loadlens-prometheus"

// Tag is carried by every loadlens dashboard; the dashboards link to each
// other through it.
const Tag = "loadlens"

func datasource() grafana.DatasourceRef {
	return grafana.DatasourceRef{Type: "prometheus", UID: DatasourceUID}
}

// External lists the series dashboards may read that loadlens does not
// produce: Prometheus's own, kube-state-metrics' and cAdvisor's.
func External() []string {
	return []string{
		"up",     // Prometheus: scrape health of every target
		"ALERTS", // Prometheus: alerts pending or firing
		// kube-state-metrics
		"kube_pod_container_resource_requests",
		"kube_pod_container_resource_limits",
		"kube_pod_status_ready",
		"kube_pod_container_status_restarts_total",
		"kube_deployment_status_replicas_available",
		// cAdvisor (kubelet)
		"container_cpu_usage_seconds_total",
		"container_memory_working_set_bytes",
	}
}

// Thresholds shared by the dashboards: the SLAs of loadtest/k6/lib/config.js
// (p95 0.3 s, p99 0.5 s, 1% errors for reads) and saturation levels.
const (
	slaP95       = 0.3
	slaP99       = 0.5
	slaErrors    = 0.01
	warnSaturate = 0.8
	critSaturate = 0.95
)

func ptr[T any](v T) *T { return &v }

// q is a range query; in is an instant query; k8s marks a query whose
// series exist only on Kubernetes.
func q(expr, legend string) grafana.Target { return grafana.Target{Expr: expr, Legend: legend} }

func in(expr, legend string) grafana.Target {
	return grafana.Target{Expr: expr, Legend: legend, Instant: true}
}

func tbl(expr string) grafana.Target {
	return grafana.Target{Expr: expr, Instant: true, Format: "table"}
}

func k8s(t grafana.Target) grafana.Target {
	t.KubernetesOnly = true
	return t
}

// steps builds thresholds: base colour, then (value, colour) pairs.
func steps(base string, more ...any) []grafana.Step {
	out := []grafana.Step{{Color: base}}
	for i := 0; i+1 < len(more); i += 2 {
		out = append(out, grafana.Step{Value: toFloat(more[i]), Color: more[i+1].(string)})
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// Panel constructors. Sizes are grid units (24 wide).

func timeseries(title, desc, unit string, w, h int, targets ...grafana.Target) *grafana.Panel {
	return &grafana.Panel{Type: "timeseries", Title: title, Description: desc, W: w, H: h, Targets: targets,
		Field: grafana.Field{Unit: unit}}
}

func stat(title, desc, unit string, t grafana.Target, th []grafana.Step) *grafana.Panel {
	return &grafana.Panel{Type: "stat", Title: title, Description: desc, W: 3, H: 4, Targets: []grafana.Target{t},
		Field: grafana.Field{Unit: unit, Thresholds: th}}
}

// withThresholds draws thresholds on a time series as dashed lines.
func withThresholds(p *grafana.Panel, th []grafana.Step) *grafana.Panel {
	p.Field.Thresholds = th
	p.Field.ThresholdStyle = "dashed"
	return p
}

func ratio(p *grafana.Panel) *grafana.Panel {
	p.Field.Min, p.Field.Max = ptr(0.0), ptr(1.0)
	return p
}

func stacked(p *grafana.Panel) *grafana.Panel {
	if p.Field.Custom == nil {
		p.Field.Custom = map[string]any{}
	}
	p.Field.Custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
	p.Field.Custom["fillOpacity"] = 35
	return p
}

func bars(p *grafana.Panel) *grafana.Panel {
	if p.Field.Custom == nil {
		p.Field.Custom = map[string]any{}
	}
	p.Field.Custom["drawStyle"] = "bars"
	p.Field.Custom["fillOpacity"] = 80
	return p
}

func override(p *grafana.Panel, matcher, value string, props map[string]any) *grafana.Panel {
	p.Overrides = append(p.Overrides, grafana.Override{Matcher: matcher, Value: value, Properties: props})
	return p
}

// rightAxis moves the series of one query (refId) to the right axis.
func rightAxis(p *grafana.Panel, refID, unit string) *grafana.Panel {
	return override(p, "byFrameRefID", refID, map[string]any{
		"unit": unit, "custom.axisPlacement": "right", "custom.fillOpacity": 0,
		"custom.stacking":  map[string]any{"mode": "none", "group": "A"},
		"custom.lineStyle": map[string]any{"fill": "dash", "dash": []int{10, 10}},
	})
}

func color(p *grafana.Panel, matcher, value, c string) *grafana.Panel {
	return override(p, matcher, value, map[string]any{"color": map[string]any{"mode": "fixed", "fixedColor": c}})
}

// dashedLimit draws a query's series as a dashed line without fill (limits,
// targets).
func dashedLimit(p *grafana.Panel, refID, c string) *grafana.Panel {
	return override(p, "byFrameRefID", refID, map[string]any{
		"custom.fillOpacity": 0, "custom.lineWidth": 2,
		"custom.stacking":  map[string]any{"mode": "none", "group": "A"},
		"custom.lineStyle": map[string]any{"fill": "dash", "dash": []int{10, 10}},
		"color":            map[string]any{"mode": "fixed", "fixedColor": c},
	})
}

func upDown(p *grafana.Panel) *grafana.Panel {
	p.Field.Mappings = []grafana.ValueMapping{{Value: "0", Text: "DOWN", Color: "red"}, {Value: "1", Text: "UP", Color: "green"}}
	p.Field.Thresholds = steps("red", 1, "green")
	return p
}

// sel joins label matchers into a selector body.
func sel(matchers ...string) string { return strings.Join(matchers, ", ") }

// queryVar is a multi-select query variable with "All" meaning any value.
func queryVar(name, label, desc, query string) grafana.Variable {
	return grafana.Variable{Name: name, Label: label, Description: desc, Type: "query", Query: query,
		Multi: true, IncludeAll: true, AllValue: ".*", Default: "$__all", Sort: 1}
}

// tableColumn renames and formats the merged column of one query (Value #X).
func tableColumn(p *grafana.Panel, refID, name, unit string, extra map[string]any) {
	props := map[string]any{"displayName": name}
	if unit != "" {
		props["unit"] = unit
	}
	for k, v := range extra {
		props[k] = v
	}
	override(p, "byName", "Value #"+refID, props)
}

// keyColumn names a label column of a merged table and sorts by it.
func keyColumn(p *grafana.Panel, label, name string) {
	override(p, "byName", label, map[string]any{"displayName": name})
	p.Options["sortBy"] = []map[string]any{{"displayName": name, "desc": false}}
}

// colouredCell colours a table cell's background by the thresholds given.
func colouredCell(th []grafana.Step) map[string]any {
	s := []map[string]any{{"color": th[0].Color, "value": nil}}
	for _, t := range th[1:] {
		s = append(s, map[string]any{"color": t.Color, "value": t.Value})
	}
	return map[string]any{
		"custom.cellOptions": map[string]any{"type": "color-background", "mode": "gradient"},
		"thresholds":         map[string]any{"mode": "absolute", "steps": s},
	}
}

// mergedTable turns instant table queries into one row per label set.
func mergedTable(title, desc string, w, h int, keep []string, targets ...grafana.Target) *grafana.Panel {
	exclude := map[string]any{"Time": true}
	order := map[string]any{}
	for i, k := range keep {
		order[k] = i
	}
	for i := range targets {
		order["Value #"+string(rune('A'+i))] = len(keep) + i
	}
	return &grafana.Panel{Type: "table", Title: title, Description: desc, W: w, H: h, Targets: targets,
		Transformations: []map[string]any{
			{"id": "merge", "options": map[string]any{}},
			{"id": "organize", "options": map[string]any{"excludeByName": exclude, "indexByName": order, "renameByName": map[string]any{}}},
		},
		Options: map[string]any{"sortBy": []map[string]any{{"displayName": keep[0], "desc": false}}},
	}
}
