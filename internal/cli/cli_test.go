package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/stack"
)

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
	defer os.RemoveAll(dir)
	free := []string{"--postgres.port=0", "--redis.port=0", "--prometheus.port=0", "--alertmanager.port=0"}

	code, out, errs := run(t, append([]string{"--dir", dir, "up"}, free...)...)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s%s", code, out, errs)
	}
	t.Cleanup(func() { stack.Down(context.Background(), dir) })
	for _, want := range []string{"loadlens is up", "postgres://postgres@127.0.0.1:", "http://127.0.0.1:", "Redis"} {
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
	if code != 0 || !st.Healthy || len(st.Parts) != 4 {
		t.Fatalf("status: exit %d %+v", code, st)
	}
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
	for _, args := range [][]string{{"up", "--bogus"}, {"frobnicate"}, {"up", "--postgres.port=x"}} {
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
