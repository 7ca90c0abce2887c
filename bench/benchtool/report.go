package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The results file bench/run.sh writes has one tab-separated record a line:
//
//	info    KEY      VALUE
//	wrk     GROUP    LABEL ROUND RPS P50_MS P99_MS REQUESTS SOCKET_ERRORS NON_2XX SERVER_CPU_S
//	scrape  GROUP    NAME N MEDIAN_MS P95_MS P99_MS MAX_MS SERIES RSS_MB ANON_RSS_MB PEAK_RSS_MB ERRORS
//
// Groups: "throughput" (the first label is the ceiling every other label
// is divided by, round by round), "overhead" (labels "X off" and "X on" are
// paired round by round), "exporter" and "exhausted" (scrapes).

type wrkRow struct {
	group, label  string
	round         int
	rps, p50, p99 float64
	requests      int
	sockErr, non2 int
	cpu           float64 // CPU seconds the server process used during the run
}

// cpuPerRequest is the server's CPU time per request in microseconds.
func (w wrkRow) cpuPerRequest() float64 {
	if w.requests == 0 {
		return 0
	}
	return w.cpu * 1e6 / float64(w.requests)
}

type scrapeRow struct {
	group, name                            string
	n                                      int
	median, p95, p99, max, rss, anon, peak float64
	series, errors                         int
}

type results struct {
	info    [][2]string
	wrk     []wrkRow
	scrapes []scrapeRow
}

func runReport(args []string) error {
	if len(args) != 1 {
		return errors.New("want the results file")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := parseResults(f)
	if err != nil {
		return err
	}
	writeReport(os.Stdout, r)
	return nil
}

func parseResults(rd io.Reader) (*results, error) {
	r := &results{}
	sc := bufio.NewScanner(rd)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Split(sc.Text(), "\t")
		if len(f) == 0 || f[0] == "" {
			continue
		}
		bad := func(err error) error { return fmt.Errorf("line %d: %w", line, err) }
		switch f[0] {
		case "info":
			if len(f) < 3 {
				return nil, bad(errors.New("info wants KEY VALUE"))
			}
			r.info = append(r.info, [2]string{f[1], strings.Join(f[2:], " ")})
		case "wrk":
			if len(f) != 11 {
				return nil, bad(fmt.Errorf("wrk record has %d fields, want 11", len(f)))
			}
			var p parser
			w := wrkRow{group: f[1], label: f[2], round: p.int(f[3]), rps: p.float(f[4]), p50: p.float(f[5]),
				p99: p.float(f[6]), requests: p.int(f[7]), sockErr: p.int(f[8]), non2: p.int(f[9]), cpu: p.float(f[10])}
			if p.err != nil {
				return nil, bad(p.err)
			}
			r.wrk = append(r.wrk, w)
		case "scrape":
			if len(f) != 13 {
				return nil, bad(fmt.Errorf("scrape record has %d fields, want 13", len(f)))
			}
			var p parser
			s := scrapeRow{group: f[1], name: f[2], n: p.int(f[3]), median: p.float(f[4]), p95: p.float(f[5]),
				p99: p.float(f[6]), max: p.float(f[7]), series: p.int(f[8]), rss: p.float(f[9]), anon: p.float(f[10]),
				peak: p.float(f[11]), errors: p.int(f[12])}
			if p.err != nil {
				return nil, bad(p.err)
			}
			r.scrapes = append(r.scrapes, s)
		default:
			return nil, bad(fmt.Errorf("unknown record %q", f[0]))
		}
	}
	return r, sc.Err()
}

type parser struct{ err error }

func (p *parser) float(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && p.err == nil {
		p.err = err
	}
	return v
}

func (p *parser) int(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil && p.err == nil {
		p.err = err
	}
	return v
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// labels returns the labels of a group in order of first appearance.
func (r *results) labels(group string) []string {
	var out []string
	for _, w := range r.wrk {
		if w.group == group && !slices.Contains(out, w.label) {
			out = append(out, w.label)
		}
	}
	return out
}

// byRound maps round → row for one label.
func (r *results) byRound(group, label string) map[int]wrkRow {
	m := map[int]wrkRow{}
	for _, w := range r.wrk {
		if w.group == group && w.label == label {
			m[w.round] = w
		}
	}
	return m
}

// ratios divides f(label) by f(base) round by round (rounds both have).
func ratios(num, den map[int]wrkRow, f func(wrkRow) float64) []float64 {
	var out []float64
	for round, n := range num {
		if d, ok := den[round]; ok && f(d) > 0 {
			out = append(out, f(n)/f(d))
		}
	}
	return out
}

func rps(w wrkRow) float64 { return w.rps }

type stats struct {
	rps, p50, p99, cpu float64 // medians over rounds; cpu in µs per request
	reqs, errs         int
}

func summary(rows map[int]wrkRow) stats {
	var rs, p5, p9, cpu []float64
	var s stats
	for _, w := range rows {
		rs, p5, p9, cpu = append(rs, w.rps), append(p5, w.p50), append(p9, w.p99), append(cpu, w.cpuPerRequest())
		s.reqs += w.requests
		s.errs += w.sockErr + w.non2
	}
	s.rps, s.p50, s.p99, s.cpu = median(rs), median(p5), median(p9), median(cpu)
	return s
}

func spread(xs []float64) string {
	if len(xs) < 2 {
		return ""
	}
	return fmt.Sprintf(" (%.2f–%.2f)", slices.Min(xs), slices.Max(xs))
}

// targets of the issues, by row label; shown beside the measurement, never enforced.
var throughputTargets = map[string]float64{"GET /users/{id} cached": 0.45}

const overheadTarget = 0.97

func writeReport(w io.Writer, r *results) {
	if len(r.info) > 0 {
		fmt.Fprintln(w, "| run | |\n| --- | --- |")
		for _, kv := range r.info {
			fmt.Fprintf(w, "| %s | %s |\n", kv[0], kv[1])
		}
		fmt.Fprintln(w)
	}
	if labels := r.labels("throughput"); len(labels) > 0 {
		base := r.byRound("throughput", labels[0])
		fmt.Fprintln(w, "### Demo service throughput (wrk; medians over rounds; ratio = req/s ÷ ceiling req/s of the same round)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| endpoint | req/s | p50 ms | p99 ms | ratio to ceiling (min–max) | target | server CPU µs/request | errors / requests |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
		for _, l := range labels {
			rows := r.byRound("throughput", l)
			s := summary(rows)
			rt := ratios(rows, base, rps)
			target := ""
			if t, ok := throughputTargets[l]; ok {
				target = fmt.Sprintf("≥ %.2f: %s", t, verdict(median(rt) >= t))
			}
			fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.2f%s | %s | %.1f | %d / %d |\n",
				l, s.rps, s.p50, s.p99, median(rt), spread(rt), target, s.cpu, s.errs, s.reqs)
		}
		fmt.Fprintln(w)
	}
	if labels := r.labels("overhead"); len(labels) > 0 {
		fmt.Fprintln(w, "### Instrumentation overhead (wrk; off and on loaded at the same time; ratios on ÷ off per round, then the median)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| server | off req/s | on req/s | off p99 ms | on p99 ms | throughput on/off (min–max) | target | CPU µs/request off → on | CPU/request on/off (min–max) |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
		for _, l := range labels {
			name, ok := strings.CutSuffix(l, " off")
			if !ok {
				continue
			}
			off, on := r.byRound("overhead", l), r.byRound("overhead", name+" on")
			if len(on) == 0 {
				continue
			}
			so, sn := summary(off), summary(on)
			rt := ratios(on, off, rps)
			ct := ratios(on, off, wrkRow.cpuPerRequest)
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %.2f | %.3f%s | ≥ %.2f: %s | %.1f → %.1f | %.3f%s |\n", name, so.rps, sn.rps, so.p99, sn.p99,
				median(rt), spread(rt), overheadTarget, verdict(median(rt) >= overheadTarget), so.cpu, sn.cpu, median(ct), spread(ct))
		}
		fmt.Fprintln(w)
	}
	for _, g := range []struct{ group, title string }{
		{"exporter", "### Exporter scrapes (same PostgreSQL and Redis, under pgbench load; scraped in turn)"},
		{"exhausted", "### Exporter scrapes while every PostgreSQL connection slot is taken"},
	} {
		rows := r.scrapeGroup(g.group)
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintln(w, g.title)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| exporter | scrapes | median ms | p95 ms | p99 ms | max ms | series | RSS MiB | of which anonymous | peak RSS MiB | failed scrapes |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, s := range rows {
			fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %d | %.1f | %.1f | %.1f | %d |\n",
				s.name, s.n, s.median, s.p95, s.p99, s.max, s.series, s.rss, s.anon, s.peak, s.errors)
		}
		fmt.Fprintln(w)
		if g.group == "exporter" {
			writeExporterRatios(w, rows)
		}
		if g.group == "exhausted" {
			for _, s := range rows {
				if strings.HasPrefix(s.name, "loadlens-exporter") {
					fmt.Fprintf(w, "- %s: p95 %.2f ms (target ≤ 50 ms: %s)\n", s.name, s.p95, verdict(s.p95 <= 50))
				}
			}
			fmt.Fprintln(w)
		}
	}
}

func (r *results) scrapeGroup(group string) []scrapeRow {
	var out []scrapeRow
	for _, s := range r.scrapes {
		if s.group == group {
			out = append(out, s)
		}
	}
	return out
}

// writeExporterRatios compares loadlens-exporter with the two reference
// exporters taken together (Prometheus would scrape both).
func writeExporterRatios(w io.Writer, rows []scrapeRow) {
	find := func(name string) (scrapeRow, bool) {
		for _, s := range rows {
			if s.name == name {
				return s, true
			}
		}
		return scrapeRow{}, false
	}
	ll, ok1 := find("loadlens-exporter")
	pg, ok2 := find("postgres_exporter")
	rd, ok3 := find("redis_exporter")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	med, p95, rss, anon, series := pg.median+rd.median, pg.p95+rd.p95, pg.rss+rd.rss, pg.anon+rd.anon, pg.series+rd.series
	fmt.Fprintln(w, "| loadlens-exporter vs postgres_exporter + redis_exporter | loadlens | references combined | ratio | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- |")
	fmt.Fprintf(w, "| scrape median ms | %.2f | %.2f | %.2f | ≤ 0.50: %s |\n", ll.median, med, ll.median/med, verdict(ll.median/med <= 0.5))
	fmt.Fprintf(w, "| scrape p95 ms | %.2f | %.2f | %.2f | |\n", ll.p95, p95, ll.p95/p95)
	fmt.Fprintf(w, "| RSS MiB after the scrapes | %.1f | %.1f | %.2f | ≤ 0.60: %s |\n", ll.rss, rss, ll.rss/rss, verdict(ll.rss/rss <= 0.6))
	fmt.Fprintf(w, "| anonymous RSS MiB (heap, stacks; without the executable's pages) | %.1f | %.1f | %.2f | |\n", ll.anon, anon, ll.anon/anon)
	fmt.Fprintf(w, "| series | %d | %d | %.2f | loadlens ≤ 250: %s |\n", ll.series, series, float64(ll.series)/float64(series), verdict(ll.series <= 250))
	fmt.Fprintln(w)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
