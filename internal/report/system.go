package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// System are the service-side figures of the run's time range.
type System struct {
	Pools      []PoolStats
	Postgres   *PostgresStats // nil without exporter series
	Caches     []CacheStats   // application caches (app_cache_requests_total)
	Redis      *CacheStats    // Redis keyspace (exporter); Name "redis keyspace"
	Statements []Statement    // slowest PostgreSQL statements by mean time
	Replicas   []ReplicaStats // per HPA, when present
}

// PoolStats is one client connection pool of the demo service.
type PoolStats struct {
	Name           string
	Size           float64 // db_client_connection_max at the end of the run
	PeakSaturation float64 // used / max, 0-1
	PeakPending    float64
	// WaitFirst and WaitLast are the mean wait seconds per second in the
	// first and last third of the run; PeakWait the maximum.
	WaitFirst, WaitLast, PeakWait float64
	Timeouts                      float64
}

// WaitGrowing says whether time spent waiting for connections grew over the run.
func (p PoolStats) WaitGrowing() bool {
	return p.WaitLast > 0.01 && p.WaitLast > 1.2*p.WaitFirst
}

// PostgresStats are the PostgreSQL server's connection figures.
type PostgresStats struct {
	PeakSaturation  float64 // backends / slots open to ordinary users
	PeakConnections float64 // client backends (all states)
	MaxConnections  float64 // max_connections
}

// CacheStats is one cache's lookups over the run.
type CacheStats struct {
	Name     string
	Lookups  float64
	HitRatio float64 // NaN without lookups
}

// Statement is one top-N PostgreSQL statement over the run.
type Statement struct {
	QueryID   string
	Query     string // text, when the exporter exports it
	Calls     float64
	TotalTime float64 // seconds executing during the run
	MeanTime  float64 // seconds per call
}

// ReplicaStats are one HPA's replicas over the run.
type ReplicaStats struct {
	Name          string // namespace/hpa
	Min, Max      float64
	MaxReplicas   float64 // the HPA's spec.maxReplicas (0 unknown)
	Final         float64
	AtMaxReplicas bool
}

// Alert is one alert seen firing during the run.
type Alert struct {
	Name        string
	Severity    string
	Labels      string // other identifying labels, k=v comma-separated
	First, Last time.Time
	Source      string // "prometheus" (ALERTS series) or "alertmanager"
}

// timeline holds the range series the charts draw.
type timeline struct {
	step                      time.Duration
	latency                   map[string][]Point // p50, p95, p99 (seconds)
	rps, vus                  []Point
	poolSaturation, poolWait  map[string][]Point
	cacheHit                  map[string][]Point
	replicas                  map[string][]Point
	stepStarts                []time.Time
	hasPools, hasCache, hasRS bool
}

// rangeStep picks the range-query resolution and rate window for a run.
func rangeStep(d time.Duration) (step, window time.Duration) {
	step = (d / 150).Round(time.Second)
	if step < time.Second {
		step = time.Second
	}
	window = 4 * step
	if window < 3*time.Second {
		window = 3 * time.Second // k6 pushes every second: at least 3 samples
	}
	return step, window
}

// FreshWindow bounds how old the last sample of a scraped gauge may be to
// count: two scrapes at the shipped 5 s interval. A plain selector would
// keep a restarted service's previous series alive for Prometheus's 5 min
// lookback and add it to the new one (pool sizes 4 + 50 = 54).
const FreshWindow = 10 * time.Second

// fresh selects only the series of sel scraped within FreshWindow.
func fresh(sel string) string {
	return fmt.Sprintf("last_over_time(%s[%s])", sel, promDuration(FreshWindow))
}

// minScrapedWindow is the shortest rate window over scraped series: four
// scrapes at the shipped 5 s interval.
const minScrapedWindow = 20 * time.Second

func (b *builder) rangeQ(ctx context.Context, r *Report, q string) ([]Series, error) {
	step, _ := rangeStep(r.Duration())
	return b.prom.QueryRange(ctx, q, r.Start, r.End, step)
}

func byLabel(series []Series, label string) map[string][]Point {
	out := map[string][]Point{}
	for _, s := range series {
		name := s.Labels[label]
		if name == "" {
			name = "all"
		}
		out[name] = append(out[name], s.Points...)
	}
	return out
}

func (b *builder) timelines(ctx context.Context, r *Report, sel string) error {
	step, w := rangeStep(r.Duration())
	win := promDuration(w)
	t := &r.timeline
	t.step = step
	t.latency = map[string][]Point{}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
		s, err := b.rangeQ(ctx, r, fmt.Sprintf(`histogram_quantile(%g, sum(rate(%s{%s}[%s])))`, q.q, k6Duration, sel, win))
		if err != nil {
			return err
		}
		if len(s) == 1 {
			t.latency[q.name] = finite(s[0].Points)
		}
	}
	s, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum(rate(%s{%s}[%s]))`, k6Reqs, sel, win))
	if err != nil {
		return err
	}
	if len(s) == 1 {
		t.rps = s[0].Points
		for _, p := range t.rps {
			r.PeakRPS = math.Max(r.PeakRPS, p.V)
		}
	}
	s, err = b.rangeQ(ctx, r, fmt.Sprintf(`sum(%s{%s})`, k6VUs, sel))
	if err != nil {
		return err
	}
	if len(s) == 1 {
		t.vus = s[0].Points
		for _, p := range t.vus {
			r.PeakVUs = math.Max(r.PeakVUs, p.V)
		}
	}
	for _, st := range r.Steps {
		t.stepStarts = append(t.stepStarts, st.Start)
	}
	return nil
}

func finite(ps []Point) []Point {
	out := ps[:0:0]
	for _, p := range ps {
		if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
			out = append(out, p)
		}
	}
	return out
}

// system fills r.System from the raw series of the demo service and the
// exporter over the run's range. Missing families only leave gaps.
func (b *builder) system(ctx context.Context, r *Report) error {
	_, w := rangeStep(r.Duration())
	// Scraped series come every scrape interval (5 s in
	// prometheus/prometheus.yml), not every second like k6's: a rate needs
	// a window of several scrapes.
	if w < minScrapedWindow {
		w = minScrapedWindow
	}
	win := promDuration(w)
	at, all := r.evalTime(), r.window()
	t := &r.timeline

	// Connection pools.
	sat, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum by (%[1]s) (%[2]s) / sum by (%[1]s) (%[3]s)`, labelPool, fresh(poolCount+`{`+labelPoolState+`="used"}`), fresh(poolMax)))
	if err != nil {
		return err
	}
	size, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum by (%s) (%s)`, labelPool, fresh(poolMax)))
	if err != nil {
		return err
	}
	wait, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum by (%s) (rate(%s_sum[%s]))`, labelPool, poolWait, win))
	if err != nil {
		return err
	}
	pending, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum by (%s) (%s)`, labelPool, fresh(poolPending)))
	if err != nil {
		return err
	}
	timeouts, err := b.prom.Query(ctx, fmt.Sprintf(`sum by (%s) (increase(%s[%s]))`, labelPool, poolTimeout, all), at)
	if err != nil {
		return err
	}
	t.poolSaturation, t.poolWait = byLabel(sat, labelPool), byLabel(wait, labelPool)
	pools := map[string]*PoolStats{}
	pool := func(name string) *PoolStats {
		if pools[name] == nil {
			pools[name] = &PoolStats{Name: name}
		}
		return pools[name]
	}
	for name, ps := range t.poolSaturation {
		pool(name).PeakSaturation = peak(ps)
	}
	// The size is configuration: take the value at the end of the run. A
	// peak would pick up the previous process's size when the service was
	// restarted with another pool just before the run (its last sample
	// stays fresh for Prometheus's lookback).
	for name, ps := range byLabel(size, labelPool) {
		pool(name).Size = lastFinite(ps)
	}
	for name, ps := range t.poolWait {
		p := pool(name)
		p.PeakWait = peak(ps)
		p.WaitFirst, p.WaitLast = thirds(ps, r.Start, r.End)
	}
	for name, ps := range byLabel(pending, labelPool) {
		pool(name).PeakPending = peak(ps)
	}
	for _, s := range timeouts {
		pool(nameOr(s.Labels[labelPool])).Timeouts = s.Value
	}
	for _, p := range pools {
		r.System.Pools = append(r.System.Pools, *p)
	}
	sort.Slice(r.System.Pools, func(i, j int) bool { return r.System.Pools[i].Name < r.System.Pools[j].Name })
	t.hasPools = len(t.poolSaturation) > 0

	// PostgreSQL server connections (exporter).
	pg, err := b.rangeQ(ctx, r, fmt.Sprintf(`max(%s)`, fresh(pgSaturation)))
	if err != nil {
		return err
	}
	if len(pg) == 1 {
		st := &PostgresStats{PeakSaturation: peak(pg[0].Points), PeakConnections: math.NaN(), MaxConnections: math.NaN()}
		conns, err := b.rangeQ(ctx, r, fmt.Sprintf(`max(sum without (state) (%s))`, fresh(pgConnections)))
		if err != nil {
			return err
		}
		if len(conns) == 1 {
			st.PeakConnections = peak(conns[0].Points)
		}
		maxc, err := b.rangeQ(ctx, r, fmt.Sprintf(`max(%s)`, fresh(pgMaxConns)))
		if err != nil {
			return err
		}
		if len(maxc) == 1 {
			st.MaxConnections = peak(maxc[0].Points)
		}
		r.System.Postgres = st
	}

	// Slowest statements over the run (mean execution time per call).
	stmtBy := labelQueryID + ", " + labelQueryText
	stmts, err := b.prom.Query(ctx, fmt.Sprintf(`sum by (%[1]s) (increase(%[2]s[%[3]s])) and sum by (%[1]s) (increase(%[4]s[%[3]s])) > 0`, stmtBy, pgStmtExec, all, pgStmtCalls), at)
	if err != nil {
		return err
	}
	calls, err := b.prom.Query(ctx, fmt.Sprintf(`sum by (%s) (increase(%s[%s]))`, stmtBy, pgStmtCalls, all), at)
	if err != nil {
		return err
	}
	callsBy := map[string]float64{}
	for _, s := range calls {
		callsBy[s.Labels[labelQueryID]+"\x00"+s.Labels[labelQueryText]] = s.Value
	}
	for _, s := range stmts {
		id, text := s.Labels[labelQueryID], s.Labels[labelQueryText]
		if c := callsBy[id+"\x00"+text]; c > 0 {
			r.System.Statements = append(r.System.Statements, Statement{QueryID: id, Query: text, Calls: c, TotalTime: s.Value, MeanTime: s.Value / c})
		}
	}
	sort.Slice(r.System.Statements, func(i, j int) bool { return r.System.Statements[i].MeanTime > r.System.Statements[j].MeanTime })
	if len(r.System.Statements) > 5 {
		r.System.Statements = r.System.Statements[:5]
	}

	// Application caches and the Redis keyspace.
	lookups, err := b.prom.Query(ctx, fmt.Sprintf(`sum by (%s) (increase(%s[%s]))`, labelCacheName, appCache, all), at)
	if err != nil {
		return err
	}
	hits, err := b.prom.Query(ctx, fmt.Sprintf(`sum by (%s) (increase(%s{%s="hit"}[%s]))`, labelCacheName, appCache, labelCacheRes, all), at)
	if err != nil {
		return err
	}
	hitBy := map[string]float64{}
	for _, s := range hits {
		hitBy[s.Labels[labelCacheName]] = s.Value
	}
	for _, s := range lookups {
		c := CacheStats{Name: nameOr(s.Labels[labelCacheName]), Lookups: s.Value, HitRatio: math.NaN()}
		if s.Value > 0 {
			c.HitRatio = hitBy[s.Labels[labelCacheName]] / s.Value
		}
		r.System.Caches = append(r.System.Caches, c)
	}
	sort.Slice(r.System.Caches, func(i, j int) bool { return r.System.Caches[i].Name < r.System.Caches[j].Name })
	hitSeries, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum by (%[1]s) (rate(%[2]s{%[3]s="hit"}[%[4]s])) / sum by (%[1]s) (rate(%[2]s[%[4]s]))`, labelCacheName, appCache, labelCacheRes, win))
	if err != nil {
		return err
	}
	t.cacheHit = byLabel(hitSeries, labelCacheName)
	for name, ps := range t.cacheHit {
		t.cacheHit[name] = finite(ps)
	}
	rh, err := b.prom.Query(ctx, fmt.Sprintf(`sum(increase(%s[%s]))`, redisHits, all), at)
	if err != nil {
		return err
	}
	rm, err := b.prom.Query(ctx, fmt.Sprintf(`sum(increase(%s[%s]))`, redisMisses, all), at)
	if err != nil {
		return err
	}
	if len(rh) == 1 && len(rm) == 1 {
		c := CacheStats{Name: "redis keyspace", Lookups: rh[0].Value + rm[0].Value, HitRatio: math.NaN()}
		if c.Lookups > 0 {
			c.HitRatio = rh[0].Value / c.Lookups
		}
		r.System.Redis = &c
	}
	rhs, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum(rate(%[1]s[%[3]s])) / (sum(rate(%[1]s[%[3]s])) + sum(rate(%[2]s[%[3]s])))`, redisHits, redisMisses, win))
	if err != nil {
		return err
	}
	if len(rhs) == 1 {
		t.cacheHit["redis keyspace"] = finite(rhs[0].Points)
	}
	t.hasCache = len(t.cacheHit) > 0

	// Replicas.
	reps, err := b.rangeQ(ctx, r, fmt.Sprintf(`sum by (namespace, %s) (%s)`, labelHPA, fresh(hpaReplicas)))
	if err != nil {
		return err
	}
	maxes, err := b.prom.Query(ctx, fmt.Sprintf(`max by (namespace, %s) (max_over_time(%s[%s]))`, labelHPA, hpaMaxReplicas, all), at)
	if err != nil {
		return err
	}
	maxBy := map[string]float64{}
	for _, s := range maxes {
		maxBy[s.Labels["namespace"]+"/"+s.Labels[labelHPA]] = s.Value
	}
	t.replicas = map[string][]Point{}
	for _, s := range reps {
		name := s.Labels["namespace"] + "/" + s.Labels[labelHPA]
		rs := ReplicaStats{Name: name, Min: math.Inf(1), MaxReplicas: maxBy[name]}
		for _, p := range s.Points {
			rs.Min = math.Min(rs.Min, p.V)
			rs.Max = math.Max(rs.Max, p.V)
		}
		rs.Final = s.Points[len(s.Points)-1].V
		rs.AtMaxReplicas = rs.MaxReplicas > 0 && rs.Max >= rs.MaxReplicas
		r.System.Replicas = append(r.System.Replicas, rs)
		t.replicas[name] = s.Points
	}
	t.hasRS = len(t.replicas) > 0
	if !t.hasPools && len(r.System.Caches) == 0 && r.System.Postgres == nil && r.System.Redis == nil {
		r.Notes = append(r.Notes, "no service-side series (db_client_connection_*, app_cache_requests_total, loadlens_*) in this range: are the demo service and loadlens-exporter scraped by this Prometheus?")
	}
	return nil
}

func nameOr(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

// lastFinite returns the last finite value of ps (NaN when none).
func lastFinite(ps []Point) float64 {
	for i := len(ps) - 1; i >= 0; i-- {
		if !math.IsNaN(ps[i].V) && !math.IsInf(ps[i].V, 0) {
			return ps[i].V
		}
	}
	return math.NaN()
}

func peak(ps []Point) float64 {
	m := math.NaN()
	for _, p := range ps {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			continue
		}
		if math.IsNaN(m) || p.V > m {
			m = p.V
		}
	}
	return m
}

// thirds returns the mean of the points in the first and last third of [start, end].
func thirds(ps []Point, start, end time.Time) (first, last float64) {
	third := end.Sub(start) / 3
	var fs, ls []float64
	for _, p := range ps {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			continue
		}
		switch {
		case p.T.Before(start.Add(third)):
			fs = append(fs, p.V)
		case !p.T.Before(end.Add(-third)):
			ls = append(ls, p.V)
		}
	}
	return mean(fs), mean(ls)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// alerts lists the alerts Prometheus had firing during the run (its ALERTS
// series) and, when configured, the alerts Alertmanager received.
func (b *builder) alerts(ctx context.Context, r *Report) {
	step, _ := rangeStep(r.Duration())
	series, err := b.prom.QueryRange(ctx, fmt.Sprintf(`%s{%s="firing"}`, alertsSeries, labelAlertState), r.Start, r.evalTime(), step)
	if err != nil {
		r.Notes = append(r.Notes, "could not read the ALERTS series: "+err.Error())
	}
	seen := map[string]bool{}
	for _, s := range series {
		a := Alert{Name: s.Labels[labelAlertName], Severity: s.Labels["severity"], Labels: otherLabels(s.Labels), Source: "prometheus",
			First: s.Points[0].T, Last: s.Points[len(s.Points)-1].T}
		seen[a.Name+"|"+a.Labels] = true
		r.Alerts = append(r.Alerts, a)
	}
	if b.opts.AlertmanagerURL != "" {
		am, err := b.alertmanager(ctx, r.Start, r.evalTime())
		if err != nil {
			r.Notes = append(r.Notes, err.Error())
		}
		for _, a := range am {
			if !seen[a.Name+"|"+a.Labels] {
				r.Alerts = append(r.Alerts, a)
			}
		}
	}
	sort.Slice(r.Alerts, func(i, j int) bool {
		if !r.Alerts[i].First.Equal(r.Alerts[j].First) {
			return r.Alerts[i].First.Before(r.Alerts[j].First)
		}
		return r.Alerts[i].Name < r.Alerts[j].Name
	})
}

func otherLabels(l map[string]string) string {
	var parts []string
	for k, v := range l {
		switch k {
		case "__name__", labelAlertName, labelAlertState, "severity":
			continue
		}
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// alertmanager returns the alerts Alertmanager holds that were active
// during [start, end].
func (b *builder) alertmanager(ctx context.Context, start, end time.Time) ([]Alert, error) {
	u, err := url.Parse(strings.TrimRight(b.opts.AlertmanagerURL, "/") + "/api/v2/alerts")
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("Alertmanager URL %q: want e.g. http://127.0.0.1:9093", redactURL(b.opts.AlertmanagerURL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	client := b.opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not read Alertmanager alerts at %s: %v", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("could not read Alertmanager alerts at %s: HTTP %d", u.Redacted(), resp.StatusCode)
	}
	var raw []struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode Alertmanager alerts: %v", err)
	}
	var out []Alert
	for _, a := range raw {
		if a.StartsAt.After(end) || (!a.EndsAt.IsZero() && a.EndsAt.Before(start)) {
			continue
		}
		last := a.EndsAt
		if last.After(end) {
			last = end
		}
		out = append(out, Alert{Name: a.Labels[labelAlertName], Severity: a.Labels["severity"], Labels: otherLabels(a.Labels),
			First: a.StartsAt, Last: last, Source: "alertmanager"})
	}
	return out, nil
}
