package report

import "github.com/loadlens/loadlens/internal/contract"

// Metric names the report reads. The demo service's come from the
// contract's constants; the k6 and exporter families have no exported
// constants in internal/contract yet, so they are named here once and
// TestNamesInContract proves each is declared there with the expected
// producer. The report reads raw series only (never recording rules), so it
// works against a Prometheus without loadlens's rules.
const (
	k6Reqs     = "k6_http_reqs_total"
	k6Duration = "k6_http_req_duration_seconds"
	k6VUs      = "k6_vus"

	poolCount   = contract.DBConnectionCount
	poolMax     = contract.DBConnectionMax
	poolPending = contract.DBConnectionPending
	poolWait    = contract.DBConnectionWait // histogram: _sum, _count
	poolTimeout = contract.DBConnectionTimeout
	appCache    = contract.AppCacheRequests

	pgSaturation    = "loadlens_postgres_connection_saturation_ratio"
	pgConnections   = "loadlens_postgres_connections"
	pgMaxConns      = "loadlens_postgres_max_connections"
	pgStmtExec      = "loadlens_postgres_statement_exec_seconds_total"
	pgStmtCalls     = "loadlens_postgres_statement_calls_total"
	redisHits       = "loadlens_redis_keyspace_hits_total"
	redisMisses     = "loadlens_redis_keyspace_misses_total"
	hpaReplicas     = "loadlens_hpa_current_replicas"
	hpaMaxReplicas  = "loadlens_hpa_max_replicas"
	alertsSeries    = "ALERTS" // Prometheus's own series of pending/firing alerts
	labelPool       = "db_client_connection_pool_name"
	labelPoolState  = "db_client_connection_state"
	labelCacheName  = "cache_name"
	labelCacheRes   = "cache_result"
	labelStep       = "step"
	labelTargetVUs  = "target_vus"
	labelQueryID    = "queryid"
	labelQueryText  = "query" // only with the exporter's --postgres.statements.query-text
	labelHPA        = "hpa"
	labelTestID     = "testid"
	labelName       = "name"
	labelStatus     = "status"
	labelAlertName  = "alertname"
	labelAlertState = "alertstate"
)

// contractNames maps each raw family the report reads to its producer, for
// TestNamesInContract.
func contractNames() map[string]contract.Producer {
	return map[string]contract.Producer{
		k6Reqs: contract.K6, k6Duration: contract.K6, k6VUs: contract.K6,
		poolCount: contract.Demo, poolMax: contract.Demo, poolPending: contract.Demo,
		poolWait: contract.Demo, poolTimeout: contract.Demo, appCache: contract.Demo,
		pgSaturation: contract.Exporter, pgConnections: contract.Exporter, pgMaxConns: contract.Exporter, pgStmtExec: contract.Exporter, pgStmtCalls: contract.Exporter,
		redisHits: contract.Exporter, redisMisses: contract.Exporter,
		hpaReplicas: contract.Exporter, hpaMaxReplicas: contract.Exporter,
	}
}
