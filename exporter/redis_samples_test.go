package exporter

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loadlens/loadlens/internal/contract"
)

// staticSamples is a prometheus.Collector over fixed samples, to compare
// the output of the pure sample builders with expected exposition text.
type staticSamples []prometheus.Metric

func (s staticSamples) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(s, ch) }
func (s staticSamples) Collect(ch chan<- prometheus.Metric) {
	for _, m := range s {
		ch <- m
	}
}

// expo renders the HELP and TYPE header of a contract family (help text
// comes from the contract, as contractDesc does) followed by sample lines.
func expo(t *testing.T, name string, samples ...string) string {
	t.Helper()
	f, ok := contract.Lookup(name)
	if !ok {
		t.Fatalf("%s is not in the contract", name)
	}
	typ := "gauge"
	if f.Type == contract.Counter {
		typ = "counter"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, f.Help, name, typ)
	for _, s := range samples {
		b.WriteString(name + s + "\n")
	}
	return b.String()
}

func TestRedisSamples(t *testing.T) {
	raw, err := os.ReadFile("testdata/redis-info-7.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	pre7 := "# Server\r\nredis_version:6.2.14\r\nredis_mode:cluster\r\n# Clients\r\nconnected_clients:12\r\nblocked_clients:2\r\n" +
		"# Memory\r\nused_memory:2048\r\nmaxmemory:1073741824\r\n# Stats\r\nrejected_connections:5\r\nevicted_keys:7\r\n" +
		"# Commandstats\r\ncmdstat_GET:calls=10,usec=2500000,usec_per_call=250000.00\r\n"
	tests := []struct {
		name         string
		info         string
		maxclients   float64
		maxclientsOK bool
		want         string
		families     []string
	}{
		{
			name: "redis 7 reply (maxclients from INFO wins over CONFIG)",
			info: string(raw), maxclients: 1, maxclientsOK: true,
			want: expo(t, "loadlens_redis_server_info", `{mode="standalone",version="7.0.15"} 1`) +
				expo(t, "loadlens_redis_keyspace_hits_total", " 1") +
				expo(t, "loadlens_redis_keyspace_misses_total", " 1") +
				expo(t, "loadlens_redis_evicted_keys_total", " 0") +
				expo(t, "loadlens_redis_expired_keys_total", " 0") +
				expo(t, "loadlens_redis_rejected_connections_total", " 0") +
				expo(t, "loadlens_redis_commands_processed_total", " 4") +
				expo(t, "loadlens_redis_connected_clients", " 1") +
				expo(t, "loadlens_redis_blocked_clients", " 0") +
				expo(t, "loadlens_redis_maxclients", " 10000") +
				expo(t, "loadlens_redis_memory_used_bytes", " 990416") +
				expo(t, "loadlens_redis_memory_max_bytes", " 0") +
				expo(t, "loadlens_redis_command_calls_total", `{cmd="config|get"} 1`, `{cmd="get"} 2`, `{cmd="set"} 1`) +
				expo(t, "loadlens_redis_command_duration_seconds_total", `{cmd="config|get"} 1.5e-05`, `{cmd="get"} 1.1e-05`, `{cmd="set"} 1.2e-05`),
		},
		{
			name: "redis 6 reply: maxclients from CONFIG GET, command names lower-cased",
			info: pre7, maxclients: 128, maxclientsOK: true,
			want: expo(t, "loadlens_redis_server_info", `{mode="cluster",version="6.2.14"} 1`) +
				expo(t, "loadlens_redis_connected_clients", " 12") +
				expo(t, "loadlens_redis_blocked_clients", " 2") +
				expo(t, "loadlens_redis_rejected_connections_total", " 5") +
				expo(t, "loadlens_redis_evicted_keys_total", " 7") +
				expo(t, "loadlens_redis_maxclients", " 128") +
				expo(t, "loadlens_redis_memory_used_bytes", " 2048") +
				expo(t, "loadlens_redis_memory_max_bytes", " 1.073741824e+09") +
				expo(t, "loadlens_redis_command_calls_total", `{cmd="get"} 10`) +
				expo(t, "loadlens_redis_command_duration_seconds_total", `{cmd="get"} 2.5`),
		},
		{
			name: "CONFIG unavailable and no INFO maxclients: family absent; redis_mode absent before 3.0",
			info: "redis_version:2.8.24\r\nconnected_clients:3\r\n",
			want: expo(t, "loadlens_redis_server_info", `{mode="standalone",version="2.8.24"} 1`) +
				expo(t, "loadlens_redis_connected_clients", " 3"),
			families: []string{"loadlens_redis_server_info", "loadlens_redis_connected_clients", "loadlens_redis_maxclients"},
		},
		{
			name: "non-numeric values are skipped, not zero",
			info: "connected_clients:many\r\nused_memory:NaN\r\nmaxclients:\r\n",
			want: "",
		},
	}
	d := newRedisDescs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := staticSamples(redisSamples(parseInfo(tt.info), tt.maxclients, tt.maxclientsOK, d))
			if err := testutil.CollectAndCompare(got, strings.NewReader(tt.want), tt.families...); err != nil {
				t.Error(err)
			}
			if tt.want == "" && len(got) != 0 {
				t.Errorf("got %d samples, want none", len(got))
			}
			if problems, err := testutil.CollectAndLint(got); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

func TestTopCommandsBounded(t *testing.T) {
	cmds := map[string]redisCommandStat{}
	for i := range 250 {
		cmds[fmt.Sprintf("cmd%03d", i)] = redisCommandStat{Calls: float64(i), Seconds: 1}
	}
	cmds["other"] = redisCommandStat{Calls: 1000, Seconds: 1} // a module command named like the bucket
	got := topCommands(cmds, 200)
	if len(got) != 200 {
		t.Fatalf("%d commands, want 200", len(got))
	}
	seen := map[string]bool{}
	var calls, other float64
	for _, c := range got {
		if seen[c.name] {
			t.Fatalf("duplicate label %q", c.name)
		}
		seen[c.name] = true
		calls += c.stat.Calls
		if c.name == "other" {
			other = c.stat.Calls
		}
	}
	// Kept: cmd051..cmd249 (the 199 busiest); other: cmd000..cmd050 plus "other".
	if !seen["cmd249"] || !seen["cmd051"] || seen["cmd050"] {
		t.Errorf("wrong commands kept: cmd249 %v cmd051 %v cmd050 %v", seen["cmd249"], seen["cmd051"], seen["cmd050"])
	}
	if want := 1000.0 + 50*51/2; other != want {
		t.Errorf("other calls = %v, want %v", other, want)
	}
	if want := 1000.0 + 249*250/2; calls != want {
		t.Errorf("total calls = %v, want %v (nothing lost)", calls, want)
	}
	if got := topCommands(map[string]redisCommandStat{"get": {Calls: 1}}, 200); len(got) != 1 || got[0].name != "get" {
		t.Errorf("under the cap: %+v", got)
	}
}

func TestLabelValue(t *testing.T) {
	if got := labelValue("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
	long := strings.Repeat("é", 40) // 80 bytes
	if got := labelValue(long); len(got) > 64 || !strings.HasPrefix(long, got) || len(got) != 64 {
		t.Errorf("truncation: %d bytes %q", len(got), got)
	}
}
