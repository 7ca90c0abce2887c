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
	defaultDemoPort         = 18080
	defaultExporterPort     = 19780
)

type upFlags struct {
	ports          stack.Ports
	maxConnections int
	demoMode       string
	seedUsers      int
	seedPosts      int
	queryDelay     time.Duration
	timeout        time.Duration
	verbose        bool
}

func (f *upFlags) register(c *kingpin.CmdClause) {
	c.Flag("postgres.port", "PostgreSQL port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultPostgresPort)).IntVar(&f.ports.Postgres)
	c.Flag("redis.port", "Redis port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultRedisPort)).IntVar(&f.ports.Redis)
	c.Flag("prometheus.port", "Prometheus port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultPrometheusPort)).IntVar(&f.ports.Prometheus)
	c.Flag("alertmanager.port", "Alertmanager port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultAlertmanagerPort)).IntVar(&f.ports.Alertmanager)
	c.Flag("demo.port", "Demo service port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultDemoPort)).IntVar(&f.ports.Demo)
	c.Flag("exporter.port", "loadlens-exporter port on 127.0.0.1 (0 picks a free one).").Default(fmt.Sprint(defaultExporterPort)).IntVar(&f.ports.Exporter)
	c.Flag("demo.mode", "Demo service mode: naive (pool of 4, no cache: the bottleneck) or tuned (pool of 50, Redis cache).").Default(stack.DemoModeTuned).EnumVar(&f.demoMode, stack.DemoModeNaive, stack.DemoModeTuned)
	c.Flag("demo.query-delay", "Delay the demo adds to every database operation (loadlens-demo --fault.query-delay), to stand in for a remote database on loopback.").Default("0s").DurationVar(&f.queryDelay)
	c.Flag("seed.users", "Users the demo's database is seeded with (kept when already seeded).").Default("10000").IntVar(&f.seedUsers)
	c.Flag("seed.posts", "Posts the demo's database is seeded with.").Default("100000").IntVar(&f.seedPosts)
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
	begin := time.Now()
	st, err := a.startStack(ctx)
	if err != nil {
		return a.errorf("%v", err)
	}
	fmt.Fprintf(a.stdout, "loadlens is up: every part ready in %.1fs.\n\n", time.Since(begin).Seconds())
	printStatus(a.stdout, st)
	fmt.Fprintf(a.stdout, "\nLogs: %s   Health: loadlens status   Load: loadlens run load   Stop: loadlens down\n", relative(filepath.Join(a.dir, "logs")))
	return exitOK
}

// startStack starts every part in the background with the up flags.
func (a *app) startStack(ctx context.Context) (stack.Status, error) {
	root, err := stack.RepoRoot(".")
	if err != nil {
		return stack.Status{}, err
	}
	level := slog.LevelWarn
	if a.up.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	fmt.Fprintf(a.stdout, "Starting PostgreSQL, Redis, the demo service (%s, seeding %d users and %d posts once), loadlens-exporter, Alertmanager and Prometheus in %s ...\n",
		a.up.demoMode, a.up.seedUsers, a.up.seedPosts, relative(a.dir))
	s, err := stack.Start(ctx, stack.Config{
		Dir:                    a.dir,
		RepoRoot:               root,
		Ports:                  a.up.ports,
		PostgresMaxConnections: a.up.maxConnections,
		DemoMode:               a.up.demoMode,
		DemoArgs:               demoArgs(a.up),
		// The local demo's statements hold no secrets: label them with
		// their normalized text so reports and dashboards name them.
		ExporterArgs: []string{"--postgres.statements.query-text"},
		SeedUsers:    a.up.seedUsers,
		SeedPosts:    a.up.seedPosts,
		Background:   true,
		ReadyTimeout: a.up.timeout,
		Logger:       logger,
	})
	if err != nil {
		return stack.Status{}, err
	}
	return stack.Probe(ctx, s.Dir())
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
	stack.PartDemo:         "Demo service",
	stack.PartExporter:     "loadlens-exporter",
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
		case stack.PartDemo:
			addr = p.URL
			notes = fmt.Sprintf("mode %s, %d users / %d posts; /metrics, pprof on %s", p.Mode, p.Users, p.Posts, p.AdminAddress)
		case stack.PartExporter:
			addr = p.URL + "/metrics"
			notes = "sidecar: PostgreSQL, Redis"
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

func demoArgs(f upFlags) []string {
	if f.queryDelay > 0 {
		return []string{"--fault.query-delay=" + f.queryDelay.String()}
	}
	return nil
}
