// Package contract names every metric family loadlens promises: what the
// demo service, loadlens-exporter and k6 expose, and what dashboards,
// recording rules, alerts, HPA objects and the report may read.
//
// Each producer lists its families in its own file (demo.go, exporter_*.go,
// k6.go). A shared test helper (contracttest) proves that a running producer
// really exposes each of its families, and the generators and rule tests
// check every metric name they use against All.
package contract

import (
	"fmt"
	"sort"
	"strings"
)

// Type is the Prometheus type of a family as scraped.
type Type string

// Family types. Info families are gauges set to 1; StateSet families are
// gauges with one series per possible state, exactly one of them 1.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
	Info      Type = "info"
	StateSet  Type = "stateset"
)

// Producer is the component that exposes a family.
type Producer string

// Producers.
const (
	Demo      Producer = "demo"       // the demo service's public /metrics (OpenTelemetry)
	DemoAdmin Producer = "demo-admin" // the demo service's admin /metrics (Go runtime, process)
	Exporter  Producer = "exporter"   // loadlens-exporter /metrics
	K6        Producer = "k6"         // k6 remote write into Prometheus
	Rules     Producer = "rules"      // Prometheus recording rules
)

// Label is one label of a family and what bounds its cardinality.
type Label struct {
	Name  string
	Bound string // e.g. "route patterns registered on the mux, plus one unmatched value"
}

// Family is one metric family as it appears in Prometheus.
type Family struct {
	Name     string // exposition name, e.g. http_server_request_duration_seconds
	Type     Type
	Unit     string // base unit: seconds, bytes, ratio, or "" for counts
	Help     string
	Labels   []Label
	Producer Producer
	// Condition, when set, names what must exist for the family to have
	// samples (e.g. "kubernetes": an HPA to watch). Families without a
	// condition must be exposed by every running producer.
	Condition string
}

// LabelNames returns the family's label names in declaration order.
func (f Family) LabelNames() []string {
	out := make([]string, len(f.Labels))
	for i, l := range f.Labels {
		out[i] = l.Name
	}
	return out
}

// SeriesNames returns the names under which the family's samples appear in
// Prometheus: histograms expand to _bucket, _sum and _count.
func (f Family) SeriesNames() []string {
	if f.Type == Histogram {
		return []string{f.Name + "_bucket", f.Name + "_sum", f.Name + "_count", f.Name}
	}
	return []string{f.Name}
}

// All returns every family the product promises, sorted by name.
func All() []Family {
	var all []Family
	for _, group := range [][]Family{demoFamilies, demoAdminFamilies, k6Families, exporterFamilies(), rulesFamilies} {
		all = append(all, group...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all
}

// ByProducer returns the families of one producer, sorted by name.
func ByProducer(p Producer) []Family {
	var out []Family
	for _, f := range All() {
		if f.Producer == p {
			out = append(out, f)
		}
	}
	return out
}

// Lookup finds a family by exposition name, accepting histogram series
// suffixes (_bucket, _sum, _count) and the recorded names of rules.
func Lookup(series string) (Family, bool) {
	for _, f := range All() {
		for _, n := range f.SeriesNames() {
			if n == series {
				return f, true
			}
		}
	}
	return Family{}, false
}

// Validate checks the contract itself: unique names, naming conventions.
func Validate() error { return validate(All()) }

func validate(fams []Family) error {
	seen := map[string]bool{}
	var errs []string
	for _, f := range fams {
		if seen[f.Name] {
			errs = append(errs, fmt.Sprintf("%s: declared twice", f.Name))
		}
		seen[f.Name] = true
		if f.Help == "" {
			errs = append(errs, fmt.Sprintf("%s: no help text", f.Name))
		}
		if f.Type == Counter && !strings.HasSuffix(f.Name, "_total") {
			errs = append(errs, fmt.Sprintf("%s: counter without _total suffix", f.Name))
		}
		if f.Type != Counter && strings.HasSuffix(f.Name, "_total") {
			errs = append(errs, fmt.Sprintf("%s: %s with _total suffix", f.Name, f.Type))
		}
		if f.Unit == "seconds" && !strings.Contains(f.Name, "_seconds") {
			errs = append(errs, fmt.Sprintf("%s: unit seconds but no _seconds in name", f.Name))
		}
		if f.Unit == "bytes" && !strings.Contains(f.Name, "_bytes") {
			errs = append(errs, fmt.Sprintf("%s: unit bytes but no _bytes in name", f.Name))
		}
		if f.Type == Info && !strings.HasSuffix(f.Name, "_info") {
			errs = append(errs, fmt.Sprintf("%s: info family without _info suffix", f.Name))
		}
		if f.Producer == Exporter && !strings.HasPrefix(f.Name, "loadlens_") {
			errs = append(errs, fmt.Sprintf("%s: exporter family without loadlens_ prefix", f.Name))
		}
		for _, l := range f.Labels {
			if l.Bound == "" {
				errs = append(errs, fmt.Sprintf("%s: label %s has no documented bound", f.Name, l.Name))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("metric contract: %s", strings.Join(errs, "; "))
	}
	return nil
}
