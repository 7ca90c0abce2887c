package contract

var k6Labels = []Label{
	{"testid", "one value per test run"},
	{"scenario", "scenarios defined in loadtest/k6"},
}

// k6 timing trends of every HTTP request: k6 splits http_req_duration
// (sending + waiting + receiving) and reports the connection phases before it.
const (
	K6HTTPReqDuration       = "k6_http_req_duration_seconds"
	K6HTTPReqBlocked        = "k6_http_req_blocked_seconds"
	K6HTTPReqConnecting     = "k6_http_req_connecting_seconds"
	K6HTTPReqTLSHandshaking = "k6_http_req_tls_handshaking_seconds"
	K6HTTPReqSending        = "k6_http_req_sending_seconds"
	K6HTTPReqWaiting        = "k6_http_req_waiting_seconds"
	K6HTTPReqReceiving      = "k6_http_req_receiving_seconds"
	K6IterationDuration     = "k6_iteration_duration_seconds"
)

// ConditionK6DroppedIterations marks k6_dropped_iterations_total: k6 sends
// it only once an arrival-rate scenario has had to drop an iteration.
const ConditionK6DroppedIterations = "k6 dropped iterations"

func k6Trend(name, help string) Family {
	return Family{Name: name, Type: Histogram, Unit: "seconds", Producer: K6, Help: help,
		Labels: append(k6Labels, Label{"name", "request names set by the scenarios"})}
}

// k6Families arrive through k6's Prometheus remote-write output with trend
// metrics as native histograms (K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM).
// Run tags (testid, test_type, environment) are labels of every series.
var k6Families = []Family{
	{Name: "k6_http_reqs_total", Type: Counter, Producer: K6, Help: "HTTP requests k6 made.",
		Labels: append(k6Labels, Label{"name", "request names set by the scenarios"}, Label{"status", "HTTP status codes"})},
	k6Trend(K6HTTPReqDuration, "k6 request duration: sending + waiting + receiving (native histogram)."),
	k6Trend(K6HTTPReqBlocked, "Time k6 spent blocked waiting for a free TCP connection slot (native histogram)."),
	k6Trend(K6HTTPReqConnecting, "Time k6 spent establishing TCP connections (native histogram)."),
	k6Trend(K6HTTPReqTLSHandshaking, "Time k6 spent in TLS handshakes (native histogram; 0 over plain HTTP)."),
	k6Trend(K6HTTPReqSending, "Time k6 spent sending request data (native histogram)."),
	k6Trend(K6HTTPReqWaiting, "Time k6 waited for the first response byte, the server's share (native histogram)."),
	k6Trend(K6HTTPReqReceiving, "Time k6 spent receiving response data (native histogram)."),
	{Name: K6IterationDuration, Type: Histogram, Unit: "seconds", Producer: K6, Labels: k6Labels,
		Help: "Duration of complete scenario iterations (native histogram)."},
	{Name: "k6_http_req_failed_rate", Type: Gauge, Unit: "ratio", Producer: K6, Help: "Share of failed k6 requests.", Labels: k6Labels},
	{Name: "k6_vus", Type: Gauge, Producer: K6, Help: "Active virtual users.", Labels: k6Labels[:1]},
	{Name: "k6_vus_max", Type: Gauge, Producer: K6, Help: "Virtual users allocated (the scenario's maximum).", Labels: k6Labels[:1]},
	{Name: "k6_iterations_total", Type: Counter, Producer: K6, Help: "Scenario iterations completed.", Labels: k6Labels},
	{Name: "k6_dropped_iterations_total", Type: Counter, Producer: K6, Condition: ConditionK6DroppedIterations,
		Help: "Iterations an arrival-rate scenario could not start for lack of free VUs.", Labels: k6Labels},
	{Name: "k6_checks_rate", Type: Gauge, Unit: "ratio", Producer: K6, Help: "Share of passing checks.",
		Labels: append(k6Labels, Label{"check", "check names in the scenarios"})},
	{Name: "k6_data_sent_total", Type: Counter, Producer: K6, Help: "Bytes k6 sent.", Labels: k6Labels[:1]},
	{Name: "k6_data_received_total", Type: Counter, Producer: K6, Help: "Bytes k6 received.", Labels: k6Labels[:1]},
}
