package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/stacktest"
)

// TestBinary builds cmd/loadlens-demo and runs it as an operator would:
// seed (DSN from the environment), serve, SIGTERM; plus a config error.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "loadlens-demo")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/loadlens-demo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pg := stacktest.PostgresDB(t)
	rd := stacktest.RedisDB(t)
	env := append(os.Environ(), "LOADLENS_POSTGRES_DSN="+pg.DSN, "LOADLENS_REDIS_ADDR="+rd.Addr)

	// Config error: exit 2, one line, no password.
	cmd := exec.Command(bin, "--postgres.dsn=postgres://u:"+pg.Password+"@h:bad/db")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(stderr.String(), "\n") != 1 || strings.Contains(stderr.String(), pg.Password) {
		t.Fatalf("config error: %v, stderr %q", err, stderr.String())
	}

	// seed
	cmd = exec.Command(bin, "seed", "--users=100", "--posts=1000")
	cmd.Env = env
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "seeded users=100 posts=1000 in ") {
		t.Fatalf("seed: %v, stdout %q, stderr %q", err, out, stderr.String())
	}
	if !strings.Contains(stderr.String(), "seed: posts 1000/1000 rows (100%)") {
		t.Errorf("seed progress: %q", stderr.String())
	}
	cmd = exec.Command(bin, "seed", "--users=100", "--posts=1000")
	cmd.Env = env
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "already seeded users=100 posts=1000") {
		t.Fatalf("second seed: %v %q", err, out)
	}

	// serve, then SIGTERM
	cmd = exec.Command(bin, "--web.listen-address=127.0.0.1:0", "--admin.listen-address=127.0.0.1:0",
		"--log.format=json", "--redis.key-prefix="+rd.Prefix, "--mode=naive")
	cmd.Env = env
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any, 100)
	var logged bytes.Buffer
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			logged.Write(sc.Bytes())
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	var listen string
	deadline := time.After(20 * time.Second)
	for listen == "" {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("binary exited before serving")
			}
			if m["msg"] == "serving" {
				listen, _ = m["listen"].(string)
				if m["pool_size"] != float64(4) || m["cache"] != false {
					t.Errorf("naive mode: %v", m)
				}
			}
		case <-deadline:
			t.Fatal("no serving log line within 20s")
		}
	}
	var u User
	callJSON(t, "GET", "http://"+listen+"/users/7", "", 200, &u)
	if u.Email != "user7@example.com" {
		t.Fatalf("user 7: %+v", u)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		for range lines {
		}
		waited <- cmd.Wait()
	}()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	if strings.Contains(logged.String(), pg.Password) {
		t.Error("password in the logs")
	}
}
