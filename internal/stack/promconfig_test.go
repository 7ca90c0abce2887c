package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestRenderPrometheusConfig(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderPrometheusConfig(src, RenderOptions{
		Targets:        map[string][]string{"prometheus": {"127.0.0.1:1"}, "alertmanager": {"127.0.0.1:2"}, "loadlens-demo": {"127.0.0.1:3"}},
		RuleFiles:      []string{"/x/rules/*.yml"},
		ScrapeInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Global    map[string]string `yaml:"global"`
		RuleFiles []string          `yaml:"rule_files"`
		Alerting  struct {
			AM []struct {
				Static []struct{ Targets []string } `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		Jobs []struct {
			Name   string `yaml:"job_name"`
			Static []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(out, &conf); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, j := range conf.Jobs {
		jobs = append(jobs, j.Name+"="+strings.Join(j.Static[0].Targets, ","))
		if j.Name == "loadlens-demo" && j.Static[0].Labels["pod"] == "" {
			t.Error("static labels of loadlens-demo were dropped")
		}
	}
	if got, want := strings.Join(jobs, " "), "prometheus=127.0.0.1:1 alertmanager=127.0.0.1:2 loadlens-demo=127.0.0.1:3"; got != want {
		t.Errorf("jobs = %s, want %s (jobs without live targets dropped)", got, want)
	}
	if conf.Global["scrape_interval"] != "1s" || conf.RuleFiles[0] != "/x/rules/*.yml" || conf.Alerting.AM[0].Static[0].Targets[0] != "127.0.0.1:2" {
		t.Errorf("rendered config: %s", out)
	}
	if _, err := RenderPrometheusConfig(src, RenderOptions{Targets: map[string][]string{"nope": {"x:1"}}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown job: got %v", err)
	}
}
