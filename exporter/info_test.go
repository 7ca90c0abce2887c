package exporter

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		fields map[string]string
		cmds   map[string]redisCommandStat
	}{
		{name: "empty", in: "", fields: map[string]string{}, cmds: map[string]redisCommandStat{}},
		{
			name: "sections and CRLF",
			in:   "# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\n# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:3\r\n",
			fields: map[string]string{
				"redis_version": "7.2.4", "redis_mode": "standalone", "keyspace_hits": "10", "keyspace_misses": "3",
			},
			cmds: map[string]redisCommandStat{},
		},
		{
			name:   "LF only, value with colons kept whole",
			in:     "executable:/usr/bin/redis-server\nmaster_host:fe80::1\n",
			fields: map[string]string{"executable": "/usr/bin/redis-server", "master_host": "fe80::1"},
			cmds:   map[string]redisCommandStat{},
		},
		{
			name: "commandstats, usec to seconds, subcommands",
			in: "# Commandstats\r\n" +
				"cmdstat_get:calls=2,usec=11,usec_per_call=5.50,rejected_calls=0,failed_calls=0\r\n" +
				"cmdstat_config|get:calls=1,usec=1500000,usec_per_call=1500000.00\r\n" +
				"cmdstat_info:usec=5,calls=4\r\n",
			fields: map[string]string{},
			cmds: map[string]redisCommandStat{
				"get":        {Calls: 2, Seconds: 11e-6},
				"config|get": {Calls: 1, Seconds: 1.5},
				"info":       {Calls: 4, Seconds: 5e-6},
			},
		},
		{
			name: "malformed lines skipped",
			in: "no colon here\r\n:novalue\r\ncmdstat_:calls=1\r\ncmdstat_bad:usec=3\r\ncmdstat_neg:calls=-1,usec=2\r\n" +
				"cmdstat_nan:calls=NaN\r\ncmdstat_nousec:calls=7,usec=oops\r\nkey:\r\n#comment:x\r\n",
			fields: map[string]string{"key": ""},
			cmds:   map[string]redisCommandStat{"nousec": {Calls: 7}},
		},
		{
			name:   "duplicate key: last wins",
			in:     "a:1\r\na:2\r\n",
			fields: map[string]string{"a": "2"},
			cmds:   map[string]redisCommandStat{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseInfo(tt.in)
			if !reflect.DeepEqual(got.Fields, tt.fields) {
				t.Errorf("Fields = %v, want %v", got.Fields, tt.fields)
			}
			if len(got.Commands) != len(tt.cmds) {
				t.Fatalf("Commands = %v, want %v", got.Commands, tt.cmds)
			}
			for name, want := range tt.cmds {
				g, ok := got.Commands[name]
				if !ok || g.Calls != want.Calls || !approxEqual(g.Seconds, want.Seconds) {
					t.Errorf("Commands[%q] = %+v (present %v), want %+v", name, g, ok, want)
				}
			}
		})
	}
}

func approxEqual(a, b float64) bool {
	d := a - b
	return d < 1e-12 && d > -1e-12
}

func TestParseInfoRealReply(t *testing.T) {
	raw, err := os.ReadFile("testdata/redis-info-7.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	info := parseInfo(string(raw))
	for key, want := range map[string]float64{
		"keyspace_hits": 1, "keyspace_misses": 1, "maxclients": 10000, "maxmemory": 0,
		"used_memory": 990416, "total_commands_processed": 4, "connected_clients": 1,
	} {
		if got, ok := info.Float(key); !ok || got != want {
			t.Errorf("Float(%q) = %v, %v; want %v", key, got, ok, want)
		}
	}
	if got := info.Fields["redis_version"]; got != "7.0.15" {
		t.Errorf("redis_version = %q", got)
	}
	if got := info.Commands["config|get"]; got.Calls != 1 || !approxEqual(got.Seconds, 15e-6) {
		t.Errorf("config|get = %+v", got)
	}
	if _, ok := info.Float("redis_version"); ok {
		t.Error("Float parsed a version string")
	}
}

func FuzzParseInfo(f *testing.F) {
	if raw, err := os.ReadFile("testdata/redis-info-7.0.txt"); err == nil {
		f.Add(string(raw))
	}
	f.Add("")
	f.Add("# Server\r\nredis_version:6.2.0\r\n")
	f.Add("cmdstat_get:calls=1,usec=2\r\ncmdstat_:calls=\r\ncmdstat_x:calls=1e400,usec=-0\r\n")
	f.Add(":\n::\n#\n\r\n\x00:\xff")
	f.Add("maxclients:Inf\r\nused_memory:NaN\r\n")
	d := newRedisDescs()
	f.Fuzz(func(t *testing.T, s string) {
		info := parseInfo(s)
		for name, st := range info.Commands {
			if name == "" || st.Calls < 0 || st.Seconds < 0 {
				t.Fatalf("bad command stat %q: %+v", name, st)
			}
		}
		for k := range info.Fields {
			if k == "" || strings.ContainsAny(k, "\n") {
				t.Fatalf("bad key %q", k)
			}
		}
		// The samples built from any input are valid: label values are
		// UTF-8 and the cmd label stays within its bound.
		ms := redisSamples(info, 0, false, d)
		if len(ms) > 13+2*redisCommandLimit {
			t.Fatalf("%d samples", len(ms))
		}
		for _, c := range topCommands(info.Commands, redisCommandLimit) {
			if !utf8.ValidString(c.name) {
				t.Fatalf("invalid label value %q", c.name)
			}
		}
	})
}
