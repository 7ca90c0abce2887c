package rules

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Shortening is how a test copy of the rules shortens durations: each is
// divided by Divisor, never going below MinRange (windows) or MinFor (`for`)
// and never above the original. The floors follow the test Prometheus's
// scrape and evaluation intervals: a window needs a few scrapes, a `for`
// at least one evaluation.
type Shortening struct {
	Divisor  int
	MinRange time.Duration
	MinFor   time.Duration
}

// TestShortening is the copy for live tests that scrape every 5 s:
// production 1m/5m/30m/1h/6h windows become 20s/25s/2m30s/5m/30m; `for`
// 1m/2m/5m/10m/15m becomes 5s/10s/25s/50s/1m15s.
var TestShortening = Shortening{Divisor: 12, MinRange: 20 * time.Second, MinFor: 5 * time.Second}

func (sh Shortening) duration(d, floor time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	s := (d / time.Duration(sh.Divisor)).Round(time.Second)
	if s < floor {
		s = floor
	}
	if s > d {
		s = d
	}
	return s
}

// Apply returns a copy of s for live tests: every alert's `for` and every
// range selector's window is shortened; nothing else changes. Record and
// alert names stay the same, so the copy replaces the shipped rules one for
// one. The shipped rules keep production windows.
func (sh Shortening) Apply(s Set) (Set, error) {
	out := s.clone()
	for i := range out.Files {
		f := &out.Files[i]
		for j := range f.Groups {
			g := &f.Groups[j]
			for k := range g.Rules {
				r := &g.Rules[k]
				expr, err := sh.shortenExpr(r.Expr)
				if err != nil {
					return Set{}, fmt.Errorf("%s: %s: %w", f.Name, ruleName(*r), err)
				}
				r.Expr = expr
				r.For = model.Duration(sh.duration(time.Duration(r.For), sh.MinFor))
				r.KeepFiringFor = model.Duration(sh.duration(time.Duration(r.KeepFiringFor), sh.MinFor))
			}
		}
	}
	return out, nil
}

func ruleName(r rulefmt.Rule) string {
	if r.Alert != "" {
		return "alert " + r.Alert
	}
	return "record " + r.Record
}

// shortenExpr rewrites the text of every range selector's window in expr,
// keeping the rest of the text (formatting included) byte for byte.
func (sh Shortening) shortenExpr(expr string) (string, error) {
	ast, err := newParser().ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("parse expression: %w", err)
	}
	type edit struct {
		open, close int // byte offsets of '[' and ']'
		text        string
	}
	var edits []edit
	var walkErr error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.SubqueryExpr:
			walkErr = errors.Join(walkErr, errors.New("subqueries are not supported: their windows could not be shortened"))
		case *parser.MatrixSelector:
			if n.RangeExpr != nil {
				walkErr = errors.Join(walkErr, errors.New("range duration expressions are not supported: use a literal duration"))
				return nil
			}
			end := int(n.EndPos)
			if end < 1 || end > len(expr) || expr[end-1] != ']' {
				walkErr = errors.Join(walkErr, fmt.Errorf("cannot locate the range of %s", n))
				return nil
			}
			open := strings.LastIndexByte(expr[:end-1], '[')
			if open < 0 {
				walkErr = errors.Join(walkErr, fmt.Errorf("cannot locate the range of %s", n))
				return nil
			}
			d := sh.duration(n.Range, sh.MinRange)
			edits = append(edits, edit{open: open, close: end - 1, text: model.Duration(d).String()})
		case *parser.VectorSelector:
			if n.OriginalOffset != 0 || n.OriginalOffsetExpr != nil || n.Timestamp != nil || n.StartOrEnd != 0 {
				walkErr = errors.Join(walkErr, fmt.Errorf("offset and @ modifiers are not supported: %s", n))
			}
		}
		return nil
	})
	if walkErr != nil {
		return "", walkErr
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].open > edits[j].open })
	out := expr
	for _, e := range edits {
		out = out[:e.open+1] + e.text + out[e.close:]
	}
	return out, nil
}

// DiffIgnoringDurations returns an error naming every difference between a
// and b other than durations: alert `for`/`keep_firing_for` and the windows
// of range selectors. It proves the test copy tests the shipped logic.
func DiffIgnoringDurations(a, b Set) error {
	na, err := normalized(a)
	if err != nil {
		return fmt.Errorf("first set: %w", err)
	}
	nb, err := normalized(b)
	if err != nil {
		return fmt.Errorf("second set: %w", err)
	}
	if len(na.Files) != len(nb.Files) {
		return fmt.Errorf("%d files against %d", len(na.Files), len(nb.Files))
	}
	var errs []error
	for i := range na.Files {
		fa, fb := na.Files[i], nb.Files[i]
		if fa.Name != fb.Name {
			errs = append(errs, fmt.Errorf("file %d: %s against %s", i, fa.Name, fb.Name))
			continue
		}
		if len(fa.Groups) != len(fb.Groups) {
			errs = append(errs, fmt.Errorf("%s: %d groups against %d", fa.Name, len(fa.Groups), len(fb.Groups)))
			continue
		}
		for j := range fa.Groups {
			ga, gb := fa.Groups[j], fb.Groups[j]
			ra, rb := ga.Rules, gb.Rules
			ga.Rules, gb.Rules = nil, nil
			if !reflect.DeepEqual(ga, gb) {
				errs = append(errs, fmt.Errorf("%s: group %q differs: %+v against %+v", fa.Name, ga.Name, ga, gb))
			}
			if len(ra) != len(rb) {
				errs = append(errs, fmt.Errorf("%s: group %q: %d rules against %d", fa.Name, ga.Name, len(ra), len(rb)))
				continue
			}
			for k := range ra {
				if !reflect.DeepEqual(ra[k], rb[k]) {
					errs = append(errs, fmt.Errorf("%s: %s differs beyond durations: %+v against %+v", fa.Name, ruleName(ra[k]), ra[k], rb[k]))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// normalized zeroes every duration and replaces each expression by the
// canonical text of its AST with every window zeroed.
func normalized(s Set) (Set, error) {
	out := s.clone()
	for i := range out.Files {
		for j := range out.Files[i].Groups {
			for k := range out.Files[i].Groups[j].Rules {
				r := &out.Files[i].Groups[j].Rules[k]
				ast, err := newParser().ParseExpr(r.Expr)
				if err != nil {
					return Set{}, fmt.Errorf("%s: parse expression: %w", ruleName(*r), err)
				}
				parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
					switch n := node.(type) {
					case *parser.MatrixSelector:
						n.Range = 0
					case *parser.SubqueryExpr:
						n.Range = 0
					}
					return nil
				})
				r.Expr = ast.String()
				r.For = 0
				r.KeepFiringFor = 0
			}
		}
	}
	return out, nil
}
