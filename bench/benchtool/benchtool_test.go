package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("one sample: got %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("no samples: got %v", got)
	}
}

const exposition = `# HELP app_cache_requests_total Cache lookups.
# TYPE app_cache_requests_total counter
app_cache_requests_total{cache_name="users",cache_result="hit"} 40
app_cache_requests_total{cache_name="users",cache_result="miss"} 2
app_cache_requests_total{cache_name="posts",cache_result="hit"} 5
app_cache_requests_total_extra 9
pg_up 1

`

func TestSampleSum(t *testing.T) {
	for _, tc := range []struct {
		metric string
		want   []string
		sum    float64
		n      int
	}{
		{"app_cache_requests_total", []string{`cache_name="users"`, `cache_result="hit"`}, 40, 1},
		{"app_cache_requests_total", []string{`cache_result="hit"`}, 45, 2},
		{"app_cache_requests_total", nil, 47, 3},
		{"pg_up", nil, 1, 1},
		{"pg", nil, 0, 0},
		{"loadlens_postgres_up", nil, 0, 0},
	} {
		sum, n := sampleSum([]byte(exposition), tc.metric, tc.want)
		if sum != tc.sum || n != tc.n {
			t.Errorf("%s %v: got %v over %d samples, want %v over %d", tc.metric, tc.want, sum, n, tc.sum, tc.n)
		}
	}
}

func TestCountSeries(t *testing.T) {
	if got := countSeries([]byte(exposition)); got != 5 {
		t.Errorf("countSeries = %d, want 5", got)
	}
}

func TestParseTarget(t *testing.T) {
	tg, err := parseTarget("loadlens-exporter (started before)=http://127.0.0.1:9/metrics@42")
	if err != nil || tg.name != "loadlens-exporter (started before)" || tg.url != "http://127.0.0.1:9/metrics" || tg.pid != 42 {
		t.Fatalf("got %+v, %v", tg, err)
	}
	for _, bad := range []string{"x", "=http://a@1", "a=http://b", "a=http://b@x"} {
		if _, err := parseTarget(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestReport checks the arithmetic of the tables: per-round ratios, their
// median, and the comparison with the two reference exporters combined.
func TestReport(t *testing.T) {
	in := strings.Join([]string{
		"info\tload\t0.1 0.2 0.3",
		"wrk\tthroughput\tceiling\t1\t1000\t1\t2\t3000\t0\t0\t1.50",
		"wrk\tthroughput\tGET /users/{id} cached\t1\t500\t2\t4\t1500\t0\t3\t0.75",
		"wrk\tthroughput\tceiling\t2\t2000\t1\t2\t6000\t0\t0\t3.00",
		"wrk\tthroughput\tGET /users/{id} cached\t2\t800\t2\t4\t2400\t1\t0\t1.20",
		"wrk\tthroughput\tceiling\t3\t1000\t1\t2\t3000\t0\t0\t1.50",
		"wrk\tthroughput\tGET /users/{id} cached\t3\t300\t2\t4\t900\t0\t0\t0.45",
		"wrk\toverhead\tsrv off\t1\t1000\t1\t2\t3000\t0\t0\t1.50",
		"wrk\toverhead\tsrv on\t1\t980\t1\t2\t2940\t0\t0\t1.50",
		"scrape\texporter\tloadlens-exporter\t100\t5.00\t9.00\t12.00\t20.00\t180\t40.0\t10.0\t41.0\t0",
		"scrape\texporter\tpostgres_exporter\t100\t15.00\t30.00\t40.00\t50.00\t500\t17.0\t7.0\t18.0\t0",
		"scrape\texporter\tredis_exporter\t100\t5.00\t10.00\t12.00\t13.00\t300\t16.0\t7.0\t17.0\t0",
		"scrape\texhausted\tloadlens-exporter (started during)\t20\t4.00\t60.00\t70.00\t80.00\t90\t40.0\t10.0\t41.0\t0",
	}, "\n")
	r, err := parseResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeReport(&b, r)
	out := b.String()
	for _, want := range []string{
		"| load | 0.1 0.2 0.3 |",
		// ratios 0.5, 0.4, 0.3: median 0.4; errors 4 of 4800; CPU 250 µs per request every round
		"| GET /users/{id} cached | 500 | 2.00 | 4.00 | 0.40 (0.30–0.50) | ≥ 0.45: **not met** | 500.0 | 4 / 4800 |",
		"| ceiling | 1000 | 1.00 | 2.00 | 1.00 (1.00–1.00) |  | 500.0 | 0 / 12000 |",
		"| srv | 1000 | 980 | 2.00 | 2.00 | 0.980 | ≥ 0.97: met | 500.0 → 510.2 | 1.020 |",
		"| scrape median ms | 5.00 | 20.00 | 0.25 | ≤ 0.50: met |",
		"| RSS MiB after the scrapes | 40.0 | 33.0 | 1.21 | ≤ 0.60: **not met** |",
		"| series | 180 | 800 | 0.23 | loadlens ≤ 250: met |",
		"- loadlens-exporter (started during): p95 60.00 ms (target ≤ 50 ms: **not met**)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q\n%s", want, out)
		}
	}
	if _, err := parseResults(strings.NewReader("wrk\tx\ty\n")); err == nil {
		t.Error("short wrk record: no error")
	}
	if _, err := parseResults(strings.NewReader("bogus\tx\n")); err == nil {
		t.Error("unknown record: no error")
	}
}
