package stacktest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestPostgresDBIsolatedWithStatStatements(t *testing.T) {
	a, b := PostgresDB(t), PostgresDB(t)
	if a.Database == b.Database || a.Port != b.Port {
		t.Fatalf("want two databases on one server, got %s:%d and %s:%d", a.Database, a.Port, b.Database, b.Port)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_statements").Scan(&n); err != nil {
		t.Fatalf("pg_stat_statements in a fresh database: %v", err)
	}
	var max int
	if err := conn.QueryRow(ctx, "SELECT setting::int FROM pg_settings WHERE name='max_connections'").Scan(&max); err != nil || max != 200 {
		t.Fatalf("max_connections = %d, %v; want 200", max, err)
	}
	// The password is required over TCP.
	bad := *a
	cfg, _ := pgx.ParseConfig(bad.DSN)
	cfg.Password = "wrong"
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
}

func TestPrivatePostgresStopStart(t *testing.T) {
	srv := PostgresServer(t, PostgresOptions{MaxConnections: 10, NoStatStatements: true})
	ctx := context.Background()
	srv.Stop()
	if c, err := pgx.Connect(ctx, srv.DSN); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	srv.Start()
	conn, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM pg_stat_statements"); err == nil {
		t.Fatal("pg_stat_statements exists although NoStatStatements was set")
	}
}

func TestRedisPrefixesAndPrivateServer(t *testing.T) {
	a, b := RedisDB(t), RedisDB(t)
	if a.Prefix == b.Prefix {
		t.Fatal("two tests share a prefix")
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: a.Addr})
	defer c.Close()
	if err := c.Set(ctx, a.Prefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv := RedisServer(t)
	if srv.Addr == a.Addr {
		t.Fatal("private server shares the shared server's address")
	}
	srv.Stop()
	pc := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer pc.Close()
	if pc.Ping(ctx).Err() == nil {
		t.Fatal("stopped Redis answered PING")
	}
	srv.Start()
	if err := pc.Ping(ctx).Err(); err != nil {
		t.Fatalf("restarted Redis: %v", err)
	}
}

func TestPrometheusServerWithAlertmanager(t *testing.T) {
	p := PrometheusServer(t, PrometheusOptions{WithAlertmanager: true, RuleFiles: []string{}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/api/v1/alertmanagers")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data struct {
				Active []struct{ URL string } `json:"activeAlertmanagers"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body.Data.Active) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never discovered the Alertmanager at %s", p.AlertmanagerURL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPrebuiltBinaries checks the PrebuiltEnv path: a directory without
// the binaries is an error naming the variable; one with them is used as
// is and not removed.
func TestPrebuiltBinaries(t *testing.T) {
	saved := binaries.dir
	savedPrebuilt, savedErr := binaries.prebuilt, binaries.err
	t.Cleanup(func() { binaries.dir, binaries.prebuilt, binaries.err = saved, savedPrebuilt, savedErr })

	empty := t.TempDir()
	t.Setenv(PrebuiltEnv, empty)
	buildBinaries()
	if binaries.err == nil || !strings.Contains(binaries.err.Error(), PrebuiltEnv) {
		t.Errorf("empty %s: err %v, want one naming the variable", PrebuiltEnv, binaries.err)
	}

	full := t.TempDir()
	for _, name := range []string{"loadlens-demo", "loadlens-exporter"} {
		if err := os.WriteFile(filepath.Join(full, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(PrebuiltEnv, full)
	binaries.err = nil
	buildBinaries()
	if binaries.err != nil || binaries.dir != full || !binaries.prebuilt {
		t.Errorf("prebuilt dir: dir %q prebuilt %v err %v, want %q", binaries.dir, binaries.prebuilt, binaries.err, full)
	}
}
