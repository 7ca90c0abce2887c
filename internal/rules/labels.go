package rules

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/loadlens/loadlens/internal/contract"
)

// outputLabels infers the label names of the series an expression returns,
// from the contract's label lists. ok is false when the expression has a
// shape the inference does not follow (then nothing is checked).
func outputLabels(node parser.Node) (map[string]bool, bool) {
	switch n := node.(type) {
	case *parser.ParenExpr:
		return outputLabels(n.Expr)
	case *parser.StepInvariantExpr:
		return outputLabels(n.Expr)
	case *parser.NumberLiteral:
		return map[string]bool{}, true
	case *parser.UnaryExpr:
		return outputLabels(n.Expr)
	case *parser.VectorSelector:
		sels, err := selectorsOf(n)
		if err != nil || len(sels) != 1 {
			return nil, false
		}
		allowed, ok := allowedLabels(sels[0].Metric)
		if !ok {
			return nil, false
		}
		return allowed, true
	case *parser.MatrixSelector:
		return outputLabels(n.VectorSelector)
	case *parser.AggregateExpr:
		if n.Without {
			return nil, false
		}
		out := map[string]bool{}
		for _, l := range n.Grouping {
			out[l] = true
		}
		return out, true
	case *parser.Call:
		switch n.Func.Name {
		case "rate", "irate", "increase", "delta", "changes", "resets", "deriv",
			"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "abs", "clamp_min", "clamp_max":
			return outputLabels(n.Args[0])
		case "histogram_quantile":
			in, ok := outputLabels(n.Args[1])
			if !ok {
				return nil, false
			}
			delete(in, "le")
			return in, true
		}
		return nil, false
	case *parser.BinaryExpr:
		lt, rt := n.LHS.Type(), n.RHS.Type()
		switch {
		case lt == parser.ValueTypeScalar:
			return outputLabels(n.RHS)
		case rt == parser.ValueTypeScalar:
			return outputLabels(n.LHS)
		}
		m := n.VectorMatching
		setOp := n.Op == parser.LAND || n.Op == parser.LOR || n.Op == parser.LUNLESS
		if m != nil && m.On && !setOp && m.Card == parser.CardOneToOne {
			out := map[string]bool{}
			for _, l := range m.MatchingLabels {
				out[l] = true
			}
			return out, true
		}
		if m != nil && !m.On && len(m.MatchingLabels) > 0 && !setOp {
			return nil, false
		}
		return outputLabels(n.LHS)
	}
	return nil, false
}

var labelRef = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// CheckOutputLabels checks that each recording rule returns exactly the
// labels the contract declares for its name (besides the rule's own
// labels), and that every {{ $labels.X }} of an alert's annotations names a
// label its expression returns.
func CheckOutputLabels(s Set) error {
	var errs []error
	for _, g := range s.Groups() {
		for _, r := range g.Rules {
			ast, err := newParser().ParseExpr(r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: parse expression: %w", ruleName(r), err))
				continue
			}
			got, ok := outputLabels(ast)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: cannot infer the labels of its result; use by (...) or on (...) explicitly", ruleName(r)))
				continue
			}
			for l := range r.Labels {
				got[l] = true
			}
			if r.Record != "" {
				f, ok := contract.Lookup(r.Record)
				if !ok {
					continue // CheckContract reports it
				}
				want := map[string]bool{}
				for _, l := range f.LabelNames() {
					want[l] = true
				}
				if g, w := keys(got), keys(want); g != w {
					errs = append(errs, fmt.Errorf("%s returns labels [%s], the contract declares [%s]", ruleName(r), g, w))
				}
				continue
			}
			for _, text := range r.Annotations {
				for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
					if !got[m[1]] {
						errs = append(errs, fmt.Errorf("%s: annotation uses $labels.%s, which its expression does not return (it returns [%s])", ruleName(r), m[1], keys(got)))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

func keys(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
