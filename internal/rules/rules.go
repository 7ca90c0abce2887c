// Package rules loads, validates and renders loadlens's Prometheus rules.
//
// The rule files in prometheus/rules/*.yml are the one source. From them this
// package derives the test-only copy with short `for` and windows
// (Shortening, WriteTestRules) and the Prometheus Operator
// PrometheusRule object (PrometheusRule), and checks every expression against
// the metric contract (CheckContract) and every alert's metadata against
// RUNBOOK.md (CheckAlerts).
package rules

//go:generate go run ./cmd/genrules -out ../../k8s/prometheus-operator/prometheusrule.yaml

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	shipped "github.com/loadlens/loadlens/prometheus/rules"
)

// File is one rule file: its base name and its groups.
type File struct {
	Name   string // base name, e.g. "alerts.yml"
	Groups []rulefmt.RuleGroup
}

// Set is the rule files loadlens ships (or a copy derived from them), in
// file-name order.
type Set struct {
	Files []File
}

// Shipped loads the rule files embedded from prometheus/rules.
func Shipped() (Set, error) {
	return LoadFS(shipped.FS)
}

// LoadDir loads every *.yml rule file of dir.
func LoadDir(dir string) (Set, error) {
	return LoadFS(os.DirFS(dir))
}

// LoadFS loads and validates every *.yml rule file at the root of fsys with
// Prometheus's own rule-file parser (unknown fields are errors).
func LoadFS(fsys fs.FS) (Set, error) {
	names, err := fs.Glob(fsys, "*.yml")
	if err != nil {
		return Set{}, fmt.Errorf("list rule files: %w", err)
	}
	if len(names) == 0 {
		return Set{}, errors.New("no *.yml rule files found")
	}
	sort.Strings(names)
	var s Set
	for _, name := range names {
		content, err := fs.ReadFile(fsys, name)
		if err != nil {
			return Set{}, fmt.Errorf("read rule file: %w", err)
		}
		f, err := Parse(name, content)
		if err != nil {
			return Set{}, err
		}
		s.Files = append(s.Files, f)
	}
	if err := s.checkUnique(); err != nil {
		return Set{}, err
	}
	return s, nil
}

// Parse parses one rule file's content with Prometheus's rule-file parser.
func Parse(name string, content []byte) (File, error) {
	groups, errs := rulefmt.Parse(content, false, model.LegacyValidation, newParser(), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return File{}, fmt.Errorf("rule file %s: %w", name, errors.Join(errs...))
	}
	return File{Name: name, Groups: groups.Groups}, nil
}

func newParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

// checkUnique rejects group names or alert names used twice across files:
// the PrometheusRule puts every group in one object.
func (s Set) checkUnique() error {
	groups := map[string]string{}
	alerts := map[string]bool{}
	var errs []error
	for _, f := range s.Files {
		for _, g := range f.Groups {
			if other, ok := groups[g.Name]; ok {
				errs = append(errs, fmt.Errorf("group %q in %s and %s", g.Name, other, f.Name))
			}
			groups[g.Name] = f.Name
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				if alerts[r.Alert] {
					errs = append(errs, fmt.Errorf("alert %q declared twice", r.Alert))
				}
				alerts[r.Alert] = true
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rule names: %w", errors.Join(errs...))
	}
	return nil
}

// Groups returns every group of every file, in file order.
func (s Set) Groups() []rulefmt.RuleGroup {
	var out []rulefmt.RuleGroup
	for _, f := range s.Files {
		out = append(out, f.Groups...)
	}
	return out
}

// Alerts returns every alerting rule.
func (s Set) Alerts() []rulefmt.Rule {
	var out []rulefmt.Rule
	for _, g := range s.Groups() {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// Recorded returns the names of every recording rule's output, sorted and
// without duplicates (one name may be recorded with several label sets).
func (s Set) Recorded() []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range s.Groups() {
		for _, r := range g.Rules {
			if r.Record != "" && !seen[r.Record] {
				seen[r.Record] = true
				out = append(out, r.Record)
			}
		}
	}
	sort.Strings(out)
	return out
}

// clone deep-copies the set so derived copies never share maps or slices
// with their source.
func (s Set) clone() Set {
	out := Set{Files: make([]File, len(s.Files))}
	for i, f := range s.Files {
		nf := File{Name: f.Name, Groups: make([]rulefmt.RuleGroup, len(f.Groups))}
		for j, g := range f.Groups {
			ng := g
			ng.Labels = cloneMap(g.Labels)
			ng.Rules = make([]rulefmt.Rule, len(g.Rules))
			for k, r := range g.Rules {
				nr := r
				nr.Labels = cloneMap(r.Labels)
				nr.Annotations = cloneMap(r.Annotations)
				ng.Rules[k] = nr
			}
			nf.Groups[j] = ng
		}
		out.Files[i] = nf
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Marshal renders one file of the set as a Prometheus rule file.
func (f File) Marshal() ([]byte, error) {
	return marshalYAML(rulefmt.RuleGroups{Groups: f.Groups})
}

func marshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("render YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteDir writes every file of the set into dir (created if missing) and
// returns the paths written, for Prometheus's rule_files.
func (s Set) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create rules directory: %w", err)
	}
	var paths []string
	for _, f := range s.Files {
		content, err := f.Marshal()
		if err != nil {
			return nil, fmt.Errorf("rule file %s: %w", f.Name, err)
		}
		p := filepath.Join(dir, path.Base(f.Name))
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return nil, fmt.Errorf("write rule file: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// WriteTestRules writes a test-only copy of the shipped rules (short `for`
// and windows, see Shortening) into dir and returns their paths, for a live
// test's Prometheus rule_files.
func WriteTestRules(dir string, sh Shortening) ([]string, error) {
	s, err := Shipped()
	if err != nil {
		return nil, err
	}
	short, err := sh.Apply(s)
	if err != nil {
		return nil, err
	}
	return short.WriteDir(dir)
}
