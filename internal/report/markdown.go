package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	w("# Load-test report: %s\n\n", r.TestID)
	w("| | |\n| --- | --- |\n")
	if r.Scenario != "" {
		w("| scenario | %s |\n", r.Scenario)
	}
	if r.TestType != "" && r.TestType != r.Scenario {
		w("| test type | %s |\n", r.TestType)
	}
	if r.Environment != "" {
		w("| environment | %s |\n", r.Environment)
	}
	w("| time range | %s – %s UTC (%s, from %s) |\n", r.Start.UTC().Format("2006-01-02 15:04:05"), r.End.UTC().Format("15:04:05"), r.Duration().Round(time.Second), r.RangeSource)
	if r.ExitCode != nil {
		exit := fmt.Sprint(*r.ExitCode)
		if *r.ExitCode == 99 {
			exit += " (k6 thresholds failed)"
		}
		w("| k6 exit code | %s |\n", exit)
	}
	w("| requests | %.0f (%.1f req/s mean, %.1f req/s peak) |\n", r.Overall.Requests, r.Overall.RPS, r.PeakRPS)
	w("| peak VUs | %.0f |\n\n", r.PeakVUs)

	w("## Verdict: %s\n\n", strings.ToUpper(r.Verdict.String()))
	switch r.Verdict {
	case Pass:
		w("Every endpoint met its SLA (p95, p99 and error rate).\n\n")
	default:
		for _, reason := range r.Reasons {
			w("- %s\n", reason)
		}
		w("\n_degraded_: a latency objective missed by up to %.0f×; _fail_: an error rate above its objective or a latency beyond that.\n\n", r.FailFactor)
	}

	w("## Bottlenecks\n\n")
	for _, f := range r.Bottlenecks {
		w("- %s\n", f)
	}
	w("\n")

	w("## Endpoints\n\n")
	endpointTable(&b, append([]EndpointStats{r.Overall}, r.Endpoints...))

	if len(r.Steps) > 0 {
		w("## Steps\n\n")
		if bp := r.BreakingPoint; bp != nil {
			w("**Breaking point: step %s (%s VUs)**, the first step failing the SLA: %s.\n\n", bp.Step, bp.TargetVUs, strings.Join(bp.Reasons, "; "))
		} else {
			w("No step broke the SLA.\n\n")
		}
		w("| step | VUs | requests | req/s | median | p95 | p99 | errors | SLA |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, s := range r.Steps {
			o := s.Overall
			w("| %s | %s | %.0f | %.1f | %s | %s | %s | %s | %s |\n", s.Step, s.TargetVUs, o.Requests, o.RPS, secs(o.Median), secs(o.P95), secs(o.P99), pct(o.ErrorRate), s.Verdict)
		}
		w("\n")
		for _, s := range r.Steps {
			w("### Step %s (%s VUs, %s – %s)\n\n", s.Step, s.TargetVUs, s.Start.UTC().Format("15:04:05"), s.End.UTC().Format("15:04:05"))
			endpointTable(&b, s.Endpoints)
		}
	}

	w("## Alerts fired during the run\n\n")
	if len(r.Alerts) == 0 {
		w("No alert fired.\n\n")
	} else {
		w("| alert | severity | firing from | to | labels | source |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, a := range r.Alerts {
			w("| %s | %s | %s | %s | %s | %s |\n", a.Name, a.Severity, a.First.UTC().Format("15:04:05"), a.Last.UTC().Format("15:04:05"), a.Labels, a.Source)
		}
		w("\n")
	}

	w("## Service side\n\n")
	sys := r.System
	if len(sys.Pools) > 0 {
		w("| pool | size | peak used/max | peak waiting | wait (s/s) first → last third | acquire timeouts |\n| --- | ---: | ---: | ---: | --- | ---: |\n")
		for _, p := range sys.Pools {
			w("| %s | %s | %s | %s | %.3f → %.3f | %.0f |\n", p.Name, num(p.Size), pct(p.PeakSaturation), num(p.PeakPending), p.WaitFirst, p.WaitLast, p.Timeouts)
		}
		w("\n")
	}
	if sys.Postgres != nil {
		w("PostgreSQL connections: peak %s client backends of max_connections %s, %s of the slots open to ordinary users.\n\n",
			num(sys.Postgres.PeakConnections), num(sys.Postgres.MaxConnections), pct(sys.Postgres.PeakSaturation))
	}
	if len(sys.Statements) > 0 {
		w("Slowest statements (pg_stat_statements, during the run):\n\n| queryid | query | calls | mean | total |\n| --- | --- | ---: | ---: | ---: |\n")
		for _, s := range sys.Statements {
			w("| %s | %s | %.0f | %s | %s |\n", s.QueryID, mdCell(s.Query), s.Calls, secs(s.MeanTime), secs(s.TotalTime))
		}
		w("\n")
	}
	caches := sys.Caches
	if sys.Redis != nil {
		caches = append(caches[:len(caches):len(caches)], *sys.Redis)
	}
	if len(caches) > 0 {
		w("| cache | lookups | hit ratio |\n| --- | ---: | ---: |\n")
		for _, c := range caches {
			w("| %s | %.0f | %s |\n", c.Name, c.Lookups, pct(c.HitRatio))
		}
		w("\n")
	}
	if len(sys.Replicas) > 0 {
		w("| autoscaler | min | max | final | maxReplicas |\n| --- | ---: | ---: | ---: | ---: |\n")
		for _, rs := range sys.Replicas {
			w("| %s | %.0f | %.0f | %.0f | %s |\n", rs.Name, rs.Min, rs.Max, rs.Final, num(rs.MaxReplicas))
		}
		w("\n")
	}
	if len(sys.Pools) == 0 && sys.Postgres == nil && len(caches) == 0 && len(sys.Replicas) == 0 {
		w("No service-side series in this range.\n\n")
	}

	if r.Baseline != nil {
		baselineSection(&b, r, r.Baseline)
	}

	if len(r.Charts) > 0 {
		w("## Charts\n\n")
		for _, c := range r.Charts {
			w("![%s](%s)\n\n", c.Title, c.File)
		}
	}
	if len(r.Notes) > 0 {
		w("## Notes\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	w("---\nFigures: requests and errors are the last values of k6's counters (`k6_http_reqs_total`, errors = status outside 2xx/3xx), req/s = requests / run duration, percentiles from k6's native histograms (`k6_http_req_duration_seconds`), all selected by `testid`; service-side figures are the raw series over the same range.\n")
	return b.String()
}

func endpointTable(b *strings.Builder, eps []EndpointStats) {
	fmt.Fprintf(b, "| endpoint | requests | req/s | median | p95 | p99 | error rate | SLA p95 / p99 / errors | SLA |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, e := range eps {
		sla, verdict := "", ""
		if e.Name != "all" {
			sla = fmt.Sprintf("%s / %s / %s", secs(e.SLA.P95.Seconds()), secs(e.SLA.P99.Seconds()), pct(e.SLA.MaxErrorRate))
			verdict = e.Verdict.String()
		}
		name := e.Name
		if name == "all" {
			name = "**all**"
		}
		fmt.Fprintf(b, "| %s | %.0f | %.1f | %s | %s | %s | %s | %s | %s |\n", name, e.Requests, e.RPS, secs(e.Median), secs(e.P95), secs(e.P99), pct(e.ErrorRate), sla, verdict)
	}
	b.WriteString("\n")
}

// QPS splits a run's mean throughput into reads (GET) and writes (the rest).
func (r *Report) QPS() (read, write float64) {
	for _, e := range r.Endpoints {
		if strings.HasPrefix(e.Name, "GET ") {
			read += e.RPS
		} else {
			write += e.RPS
		}
	}
	return read, write
}

func baselineSection(b *strings.Builder, r, base *Report) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Compared with baseline %s\n\n", base.TestID)
	w("Read QPS: GET requests per second; write QPS: PATCH and POST requests per second; p99 over every request.\n\n")
	w("| change | read-heavy QPS | write-heavy QPS | p99 |\n| --- | ---: | ---: | ---: |\n")
	br, bw := base.QPS()
	cr, cw := r.QPS()
	w("| baseline: %s (%s) | %.1f | %.1f | %s |\n", base.TestID, base.Scenario, br, bw, secs(base.Overall.P99))
	w("| this run: %s (%s) | %.1f | %.1f | %s |\n", r.TestID, r.Scenario, cr, cw, secs(r.Overall.P99))
	w("| delta | %s | %s | %s |\n\n", delta(br, cr), delta(bw, cw), delta(base.Overall.P99, r.Overall.P99))
	w("| endpoint | req/s before → after | p95 before → after | p99 before → after | error rate before → after |\n| --- | --- | --- | --- | --- |\n")
	before := map[string]EndpointStats{}
	for _, e := range base.Endpoints {
		before[e.Name] = e
	}
	for _, e := range r.Endpoints {
		o, ok := before[e.Name]
		if !ok {
			w("| %s | new: %.1f | new: %s | new: %s | new: %s |\n", e.Name, e.RPS, secs(e.P95), secs(e.P99), pct(e.ErrorRate))
			continue
		}
		w("| %s | %.1f → %.1f (%s) | %s → %s (%s) | %s → %s (%s) | %s → %s |\n", e.Name, o.RPS, e.RPS, delta(o.RPS, e.RPS),
			secs(o.P95), secs(e.P95), delta(o.P95, e.P95), secs(o.P99), secs(e.P99), delta(o.P99, e.P99), pct(o.ErrorRate), pct(e.ErrorRate))
	}
	w("\n")
}

// delta renders the relative change from a to b.
func delta(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) {
		return "–"
	}
	if a == 0 {
		if b == 0 {
			return "±0%"
		}
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", (b-a)/a*100)
}

// mdCell makes text safe for a table cell.
func mdCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "–"
	}
	if r := []rune(s); len(r) > 120 {
		s = string(r[:117]) + "..."
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}
