package report

import (
	"fmt"
	"math"
	"time"
)

// EndpointSLA is the service-level objective of one endpoint (a k6 request
// name, i.e. a route pattern such as "GET /users/{id}").
type EndpointSLA struct {
	P95          time.Duration
	P99          time.Duration
	MaxErrorRate float64 // share of failed requests, 0-1
}

// SLA holds the per-endpoint objectives the report judges a run against.
type SLA struct {
	Endpoints map[string]EndpointSLA
	// Default applies to request names without an entry in Endpoints.
	Default EndpointSLA
	// FailFactor: a latency above FailFactor times its objective makes the
	// run fail; between the objective and that, the run is degraded.
	// Any error rate above its objective fails. Default 2.
	FailFactor float64
}

// DefaultSLA mirrors the SLA table of loadtest/k6/lib/config.js (a test
// compares the two through k6 inspect).
func DefaultSLA() SLA {
	ms := time.Millisecond
	return SLA{
		Endpoints: map[string]EndpointSLA{
			"GET /users/{id}":   {P95: 300 * ms, P99: 500 * ms, MaxErrorRate: 0.01},
			"PATCH /users/{id}": {P95: 400 * ms, P99: 800 * ms, MaxErrorRate: 0.01},
			"GET /users":        {P95: 400 * ms, P99: 800 * ms, MaxErrorRate: 0.01},
			"POST /posts":       {P95: 500 * ms, P99: 1000 * ms, MaxErrorRate: 0.01},
			"GET /posts/{id}":   {P95: 300 * ms, P99: 500 * ms, MaxErrorRate: 0.01},
			"GET /posts":        {P95: 400 * ms, P99: 800 * ms, MaxErrorRate: 0.01},
		},
		Default:    EndpointSLA{P95: 500 * ms, P99: 1000 * ms, MaxErrorRate: 0.01},
		FailFactor: 2,
	}
}

func (s SLA) withDefaults() SLA {
	if s.Endpoints == nil && s.Default == (EndpointSLA{}) {
		return DefaultSLA()
	}
	if s.FailFactor <= 1 {
		s.FailFactor = 2
	}
	if s.Default == (EndpointSLA{}) {
		s.Default = DefaultSLA().Default
	}
	return s
}

// For returns the objective of a request name.
func (s SLA) For(name string) EndpointSLA {
	if e, ok := s.Endpoints[name]; ok {
		return e
	}
	return s.Default
}

// Verdict is the judgement of a run, a step or an endpoint against the SLA.
type Verdict int

// Verdicts, from best to worst.
const (
	Pass Verdict = iota
	Degraded
	Fail
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Degraded:
		return "degraded"
	default:
		return "fail"
	}
}

// judge compares one endpoint's figures with its objective.
func (s SLA) judge(e *EndpointStats) {
	obj := s.For(e.Name)
	e.SLA = obj
	e.Verdict = Pass
	e.Reasons = nil
	worse := func(v Verdict, reason string) {
		if v > e.Verdict {
			e.Verdict = v
		}
		e.Reasons = append(e.Reasons, reason)
	}
	if e.Requests > 0 && e.ErrorRate > obj.MaxErrorRate {
		worse(Fail, fmt.Sprintf("%s error rate %s > %s", e.Name, pct(e.ErrorRate), pct(obj.MaxErrorRate)))
	}
	for _, c := range []struct {
		label string
		got   float64
		want  time.Duration
	}{{"p95", e.P95, obj.P95}, {"p99", e.P99, obj.P99}} {
		if c.want <= 0 || math.IsNaN(c.got) {
			continue
		}
		switch {
		case c.got > c.want.Seconds()*s.FailFactor:
			worse(Fail, fmt.Sprintf("%s %s %s > %.0f× the %s objective", e.Name, c.label, secs(c.got), s.FailFactor, secs(c.want.Seconds())))
		case c.got > c.want.Seconds():
			worse(Degraded, fmt.Sprintf("%s %s %s > %s", e.Name, c.label, secs(c.got), secs(c.want.Seconds())))
		}
	}
}

// worst returns the worst verdict of the endpoints (Pass when none).
func worst(eps []EndpointStats) (Verdict, []string) {
	v := Pass
	var reasons []string
	for _, e := range eps {
		if e.Verdict > v {
			v = e.Verdict
		}
		reasons = append(reasons, e.Reasons...)
	}
	return v, reasons
}

func pct(r float64) string {
	if math.IsNaN(r) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", r*100)
}

// secs formats seconds as milliseconds (or seconds above 10 s).
func secs(s float64) string {
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		return "–"
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	case s >= 0.1:
		return fmt.Sprintf("%.0f ms", s*1000)
	default:
		return fmt.Sprintf("%.1f ms", s*1000)
	}
}
