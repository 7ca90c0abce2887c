package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/loadlens/loadlens/internal/contract"
)

// targetLabels are the labels Prometheus attaches to every scraped series of
// loadlens: job and instance from the scrape, namespace and pod from the
// static config (native, compose) or the PodMonitor (Kubernetes).
func targetLabels() []string {
	return []string{"job", "instance", "namespace", "pod"}
}

// Selector is one metric selected by an expression: its name and the label
// names its matchers use.
type Selector struct {
	Metric string
	Labels []string
}

// Selectors parses expr with Prometheus's PromQL parser and returns every
// vector selector in it, in order of appearance.
func Selectors(expr string) ([]Selector, error) {
	ast, err := newParser().ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse expression: %w", err)
	}
	return selectorsOf(ast)
}

func selectorsOf(node parser.Node) ([]Selector, error) {
	var out []Selector
	var errs []error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sel := Selector{Metric: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				if m.Type != labels.MatchEqual {
					errs = append(errs, fmt.Errorf("selector %s: match the metric name exactly", vs))
				}
				sel.Metric = m.Value
				continue
			}
			sel.Labels = append(sel.Labels, m.Name)
		}
		if sel.Metric == "" {
			errs = append(errs, fmt.Errorf("selector %s has no metric name", vs))
		}
		out = append(out, sel)
		return nil
	})
	return out, errors.Join(errs...)
}

// allowedLabels returns the label names a series of the given name may
// carry, and whether the name is known: a contract family (with target
// labels, plus le on histogram buckets), a recorded name of the contract, or
// up.
func allowedLabels(series string) (map[string]bool, bool) {
	allowed := map[string]bool{}
	if series == "up" {
		for _, l := range targetLabels() {
			allowed[l] = true
		}
		return allowed, true
	}
	f, ok := contract.Lookup(series)
	if !ok {
		return nil, false
	}
	for _, l := range f.LabelNames() {
		allowed[l] = true
	}
	if f.Producer != contract.Rules {
		for _, l := range targetLabels() {
			allowed[l] = true
		}
	}
	if f.Type == contract.Histogram && strings.HasSuffix(series, "_bucket") {
		allowed["le"] = true
	}
	return allowed, true
}

// CheckContract parses every expression of s and checks that each metric it
// selects is in the metric contract (or is up), that each label it matches,
// groups by or joins on exists on the selected metrics, that every recorded
// name is declared in the contract with producer Rules, and that every
// family the contract says the rules produce is recorded.
func CheckContract(s Set) error {
	var errs []error
	recorded := map[string]bool{}
	for _, name := range s.Recorded() {
		recorded[name] = true
		f, ok := contract.Lookup(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("recorded name %s is not declared in internal/contract/rules.go", name))
		case f.Producer != contract.Rules:
			errs = append(errs, fmt.Errorf("recorded name %s is declared with producer %s, not rules", name, f.Producer))
		}
	}
	for _, f := range contract.ByProducer(contract.Rules) {
		if !recorded[f.Name] {
			errs = append(errs, fmt.Errorf("contract family %s (producer rules) is not recorded by any rule", f.Name))
		}
	}
	for _, g := range s.Groups() {
		for _, r := range g.Rules {
			if err := checkExpr(r.Expr); err != nil {
				errs = append(errs, fmt.Errorf("group %s: %s: %w", g.Name, ruleName(r), err))
			}
			if r.Record == "" {
				continue
			}
			f, ok := contract.Lookup(r.Record)
			if !ok {
				continue
			}
			declared := map[string]bool{}
			for _, l := range f.LabelNames() {
				declared[l] = true
			}
			for l := range r.Labels {
				if !declared[l] {
					errs = append(errs, fmt.Errorf("%s: label %s is not declared in the contract", ruleName(r), l))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkExpr(expr string) error {
	ast, err := newParser().ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse expression: %w", err)
	}
	sels, err := selectorsOf(ast)
	if err != nil {
		return err
	}
	var errs []error
	for _, sel := range sels {
		allowed, ok := allowedLabels(sel.Metric)
		if !ok {
			errs = append(errs, fmt.Errorf("metric %s is not in internal/contract (nor a recorded name, nor up)", sel.Metric))
			continue
		}
		for _, l := range sel.Labels {
			if !allowed[l] {
				errs = append(errs, fmt.Errorf("metric %s has no label %s", sel.Metric, l))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Labels used by `by (...)` and `on (...)` must exist on at least one
	// metric selected under the operator (on each side for a join).
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			if !n.Without {
				errs = append(errs, labelsReachable(n.Grouping, n.Expr, "by")...)
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil && n.VectorMatching.On {
				errs = append(errs, labelsReachable(n.VectorMatching.MatchingLabels, n.LHS, "on (left side)")...)
				errs = append(errs, labelsReachable(n.VectorMatching.MatchingLabels, n.RHS, "on (right side)")...)
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

func labelsReachable(names []string, under parser.Node, clause string) []error {
	sels, err := selectorsOf(under)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, name := range names {
		found := false
		var metrics []string
		for _, sel := range sels {
			metrics = append(metrics, sel.Metric)
			if allowed, ok := allowedLabels(sel.Metric); ok && allowed[name] {
				found = true
			}
		}
		if !found && len(sels) > 0 {
			errs = append(errs, fmt.Errorf("%s label %s exists on none of %s", clause, name, strings.Join(metrics, ", ")))
		}
	}
	return errs
}

// RunbookBase is the address every runbook_url starts with, followed by the
// anchor of the alert's RUNBOOK.md section (its name in lower case).
const RunbookBase = "https://github.com/loadlens/loadlens/blob/main/RUNBOOK.md#"

// CheckAlerts checks every alert of s: a severity label (critical, warning
// or info), a `for`, a summary, a description that shows the value through
// a humanize function, and a runbook_url pointing at the alert's own section
// of the runbook (runbook is RUNBOOK.md's content).
func CheckAlerts(s Set, runbook []byte) error {
	anchors := MarkdownAnchors(runbook)
	var errs []error
	alerts := s.Alerts()
	if len(alerts) == 0 {
		return errors.New("no alerting rules")
	}
	for _, a := range alerts {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("alert %s: %s", a.Alert, fmt.Sprintf(format, args...)))
		}
		if sev := a.Labels["severity"]; sev != "critical" && sev != "warning" && sev != "info" {
			bad("severity label %q is not one of critical, warning, info", a.Labels["severity"])
		}
		if time.Duration(a.For) <= 0 {
			bad("no `for`")
		}
		if strings.TrimSpace(a.Annotations["summary"]) == "" {
			bad("no summary annotation")
		}
		if !valueShown.MatchString(a.Annotations["description"]) {
			bad("description does not show the value with {{ $value | humanize... }}")
		}
		want := RunbookBase + strings.ToLower(a.Alert)
		if got := a.Annotations["runbook_url"]; got != want {
			bad("runbook_url is %q, want %q", got, want)
		}
		if !anchors[strings.ToLower(a.Alert)] {
			bad("RUNBOOK.md has no section with anchor #%s (a heading \"## %s\")", strings.ToLower(a.Alert), a.Alert)
		}
	}
	return errors.Join(errs...)
}

var valueShown = regexp.MustCompile(`\{\{\s*\$value\s*\|\s*humanize\w*\s*\}\}`)

// MarkdownAnchors returns the anchors GitHub derives from the headings of a
// Markdown document: lower case, punctuation dropped, spaces as hyphens,
// repeated headings suffixed -1, -2...
func MarkdownAnchors(doc []byte) map[string]bool {
	anchors := map[string]bool{}
	counts := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(doc), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if !strings.HasPrefix(text, " ") {
			continue
		}
		a := anchorOf(strings.TrimSpace(text))
		if n := counts[a]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			anchors[a] = true
		}
		counts[a]++
	}
	return anchors
}

func anchorOf(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
