package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testConfig(t *testing.T, parts ...string) Config {
	t.Helper()
	dir, err := os.MkdirTemp("", "loadlens-stack-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := Config{Dir: dir, Parts: parts, PostgresNoFsync: true, RuleFiles: []string{}}
	if len(parts) == 0 || slices.Contains(parts, PartDemo) || slices.Contains(parts, PartExporter) {
		cfg.BinDir = testBinaries(t)
	}
	return cfg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// testBinaries builds loadlens-demo and loadlens-exporter once per test run.
func testBinaries(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "loadlens-bin-")
		if built.err != nil {
			return
		}
		root, err := RepoRoot(".")
		if err != nil {
			built.err = err
			return
		}
		built.err = BuildBinaries(context.Background(), root, built.dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// descendants returns pid and every process whose ancestry leads to it.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q := p; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", hostPort(port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestTwoStacksStartAndStopCleanly runs two full stacks at once and checks
// that stopping them leaves no process (by PID, children included) and no
// listening port behind.
func TestTwoStacksStartAndStopCleanly(t *testing.T) {
	var stacks [2]*Stack
	var errs [2]error
	var wg sync.WaitGroup
	for i := range stacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stacks[i], errs[i] = Start(context.Background(), testConfig(t))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, s := range stacks {
				if s != nil {
					s.Stop(context.Background())
				}
			}
			t.Fatalf("stack %d: %v", i, err)
		}
	}
	ports := map[int]string{}
	var pids []int
	for i, s := range stacks {
		st, err := Probe(context.Background(), s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Healthy || len(st.Parts) != len(allParts) {
			t.Errorf("stack %d not healthy: %+v", i, st)
		}
		for _, p := range st.Parts {
			if other, dup := ports[p.Port]; dup {
				t.Errorf("port %d used by %s and %s", p.Port, other, p.Name)
			}
			ports[p.Port] = p.Name
			if !listening(p.Port) {
				t.Errorf("%s not listening on %d", p.Name, p.Port)
			}
			pids = append(pids, descendants(p.PID)...)
		}
	}
	if len(pids) < 2*len(allParts)+4 { // every part of both stacks plus PostgreSQL's background workers
		t.Errorf("found only %d processes for two stacks", len(pids))
	}
	for _, s := range stacks {
		if err := s.Stop(context.Background()); err != nil {
			t.Error(err)
		}
		if _, err := ReadState(s.Dir()); !errors.Is(err, ErrNotRunning) {
			t.Errorf("state file left behind: %v", err)
		}
	}
	for _, pid := range pids {
		if processAlive(pid, "") {
			t.Errorf("process %d still alive after stop", pid)
		}
	}
	for port, name := range ports {
		if listening(port) {
			t.Errorf("%s port %d still listening after stop", name, port)
		}
	}
}

func TestMissingBinaryNamesSetupCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), testConfig(t, PartRedis))
	var mb *MissingBinaryError
	if !errors.As(err, &mb) || !strings.Contains(err.Error(), "redis-server") || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("got %v, want a missing redis-server error naming make setup", err)
	}
	t.Setenv("LOADLENS_PG_BINDIR", t.TempDir())
	_, err = Start(context.Background(), testConfig(t, PartPostgres))
	if !errors.As(err, &mb) || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("got %v, want a missing postgres error naming make setup", err)
	}
	cfg := testConfig(t, PartExporter)
	cfg.BinDir = t.TempDir()
	_, err = Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "loadlens-exporter not found") || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("got %v, want a missing loadlens-exporter error naming make build", err)
	}
}

func TestTakenPortNamesPortAndFlag(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	cfg := testConfig(t, PartRedis, PartPrometheus)
	cfg.Ports.Prometheus = port
	_, err = Start(context.Background(), cfg)
	var pe *PortInUseError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a port-in-use error", err)
	}
	for _, want := range []string{strconv.Itoa(port), "prometheus", "--prometheus.port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "logs", "redis.log")); !errors.Is(err, os.ErrNotExist) {
		t.Error("redis was started although a port was taken")
	}
}

func TestProbeReflectsKilledPart(t *testing.T) {
	s, err := Start(context.Background(), testConfig(t, PartRedis, PartAlertmanager))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	st, _ := s.Part(PartRedis)
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, err := Probe(context.Background(), s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		health := map[string]string{}
		for _, p := range status.Parts {
			health[p.Name] = p.Health
		}
		if health[PartRedis] == HealthStopped {
			if health[PartAlertmanager] != HealthReady || status.Healthy || !status.Running {
				t.Fatalf("after killing redis: %+v", status)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis still reported %q after SIGKILL", health[PartRedis])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A part failing to start, or an interrupt during start (Ctrl-C), stops
// every part already started.
func TestFailedOrInterruptedStartLeavesNothing(t *testing.T) {
	t.Run("failed", func(t *testing.T) {
		cfg := testConfig(t, PartRedis, PartPrometheus)
		bad := filepath.Join(cfg.Dir, "bad.yml")
		os.WriteFile(bad, []byte("groups: [{name: x, rules: [{record: 'a', expr: 'sum('}]}]\n"), 0o644)
		cfg.RuleFiles = []string{bad}
		var redisPID int
		cfg.beforeStart = func(part string) {
			if part == PartPrometheus {
				redisPID = pidOf(t, cfg.Dir, "redis-server")
			}
		}
		_, err := Start(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "prometheus") {
			t.Fatalf("got %v, want prometheus start failure", err)
		}
		if redisPID == 0 || processAlive(redisPID, "") {
			t.Fatalf("redis (pid %d) not stopped after the failed start", redisPID)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		cfg := testConfig(t, PartPostgres, PartRedis)
		ctx, cancel := context.WithCancel(context.Background())
		var pgPID int
		cfg.beforeStart = func(part string) {
			if part == PartRedis {
				pgPID = pidOf(t, cfg.Dir, "postgres")
				cancel()
			}
		}
		_, err := Start(ctx, cfg)
		if !errors.Is(err, context.Canceled) && (err == nil || !strings.Contains(err.Error(), "interrupted")) {
			t.Fatalf("got %v, want an interrupted start", err)
		}
		if pgPID == 0 || processAlive(pgPID, "") {
			t.Fatalf("postgres (pid %d) not stopped after the interrupt", pgPID)
		}
	})
}

// pidOf finds the process of binary whose command line mentions dir or
// which the test started (redis-server has no dir in argv: match --dir).
func pidOf(t *testing.T, dir, binary string) int {
	if path, err := lookPath(nil, binary); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			binary = filepath.Base(real) // redis-server is a link to redis-check-rdb
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if filepath.Base(exe) == binary && processAlive(p, "") && belongsTo(p, dir, string(cmd)) {
			return p
		}
	}
	t.Fatalf("no %s process for %s", binary, dir)
	return 0
}

func belongsTo(pid int, dir, cmdline string) bool {
	if strings.Contains(cmdline, dir) {
		return true
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return strings.HasPrefix(cwd, dir)
}
