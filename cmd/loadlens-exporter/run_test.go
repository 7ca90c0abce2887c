package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/loadlens/loadlens/internal/contract"
	"github.com/loadlens/loadlens/internal/contract/contracttest"
	"github.com/loadlens/loadlens/internal/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

func TestBadInputIsOneLineWithoutPassword(t *testing.T) {
	const secret = "hunter2secret"
	cases := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "", "unknown long flag"},
		{"bad duration", []string{"--scrape.budget=fast"}, "", "scrape.budget"},
		{"negative budget", []string{"--scrape.budget=-1s"}, "", "must be positive"},
		{"bad log level", []string{"--log.level=loud"}, "", "log"},
		{"bad dsn flag", []string{"--postgres.dsn=postgres://app:" + secret + "@db:notaport/shop", "--no-collector.redis"}, "", "invalid postgres DSN"},
		{"bad dsn env", []string{"--no-collector.redis"}, "host=db user=app password=" + secret + " port=notaport", "invalid postgres DSN"},
		{"missing web config", []string{"--web.config.file=/nonexistent/web.yml"}, "", "web.config.file"},
		{"both redis passwords", []string{"--redis.password=" + secret, "--redis.password-file=/x"}, "", "mutually exclusive"},
		{"missing redis password file", []string{"--no-collector.postgres", "--redis.addr=127.0.0.1:1", "--redis.password-file=/nonexistent/pw"}, "", "redis.password-file"},
		{"missing kubeconfig", []string{"--no-collector.postgres", "--no-collector.redis", "--collector.kubernetes", "--kube.kubeconfig=/nonexistent/kubeconfig"}, "", "kubernetes collector"},
		{"telemetry path", []string{"--web.telemetry-path=metrics"}, "", "must start with /"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LOADLENS_POSTGRES_DSN", tc.env)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := runContext(ctx, append(tc.args, "--web.listen-address=127.0.0.1:0"), &stdout, &stderr, nil)
			out := stderr.String()
			if code == 0 {
				t.Fatalf("exit 0 for %v", tc.args)
			}
			if strings.Count(strings.TrimRight(out, "\n"), "\n") != 0 || out == "" {
				t.Errorf("stderr is not one line:\n%s", out)
			}
			if !strings.Contains(out, tc.want) || strings.Contains(out, secret) || strings.Contains(out, "goroutine") {
				t.Errorf("stderr = %q, want %q, no password, no stack trace", out, tc.want)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		if code := runContext(context.Background(), args, &stdout, &stderr, nil); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr.String())
		}
		if stdout.Len()+stderr.Len() == 0 {
			t.Errorf("%v printed nothing", args)
		}
	}
	var stdout, stderr bytes.Buffer
	runContext(context.Background(), []string{"--help"}, &stdout, &stderr, nil)
	for _, f := range []string{"--web.listen-address", "--web.telemetry-path", "--web.config.file", "--postgres.dsn", "LOADLENS_POSTGRES_DSN",
		"--redis.addr", "LOADLENS_REDIS_ADDR", "LOADLENS_REDIS_PASSWORD", "--redis.password-file", "--kube.kubeconfig", "--kube.namespace",
		"--kube.label-selector", "--[no-]collector.postgres", "--[no-]collector.redis", "--[no-]collector.kubernetes", "--scrape.budget",
		"--postgres.statements.limit", "--[no-]postgres.statements.query-text", "--postgres.slow-query-threshold", "--log.level", "--log.format"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("--help lacks %s", f)
		}
	}
}

// started runs the exporter in-process and returns its address.
func started(t *testing.T, args ...string) (addr string, stderr *stacktest.SyncBuffer) {
	t.Helper()
	stderr = &stacktest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append([]string{"--web.listen-address=127.0.0.1:0"}, args...), io.Discard, stderr,
			func(a []net.Addr) { addrc <- a[0].String() })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d after cancel: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("exporter did not stop within 10s")
		}
	})
	select {
	case a := <-addrc:
		return a, stderr
	case code := <-done:
		t.Fatalf("exporter exited %d: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("exporter did not listen within 10s")
	}
	return "", nil
}

// writeTLSConfig writes a self-signed certificate for 127.0.0.1 and a web
// config with TLS and one basic-auth user.
func writeTLSConfig(t *testing.T, user, password string) (path string, pool *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "loadlens-exporter test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile := write("cert.pem", certPEM)
	keyFile := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path = write("web.yml", fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", certFile, keyFile, user, hash))
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return path, pool
}

func get(t *testing.T, c *http.Client, url, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// The binary end to end: real PostgreSQL, TLS and basic auth from
// --web.config.file, contract, promtool, readiness, no password anywhere.
func TestExporterOverTLSWithBasicAuth(t *testing.T) {
	pg := stacktest.PostgresDB(t)
	webConfig, pool := writeTLSConfig(t, "prom", "scrape-pass")
	t.Setenv("LOADLENS_POSTGRES_DSN", pg.DSN)
	addr, stderr := started(t, "--web.config.file="+webConfig, "--no-collector.redis", "--scrape.budget=3s")
	base := "https://" + addr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	if code, _ := get(t, client, base+"/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code, _ := get(t, client, base+"/metrics", "prom", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served metrics on a TLS listener")
		}
	}

	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		var code int
		code, body = get(t, client, base+"/metrics", "prom", "scrape-pass")
		if code == http.StatusOK && strings.Contains(body, "\nloadlens_postgres_up 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres never up over TLS (last %d):\n%s\nlogs:\n%s", code, body, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	fams, err := contracttest.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range contracttest.Missing(fams, contract.Exporter, contract.ConditionPgStatStatements) {
		if strings.HasPrefix(m, "loadlens_postgres_") || strings.HasPrefix(m, "loadlens_exporter_") {
			t.Errorf("contract: %s", m)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run make setup")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 200} {
		if code, b := get(t, client, base+path, "prom", "scrape-pass"); code != want {
			t.Errorf("%s = %d, want %d: %s", path, code, want, b)
		}
	}
	if _, b := get(t, client, base+"/readyz", "prom", "scrape-pass"); !strings.Contains(b, `"name":"postgres"`) || !strings.Contains(b, `"ready":true`) {
		t.Errorf("/readyz body: %s", b)
	}
	if strings.Contains(body, pg.Password) || strings.Contains(stderr.String(), pg.Password) {
		t.Error("password in metrics or logs")
	}
	if !strings.Contains(stderr.String(), "collector=redis") && !strings.Contains(stderr.String(), "disabled") {
		t.Errorf("no log line about the disabled redis collector:\n%s", stderr.String())
	}
}

// A collector without a target is disabled with a log line; the exporter
// still serves its own metrics and is ready.
func TestUnconfiguredCollectorsAreDisabled(t *testing.T) {
	t.Setenv("LOADLENS_POSTGRES_DSN", "")
	t.Setenv("LOADLENS_REDIS_ADDR", "")
	addr, stderr := started(t)
	c := &http.Client{Timeout: 10 * time.Second}
	code, body := get(t, c, "http://"+addr+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, "loadlens_exporter_build_info{") {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	if code, b := get(t, c, "http://"+addr+"/readyz", "", ""); code != 200 {
		t.Errorf("/readyz = %d: %s", code, b)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "no target configured") || !strings.Contains(logs, "collector=postgres") {
		t.Errorf("no disabled-collector log line:\n%s", logs)
	}
}

// The redis collector is wired: LOADLENS_REDIS_ADDR enables it.
func TestRedisCollectorIsWired(t *testing.T) {
	rd := stacktest.RedisDB(t)
	t.Setenv("LOADLENS_POSTGRES_DSN", "")
	t.Setenv("LOADLENS_REDIS_ADDR", rd.Addr)
	addr, stderr := started(t, "--scrape.budget=2s")
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, c, "http://"+addr+"/metrics", "", "")
		if strings.Contains(body, "\nloadlens_redis_up 1\n") && strings.Contains(body, `loadlens_exporter_collector_success{collector="redis"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis never up:\n%s\nlogs:\n%s", body, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
