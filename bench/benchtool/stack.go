package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/loadlens/loadlens/internal/stack"
)

// runStack starts PostgreSQL (with pg_stat_statements) and Redis on free
// loopback ports with the same harness as `loadlens up` and the
// integration tests, writes their addresses to an env file for the shell,
// and stops them on SIGTERM or SIGINT. The children die with this process
// (the harness sets a parent-death signal), so nothing outlives a crash.
func runStack(args []string) error {
	fs := flag.NewFlagSet("stack", flag.ContinueOnError)
	dir := fs.String("dir", "", "run directory (data, logs)")
	envFile := fs.String("env", "", "where to write the shell variables once ready")
	maxConns := fs.Int("postgres.max-connections", 100, "PostgreSQL max_connections")
	noFsync := fs.Bool("postgres.no-fsync", false, "fsync=off, synchronous_commit=off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *envFile == "" {
		return errors.New("--dir and --env are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := stack.Start(ctx, stack.Config{
		Dir:                    *dir,
		Parts:                  []string{stack.PartPostgres, stack.PartRedis},
		PostgresMaxConnections: *maxConns,
		PostgresNoFsync:        *noFsync,
		ReadyTimeout:           60 * time.Second,
		Logger:                 logger,
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(sctx); err != nil {
			fmt.Fprintf(os.Stderr, "benchtool stack: stop: %v\n", err)
		}
	}()
	pg, _ := s.Part(stack.PartPostgres)
	rd, _ := s.Part(stack.PartRedis)
	dsn, err := stack.PostgresDSN(pg, "postgres")
	if err != nil {
		return err
	}
	pw, err := stack.ReadPassword(pg)
	if err != nil {
		return err
	}
	vars := []string{
		"PG_DSN=" + shellQuote(dsn),
		"PG_HOST=127.0.0.1",
		"PG_PORT=" + strconv.Itoa(pg.Port),
		"PG_USER=" + shellQuote(pg.User),
		"PG_PASSWORD=" + shellQuote(pw),
		"PG_PID=" + strconv.Itoa(pg.PID),
		"PG_BINARY=" + shellQuote(pg.Binary),
		"REDIS_ADDR=" + shellQuote(rd.Address),
		"REDIS_PID=" + strconv.Itoa(rd.PID),
	}
	// Written atomically and readable by the owner only: it holds the password.
	tmp := *envFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(vars, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, *envFile); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchtool stack: postgres %s (pid %d), redis %s (pid %d), logs in %s\n",
		pg.Address, pg.PID, rd.Address, rd.PID, filepath.Join(s.Dir(), "logs"))
	<-ctx.Done()
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runPorts prints n loopback ports that are free right now. All n are
// held open together, so they are distinct.
func runPorts(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("want a positive count, got %q", args[0])
		}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}
