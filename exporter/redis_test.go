package exporter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/loadlens/loadlens/internal/stacktest"
)

// lockedBuffer is a log sink safe for the collector's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestRedisCollector(t *testing.T, cfg RedisConfig, logs *lockedBuffer) *RedisCollector {
	t.Helper()
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := NewRedisCollector(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func redisClient(t *testing.T, addr, password string) *redis.Client {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, Password: password, PoolSize: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func TestRedisCollectorAgainstRealServer(t *testing.T) {
	rs := stacktest.RedisServer(t) // private: keyspace counters belong to this test alone
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := redisClient(t, rs.Addr, "")
	if err := cl.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := cl.Get(ctx, "k").Err(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := cl.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing: %v", err)
		}
	}

	c := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr}, nil)
	got, err := scrapeCollector(t, c)
	if err != nil {
		t.Fatal(err)
	}
	want := expo(t, "loadlens_redis_up", " 1") +
		expo(t, "loadlens_redis_keyspace_hits_total", " 3") +
		expo(t, "loadlens_redis_keyspace_misses_total", " 2") +
		expo(t, "loadlens_redis_evicted_keys_total", " 0") +
		expo(t, "loadlens_redis_maxclients", " 10000") +
		expo(t, "loadlens_redis_memory_max_bytes", " 0") +
		expo(t, "loadlens_redis_blocked_clients", " 0") +
		expo(t, "loadlens_redis_rejected_connections_total", " 0")
	if err := testutil.CollectAndCompare(got, strings.NewReader(want),
		"loadlens_redis_up", "loadlens_redis_keyspace_hits_total", "loadlens_redis_keyspace_misses_total", "loadlens_redis_evicted_keys_total",
		"loadlens_redis_maxclients", "loadlens_redis_memory_max_bytes", "loadlens_redis_blocked_clients", "loadlens_redis_rejected_connections_total"); err != nil {
		t.Error(err)
	}
	values := sampleValues(t, got)
	if v := values[`loadlens_redis_command_calls_total{cmd="get"}`]; v != 5 {
		t.Errorf("get calls = %v, want 5", v)
	}
	if v := values[`loadlens_redis_command_calls_total{cmd="set"}`]; v != 1 {
		t.Errorf("set calls = %v, want 1", v)
	}
	if v := values[`loadlens_redis_command_duration_seconds_total{cmd="get"}`]; v <= 0 || v > 1 {
		t.Errorf("get seconds = %v, want a small positive number of seconds", v)
	}
	if v := values["loadlens_redis_connected_clients"]; v < 2 {
		t.Errorf("connected clients = %v, want at least the test's client and the exporter", v)
	}
	if v := values["loadlens_redis_memory_used_bytes"]; v < 1<<16 {
		t.Errorf("used memory = %v bytes", v)
	}
	if v := values["loadlens_redis_commands_processed_total"]; v < 6 {
		t.Errorf("commands processed = %v", v)
	}
	foundInfo := false
	for k := range values {
		foundInfo = foundInfo || strings.HasPrefix(k, `loadlens_redis_server_info{mode="standalone",version="`)
	}
	if !foundInfo {
		t.Error("no loadlens_redis_server_info")
	}
	if problems, err := testutil.CollectAndLint(got); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	checkContractFamilies(t, got, nil, "loadlens_redis_")

	// Concurrent updates share the collector's single connection.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := scrapeCollector(t, c); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, err := cl.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list, "name=loadlens-exporter "); n != 1 {
		t.Errorf("exporter holds %d connections, want 1:\n%s", n, list)
	}
}

// sampleValues renders samples as "name{labels}" -> value.
func sampleValues(t *testing.T, samples staticSamples) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(samples); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[key] = v
		}
	}
	return out
}

func TestRedisCollectorServerDownAndBack(t *testing.T) {
	rs := stacktest.RedisServer(t)
	logs := &lockedBuffer{}
	c := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr}, logs)
	up := func() float64 {
		got, _ := scrapeCollector(t, c)
		return sampleValues(t, got)["loadlens_redis_up"]
	}
	if v := up(); v != 1 {
		t.Fatalf("up = %v before the stop", v)
	}

	// Another collector runs beside redis in the same exporter.
	other := collectorFunc(func(_ context.Context, ch chan<- prometheus.Metric) error {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("loadlens_test_other_up", "h", nil, nil), prometheus.GaugeValue, 1)
		return nil
	})
	e, err := New([]Named{{Name: "redis", Collector: c}, {Name: "other", Collector: other}}, Options{Budget: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	rs.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch := make(chan prometheus.Metric, 64)
	err = c.Update(ctx, ch)
	close(ch)
	if err == nil {
		t.Fatal("Update succeeded against a stopped server")
	}
	// A refused connection fails at once, not at the end of the budget.
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update waited for the whole budget: %v", err)
	}
	var samples staticSamples
	for m := range ch {
		samples = append(samples, m)
	}
	if err := testutil.CollectAndCompare(samples, strings.NewReader(expo(t, "loadlens_redis_up", " 0"))); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(e, strings.NewReader(
		"# HELP loadlens_test_other_up h\n# TYPE loadlens_test_other_up gauge\nloadlens_test_other_up 1\n"+
			expo(t, "loadlens_redis_up", " 0")+
			expo(t, "loadlens_exporter_collector_success", `{collector="other"} 1`, `{collector="redis"} 0`)),
		"loadlens_test_other_up", "loadlens_redis_up", "loadlens_exporter_collector_success"); err != nil {
		t.Error(err)
	}

	rs.Start()
	waitUntil(t, 20*time.Second, func() string {
		if v := up(); v != 1 {
			return "redis_up still 0 after the restart"
		}
		return ""
	})
	if l := logs.String(); !strings.Contains(l, "redis is unreachable") || !strings.Contains(l, "redis is reachable") {
		t.Errorf("state changes not logged:\n%s", l)
	}
}

// collectorFunc adapts a function to Collector.
type collectorFunc func(ctx context.Context, ch chan<- prometheus.Metric) error

func (f collectorFunc) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return f(ctx, ch)
}

func TestRedisCollectorPasswordProtectedServer(t *testing.T) {
	rs := stacktest.RedisServer(t)
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	password := "pw-" + hex.EncodeToString(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A real password-protected server: requirepass set on the running
	// private server (the harness starts Redis without one).
	if err := redisClient(t, rs.Addr, "").ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	wrong := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr, Password: password + "-wrong"}, logs)
	got, err := scrapeCollector(t, wrong)
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	if v := sampleValues(t, got)["loadlens_redis_up"]; v != 0 {
		t.Errorf("up = %v with a wrong password", v)
	}
	noPass := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr}, logs)
	if _, err := scrapeCollector(t, noPass); err == nil {
		t.Fatal("no password accepted")
	}

	right := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr, Password: password, Timeout: 2 * time.Second}, logs)
	got, err = scrapeCollector(t, right)
	if err != nil {
		t.Fatal(err)
	}
	if v := sampleValues(t, got)["loadlens_redis_up"]; v != 1 {
		t.Errorf("up = %v with the right password", v)
	}
	// URL form, password in the URL.
	viaURL := newTestRedisCollector(t, RedisConfig{Addr: "redis://:" + password + "@" + rs.Addr + "/0"}, logs)
	if _, err := scrapeCollector(t, viaURL); err != nil {
		t.Fatal(err)
	}

	rs.Stop() // errors of a dead server, with the password configured
	if _, err := scrapeCollector(t, right); err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("error after stop: %v", err)
	}
	if _, err := scrapeCollector(t, viaURL); err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("error after stop (URL): %v", err)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("password in logs:\n%s", logs.String())
	}
	for _, m := range got {
		if strings.Contains(m.Desc().String(), password) {
			t.Errorf("password in a metric: %s", m.Desc())
		}
	}
	if !strings.Contains(logs.String(), "redis is unreachable") {
		t.Errorf("failures not logged:\n%s", logs.String())
	}
}

func TestNewRedisCollectorConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  RedisConfig
		want string
	}{
		{"empty address", RedisConfig{}, "redis address is empty"},
		{"negative timeout", RedisConfig{Addr: "127.0.0.1:6379", Timeout: -time.Second}, "must not be negative"},
		{"bad URL keeps the password out", RedisConfig{Addr: "redis://:s3cr3t-pw@host:notaport/x/y"}, "invalid redis URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRedisCollector(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Fatalf("password in error: %v", err)
			}
		})
	}
}

// An ACL user allowed INFO (and CLIENT SETNAME, which the collector sends
// on connect to name its connection) but denied CONFIG: every family but
// the CONFIG fallback of maxclients works, and the fallback degrades to
// "absent" instead of failing the scrape.
func TestRedisCollectorLeastPrivilegeUser(t *testing.T) {
	rs := stacktest.RedisServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := redisClient(t, rs.Addr, "")
	if err := admin.Do(ctx, "ACL", "SETUSER", "exporter", "on", ">exporter-pw", "-@all", "+info", "+client|setname").Err(); err != nil {
		t.Fatal(err)
	}
	c := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr, Username: "exporter", Password: "exporter-pw"}, nil)
	got, err := scrapeCollector(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if v := sampleValues(t, got)["loadlens_redis_up"]; v != 1 {
		t.Fatalf("up = %v", v)
	}
	if _, ok := c.configMaxclients(ctx); ok {
		t.Error("CONFIG GET allowed to a user without +config")
	}
	full := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr}, nil)
	if v, ok := full.configMaxclients(ctx); !ok || v != 10000 {
		t.Errorf("CONFIG GET maxclients = %v, %v; want 10000", v, ok)
	}
}

// A hung server (SIGSTOP: connections accepted by the kernel, never
// answered) costs a scrape its budget, not the connection timeout.
func TestRedisCollectorHungServerHonoursTheBudget(t *testing.T) {
	rs := stacktest.RedisServer(t)
	c := newTestRedisCollector(t, RedisConfig{Addr: rs.Addr, Timeout: time.Minute}, nil)
	if _, err := scrapeCollector(t, c); err != nil {
		t.Fatal(err)
	}
	pid := rs.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ch := make(chan prometheus.Metric, 64)
	done := make(chan error, 1)
	go func() { done <- c.Update(ctx, ch) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Update succeeded against a stopped process")
		}
	case <-time.After(30 * time.Second): // far below the 1-minute connection timeout
		t.Fatal("Update ignored its context and waited for the connection timeout")
	}
	close(ch)
	var samples staticSamples
	for m := range ch {
		samples = append(samples, m)
	}
	if v := sampleValues(t, samples)["loadlens_redis_up"]; v != 0 || len(samples) != 1 {
		t.Errorf("samples = %d, up = %v; want only up 0", len(samples), v)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, func() string {
		got, _ := scrapeCollector(t, c)
		if sampleValues(t, got)["loadlens_redis_up"] != 1 {
			return "redis_up still 0 after SIGCONT"
		}
		return ""
	})
}
