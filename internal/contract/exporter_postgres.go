package contract

// Label bounds shared by the postgres collector's families.
var (
	pgDatnameLabel = Label{"datname", "one value: the database the exporter connects to"}
	pgStmtLabels   = []Label{
		{"queryid", "top-N statements by total execution time (--postgres.statements.limit, default 20)"},
		{"user", "roles of the top-N statements (at most --postgres.statements.limit values)"},
		{"datname", "databases of the top-N statements (at most --postgres.statements.limit values)"},
	}
)

// ConditionPgStatStatements marks families that need the pg_stat_statements
// extension created in the exporter's database (and loaded through
// shared_preload_libraries).
const ConditionPgStatStatements = "pg_stat_statements"

// exporterPostgresFamilies are produced by loadlens-exporter's postgres collector.
var exporterPostgresFamilies = []Family{
	{Name: "loadlens_postgres_up", Type: Gauge, Producer: Exporter,
		Help: "Whether the last scrape could reach postgres (1) or not (0)."},
	{Name: "loadlens_postgres_server_info", Type: Info, Producer: Exporter,
		Help:   "PostgreSQL server version, constant 1.",
		Labels: []Label{{"version", "one value per server (server_version without the distribution suffix)"}}},

	// Connection saturation.
	{Name: "loadlens_postgres_connections", Type: Gauge, Producer: Exporter,
		Help: "Client backends by state (server-wide).",
		Labels: []Label{{"state", "fixed set: active, idle, idle in transaction, idle in transaction (aborted), " +
			"fastpath function call, disabled, unknown (state not visible to the exporter's role)"}}},
	{Name: "loadlens_postgres_connections_by_application", Type: Gauge, Producer: Exporter,
		Help:   "Client backends by application_name (server-wide), top-N plus other.",
		Labels: []Label{{"application_name", "the 10 applications with most connections, plus \"other\" and \"unset\" (empty application_name)"}}},
	{Name: "loadlens_postgres_max_connections", Type: Gauge, Producer: Exporter,
		Help: "The server's max_connections setting."},
	{Name: "loadlens_postgres_superuser_reserved_connections", Type: Gauge, Producer: Exporter,
		Help: "The server's superuser_reserved_connections setting."},
	{Name: "loadlens_postgres_reserved_connections", Type: Gauge, Producer: Exporter,
		Help: "The server's reserved_connections setting (PostgreSQL 16+; 0 on older servers)."},
	{Name: "loadlens_postgres_connection_saturation_ratio", Type: Gauge, Unit: "ratio", Producer: Exporter,
		Help: "Client backends divided by the slots open to ordinary roles (max_connections - superuser_reserved_connections - reserved_connections)."},

	// Query duration from pg_stat_statements.
	{Name: "loadlens_postgres_statements_available", Type: Gauge, Producer: Exporter,
		Help: "Whether pg_stat_statements can be read in the exporter's database (1) or not (0)."},
	{Name: "loadlens_postgres_statement_calls_total", Type: Counter, Producer: Exporter, Condition: ConditionPgStatStatements,
		Help:   "Times the statement was executed (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).",
		Labels: pgStmtLabels},
	{Name: "loadlens_postgres_statement_exec_seconds_total", Type: Counter, Unit: "seconds", Producer: Exporter, Condition: ConditionPgStatStatements,
		Help:   "Total time spent executing the statement (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).",
		Labels: pgStmtLabels},
	{Name: "loadlens_postgres_statement_rows_total", Type: Counter, Producer: Exporter, Condition: ConditionPgStatStatements,
		Help:   "Rows retrieved or affected by the statement (top-N statements by total execution time; a query label is added with --postgres.statements.query-text).",
		Labels: pgStmtLabels},
	{Name: "loadlens_postgres_statements_stats_reset_timestamp_seconds", Type: Gauge, Unit: "seconds", Producer: Exporter, Condition: ConditionPgStatStatements,
		Help: "When pg_stat_statements was last reset, as a Unix timestamp (pg_stat_statements 1.9+, PostgreSQL 14+)."},

	// Slow and blocked.
	{Name: "loadlens_postgres_slow_queries", Type: Gauge, Producer: Exporter,
		Help: "Active queries running longer than --postgres.slow-query-threshold."},
	{Name: "loadlens_postgres_oldest_query_age_seconds", Type: Gauge, Unit: "seconds", Producer: Exporter,
		Help: "Age of the oldest active query (0 when none)."},
	{Name: "loadlens_postgres_lock_waiting_backends", Type: Gauge, Producer: Exporter,
		Help: "Client backends waiting on a heavyweight lock."},

	// Database statistics of the connected database.
	{Name: "loadlens_postgres_blocks_hit_total", Type: Counter, Producer: Exporter,
		Help: "Disk blocks found in the buffer cache.", Labels: []Label{pgDatnameLabel}},
	{Name: "loadlens_postgres_blocks_read_total", Type: Counter, Producer: Exporter,
		Help: "Disk blocks read from disk.", Labels: []Label{pgDatnameLabel}},
	{Name: "loadlens_postgres_xact_commit_total", Type: Counter, Producer: Exporter,
		Help: "Transactions committed.", Labels: []Label{pgDatnameLabel}},
	{Name: "loadlens_postgres_xact_rollback_total", Type: Counter, Producer: Exporter,
		Help: "Transactions rolled back.", Labels: []Label{pgDatnameLabel}},
	{Name: "loadlens_postgres_deadlocks_total", Type: Counter, Producer: Exporter,
		Help: "Deadlocks detected.", Labels: []Label{pgDatnameLabel}},
}
