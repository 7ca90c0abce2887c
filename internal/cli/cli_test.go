package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/contract/contracttest"
	"github.com/loadlens/loadlens/internal/loadtest"
	"github.com/loadlens/loadlens/internal/stack"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUpStatusDown(t *testing.T) {
	dir, err := os.MkdirTemp("", "loadlens-cli-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) }) // runs after the Down below: cleanups are LIFO
	t.Setenv("LOADLENS_BIN_DIR", stacktest.Binaries(t))
	free := []string{"--postgres.port=0", "--redis.port=0", "--prometheus.port=0", "--alertmanager.port=0",
		"--demo.port=0", "--exporter.port=0", "--seed.users=100", "--seed.posts=500"}

	code, out, errs := run(t, "--dir", dir, "run", "smoke")
	if code != exitFailure || !strings.Contains(errs, "loadlens up") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("run without a stack: exit %d, stderr %q; want one line naming loadlens up", code, errs)
	}

	code, out, errs = run(t, append([]string{"--dir", dir, "up"}, free...)...)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s%s", code, out, errs)
	}
	t.Cleanup(func() { stack.Down(context.Background(), dir) })
	for _, want := range []string{"loadlens is up", "postgres://postgres@127.0.0.1:", "http://127.0.0.1:", "Redis", "Demo service", "mode tuned, 100 users / 500 posts", "loadlens-exporter"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	pw, _ := os.ReadFile(dir + "/postgres.password")
	if len(bytes.TrimSpace(pw)) == 0 || strings.Contains(out, strings.TrimSpace(string(pw))) {
		t.Errorf("the PostgreSQL password is missing or printed")
	}

	code, out, _ = run(t, "--dir", dir, "up")
	if code != 0 || !strings.Contains(out, "already running") {
		t.Errorf("second up: exit %d\n%s", code, out)
	}

	status := func() (int, stack.Status) {
		code, out, errs := run(t, "--dir", dir, "status", "--json")
		var st stack.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s%s", err, out, errs)
		}
		return code, st
	}
	code, st := status()
	if code != 0 || !st.Healthy || len(st.Parts) != len(stack.AllParts()) {
		t.Fatalf("status: exit %d %+v", code, st)
	}
	testRunAndReport(t, dir, st)
	redis, _ := stackPart(st, stack.PartRedis)
	if err := syscall.Kill(redis.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, st = status()
		if p, _ := stackPart(st, stack.PartRedis); p.Health == stack.HealthStopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed redis stopped: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 1 || st.Healthy || !st.Running {
		t.Errorf("status with redis killed: exit %d %+v", code, st)
	}

	code, out, errs = run(t, "--dir", dir, "down")
	if code != 0 || !strings.Contains(out, "Stopped") {
		t.Fatalf("down: exit %d\n%s%s", code, out, errs)
	}
	for _, p := range st.Parts {
		if alive(p.PID) {
			t.Errorf("%s (pid %d) still running after down", p.Name, p.PID)
		}
	}
	code, out, _ = run(t, "--dir", dir, "down")
	if code != 0 || !strings.Contains(out, "Nothing to stop") {
		t.Errorf("second down: exit %d\n%s", code, out)
	}
	code, _ = status()
	if code != exitNotRunning {
		t.Errorf("status after down: exit %d, want %d", code, exitNotRunning)
	}
}

func TestBadInvocations(t *testing.T) {
	for _, args := range [][]string{{"up", "--bogus"}, {"frobnicate"}, {"up", "--postgres.port=x"}, {"report"}, {"run"}, {"up", "--demo.mode=fast"}} {
		code, out, errs := run(t, args...)
		if code != exitUsage || out != "" || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "loadlens: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line and exit 2", args, code, out, errs)
		}
	}
}

func stackPart(st stack.Status, name string) (stack.PartStatus, bool) {
	for _, p := range st.Parts {
		if p.Name == name {
			return p, true
		}
	}
	return stack.PartStatus{}, false
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && s[i+2] != 'Z'
}

// testRunAndReport runs a short k6 smoke test through `loadlens run` on the
// real stack: k6's request count equals the demo's own counter delta, and
// the report is written; bad report invocations fail in one line.
func testRunAndReport(t *testing.T, dir string, st stack.Status) {
	demo, _ := st.Part(stack.PartDemo)
	served := func() float64 {
		var n float64
		for _, m := range contracttest.Scrape(t, demo.URL+"/metrics")["http_server_request_duration_seconds"].GetMetric() {
			n += float64(m.GetHistogram().GetSampleCount())
		}
		return n
	}
	before := served()
	reports := t.TempDir()
	t.Setenv("LOADLENS_REPORTS", reports)
	code, out, errs := run(t, "--dir", dir, "run", "smoke", "--quiet", "--testid", "cli-smoke",
		"--env", "DURATION=4s", "--env", "VUS=2", "--env", "SLEEP=0.01")
	// 99: k6 thresholds crossed (a loaded machine); the counts below
	// still hold.
	if code != 0 && code != 99 {
		t.Fatalf("run smoke: exit %d\n%s%s", code, out, errs)
	}
	delta := served() - before
	res := readJSON(t, filepath.Join(reports, "cli-smoke", loadtest.SummaryFile))
	var k6 float64
	if m, ok := res["metrics"].(map[string]any)["http_reqs"].(map[string]any); ok {
		k6, _ = m["count"].(float64)
	}
	if k6 == 0 || delta < k6 || delta > k6*1.01+1 {
		t.Errorf("k6 counted %v requests, the demo served %v", k6, delta)
	}
	report, err := os.ReadFile(filepath.Join(reports, "cli-smoke", "report.md"))
	if err != nil {
		t.Fatalf("no report written: %v\n%s", err, out)
	}
	for _, want := range []string{"cli-smoke", "GET /users/{id}", "Verdict"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if !strings.Contains(out, "report.md") {
		t.Errorf("run output does not name the report:\n%s", out)
	}
	code, _, errs = run(t, "--dir", dir, "report", "--testid", "no-such-run")
	if code != exitFailure || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "no-such-run") {
		t.Errorf("report of an unknown testid: exit %d, stderr %q; want one line naming it", code, errs)
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// TestCompare runs `loadlens compare` for a few seconds per mode: the naive
// report names its pool of 4 as the bottleneck, and the tuned report holds
// the before/after table against the naive run.
func TestCompare(t *testing.T) {
	dir, err := os.MkdirTemp("", "loadlens-cli-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(func() { stack.Down(context.Background(), dir) })
	t.Setenv("LOADLENS_BIN_DIR", stacktest.Binaries(t))
	reports := t.TempDir()
	t.Setenv("LOADLENS_REPORTS", reports)
	code, out, errs := run(t, "--dir", dir, "compare", "--scenario", "smoke",
		"--postgres.port=0", "--redis.port=0", "--prometheus.port=0", "--alertmanager.port=0", "--demo.port=0", "--exporter.port=0",
		"--seed.users=100", "--seed.posts=500", "--demo.query-delay=20ms",
		"--env", "DURATION=12s", "--env", "VUS=8", "--env", "SLEEP=0.001")
	if code != 0 {
		t.Fatalf("compare: exit %d\n%s%s", code, out, errs)
	}
	runs, err := os.ReadDir(reports)
	if err != nil || len(runs) != 2 {
		t.Fatalf("want two runs in %s, got %v (%v)", reports, runs, err)
	}
	var naive, tuned string
	for _, r := range runs {
		b, err := os.ReadFile(filepath.Join(reports, r.Name(), "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(r.Name(), "-naive-"):
			naive = string(b)
		case strings.Contains(r.Name(), "-tuned-"):
			tuned = string(b)
		}
	}
	if !strings.Contains(naive, "connection pool (size 4) is the bottleneck") {
		t.Errorf("the naive report does not name its pool of 4:\n%s", naive)
	}
	if !strings.Contains(tuned, "## Compared with baseline") || !strings.Contains(tuned, "| postgres | 50 |") {
		t.Errorf("the tuned report lacks the comparison or its pool of 50:\n%s", tuned)
	}
	if strings.Contains(tuned, "is the bottleneck") && strings.Contains(tuned, "connection pool (size 50)") {
		t.Errorf("the tuned pool of 50 is reported as the bottleneck:\n%s", tuned)
	}
}
