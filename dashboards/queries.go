package dashboards

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/loadlens/loadlens/internal/grafana"
)

// Query is one PromQL query of a generated dashboard with its variables
// substituted, ready to send to Prometheus.
type Query struct {
	Dashboard  string
	PanelTitle string
	PanelType  string
	RefID      string
	Expr       string
	// Instant queries ask for the value at the end of the time range
	// (stat and table panels); the others are range queries.
	Instant bool
	// KubernetesOnly queries read series that exist only on Kubernetes
	// (HPA, VPA, kube-state-metrics, cAdvisor): on the native stack they
	// return nothing by design.
	KubernetesOnly bool
	// Annotation is the query of an annotation, not of a panel: it returns
	// data only when its event happened (a k6 run, a firing alert).
	Annotation bool
}

// Queries returns every panel and annotation query of every dashboard with
// the variables set for one k6 run (testid) and one namespace; every other
// selectable variable is "All" and the built-in intervals are those of
// grafana.Builtins ($__rate_interval 1m, $__range 1h).
func Queries(testid, namespace string) ([]Query, error) {
	return QueriesWith(map[string]string{"testid": testid, "namespace": namespace})
}

// QueriesWith is Queries with explicit values: vars maps a variable name to
// one selected value (escaped as Grafana escapes a regex value) and may
// also override the built-ins (e.g. "__range": "15m").
func QueriesWith(vars map[string]string) ([]Query, error) {
	var out []Query
	for _, f := range All() {
		values, err := variableValues(f.Dashboard, vars)
		if err != nil {
			return nil, err
		}
		for _, pq := range f.Dashboard.Queries() {
			expr, err := grafana.Interpolate(pq.Expr, values)
			if err != nil {
				return nil, fmt.Errorf("%s / %s: %w", pq.Dashboard, pq.PanelTitle, err)
			}
			out = append(out, Query{Dashboard: pq.Dashboard, PanelTitle: pq.PanelTitle, PanelType: pq.PanelType, RefID: pq.RefID,
				Expr: expr, Instant: pq.Instant, KubernetesOnly: pq.KubernetesOnly, Annotation: pq.Annotation})
		}
	}
	return out, nil
}

// variableValues gives every variable of d a value: the caller's (regex
// escaped for multi-value variables), else "All" (.*) or the default.
func variableValues(d *grafana.Dashboard, vars map[string]string) (map[string]string, error) {
	values := map[string]string{}
	for k, v := range vars {
		if strings.HasPrefix(k, "__") {
			values[k] = v
		}
	}
	for _, v := range d.Variables {
		given, ok := vars[v.Name]
		switch {
		case ok && (v.Multi || v.IncludeAll):
			values[v.Name] = promRegexEscape(given)
		case ok:
			values[v.Name] = given
		case v.IncludeAll && v.AllValue != "":
			values[v.Name] = v.AllValue
		case v.Default != "" && v.Default != "$__all":
			values[v.Name] = v.Default
		case v.Query != "" && (v.Type == "textbox" || v.Type == "constant"):
			values[v.Name] = v.Query
		default:
			return nil, fmt.Errorf("%s: variable %s needs a value", d.Title, v.Name)
		}
	}
	return values, nil
}

var regexSpecial = regexp.MustCompile(`[\\^$*+?.()|{}\[\]]`)

// promRegexEscape escapes a value the way Grafana's Prometheus datasource
// does for regex-matched variables: a regex escape inside a PromQL string,
// so each backslash is doubled.
func promRegexEscape(s string) string {
	return regexSpecial.ReplaceAllStringFunc(s, func(m string) string { return `\\` + m })
}
