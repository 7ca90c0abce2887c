package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/loadlens/loadlens/internal/stack"
)

// Default ports: fixed so URLs are stable between runs, away from the
// services' usual ports so a system PostgreSQL or Prometheus never clashes.
const (
	defaultPostgresPort     = 15432
	defaultRedisPort        = 16379
	defaultPrometheusPort   = 19090
	defaultAlertmanagerPort = 19093
)

type upFlags struct {
	ports          stack.Ports
	maxConnections int
	timeout        time.Duration
	verbose        bool
}

func (f *upFlags) register(c *kingpin.CmdClause) {
	c.Flag("postgres.port", "PostgreSQL port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultPostgresPort)).IntVar(&f.ports.Postgres)
	c.Flag("redis.port", "Redis port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultRedisPort)).IntVar(&f.ports.Redis)
	c.Flag("prometheus.port", "Prometheus port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultPrometheusPort)).IntVar(&f.ports.Prometheus)
	c.Flag("alertmanager.port", "Alertmanager port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultAlertmanagerPort)).IntVar(&f.ports.Alertmanager)
	c.Flag("postgres.max-connections", "PostgreSQL max_connections.").Default("100").IntVar(&f.maxConnections)
	c.Flag("timeout", "How long each part may take to become ready.").Default("60s").DurationVar(&f.timeout)
	c.Flag("verbose", "Log each part as it starts.").Short('v').BoolVar(&f.verbose)
}

func (a *app) runUp(ctx context.Context) int {
	unlock, err := stack.Lock(a.dir)
	if err != nil {
		return a.errorf("%v", err)
	}
	defer unlock()
	if st, err := stack.Probe(ctx, a.dir); err == nil {
		if st.Running {
			fmt.Fprintf(a.stdout, "loadlens is already running in %s (started %s); `loadlens down` stops it.\n\n", a.dir, st.StartedAt.Local().Format(time.DateTime))
			printStatus(a.stdout, st)
			return exitOK
		}
		// Recorded but dead (machine rebooted, processes killed): forget it.
		if err := stack.Down(ctx, a.dir); err != nil {
			return a.errorf("clean up the previous stack in %s: %v", a.dir, err)
		}
	} else if !errors.Is(err, stack.ErrNotRunning) {
		return a.errorf("%v", err)
	}
	root, err := stack.RepoRoot(".")
	if err != nil {
		return a.errorf("%v", err)
	}
	level := slog.LevelWarn
	if a.up.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	fmt.Fprintf(a.stdout, "Starting PostgreSQL, Redis, Alertmanager and Prometheus in %s ...\n", a.dir)
	begin := time.Now()
	s, err := stack.Start(ctx, stack.Config{
		Dir:                    a.dir,
		RepoRoot:               root,
		Ports:                  a.up.ports,
		PostgresMaxConnections: a.up.maxConnections,
		Background:             true,
		ReadyTimeout:           a.up.timeout,
		Logger:                 logger,
	})
	if err != nil {
		return a.errorf("%v", err)
	}
	st, err := stack.Probe(ctx, s.Dir())
	if err != nil {
		return a.errorf("%v", err)
	}
	fmt.Fprintf(a.stdout, "loadlens is up: every part ready in %.1fs.\n\n", time.Since(begin).Seconds())
	printStatus(a.stdout, st)
	fmt.Fprintf(a.stdout, "\nLogs: %s   Health: loadlens status   Stop: loadlens down\n", filepath.Join(a.dir, "logs"))
	return exitOK
}

func (a *app) runDown(ctx context.Context) int {
	unlock, err := stack.Lock(a.dir)
	if err != nil {
		return a.errorf("%v", err)
	}
	defer unlock()
	err = stack.Down(ctx, a.dir)
	if errors.Is(err, stack.ErrNotRunning) {
		fmt.Fprintf(a.stdout, "Nothing to stop: no loadlens stack is running in %s.\n", a.dir)
		return exitOK
	}
	if err != nil {
		return a.errorf("%v", err)
	}
	fmt.Fprintf(a.stdout, "Stopped the loadlens stack in %s (data kept; `loadlens up` reuses it).\n", a.dir)
	return exitOK
}

func (a *app) runStatus(ctx context.Context) int {
	st, err := stack.Probe(ctx, a.dir)
	if err != nil && !errors.Is(err, stack.ErrNotRunning) {
		return a.errorf("%v", err)
	}
	if st.Dir == "" {
		st.Dir = a.dir
	}
	if a.statusJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return a.errorf("%v", err)
		}
	} else if errors.Is(err, stack.ErrNotRunning) {
		fmt.Fprintf(a.stdout, "No loadlens stack is running in %s; `loadlens up` starts one.\n", a.dir)
	} else {
		printStatus(a.stdout, st)
	}
	switch {
	case errors.Is(err, stack.ErrNotRunning):
		return exitNotRunning
	case !st.Healthy:
		return exitFailure
	}
	return exitOK
}

// labels names each part for people.
var labels = map[string]string{
	stack.PartPostgres:     "PostgreSQL",
	stack.PartRedis:        "Redis",
	stack.PartPrometheus:   "Prometheus",
	stack.PartAlertmanager: "Alertmanager",
}

func printStatus(w io.Writer, st stack.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PART\tHEALTH\tPID\tADDRESS\tNOTES")
	for _, p := range st.Parts {
		addr := p.Address
		notes := ""
		switch p.Name {
		case stack.PartPostgres:
			addr = p.DSN
			notes = "password in " + relative(p.PasswordFile)
		case stack.PartPrometheus:
			addr = p.URL
			notes = "UI; k6 remote write: " + p.URL + "/api/v1/write"
		case stack.PartAlertmanager:
			addr = p.URL
			notes = "UI and API"
		}
		if p.Detail != "" {
			notes = p.Detail
		}
		name := labels[p.Name]
		if name == "" {
			name = p.Name
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", name, p.Health, p.PID, addr, notes)
	}
	tw.Flush()
}

func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && len(r) < len(path) {
		return r
	}
	return path
}
