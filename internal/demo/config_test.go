package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestModesAndOverrides(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		mode      string
		pool      int
		cache     *bool
		wantPool  int
		wantCache bool
	}{
		{ModeTuned, 0, nil, 50, true},
		{ModeNaive, 0, nil, 4, false},
		{ModeNaive, 50, nil, 50, false},
		{ModeNaive, 0, &on, 4, true},
		{ModeTuned, 4, &off, 4, false},
	} {
		c := DefaultConfig()
		c.Mode, c.PostgresPoolSize, c.CacheEnabled = tc.mode, tc.pool, tc.cache
		if c.PoolSize() != tc.wantPool || c.CacheOn() != tc.wantCache {
			t.Errorf("mode %s pool %d cache %v: got pool %d cache %v, want %d %v",
				tc.mode, tc.pool, tc.cache, c.PoolSize(), c.CacheOn(), tc.wantPool, tc.wantCache)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:s3cret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                           "postgresql://u@h/db",
		"postgres://u@h/db?password=s3cret":             "postgres://u@h/db?password=xxxxx",
		"host=h user=u password=s3cret dbname=d":        "host=h user=u password=xxxxx dbname=d",
		"host=h password='s3 cret' dbname=d":            "host=h password=xxxxx dbname=d",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigErrors runs the command line like main does: every
// configuration error is one line on stderr, exit code 2, no password.
func TestConfigErrors(t *testing.T) {
	const secret = "s3cretPW"
	good := "--postgres.dsn=postgres://u:" + secret + "@127.0.0.1:1/db"
	for name, args := range map[string][]string{
		"no dsn":            {},
		"bad port":          {"--postgres.dsn=postgres://u:" + secret + "@h:notaport/db"},
		"bad kv dsn":        {"--postgres.dsn=host=h password=" + secret + " port=x"},
		"unknown flag":      {good, "--nope"},
		"bad mode":          {good, "--mode=fast"},
		"negative pool":     {good, "--postgres.pool-size=-1"},
		"huge pool":         {good, "--postgres.pool-size=100000"},
		"bad duration":      {good, "--fault.query-delay=soon"},
		"negative delay":    {good, "--fault.cpu-burn=-1s"},
		"bad cache bool":    {good, "--cache.enabled=maybe"},
		"cache without rds": {good, "--redis.addr=", "--cache.enabled"},
		"zero timeout":      {good, "--postgres.timeout=0s"},
		"redis password":    {good, "--redis.password=" + secret, "--bad"},
		"seed no dsn":       {"seed", "--users=1"},
		"seed bad counts":   {"seed", good, "--users=0", "--posts=5"},
		"seed bad dsn":      {"seed", "--postgres.dsn=postgres://u:" + secret + "@h:x/db"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			out := stderr.String()
			if code != ExitConfig {
				t.Errorf("exit %d, want %d; stderr %q", code, ExitConfig, out)
			}
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "loadlens-demo: error: ") {
				t.Errorf("want one error line on stderr, got %q", out)
			}
			if strings.Contains(out+stdout.String(), secret) {
				t.Errorf("password printed: %q", out)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"seed", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != ExitOK {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	var stdout bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, &stdout, &bytes.Buffer{})
	for _, flag := range []string{"--web.listen-address", "--admin.listen-address", "--postgres.pool-size",
		"cache.enabled", "--fault.query-delay", "--fault.cpu-burn", "--mode", "--slow-query.threshold", "--otlp.endpoint"} {
		if !strings.Contains(stdout.String(), flag) {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	for in, ok := range map[string]bool{
		"1": true, "42": true, "9223372036854775807": true,
		"0": false, "-1": false, "+1": false, " 1": false, "1.0": false, "1e3": false, "": false,
		"9223372036854775808": false, "00000000000000000001": false, "abc": false, "0x10": false,
	} {
		_, err := parsePositive(in)
		if (err == nil) != ok {
			t.Errorf("parsePositive(%q): err %v, want ok=%v", in, err, ok)
		}
	}
}

func TestRecovererAnswers500(t *testing.T) {
	var logs stacktest.SyncBuffer
	h := recoverer(newTestLogger(&logs), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var m map[string]int
		m["boom"]++ // nil map write: a runtime panic
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	var body errorBody
	if rec.Code != http.StatusInternalServerError || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" {
		t.Fatalf("got %d %q, want 500 with a JSON error", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "panic serving request") {
		t.Errorf("panic not logged: %q", logs.String())
	}
}

func TestLimitedLog(t *testing.T) {
	var logs stacktest.SyncBuffer
	l := newLimitedLog(newTestLogger(&logs), time.Hour)
	for range 100 {
		l.Warn("redis unavailable")
	}
	if n := strings.Count(logs.String(), "redis unavailable"); n != 1 {
		t.Fatalf("logged %d lines, want 1", n)
	}
}

func TestBurnCPU(t *testing.T) {
	start := time.Now()
	burnCPU(20 * time.Millisecond)
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("burned %s, want at least 20ms", el)
	}
}

// TestFlagsModesAndEnv: --mode fills only what flags and environment
// variables left unset.
func TestFlagsModesAndEnv(t *testing.T) {
	dsn := "--postgres.dsn=postgres://u@127.0.0.1/db"
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		wantPool  int
		wantCache bool
		wantDelay time.Duration
		wantBurn  time.Duration
	}{
		{"default is tuned", []string{dsn}, nil, 50, true, 0, 0},
		{"naive", []string{dsn, "--mode=naive"}, nil, 4, false, 0, 0},
		{"naive with big pool", []string{dsn, "--mode=naive", "--postgres.pool-size=50"}, nil, 50, false, 0, 0},
		{"tuned without cache", []string{dsn, "--mode=tuned", "--no-cache.enabled"}, nil, 50, false, 0, 0},
		{"naive with cache", []string{dsn, "--mode=naive", "--cache.enabled"}, nil, 4, true, 0, 0},
		{"explicit serve", []string{"serve", dsn, "--mode=naive"}, nil, 4, false, 0, 0},
		{"env", []string{dsn}, map[string]string{
			"LOADLENS_MODE": "naive", "LOADLENS_CACHE_ENABLED": "true", "LOADLENS_POSTGRES_POOL_SIZE": "8",
			"LOADLENS_FAULT_QUERY_DELAY": "20ms", "LOADLENS_FAULT_CPU_BURN": "5ms",
		}, 8, true, 20 * time.Millisecond, 5 * time.Millisecond},
		{"flag beats env", []string{dsn, "--no-cache.enabled", "--fault.query-delay=1ms"}, map[string]string{
			"LOADLENS_CACHE_ENABLED": "true", "LOADLENS_FAULT_QUERY_DELAY": "20ms",
		}, 50, false, time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			p, err := parseArgs(tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			c := p.cfg
			if p.cmd != "serve" || c.PoolSize() != tc.wantPool || c.CacheOn() != tc.wantCache ||
				c.FaultQueryDelay != tc.wantDelay || c.FaultCPUBurn != tc.wantBurn {
				t.Fatalf("cmd %s pool %d cache %v delay %s burn %s; want serve %d %v %s %s", p.cmd, c.PoolSize(), c.CacheOn(),
					c.FaultQueryDelay, c.FaultCPUBurn, tc.wantPool, tc.wantCache, tc.wantDelay, tc.wantBurn)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	p, err := parseArgs([]string{"seed", dsn, "--users=7", "--posts=9", "--force"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil || p.cmd != "seed" || p.seed.Users != 7 || p.seed.Posts != 9 || !p.seed.Force {
		t.Fatalf("seed flags: %+v %v", p.seed, err)
	}
}
