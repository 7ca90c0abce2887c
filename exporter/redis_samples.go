package exporter

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// redisCommandLimit caps the cmd label of the per-command families: the
// busiest commands by calls keep their own series, the rest are summed
// under "other". Redis has a finite command set, so the cap is a guard.
const redisCommandLimit = 200

// redisOtherCommand is the cmd label of the commands beyond the cap.
const redisOtherCommand = "other"

// redisDescs are the redis collector's descriptors, built once.
type redisDescs struct {
	up, serverInfo                                     *prometheus.Desc
	hits, misses, evicted, expired, rejected, commands *prometheus.Desc
	connected, blocked, maxclients                     *prometheus.Desc
	memUsed, memMax                                    *prometheus.Desc
	cmdCalls, cmdSeconds                               *prometheus.Desc
}

func newRedisDescs() *redisDescs {
	d := func(name string, labels ...string) *prometheus.Desc { return contractDesc(name, labels, nil) }
	return &redisDescs{
		up:         d("loadlens_redis_up"),
		serverInfo: d("loadlens_redis_server_info", "version", "mode"),
		hits:       d("loadlens_redis_keyspace_hits_total"),
		misses:     d("loadlens_redis_keyspace_misses_total"),
		evicted:    d("loadlens_redis_evicted_keys_total"),
		expired:    d("loadlens_redis_expired_keys_total"),
		rejected:   d("loadlens_redis_rejected_connections_total"),
		commands:   d("loadlens_redis_commands_processed_total"),
		connected:  d("loadlens_redis_connected_clients"),
		blocked:    d("loadlens_redis_blocked_clients"),
		maxclients: d("loadlens_redis_maxclients"),
		memUsed:    d("loadlens_redis_memory_used_bytes"),
		memMax:     d("loadlens_redis_memory_max_bytes"),
		cmdCalls:   d("loadlens_redis_command_calls_total", "cmd"),
		cmdSeconds: d("loadlens_redis_command_duration_seconds_total", "cmd"),
	}
}

// redisSamples turns a parsed INFO reply into samples (loadlens_redis_up
// excepted). maxclients is used when INFO lacks the field (Redis < 7) and
// ok is true. Fields missing from INFO produce no sample.
func redisSamples(info redisInfo, maxclients float64, maxclientsOK bool, d *redisDescs) []prometheus.Metric {
	var out []prometheus.Metric
	add := func(desc *prometheus.Desc, vt prometheus.ValueType, v float64, labels ...string) {
		if m, err := prometheus.NewConstMetric(desc, vt, v, labels...); err == nil {
			out = append(out, m)
		}
	}
	field := func(desc *prometheus.Desc, vt prometheus.ValueType, key string) {
		if v, ok := info.Float(key); ok {
			add(desc, vt, v)
		}
	}
	if version, ok := info.Fields["redis_version"]; ok {
		mode := info.Fields["redis_mode"] // absent before Redis 3.0
		if mode == "" {
			mode = "standalone"
		}
		add(d.serverInfo, prometheus.GaugeValue, 1, labelValue(version), labelValue(mode))
	}
	field(d.hits, prometheus.CounterValue, "keyspace_hits")
	field(d.misses, prometheus.CounterValue, "keyspace_misses")
	field(d.evicted, prometheus.CounterValue, "evicted_keys")
	field(d.expired, prometheus.CounterValue, "expired_keys")
	field(d.rejected, prometheus.CounterValue, "rejected_connections")
	field(d.commands, prometheus.CounterValue, "total_commands_processed")
	field(d.connected, prometheus.GaugeValue, "connected_clients")
	field(d.blocked, prometheus.GaugeValue, "blocked_clients")
	if v, ok := info.Float("maxclients"); ok {
		add(d.maxclients, prometheus.GaugeValue, v)
	} else if maxclientsOK {
		add(d.maxclients, prometheus.GaugeValue, maxclients)
	}
	field(d.memUsed, prometheus.GaugeValue, "used_memory")
	field(d.memMax, prometheus.GaugeValue, "maxmemory")

	for _, c := range topCommands(info.Commands, redisCommandLimit) {
		add(d.cmdCalls, prometheus.CounterValue, c.stat.Calls, c.name)
		add(d.cmdSeconds, prometheus.CounterValue, c.stat.Seconds, c.name)
	}
	return out
}

type namedCommandStat struct {
	name string
	stat redisCommandStat
}

// topCommands returns the commands sorted by name, at most limit entries:
// when there are more, the limit-1 busiest by calls are kept and the rest
// are summed under "other". Names are normalised into valid, lower-case
// label values; stats of names that normalise alike are summed.
func topCommands(cmds map[string]redisCommandStat, limit int) []namedCommandStat {
	merged := map[string]redisCommandStat{}
	for name, st := range cmds {
		n := strings.ToLower(labelValue(name))
		acc := merged[n]
		acc.Calls += st.Calls
		acc.Seconds += st.Seconds
		merged[n] = acc
	}
	all := make([]namedCommandStat, 0, len(merged))
	for n, st := range merged {
		all = append(all, namedCommandStat{n, st})
	}
	if limit > 0 && len(all) > limit {
		slices.SortFunc(all, func(a, b namedCommandStat) int {
			if c := cmp.Compare(b.stat.Calls, a.stat.Calls); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
		// A command really named "other" (a module's) joins the bucket.
		var other redisCommandStat
		all = slices.DeleteFunc(all, func(c namedCommandStat) bool {
			if c.name == redisOtherCommand {
				other = c.stat
				return true
			}
			return false
		})
		for _, c := range all[min(limit-1, len(all)):] {
			other.Calls += c.stat.Calls
			other.Seconds += c.stat.Seconds
		}
		all = append(all[:min(limit-1, len(all))], namedCommandStat{redisOtherCommand, other})
	}
	slices.SortFunc(all, func(a, b namedCommandStat) int { return strings.Compare(a.name, b.name) })
	return all
}

// labelValue makes a server-provided string a safe label value: valid
// UTF-8 and at most 64 bytes.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
