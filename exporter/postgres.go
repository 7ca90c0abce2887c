package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
)

// PostgresConfig configures the postgres collector.
type PostgresConfig struct {
	DSN string // URL or key=value; application_name defaults to loadlens-exporter

	StatementsLimit     int           // top-N statements by total execution time; default 20, 0 disables
	StatementsQueryText bool          // add a normalized, truncated query label
	QueryTextLimit      int           // runes of query text kept; default 120
	SlowQueryThreshold  time.Duration // active queries older than this are slow; default 1s
	ApplicationsLimit   int           // top-N application_name values; default 10

	ConnectTimeout   time.Duration // one connection attempt; default 5s
	StatementTimeout time.Duration // server-side statement_timeout of the session; default 5s
	MaxBackoff       time.Duration // cap of the reconnect backoff; default 10s
}

// ApplicationName is the application_name of the exporter's connection,
// unless the DSN sets one.
const ApplicationName = "loadlens-exporter"

// PostgresCollector reads one PostgreSQL server through ONE dedicated,
// long-lived connection (never a pool, so it keeps its slot when the
// server is saturated). A lost connection is re-established in the
// background with exponential backoff, so a scrape never waits on a dead
// server: it reports loadlens_postgres_up 0 at once.
type PostgresCollector struct {
	cfg     PostgresConfig
	connCfg *pgx.ConnConfig
	target  string // redacted DSN, for logs
	scrub   scrubber
	logger  *slog.Logger
	descs   pgDescs
	opts    pgSampleOptions

	sem chan struct{} // one update at a time on the single connection

	mu         sync.Mutex
	conn       *pgx.Conn
	connecting chan struct{} // closed when the first connection attempt ends
	stmtState  int           // last pg_stat_statements availability: 0 unknown, 1 yes, -1 no

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// NewPostgresCollector validates cfg and starts connecting in the
// background. Errors never contain the DSN's password.
func NewPostgresCollector(cfg PostgresConfig, logger *slog.Logger) (*PostgresCollector, error) {
	logger = discardLogger(logger)
	sc := newScrubber(dsnPassword(cfg.DSN))
	if strings.TrimSpace(cfg.DSN) == "" {
		return nil, errors.New("postgres DSN is empty")
	}
	connCfg, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, sc.err(fmt.Errorf("invalid postgres DSN: %w", err))
	}
	sc = newScrubber(dsnPassword(cfg.DSN), connCfg.Password)
	if cfg.StatementsLimit < 0 || cfg.ApplicationsLimit < 0 || cfg.QueryTextLimit < 0 || cfg.SlowQueryThreshold < 0 {
		return nil, errors.New("postgres collector: limits and thresholds must not be negative")
	}
	cfg = cfg.withDefaults()
	if _, ok := connCfg.RuntimeParams["application_name"]; !ok {
		connCfg.RuntimeParams["application_name"] = ApplicationName
	}
	connCfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	connCfg.RuntimeParams["default_transaction_read_only"] = "on"
	if connCfg.ConnectTimeout == 0 || connCfg.ConnectTimeout > cfg.ConnectTimeout {
		connCfg.ConnectTimeout = cfg.ConnectTimeout
	}
	c := &PostgresCollector{
		cfg:        cfg,
		connCfg:    connCfg,
		target:     RedactDSN(cfg.DSN),
		scrub:      sc,
		logger:     logger.With("collector", "postgres"),
		descs:      newPgDescs(cfg.StatementsQueryText),
		opts:       pgSampleOptions{AppsLimit: cfg.ApplicationsLimit, QueryText: cfg.StatementsQueryText, QueryTextLimit: cfg.QueryTextLimit},
		sem:        make(chan struct{}, 1),
		connecting: make(chan struct{}),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	c.kick <- struct{}{}
	go c.reconnectLoop()
	return c, nil
}

func (cfg PostgresConfig) withDefaults() PostgresConfig {
	if cfg.QueryTextLimit == 0 {
		cfg.QueryTextLimit = 120
	}
	if cfg.SlowQueryThreshold == 0 {
		cfg.SlowQueryThreshold = time.Second
	}
	if cfg.ApplicationsLimit == 0 {
		cfg.ApplicationsLimit = 10
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = DefaultBudget
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	return cfg
}

// Close stops reconnecting and closes the connection.
func (c *PostgresCollector) Close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.stopped
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.scrub.err(conn.Close(ctx))
}

// reconnectLoop owns connecting: it waits for a kick, then tries until it
// succeeds, sleeping with exponential backoff and jitter between attempts.
func (c *PostgresCollector) reconnectLoop() {
	defer close(c.stopped)
	first := true
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		backoff := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			conn, err := c.connect()
			if first {
				first = false
				close(c.connecting)
			}
			if err == nil {
				c.mu.Lock()
				c.conn = conn
				c.mu.Unlock()
				c.logger.Info("connected to postgres", "target", c.target, "attempt", attempt)
				break
			}
			c.logger.Warn("cannot connect to postgres", "target", c.target, "attempt", attempt, "retry_in", backoff, "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-c.stop:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, c.cfg.MaxBackoff)
			backoff += rand.N(backoff / 10)
		}
	}
}

func (c *PostgresCollector) connect() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout)
	defer cancel()
	go func() { // Close interrupts an attempt in progress
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := pgx.ConnectConfig(ctx, c.connCfg)
	return conn, c.scrub.err(err)
}

// current returns the live connection, waiting (within ctx) only for the
// very first connection attempt, never for a reconnect.
func (c *PostgresCollector) current(ctx context.Context) *pgx.Conn {
	select {
	case <-c.connecting:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// lost drops a broken connection and asks for a new one.
func (c *PostgresCollector) lost(conn *pgx.Conn) {
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// innerDeadline leaves a margin before the scrape deadline so that the
// collector can still send loadlens_postgres_up 0 in time.
func innerDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(250*time.Millisecond, time.Until(dl)/10)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// Update implements Collector.
func (c *PostgresCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	qctx, cancel := innerDeadline(ctx)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-qctx.Done():
		ch <- gauge(c.descs.up, 0)
		return errors.New("postgres: previous update still running")
	}
	conn := c.current(qctx)
	if conn == nil {
		ch <- gauge(c.descs.up, 0)
		return errors.New("postgres: not connected (reconnecting in the background)")
	}
	snap, err := c.read(qctx, conn)
	if conn.IsClosed() {
		c.logger.Warn("postgres connection lost; reconnecting", "target", c.target)
		c.lost(conn)
	}
	c.descs.emit(snap, c.opts, ch)
	return c.scrub.err(err)
}

// read runs the queries. A query that fails on a live connection is
// logged and skipped; a dead connection ends the update with up=0.
func (c *PostgresCollector) read(ctx context.Context, conn *pgx.Conn) (pgSnapshot, error) {
	var s pgSnapshot
	var errs []error
	dead := func(err error) bool {
		return conn.IsClosed() || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
	}

	st, err := readSettings(ctx, conn)
	if err != nil {
		return s, fmt.Errorf("postgres: settings: %w", err)
	}
	s.Up, s.Settings = true, st

	steps := []struct {
		name string
		fn   func() error
	}{
		{"pg_stat_activity", func() (err error) {
			s.Activity, err = readActivity(ctx, conn, c.cfg.SlowQueryThreshold)
			s.ActivityOK = err == nil
			return err
		}},
		{"pg_stat_statements", func() error { return c.readStatements(ctx, conn, &s) }},
		{"pg_stat_database", func() (err error) {
			s.Database, err = readDatabase(ctx, conn)
			return err
		}},
	}
	for _, step := range steps {
		if err := step.fn(); err != nil {
			if dead(err) {
				s.Up = false
				return s, fmt.Errorf("postgres: %s: %w", step.name, err)
			}
			errs = append(errs, fmt.Errorf("postgres: %s: %w", step.name, err))
		}
	}
	return s, errors.Join(errs...)
}

func readSettings(ctx context.Context, conn *pgx.Conn) (*pgSettings, error) {
	var s pgSettings
	err := conn.QueryRow(ctx, `SELECT current_setting('server_version'),
       current_setting('max_connections')::bigint,
       current_setting('superuser_reserved_connections')::bigint,
       coalesce(current_setting('reserved_connections', true), '0')::bigint`).
		Scan(&s.Version, &s.MaxConnections, &s.SuperuserReserved, &s.Reserved)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func readActivity(ctx context.Context, conn *pgx.Conn, slow time.Duration) ([]pgActivityRow, error) {
	rows, err := conn.Query(ctx, `SELECT state, coalesce(application_name, ''), count(*),
       count(*) FILTER (WHERE state = 'active' AND pid <> pg_backend_pid()
                        AND query_start < clock_timestamp() - make_interval(secs => $1)),
       count(*) FILTER (WHERE wait_event_type = 'Lock'),
       coalesce(extract(epoch FROM max(clock_timestamp() - query_start)
                FILTER (WHERE state = 'active' AND pid <> pg_backend_pid())), 0)::float8
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2`, slow.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgActivityRow, error) {
		var a pgActivityRow
		err := r.Scan(&a.State, &a.Application, &a.Count, &a.Slow, &a.LockWaiting, &a.OldestAge)
		return a, err
	})
}

func readDatabase(ctx context.Context, conn *pgx.Conn) (*pgDatabaseRow, error) {
	var d pgDatabaseRow
	err := conn.QueryRow(ctx, `SELECT datname, blks_hit, blks_read, xact_commit, xact_rollback, deadlocks
FROM pg_stat_database WHERE datname = current_database()`).
		Scan(&d.Datname, &d.BlksHit, &d.BlksRead, &d.XactCommit, &d.XactRollback, &d.Deadlocks)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// pgssVersion parses an extension version such as "1.10" into (1, 10).
func pgssVersion(v string) (major, minor int) {
	a, b, _ := strings.Cut(v, ".")
	major, _ = strconv.Atoi(a)
	minor, _ = strconv.Atoi(b)
	return major, minor
}

// statementsQuery is version-aware: total_exec_time replaced total_time in
// pg_stat_statements 1.8 (PostgreSQL 13). Without query text the function
// form skips reading the query-text file.
func statementsQuery(extVersion string, withText bool) string {
	major, minor := pgssVersion(extVersion)
	timeCol := "total_exec_time"
	if major < 1 || (major == 1 && minor < 8) {
		timeCol = "total_time"
	}
	text := "''"
	if withText {
		text = "min(s.query)"
	}
	return fmt.Sprintf(`SELECT s.queryid, coalesce(r.rolname, s.userid::text), coalesce(d.datname, s.dbid::text),
       sum(s.calls)::bigint, sum(s.%s)::float8, sum(s.rows)::bigint, %s
FROM pg_stat_statements(%t) s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL
GROUP BY s.queryid, s.userid, s.dbid, r.rolname, d.datname
ORDER BY 5 DESC, 1
LIMIT $1`, timeCol, text, withText)
}

// readStatements fills the statement part of s. A missing or unloaded
// extension is not an error: statements_available is 0 and the rest goes on.
func (c *PostgresCollector) readStatements(ctx context.Context, conn *pgx.Conn, s *pgSnapshot) error {
	var ext string
	err := conn.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'`).Scan(&ext)
	if errors.Is(err, pgx.ErrNoRows) {
		c.statementsAvailability(false, "extension not created in this database")
		return nil
	}
	if err != nil {
		return err
	}
	if c.cfg.StatementsLimit > 0 {
		rows, err := conn.Query(ctx, statementsQuery(ext, c.cfg.StatementsQueryText), c.cfg.StatementsLimit)
		if err == nil {
			s.Statements, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgStatementRow, error) {
				var st pgStatementRow
				err := r.Scan(&st.QueryID, &st.User, &st.Datname, &st.Calls, &st.ExecMillis, &st.Rows, &st.Query)
				return st, err
			})
		}
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && !conn.IsClosed() {
				// e.g. 55000: must be loaded via shared_preload_libraries
				c.statementsAvailability(false, pgErr.Message)
				return nil
			}
			return err
		}
	}
	if major, minor := pgssVersion(ext); major > 1 || (major == 1 && minor >= 9) {
		var reset *time.Time
		if err := conn.QueryRow(ctx, `SELECT stats_reset FROM pg_stat_statements_info`).Scan(&reset); err != nil {
			return err
		}
		s.StatsReset = reset
	}
	s.StatementsAvailable = true
	c.statementsAvailability(true, "")
	return nil
}

// statementsAvailability logs when pg_stat_statements availability changes.
func (c *PostgresCollector) statementsAvailability(ok bool, why string) {
	state := -1
	if ok {
		state = 1
	}
	c.mu.Lock()
	changed := c.stmtState != state
	c.stmtState = state
	c.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		c.logger.Info("pg_stat_statements available")
	} else {
		c.logger.Warn("pg_stat_statements not available; statement metrics disabled, the rest continues", "reason", why)
	}
}
