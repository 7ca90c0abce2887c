package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/loadlens/loadlens/exporter"
)

const name = "loadlens-exporter"

// config is everything the flags set.
type config struct {
	web           *web.FlagConfig
	telemetryPath string
	budget        time.Duration
	log           promslog.Config

	postgres   bool
	postgresDB exporter.PostgresConfig

	redis             bool
	redisAddr         string
	redisUsername     string
	redisPassword     string
	redisPasswordFile string

	kubernetes    bool
	kubeconfig    string
	namespace     string
	labelSelector string
}

// run is main without os.Exit: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr, nil)
}

// runContext serves until ctx is done. onListen, when set, receives the
// bound addresses (tests listen on port 0).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer, onListen func([]net.Addr)) int {
	build := exporter.ReadBuildInfo()
	cfg, code, done := parseFlags(args, stdout, stderr, build)
	if done {
		return code
	}
	cfg.log.Writer = stderr
	logger := promslog.New(&cfg.log)
	if err := serve(ctx, cfg, build, logger, onListen); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// parseFlags returns the config, or an exit code with done=true (help,
// version, or a usage error already printed as one line).
func parseFlags(args []string, stdout, stderr io.Writer, build exporter.BuildInfo) (config, int, bool) {
	var cfg config
	app := kingpin.New(name, "Prometheus exporter for PostgreSQL, Redis and Kubernetes autoscaling during load tests.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	exited := -1
	app.Terminate(func(code int) {
		if exited < 0 {
			exited = code
		}
	})
	app.Version(fmt.Sprintf("%s %s (revision %s, %s)", name, build.Version, build.Revision, build.GoVersion))
	app.HelpFlag.Short('h')

	cfg.web = kingpinflag.AddFlags(app, ":9780")
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&cfg.telemetryPath)
	durationFlag(app, "scrape.budget", "Deadline of one collection: every collector runs concurrently under it; keep it below Prometheus's scrape_timeout.",
		exporter.DefaultBudget.String(), &cfg.budget)

	app.Flag("collector.postgres", "Enable the postgres collector (needs --postgres.dsn).").Default("true").BoolVar(&cfg.postgres)
	app.Flag("postgres.dsn", "PostgreSQL connection string (URL or key=value). Prefer the environment variable: flags show in ps.").
		Envar("LOADLENS_POSTGRES_DSN").StringVar(&cfg.postgresDB.DSN)
	app.Flag("postgres.statements.limit", "Top-N pg_stat_statements entries by total execution time (0 disables statement series).").
		Default("20").IntVar(&cfg.postgresDB.StatementsLimit)
	app.Flag("postgres.statements.query-text", "Add a normalized, truncated query label to statement series.").
		Default("false").BoolVar(&cfg.postgresDB.StatementsQueryText)
	durationFlag(app, "postgres.slow-query-threshold", "Active queries older than this count as slow.", "1s", &cfg.postgresDB.SlowQueryThreshold)

	app.Flag("collector.redis", "Enable the redis collector (needs --redis.addr).").Default("true").BoolVar(&cfg.redis)
	app.Flag("redis.addr", "Redis address host:port.").Envar("LOADLENS_REDIS_ADDR").StringVar(&cfg.redisAddr)
	app.Flag("redis.username", "Redis ACL user name.").StringVar(&cfg.redisUsername)
	app.Flag("redis.password", "Redis password. Prefer the environment variable or --redis.password-file.").
		Envar("LOADLENS_REDIS_PASSWORD").StringVar(&cfg.redisPassword)
	app.Flag("redis.password-file", "File holding the Redis password.").StringVar(&cfg.redisPasswordFile)

	app.Flag("collector.kubernetes", "Enable the kubernetes collector (HPA and VPA objects).").Default("false").BoolVar(&cfg.kubernetes)
	app.Flag("kube.kubeconfig", "Path to a kubeconfig; empty means in-cluster configuration.").StringVar(&cfg.kubeconfig)
	app.Flag("kube.namespace", "Namespace to watch; empty means all namespaces.").StringVar(&cfg.namespace)
	app.Flag("kube.label-selector", "Label selector of the HPA and VPA objects to watch.").StringVar(&cfg.labelSelector)

	promslogflag.AddFlags(app, &cfg.log)

	_, err := app.Parse(args)
	if exited >= 0 {
		return cfg, exited, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s (see --help)\n", name, oneLine(err))
		return cfg, 2, true
	}
	if cfg.budget <= 0 {
		fmt.Fprintf(stderr, "%s: --scrape.budget must be positive, got %s\n", name, cfg.budget)
		return cfg, 2, true
	}
	if !strings.HasPrefix(cfg.telemetryPath, "/") {
		fmt.Fprintf(stderr, "%s: --web.telemetry-path must start with /, got %q\n", name, cfg.telemetryPath)
		return cfg, 2, true
	}
	if cfg.redisPassword != "" && cfg.redisPasswordFile != "" {
		fmt.Fprintf(stderr, "%s: --redis.password and --redis.password-file are mutually exclusive\n", name)
		return cfg, 2, true
	}
	if cfg.redisPasswordFile != "" {
		b, err := os.ReadFile(cfg.redisPasswordFile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --redis.password-file: %s\n", name, oneLine(err))
			return cfg, 2, true
		}
		cfg.redisPassword = strings.TrimRight(string(b), "\r\n")
	}
	return cfg, 0, false
}

// durationValue is a kingpin duration whose parse error names the flag.
type durationValue struct {
	name string
	d    *time.Duration
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--%s: invalid duration %q (use e.g. 500ms, 5s)", v.name, s)
	}
	*v.d = d
	return nil
}

func (v durationValue) String() string { return v.d.String() }

func durationFlag(app *kingpin.Application, name, help, def string, d *time.Duration) {
	app.Flag(name, help).Default(def).SetValue(durationValue{name, d})
}

// serve builds the collectors and serves HTTP until ctx is done.
func serve(ctx context.Context, cfg config, build exporter.BuildInfo, logger *slog.Logger, onListen func([]net.Addr)) error {
	if f := *cfg.web.WebConfigFile; f != "" {
		if err := web.Validate(f); err != nil {
			return fmt.Errorf("--web.config.file %s: %w", f, err)
		}
	}
	collectors, closeAll, err := buildCollectors(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeAll()

	exp, err := exporter.New(collectors, exporter.Options{Budget: cfg.budget, Build: build, Logger: logger})
	if err != nil {
		return err
	}
	reg, err := exporter.NewRegistry(exp)
	if err != nil {
		return err
	}
	handler, err := exporter.NewHandler(exporter.HandlerOptions{
		Exporter: exp, Gatherer: reg, TelemetryPath: cfg.telemetryPath, Version: build.Version, Logger: logger,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
	names := make([]string, len(collectors))
	for i, c := range collectors {
		names[i] = c.Name
	}
	logger.Info("starting "+name, "version", build.Version, "revision", build.Revision, "collectors", strings.Join(names, ","), "scrape_budget", cfg.budget)

	errc := make(chan error, 1)
	if *cfg.web.WebSystemdSocket {
		go func() { errc <- web.ListenAndServe(srv, cfg.web, logger) }()
	} else {
		listeners := make([]net.Listener, 0, len(*cfg.web.WebListenAddresses))
		addrs := make([]net.Addr, 0, len(listeners))
		for _, a := range *cfg.web.WebListenAddresses {
			l, err := net.Listen("tcp", a)
			if err != nil {
				for _, l := range listeners {
					l.Close()
				}
				return fmt.Errorf("listen on %s: %w", a, err)
			}
			listeners = append(listeners, l)
			addrs = append(addrs, l.Addr())
		}
		if onListen != nil {
			onListen(addrs)
		}
		go func() { errc <- web.ServeMultiple(listeners, srv, cfg.web, logger) }()
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// buildCollectors creates the enabled collectors whose target is set; a
// collector without a target is disabled with a log line.
func buildCollectors(ctx context.Context, cfg config, logger *slog.Logger) ([]exporter.Named, func(), error) {
	var named []exporter.Named
	var closers []func() error
	// Disabled collectors are logged only once every collector is built,
	// so a configuration error stays the only line on stderr.
	type note struct{ msg, collector string }
	var disabled []note
	off := func(msg, collector string) { disabled = append(disabled, note{msg, collector}) }
	closeAll := func() {
		for _, c := range closers {
			if err := c(); err != nil {
				logger.Warn("close collector", "err", err)
			}
		}
	}
	fail := func(err error) ([]exporter.Named, func(), error) {
		closeAll()
		return nil, nil, err
	}

	switch {
	case !cfg.postgres:
		off("collector disabled by flag", "postgres")
	case cfg.postgresDB.DSN == "":
		off("collector disabled: no target configured (set --postgres.dsn or LOADLENS_POSTGRES_DSN)", "postgres")
	default:
		pcfg := cfg.postgresDB
		pcfg.StatementTimeout = cfg.budget
		pcfg.ConnectTimeout = cfg.budget
		pc, err := exporter.NewPostgresCollector(pcfg, logger)
		if err != nil {
			return fail(fmt.Errorf("postgres collector: %w", err))
		}
		named = append(named, exporter.Named{Name: "postgres", Collector: pc})
		closers = append(closers, pc.Close)
	}
	switch {
	case !cfg.redis:
		off("collector disabled by flag", "redis")
	case cfg.redisAddr == "":
		off("collector disabled: no target configured (set --redis.addr or LOADLENS_REDIS_ADDR)", "redis")
	default:
		rc, err := exporter.NewRedisCollector(exporter.RedisConfig{
			Addr: cfg.redisAddr, Username: cfg.redisUsername, Password: cfg.redisPassword,
			Timeout: min(3*time.Second, cfg.budget*8/10),
		}, logger)
		if err != nil {
			return fail(fmt.Errorf("redis collector: %w", err))
		}
		named = append(named, exporter.Named{Name: "redis", Collector: rc})
		closers = append(closers, rc.Close)
	}

	if cfg.kubernetes {
		kctx, cancel := context.WithTimeout(ctx, cfg.budget)
		kc, err := exporter.NewKubernetesCollector(kctx, exporter.KubernetesConfig{
			Kubeconfig: cfg.kubeconfig, Namespace: cfg.namespace, LabelSelector: cfg.labelSelector,
		}, logger)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("kubernetes collector: %w", err))
		}
		named = append(named, exporter.Named{Name: "kubernetes", Collector: kc})
		closers = append(closers, kc.Close)
	} else {
		off("collector disabled by flag", "kubernetes")
	}
	for _, d := range disabled {
		logger.Info(d.msg, "collector", d.collector)
	}
	return named, closeAll, nil
}
