package stack

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// RenderOptions are the live facts a Prometheus configuration needs.
type RenderOptions struct {
	// Targets maps a job name of the source configuration to the live
	// addresses of its targets. Jobs without live targets are dropped, so
	// a stack without the demo service has no permanently-down target.
	// The "alertmanager" entry also becomes the alerting target.
	Targets map[string][]string
	// RuleFiles replaces rule_files (absolute paths or globs).
	RuleFiles []string
	// ScrapeInterval, when set, replaces the global scrape and evaluation
	// intervals (tests use 1s).
	ScrapeInterval time.Duration
}

// RenderPrometheusConfig rewrites the repo's prometheus.yml for a stack:
// everything in the source is kept except static targets, rule file paths,
// Alertmanager addresses and (optionally) the global intervals.
func RenderPrometheusConfig(src []byte, opts RenderOptions) ([]byte, error) {
	var conf map[string]any
	if err := yaml.Unmarshal(src, &conf); err != nil {
		return nil, fmt.Errorf("parse prometheus.yml: %w", err)
	}
	if conf == nil {
		return nil, errors.New("prometheus.yml is empty")
	}
	if opts.ScrapeInterval > 0 {
		g, _ := conf["global"].(map[string]any)
		if g == nil {
			g = map[string]any{}
		}
		iv := model(opts.ScrapeInterval)
		g["scrape_interval"] = iv
		g["evaluation_interval"] = iv
		if opts.ScrapeInterval < 4*time.Second {
			g["scrape_timeout"] = iv
		}
		conf["global"] = g
	}
	conf["rule_files"] = opts.RuleFiles
	if am := opts.Targets["alertmanager"]; len(am) > 0 {
		conf["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{"static_configs": []any{map[string]any{"targets": am}}}}}
	} else {
		delete(conf, "alerting")
	}
	jobs, _ := conf["scrape_configs"].([]any)
	var kept []any
	seen := map[string]bool{}
	for _, j := range jobs {
		job, ok := j.(map[string]any)
		if !ok {
			return nil, errors.New("prometheus.yml: a scrape_configs entry is not a mapping")
		}
		name, _ := job["job_name"].(string)
		seen[name] = true
		live := opts.Targets[name]
		if len(live) == 0 {
			continue
		}
		var labels any
		if sc, ok := job["static_configs"].([]any); ok && len(sc) > 0 {
			if first, ok := sc[0].(map[string]any); ok {
				labels = first["labels"]
			}
		}
		static := map[string]any{"targets": live}
		if labels != nil {
			static["labels"] = labels
		}
		job["static_configs"] = []any{static}
		kept = append(kept, job)
	}
	var unknown []string
	for name := range opts.Targets {
		if !seen[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("prometheus.yml has no scrape job named %v", unknown)
	}
	conf["scrape_configs"] = kept
	out, err := yaml.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Rendered by loadlens from prometheus/prometheus.yml. Do not edit: it is rewritten at every start.\n"), out...), nil
}

// model formats a duration the way Prometheus configuration expects.
func model(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dms", int(d/time.Millisecond))
}
