// Package instrument is the OpenTelemetry instrumentation a Go HTTP service
// on PostgreSQL (pgx v5) and Redis (go-redis v9) imports to feed loadlens:
// an HTTP middleware, a pgx tracer, pool statistics, a go-redis hook and
// application cache counters, exposed through the OpenTelemetry Prometheus
// exporter on a handler of its own.
//
// # Metrics
//
// Instrument names follow the OpenTelemetry semantic conventions; the
// exporter turns them into these Prometheus families (the contract in
// internal/contract/demo.go):
//
//	http.server.request.duration (s)       http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code} histogram
//	http.server.active_requests            http_server_active_requests{http_request_method} gauge
//	db.client.operation.duration (s)       db_client_operation_duration_seconds{db_system_name,db_operation_name,db_query_summary} histogram
//	db.client.connection.count             db_client_connection_count{db_client_connection_pool_name,db_client_connection_state=used|idle} gauge
//	db.client.connection.max               db_client_connection_max{db_client_connection_pool_name} gauge
//	db.client.connection.pending_requests  db_client_connection_pending_requests{db_client_connection_pool_name} gauge
//	db.client.connection.timeouts          db_client_connection_timeouts_total{db_client_connection_pool_name} counter
//	db.client.connection.wait_time (s)     db_client_connection_wait_time_seconds{db_client_connection_pool_name} histogram
//	app.cache.requests                     app_cache_requests_total{cache_name,cache_result=hit|miss} counter
//	app.db.queries_per_request             app_db_queries_per_request{http_route} histogram
//
// The exporter runs with UnderscoreEscapingWithSuffixes (unit "s" becomes
// _seconds, annotation units such as "{request}" add nothing, counters get
// _total), WithoutScopeInfo (no otel_scope_* labels on every series) and
// WithoutTargetInfo (no target_info family: Prometheus' job and instance
// labels already identify the service).
//
// The HTTP latency buckets are 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5,
// 1, 2.5, 5 and 10 seconds: they contain the SLO thresholds 0.1 s, 0.3 s and
// 1 s, so le="0.1", le="0.3" and le="1" can be read exactly.
//
// # The HPA input
//
// The HorizontalPodAutoscaler scales on requests per second per pod,
// computed by the custom-metrics adapter from the latency histogram's count:
//
//	sum by (namespace, pod) (rate(http_server_request_duration_seconds_count[1m]))
//
// Every request that reaches Middleware is counted there exactly once,
// whatever its route or status, including unmatched paths.
//
// # Bounded labels
//
//   - http_route is the ServeMux pattern that matched, without its method
//     ("GET /users/{id}" gives "/users/{id}"); requests no pattern matched
//     (the mux's 404 and 405) are "unmatched". Raw paths never become label
//     values. Past MaxRoutes patterns, further ones are "other". Put
//     Middleware outside the mux: a handler that copies the request (such as
//     http.StripPrefix in front of an inner mux) hides the inner pattern, and
//     the outer pattern is recorded.
//   - http_request_method is one of the nine standard methods or "_OTHER".
//   - db_query_summary is the prepared statement's name when a statement is
//     executed by name, else the SQL verb and the table ("SELECT users",
//     "INSERT public.posts", "BEGIN"), found by a small allocation-free
//     scanner (comments, literals and CTEs are skipped). For Redis it is the
//     command ("GET"), or "PIPELINE". The first Config.QuerySummaryLimit
//     distinct summaries per system keep their value for the life of the
//     process; later ones are "other" (first come, not most frequent: a
//     label value never changes once it has been exposed).
//   - db_operation_name is a known SQL verb (else "other") or the Redis
//     command (at most 64, then "other").
//   - cache_name: the first MaxCaches names given to Cache; later ones share
//     "other".
//
// # Per-request accounting and slow queries
//
// Middleware puts a counter in the request's context (or resets the
// connection's, with ConnContext). PgxTracer and the Redis hook add one per
// database round trip made with that context (a statement, a pgx batch, a
// COPY, a Redis command or pipeline); calls made with another context
// (background jobs) or with a cancelled one are not counted. At the end of the
// request the count is recorded in app_db_queries_per_request by route.
//
// A database call lasting at least Config.SlowQueryThreshold is logged at
// Warn as "slow query" with db_system, summary, duration_seconds and route.
// SQL text and parameters are never logged.
//
// # Pools
//
// ObservePgxPool reads pgxpool.Stat at scrape time: used = AcquiredConns,
// idle = IdleConns, max = MaxConns. pgxpool offers no count of waiting
// acquires, so pending_requests is the number of Acquire calls in progress
// and timeouts the number of acquires that ended with
// context.DeadlineExceeded, both as seen by PgxTracer (which must be the
// pool's ConnConfig.Tracer). Acquire durations go to
// db_client_connection_wait_time_seconds; pools not passed to
// ObservePgxPool are recorded there as pool "postgres".
//
// ObserveRedisPool reads go-redis PoolStats, adding up the main pool and
// the dedicated pipeline pool go-redis v9.23 keeps: used = TotalConns -
// IdleConns, pending_requests = PendingRequests, timeouts = Timeouts, max =
// PoolSize + PipelinePoolSize for a *redis.Client. go-redis keeps no
// per-wait durations, so Redis has no wait-time histogram.
//
// go-redis sends its connection handshake (HELLO, CLIENT ..., and a
// pipeline of CLIENT SETINFO, summarised "HANDSHAKE") through the hooks
// with the caller's context: those commands are timed but not counted as
// calls of the request.
//
// # Traces and exemplars
//
// With Config.OTLPEndpoint set, Middleware starts a server span per request
// (W3C trace context is honoured on the way in), named "METHOD route", and
// exports it over OTLP/HTTP. The meter provider then uses the trace-based
// exemplar filter, and only http_server_request_duration_seconds keeps
// exemplars: sampled requests attach trace_id and span_id to their bucket.
// MetricsHandler negotiates OpenMetrics then, which is the format that
// carries exemplars (Prometheus needs --enable-feature=exemplar-storage).
// Without an endpoint no span is created and exemplars are off.
//
// # Allocations
//
// Attribute sets are built once per route, method and status (and per
// statement summary, Redis command, cache and pool) and reused, and the
// active-requests gauge and the cache counters are atomic counters read at
// collection, so recording allocates nothing. The per-request query counter needs a place
// in the request's context: set Instrumentation.ConnContext as the
// http.Server's ConnContext and the middleware keeps it on the connection
// (HTTP/1 serves one request of a connection at a time), so the steady-state
// HTTP path allocates nothing. Without ConnContext, and for concurrent
// HTTP/2 streams of one connection, the middleware allocates one object per
// request (the counter with the request copy that carries it,
// http.Request.WithContext). Config.DisableQueryAccounting drops the counter.
// The pgx tracer allocates one context per statement and per acquire (start
// time and summary); the Redis hook allocates nothing.
package instrument
