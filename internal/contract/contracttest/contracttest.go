// Package contracttest checks that a running producer really exposes the
// metric families the contract promises for it.
package contracttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/loadlens/loadlens/internal/contract"
)

// Parse parses Prometheus text exposition.
func Parse(exposition []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(exposition))
}

// Scrape fetches url (a /metrics endpoint) and parses it.
func Scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s %v", url, resp.Status, err)
	}
	fams, err := Parse(body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// Missing lists the contract families of producer (those without a
// condition, plus those whose condition is in conditions) that fams lacks,
// or exposes with another type or without a declared label.
func Missing(fams map[string]*dto.MetricFamily, producer contract.Producer, conditions ...string) []string {
	var out []string
	for _, f := range contract.ByProducer(producer) {
		if f.Condition != "" && !slices.Contains(conditions, f.Condition) {
			continue
		}
		mf, ok := fams[f.Name]
		if !ok || len(mf.GetMetric()) == 0 {
			out = append(out, f.Name+": not exposed")
			continue
		}
		if want := promType(f.Type); want != mf.GetType() {
			out = append(out, fmt.Sprintf("%s: exposed as %s, contract says %s", f.Name, mf.GetType(), f.Type))
		}
		for _, l := range f.Labels {
			if !anyHasLabel(mf, l.Name) {
				out = append(out, fmt.Sprintf("%s: no series has label %s", f.Name, l.Name))
			}
		}
	}
	return out
}

// Check fails the test when fams lacks any contract family of producer.
func Check(t testing.TB, fams map[string]*dto.MetricFamily, producer contract.Producer, conditions ...string) {
	t.Helper()
	if m := Missing(fams, producer, conditions...); len(m) > 0 {
		t.Errorf("producer %s breaks the metric contract:\n  %s", producer, strings.Join(m, "\n  "))
	}
}

func promType(t contract.Type) dto.MetricType {
	switch t {
	case contract.Counter:
		return dto.MetricType_COUNTER
	case contract.Histogram:
		return dto.MetricType_HISTOGRAM
	case "summary":
		return dto.MetricType_SUMMARY
	}
	return dto.MetricType_GAUGE
}

func anyHasLabel(mf *dto.MetricFamily, name string) bool {
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == name {
				return true
			}
		}
	}
	return false
}
