package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/contract"
)

// repoRoot is the repository root seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

func shippedT(t *testing.T) Set {
	t.Helper()
	s, err := Shipped()
	if err != nil {
		t.Fatalf("load shipped rules: %v", err)
	}
	return s
}

func TestShippedLoads(t *testing.T) {
	s := shippedT(t)
	var names []string
	for _, f := range s.Files {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, ","), "alerts.yml,recording.yml"; got != want {
		t.Fatalf("rule files = %s, want %s", got, want)
	}
	if len(s.Alerts()) < 17 {
		t.Errorf("only %d alerts", len(s.Alerts()))
	}
	// The embedded copy is the one on disk.
	disk, err := LoadDir(filepath.Join(repoRoot, "prometheus", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	if err := DiffIgnoringDurations(s, disk); err != nil {
		t.Fatalf("embedded rules differ from prometheus/rules: %v", err)
	}
}

func TestParseRejectsBadRules(t *testing.T) {
	for name, content := range map[string]string{
		"syntax":        "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: sum(rate(x[5m])\n",
		"unknown field": "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: x\n        bogus: 1\n",
		"bad template":  "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n        annotations:\n          summary: '{{ $value | nosuchfunc }}'\n",
	} {
		if _, err := Parse(name, []byte(content)); err == nil {
			t.Errorf("%s: Parse accepted an invalid rule file", name)
		}
	}
}

// TestContract parses every expression with the PromQL parser and checks
// every metric, label and recorded name against internal/contract.
func TestContract(t *testing.T) {
	if err := contract.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := CheckContract(shippedT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckContractCatchesMistakes(t *testing.T) {
	for name, expr := range map[string]string{
		"unknown metric":       `rate(http_server_requests_total[1m])`,
		"unknown label":        `rate(http_server_request_duration_seconds_count{status="500"}[1m])`,
		"unknown by label":     `sum by (route) (rate(http_server_request_duration_seconds_count[1m]))`,
		"unknown on label":     `namespace_job:http_server_requests:rate1m and on (pod) namespace_job:http_server_request_errors:ratio_rate1m`,
		"le on a count series": `http_server_request_duration_seconds_count{le="0.3"}`,
		"regex metric name":    `{__name__=~"http_.*"}`,
	} {
		if err := checkExpr(expr); err == nil {
			t.Errorf("%s: %s accepted", name, expr)
		}
	}
	if err := checkExpr(`sum by (namespace, job, le) (rate(http_server_request_duration_seconds_bucket{le="0.3"}[5m])) and on (job) up`); err != nil {
		t.Errorf("valid expression rejected: %v", err)
	}
}

func TestAlertMetadata(t *testing.T) {
	runbook, err := os.ReadFile(filepath.Join(repoRoot, "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := shippedT(t)
	if err := CheckAlerts(s, runbook); err != nil {
		t.Fatal(err)
	}
	// Every RUNBOOK.md alert section belongs to an alert that exists.
	alerts := map[string]bool{}
	for _, a := range s.Alerts() {
		alerts[a.Alert] = true
	}
	for _, line := range strings.Split(string(runbook), "\n") {
		if name, ok := strings.CutPrefix(line, "## Loadlens"); ok && !alerts["Loadlens"+name] {
			t.Errorf("RUNBOOK.md has a section for Loadlens%s, which is no alert", name)
		}
	}
}

func TestCheckAlertsCatchesMissingMetadata(t *testing.T) {
	runbook := []byte("# Runbook\n\n## LoadlensX\n")
	good := "groups:\n  - name: g\n    rules:\n      - alert: LoadlensX\n        expr: up == 0\n        for: 1m\n        labels:\n          severity: warning\n        annotations:\n          summary: s\n          description: 'v {{ $value | humanize }}'\n          runbook_url: " + RunbookBase + "loadlensx\n"
	f, err := Parse("good", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAlerts(Set{Files: []File{f}}, runbook); err != nil {
		t.Fatalf("good alert rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"no for":          strings.Replace(good, "        for: 1m\n", "", 1),
		"bad severity":    strings.Replace(good, "severity: warning", "severity: page", 1),
		"no summary":      strings.Replace(good, "          summary: s\n", "", 1),
		"no value":        strings.Replace(good, "{{ $value | humanize }}", "{{ $labels.job }}", 1),
		"wrong anchor":    strings.Replace(good, "#loadlensx", "#other", 1),
		"no section":      strings.ReplaceAll(good, "LoadlensX", "LoadlensY"),
		"no runbook link": strings.Replace(good, "          runbook_url: "+RunbookBase+"loadlensx\n", "", 1),
	} {
		f, err := Parse(name, []byte(bad))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := CheckAlerts(Set{Files: []File{f}}, runbook); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMarkdownAnchors(t *testing.T) {
	doc := "# Title\n## LoadlensDBPoolSaturated\n```\n## not a heading\n```\n### What to do?\n## What to do?\n#nospace\n"
	got := MarkdownAnchors([]byte(doc))
	for _, want := range []string{"title", "loadlensdbpoolsaturated", "what-to-do", "what-to-do-1"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] || got["nospace"] {
		t.Errorf("anchors from non-headings: %v", got)
	}
}

func TestShortDuration(t *testing.T) {
	for _, c := range []struct{ in, floor, want time.Duration }{
		{0, TestShortening.MinFor, 0},
		{time.Minute, TestShortening.MinRange, 20 * time.Second},
		{5 * time.Minute, TestShortening.MinRange, 25 * time.Second},
		{time.Hour, TestShortening.MinRange, 5 * time.Minute},
		{6 * time.Hour, TestShortening.MinRange, 30 * time.Minute},
		{2 * time.Minute, TestShortening.MinFor, 10 * time.Second},
		{10 * time.Second, TestShortening.MinRange, 10 * time.Second}, // never longer than the original
	} {
		if got := TestShortening.duration(c.in, c.floor); got != c.want {
			t.Errorf("duration(%s, %s) = %s, want %s", c.in, c.floor, got, c.want)
		}
	}
}

// TestShorteningOfFastScrapes checks a copy for a Prometheus that scrapes
// and evaluates every second (the Kubernetes e2e's).
func TestShorteningOfFastScrapes(t *testing.T) {
	sh := Shortening{Divisor: 60, MinRange: 5 * time.Second, MinFor: time.Second}
	for _, c := range []struct{ in, floor, want time.Duration }{
		{time.Minute, sh.MinRange, 5 * time.Second},
		{10 * time.Minute, sh.MinRange, 10 * time.Second},
		{5 * time.Minute, sh.MinFor, 5 * time.Second},
		{time.Minute, sh.MinFor, time.Second},
		{3 * time.Second, sh.MinRange, 3 * time.Second}, // never longer than the original
	} {
		if got := sh.duration(c.in, c.floor); got != c.want {
			t.Errorf("duration(%s, %s) = %s, want %s", c.in, c.floor, got, c.want)
		}
	}
	s, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	short, err := sh.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := DiffIgnoringDurations(s, short); err != nil {
		t.Error(err)
	}
	for _, r := range short.Alerts() {
		if r.Alert == "LoadlensHPAAtMaxReplicas" && time.Duration(r.For) != 5*time.Second {
			t.Errorf("LoadlensHPAAtMaxReplicas for %s, want 5s", r.For)
		}
	}
}

func TestShortenExprKeepsText(t *testing.T) {
	in := "sum by (le) (rate(x_bucket{le=\"0.3\"}[1h]))\n/\nsum(rate(x_count[ 5m ]))"
	got, err := TestShortening.shortenExpr(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "sum by (le) (rate(x_bucket{le=\"0.3\"}[5m]))\n/\nsum(rate(x_count[25s]))"
	if got != want {
		t.Fatalf("shortenExpr:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{`max_over_time(rate(x[1m])[5m:1m])`, `rate(x[5m] offset 1h)`} {
		if _, err := TestShortening.shortenExpr(bad); err == nil {
			t.Errorf("TestShortening.shortenExpr(%s) accepted an expression it cannot shorten faithfully", bad)
		}
	}
}

// TestShortenedDiffersOnlyInDurations proves the live-test copy runs the
// shipped logic: only `for` and range windows change, and they all shrink.
func TestShortenedDiffersOnlyInDurations(t *testing.T) {
	s := shippedT(t)
	short, err := TestShortening.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := DiffIgnoringDurations(s, short); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i, f := range s.Files {
		for j, g := range f.Groups {
			for k, r := range g.Rules {
				sr := short.Files[i].Groups[j].Rules[k]
				if r.Alert != "" && (sr.For <= 0 || sr.For > r.For) {
					t.Errorf("%s: for %s became %s", r.Alert, r.For, sr.For)
				}
				if sr.Expr != r.Expr || sr.For != r.For {
					changed++
				}
			}
		}
	}
	if changed == 0 {
		t.Fatal("the test copy is identical to the shipped rules")
	}
	// The shipped rules were not modified by shortening.
	again := shippedT(t)
	if err := DiffIgnoringDurations(s, again); err != nil {
		t.Fatal(err)
	}
	if s.Files[0].Groups[0].Rules[0].For != again.Files[0].Groups[0].Rules[0].For {
		t.Fatal("Apply modified its input")
	}
}

func TestDiffIgnoringDurationsCatchesLogicChanges(t *testing.T) {
	s := shippedT(t)
	for name, mutate := range map[string]func(*Set){
		"threshold": func(c *Set) {
			r := &c.Files[0].Groups[0].Rules[0]
			r.Expr = strings.Replace(r.Expr, "0.05", "0.5", 1)
		},
		"label": func(c *Set) { c.Files[0].Groups[0].Rules[0].Labels["severity"] = "info" },
		"annotation": func(c *Set) {
			c.Files[0].Groups[0].Rules[0].Annotations["summary"] = "changed"
		},
		"dropped rule": func(c *Set) {
			g := &c.Files[1].Groups[0]
			g.Rules = g.Rules[1:]
		},
		"matcher": func(c *Set) {
			r := &c.Files[1].Groups[0].Rules[0]
			r.Expr = strings.Replace(r.Expr, "_count[1m]", `_count{http_route="/"}[1m]`, 1)
		},
	} {
		c := s.clone()
		mutate(&c)
		if err := DiffIgnoringDurations(s, c); err == nil {
			t.Errorf("%s: change not detected", name)
		}
	}
}

func TestWriteTestRules(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteTestRules(dir, TestShortening)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("wrote %v", paths)
	}
	written, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("the written test copy does not load: %v", err)
	}
	s := shippedT(t)
	if err := DiffIgnoringDurations(s, written); err != nil {
		t.Fatal(err)
	}
	short, err := TestShortening.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range short.Files {
		want, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not the shortened copy", paths[i])
		}
	}
	promtool(t, append([]string{"check", "rules"}, paths...)...)
}

// TestPrometheusRuleUpToDate fails when the committed PrometheusRule is
// stale: regenerate with `go run ./internal/rules/cmd/genrules`.
func TestPrometheusRuleUpToDate(t *testing.T) {
	want, err := PrometheusRule(shippedT(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot, PrometheusRulePath))
	if err != nil {
		t.Fatalf("%v: generate it with `go run ./internal/rules/cmd/genrules`", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: regenerate it with `go run ./internal/rules/cmd/genrules`", PrometheusRulePath)
	}
}

// TestPrometheusRuleGroupsLoad proves the object's groups are valid rule
// groups, identical to the shipped ones.
func TestPrometheusRuleGroupsLoad(t *testing.T) {
	s := shippedT(t)
	content, err := PrometheusRule(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: monitoring.coreos.com/v1\n", "kind: PrometheusRule\n", "  name: loadlens\n"} {
		if !bytes.Contains(content, []byte(want)) {
			t.Errorf("PrometheusRule lacks %q", want)
		}
	}
	_, spec, ok := bytes.Cut(content, []byte("\nspec:\n"))
	if !ok {
		t.Fatal("no spec")
	}
	// spec's body, unindented by two spaces, is a rule file.
	var file bytes.Buffer
	for _, line := range strings.Split(string(spec), "\n") {
		file.WriteString(strings.TrimPrefix(line, "  ") + "\n")
	}
	f, err := Parse("prometheusrule spec", file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Groups, s.Groups()) {
		t.Fatal("the PrometheusRule's groups differ from the shipped rule groups")
	}
}

func TestOutputLabels(t *testing.T) {
	if err := CheckOutputLabels(shippedT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestOutputLabelsCatchesMistakes(t *testing.T) {
	for name, content := range map[string]string{
		"record misses a declared label": "groups:\n  - name: g\n    rules:\n      - record: " + contract.RuleRouteRequestRate + "\n        expr: sum by (namespace, job) (rate(http_server_request_duration_seconds_count[1m]))\n",
		"record has an extra label":      "groups:\n  - name: g\n    rules:\n      - record: " + contract.RuleRequestRate + "\n        expr: sum by (namespace, job, pod) (rate(http_server_request_duration_seconds_count[1m]))\n",
		"annotation label dropped by on": "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: " + contract.RuleRequestRate + " > on (namespace) " + contract.RuleErrorRatio + "\n        annotations:\n          summary: '{{ $labels.job }}'\n",
		"annotation label not selected":  "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: " + contract.RulePodRequestRate + " > 1\n        annotations:\n          summary: '{{ $labels.job }}'\n",
	} {
		f, err := Parse(name, []byte(content))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := CheckOutputLabels(Set{Files: []File{f}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
