// Package loadtest runs loadlens's k6 scenarios: it builds the k6 command
// line (remote write to Prometheus, run tags, environment overrides), runs
// k6 and records the run's time range in reports/TESTID/run.json, which the
// report reads.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	k6scripts "github.com/loadlens/loadlens/loadtest/k6"
)

// ExitThresholdsFailed is k6's exit code when thresholds failed (including
// a breakpoint run aborted by abortOnFail): the run itself worked.
const ExitThresholdsFailed = 99

// RunFile is the name of the run record inside reports/TESTID/.
const RunFile = "run.json"

// SummaryFile is k6's end-of-test summary (--summary-export) inside reports/TESTID/.
const SummaryFile = "k6-summary.json"

// Options configure one k6 run.
type Options struct {
	K6Binary  string // path to k6; default "k6" from PATH
	ScriptDir string // directory holding NAME.js and lib/; default: the embedded scripts
	Scenario  string // script name without .js: smoke, load, stress, ...
	BaseURL   string // demo service, passed as BASE_URL; default http://127.0.0.1:8080
	// PrometheusURL is where k6 remote-writes: a Prometheus base URL
	// (http://127.0.0.1:9090, /api/v1/write is appended) or the full write
	// URL. Empty: no remote write (the report then has no data).
	PrometheusURL string
	TestID        string // default SCENARIO-YYYYMMDD-HHMMSS-XXXX
	TestType      string // default the scenario name
	Environment   string // default "local"
	// Env overrides the scripts' sizes: DURATION, VUS, RATE, STEP_DURATION,
	// STEPS, USERS, POSTS, ... (passed with -e, never from the process env).
	Env    map[string]string
	Dir    string // reports directory; the run is recorded in Dir/TESTID; default "reports"
	Stdout io.Writer
	Stderr io.Writer
	// Quiet passes --quiet (no progress bar) to k6.
	Quiet bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Result describes a finished k6 run.
type Result struct {
	TestID      string    `json:"testid"`
	Scenario    string    `json:"scenario"`
	TestType    string    `json:"test_type"`
	Environment string    `json:"environment"`
	BaseURL     string    `json:"base_url"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	ExitCode    int       `json:"exit_code"` // 99: thresholds failed
	// Env are the overrides the run used.
	Env map[string]string `json:"env,omitempty"`
	// Dir is reports/TESTID; SummaryPath is k6's summary export in it.
	Dir         string `json:"-"`
	SummaryPath string `json:"-"`
}

// ThresholdsFailed reports whether k6 ended because an SLA threshold failed.
func (r Result) ThresholdsFailed() bool { return r.ExitCode == ExitThresholdsFailed }

var (
	testIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	envPattern    = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// Scenarios lists the scenarios in dir, or the embedded ones when dir is "".
func Scenarios(dir string) ([]string, error) {
	if dir == "" {
		return k6scripts.Scenarios(), nil
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.js"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(filepath.Base(m), ".js"))
	}
	sort.Strings(out)
	return out, nil
}

// Run runs one scenario with k6 and records it in Dir/TESTID/run.json.
// A run whose thresholds failed returns ExitCode 99 and no error; any other
// k6 failure returns an error (and the Result, when k6 started).
func Run(ctx context.Context, opts Options) (Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	scriptDir := o.ScriptDir
	if scriptDir == "" {
		tmp, err := os.MkdirTemp("", "loadlens-k6-")
		if err != nil {
			return Result{}, fmt.Errorf("loadtest: %w", err)
		}
		defer os.RemoveAll(tmp)
		if err := os.CopyFS(tmp, k6scripts.FS()); err != nil {
			return Result{}, fmt.Errorf("loadtest: write embedded scripts: %w", err)
		}
		scriptDir = tmp
	}
	names, err := Scenarios(scriptDir)
	if err != nil {
		return Result{}, fmt.Errorf("loadtest: %w", err)
	}
	if !slices.Contains(names, o.Scenario) {
		return Result{}, fmt.Errorf("loadtest: unknown scenario %q in %s (have: %s)", o.Scenario, scriptDir, strings.Join(names, ", "))
	}
	k6, err := exec.LookPath(o.K6Binary)
	if err != nil {
		return Result{}, fmt.Errorf("loadtest: k6 binary %q not found: run `make setup` (it builds k6 into .tools/bin)", o.K6Binary)
	}
	runDir := filepath.Join(o.Dir, o.TestID)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("loadtest: %w", err)
	}
	res := Result{
		TestID: o.TestID, Scenario: o.Scenario, TestType: o.TestType, Environment: o.Environment,
		BaseURL: o.BaseURL, Env: o.Env, Dir: runDir, SummaryPath: filepath.Join(runDir, SummaryFile),
	}
	absSummary, err := filepath.Abs(res.SummaryPath)
	if err != nil {
		return Result{}, fmt.Errorf("loadtest: %w", err)
	}
	args := o.args(filepath.Join(scriptDir, o.Scenario+".js"), absSummary)
	cmd := exec.CommandContext(ctx, k6, args...)
	cmd.Env = o.processEnv()
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	// Cancelling stops k6 the way Ctrl-C does: it ends the scenarios,
	// flushes remote write and prints its summary.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second

	res.Start = o.Now().UTC()
	if err := writeRun(runDir, res); err != nil {
		return Result{}, err
	}
	runErr := cmd.Run()
	res.End = o.Now().UTC()
	res.ExitCode = cmd.ProcessState.ExitCode()
	if err := writeRun(runDir, res); err != nil {
		return res, err
	}
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("loadtest: %s run %s interrupted: %w", o.Scenario, o.TestID, ctx.Err())
	case errors.As(runErr, &exitErr) && res.ExitCode == ExitThresholdsFailed:
		return res, nil
	case errors.As(runErr, &exitErr):
		return res, fmt.Errorf("loadtest: k6 exited with code %d (%s) for scenario %s: see its output above", res.ExitCode, exitMeaning(res.ExitCode), o.Scenario)
	default:
		return res, fmt.Errorf("loadtest: run k6: %w", runErr)
	}
}

// exitMeaning names k6's documented exit codes.
func exitMeaning(code int) string {
	switch code {
	case 97:
		return "script exception"
	case 98:
		return "cloud test run failed"
	case 100:
		return "generic timeout"
	case 101:
		return "setup timeout"
	case 102:
		return "teardown timeout"
	case 103:
		return "script invalid"
	case 104:
		return "invalid configuration"
	case 105:
		return "external abort"
	case 106:
		return "cannot start REST API"
	case 107:
		return "script exception"
	case 108:
		return "aborted by script"
	default:
		return "k6 error"
	}
}

func (o Options) withDefaults() (Options, error) {
	if o.Scenario == "" {
		return o, errors.New("loadtest: no scenario given (e.g. smoke, load, stepped)")
	}
	if o.K6Binary == "" {
		o.K6Binary = "k6"
	}
	if o.BaseURL == "" {
		o.BaseURL = "http://127.0.0.1:8080"
	}
	if u, err := url.Parse(o.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
		return o, fmt.Errorf("loadtest: base URL %q: want e.g. http://127.0.0.1:8080", o.BaseURL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TestType == "" {
		o.TestType = o.Scenario
	}
	if o.Environment == "" {
		o.Environment = "local"
	}
	if o.Dir == "" {
		o.Dir = "reports"
	}
	if o.TestID == "" {
		var b [2]byte
		_, _ = rand.Read(b[:])
		o.TestID = fmt.Sprintf("%s-%s-%s", o.Scenario, o.Now().UTC().Format("20060102-150405"), hex.EncodeToString(b[:]))
	}
	if err := ValidTestID(o.TestID); err != nil {
		return o, fmt.Errorf("loadtest: %w", err)
	}
	for k := range o.Env {
		if !envPattern.MatchString(k) {
			return o, fmt.Errorf("loadtest: environment override %q: want an upper-case name like DURATION", k)
		}
	}
	if o.PrometheusURL != "" {
		w, err := RemoteWriteURL(o.PrometheusURL)
		if err != nil {
			return o, err
		}
		o.PrometheusURL = w
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return o, nil
}

// ValidTestID checks a test id is usable as a label value and a directory
// name under reports/.
func ValidTestID(id string) error {
	if !testIDPattern.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("test id %q: use letters, digits, '.', '_' and '-' (max 128, no '..')", id)
	}
	return nil
}

// RemoteWriteURL turns a Prometheus base URL into its remote-write
// endpoint; a URL that already has a path is kept.
func RemoteWriteURL(prom string) (string, error) {
	u, err := url.Parse(prom)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("loadtest: Prometheus URL %q: want e.g. http://127.0.0.1:9090", redact(prom))
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/api/v1/write"
	}
	return u.String(), nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// args builds k6's command line.
func (o Options) args(script, summary string) []string {
	args := []string{"run", "--no-color", "--summary-export", summary}
	if o.Quiet {
		args = append(args, "--quiet")
	}
	if o.PrometheusURL != "" {
		args = append(args, "-o", "experimental-prometheus-rw")
	}
	for _, t := range [][2]string{{"testid", o.TestID}, {"test_type", o.TestType}, {"environment", o.Environment}} {
		args = append(args, "--tag", t[0]+"="+t[1])
	}
	args = append(args, "-e", "BASE_URL="+o.BaseURL)
	keys := make([]string, 0, len(o.Env))
	for k := range o.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-e", k+"="+o.Env[k])
	}
	return append(args, script)
}

// processEnv is k6's process environment: the caller's, minus any K6_
// settings that would change the output, plus the remote-write settings.
func (o Options) processEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "K6_PROMETHEUS_RW_") || strings.HasPrefix(kv, "K6_OUT=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "K6_NO_USAGE_REPORT=true")
	if o.PrometheusURL != "" {
		env = append(env,
			"K6_PROMETHEUS_RW_SERVER_URL="+o.PrometheusURL,
			"K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true",
			"K6_PROMETHEUS_RW_PUSH_INTERVAL=1s",
		)
	}
	return env
}

func writeRun(dir string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	tmp := filepath.Join(dir, RunFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("loadtest: record run: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, RunFile)); err != nil {
		return fmt.Errorf("loadtest: record run: %w", err)
	}
	return nil
}

// ReadRun reads Dir/TESTID/run.json. A missing file returns an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadRun(dir, testID string) (Result, error) {
	p := filepath.Join(dir, testID, RunFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("loadtest: %s: %w", p, err)
	}
	r.Dir = filepath.Join(dir, testID)
	r.SummaryPath = filepath.Join(r.Dir, SummaryFile)
	return r, nil
}
