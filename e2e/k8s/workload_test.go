package k8se2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loadlens/loadlens/internal/stacktest"
)

// demoFleet is N real loadlens-demo processes standing in for the kwok
// pods, which run nothing. Each Running and Ready pod of the Deployment is
// given one free process (a slot); Prometheus scrapes that process with
// the pod's namespace and pod labels (file service discovery, rewritten as
// pods come and go), and the load generator spreads requests over the
// slots of ready pods as a Service would. So the per-pod request rate the
// HPA reads is the real rate those processes served.
type demoFleet struct {
	urls   []string // http://127.0.0.1:PORT of each process
	dsn    string   // their PostgreSQL database
	sdFile string   // Prometheus file_sd targets

	mu    sync.Mutex
	slots map[string]int // pod name -> process index
	ready []int          // slots of ready pods, sorted by pod name
}

// startDemoFleet starts n demo processes on one PostgreSQL database and one
// Redis key prefix (like n replicas of one Deployment) and seeds it.
func startDemoFleet(t *testing.T, dir string, n int) *demoFleet {
	t.Helper()
	bin := filepath.Join(stacktest.Binaries(t), "loadlens-demo")
	pg := stacktest.PostgresDB(t)
	rd := stacktest.RedisDB(t)
	env := []string{"LOADLENS_POSTGRES_DSN=" + pg.DSN}
	f := &demoFleet{sdFile: filepath.Join(dir, "demo-targets.json"), slots: map[string]int{}, dsn: pg.DSN}
	f.writeTargets(t, nil)
	start := func(i int) *Process {
		port, admin := freePort(t), freePort(t)
		f.urls = append(f.urls, fmt.Sprintf("http://127.0.0.1:%d", port))
		return StartProcess(t, dir, fmt.Sprintf("demo-%d", i), 10*time.Second, env, bin, "serve",
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			fmt.Sprintf("--admin.listen-address=127.0.0.1:%d", admin),
			"--mode=tuned", "--web.shutdown-delay=0s",
			"--postgres.pool-size=4",
			"--redis.addr="+rd.Addr, fmt.Sprintf("--redis.db=%d", rd.DB), "--redis.key-prefix="+rd.Prefix)
	}
	// The first process runs the migrations; then seed and start the rest.
	p := start(0)
	waitFor(t, "demo-0", 30*time.Second, p, func() error { return httpOK(http.DefaultClient, f.urls[0]+"/readyz") })
	seed := exec.Command(bin, "seed", "--users=100", "--posts=200")
	seed.Env = append(os.Environ(), env...)
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	var procs []*Process
	for i := 1; i < n; i++ {
		procs = append(procs, start(i))
	}
	for i, p := range procs {
		waitFor(t, p.Name, 30*time.Second, p, func() error { return httpOK(http.DefaultClient, f.urls[i+1]+"/readyz") })
	}
	return f
}

func (f *demoFleet) writeTargets(t testing.TB, groups []map[string]any) {
	if groups == nil {
		groups = []map[string]any{}
	}
	body, _ := json.Marshal(groups)
	tmp := f.sdFile + ".tmp"
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, f.sdFile); err != nil {
		t.Error(err)
	}
}

// follow maps the Deployment's pods to processes until ctx ends.
func (f *demoFleet) follow(ctx context.Context, t testing.TB, c *Cluster, ns, selector string) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			f.mu.Lock()
			alive := map[string]bool{}
			var names []string
			for _, p := range list.Items {
				if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(&p) {
					continue
				}
				alive[p.Name] = true
				names = append(names, p.Name)
			}
			for name := range f.slots {
				if !alive[name] {
					delete(f.slots, name)
				}
			}
			sort.Strings(names)
			used := map[int]bool{}
			for _, i := range f.slots {
				used[i] = true
			}
			var groups []map[string]any
			f.ready = f.ready[:0]
			for _, name := range names {
				i, ok := f.slots[name]
				if !ok {
					for i = 0; i < len(f.urls) && used[i]; i++ {
					}
					if i == len(f.urls) {
						continue // more pods than processes: this pod gets no traffic
					}
					f.slots[name], used[i] = i, true
				}
				f.ready = append(f.ready, i)
				groups = append(groups, map[string]any{
					"targets": []string{f.urls[i][len("http://"):]},
					"labels":  map[string]string{"namespace": ns, "pod": name},
				})
			}
			f.mu.Unlock()
			body, _ := json.Marshal(groups)
			if string(body) != last {
				f.writeTargets(t, groups)
				last = string(body)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// loadGenerator sends GET /users/{id} at a set total rate, round-robin over
// the processes of ready pods, from a bounded pool of workers.
type loadGenerator struct {
	fleet      *demoFleet
	rate       atomic.Int64 // requests per second
	sent, errs atomic.Int64
}

func (l *loadGenerator) run(ctx context.Context) {
	const workers = 32
	jobs := make(chan string, workers)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for url := range jobs {
				resp, err := client.Get(url)
				l.sent.Add(1)
				if err != nil {
					l.errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					l.errs.Add(1)
				}
			}
		}()
	}
	const step = 10 * time.Millisecond
	tick := time.NewTicker(step)
	defer func() { tick.Stop(); close(jobs); wg.Wait(); client.CloseIdleConnections() }()
	var due float64
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due += float64(l.rate.Load()) * step.Seconds()
		l.fleet.mu.Lock()
		ready := append([]int(nil), l.fleet.ready...)
		l.fleet.mu.Unlock()
		if len(ready) == 0 {
			due = 0
			continue
		}
		for ; due >= 1; due-- {
			n++
			url := fmt.Sprintf("%s/users/%d", l.fleet.urls[ready[n%len(ready)]], 1+n%100)
			select {
			case jobs <- url:
			default: // workers saturated: drop, never queue without bound
			}
		}
	}
}

// startPrometheus runs a private Prometheus that scrapes the demo fleet
// (file_sd, with pod labels) and loadlens-exporter, and evaluates ruleFiles.
func startPrometheus(t *testing.T, dir string, fleet *demoFleet, exporterAddr string, ruleFiles []string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: run make setup")
	}
	port := freePort(t)
	conf := map[string]any{
		"global":     map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
		"rule_files": ruleFiles,
		"scrape_configs": []any{
			map[string]any{"job_name": "loadlens-demo", "file_sd_configs": []any{map[string]any{"files": []string{fleet.sdFile}, "refresh_interval": "1s"}}},
			map[string]any{"job_name": "loadlens-exporter", "static_configs": []any{map[string]any{"targets": []string{exporterAddr}}}},
		},
	}
	body, err := yaml.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "prometheus.yml")
	writeFile(t, confFile, body)
	p := StartProcess(t, dir, "prometheus", 10*time.Second, nil, bin,
		"--config.file="+confFile, "--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "prometheus", 30*time.Second, p, func() error { return httpOK(http.DefaultClient, url+"/-/ready") })
	return url
}
