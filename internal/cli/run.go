package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/loadlens/loadlens/internal/loadtest"
	"github.com/loadlens/loadlens/internal/report"
	"github.com/loadlens/loadlens/internal/stack"
)

type runFlags struct {
	scenario    string
	testID      string
	env         map[string]string
	quiet       bool
	noReport    bool
	baseline    string
	grafanaURL  string
	environment string
}

type reportFlags struct {
	testID   string
	baseline string
}

func (f *runFlags) register(c *kingpin.CmdClause) {
	c.Arg("scenario", "k6 scenario: smoke, load, stress, spike, soak, breakpoint, read-heavy, write-heavy, stepped.").Required().StringVar(&f.scenario)
	c.Flag("testid", "Test id tagging every k6 series (default SCENARIO-DATE-TIME-RANDOM).").StringVar(&f.testID)
	c.Flag("env", "Scenario size override, e.g. --env DURATION=60s --env VUS=20 (repeatable).").PlaceHolder("NAME=VALUE").StringMapVar(&f.env)
	c.Flag("environment", "Environment tag of the run.").Default("local").StringVar(&f.environment)
	c.Flag("quiet", "Hide k6's progress bar.").BoolVar(&f.quiet)
	c.Flag("no-report", "Skip writing the report after the run.").BoolVar(&f.noReport)
	c.Flag("baseline", "Compare the report with this earlier test id.").StringVar(&f.baseline)
	c.Flag("grafana.url", "Grafana to annotate with the run's start and end (token in GRAFANA_TOKEN); empty: none.").Envar("GRAFANA_URL").StringVar(&f.grafanaURL)
}

func (f *reportFlags) register(c *kingpin.CmdClause) {
	c.Flag("testid", "Test id of the run to report on.").Required().StringVar(&f.testID)
	c.Flag("baseline", "Earlier test id to compare with.").StringVar(&f.baseline)
}

// reportsDir is where runs and reports are written: $LOADLENS_REPORTS, or
// reports/ at the repository root (or the current directory outside it).
func reportsDir() string {
	if d := os.Getenv("LOADLENS_REPORTS"); d != "" {
		return d
	}
	if root, err := stack.RepoRoot("."); err == nil {
		return filepath.Join(root, "reports")
	}
	return "reports"
}

// k6Binary prefers the repository's pinned k6 over one on PATH; when there
// is none, loadtest.Run reports it with the setup command.
func k6Binary() string {
	if p, err := stack.FindTool("k6"); err == nil {
		return p
	}
	return "k6"
}

// runningStack returns the probed stack or a one-line error naming `up`.
func (a *app) runningStack(ctx context.Context, need ...string) (stack.Status, error) {
	st, err := stack.Probe(ctx, a.dir)
	if errors.Is(err, stack.ErrNotRunning) {
		return st, fmt.Errorf("no loadlens stack is running in %s: start it with `loadlens up` (or `make demo`)", a.dir)
	}
	if err != nil {
		return st, err
	}
	for _, n := range need {
		p, ok := st.Part(n)
		if !ok {
			return st, fmt.Errorf("the stack in %s has no %s part: restart it with `loadlens down && loadlens up`", a.dir, n)
		}
		if p.Health != stack.HealthReady {
			return st, fmt.Errorf("%s is %s (%s): see `loadlens status` and %s", n, p.Health, p.Detail, p.LogFile)
		}
	}
	return st, nil
}

func (a *app) runRun(ctx context.Context) int {
	res, err := a.k6Run(ctx, a.run)
	if err != nil {
		return a.errorf("%v", err)
	}
	if !a.run.noReport {
		if code := a.writeReport(ctx, res.TestID, a.run.baseline); code != exitOK {
			return code
		}
	}
	if res.ExitCode != 0 {
		// Like k6 itself: a run whose thresholds failed exits non-zero
		// (99), so a pipeline can gate on it.
		fmt.Fprintf(a.stdout, "k6 exited %d: thresholds crossed (the report says where).\n", res.ExitCode)
		return res.ExitCode
	}
	return exitOK
}

// k6Run runs one scenario against the running stack.
func (a *app) k6Run(ctx context.Context, f runFlags) (loadtest.Result, error) {
	st, err := a.runningStack(ctx, stack.PartDemo, stack.PartPrometheus)
	if err != nil {
		return loadtest.Result{}, err
	}
	demo, _ := st.Part(stack.PartDemo)
	prom, _ := st.Part(stack.PartPrometheus)
	overrides := map[string]string{}
	if demo.Users > 0 {
		overrides["USERS"], overrides["POSTS"] = strconv.Itoa(demo.Users), strconv.Itoa(demo.Posts)
	}
	for k, v := range f.env {
		overrides[k] = v
	}
	fmt.Fprintf(a.stdout, "Running k6 %s against %s (demo mode %s), remote-writing to %s ...\n", f.scenario, demo.URL, demo.Mode, prom.URL)
	res, err := loadtest.Run(ctx, loadtest.Options{
		K6Binary:      k6Binary(),
		Scenario:      f.scenario,
		BaseURL:       demo.URL,
		PrometheusURL: prom.URL,
		TestID:        f.testID,
		Environment:   f.environment,
		Env:           overrides,
		Dir:           reportsDir(),
		Stdout:        a.stdout,
		Stderr:        a.stderr,
		Quiet:         f.quiet,
	})
	if err != nil {
		return res, err
	}
	fmt.Fprintf(a.stdout, "k6 run %s: %s → %s (%s)\n", res.TestID, res.Start.Local().Format(time.TimeOnly), res.End.Local().Format(time.TimeOnly), res.End.Sub(res.Start).Round(time.Second))
	if f.grafanaURL != "" {
		if err := annotate(ctx, f.grafanaURL, os.Getenv("GRAFANA_TOKEN"), res); err != nil {
			fmt.Fprintf(a.stderr, "loadlens: Grafana annotation skipped: %v\n", err)
		}
	}
	return res, nil
}

func (a *app) runReport(ctx context.Context) int {
	return a.writeReport(ctx, a.report.testID, a.report.baseline)
}

func (a *app) writeReport(ctx context.Context, testID, baseline string) int {
	st, err := a.runningStack(ctx, stack.PartPrometheus)
	if err != nil {
		return a.errorf("%v", err)
	}
	prom, _ := st.Part(stack.PartPrometheus)
	opts := report.Options{PrometheusURL: prom.URL, TestID: testID, Baseline: baseline, OutDir: reportsDir()}
	if am, ok := st.Part(stack.PartAlertmanager); ok {
		opts.AlertmanagerURL = am.URL
	}
	r, err := report.Build(ctx, opts)
	if err != nil {
		return a.errorf("%v", err)
	}
	path, err := r.Write(opts.OutDir)
	if err != nil {
		return a.errorf("write the report: %v", err)
	}
	fmt.Fprintf(a.stdout, "\nReport %s: verdict %s.\n", testID, r.Verdict)
	for _, b := range r.Bottlenecks {
		fmt.Fprintf(a.stdout, "  - %s\n", b)
	}
	fmt.Fprintf(a.stdout, "Written to %s (charts beside it).\n", relative(path))
	return exitOK
}

// annotate marks the run on Grafana's dashboards as one region annotation.
func annotate(ctx context.Context, base, token string, res loadtest.Result) error {
	body, _ := json.Marshal(map[string]any{
		"time":    res.Start.UnixMilli(),
		"timeEnd": res.End.UnixMilli(),
		"tags":    []string{"loadlens", "testid:" + res.TestID, "scenario:" + res.Scenario},
		"text":    fmt.Sprintf("k6 %s (%s)", res.Scenario, res.TestID),
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/annotations", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s/api/annotations answered %s", base, resp.Status)
	}
	return nil
}

type compareFlags struct {
	scenario string
	env      map[string]string
}

func (f *compareFlags) register(c *kingpin.CmdClause) {
	c.Flag("scenario", "k6 scenario both modes run.").Default("load").StringVar(&f.scenario)
	c.Flag("env", "Scenario size override (repeatable), e.g. --env DURATION=30s.").PlaceHolder("NAME=VALUE").StringMapVar(&f.env)
}

// runCompare runs the scenario against the naive demo, then the tuned one,
// and writes the tuned report with the naive run as its baseline.
func (a *app) runCompare(ctx context.Context) int {
	unlock, err := stack.Lock(a.dir)
	if err != nil {
		return a.errorf("%v", err)
	}
	stamp := time.Now().Format("20060102-150405")
	var ids []string
	for _, mode := range []string{stack.DemoModeNaive, stack.DemoModeTuned} {
		if err := stack.Down(ctx, a.dir); err != nil && !errors.Is(err, stack.ErrNotRunning) {
			unlock()
			return a.errorf("stop the stack before switching to %s: %v", mode, err)
		}
		a.up.demoMode = mode
		started := time.Now()
		st, err := a.startStack(ctx)
		if err != nil {
			unlock()
			return a.errorf("%v", err)
		}
		if err := waitDemoScraped(ctx, st, started); err != nil {
			unlock()
			return a.errorf("%v", err)
		}
		res, err := a.k6Run(ctx, runFlags{scenario: a.compare.scenario, testID: fmt.Sprintf("%s-%s-%s", a.compare.scenario, mode, stamp),
			environment: "local", quiet: true, env: a.compare.env})
		if err != nil {
			unlock()
			return a.errorf("%s run: %v", mode, err)
		}
		ids = append(ids, res.TestID)
	}
	unlock()
	if code := a.writeReport(ctx, ids[0], ""); code != exitOK {
		return code
	}
	if code := a.writeReport(ctx, ids[1], ids[0]); code != exitOK {
		return code
	}
	fmt.Fprintf(a.stdout, "\nThe stack keeps running with the tuned demo. Naive: %s   Tuned vs naive: %s\n",
		relative(filepath.Join(reportsDir(), ids[0], "report.md")), relative(filepath.Join(reportsDir(), ids[1], "report.md")))
	return exitOK
}

// waitDemoScraped waits until Prometheus has scraped the restarted demo and
// holds no fresh series of the previous one, so the next run's report reads
// this process only.
func waitDemoScraped(ctx context.Context, st stack.Status, since time.Time) error {
	p, _ := st.Part(stack.PartPrometheus)
	prom, err := report.NewProm(p.URL, nil)
	if err != nil {
		return err
	}
	const series = `db_client_connection_max`
	newer := fmt.Sprintf(`count(timestamp(%s) > %d)`, series, since.Unix())
	all := fmt.Sprintf(`count(last_over_time(%s[%s]))`, series, report.FreshWindow)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		n, err1 := prom.Query(ctx, newer, time.Now())
		m, err2 := prom.Query(ctx, all, time.Now())
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("wait for Prometheus to scrape the restarted demo: %w", err)
		}
		if len(n) == 1 && len(m) == 1 && n[0].Value >= 1 && n[0].Value == m[0].Value {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Prometheus at %s did not scrape the restarted demo within a minute: see `loadlens status`", p.URL)
		case <-time.After(time.Second):
		}
	}
}
