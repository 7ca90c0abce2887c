package dashboards

import (
	"fmt"

	c "github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/grafana"
)

// loadlens-exporter's postgres and redis collectors and its self-metrics
// (internal/contract/exporter*.go).
const (
	pgUp              = "loadlens_postgres_up"
	pgConnections     = "loadlens_postgres_connections"
	pgConnByApp       = "loadlens_postgres_connections_by_application"
	pgMaxConnections  = "loadlens_postgres_max_connections"
	pgSuperReserved   = "loadlens_postgres_superuser_reserved_connections"
	pgReserved        = "loadlens_postgres_reserved_connections"
	pgStmtCalls       = "loadlens_postgres_statement_calls_total"
	pgStmtExec        = "loadlens_postgres_statement_exec_seconds_total"
	pgStmtRows        = "loadlens_postgres_statement_rows_total"
	pgSlowQueries     = "loadlens_postgres_slow_queries"
	pgOldestQuery     = "loadlens_postgres_oldest_query_age_seconds"
	pgLockWaiting     = "loadlens_postgres_lock_waiting_backends"
	pgBlocksHit       = "loadlens_postgres_blocks_hit_total"
	pgBlocksRead      = "loadlens_postgres_blocks_read_total"
	pgCommits         = "loadlens_postgres_xact_commit_total"
	pgRollbacks       = "loadlens_postgres_xact_rollback_total"
	pgDeadlocks       = "loadlens_postgres_deadlocks_total"
	redisUp           = "loadlens_redis_up"
	redisMemUsed      = "loadlens_redis_memory_used_bytes"
	redisMemMax       = "loadlens_redis_memory_max_bytes"
	redisEvicted      = "loadlens_redis_evicted_keys_total"
	redisExpired      = "loadlens_redis_expired_keys_total"
	redisClients      = "loadlens_redis_connected_clients"
	redisBlocked      = "loadlens_redis_blocked_clients"
	redisRejected     = "loadlens_redis_rejected_connections_total"
	redisCmdCalls     = "loadlens_redis_command_calls_total"
	redisCmdDuration  = "loadlens_redis_command_duration_seconds_total"
	exporterSuccess   = "loadlens_exporter_collector_success"
	exporterDuration  = "loadlens_exporter_collector_duration_seconds"
	goGoroutines      = "go_goroutines"
	goHeapAlloc       = "go_memstats_heap_alloc_bytes"
	goGCDuration      = "go_gc_duration_seconds"
	redisCmdProcessed = "loadlens_redis_commands_processed_total"
)

const (
	svcSel   = `namespace=~"$namespace", pod=~"$pod"`
	routeSel = `http_route=~"$route"`
	expSel   = `namespace=~"$namespace", instance=~"$instance"`
	// stmtKey identifies a pg_stat_statements entry.
	stmtKey = "datname, user, queryid"
)

func svcRate(metric string, extra ...string) string {
	return fmt.Sprintf("rate(%s{%s}[$__rate_interval])", metric, sel(append([]string{svcSel}, extra...)...))
}

func expRate(metric string) string {
	return fmt.Sprintf("rate(%s{%s}[$__rate_interval])", metric, expSel)
}

// topStatements restricts a per-statement expression to the statements
// with the most execution time in the time range.
func topStatements(expr string) string {
	return fmt.Sprintf("%s and on (%s) topk(10, sum by (%s) (increase(%s{%s}[$__range])))", expr, stmtKey, stmtKey, pgStmtExec, expSel)
}

func stmtIncrease(metric string) string {
	return fmt.Sprintf("sum by (%s) (increase(%s{%s}[$__range]))", stmtKey, metric, expSel)
}

// SystemPerformance follows a request through the service, its connection
// pools, PostgreSQL and Redis down to the Go runtime and the processes.
func SystemPerformance() *grafana.Dashboard {
	d := &grafana.Dashboard{
		UID:         "loadlens-system-performance",
		Title:       "loadlens / System Performance",
		Description: "Demo service throughput, latency and errors; connection pools; PostgreSQL and Redis from loadlens-exporter; Go runtime and process resources.",
		Tags:        []string{Tag, "performance"},
		Datasource:  datasource(),
		Refresh:     "10s",
		From:        "now-30m",
		LinkTag:     Tag,
		Variables: []grafana.Variable{
			queryVar("namespace", "Namespace", "Namespace of the demo service.", "label_values("+c.RuleRequestRate+", namespace)"),
			queryVar("pod", "Pod", "Pods of the demo service.", `label_values(`+c.HTTPActiveRequests+`{namespace=~"$namespace"}, pod)`),
			queryVar("route", "Route", "Route patterns of the demo service.", `label_values(`+c.RuleRouteRequestRate+`{namespace=~"$namespace"}, http_route)`),
			queryVar("instance", "Exporter", "loadlens-exporter instances (one per PostgreSQL/Redis pair).", `label_values(`+pgUp+`{namespace=~"$namespace"}, instance)`),
		},
		Annotations: []grafana.Annotation{
			{Name: "k6 runs", Enabled: true, Color: "rgba(31, 120, 193, 0.5)", Step: "10s",
				Expr: fmt.Sprintf("sum by (testid) (%s) > 0", k6VUs), TitleFormat: "k6 run {{testid}}", TagKeys: "testid"},
			{Name: "Alerts firing", Enabled: true, Color: "red", Step: "10s",
				Expr:        `max by (alertname, severity) (ALERTS{alertname=~"Loadlens.*", alertstate="firing"})`,
				TitleFormat: "{{alertname}}", TagKeys: "alertname,severity"},
		},
	}

	overview := []*grafana.Panel{
		stat("Throughput", "Requests per second the service answered (1m).", "reqps",
			in(fmt.Sprintf("sum(%s{%s})", c.RuleRequestRate, nsSel), "req/s"), steps("blue")),
		stat("5xx ratio", "Share of requests answered with a 5xx status (1m).", "percentunit",
			in(fmt.Sprintf("max(%[1]s{%[2]s}) or 0 * max(%[3]s{%[2]s})", c.RuleErrorRatio, nsSel, c.RuleRequestRate), "5xx"), steps("green", slaErrors, "orange", 0.05, "red")),
		stat("p95 latency", "Service p95 over the last minute (SLA 300 ms).", "s",
			in(fmt.Sprintf(`max(%s{%s, quantile="0.95"})`, c.RuleLatencyQuantile, nsSel), "p95"), steps("green", slaP95, "orange", slaP99, "red")),
		stat("p99 latency", "Service p99 over the last minute (SLA 500 ms).", "s",
			in(fmt.Sprintf(`max(%s{%s, quantile="0.99"})`, c.RuleLatencyQuantile, nsSel), "p99"), steps("green", slaP99, "orange", 1.0, "red")),
		stat("In-flight requests", "Requests being served right now.", "none",
			in(fmt.Sprintf("sum(%s{%s})", c.HTTPActiveRequests, svcSel), "in flight"), steps("blue")),
		stat("Slow requests (5m)", "Share of requests slower than the latency SLO's 300 ms over 5 minutes (the SLO allows 1%).", "percentunit",
			in(fmt.Sprintf("max(%s{%s})", c.RuleLatencySLOErrors5m, nsSel), "slow"), steps("green", 0.01, "orange", 0.05, "red")),
		upDown(stat("PostgreSQL", "Whether loadlens-exporter reaches PostgreSQL.", "none", in(fmt.Sprintf("min(%s{%s})", pgUp, expSel), "postgres"), nil)),
		upDown(stat("Redis", "Whether loadlens-exporter reaches Redis.", "none", in(fmt.Sprintf("min(%s{%s})", redisUp, expSel), "redis"), nil)),
	}

	byStatus := stacked(timeseries("Responses by status code", "Requests per second by HTTP status code.", "reqps", 12, 8,
		q(fmt.Sprintf("sum by (http_response_status_code) (%s)", svcRate(c.HTTPRequestDuration+"_count", routeSel)), "{{http_response_status_code}}")))
	color(byStatus, "byRegexp", "^2..$", "green")
	color(byStatus, "byRegexp", "^4..$", "orange")
	color(byStatus, "byRegexp", "^5..$", "red")

	errByRoute := bars(timeseries("Errors by route and status code",
		"4xx and 5xx answers per second by route and status; a series at 0 with status \"none\" is a route without errors.", "reqps", 12, 8,
		q(fmt.Sprintf(`sum by (http_route, http_response_status_code) (%s) or on (http_route) label_replace(0 * sum by (http_route) (%s), "http_response_status_code", "none", "", "")`,
			svcRate(c.HTTPRequestDuration+"_count", routeSel, `http_response_status_code=~"[45].."`), svcRate(c.HTTPRequestDuration+"_count", routeSel)),
			"{{http_route}} {{http_response_status_code}}")))
	stacked(errByRoute)

	traffic := []*grafana.Panel{
		timeseries("Throughput by route", "Requests per second per route (recording rule "+c.RuleRouteRequestRate+").", "reqps", 12, 8,
			q(fmt.Sprintf("sum by (http_route) (%s{%s, %s})", c.RuleRouteRequestRate, nsSel, routeSel), "{{http_route}}")),
		byStatus,
		withThresholds(ratio(timeseries("5xx ratio by route", "Share of 5xx answers per route (recording rule "+c.RuleRouteErrorRatio+").", "percentunit", 12, 8,
			// The rule records nothing for a route without 5xx: show 0 then.
			q(fmt.Sprintf("max by (http_route) (%[1]s{%[3]s, %[4]s}) or 0 * max by (http_route) (%[2]s{%[3]s, %[4]s})", c.RuleRouteErrorRatio, c.RuleRouteRequestRate, nsSel, routeSel), "{{http_route}}"))),
			steps("green", slaErrors, "orange", 0.05, "red")),
		errByRoute,
	}

	heat := &grafana.Panel{Type: "heatmap", Title: "Latency heatmap",
		Description: "Distribution of request durations over time from the classic histogram buckets (recording rule " + c.RuleRouteLatencyBuckets + ").",
		W:           12, H: 8, Targets: []grafana.Target{{Expr: fmt.Sprintf("sum by (le) (%s{%s, %s})", c.RuleRouteLatencyBuckets, nsSel, routeSel), Format: "heatmap", Legend: "{{le}}"}},
		Field:   grafana.Field{Unit: "s"},
		Options: map[string]any{"yAxis": map[string]any{"axisPlacement": "left", "unit": "s", "reverse": false}}}

	queriesPerReq := timeseries("DB queries per request",
		"Database queries each request issues, by route: p95 and mean. A route whose count grows with the data (not constant) has an N+1 pattern.",
		"none", 12, 8,
		q(fmt.Sprintf("histogram_quantile(0.95, sum by (http_route, le) (%s))", svcRate(c.AppQueriesPerRequest+"_bucket", routeSel)), "{{http_route}} p95"),
		q(fmt.Sprintf("sum by (http_route) (%s) / sum by (http_route) (%s)", svcRate(c.AppQueriesPerRequest+"_sum", routeSel), svcRate(c.AppQueriesPerRequest+"_count", routeSel)), "{{http_route}} mean"))

	latency := []*grafana.Panel{
		withThresholds(timeseries("Latency by route", "p50, p95 and p99 per route (recording rule "+c.RuleRouteLatencyQuantile+"); dashed lines are the SLAs.", "s", 12, 8,
			q(fmt.Sprintf("max by (http_route, quantile) (%s{%s, %s})", c.RuleRouteLatencyQuantile, nsSel, routeSel), "{{http_route}} p{{quantile}}")),
			steps("green", slaP95, "orange", slaP99, "red")),
		withThresholds(timeseries("Service latency percentiles", "p50, p95 and p99 of the whole service (recording rule "+c.RuleLatencyQuantile+").", "s", 12, 8,
			q(fmt.Sprintf("max by (quantile) (%s{%s})", c.RuleLatencyQuantile, nsSel), "p{{quantile}}")),
			steps("green", slaP95, "orange", slaP99, "red")),
		heat,
		withThresholds(ratio(timeseries("Requests slower than the SLO",
			"Share of requests slower than 300 ms over the burn-rate windows of the latency SLO (99% within 300 ms); above 1% the error budget burns.",
			"percentunit", 12, 8,
			q(fmt.Sprintf("max(%s{%s})", c.RuleLatencySLOErrors5m, nsSel), "5m"),
			q(fmt.Sprintf("max(%s{%s})", c.RuleLatencySLOErrors30m, nsSel), "30m"),
			q(fmt.Sprintf("max(%s{%s})", c.RuleLatencySLOErrors1h, nsSel), "1h"),
			q(fmt.Sprintf("max(%s{%s})", c.RuleLatencySLOErrors6h, nsSel), "6h"))),
			steps("green", 0.01, "red")),
		queriesPerReq,
		timeseries("In-flight requests by method", "Requests being served by method: growing without more throughput means requests queue inside the service.", "none", 12, 8,
			q(fmt.Sprintf("sum by (http_request_method) (%s{%s})", c.HTTPActiveRequests, svcSel), "{{http_request_method}}")),
	}

	poolConns := stacked(timeseries("Pool connections", "Connections of each client pool by state, against the pool's maximum (dashed).", "none", 8, 8,
		q(fmt.Sprintf("sum by (db_client_connection_pool_name, db_client_connection_state) (%s{%s})", c.DBConnectionCount, svcSel), "{{db_client_connection_pool_name}} {{db_client_connection_state}}"),
		q(fmt.Sprintf("sum by (db_client_connection_pool_name) (%s{%s})", c.DBConnectionMax, svcSel), "{{db_client_connection_pool_name}} max")))
	dashedLimit(poolConns, "B", "red")

	poolWait := timeseries("Pool wait",
		"p95 time to acquire a connection per pool (left), and requests waiting for one right now plus acquisitions timing out per second (right).",
		"s", 8, 8,
		q(fmt.Sprintf("histogram_quantile(0.95, sum by (db_client_connection_pool_name, le) (%s))", svcRate(c.DBConnectionWait+"_bucket")), "{{db_client_connection_pool_name}} p95 wait"),
		q(fmt.Sprintf("sum by (db_client_connection_pool_name) (%s{%s})", c.DBConnectionPending, svcSel), "{{db_client_connection_pool_name}} waiting"),
		q(fmt.Sprintf("sum by (db_client_connection_pool_name) (%s{%s})", c.RulePoolTimeouts, nsSel), "{{db_client_connection_pool_name}} timeouts/s"))
	rightAxis(poolWait, "B", "none")
	rightAxis(poolWait, "C", "none")

	database := []*grafana.Panel{
		timeseries("Query duration by statement (app side)", "p95 of the service's PostgreSQL operations per statement summary, as the pgx tracer measures them (includes network).", "s", 12, 8,
			q(fmt.Sprintf(`histogram_quantile(0.95, sum by (db_query_summary, le) (%s))`, svcRate(c.DBOperationDuration+"_bucket", `db_system_name="postgresql"`)), "{{db_query_summary}}")),
		timeseries("Database operations per second", "PostgreSQL statements and Redis commands the service issues per second.", "ops", 12, 8,
			q(fmt.Sprintf("sum by (db_system_name, db_operation_name) (%s)", svcRate(c.DBOperationDuration+"_count")), "{{db_system_name}} {{db_operation_name}}")),
		withThresholds(ratio(timeseries("Pool saturation", "Used over maximum connections per pod and pool (recording rule "+c.RulePoolSaturation+"). At 1 requests queue on acquire.", "percentunit", 8, 8,
			q(fmt.Sprintf("max by (pod, db_client_connection_pool_name) (%s{%s, pod=~\"$pod\"})", c.RulePoolSaturation, nsSel), "{{pod}} {{db_client_connection_pool_name}}"))),
			steps("green", warnSaturate, "orange", critSaturate, "red")),
		poolConns, poolWait,
	}

	pgConns := stacked(timeseries("PostgreSQL connections vs max",
		"Server backends by state, against the slots open to ordinary roles and max_connections (dashed). Past the first line clients get \"sorry, too many clients already\".",
		"none", 12, 8,
		q(fmt.Sprintf("sum by (state) (%s{%s})", pgConnections, expSel), "{{state}}"),
		q(fmt.Sprintf("max(%[1]s{%[2]s}) - max(%[3]s{%[2]s}) - max(%[4]s{%[2]s})", pgMaxConnections, expSel, pgSuperReserved, pgReserved), "open to ordinary roles"),
		q(fmt.Sprintf("max(%s{%s})", pgMaxConnections, expSel), "max_connections")))
	dashedLimit(pgConns, "B", "orange")
	dashedLimit(pgConns, "C", "red")

	topStmts := mergedTable("Top statements by total time",
		"The 10 pg_stat_statements entries with the most execution time in the time range (loadlens-exporter). The query text is a label only with --postgres.statements.query-text.",
		24, 9, []string{"queryid", "user", "datname"},
		tbl(topStatements(stmtIncrease(pgStmtExec))),
		tbl(topStatements(stmtIncrease(pgStmtCalls))),
		tbl(topStatements(stmtIncrease(pgStmtExec)+" / "+stmtIncrease(pgStmtCalls))),
		tbl(topStatements(stmtIncrease(pgStmtRows)+" / "+stmtIncrease(pgStmtCalls))))
	topStmts.Options["sortBy"] = []map[string]any{{"displayName": "Total time", "desc": true}}
	tableColumn(topStmts, "A", "Total time", "s", map[string]any{"custom.cellOptions": map[string]any{"type": "gauge", "mode": "lcd"}})
	tableColumn(topStmts, "B", "Calls", "short", nil)
	tableColumn(topStmts, "C", "Mean time", "s", colouredCell(steps("green", 0.05, "orange", 0.25, "red")))
	tableColumn(topStmts, "D", "Rows per call", "short", nil)

	slow := timeseries("Slow and long-running queries",
		"Active queries running longer than the exporter's slow-query threshold (left) and the age of the oldest active query (right).",
		"none", 8, 8,
		q(fmt.Sprintf("sum(%s{%s})", pgSlowQueries, expSel), "slow queries"),
		q(fmt.Sprintf("max(%s{%s})", pgOldestQuery, expSel), "oldest query age"))
	rightAxis(slow, "B", "s")

	locks := timeseries("Lock waits and deadlocks", "Backends waiting on a heavyweight lock (left) and deadlocks per second (right).", "none", 8, 8,
		q(fmt.Sprintf("sum(%s{%s})", pgLockWaiting, expSel), "waiting on locks"),
		q(fmt.Sprintf("sum(%s)", expRate(pgDeadlocks)), "deadlocks/s"))
	rightAxis(locks, "B", "ops")

	postgres := []*grafana.Panel{
		pgConns,
		withThresholds(ratio(timeseries("PostgreSQL connection saturation", "Backends over the slots open to ordinary roles (recording rule "+c.RulePostgresConnectionSaturation+").", "percentunit", 12, 8,
			q(fmt.Sprintf("max by (instance) (%s{%s})", c.RulePostgresConnectionSaturation, expSel), "{{instance}}"))),
			steps("green", warnSaturate, "orange", critSaturate, "red")),
		topStmts,
		timeseries("Mean time of the top statements", "Mean execution time per call of the 5 slowest top-N statements (recording rule "+c.RulePostgresStatementMeanDuration+", 5m).", "s", 12, 8,
			q(fmt.Sprintf("topk(5, max by (queryid, user) (%s{%s}))", c.RulePostgresStatementMeanDuration, expSel), "{{queryid}} ({{user}})")),
		stacked(timeseries("Database time by statement", "Seconds of execution per second of the 5 busiest statements: how many backends they keep busy on average.", "short", 12, 8,
			q(fmt.Sprintf("topk(5, sum by (queryid, user) (%s))", expRate(pgStmtExec)), "{{queryid}} ({{user}})"))),
		slow, locks,
		withThresholds(ratio(timeseries("Buffer cache hit ratio", "Share of block reads served from shared buffers. Below 99% the working set no longer fits in memory.", "percentunit", 8, 8,
			q(fmt.Sprintf("sum(%[1]s) / (sum(%[1]s) + sum(%[2]s))", expRate(pgBlocksHit), expRate(pgBlocksRead)), "hit ratio"))),
			steps("red", 0.9, "orange", 0.99, "green")),
		timeseries("Transactions", "Transactions committed and rolled back per second.", "ops", 12, 8,
			q(fmt.Sprintf("sum(%s)", expRate(pgCommits)), "commits"),
			q(fmt.Sprintf("sum(%s)", expRate(pgRollbacks)), "rollbacks")),
		timeseries("Connections by application", "Server backends by application_name (top 10, then other).", "none", 12, 8,
			q(fmt.Sprintf("sum by (application_name) (%s{%s})", pgConnByApp, expSel), "{{application_name}}")),
	}

	redisMem := timeseries("Redis memory", "Memory Redis uses against maxmemory (dashed; 0 means no limit, so no evictions).", "bytes", 8, 8,
		q(fmt.Sprintf("sum(%s{%s})", redisMemUsed, expSel), "used"),
		q(fmt.Sprintf("max(%s{%s})", redisMemMax, expSel), "maxmemory"))
	dashedLimit(redisMem, "B", "red")

	redisClientsP := timeseries("Redis clients", "Connected and blocked clients (left) and connections refused per second because of maxclients (right).", "none", 8, 8,
		q(fmt.Sprintf("sum(%s{%s})", redisClients, expSel), "connected"),
		q(fmt.Sprintf("sum(%s{%s})", redisBlocked, expSel), "blocked"),
		q(fmt.Sprintf("sum(%s)", expRate(redisRejected)), "rejected/s"))
	rightAxis(redisClientsP, "C", "ops")

	caches := []*grafana.Panel{
		ratio(timeseries("Cache hit ratios", "Application caches per logical cache (1m) and Redis keyspace lookups (5m).", "percentunit", 8, 8,
			q(fmt.Sprintf("avg by (cache_name) (%s{%s})", c.RuleAppCacheHitRatio, nsSel), "app {{cache_name}}"),
			q(fmt.Sprintf("avg(%s{%s})", c.RuleRedisHitRatio, nsSel), "Redis keyspace"))),
		stacked(timeseries("Application cache lookups", "Cache lookups per second by cache and result.", "ops", 8, 8,
			q(fmt.Sprintf("sum by (cache_name, cache_result) (%s)", svcRate(c.AppCacheRequests)), "{{cache_name}} {{cache_result}}"))),
		redisMem,
		timeseries("Redis evictions and expirations", "Keys evicted because of maxmemory and keys expired by TTL, per second. Evictions under load mean the cache is too small.", "ops", 8, 8,
			q(fmt.Sprintf("sum(%s)", expRate(redisEvicted)), "evicted"),
			q(fmt.Sprintf("sum(%s)", expRate(redisExpired)), "expired")),
		redisClientsP,
		timeseries("Redis commands per second", "Commands processed per second in total and for the busiest commands.", "ops", 8, 8,
			q(fmt.Sprintf("sum(%s)", expRate(redisCmdProcessed)), "all commands"),
			q(fmt.Sprintf("topk(5, sum by (cmd) (%s))", expRate(redisCmdCalls)), "{{cmd}}")),
		timeseries("Redis command latency", "Mean server-side time per call of the 5 slowest commands (Redis commandstats; excludes network).", "s", 24, 7,
			q(fmt.Sprintf("topk(5, sum by (cmd) (%s) / sum by (cmd) (%s))", expRate(redisCmdDuration), expRate(redisCmdCalls)), "{{cmd}}")),
	}

	// Prometheus scraping protobuf (native histograms enabled) writes the
	// quantile label as "1.0", the text format as "1".
	gc := timeseries("Garbage collection", "Longest GC pause in the last cycles (left) and GC cycles per second (right).", "s", 8, 8,
		q(fmt.Sprintf(`max by (pod) (%s{%s, %s, quantile=~"1|1.0"})`, goGCDuration, svcSel, adminJob), "{{pod}} max pause"),
		q(fmt.Sprintf("sum by (pod) (%s)", svcRate(goGCDuration+"_count", adminJob)), "{{pod}} cycles/s"))
	rightAxis(gc, "B", "ops")

	cpu := timeseries("CPU per process", "CPU cores used by each loadlens process (service and exporter), and on Kubernetes by each container of the namespace.", "short", 12, 8,
		q(fmt.Sprintf(`sum by (job, pod) (rate(%s{namespace=~"$namespace"}[$__rate_interval]))`, processCPU), "{{job}} {{pod}}"),
		k8s(q(`sum by (pod) (rate(container_cpu_usage_seconds_total{namespace=~"$namespace", container!=""}[$__rate_interval]))`, "{{pod}} container")))
	cpu.Field.Custom = map[string]any{"axisLabel": "CPU cores"}

	collectors := &grafana.Panel{Type: "state-timeline", Title: "Exporter collectors",
		Description: "Whether each collector of loadlens-exporter finished within the scrape budget; a failing collector never hides the others.",
		W:           12, H: 8,
		Targets: []grafana.Target{q(fmt.Sprintf("min by (collector) (%s{%s})", exporterSuccess, expSel), "{{collector}}")},
		Field:   grafana.Field{Mappings: []grafana.ValueMapping{{Value: "1", Text: "OK", Color: "green"}, {Value: "0", Text: "FAILED", Color: "red"}}},
	}

	runtime := []*grafana.Panel{
		timeseries("Goroutines", "Goroutines of the demo service: a steady climb under constant load is a leak or a queue.", "none", 8, 8,
			q(fmt.Sprintf("sum by (pod) (%s{%s, %s})", goGoroutines, svcSel, adminJob), "{{pod}}")),
		timeseries("Heap in use", "Bytes of allocated heap objects of the demo service.", "bytes", 8, 8,
			q(fmt.Sprintf("sum by (pod) (%s{%s, %s})", goHeapAlloc, svcSel, adminJob), "{{pod}}")),
		gc,
		cpu,
		timeseries("Memory per process", "Resident memory of each loadlens process, and on Kubernetes the working set of each container of the namespace.", "bytes", 12, 8,
			q(fmt.Sprintf(`sum by (job, pod) (%s{namespace=~"$namespace"})`, processRSS), "{{job}} {{pod}}"),
			k8s(q(`sum by (pod) (container_memory_working_set_bytes{namespace=~"$namespace", container!=""})`, "{{pod}} container"))),
		collectors,
		timeseries("Exporter collector duration", "Time each collector of loadlens-exporter took at the last scrape (capped at the scrape budget).", "s", 12, 8,
			q(fmt.Sprintf("max by (collector) (%s{%s})", exporterDuration, expSel), "{{collector}}")),
	}

	d.Rows = []grafana.Row{
		{Title: "Service", Panels: overview},
		{Title: "Throughput and errors", Panels: traffic},
		{Title: "Latency", Panels: latency},
		{Title: "Database: app side and pools", Panels: database},
		{Title: "PostgreSQL", Panels: postgres},
		{Title: "Caches and Redis", Panels: caches},
		{Title: "Go runtime and resources", Panels: runtime},
	}
	return d
}
