package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
)

// Exit codes of Main.
const (
	ExitOK     = 0
	ExitFail   = 1 // runtime failure (PostgreSQL unreachable at start, port taken...)
	ExitConfig = 2 // bad flags or configuration
)

// optionalBool is a kingpin bool flag that remembers whether the flag or
// its environment variable set it, so that --mode only fills what the user
// left unset.
type optionalBool struct{ v *bool }

func (o *optionalBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	o.v = &b
	return nil
}

func (o *optionalBool) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatBool(*o.v)
}

func (o *optionalBool) IsBoolFlag() bool { return true }

// Main runs the loadlens-demo command line: serve (the default command) or
// seed. It returns the process exit code; configuration errors are one
// line on stderr and ExitConfig.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

// parsed is the outcome of the command line.
type parsed struct {
	cmd    string // "serve" or "seed"
	cfg    Config
	seed   SeedOptions
	logCfg *promslog.Config
	exit   int // >= 0 when --help or similar asked to exit
}

// parseArgs parses the flags (and their environment variables).
func parseArgs(args []string, stdout, stderr io.Writer) (p parsed, err error) {
	p.cfg, p.exit = DefaultConfig(), -1
	cfg := &p.cfg
	app := kingpin.New("loadlens-demo", "The loadlens demo service: a users-and-posts JSON API on PostgreSQL and Redis, instrumented with OpenTelemetry. Serving is the default command: see its flags with 'loadlens-demo serve --help'.")
	app.Writer(stdout).ErrorWriter(stderr).UsageWriter(stdout)
	app.Terminate(func(code int) {
		if p.exit < 0 {
			p.exit = code
		}
	})
	app.HelpFlag.Short('h')
	p.logCfg = &promslog.Config{Writer: stderr}
	promslogflag.AddFlags(app, p.logCfg)
	app.Flag("postgres.dsn", "PostgreSQL DSN (URL or key=value); prefer the environment variable for the password.").
		Envar("LOADLENS_POSTGRES_DSN").PlaceHolder("DSN").StringVar(&cfg.PostgresDSN)

	serve := app.Command("serve", "Serve the API (default command).").Default()
	serve.Flag("web.listen-address", "Public listener: API, /metrics, /healthz, /readyz.").Default(cfg.ListenAddress).StringVar(&cfg.ListenAddress)
	serve.Flag("admin.listen-address", "Admin listener: /debug/pprof/ and Go runtime + process /metrics. Never expose it publicly.").Default(cfg.AdminListenAddress).StringVar(&cfg.AdminListenAddress)
	serve.Flag("web.read-header-timeout", "Time to read request headers.").Default(cfg.ReadHeaderTimeout.String()).DurationVar(&cfg.ReadHeaderTimeout)
	serve.Flag("web.read-timeout", "Time to read a whole request.").Default(cfg.ReadTimeout.String()).DurationVar(&cfg.ReadTimeout)
	serve.Flag("web.write-timeout", "Time to write a response, from the end of the request headers.").Default(cfg.WriteTimeout.String()).DurationVar(&cfg.WriteTimeout)
	serve.Flag("web.idle-timeout", "Keep-alive idle time.").Default(cfg.IdleTimeout.String()).DurationVar(&cfg.IdleTimeout)
	serve.Flag("web.shutdown-delay", "On SIGTERM, how long /readyz answers 503 before the listeners close.").Default(cfg.ShutdownDelay.String()).DurationVar(&cfg.ShutdownDelay)
	serve.Flag("web.shutdown-timeout", "On SIGTERM, how long in-flight requests may drain.").Default(cfg.ShutdownTimeout.String()).DurationVar(&cfg.ShutdownTimeout)
	serve.Flag("postgres.pool-size", "PostgreSQL pool size (pgxpool MaxConns); 0: from --mode (naive 4, tuned 50).").Envar("LOADLENS_POSTGRES_POOL_SIZE").Default("0").IntVar(&cfg.PostgresPoolSize)
	serve.Flag("postgres.timeout", "Deadline of one database operation, pool acquire included.").Default(cfg.PostgresTimeout.String()).DurationVar(&cfg.PostgresTimeout)
	serve.Flag("postgres.startup-timeout", "How long to wait for PostgreSQL at start (migrations).").Default(cfg.StartupTimeout.String()).DurationVar(&cfg.StartupTimeout)
	serve.Flag("redis.addr", "Redis address host:port; empty disables Redis (and the cache).").Envar("LOADLENS_REDIS_ADDR").Default(cfg.RedisAddr).StringVar(&cfg.RedisAddr)
	serve.Flag("redis.password", "Redis password.").Envar("LOADLENS_REDIS_PASSWORD").PlaceHolder("PASSWORD").StringVar(&cfg.RedisPassword)
	serve.Flag("redis.db", "Redis database number.").Default("0").IntVar(&cfg.RedisDB)
	serve.Flag("redis.timeout", "Deadline of one Redis command (and dial/read/write timeouts).").Default(cfg.RedisTimeout.String()).DurationVar(&cfg.RedisTimeout)
	serve.Flag("redis.pool-size", "Redis pool size; 0: go-redis default (10 per CPU).").Default("0").IntVar(&cfg.RedisPoolSize)
	serve.Flag("redis.key-prefix", "Prefix of every cache key.").Default(cfg.RedisKeyPrefix).StringVar(&cfg.RedisKeyPrefix)
	serve.Flag("mode", "Bottleneck shorthand: naive (pool 4, cache off) or tuned (pool 50, cache on); explicit flags override it.").
		Envar("LOADLENS_MODE").Default(cfg.Mode).EnumVar(&cfg.Mode, ModeNaive, ModeTuned)
	cacheOn := &optionalBool{}
	serve.Flag("cache.enabled", "Redis cache-aside on GET /users/{id} and GET /posts/{id}; default from --mode.").
		Envar("LOADLENS_CACHE_ENABLED").SetValue(cacheOn)
	serve.Flag("cache.ttl", "Time to live of cache entries.").Envar("LOADLENS_CACHE_TTL").Default(cfg.CacheTTL.String()).DurationVar(&cfg.CacheTTL)
	serve.Flag("fault.query-delay", "Injected delay per database operation: pg_sleep on the operation's connection before its statement, so connections stay busy and the pool saturates (the sleep is one extra statement per operation).").
		Envar("LOADLENS_FAULT_QUERY_DELAY").Default("0s").DurationVar(&cfg.FaultQueryDelay)
	serve.Flag("fault.cpu-burn", "Injected CPU burn per API request.").Envar("LOADLENS_FAULT_CPU_BURN").Default("0s").DurationVar(&cfg.FaultCPUBurn)
	serve.Flag("readyz.require-redis", "Fail /readyz when Redis is unreachable (default: report degraded, reads fall back to PostgreSQL).").BoolVar(&cfg.ReadyzRequireRedis)
	serve.Flag("slow-query.threshold", "Database calls at least this long are logged as slow queries; negative disables.").Default(cfg.SlowQueryThreshold.String()).DurationVar(&cfg.SlowQueryThreshold)
	serve.Flag("otlp.endpoint", "OTLP/HTTP trace endpoint (http://host:4318); empty: no tracing.").Envar("LOADLENS_OTLP_ENDPOINT").PlaceHolder("URL").StringVar(&cfg.OTLPEndpoint)

	seed := app.Command("seed", "Load users 1..N and posts 1..M with COPY. Re-runnable: a no-op when the tables already hold exactly these rows, else truncate and reload.")
	seedOpts := &p.seed
	seed.Flag("users", "Number of users.").Default("10000").Int64Var(&seedOpts.Users)
	seed.Flag("posts", "Number of posts.").Default("100000").Int64Var(&seedOpts.Posts)
	seed.Flag("force", "Truncate and reload even when already seeded.").BoolVar(&seedOpts.Force)

	p.cmd, err = app.Parse(args)
	if err != nil {
		return p, fmt.Errorf("%s (try --help)", redact(err.Error(), append(dsnSecrets(cfg.PostgresDSN), cfg.RedisPassword)...))
	}
	cfg.CacheEnabled = cacheOn.v
	return p, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	p, err := parseArgs(args, stdout, stderr)
	if p.exit >= 0 { // --help
		return p.exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadlens-demo: error: %s\n", err)
		return ExitConfig
	}
	cfg, seedOpts := p.cfg, p.seed
	logger := promslog.New(p.logCfg)

	switch p.cmd {
	case "seed":
		if cfg.PostgresDSN == "" {
			fmt.Fprintln(stderr, "loadlens-demo: error: --postgres.dsn (or LOADLENS_POSTGRES_DSN) is required")
			return ExitConfig
		}
		if seedOpts.Users < 0 || seedOpts.Posts < 0 || (seedOpts.Posts > 0 && seedOpts.Users == 0) {
			fmt.Fprintln(stderr, "loadlens-demo: error: --users and --posts must not be negative, and posts need users")
			return ExitConfig
		}
		if _, err := parsePoolConfig(cfg.PostgresDSN); err != nil {
			fmt.Fprintf(stderr, "loadlens-demo: error: %s\n", err)
			return ExitConfig
		}
		seedOpts.Progress, seedOpts.Interactive = stderr, isTerminal(stderr)
		res, err := Seed(ctx, cfg.PostgresDSN, seedOpts)
		if err != nil {
			fmt.Fprintf(stderr, "loadlens-demo: error: %s\n", oneLine(redact(err.Error(), dsnSecrets(cfg.PostgresDSN)...)))
			return ExitFail
		}
		fmt.Fprintln(stdout, res)
		return ExitOK
	default:
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(stderr, "loadlens-demo: error: %s\n", err)
			return ExitConfig
		}
		s, err := New(ctx, cfg, logger)
		if err != nil {
			fmt.Fprintf(stderr, "loadlens-demo: error: %s\n", oneLine(redact(err.Error(), append(dsnSecrets(cfg.PostgresDSN), cfg.RedisPassword)...)))
			return ExitFail
		}
		if err := s.Run(ctx); err != nil {
			logger.Error("stopped with error", "err", err)
			return ExitFail
		}
		return ExitOK
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
