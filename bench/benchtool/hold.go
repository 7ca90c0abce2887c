package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// runHoldPostgres opens connections until PostgreSQL refuses one, writes
// how many it holds to the ready file, and keeps them until SIGTERM: the
// "every connection slot taken" case of issue 4. The DSN comes from an
// environment variable so the password never shows in ps.
func runHoldPostgres(args []string) error {
	fs := flag.NewFlagSet("hold-postgres", flag.ContinueOnError)
	dsnEnv := fs.String("dsn-env", "PG_DSN", "environment variable holding the DSN")
	ready := fs.String("ready", "", "file to write the number of held connections to")
	limit := fs.Int("limit", 1000, "never open more than this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn := os.Getenv(*dsnEnv)
	if dsn == "" {
		return fmt.Errorf("$%s is empty", *dsnEnv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	}()
	var refused error
	for len(conns) < *limit {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := pgx.Connect(cctx, dsn)
		cancel()
		if err != nil {
			refused = err
			break
		}
		conns = append(conns, c)
	}
	var pgErr *pgconn.PgError
	if !errors.As(refused, &pgErr) || pgErr.Code != "53300" { // too_many_connections
		return fmt.Errorf("held %d connections, then an unexpected error: %v", len(conns), refused)
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(strconv.Itoa(len(conns))+"\n"), 0o644); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}
