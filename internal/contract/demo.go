package contract

// Label bounds shared by the demo service's families.
var (
	routeLabel  = Label{"http_route", "route patterns registered on the ServeMux, plus \"unmatched\""}
	methodLabel = Label{"http_request_method", "standard HTTP methods, anything else is _OTHER"}
	statusLabel = Label{"http_response_status_code", "HTTP status codes the service answers with"}
	poolLabel   = Label{"db_client_connection_pool_name", "one value per pool the service creates (postgres, redis)"}
	systemLabel = Label{"db_system_name", "postgresql or redis"}
)

// Names the HPA, rules and dashboards read from the demo service.
const (
	// HTTPRequestDuration is the latency histogram; its _count per pod is the
	// HPA's requests-per-second input.
	HTTPRequestDuration  = "http_server_request_duration_seconds"
	HTTPActiveRequests   = "http_server_active_requests"
	DBOperationDuration  = "db_client_operation_duration_seconds"
	DBConnectionCount    = "db_client_connection_count"
	DBConnectionMax      = "db_client_connection_max"
	DBConnectionPending  = "db_client_connection_pending_requests"
	DBConnectionTimeout  = "db_client_connection_timeouts_total"
	DBConnectionWait     = "db_client_connection_wait_time_seconds"
	AppCacheRequests     = "app_cache_requests_total"
	AppQueriesPerRequest = "app_db_queries_per_request"
)

// demoFamilies are exposed on the demo service's public /metrics by the
// instrument package through the OpenTelemetry Prometheus exporter.
var demoFamilies = []Family{
	{Name: HTTPRequestDuration, Type: Histogram, Unit: "seconds", Producer: Demo,
		Help:   "Duration of HTTP server requests (OTel http.server.request.duration).",
		Labels: []Label{methodLabel, routeLabel, statusLabel}},
	{Name: HTTPActiveRequests, Type: Gauge, Producer: Demo,
		Help:   "Number of in-flight HTTP server requests (OTel http.server.active_requests).",
		Labels: []Label{methodLabel}},
	{Name: DBOperationDuration, Type: Histogram, Unit: "seconds", Producer: Demo,
		Help: "Duration of database client operations (OTel db.client.operation.duration).",
		Labels: []Label{systemLabel,
			{"db_operation_name", "SQL verbs and Redis commands the service issues"},
			{"db_query_summary", "top-N statement summaries (verb + table or statement name), the rest as \"other\""}}},
	{Name: DBConnectionCount, Type: Gauge, Producer: Demo,
		Help:   "Connections in the pool by state (OTel db.client.connection.count).",
		Labels: []Label{poolLabel, {"db_client_connection_state", "used or idle"}}},
	{Name: DBConnectionMax, Type: Gauge, Producer: Demo,
		Help: "Maximum connections the pool allows (OTel db.client.connection.max).", Labels: []Label{poolLabel}},
	{Name: DBConnectionPending, Type: Gauge, Producer: Demo,
		Help: "Requests waiting for a pool connection (OTel db.client.connection.pending_requests).", Labels: []Label{poolLabel}},
	{Name: DBConnectionTimeout, Type: Counter, Producer: Demo,
		Help: "Pool acquisitions that timed out (OTel db.client.connection.timeouts).", Labels: []Label{poolLabel}},
	{Name: DBConnectionWait, Type: Histogram, Unit: "seconds", Producer: Demo,
		Help: "Time spent waiting to acquire a pool connection (OTel db.client.connection.wait_time).", Labels: []Label{poolLabel}},
	{Name: AppCacheRequests, Type: Counter, Producer: Demo,
		Help:   "Application cache lookups by logical cache and result.",
		Labels: []Label{{"cache_name", "logical caches declared by the service (users, posts)"}, {"cache_result", "hit or miss"}}},
	{Name: AppQueriesPerRequest, Type: Histogram, Producer: Demo,
		Help: "Database queries issued per HTTP request, by route (N+1 patterns show here).", Labels: []Label{routeLabel}},
}

// demoAdminFamilies are exposed on the demo service's admin listener.
var demoAdminFamilies = []Family{
	{Name: "go_goroutines", Type: Gauge, Producer: DemoAdmin, Help: "Number of goroutines that currently exist."},
	{Name: "go_memstats_heap_alloc_bytes", Type: Gauge, Unit: "bytes", Producer: DemoAdmin, Help: "Bytes of allocated heap objects."},
	{Name: "go_gc_duration_seconds", Type: "summary", Unit: "seconds", Producer: DemoAdmin, Help: "GC pause durations."},
	{Name: "process_cpu_seconds_total", Type: Counter, Unit: "seconds", Producer: DemoAdmin, Help: "Total user and system CPU time spent in seconds."},
	{Name: "process_resident_memory_bytes", Type: Gauge, Unit: "bytes", Producer: DemoAdmin, Help: "Resident memory size in bytes."},
}
