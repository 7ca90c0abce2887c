package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// textFormat asks for the classic text exposition, which every exporter
// here serves, so that series are counted the same way for all.
const textFormat = "text/plain;version=0.0.4"

// runWaitHTTP polls a URL until it answers 200 or the timeout passes.
func runWaitHTTP(args []string) error {
	fs := flag.NewFlagSet("wait-http", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	pid := fs.Int("pid", 0, "give up as soon as this process has exited")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want one URL")
	}
	url := fs.Arg(0)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(*timeout)
	var last error
	for time.Now().Before(deadline) {
		if *pid > 0 && !running(*pid) {
			return fmt.Errorf("process %d exited", *pid)
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v", url, *timeout, last)
}

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// runCounter prints the sum of the samples of one metric whose labels
// include every LABEL=VALUE given ("NaN" when none matched).
func runCounter(args []string) error {
	if len(args) < 2 {
		return errors.New("want URL METRIC [LABEL=VALUE...]")
	}
	body, err := fetch(&http.Client{Timeout: 10 * time.Second}, args[0])
	if err != nil {
		return err
	}
	var want []string
	for _, kv := range args[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("want LABEL=VALUE, got %q", kv)
		}
		want = append(want, k+`="`+v+`"`)
	}
	sum, n := sampleSum(body, args[1], want)
	if n == 0 {
		fmt.Println("NaN")
		return nil
	}
	fmt.Println(strconv.FormatFloat(sum, 'g', -1, 64))
	return nil
}

// sampleSum adds the values of the samples of metric whose label set
// contains every want (`name="value"`); n is how many matched.
func sampleSum(body []byte, metric string, want []string) (sum float64, n int) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels, value := "", rest
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, value = rest[:end+1], rest[end+1:]
		}
		if !all(want, func(w string) bool { return strings.Contains(labels, w) }) {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += v
		n++
	}
	return sum, n
}

func all(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

func fetch(client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", textFormat)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("status %d", resp.StatusCode)
	}
	return b, nil
}

// target is one exporter to scrape.
type target struct {
	name, url string
	pid       int
	durations []time.Duration
	errors    int
	series    int
}

func parseTarget(s string) (*target, error) {
	name, rest, ok := strings.Cut(s, "=")
	at := strings.LastIndexByte(rest, '@')
	if !ok || name == "" || at < 0 {
		return nil, fmt.Errorf("want NAME=URL@PID, got %q", s)
	}
	pid, err := strconv.Atoi(rest[at+1:])
	if err != nil {
		return nil, fmt.Errorf("bad pid in %q", s)
	}
	return &target{name: name, url: rest[:at], pid: pid}, nil
}

// runScrape scrapes every target n times, round-robin with a rotating
// start so that no target always goes first, and prints per target:
//
//	scrape GROUP NAME N MEDIAN_MS P95_MS P99_MS MAX_MS SERIES RSS_MB ANON_RSS_MB PEAK_RSS_MB ERRORS
//
// A scrape is timed from sending the request to the end of the body, as
// Prometheus does. SERIES counts the sample lines of the last successful
// scrape; RSS is VmRSS of the process after the last scrape, ANON the
// anonymous part of it (heap, stacks: RssAnon), PEAK the high-water mark
// (VmHWM). RSS minus ANON is mostly the executable's pages.
func runScrape(args []string) error {
	fs := flag.NewFlagSet("scrape", flag.ContinueOnError)
	n := fs.Int("n", 100, "scrapes per target")
	warmup := fs.Int("warmup", 2, "untimed scrapes per target first")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of one scrape")
	interval := fs.Duration("interval", 0, "pause between rounds")
	group := fs.String("group", "exporter", "group column of the output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var targets []*target
	for _, a := range fs.Args() {
		t, err := parseTarget(a)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return errors.New("no targets")
	}
	client := &http.Client{Timeout: *timeout}
	for range *warmup {
		for _, t := range targets {
			_, _ = fetch(client, t.url)
		}
	}
	for i := range *n {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			start := time.Now()
			body, err := fetch(client, t.url)
			t.durations = append(t.durations, time.Since(start))
			if err != nil {
				t.errors++
				continue
			}
			t.series = countSeries(body)
		}
		if *interval > 0 {
			time.Sleep(*interval)
		}
	}
	for _, t := range targets {
		m := memory(t.pid)
		slices.Sort(t.durations)
		fmt.Printf("scrape\t%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.1f\t%.1f\t%.1f\t%d\n",
			*group, t.name, len(t.durations),
			ms(percentile(t.durations, 50)), ms(percentile(t.durations, 95)), ms(percentile(t.durations, 99)),
			ms(t.durations[len(t.durations)-1]), t.series, m["VmRSS"], m["RssAnon"], m["VmHWM"], t.errors)
	}
	return nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// countSeries counts the sample lines of a text exposition.
func countSeries(body []byte) int {
	n := 0
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

// memory returns the kB fields of /proc/PID/status in MiB (empty when
// unreadable).
func memory(pid int) map[string]float64 {
	m := map[string]float64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
			m[k] = kb / 1024
		}
	}
	return m
}
