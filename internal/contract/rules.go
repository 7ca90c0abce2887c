package contract

// Recorded names of the Prometheus recording rules in
// prometheus/rules/recording.yml (level:metric:operations). internal/rules
// tests prove each is recorded and that the rules record nothing else.
const (
	// RuleRouteRequestRate is requests per second per route.
	RuleRouteRequestRate = "namespace_job_http_route:http_server_requests:rate1m"
	// RuleRequestRate is requests per second of the whole service.
	RuleRequestRate = "namespace_job:http_server_requests:rate1m"
	// RulePodRequestRate is requests per second per pod: the HPA's input,
	// sum by (namespace, pod) (rate(http_server_request_duration_seconds_count[1m])).
	RulePodRequestRate = "namespace_pod:http_server_requests:rate1m"
	// RuleRouteErrorRatio and RuleErrorRatio are the share of 5xx answers.
	RuleRouteErrorRatio = "namespace_job_http_route:http_server_request_errors:ratio_rate1m"
	RuleErrorRatio      = "namespace_job:http_server_request_errors:ratio_rate1m"
	// RuleRouteLatencyBuckets is the per-route bucket rate the quantiles use.
	RuleRouteLatencyBuckets = "namespace_job_http_route_le:http_server_request_duration_seconds_bucket:rate1m"
	// RuleRouteLatencyQuantile and RuleLatencyQuantile carry a quantile
	// label: 0.5, 0.95 or 0.99.
	RuleRouteLatencyQuantile = "namespace_job_http_route:http_server_request_duration_seconds:histogram_quantile"
	RuleLatencyQuantile      = "namespace_job:http_server_request_duration_seconds:histogram_quantile"
	// RuleLatencySLOErrors* are the share of requests slower than the latency
	// SLO's 0.3 s over each burn-rate window.
	RuleLatencySLOErrors5m  = "namespace_job:http_server_request_latency_slo_errors:ratio_rate5m"
	RuleLatencySLOErrors30m = "namespace_job:http_server_request_latency_slo_errors:ratio_rate30m"
	RuleLatencySLOErrors1h  = "namespace_job:http_server_request_latency_slo_errors:ratio_rate1h"
	RuleLatencySLOErrors6h  = "namespace_job:http_server_request_latency_slo_errors:ratio_rate6h"
	// RulePoolSaturation is used over maximum connections per pod and pool.
	RulePoolSaturation = "namespace_pod_pool:db_client_connection_saturation:ratio"
	// RulePoolWait is seconds spent waiting for a connection per second.
	RulePoolWait = "namespace_pod_pool:db_client_connection_wait_time_seconds:rate1m"
	// RulePoolTimeouts is pool acquisitions timing out per second.
	RulePoolTimeouts = "namespace_pod_pool:db_client_connection_timeouts:rate1m"
	// RuleAppCacheRequestRate and RuleAppCacheHitRatio are per logical cache.
	RuleAppCacheRequestRate = "namespace_job_cache_name:app_cache_requests:rate1m"
	RuleAppCacheHitRatio    = "namespace_job_cache_name:app_cache_hits:ratio_rate1m"
	// RuleK6RequestRate and RuleK6FailedRatio are per k6 test run.
	RuleK6RequestRate = "testid:k6_http_reqs:rate1m"
	RuleK6FailedRatio = "testid:k6_http_req_failed:ratio_rate1m"
	// RulePostgresConnectionSaturation is backends over the slots open to
	// ordinary users (max_connections minus reserved).
	RulePostgresConnectionSaturation = "namespace_job:loadlens_postgres_connection_saturation:ratio"
	// RulePostgresStatementMeanDuration is the mean execution time of each
	// top-N statement (a statement is datname, user and queryid, as in
	// pg_stat_statements).
	RulePostgresStatementMeanDuration = "namespace_job_statement:loadlens_postgres_statement_exec_seconds:mean_rate5m"
	// RuleRedisLookupRate and RuleRedisHitRatio are Redis keyspace lookups
	// per second and the share of them that hit.
	RuleRedisLookupRate = "namespace_job:loadlens_redis_keyspace_lookups:rate5m"
	RuleRedisHitRatio   = "namespace_job:loadlens_redis_keyspace_hits:ratio_rate5m"
)

// ConditionK6Traffic marks recorded series that exist only while k6 sends
// its samples (remote write) to Prometheus.
const ConditionK6Traffic = "k6"

// Label sets of the recorded series. Recorded series keep only the labels
// they aggregate by (plus quantile for the quantiles).
var (
	ruleNamespaceLabel = Label{"namespace", "namespaces running the demo service"}
	ruleJobLabel       = Label{"job", "Prometheus jobs scraping the demo service (loadlens-demo)"}
	rulePodLabel       = Label{"pod", "pods of the demo service, bounded by the HPA's maxReplicas"}
	// Server-level rules aggregate loadlens-exporter instances away (one
	// sidecar per demo pod reports the same server).
	ruleExporterJobLabel = Label{"job", "Prometheus jobs scraping loadlens-exporter (loadlens-exporter)"}
	ruleQuantileLabel    = Label{"quantile", "0.5, 0.95 or 0.99"}
	ruleLeLabel          = Label{"le", "bucket boundaries of the histogram"}
	ruleCacheLabel       = Label{"cache_name", "logical caches declared by the service (users, posts)"}
	ruleTestIDLabel      = Label{"testid", "one value per test run"}
	ruleQueryIDLabel     = Label{"queryid", "top-N statements the exporter reports (--postgres.statements.limit)"}
	ruleDatnameLabel     = Label{"datname", "databases of the top-N statements"}
	ruleUserLabel        = Label{"user", "roles of the top-N statements"}
)

var rulesFamilies = []Family{
	{Name: RuleRouteRequestRate, Type: Gauge, Producer: Rules,
		Help:   "HTTP requests per second per route over 1m (all status codes).",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, routeLabel}},
	{Name: RuleRequestRate, Type: Gauge, Producer: Rules,
		Help:   "HTTP requests per second of the service over 1m (all status codes).",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel}},
	{Name: RulePodRequestRate, Type: Gauge, Producer: Rules,
		Help:   "HTTP requests per second per pod over 1m: the HPA's requests-per-second input.",
		Labels: []Label{ruleNamespaceLabel, rulePodLabel}},
	{Name: RuleRouteErrorRatio, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of requests per route answered with a 5xx status over 1m.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, routeLabel}},
	{Name: RuleErrorRatio, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of the service's requests answered with a 5xx status over 1m.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel}},
	{Name: RuleRouteLatencyBuckets, Type: Gauge, Producer: Rules,
		Help:   "Per-route rate of the request-duration histogram buckets over 1m (input of the quantiles).",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, routeLabel, ruleLeLabel}},
	{Name: RuleRouteLatencyQuantile, Type: Gauge, Unit: "seconds", Producer: Rules,
		Help:   "Request duration quantiles (p50, p95, p99) per route over 1m, from the histogram buckets.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, routeLabel, ruleQuantileLabel}},
	{Name: RuleLatencyQuantile, Type: Gauge, Unit: "seconds", Producer: Rules,
		Help:   "Request duration quantiles (p50, p95, p99) of the service over 1m, from the histogram buckets.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, ruleQuantileLabel}},
	{Name: RuleLatencySLOErrors5m, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of requests slower than the 0.3 s latency SLO over 5m.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel}},
	{Name: RuleLatencySLOErrors30m, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of requests slower than the 0.3 s latency SLO over 30m.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel}},
	{Name: RuleLatencySLOErrors1h, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of requests slower than the 0.3 s latency SLO over 1h.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel}},
	{Name: RuleLatencySLOErrors6h, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of requests slower than the 0.3 s latency SLO over 6h.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel}},
	{Name: RulePoolSaturation, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Used connections over the pool's maximum, per pod and pool (1 = exhausted).",
		Labels: []Label{ruleNamespaceLabel, rulePodLabel, poolLabel}},
	{Name: RulePoolWait, Type: Gauge, Producer: Rules,
		Help:   "Seconds spent waiting to acquire a pool connection per second over 1m (average requests queued on acquire).",
		Labels: []Label{ruleNamespaceLabel, rulePodLabel, poolLabel}},
	{Name: RulePoolTimeouts, Type: Gauge, Producer: Rules,
		Help:   "Pool acquisitions timing out per second over 1m.",
		Labels: []Label{ruleNamespaceLabel, rulePodLabel, poolLabel}},
	{Name: RuleAppCacheRequestRate, Type: Gauge, Producer: Rules,
		Help:   "Application cache lookups per second per logical cache over 1m.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, ruleCacheLabel}},
	{Name: RuleAppCacheHitRatio, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of application cache lookups that hit, per logical cache over 1m.",
		Labels: []Label{ruleNamespaceLabel, ruleJobLabel, ruleCacheLabel}},
	{Name: RuleK6RequestRate, Type: Gauge, Producer: Rules, Condition: ConditionK6Traffic,
		Help:   "k6 requests per second per test run over 1m.",
		Labels: []Label{ruleTestIDLabel}},
	{Name: RuleK6FailedRatio, Type: Gauge, Unit: "ratio", Producer: Rules, Condition: ConditionK6Traffic,
		Help:   "Share of k6 requests that failed (status outside 200-399, or none) per test run over 1m.",
		Labels: []Label{ruleTestIDLabel}},
	{Name: RulePostgresConnectionSaturation, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "PostgreSQL backends over the connection slots open to ordinary users (max_connections minus reserved).",
		Labels: []Label{ruleNamespaceLabel, ruleExporterJobLabel}},
	{Name: RulePostgresStatementMeanDuration, Type: Gauge, Unit: "seconds", Producer: Rules, Condition: ConditionPgStatStatements,
		Help:   "Mean execution time per call of each top-N PostgreSQL statement over 5m.",
		Labels: []Label{ruleNamespaceLabel, ruleExporterJobLabel, ruleDatnameLabel, ruleUserLabel, ruleQueryIDLabel}},
	{Name: RuleRedisLookupRate, Type: Gauge, Producer: Rules,
		Help:   "Redis keyspace lookups (hits plus misses) per second over 5m.",
		Labels: []Label{ruleNamespaceLabel, ruleExporterJobLabel}},
	{Name: RuleRedisHitRatio, Type: Gauge, Unit: "ratio", Producer: Rules,
		Help:   "Share of Redis keyspace lookups that hit over 5m.",
		Labels: []Label{ruleNamespaceLabel, ruleExporterJobLabel}},
}
