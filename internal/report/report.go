// Package report turns one k6 run into a load-test report: it queries
// Prometheus for the run's k6 series (by testid) and the system-side series
// of the same time range (connection pools, PostgreSQL, caches, replicas,
// alerts), judges the run against per-endpoint SLAs, names the bottleneck
// in plain language and writes reports/TESTID/report.md with PNG charts.
package report

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/loadtest"
)

// Options configure Generate and Build.
type Options struct {
	PrometheusURL   string // http://127.0.0.1:9090
	AlertmanagerURL string // optional: alerts it knows are listed too
	TestID          string
	Baseline        string // optional testid to compare with
	OutDir          string // reports directory (default "reports"); run.json is read from OutDir/TESTID
	SLA             SLA    // zero value: DefaultSLA()
	// Lookback bounds the search for a run's k6 series when it has no
	// run.json (default 7 days).
	Lookback time.Duration
	// HTTPClient for Prometheus and Alertmanager (default: 30 s timeout).
	HTTPClient *http.Client
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Report is everything the report shows, as numbers.
type Report struct {
	TestID      string
	Scenario    string // from run.json, else the k6 series' test_type
	TestType    string
	Environment string
	Start, End  time.Time
	// RangeSource says where Start and End come from: "run.json" or "k6 series".
	RangeSource string
	ExitCode    *int // k6's exit code when run.json recorded it

	Overall   EndpointStats   // every request of the run, Name "all"
	Endpoints []EndpointStats // by request name, sorted
	PeakRPS   float64
	PeakVUs   float64

	Steps         []StepStats // stepped runs only, in step order
	BreakingPoint *StepStats  // first step failing the SLA

	System System
	Alerts []Alert

	Verdict     Verdict
	Reasons     []string
	Bottlenecks []string

	// FailFactor is the SLA's latency factor between degraded and fail.
	FailFactor float64

	Charts   []Chart  // written next to report.md
	Baseline *Report  // when Options.Baseline is set
	Notes    []string // data that was missing, with what to check

	timeline timeline
}

// EndpointStats are the k6-side figures of one request name.
type EndpointStats struct {
	Name               string
	Requests, Failures float64
	RPS                float64
	Median, P95, P99   float64 // seconds
	ErrorRate          float64
	SLA                EndpointSLA
	Verdict            Verdict
	Reasons            []string
}

// StepStats are one step of a stepped run.
type StepStats struct {
	Step       string // value of the step tag
	TargetVUs  string
	Start, End time.Time
	Overall    EndpointStats
	Endpoints  []EndpointStats
	Verdict    Verdict
	Reasons    []string
}

// Duration is the run's length.
func (r *Report) Duration() time.Duration { return r.End.Sub(r.Start) }

// Errors of Build; each message is one actionable line.
var (
	ErrNoSeries   = errors.New("no k6 series")
	ErrEmptyRange = errors.New("empty time range")
)

// Generate builds the report and writes OutDir/TESTID/report.md and its
// charts; it returns the report's path.
func Generate(ctx context.Context, opts Options) (string, error) {
	r, err := Build(ctx, opts)
	if err != nil {
		return "", err
	}
	return r.Write(opts.outDir())
}

func (o Options) outDir() string {
	if o.OutDir == "" {
		return "reports"
	}
	return o.OutDir
}

// Build queries Prometheus and computes the report without writing it.
func Build(ctx context.Context, opts Options) (*Report, error) {
	if opts.TestID == "" {
		return nil, errors.New("report: no test id given (--testid)")
	}
	for _, id := range []string{opts.TestID, opts.Baseline} {
		if id == "" {
			continue
		}
		if err := loadtest.ValidTestID(id); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lookback <= 0 {
		opts.Lookback = 7 * 24 * time.Hour
	}
	opts.SLA = opts.SLA.withDefaults()
	prom, err := NewProm(opts.PrometheusURL, opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	b := &builder{prom: prom, opts: opts}
	r, err := b.build(ctx, opts.TestID)
	if err != nil {
		return nil, err
	}
	b.alerts(ctx, r)
	r.Bottlenecks = diagnose(r)
	if opts.Baseline != "" {
		base, err := b.build(ctx, opts.Baseline)
		if err != nil {
			return nil, fmt.Errorf("baseline %s: %w", opts.Baseline, err)
		}
		r.Baseline = base
	}
	return r, nil
}

type builder struct {
	prom *Prom
	opts Options
}

// runRange finds the run's time range: run.json, else the k6 series.
func (b *builder) runRange(ctx context.Context, r *Report) error {
	rec, err := loadtest.ReadRun(b.opts.outDir(), r.TestID)
	switch {
	case err == nil && !rec.End.IsZero():
		r.Start, r.End, r.RangeSource = rec.Start, rec.End, "run.json"
		r.Scenario, r.TestType, r.Environment = rec.Scenario, rec.TestType, rec.Environment
		code := rec.ExitCode
		r.ExitCode = &code
	case err == nil:
		r.Notes = append(r.Notes, "run.json has no end time (k6 still running or killed): the range comes from the k6 series")
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if r.RangeSource != "" {
		if !r.End.After(r.Start) {
			return fmt.Errorf("report: %w for testid %q: run.json says %s – %s", ErrEmptyRange, r.TestID, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339))
		}
		return nil
	}
	now := b.opts.Now()
	series, err := b.prom.Raw(ctx, fmt.Sprintf(`%s{%s}[%s]`, k6VUs, b.sel(r.TestID), promDuration(b.opts.Lookback)), now)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return b.noSeries(r.TestID, fmt.Sprintf("in the last %s", b.opts.Lookback))
	}
	first, last := series[0].Points[0].T, series[0].Points[0].T
	for _, s := range series {
		for _, p := range s.Points {
			if p.T.Before(first) {
				first = p.T
			}
			if p.T.After(last) {
				last = p.T
			}
		}
		if r.TestType == "" {
			r.TestType, r.Environment = s.Labels["test_type"], s.Labels["environment"]
		}
	}
	// k6 pushes every second: the first sample arrives up to a push interval
	// after the run started.
	r.Start, r.End, r.RangeSource = first.Add(-time.Second), last, "k6 series"
	if r.Scenario == "" {
		r.Scenario = r.TestType
	}
	if !r.End.After(r.Start) {
		return fmt.Errorf("report: %w for testid %q: its k6 series span %s – %s", ErrEmptyRange, r.TestID, first.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	return nil
}

func (b *builder) noSeries(testID, where string) error {
	return fmt.Errorf("report: %w for testid %q %s in Prometheus at %s: was it run with `loadlens run` (k6 -o experimental-prometheus-rw --tag testid=%s)?",
		ErrNoSeries, testID, where, redactURL(b.opts.PrometheusURL), testID)
}

func (b *builder) sel(testID string) string {
	return labelTestID + "=" + strconv.Quote(testID)
}

// evalTime is when instant queries over the run are evaluated: just after
// its end, so the last remote-write push is included.
func (r *Report) evalTime() time.Time { return r.End.Add(time.Second) }

// window is the range selector covering the whole run.
func (r *Report) window() string {
	return promDuration(r.evalTime().Sub(r.Start) + time.Second)
}

func (b *builder) build(ctx context.Context, testID string) (*Report, error) {
	r := &Report{TestID: testID, FailFactor: b.opts.SLA.FailFactor}
	if err := b.runRange(ctx, r); err != nil {
		return nil, err
	}
	sel := b.sel(testID)
	eps, err := b.endpoints(ctx, r, sel, labelName)
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return nil, b.noSeries(testID, fmt.Sprintf("between %s and %s", r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339)))
	}
	overall, err := b.endpoints(ctx, r, sel)
	if err != nil {
		return nil, err
	}
	for _, g := range eps {
		r.Endpoints = append(r.Endpoints, g.Stats)
	}
	if len(overall) == 1 {
		r.Overall = overall[0].Stats
	}
	r.Overall.Name = "all" // not judged: the SLAs are per endpoint
	for i := range r.Endpoints {
		b.opts.SLA.judge(&r.Endpoints[i])
	}
	r.Verdict, r.Reasons = worst(r.Endpoints)
	if err := b.steps(ctx, r, sel); err != nil {
		return nil, err
	}
	if err := b.timelines(ctx, r, sel); err != nil {
		return nil, err
	}
	if err := b.system(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// grouped are the figures of one group of k6 series: Labels holds the
// grouping labels' values.
type grouped struct {
	Labels map[string]string
	Stats  EndpointStats
}

// endpoints computes figures grouped by the given labels (none: the whole
// run), sorted by group. Requests come from the last values of the k6
// counters (exact per series), quantiles from the native histograms' last
// values; req/s are over the run's duration.
func (b *builder) endpoints(ctx context.Context, r *Report, sel string, group ...string) ([]grouped, error) {
	g := "sum by (" + strings.Join(group, ", ") + ") "
	at := r.evalTime()
	win := r.window()
	reqs, err := b.prom.Query(ctx, fmt.Sprintf(`%s(max_over_time(%s{%s}[%s]))`, g, k6Reqs, sel, win), at)
	if err != nil {
		return nil, err
	}
	fails, err := b.prom.Query(ctx, fmt.Sprintf(`%s(max_over_time(%s{%s,%s!~"[23].."}[%s]))`, g, k6Reqs, sel, labelStatus, win), at)
	if err != nil {
		return nil, err
	}
	key := func(l map[string]string) string {
		var parts []string
		for _, k := range group {
			parts = append(parts, strconv.Quote(l[k]))
		}
		return strings.Join(parts, ",")
	}
	byKey := map[string]*grouped{}
	dur := r.Duration().Seconds()
	for _, s := range reqs {
		byKey[key(s.Labels)] = &grouped{Labels: s.Labels, Stats: EndpointStats{
			Name: s.Labels[labelName], Requests: s.Value, RPS: s.Value / dur,
			Median: math.NaN(), P95: math.NaN(), P99: math.NaN(),
		}}
	}
	for _, s := range fails {
		if e, ok := byKey[key(s.Labels)]; ok {
			e.Stats.Failures = s.Value
		}
	}
	hist := lastHistograms(k6Duration+"{"+sel+"}", r.Start, at)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		ss, err := b.prom.Query(ctx, fmt.Sprintf(`histogram_quantile(%g, %s(%s))`, q, g, hist), at)
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			e, ok := byKey[key(s.Labels)]
			if !ok {
				continue
			}
			switch q {
			case 0.5:
				e.Stats.Median = s.Value
			case 0.95:
				e.Stats.P95 = s.Value
			default:
				e.Stats.P99 = s.Value
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]grouped, 0, len(keys))
	for _, k := range keys {
		e := byKey[k]
		if e.Stats.Requests > 0 {
			e.Stats.ErrorRate = e.Stats.Failures / e.Stats.Requests
		}
		out = append(out, *e)
	}
	return out, nil
}

// steps fills the per-step tables of runs whose requests carry a step tag.
func (b *builder) steps(ctx context.Context, r *Report, sel string) error {
	stepSel := sel + `,` + labelStep + `!=""`
	groups, err := b.endpoints(ctx, r, stepSel, labelStep, labelTargetVUs, labelName)
	if err != nil || len(groups) == 0 {
		return err
	}
	// Each step's time range: the first and last sample of its counters.
	spans, err := b.prom.Raw(ctx, fmt.Sprintf(`%s{%s}[%s]`, k6Reqs, stepSel, r.window()), r.evalTime())
	if err != nil {
		return err
	}
	type span struct{ start, end time.Time }
	stepSpan := map[string]*span{}
	for _, s := range spans {
		st := s.Labels[labelStep]
		sp := stepSpan[st]
		if sp == nil {
			sp = &span{start: s.Points[0].T, end: s.Points[0].T}
			stepSpan[st] = sp
		}
		for _, p := range s.Points {
			if p.T.Before(sp.start) {
				sp.start = p.T
			}
			if p.T.After(sp.end) {
				sp.end = p.T
			}
		}
	}
	byStep := map[string]*StepStats{}
	for _, g := range groups {
		st := &StepStats{Step: g.Labels[labelStep], TargetVUs: g.Labels[labelTargetVUs]}
		if prev, ok := byStep[st.Step]; ok {
			st = prev
		} else {
			byStep[st.Step] = st
			if sp := stepSpan[st.Step]; sp != nil {
				// Counters are pushed every second: a step starts up to one
				// push before its first sample.
				st.Start, st.End = sp.start.Add(-time.Second), sp.end
			}
		}
		st.Endpoints = append(st.Endpoints, g.Stats)
	}
	for _, st := range byStep {
		dur := st.End.Sub(st.Start).Seconds()
		var tot EndpointStats
		tot.Name = "all"
		for i := range st.Endpoints {
			e := &st.Endpoints[i]
			if dur > 0 {
				e.RPS = e.Requests / dur
			}
			b.opts.SLA.judge(e)
			tot.Requests += e.Requests
			tot.Failures += e.Failures
		}
		if dur > 0 {
			tot.RPS = tot.Requests / dur
		}
		if tot.Requests > 0 {
			tot.ErrorRate = tot.Failures / tot.Requests
		}
		st.Verdict, st.Reasons = worst(st.Endpoints)
		// Overall quantiles of the step.
		for _, q := range []float64{0.5, 0.95, 0.99} {
			stepHist := fmt.Sprintf(`%s{%s,%s=%q}`, k6Duration, sel, labelStep, st.Step)
			s, err := b.prom.Query(ctx, fmt.Sprintf(`histogram_quantile(%g, sum(%s))`, q, lastHistograms(stepHist, r.Start, r.evalTime())), r.evalTime())
			if err != nil {
				return err
			}
			v := math.NaN()
			if len(s) == 1 {
				v = s[0].Value
			}
			switch q {
			case 0.5:
				tot.Median = v
			case 0.95:
				tot.P95 = v
			default:
				tot.P99 = v
			}
		}
		st.Overall = tot
		r.Steps = append(r.Steps, *st)
	}
	sort.Slice(r.Steps, func(i, j int) bool { return stepLess(r.Steps[i].Step, r.Steps[j].Step) })
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Verdict != Pass && r.BreakingPoint == nil {
			r.BreakingPoint = st
		}
		// A step breaking the SLA makes the run's verdict at least as bad,
		// even when the whole run's figures (dominated by the lighter steps) pass.
		if st.Verdict > r.Verdict {
			r.Verdict = st.Verdict
		}
		if st.Verdict != Pass {
			for _, reason := range st.Reasons {
				r.Reasons = append(r.Reasons, fmt.Sprintf("step %s (%s VUs): %s", st.Step, st.TargetVUs, reason))
			}
		}
	}
	return nil
}

// Prometheus's default lookback: an instant selector finds a series' latest
// sample at most this old.
const lookback = 5 * time.Minute

// maxLastTerms bounds the query lastHistograms builds (400 minutes of run
// at 4-minute spacing); longer runs space the terms wider.
const maxLastTerms = 100

// lastHistograms selects the latest native-histogram sample of every series
// matching selector within [start, end]. k6 only pushes series that got
// samples since its last push, so a series idle for more than the lookback
// (an earlier step, a burst of errors) is invisible to a plain instant
// selector at the end, and Prometheus 2.42 has no last_over_time for
// histograms. The selector is evaluated at times spaced below the lookback
// from end backwards, joined with "or": each series keeps its latest sample.
func lastHistograms(selector string, start, end time.Time) string {
	spacing := lookback - time.Minute
	if n := end.Sub(start)/spacing + 1; n > maxLastTerms {
		spacing = end.Sub(start) / maxLastTerms
	}
	var terms []string
	for t := end; ; t = t.Add(-spacing) {
		terms = append(terms, fmt.Sprintf("%s @ %s", selector, formatTime(t)))
		if !t.After(start.Add(lookback)) || len(terms) > maxLastTerms {
			break
		}
	}
	return "(" + strings.Join(terms, " or ") + ")"
}

func stepLess(a, b string) bool {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	if ea == nil && eb == nil {
		return na < nb
	}
	return a < b
}

// promDuration renders a duration as a PromQL duration (whole milliseconds).
func promDuration(d time.Duration) string {
	ms := d.Milliseconds()
	if ms <= 0 {
		ms = 1
	}
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// Write writes dir/TESTID/report.md and its charts and returns the path.
func (r *Report) Write(dir string) (string, error) {
	out := filepath.Join(dir, r.TestID)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	charts, err := r.writeCharts(out)
	if err != nil {
		return "", err
	}
	r.Charts = charts
	p := filepath.Join(out, "report.md")
	if err := os.WriteFile(p, []byte(r.Markdown()), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return p, nil
}
