package manifests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

func loadCompose(t *testing.T, envFiles ...string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithName("loadlens"),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithProfiles([]string{"load"}),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func composeProject(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(t, filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatalf("docker-compose.yml with .env.example: %v", err)
	}
	return p
}

func TestComposeLoadsAndValidates(t *testing.T) {
	p := composeProject(t)
	want := []string{"alertmanager", "demo", "exporter", "grafana", "k6", "postgres", "prometheus", "redis"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Errorf("services %v, want %v", got, want)
	}
	k6, err := p.GetService("k6")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k6.Profiles, []string{"load"}) {
		t.Errorf("k6 profiles %v, want [load]", k6.Profiles)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Without .env the required secrets must stop docker compose.
func TestComposeRequiresSecretsFromEnv(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadCompose(t, empty)
	if err == nil || !strings.Contains(err.Error(), "set it in .env") {
		t.Errorf("docker-compose.yml loads without the secrets of .env: %v", err)
	}
}

// Every password and DSN in the raw file is interpolated, never a literal.
func TestComposeHasNoLiteralSecrets(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(body), "\n") {
		code, _, _ := strings.Cut(line, " #")
		key, value, ok := strings.Cut(strings.TrimSpace(code), ":")
		if !ok || strings.HasPrefix(key, "-") {
			continue
		}
		k := strings.ToUpper(key)
		if (strings.Contains(k, "PASSWORD") || strings.Contains(k, "DSN") || strings.Contains(k, "AUTH") || strings.Contains(k, "SECRET")) &&
			strings.TrimSpace(value) != "" && !strings.Contains(value, "${") {
			t.Errorf("docker-compose.yml:%d: %s has a literal value", i+1, key)
		}
		if strings.Contains(value, "PASSWORD") && strings.Contains(value, "${") && !strings.Contains(value, ":?") {
			t.Errorf("docker-compose.yml:%d: a password without ${VAR:?...}: a missing .env would run with an empty one", i+1)
		}
	}
}

func TestComposeBindMountsExist(t *testing.T) {
	p := composeProject(t)
	root := repoRoot(t)
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s, outside the repository", s.Name, v.Source)
				continue
			}
			fi, err := os.Stat(v.Source)
			if err != nil {
				t.Errorf("%s mounts ./%s, which does not exist: %v", s.Name, rel, err)
				continue
			}
			if rel == "dashboards" && !fi.IsDir() {
				t.Errorf("%s mounts ./dashboards, which is not a directory", s.Name)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts ./%s read-write; mount repository files :ro", s.Name, rel)
			}
		}
	}
}

func servicePorts(s types.ServiceConfig) []uint32 {
	var out []uint32
	for _, p := range s.Ports {
		out = append(out, p.Target)
	}
	return out
}

func TestComposePortsAgreeWithBinariesAndPrometheus(t *testing.T) {
	p := composeProject(t)
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	demo, exp := svc("demo"), svc("exporter")
	if !slices.Equal(demo.Command, types.ShellCommand{"--web.listen-address=:8080", "--admin.listen-address=:6060"}) {
		t.Errorf("demo command %q", demo.Command)
	}
	if !slices.Equal(exp.Command, types.ShellCommand{"--web.listen-address=:9780", "--web.telemetry-path=/metrics"}) {
		t.Errorf("exporter command %q", exp.Command)
	}
	for name, want := range map[string][]uint32{"demo": {8080, 6060}, "exporter": {9780}, "prometheus": {9090}, "alertmanager": {9093}, "grafana": {3000}} {
		if got := servicePorts(svc(name)); !slices.Equal(got, want) {
			t.Errorf("%s publishes container ports %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"demo", "exporter"} {
		env := svc(name).Environment
		if v := env["LOADLENS_REDIS_ADDR"]; v == nil || *v != "redis:6379" {
			t.Errorf("%s LOADLENS_REDIS_ADDR %v, want redis:6379", name, v)
		}
		if v := env["LOADLENS_POSTGRES_DSN"]; v == nil || !strings.Contains(*v, "@postgres:5432/") {
			t.Errorf("%s LOADLENS_POSTGRES_DSN does not point at the postgres service", name)
		}
		if v := env["LOADLENS_REDIS_PASSWORD"]; v == nil || *v == "" {
			t.Errorf("%s has no LOADLENS_REDIS_PASSWORD", name)
		}
	}

	// The targets of prometheus/prometheus.yml are compose services that
	// listen on those ports.
	listens := map[string][]uint32{"demo": {8080, 6060}, "exporter": {9780}, "alertmanager": {9093}, "localhost": {9090}}
	for _, target := range promTargets(t) {
		host, port, err := net.SplitHostPort(target)
		if err != nil {
			t.Errorf("prometheus.yml target %q: %v", target, err)
			continue
		}
		if host != "localhost" {
			if _, err := p.GetService(host); err != nil {
				t.Errorf("prometheus.yml target %s: no compose service %q", target, host)
			}
		}
		if !slices.ContainsFunc(listens[host], func(p uint32) bool { return fmt.Sprint(p) == port }) {
			t.Errorf("prometheus.yml target %s: %s does not listen on %s", target, host, port)
		}
	}
}

func promTargets(t *testing.T) []string {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(repoRoot(t), "prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `json:"targets"`
				} `json:"static_configs"`
			} `json:"alertmanagers"`
		} `json:"alerting"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			out = append(out, s.Targets...)
		}
	}
	for _, am := range cfg.Alerting.Alertmanagers {
		for _, s := range am.StaticConfigs {
			out = append(out, s.Targets...)
		}
	}
	if len(out) < 5 {
		t.Fatalf("prometheus.yml has %d static targets, want the five jobs'", len(out))
	}
	return out
}

func TestComposePrometheusMountsTheRepoConfig(t *testing.T) {
	p := composeProject(t)
	root := repoRoot(t)
	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	var configFile string
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configFile = v
		}
	}
	for _, flag := range []string{"--web.enable-remote-write-receiver", "--enable-feature=native-histograms"} {
		if !slices.Contains(prom.Command, flag) {
			t.Errorf("prometheus command lacks %s", flag)
		}
	}
	host := hostPath(prom, configFile)
	if host != filepath.Join(root, "prometheus/prometheus.yml") {
		t.Fatalf("prometheus reads %s = host %q, want prometheus/prometheus.yml", configFile, host)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: run `make setup`")
	}
	out, err := exec.Command(promtool, "check", "config", host).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", host, err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool check config:\n%s", out)
	}

	am, err := p.GetService("alertmanager")
	if err != nil {
		t.Fatal(err)
	}
	if got := hostPath(am, "/etc/alertmanager/alertmanager.yml"); got != filepath.Join(root, "prometheus/alertmanager.yml") {
		t.Errorf("alertmanager config comes from %q, want prometheus/alertmanager.yml", got)
	}
	if !slices.Contains(am.Command, "--config.file=/etc/alertmanager/alertmanager.yml") {
		t.Errorf("alertmanager command %q does not read the mounted file", am.Command)
	}
}

// hostPath maps a path inside the container to the bind-mounted host path.
func hostPath(s types.ServiceConfig, inContainer string) string {
	best := ""
	host := ""
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if inContainer == v.Target || strings.HasPrefix(inContainer, strings.TrimSuffix(v.Target, "/")+"/") {
			if len(v.Target) > len(best) {
				best = v.Target
				host = filepath.Join(v.Source, strings.TrimPrefix(inContainer, v.Target))
			}
		}
	}
	return host
}

func TestComposeHealthAndOrdering(t *testing.T) {
	p := composeProject(t)
	for _, name := range []string{"postgres", "redis", "prometheus", "alertmanager", "grafana"} {
		s, _ := p.GetService(name)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 || s.HealthCheck.Disable {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	for name, deps := range map[string][]string{
		"demo":       {"postgres", "redis"},
		"exporter":   {"postgres", "redis"},
		"prometheus": {"alertmanager"},
		"grafana":    {"prometheus"},
		"k6":         {"prometheus"},
	} {
		s, _ := p.GetService(name)
		for _, d := range deps {
			if dep, ok := s.DependsOn[d]; !ok || dep.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s must depend on %s with condition service_healthy", name, d)
			}
		}
	}
	pg, _ := p.GetService("postgres")
	if !slices.Contains(pg.Command, "shared_preload_libraries=pg_stat_statements") || pg.Image != "postgres:15" {
		t.Errorf("postgres: image %s command %q, want postgres:15 preloading pg_stat_statements", pg.Image, pg.Command)
	}
	init := hostPath(pg, "/docker-entrypoint-initdb.d/10-pg_stat_statements.sql")
	body, err := os.ReadFile(init)
	if err != nil || !strings.Contains(string(body), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements") {
		t.Errorf("postgres init SQL %q does not create pg_stat_statements: %v", init, err)
	}
	rd, _ := p.GetService("redis")
	if cmd := strings.Join(rd.Command, " "); !strings.Contains(cmd, "--save ''") || !strings.Contains(cmd, "--appendonly no") {
		t.Errorf("redis command %q: want no persistence", cmd)
	}
	k6, _ := p.GetService("k6")
	if v := k6.Environment["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"]; v == nil || *v != "true" {
		t.Errorf("k6 does not send trends as native histograms")
	}
	if v := k6.Environment["K6_PROMETHEUS_RW_SERVER_URL"]; v == nil || *v != "http://prometheus:9090/api/v1/write" {
		t.Errorf("k6 remote-write URL %v", v)
	}
	if !strings.HasPrefix(k6.Image, "grafana/k6:") || hostPath(k6, "/scripts/load.js") != filepath.Join(repoRoot(t), "loadtest/k6/load.js") {
		t.Errorf("k6: image %s, scripts must come from ./loadtest/k6", k6.Image)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	root := repoRoot(t)
	var ds struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name      string         `json:"name"`
			UID       string         `json:"uid"`
			Type      string         `json:"type"`
			Access    string         `json:"access"`
			URL       string         `json:"url"`
			IsDefault bool           `json:"isDefault"`
			Editable  bool           `json:"editable"`
			JSONData  map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	readStrict(t, filepath.Join(root, "grafana/provisioning/datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID != "loadlens-prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" || ds.Datasources[0].Type != "prometheus" {
		t.Errorf("datasources %+v, want one prometheus datasource uid loadlens-prometheus at http://prometheus:9090", ds.Datasources)
	}
	var dp struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name                  string `json:"name"`
			Type                  string `json:"type"`
			DisableDeletion       bool   `json:"disableDeletion"`
			AllowUIUpdates        bool   `json:"allowUiUpdates"`
			UpdateIntervalSeconds int    `json:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `json:"path"`
				FoldersFromFilesStructure bool   `json:"foldersFromFilesStructure"`
			} `json:"options"`
		} `json:"providers"`
	}
	readStrict(t, filepath.Join(root, "grafana/provisioning/dashboards/loadlens.yml"), &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path != "/var/lib/grafana/dashboards" || !dp.Providers[0].Options.FoldersFromFilesStructure {
		t.Errorf("dashboard providers %+v", dp.Providers)
	}
	p := composeProject(t)
	g, _ := p.GetService("grafana")
	if got := hostPath(g, "/var/lib/grafana/dashboards"); got != filepath.Join(root, "dashboards") {
		t.Errorf("grafana reads dashboards from %q, want ./dashboards", got)
	}
	if got := hostPath(g, "/etc/grafana/provisioning/datasources/prometheus.yml"); got != filepath.Join(root, "grafana/provisioning/datasources/prometheus.yml") {
		t.Errorf("grafana provisioning comes from %q", got)
	}
}

func readStrict(t *testing.T, path string, v any) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(body, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
