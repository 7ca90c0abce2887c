package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

type testServer struct {
	*Server
	logs *stacktest.SyncBuffer
	stop context.CancelFunc
	done chan error
}

// testConfig points at a fresh database and a key prefix of the shared Redis.
func testConfig(t *testing.T) Config {
	t.Helper()
	pg := stacktest.PostgresDB(t)
	rd := stacktest.RedisDB(t)
	cfg := DefaultConfig()
	cfg.ListenAddress, cfg.AdminListenAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.PostgresDSN = pg.DSN
	cfg.RedisAddr, cfg.RedisDB, cfg.RedisKeyPrefix = rd.Addr, rd.DB, rd.Prefix
	cfg.StartupTimeout = 20 * time.Second
	return cfg
}

// startServer runs a Server until the test ends (and checks it stops cleanly).
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	logs := &stacktest.SyncBuffer{}
	logger := newTestLogger(logs)
	s, err := New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	return ts
}

func seed(t *testing.T, dsn string, users, posts int64) {
	t.Helper()
	if _, err := Seed(context.Background(), dsn, SeedOptions{Users: users, Posts: posts}); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

var testClient = &http.Client{Timeout: 20 * time.Second}

// call sends a request and returns the status and body.
func call(t testing.TB, method, url, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, b
}

// callJSON sends a request, checks the status and decodes the body into out.
func callJSON(t testing.TB, method, url, body string, want int, out any) {
	t.Helper()
	status, b := call(t, method, url, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, url, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
}

// eventually polls cond every 20ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
