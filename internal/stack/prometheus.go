package stack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// prometheusPart runs Prometheus with the remote-write receiver (for k6)
// and native histograms, on a configuration rendered from the repo's
// prometheus/prometheus.yml with the stack's live targets.
func prometheusPart(cfg *Config, targets func() map[string][]string) *part {
	return &part{
		name:     "prometheus",
		portFlag: "--prometheus.port",
		port:     cfg.Ports.Prometheus,
		prepare: func(ctx context.Context, st *PartState) (*command, error) {
			bin, err := lookPath(nil, "prometheus")
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(cfg.Dir, "prometheus")
			data := filepath.Join(dir, "data")
			if err := mkdirs(data); err != nil {
				return nil, err
			}
			st.Binary = bin
			st.Address = hostPort(st.Port)
			st.URL = "http://" + st.Address
			st.DataDir = data
			src, err := os.ReadFile(filepath.Join(cfg.RepoRoot, "prometheus", "prometheus.yml"))
			if err != nil {
				return nil, fmt.Errorf("read the Prometheus configuration source: %w", err)
			}
			rules := cfg.RuleFiles
			if rules == nil {
				rules = []string{filepath.Join(cfg.RepoRoot, "prometheus", "rules", "*.yml")}
			}
			t := targets()
			t["prometheus"] = []string{st.Address}
			rendered, err := RenderPrometheusConfig(src, RenderOptions{
				Targets:        t,
				RuleFiles:      rules,
				ScrapeInterval: cfg.ScrapeInterval,
			})
			if err != nil {
				return nil, err
			}
			conf := filepath.Join(dir, "prometheus.yml")
			if err := os.WriteFile(conf, rendered, 0o644); err != nil {
				return nil, err
			}
			return &command{binary: bin, dir: dir, args: []string{
				"--config.file=" + conf,
				"--storage.tsdb.path=" + data,
				"--storage.tsdb.retention.time=15d",
				"--web.listen-address=" + st.Address,
				"--web.enable-remote-write-receiver",
				"--web.enable-lifecycle",
				"--enable-feature=native-histograms",
			}}, nil
		},
		ready: httpReady("/-/ready"),
		stop: func(ctx context.Context, st PartState, done <-chan struct{}) error {
			return terminate(st.PID, st.Binary, syscall.SIGTERM, 20*time.Second, done)
		},
	}
}

// alertmanagerPart runs Alertmanager with clustering (gossip) off.
func alertmanagerPart(cfg *Config) *part {
	return &part{
		name:     "alertmanager",
		portFlag: "--alertmanager.port",
		port:     cfg.Ports.Alertmanager,
		prepare: func(ctx context.Context, st *PartState) (*command, error) {
			bin, err := lookPath(nil, "prometheus-alertmanager", "alertmanager")
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(cfg.Dir, "alertmanager")
			if err := mkdirs(dir); err != nil {
				return nil, err
			}
			st.Binary = bin
			st.Address = hostPort(st.Port)
			st.URL = "http://" + st.Address
			st.DataDir = dir
			return &command{binary: bin, dir: dir, args: []string{
				"--config.file=" + filepath.Join(cfg.RepoRoot, "prometheus", "alertmanager.yml"),
				"--storage.path=" + dir,
				"--web.listen-address=" + st.Address,
				"--cluster.listen-address=",
			}}, nil
		},
		ready: httpReady("/-/ready"),
		stop: func(ctx context.Context, st PartState, done <-chan struct{}) error {
			return terminate(st.PID, st.Binary, syscall.SIGTERM, 10*time.Second, done)
		},
	}
}

// httpReady probes URL+path for a 200.
func httpReady(path string) func(context.Context, PartState) error {
	return func(ctx context.Context, st PartState) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.URL+path, nil)
		if err != nil {
			return err
		}
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", path, resp.Status)
		}
		return nil
	}
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
