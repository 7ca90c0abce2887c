package contract

import (
	"strings"
	"testing"
)

func TestContractIsValid(t *testing.T) {
	if err := Validate(); err != nil {
		t.Fatal(err)
	}
	if len(All()) == 0 {
		t.Fatal("empty contract")
	}
}

func TestValidateCatchesBadFamilies(t *testing.T) {
	bad := []Family{
		{Name: "x_requests", Type: Counter, Help: "h", Producer: Demo},
		{Name: "loadlens_x_total", Type: Gauge, Help: "h", Producer: Exporter},
		{Name: "x_latency", Type: Gauge, Unit: "seconds", Help: "h", Producer: Demo},
		{Name: "x_version", Type: Info, Help: "h", Producer: Demo},
		{Name: "redis_up", Type: Gauge, Help: "h", Producer: Exporter},
		{Name: "x_y", Type: Gauge, Producer: Demo, Labels: []Label{{Name: "path"}}},
	}
	err := validate(bad)
	if err == nil {
		t.Fatal("no error for bad families")
	}
	for _, want := range []string{"x_requests: counter without _total", "loadlens_x_total: gauge with _total", "x_latency: unit seconds", "x_version: info", "redis_up: exporter family", "x_y: no help", "label path has no documented bound"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
}

func TestLookupFindsHistogramSeries(t *testing.T) {
	for _, s := range []string{HTTPRequestDuration + "_count", HTTPRequestDuration + "_bucket", HTTPRequestDuration} {
		if f, ok := Lookup(s); !ok || f.Name != HTTPRequestDuration {
			t.Errorf("Lookup(%q) = %v, %v", s, f.Name, ok)
		}
	}
	if _, ok := Lookup("no_such_metric"); ok {
		t.Error("found a metric that does not exist")
	}
}
