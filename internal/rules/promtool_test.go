package rules

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// promtool runs Prometheus's promtool and fails the test with its output
// when it fails. A missing promtool fails the test: `make setup` installs it.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := promtoolPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func promtoolPath() (string, error) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		return "", fmt.Errorf("promtool not found in PATH: run `make setup` (installs Debian's prometheus package): %w", err)
	}
	return bin, nil
}

func TestPromtoolMissingNamesMakeSetup(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := promtoolPath()
	if err == nil || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("error %v does not name make setup", err)
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	// Checks prometheus.yml and, through its rule_files glob, every shipped rule file.
	out := promtool(t, "check", "config", filepath.Join(repoRoot, "prometheus", "prometheus.yml"))
	if !strings.Contains(out, "alerts.yml") || !strings.Contains(out, "recording.yml") {
		t.Fatalf("promtool check config did not check the rule files:\n%s", out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "prometheus", "rules", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	promtool(t, append([]string{"check", "rules"}, files...)...)
}

// TestPromtoolTestRules runs the rule unit tests in prometheus/tests and
// checks that each alert has a firing and a quiet case there.
func TestPromtoolTestRules(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join(repoRoot, "prometheus", "tests", "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in prometheus/tests: %v", err)
	}
	promtool(t, append([]string{"test", "rules"}, tests...)...)

	cases, err := alertCases(tests)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range shippedT(t).Alerts() {
		c := cases[a.Alert]
		if c.firing == 0 {
			t.Errorf("alert %s has no promtool case where it fires", a.Alert)
		}
		if c.quiet == 0 {
			t.Errorf("alert %s has no promtool case where it stays quiet", a.Alert)
		}
	}
}

type caseCount struct{ firing, quiet int }

// promtoolTestFile is the part of a promtool rule-test file the coverage
// check reads.
type promtoolTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func readTestFiles(paths []string) ([]promtoolTestFile, error) {
	var out []promtoolTestFile
	for _, p := range paths {
		content, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f promtoolTestFile
		if err := yaml.Unmarshal(content, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func alertCases(paths []string) (map[string]caseCount, error) {
	files, err := readTestFiles(paths)
	if err != nil {
		return nil, err
	}
	out := map[string]caseCount{}
	for _, f := range files {
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTests {
				c := out[a.Alertname]
				if len(a.ExpAlerts) > 0 {
					c.firing++
				} else {
					c.quiet++
				}
				out[a.Alertname] = c
			}
		}
	}
	return out, nil
}

// TestPromtoolTestsCoverRecordingRules checks that the key recorded series
// are asserted by a promql_expr_test.
func TestPromtoolTestsCoverRecordingRules(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join(repoRoot, "prometheus", "tests", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := readTestFiles(tests)
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, f := range files {
		for _, tc := range f.Tests {
			for _, e := range tc.PromQLExprTests {
				sels, err := Selectors(e.Expr)
				if err != nil {
					t.Fatalf("promql_expr_test %q: %v", e.Expr, err)
				}
				for _, s := range sels {
					tested[s.Metric] = true
				}
			}
		}
	}
	for _, name := range shippedT(t).Recorded() {
		if !tested[name] {
			t.Errorf("recorded series %s is asserted by no promql_expr_test in prometheus/tests", name)
		}
	}
}
