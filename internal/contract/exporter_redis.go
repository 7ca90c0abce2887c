package contract

// redisCmdLabel bounds the per-command families of the redis collector.
var redisCmdLabel = Label{"cmd", "commands the server has executed (a finite set: Redis commands and subcommands such as " +
	"\"config|get\", lower case), capped at the 199 busiest by calls plus \"other\""}

// exporterRedisFamilies are produced by loadlens-exporter's redis collector.
// Every family but loadlens_redis_up comes from one INFO ALL reply.
var exporterRedisFamilies = []Family{
	{Name: "loadlens_redis_up", Type: Gauge, Producer: Exporter,
		Help: "Whether the last scrape could reach redis (1) or not (0)."},
	{Name: "loadlens_redis_server_info", Type: Info, Producer: Exporter,
		Help: "Redis server version and mode, constant 1.",
		Labels: []Label{
			{"version", "one value per server (redis_version)"},
			{"mode", "fixed set: standalone, cluster, sentinel (redis_mode; standalone before Redis 3.0)"},
		}},

	// Cache effectiveness.
	{Name: "loadlens_redis_keyspace_hits_total", Type: Counter, Producer: Exporter,
		Help: "Successful lookups of keys in the main dictionary."},
	{Name: "loadlens_redis_keyspace_misses_total", Type: Counter, Producer: Exporter,
		Help: "Failed lookups of keys in the main dictionary."},
	{Name: "loadlens_redis_evicted_keys_total", Type: Counter, Producer: Exporter,
		Help: "Keys evicted because of the maxmemory limit."},
	{Name: "loadlens_redis_expired_keys_total", Type: Counter, Producer: Exporter,
		Help: "Key expiration events."},

	// Client saturation.
	{Name: "loadlens_redis_connected_clients", Type: Gauge, Producer: Exporter,
		Help: "Client connections (excluding connections from replicas)."},
	{Name: "loadlens_redis_blocked_clients", Type: Gauge, Producer: Exporter,
		Help: "Clients pending on a blocking call (BLPOP, BRPOP, WAIT, ...)."},
	{Name: "loadlens_redis_rejected_connections_total", Type: Counter, Producer: Exporter,
		Help: "Connections rejected because of the maxclients limit."},
	{Name: "loadlens_redis_maxclients", Type: Gauge, Producer: Exporter,
		Help: "The server's maxclients setting (INFO clients on Redis 7+, CONFIG GET maxclients before; absent when neither is readable)."},

	// Memory.
	{Name: "loadlens_redis_memory_used_bytes", Type: Gauge, Unit: "bytes", Producer: Exporter,
		Help: "Memory allocated by Redis (used_memory)."},
	{Name: "loadlens_redis_memory_max_bytes", Type: Gauge, Unit: "bytes", Producer: Exporter,
		Help: "The server's maxmemory setting (0 means no limit)."},

	// Commands.
	{Name: "loadlens_redis_commands_processed_total", Type: Counter, Producer: Exporter,
		Help: "Commands processed by the server."},
	{Name: "loadlens_redis_command_calls_total", Type: Counter, Producer: Exporter,
		Help:   "Calls of the command (INFO commandstats).",
		Labels: []Label{redisCmdLabel}},
	{Name: "loadlens_redis_command_duration_seconds_total", Type: Counter, Unit: "seconds", Producer: Exporter,
		Help:   "Time the server spent executing the command (INFO commandstats usec, converted to seconds).",
		Labels: []Label{redisCmdLabel}},
}
