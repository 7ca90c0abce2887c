package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// AdapterConfigPath is the committed prometheus-adapter configuration,
// relative to the repository root.
const AdapterConfigPath = "k8s/hpa/prometheus-adapter/config.yaml"

// HPAMetricName is the custom metric the HPA scales on and the adapter rule
// serves.
const HPAMetricName = "http_requests_per_second"

// AdapterConfig mirrors the part of prometheus-adapter's configuration
// (sigs.k8s.io/prometheus-adapter pkg/config) that loadlens uses. It is
// decoded strictly: an unknown field is an error.
type AdapterConfig struct {
	Rules []AdapterRule `json:"rules"`
}

// AdapterRule is one discovery rule of prometheus-adapter.
type AdapterRule struct {
	SeriesQuery   string                `json:"seriesQuery"`
	SeriesFilters []AdapterSeriesFilter `json:"seriesFilters,omitempty"`
	Resources     AdapterResources      `json:"resources"`
	Name          AdapterName           `json:"name"`
	MetricsQuery  string                `json:"metricsQuery"`
}

// AdapterSeriesFilter filters discovered series by name.
type AdapterSeriesFilter struct {
	Is    string `json:"is,omitempty"`
	IsNot string `json:"isNot,omitempty"`
}

// AdapterResources maps Prometheus labels to Kubernetes resources.
type AdapterResources struct {
	Overrides map[string]AdapterGroupResource `json:"overrides,omitempty"`
	Template  string                          `json:"template,omitempty"`
}

// AdapterGroupResource names a Kubernetes group-resource.
type AdapterGroupResource struct {
	Group    string `json:"group,omitempty"`
	Resource string `json:"resource"`
}

// AdapterName turns a series name into the metric name the API serves.
type AdapterName struct {
	Matches string `json:"matches"`
	As      string `json:"as"`
}

// LoadAdapterConfig reads and strictly decodes a prometheus-adapter
// configuration file.
func LoadAdapterConfig(path string) (*AdapterConfig, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifests: adapter config: %w", err)
	}
	var c AdapterConfig
	if err := yaml.UnmarshalStrict(body, &c); err != nil {
		return nil, fmt.Errorf("manifests: adapter config %s: %w", path, err)
	}
	return &c, nil
}

// Rule returns the rule that serves metric (its name.as), checking that
// name.matches selects the series of its seriesQuery.
func (c *AdapterConfig) Rule(metric string) (*AdapterRule, error) {
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Name.As != metric {
			continue
		}
		series, err := r.SeriesName()
		if err != nil {
			return nil, err
		}
		re, err := regexp.Compile(r.Name.Matches)
		if err != nil {
			return nil, fmt.Errorf("manifests: adapter rule %q: name.matches: %w", metric, err)
		}
		if !re.MatchString(series) {
			return nil, fmt.Errorf("manifests: adapter rule %q: name.matches %q does not match series %q", metric, r.Name.Matches, series)
		}
		return r, nil
	}
	return nil, fmt.Errorf("manifests: no adapter rule serves %q (name.as)", metric)
}

var seriesNameRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// SeriesName is the metric name of the rule's seriesQuery
// ("name{matchers}" form).
func (r *AdapterRule) SeriesName() (string, error) {
	m := seriesNameRE.FindStringSubmatch(strings.TrimSpace(r.SeriesQuery))
	if m == nil {
		return "", fmt.Errorf("manifests: adapter seriesQuery %q: want metric_name{matchers}", r.SeriesQuery)
	}
	return m[1], nil
}

// LabelFor returns the Prometheus label the rule maps to a Kubernetes
// resource ("namespace", "pod").
func (r *AdapterRule) LabelFor(resource string) (string, error) {
	for label, gr := range r.Resources.Overrides {
		if gr.Group == "" && gr.Resource == resource {
			return label, nil
		}
	}
	return "", fmt.Errorf("manifests: adapter rule %q maps no label to resource %q", r.Name.As, resource)
}

// Query renders the rule's metricsQuery the way prometheus-adapter does for
// the custom metric of one pod: LabelMatchers `ns_label="ns",pod_label="pod"`
// and GroupBy the pod label.
func (r *AdapterRule) Query(namespace, pod string) (string, error) {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "", fmt.Errorf("manifests: namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(pod); len(errs) > 0 {
		return "", fmt.Errorf("manifests: pod %q: %s", pod, strings.Join(errs, "; "))
	}
	series, err := r.SeriesName()
	if err != nil {
		return "", err
	}
	nsLabel, err := r.LabelFor("namespace")
	if err != nil {
		return "", err
	}
	podLabel, err := r.LabelFor("pod")
	if err != nil {
		return "", err
	}
	tmpl, err := template.New("metricsQuery").Delims("<<", ">>").Option("missingkey=error").Parse(r.MetricsQuery)
	if err != nil {
		return "", fmt.Errorf("manifests: adapter metricsQuery: %w", err)
	}
	// The same arguments as prometheus-adapter's naming.metricsQuery.Build.
	args := struct {
		Series            string
		LabelMatchers     string
		LabelValuesByName map[string]string
		GroupBy           string
		GroupBySlice      []string
	}{
		Series:            series,
		LabelMatchers:     fmt.Sprintf("%s=%q,%s=%q", nsLabel, namespace, podLabel, pod),
		LabelValuesByName: map[string]string{nsLabel: namespace, podLabel: pod},
		GroupBy:           podLabel,
		GroupBySlice:      []string{podLabel},
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, args); err != nil {
		return "", fmt.Errorf("manifests: adapter metricsQuery: %w", err)
	}
	if buf.Len() == 0 {
		return "", errors.New("manifests: adapter metricsQuery renders empty")
	}
	return buf.String(), nil
}

// AdapterQuery renders the committed prometheus-adapter rule's metricsQuery
// (k8s/hpa/prometheus-adapter/config.yaml, the rule serving
// http_requests_per_second) for one pod, as the adapter sends it to
// Prometheus when the HPA asks for that pod's metric. The repository is
// found from the working directory (see RepoRoot).
func AdapterQuery(namespace, pod string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	c, err := LoadAdapterConfig(filepath.Join(root, AdapterConfigPath))
	if err != nil {
		return "", err
	}
	r, err := c.Rule(HPAMetricName)
	if err != nil {
		return "", err
	}
	return r.Query(namespace, pod)
}
