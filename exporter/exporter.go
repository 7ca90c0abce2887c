package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/singleflight"
)

// DefaultBudget is the default scrape budget: well under Prometheus's
// default 10 s scrape timeout.
const DefaultBudget = 5 * time.Second

// BuildInfo describes the running binary for loadlens_exporter_build_info.
type BuildInfo struct {
	Version   string
	Revision  string
	GoVersion string
}

// ReadBuildInfo reads the binary's module version and VCS revision
// ("unknown" when the build did not record them).
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			b.Revision = s.Value
		}
	}
	return b
}

// Options configure an Exporter.
type Options struct {
	// Budget bounds every collection: collectors run concurrently under one
	// context with this deadline. Zero means DefaultBudget.
	Budget time.Duration
	Build  BuildInfo
	Logger *slog.Logger
}

// Exporter is the prometheus.Collector that runs every enabled collector
// concurrently under one scrape budget. Concurrent scrapes share one
// collection (singleflight), so ten scrapers cause one set of queries.
type Exporter struct {
	slots  []*slot
	budget time.Duration
	logger *slog.Logger

	group       singleflight.Group
	collections atomic.Uint64
	waiting     atomic.Int64 // scrapes inside Collect, for tests

	buildInfo       prometheus.Metric
	successDesc     *prometheus.Desc
	durationDesc    *prometheus.Desc
	collectionsDesc *prometheus.Desc
}

// slot is one enabled collector and its last result.
type slot struct {
	name string
	c    Collector
	// running is set while an Update runs; a collector that overran the
	// budget and still has not returned is not started again, so a stuck
	// source costs at most one goroutine.
	running atomic.Bool

	mu   sync.Mutex
	last CollectorStatus
}

// CollectorStatus is the outcome of a collector's last update.
type CollectorStatus struct {
	Name            string    `json:"name"`
	Ran             bool      `json:"ran"`
	Success         bool      `json:"success"`
	DurationSeconds float64   `json:"duration_seconds"`
	LastUpdate      time.Time `json:"last_update,omitzero"`
	Error           string    `json:"error,omitempty"`
}

// New builds an Exporter over the enabled collectors.
func New(collectors []Named, opts Options) (*Exporter, error) {
	if opts.Budget < 0 {
		return nil, fmt.Errorf("scrape budget %s: must be positive", opts.Budget)
	}
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget
	}
	e := &Exporter{
		budget:          opts.Budget,
		logger:          discardLogger(opts.Logger),
		successDesc:     contractDesc("loadlens_exporter_collector_success", []string{"collector"}, nil),
		durationDesc:    contractDesc("loadlens_exporter_collector_duration_seconds", []string{"collector"}, nil),
		collectionsDesc: contractDesc("loadlens_exporter_collections_total", nil, nil),
	}
	b := opts.Build
	if b.GoVersion == "" {
		b.GoVersion = runtime.Version()
	}
	e.buildInfo = prometheus.MustNewConstMetric(
		contractDesc("loadlens_exporter_build_info", []string{"version", "revision", "goversion"}, nil),
		prometheus.GaugeValue, 1, orUnknown(b.Version), orUnknown(b.Revision), b.GoVersion)
	seen := map[string]bool{}
	for _, n := range collectors {
		if n.Name == "" || n.Collector == nil {
			return nil, errors.New("collector without a name or implementation")
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("collector %q registered twice", n.Name)
		}
		seen[n.Name] = true
		e.slots = append(e.slots, &slot{name: n.Name, c: n.Collector, last: CollectorStatus{Name: n.Name}})
	}
	return e, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Budget is the scrape budget.
func (e *Exporter) Budget() time.Duration { return e.budget }

// Describe implements prometheus.Collector. It sends nothing: the
// exporter is an unchecked collector, because the families its collectors
// expose depend on the sources (server versions, extensions, objects).
// Descriptors are still built once, when each collector is constructed.
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector. It joins the collection in
// flight, if any, or starts one.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	for _, m := range e.shared() {
		ch <- m
	}
}

func (e *Exporter) shared() []prometheus.Metric {
	e.waiting.Add(1)
	defer e.waiting.Add(-1)
	v, _, _ := e.group.Do("collect", func() (any, error) { return e.collect(), nil })
	return v.([]prometheus.Metric)
}

// result is what one collector produced in one collection.
type result struct {
	metrics  []prometheus.Metric
	err      error
	duration time.Duration
}

var errOverrun = errors.New("overran the scrape budget; late samples dropped")

func (e *Exporter) collect() []prometheus.Metric {
	n := e.collections.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), e.budget)
	defer cancel()

	results := make([]result, len(e.slots))
	var wg sync.WaitGroup
	for i, s := range e.slots {
		wg.Go(func() { results[i] = e.run(ctx, s) })
	}
	wg.Wait()

	out := []prometheus.Metric{
		e.buildInfo,
		prometheus.MustNewConstMetric(e.collectionsDesc, prometheus.CounterValue, float64(n)),
	}
	now := time.Now()
	for i, s := range e.slots {
		r := results[i]
		success := 0.0
		if r.err == nil {
			success = 1
		} else {
			e.logger.Warn("collector failed", "collector", s.name, "duration", r.duration, "err", r.err)
		}
		out = append(out, r.metrics...)
		out = append(out,
			prometheus.MustNewConstMetric(e.successDesc, prometheus.GaugeValue, success, s.name),
			prometheus.MustNewConstMetric(e.durationDesc, prometheus.GaugeValue, r.duration.Seconds(), s.name))
		st := CollectorStatus{Name: s.name, Ran: true, Success: r.err == nil, DurationSeconds: r.duration.Seconds(), LastUpdate: now}
		if r.err != nil {
			st.Error = r.err.Error()
		}
		s.mu.Lock()
		s.last = st
		s.mu.Unlock()
	}
	return out
}

// run runs one collector under ctx. Samples it sends after ctx is done are
// drained and dropped; the collection never waits past the deadline.
func (e *Exporter) run(ctx context.Context, s *slot) result {
	start := time.Now()
	if !s.running.CompareAndSwap(false, true) {
		return result{err: errors.New("previous update still running past its budget")}
	}
	samples := make(chan prometheus.Metric, 64)
	done := make(chan error, 1)
	go func() {
		err := safeUpdate(ctx, s.c, samples)
		close(samples)
		s.running.Store(false)
		done <- err
	}()
	var got []prometheus.Metric
	for {
		select {
		case m, ok := <-samples:
			if !ok {
				return result{metrics: got, err: <-done, duration: time.Since(start)}
			}
			got = append(got, m)
		case <-ctx.Done():
			go func() {
				for range samples { // late samples: dropped
				}
			}()
			return result{metrics: got, err: errOverrun, duration: time.Since(start)}
		}
	}
}

func safeUpdate(ctx context.Context, c Collector, ch chan<- prometheus.Metric) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("collector panicked: %v", r)
		}
	}()
	return c.Update(ctx, ch)
}

// Status returns the outcome of each collector's last update, in
// registration order.
func (e *Exporter) Status() []CollectorStatus {
	out := make([]CollectorStatus, 0, len(e.slots))
	for _, s := range e.slots {
		s.mu.Lock()
		out = append(out, s.last)
		s.mu.Unlock()
	}
	return out
}

// Ready reports whether every enabled collector succeeded on the last
// collection. Before the first scrape it runs (or joins) one collection,
// so the answer is never a guess.
func (e *Exporter) Ready() (bool, []CollectorStatus) {
	if e.collections.Load() == 0 {
		e.shared()
	}
	st := e.Status()
	for _, s := range st {
		if !s.Success {
			return false, st
		}
	}
	return true, st
}

// NewRegistry returns a registry with the exporter plus the Go runtime and
// process collectors of the exporter itself.
func NewRegistry(e *Exporter) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register collector: %w", err)
		}
	}
	return reg, nil
}
