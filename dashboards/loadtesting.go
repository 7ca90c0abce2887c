package dashboards

import (
	"fmt"

	c "github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/grafana"
)

// k6 series names (declared in internal/contract/k6.go).
const (
	k6Reqs       = "k6_http_reqs_total"
	k6VUs        = "k6_vus"
	k6VUsMax     = "k6_vus_max"
	k6Failed     = "k6_http_req_failed_rate"
	k6Checks     = "k6_checks_rate"
	k6Iterations = "k6_iterations_total"
	k6Dropped    = "k6_dropped_iterations_total"
	k6DataSent   = "k6_data_sent_total"
	k6DataRecv   = "k6_data_received_total"
)

// k6Sel selects the chosen runs: every loadlens run is tagged with testid,
// test_type and environment (loadtest's runner passes them as --tag).
const k6Sel = `testid=~"$testid", test_type=~"$test_type", environment=~"$environment"`

const k6Failures = `status!~"[23].."` // k6's default: any status outside 200-399, 0 for network errors

func k6(metric string, extra ...string) string {
	return metric + "{" + sel(append([]string{k6Sel}, extra...)...) + "}"
}

func k6Rate(metric string, extra ...string) string {
	return "rate(" + k6(metric, extra...) + "[$__rate_interval])"
}

// k6Quantile is a quantile of a k6 native histogram over the rate window.
func k6Quantile(qq float64, metric, by string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum%s (%s))", qq, byClause(by), k6Rate(metric))
}

// k6RunQuantile is a quantile over the whole time range (tables, stats).
func k6RunQuantile(qq float64, metric, by string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum%s (increase(%s[$__range])))", qq, byClause(by), k6(metric))
}

// k6Mean is the mean of a k6 native histogram over the rate window
// (histogram_avg needs Prometheus 2.50; sum/count works from 2.40).
func k6Mean(metric, by string) string {
	r := fmt.Sprintf("sum%s (%s)", byClause(by), k6Rate(metric))
	return fmt.Sprintf("histogram_sum(%s) / histogram_count(%s)", r, r)
}

func byClause(by string) string {
	if by == "" {
		return ""
	}
	return " by (" + by + ")"
}

// k6RunTotal is a counter's total per group over the range: k6 counters
// start at 0 with every run, so the maximum is the run's total.
func k6RunTotal(metric, by string, extra ...string) string {
	return fmt.Sprintf("sum%s (max_over_time(%s[$__range]))", byClause(by), k6(metric, extra...))
}

// k6ErrorRatio is the share of failed requests; groups without a failure
// show 0 rather than nothing.
func k6ErrorRatio(by string, run bool) string {
	count := func(extra ...string) string {
		if run {
			return k6RunTotal(k6Reqs, by, extra...)
		}
		return fmt.Sprintf("sum%s (%s)", byClause(by), k6Rate(k6Reqs, extra...))
	}
	return fmt.Sprintf("(%s or 0 * %s) / %s", count(k6Failures), count(), count())
}

const nsSel = `namespace=~"$namespace"`

// LoadTesting is the dashboard a person watches during a k6 run: what k6
// measured, what the service and its dependencies did meanwhile, and how
// runs compare.
func LoadTesting() *grafana.Dashboard {
	d := &grafana.Dashboard{
		UID:         "loadlens-load-testing",
		Title:       "loadlens / Load Testing",
		Description: "k6 runs (remote write, native histograms) next to what the demo service, its pools and caches did meanwhile.",
		Tags:        []string{Tag, "k6"},
		Datasource:  datasource(),
		Refresh:     "10s",
		From:        "now-30m",
		LinkTag:     Tag,
		Variables: []grafana.Variable{
			queryVar("environment", "Environment", "k6 run tag environment (loadtest --environment).",
				"label_values("+k6VUs+", environment)"),
			queryVar("test_type", "Test type", "k6 run tag test_type: smoke, load, stress, spike, soak, breakpoint...",
				`label_values(`+k6VUs+`{environment=~"$environment"}, test_type)`),
			{Name: "testid", Label: "Test run", Description: "k6 run tag testid; select several runs to compare them.",
				Type: "query", Query: `label_values(` + k6VUs + `{environment=~"$environment", test_type=~"$test_type"}, testid)`,
				Multi: true, IncludeAll: true, AllValue: ".*", Default: "$__all", Sort: 2},
			queryVar("namespace", "Namespace", "Namespace of the demo service (server-side panels).",
				"label_values("+c.RuleRequestRate+", namespace)"),
		},
		Annotations: []grafana.Annotation{
			{Name: "k6 runs", Enabled: true, Color: "rgba(31, 120, 193, 0.5)", Step: "10s",
				Expr:        fmt.Sprintf("sum by (testid) (%s) > 0", k6(k6VUs)),
				TitleFormat: "k6 run {{testid}}", TextFormat: "from the first to the last sample of k6_vus", TagKeys: "testid"},
			{Name: "Alerts firing", Enabled: true, Color: "red", Step: "10s",
				Expr:        `max by (alertname, severity) (ALERTS{alertname=~"Loadlens.*", alertstate="firing"})`,
				TitleFormat: "{{alertname}}", TagKeys: "alertname,severity"},
		},
	}

	overview := []*grafana.Panel{
		stat("Peak VUs", "Highest number of active virtual users (summed over the selected runs).", "none",
			in(fmt.Sprintf("sum(max_over_time(%s[$__range]))", k6(k6VUs)), "VUs"), steps("blue")),
		stat("Requests", "HTTP requests k6 made in the time range.", "short",
			in(k6RunTotal(k6Reqs, ""), "requests"), steps("blue")),
		stat("Peak throughput", "Highest 1-minute request rate of any selected run (recording rule "+c.RuleK6RequestRate+").", "reqps",
			in(fmt.Sprintf(`max(max_over_time(%s{testid=~"$testid"}[$__range]))`, c.RuleK6RequestRate), "req/s"), steps("blue")),
		stat("Error rate", "Share of requests with a status outside 200-399 (or none) over the time range.", "percentunit",
			in(k6ErrorRatio("", true), "errors"), steps("green", slaErrors, "orange", 0.05, "red")),
		stat("p95 latency", "95th percentile of http_req_duration over the time range (SLA 300 ms).", "s",
			in(k6RunQuantile(0.95, c.K6HTTPReqDuration, ""), "p95"), steps("green", slaP95, "orange", slaP95*2, "red")),
		stat("p99 latency", "99th percentile of http_req_duration over the time range (SLA 500 ms).", "s",
			in(k6RunQuantile(0.99, c.K6HTTPReqDuration, ""), "p99"), steps("green", slaP99, "orange", slaP99*2, "red")),
		stat("Worst check", "Pass rate of the worst check (threshold: 99% of checks pass).", "percentunit",
			in(fmt.Sprintf("min(last_over_time(%s[$__range]))", k6(k6Checks)), "checks"), steps("red", 0.95, "orange", 0.99, "green")),
		stat("Dropped iterations", "Iterations an arrival-rate scenario could not start because every VU was busy: the load generator, not the service, was the limit.", "short",
			in(k6RunTotal(k6Dropped, "")+" or vector(0)", "dropped"), steps("green", 1, "orange", 100, "red")),
	}

	vusVsRPS := timeseries("Throughput vs virtual users",
		"Requests per second (left) against active VUs (right, dashed). Where VUs keep rising and req/s flattens, the service has reached its breaking point.",
		"reqps", 12, 9,
		q(fmt.Sprintf("sum by (testid) (%s)", k6Rate(k6Reqs)), "{{testid}} req/s"),
		q(fmt.Sprintf("sum by (testid) (%s)", k6(k6VUs)), "{{testid}} VUs"))
	rightAxis(vusVsRPS, "B", "none")

	vus := timeseries("Virtual users", "Active VUs and the VUs k6 allocated (max).", "none", 12, 9,
		q(fmt.Sprintf("sum by (testid) (%s)", k6(k6VUs)), "{{testid}} active"),
		q(fmt.Sprintf("sum by (testid) (%s)", k6(k6VUsMax)), "{{testid}} allocated"))
	dashedLimit(vus, "B", "orange")

	iterations := timeseries("Iterations", "Completed iterations per second by scenario, and iterations dropped per second (red).", "ops", 12, 8,
		q(fmt.Sprintf("sum by (scenario) (%s)", k6Rate(k6Iterations)), "{{scenario}} completed"),
		q(fmt.Sprintf("sum(%s) or vector(0)", k6Rate(k6Dropped)), "dropped"))
	color(iterations, "byFrameRefID", "B", "red")

	traffic := []*grafana.Panel{
		vusVsRPS, vus,
		timeseries("Requests per second by endpoint", "k6 request rate per request name (the route pattern).", "reqps", 12, 8,
			q(fmt.Sprintf("sum by (name) (%s)", k6Rate(k6Reqs)), "{{name}}")),
		iterations,
		timeseries("Network throughput", "Bytes per second k6 sent and received.", "Bps", 12, 7,
			q(fmt.Sprintf("sum(%s)", k6Rate(k6DataSent)), "sent"),
			q(fmt.Sprintf("sum(%s)", k6Rate(k6DataRecv)), "received")),
		timeseries("Iteration duration", "Duration of whole scenario iterations (requests plus think time).", "s", 12, 7,
			q(k6Quantile(0.5, c.K6IterationDuration, ""), "p50"),
			q(k6Quantile(0.95, c.K6IterationDuration, ""), "p95")),
	}

	percentiles := withThresholds(timeseries("Request duration percentiles",
		"p50/p90/p95/p99 of http_req_duration from k6's native histograms; dashed lines are the SLAs (p95 300 ms, p99 500 ms).",
		"s", 12, 9,
		q(k6Quantile(0.50, c.K6HTTPReqDuration, "testid"), "{{testid}} p50"),
		q(k6Quantile(0.90, c.K6HTTPReqDuration, "testid"), "{{testid}} p90"),
		q(k6Quantile(0.95, c.K6HTTPReqDuration, "testid"), "{{testid}} p95"),
		q(k6Quantile(0.99, c.K6HTTPReqDuration, "testid"), "{{testid}} p99")),
		steps("green", slaP95, "orange", slaP99, "red"))

	var breakdown []grafana.Target
	for _, phase := range []struct{ metric, name string }{
		{c.K6HTTPReqBlocked, "blocked"}, {c.K6HTTPReqConnecting, "connecting"}, {c.K6HTTPReqTLSHandshaking, "TLS handshaking"},
		{c.K6HTTPReqSending, "sending"}, {c.K6HTTPReqWaiting, "waiting (TTFB)"}, {c.K6HTTPReqReceiving, "receiving"},
	} {
		breakdown = append(breakdown, q(k6Mean(phase.metric, ""), phase.name))
	}
	timing := stacked(timeseries("Request timing breakdown",
		"Mean time per request in each phase k6 measures. Waiting is the server's time to first byte; growing blocked or connecting time means k6 (or a proxy) ran out of connections.",
		"s", 12, 9, breakdown...))

	ttfb := timeseries("Time to first byte vs server latency",
		"k6's p95 waiting time against the service's own p95 (recording rule). A widening gap is time spent outside the handler: network, accept queue, load balancer.",
		"s", 12, 8,
		q(k6Quantile(0.95, c.K6HTTPReqWaiting, ""), "k6 waiting p95"),
		q(fmt.Sprintf(`max(%s{%s, quantile="0.95"})`, c.RuleLatencyQuantile, nsSel), "server p95"))

	heat := &grafana.Panel{Type: "heatmap", Title: "Request duration heatmap",
		Description: "Distribution of k6 request durations over time, from the native histogram's buckets.",
		W:           24, H: 8, Targets: []grafana.Target{{Expr: fmt.Sprintf("sum(%s)", k6Rate(c.K6HTTPReqDuration)), Format: "heatmap", Legend: "{{le}}"}},
		Field:   grafana.Field{Unit: "s"},
		Options: map[string]any{"yAxis": map[string]any{"axisPlacement": "left", "unit": "s", "reverse": false}}}

	latency := []*grafana.Panel{
		percentiles, timeseries("p95 latency by endpoint", "95th percentile of http_req_duration per request name.", "s", 12, 9,
			q(k6Quantile(0.95, c.K6HTTPReqDuration, "name"), "{{name}}")),
		timing, ttfb, heat,
	}

	failed := withThresholds(ratio(timeseries("Failed request rate",
		"Share of failed requests per run: over the last minute (recording rule "+c.RuleK6FailedRatio+") and k6's cumulative http_req_failed rate.",
		"percentunit", 8, 8,
		// The rule records nothing while no request fails: show 0 then.
		q(fmt.Sprintf(`%s{testid=~"$testid"} or 0 * %s{testid=~"$testid"}`, c.RuleK6FailedRatio, c.RuleK6RequestRate), "{{testid}} last 1m"),
		q(fmt.Sprintf("avg by (testid) (%s)", k6(k6Failed)), "{{testid}} cumulative"))),
		steps("green", slaErrors, "orange", 0.05, "red"))

	errByEndpoint := bars(timeseries("Errors by endpoint and status",
		"Failed requests per second by request name and status. Status 0 is a network error or timeout; a series at 0 with status \"none\" is an endpoint without failures.",
		"reqps", 8, 8,
		q(fmt.Sprintf(`sum by (name, status) (%s) or on (name) label_replace(0 * sum by (name) (%s), "status", "none", "", "")`,
			k6Rate(k6Reqs, k6Failures), k6Rate(k6Reqs)), "{{name}} {{status}}")))
	stacked(errByEndpoint)

	byStatus := stacked(timeseries("Responses by status", "k6 responses per second by HTTP status (0 = no response).", "reqps", 8, 8,
		q(fmt.Sprintf("sum by (status) (%s)", k6Rate(k6Reqs)), "{{status}}")))
	color(byStatus, "byRegexp", "^2..$", "green")
	color(byStatus, "byRegexp", "^4..$", "orange")
	color(byStatus, "byRegexp", "^(5..|0)$", "red")

	errors := []*grafana.Panel{
		failed, errByEndpoint, byStatus,
		withThresholds(ratio(timeseries("Error ratio by endpoint", "Share of failed requests per request name.", "percentunit", 12, 8,
			q(k6ErrorRatio("name", false), "{{name}}"))), steps("green", slaErrors, "orange", 0.05, "red")),
		withThresholds(ratio(timeseries("Checks pass rate", "Cumulative pass rate of each k6 check (the run's threshold is 99%).", "percentunit", 12, 8,
			q(fmt.Sprintf("min by (check) (%s)", k6(k6Checks)), "{{check}}"))), steps("red", 0.95, "orange", 0.99, "green")),
	}

	endpoints := mergedTable("Endpoints",
		"Per request name over the time range: requests, mean rate, error ratio, latency percentiles and mean time to first byte. Cells turn orange/red past the SLA.",
		24, 9, []string{"name"},
		tbl(k6RunTotal(k6Reqs, "name")),
		tbl(fmt.Sprintf("sum by (name) (rate(%s[$__range]))", k6(k6Reqs))),
		tbl(k6ErrorRatio("name", true)),
		tbl(k6RunQuantile(0.5, c.K6HTTPReqDuration, "name")),
		tbl(k6RunQuantile(0.95, c.K6HTTPReqDuration, "name")),
		tbl(k6RunQuantile(0.99, c.K6HTTPReqDuration, "name")),
		tbl(fmt.Sprintf("histogram_sum(sum by (name) (increase(%[1]s[$__range]))) / histogram_count(sum by (name) (increase(%[1]s[$__range])))", k6(c.K6HTTPReqWaiting))))
	keyColumn(endpoints, "name", "Endpoint")
	tableColumn(endpoints, "A", "Requests", "short", nil)
	tableColumn(endpoints, "B", "Mean req/s", "reqps", nil)
	tableColumn(endpoints, "C", "Errors", "percentunit", colouredCell(steps("green", slaErrors, "orange", 0.05, "red")))
	tableColumn(endpoints, "D", "p50", "s", nil)
	tableColumn(endpoints, "E", "p95", "s", colouredCell(steps("green", slaP95, "orange", slaP99, "red")))
	tableColumn(endpoints, "F", "p99", "s", colouredCell(steps("green", slaP99, "orange", 1.0, "red")))
	tableColumn(endpoints, "G", "Mean TTFB", "s", nil)

	poolSat := withThresholds(ratio(timeseries("Connection saturation",
		"Client pools (used over max connections, per pool, worst pod) and the PostgreSQL server (backends over the slots open to ordinary roles). At 1 requests queue for a connection or PostgreSQL refuses new clients.",
		"percentunit", 8, 8,
		q(fmt.Sprintf("max by (db_client_connection_pool_name) (%s{%s})", c.RulePoolSaturation, nsSel), "{{db_client_connection_pool_name}} pool"),
		q(fmt.Sprintf("max(%s{%s})", c.RulePostgresConnectionSaturation, nsSel), "PostgreSQL server"))),
		steps("green", warnSaturate, "orange", critSaturate, "red"))

	cacheHit := ratio(timeseries("Cache hit ratio",
		"Application caches (per logical cache, 1m) and Redis keyspace lookups (5m). A collapsing hit ratio sends the load to PostgreSQL.",
		"percentunit", 8, 8,
		q(fmt.Sprintf("avg by (cache_name) (%s{%s})", c.RuleAppCacheHitRatio, nsSel), "app cache {{cache_name}}"),
		q(fmt.Sprintf("avg(%s{%s})", c.RuleRedisHitRatio, nsSel), "Redis keyspace")))

	replicas := timeseries("Replicas during the test",
		"Pods serving requests (pods with a request rate), and on Kubernetes the HPA's current and desired replicas.",
		"none", 8, 8,
		q(fmt.Sprintf("count(%s{%s})", c.RulePodRequestRate, nsSel), "pods serving"),
		k8s(q(fmt.Sprintf("sum(%s{%s})", hpaCurrent, nsSel), "HPA current")),
		k8s(q(fmt.Sprintf("sum(%s{%s})", hpaDesired, nsSel), "HPA desired")))
	dashedLimit(replicas, "C", "orange")

	server := []*grafana.Panel{
		withThresholds(timeseries("Server p95 latency by route", "The service's own p95 per route (recording rule "+c.RuleRouteLatencyQuantile+").", "s", 8, 8,
			q(fmt.Sprintf(`max by (http_route) (%s{%s, quantile="0.95"})`, c.RuleRouteLatencyQuantile, nsSel), "{{http_route}}")),
			steps("green", slaP95, "orange", slaP99, "red")),
		timeseries("Client vs server throughput",
			"Requests per second k6 sent against requests per second the service answered. A gap means requests that never reached the handler.",
			"reqps", 8, 8,
			q(fmt.Sprintf(`sum(%s{testid=~"$testid"})`, c.RuleK6RequestRate), "k6 sent"),
			q(fmt.Sprintf("sum(%s{%s})", c.RuleRequestRate, nsSel), "service answered")),
		timeseries("Waiting for a pool connection",
			"Average requests queued on pool acquire (seconds waited per second) and acquisitions timing out per second, per pool.",
			"short", 8, 8,
			q(fmt.Sprintf("sum by (db_client_connection_pool_name) (%s{%s})", c.RulePoolWait, nsSel), "{{db_client_connection_pool_name}} queued"),
			q(fmt.Sprintf("sum by (db_client_connection_pool_name) (%s{%s})", c.RulePoolTimeouts, nsSel), "{{db_client_connection_pool_name}} timeouts/s")),
		poolSat, cacheHit, replicas,
	}

	compare := mergedTable("Run comparison",
		"One row per selected run over the time range: when it started, how long it ran, the load it reached and how the service held up.",
		24, 8, []string{"testid"},
		tbl(fmt.Sprintf("min by (testid) (min_over_time(timestamp(%s)[$__range:10s])) * 1000", k6(k6VUs))),
		tbl(fmt.Sprintf("max by (testid) (max_over_time(timestamp(%[1]s)[$__range:10s]) - min_over_time(timestamp(%[1]s)[$__range:10s]))", k6(k6VUs))),
		tbl(fmt.Sprintf("max by (testid) (max_over_time(%s[$__range]))", k6(k6VUs))),
		tbl(k6RunTotal(k6Reqs, "testid")),
		tbl(fmt.Sprintf(`max by (testid) (max_over_time(%s{testid=~"$testid"}[$__range]))`, c.RuleK6RequestRate)),
		tbl(k6ErrorRatio("testid", true)),
		tbl(k6RunQuantile(0.5, c.K6HTTPReqDuration, "testid")),
		tbl(k6RunQuantile(0.95, c.K6HTTPReqDuration, "testid")),
		tbl(k6RunQuantile(0.99, c.K6HTTPReqDuration, "testid")),
		tbl(fmt.Sprintf("min by (testid) (last_over_time(%s[$__range]))", k6(k6Checks))))
	keyColumn(compare, "testid", "Run")
	tableColumn(compare, "A", "Started", "dateTimeAsIso", nil)
	tableColumn(compare, "B", "Duration", "s", nil)
	tableColumn(compare, "C", "Peak VUs", "none", nil)
	tableColumn(compare, "D", "Requests", "short", nil)
	tableColumn(compare, "E", "Peak req/s", "reqps", nil)
	tableColumn(compare, "F", "Errors", "percentunit", colouredCell(steps("green", slaErrors, "orange", 0.05, "red")))
	tableColumn(compare, "G", "p50", "s", nil)
	tableColumn(compare, "H", "p95", "s", colouredCell(steps("green", slaP95, "orange", slaP99, "red")))
	tableColumn(compare, "I", "p99", "s", colouredCell(steps("green", slaP99, "orange", 1.0, "red")))
	tableColumn(compare, "J", "Worst check", "percentunit", colouredCell(steps("red", 0.95, "orange", 0.99, "green")))

	d.Rows = []grafana.Row{
		{Title: "Overview", Panels: overview},
		{Title: "Load and throughput", Panels: traffic},
		{Title: "Latency", Panels: latency},
		{Title: "Errors and checks", Panels: errors},
		{Title: "Per endpoint", Panels: []*grafana.Panel{endpoints}},
		{Title: "Service during the test", Panels: server},
		{Title: "Comparing runs", Panels: []*grafana.Panel{compare}},
	}
	return d
}
