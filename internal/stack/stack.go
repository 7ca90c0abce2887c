// Package stack supervises loadlens's native stack: PostgreSQL, Redis,
// Prometheus and Alertmanager (and, as they land, the demo service and
// loadlens-exporter) as child processes on loopback ports under one run
// directory. The CLI (loadlens up/down/status) and the integration-test
// harness (internal/stacktest) both use it.
//
// Every part has a readiness wait with a deadline, its own log file, PID
// tracking and a clean stop. The state of a running stack is kept in
// DIR/state.json so another process can report on it and stop it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ports of the parts; 0 picks a free loopback port.
type Ports struct {
	Postgres     int
	Redis        int
	Prometheus   int
	Alertmanager int
	Demo         int
	Exporter     int
}

// Part names, in start order.
const (
	PartPostgres     = "postgres"
	PartRedis        = "redis"
	PartDemo         = "demo"
	PartExporter     = "exporter"
	PartAlertmanager = "alertmanager"
	PartPrometheus   = "prometheus"
)

// AllParts lists every part the stack knows, in start order.
var allParts = []string{PartPostgres, PartRedis, PartDemo, PartExporter, PartAlertmanager, PartPrometheus}

// InfraParts are the third-party servers, without the loadlens binaries.
var InfraParts = []string{PartPostgres, PartRedis, PartAlertmanager, PartPrometheus}

// AllParts returns every part name in start order.
func AllParts() []string { return append([]string(nil), allParts...) }

// Config describes one stack.
type Config struct {
	Dir      string // run directory: data, logs, state.json
	RepoRoot string // where prometheus/ is read from
	Ports    Ports
	// Parts to run; nil means all.
	Parts []string
	// PostgresMaxConnections is PostgreSQL's max_connections (default 100).
	PostgresMaxConnections int
	// PostgresNoStatStatements leaves pg_stat_statements uncreated (it
	// stays preloaded), to test what happens without the extension.
	PostgresNoStatStatements bool
	// PostgresNoFsync trades durability for speed (tests).
	PostgresNoFsync bool
	// RedisMaxMemory, when set, caps Redis memory (e.g. "64mb", LRU).
	RedisMaxMemory string
	// BinDir holds loadlens-demo and loadlens-exporter (default: beside
	// the running executable, then PATH).
	BinDir string
	// DemoMode is the demo's --mode (naive or tuned; default tuned).
	DemoMode string
	// DemoArgs and ExporterArgs are appended to their command lines.
	DemoArgs, ExporterArgs []string
	// SeedUsers and SeedPosts, when SeedUsers > 0, seed the demo's tables
	// once it is ready.
	SeedUsers, SeedPosts int
	// ScrapeTargets adds live targets to Prometheus jobs by job name.
	ScrapeTargets map[string][]string
	// RuleFiles overrides the rule files Prometheus loads (default: the
	// repo's prometheus/rules/*.yml).
	RuleFiles []string
	// ScrapeInterval overrides the configuration's global interval.
	ScrapeInterval time.Duration
	// Background detaches the processes so they outlive the caller (the
	// CLI's up). Otherwise they are killed when the caller dies (tests).
	Background bool
	// ReadyTimeout bounds each part's readiness wait (default 60s).
	ReadyTimeout time.Duration
	Logger       *slog.Logger

	// beforeStart, in tests, runs before each part starts.
	beforeStart func(part string)
}

// PartState is what the stack records about one running part.
type PartState struct {
	Name         string `json:"name"`
	PID          int    `json:"pid"`
	Binary       string `json:"binary"`
	Port         int    `json:"port"`
	Address      string `json:"address"`
	URL          string `json:"url,omitempty"`
	DSN          string `json:"dsn,omitempty"` // never holds the password
	PasswordFile string `json:"password_file,omitempty"`
	User         string `json:"user,omitempty"`
	LogFile      string `json:"log_file"`
	DataDir      string `json:"data_dir,omitempty"`
	AdminAddress string `json:"admin_address,omitempty"` // demo: pprof and runtime metrics
	Mode         string `json:"mode,omitempty"`          // demo: naive or tuned
	Users        int    `json:"users,omitempty"`         // demo: seeded users (ids 1..Users)
	Posts        int    `json:"posts,omitempty"`         // demo: seeded posts (ids 1..Posts)
}

type command struct {
	binary string
	args   []string
	env    []string
	dir    string
	cred   *syscall.Credential
}

// part is the recipe of one stack component.
type part struct {
	name     string
	portFlag string
	port     int
	prepare  func(context.Context, *PartState) (*command, error)
	ready    func(context.Context, PartState) error
	// afterReady runs once after the first readiness (extensions, seeds).
	afterReady func(context.Context, PartState) error
	stop       func(context.Context, PartState, <-chan struct{}) error

	mu       sync.Mutex
	state    PartState
	proc     *proc
	reserved net.Listener // holds the port until the part starts
}

// Stack is a running native stack.
type Stack struct {
	cfg   Config
	parts []*part
	log   *slog.Logger
}

// Start brings every configured part up and waits until each is ready.
// On any failure, or when ctx is cancelled (Ctrl-C), it stops what it
// started and returns the error.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Dir == "" {
		return nil, errors.New("stack: no run directory")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if cfg.RepoRoot == "" {
		if cfg.RepoRoot, err = RepoRoot("."); err != nil {
			return nil, err
		}
	}
	if cfg.PostgresMaxConnections == 0 {
		cfg.PostgresMaxConnections = 100
	}
	if cfg.PostgresMaxConnections < 5 {
		return nil, fmt.Errorf("postgres max_connections %d is too small: use at least 5 (--postgres.max-connections)", cfg.PostgresMaxConnections)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	want := cfg.Parts
	if want == nil {
		want = allParts
	}
	for _, w := range want {
		if !slices.Contains(allParts, w) {
			return nil, fmt.Errorf("unknown part %q (known: %s)", w, strings.Join(allParts, ", "))
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	if slices.Contains(want, PartPostgres) {
		if err := checkTraversable(cfg.Dir); err != nil {
			return nil, err
		}
	}
	s := &Stack{cfg: cfg, log: cfg.Logger}
	byName := map[string]*part{}
	for _, name := range allParts {
		if !slices.Contains(want, name) {
			continue
		}
		var p *part
		switch name {
		case PartPostgres:
			p = postgresPart(&s.cfg)
		case PartRedis:
			p = redisPart(&s.cfg)
		case PartDemo:
			p = demoPart(s)
		case PartExporter:
			p = exporterPart(s)
		case PartAlertmanager:
			p = alertmanagerPart(&s.cfg)
		case PartPrometheus:
			p = prometheusPart(&s.cfg, s.promTargets)
		}
		byName[name] = p
		s.parts = append(s.parts, p)
	}
	// Reserve every port first: a taken fixed port fails before anything
	// starts, and free ports are never handed out twice.
	for _, p := range s.parts {
		l, port, err := reservePort(p.name, p.portFlag, p.port)
		if err != nil {
			s.releasePorts()
			return nil, err
		}
		p.reserved = l
		p.state = PartState{Name: p.name, Port: port, LogFile: filepath.Join(cfg.Dir, "logs", p.name+".log")}
	}
	for _, p := range s.parts {
		if cfg.beforeStart != nil {
			cfg.beforeStart(p.name)
		}
		if err := s.startPart(ctx, p, true); err != nil {
			s.log.Error("start failed, stopping what started", "part", p.name, "err", err)
			s.releasePorts()
			_ = s.Stop(context.Background())
			return nil, err
		}
	}
	if err := s.writeState(); err != nil {
		_ = s.Stop(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Stack) releasePorts() {
	for _, p := range s.parts {
		if p.reserved != nil {
			p.reserved.Close()
			p.reserved = nil
		}
	}
}

// promTargets returns the live scrape targets of the other parts.
func (s *Stack) promTargets() map[string][]string {
	t := map[string][]string{}
	for job, addrs := range s.cfg.ScrapeTargets {
		t[job] = append([]string(nil), addrs...)
	}
	for _, p := range s.parts {
		switch p.name {
		case PartAlertmanager:
			t["alertmanager"] = []string{p.state.Address}
		case PartDemo:
			t["loadlens-demo"] = []string{p.state.Address}
			t["loadlens-demo-admin"] = []string{p.state.AdminAddress}
		case PartExporter:
			t["loadlens-exporter"] = []string{p.state.Address}
		}
	}
	return t
}

func (s *Stack) startPart(ctx context.Context, p *part, first bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state
	var cmd *command
	for attempt := 1; ; attempt++ {
		// Prepare (initdb can take seconds) while the port is still held,
		// then release it just before the process binds it.
		var err error
		if cmd, err = p.prepare(ctx, &st); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if p.reserved != nil {
			p.reserved.Close()
			p.reserved = nil
		}
		if portFree(st.Port) {
			break
		}
		if p.port != 0 || !first || attempt == 5 {
			return &PortInUseError{Part: p.name, Port: st.Port, Flag: p.portFlag}
		}
		// A free port picked for us on the first start was taken in that
		// instant by another process: pick another one. (A restart keeps
		// its port: clients know it.)
		l, port, err := reserveFreePort(p.name)
		if err != nil {
			return err
		}
		p.reserved, st.Port = l, port
	}
	appendLog(st.LogFile, fmt.Sprintf("--- loadlens: starting %s at %s", p.name, time.Now().Format(time.RFC3339)))
	pr, err := startProcess(cmd.binary, cmd.args, cmd.env, cmd.dir, st.LogFile, cmd.cred, s.cfg.Background)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	st.PID = pr.cmd.Process.Pid
	p.state, p.proc = st, pr
	s.log.Info("started", "part", p.name, "pid", st.PID, "address", st.Address)
	if err := s.waitReady(ctx, p); err != nil {
		return err
	}
	if first && p.afterReady != nil {
		if err := p.afterReady(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// waitReady polls the part's readiness until the deadline, failing fast
// when the process exits.
func (s *Stack) waitReady(ctx context.Context, p *part) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	var last error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.proc.done:
			return fmt.Errorf("%s exited during start: %s (log: %s)", p.name, logTail(p.state.LogFile), p.state.LogFile)
		default:
		}
		if last = p.ready(ctx, p.state); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready after %s: %v (log: %s)", p.name, s.cfg.ReadyTimeout, last, p.state.LogFile)
			}
			return fmt.Errorf("%s: start interrupted: %w", p.name, ctx.Err())
		case <-p.proc.done:
		case <-tick.C:
		}
	}
}

// Stop stops every part in reverse start order and removes state.json.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	for i := len(s.parts) - 1; i >= 0; i-- {
		if err := s.stopPart(ctx, s.parts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(filepath.Join(s.cfg.Dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Stack) stopPart(ctx context.Context, p *part) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	err := p.stop(ctx, p.state, p.proc.done)
	if err == nil {
		select {
		case <-p.proc.done:
		case <-time.After(5 * time.Second):
			err = fmt.Errorf("%s (pid %d) did not exit", p.name, p.state.PID)
		}
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	s.log.Info("stopped", "part", p.name, "pid", p.state.PID)
	p.proc = nil
	return nil
}

// StopPart stops one part and keeps its data (fault tests restart it).
func (s *Stack) StopPart(ctx context.Context, name string) error {
	p, err := s.part(name)
	if err != nil {
		return err
	}
	return s.stopPart(ctx, p)
}

// StartPart starts a part stopped by StopPart on the same port and waits
// until it is ready.
func (s *Stack) StartPart(ctx context.Context, name string) error {
	p, err := s.part(name)
	if err != nil {
		return err
	}
	if p.proc != nil {
		return fmt.Errorf("%s is already running", name)
	}
	if err := s.startPart(ctx, p, false); err != nil {
		return err
	}
	return s.writeState()
}

// Part returns the recorded state of one part.
func (s *Stack) Part(name string) (PartState, bool) {
	p, err := s.part(name)
	if err != nil {
		return PartState{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, true
}

// Dir is the stack's run directory.
func (s *Stack) Dir() string { return s.cfg.Dir }

func (s *Stack) part(name string) (*part, error) {
	for _, p := range s.parts {
		if p.name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("this stack has no %s part", name)
}

// State returns what a status report needs.
func (s *Stack) State() State {
	st := State{Dir: s.cfg.Dir, RepoRoot: s.cfg.RepoRoot}
	for _, p := range s.parts {
		p.mu.Lock()
		st.Parts = append(st.Parts, p.state)
		p.mu.Unlock()
	}
	return st
}

func (s *Stack) writeState() error {
	st := s.State()
	st.StartedAt = time.Now().UTC()
	return writeState(s.cfg.Dir, st)
}

// checkTraversable makes sure the postgres user can reach the run directory.
func checkTraversable(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres user cannot enter %s (mode %v): choose a run directory under a world-searchable path (chmod o+x %s)", d, fi.Mode().Perm(), d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
