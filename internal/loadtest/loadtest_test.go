package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	k6scripts "github.com/loadlens/loadlens/loadtest/k6"

	"github.com/loadlens/loadlens/internal/loadtest/demostub"
	"github.com/loadlens/loadlens/internal/stacktest"
)

const scriptDir = "../../loadtest/k6"

var wantScenarios = []string{"breakpoint", "load", "read-heavy", "smoke", "soak", "spike", "stepped", "stress", "write-heavy"}

func TestScenariosListed(t *testing.T) {
	got, err := Scenarios(scriptDir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantScenarios) {
		t.Fatalf("scenarios on disk = %v, want %v", got, wantScenarios)
	}
	if emb := k6scripts.Scenarios(); !slices.Equal(emb, wantScenarios) {
		t.Fatalf("embedded scenarios = %v, want %v", emb, wantScenarios)
	}
}

// inspect runs `k6 inspect --execution-requirements` (which validates the
// options, scenarios and thresholds) and decodes its JSON.
type inspected struct {
	Scenarios map[string]struct {
		Executor string            `json:"executor"`
		Duration string            `json:"duration"`
		VUs      int               `json:"vus"`
		Tags     map[string]string `json:"tags"`
	} `json:"scenarios"`
	Thresholds    map[string]json.RawMessage `json:"thresholds"`
	TotalDuration string                     `json:"totalDuration"`
	MaxVUs        int                        `json:"maxVUs"`
}

func inspect(t *testing.T, k6, script string, env ...string) inspected {
	t.Helper()
	args := []string{"inspect", "--execution-requirements"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	cmd := exec.Command(k6, append(args, script)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("k6 inspect %s: %v: %s", script, err, stderr.String())
	}
	var in inspected
	if err := json.Unmarshal(out, &in); err != nil {
		t.Fatalf("k6 inspect %s: %v", script, err)
	}
	return in
}

func TestScriptsInspect(t *testing.T) {
	k6 := stacktest.K6(t)
	wantExecutor := map[string]string{
		"smoke": "constant-vus", "load": "ramping-vus", "stress": "ramping-vus", "spike": "ramping-vus",
		"soak": "constant-arrival-rate", "breakpoint": "ramping-arrival-rate",
		"read-heavy": "constant-arrival-rate", "write-heavy": "constant-arrival-rate", "stepped": "constant-vus",
	}
	for _, name := range wantScenarios {
		t.Run(name, func(t *testing.T) {
			in := inspect(t, k6, filepath.Join(scriptDir, name+".js"))
			if len(in.Scenarios) == 0 {
				t.Fatal("no scenarios")
			}
			for sn, sc := range in.Scenarios {
				if sc.Executor != wantExecutor[name] {
					t.Errorf("scenario %s executor = %s, want %s", sn, sc.Executor, wantExecutor[name])
				}
			}
			if _, ok := in.Thresholds["checks"]; !ok {
				t.Error("no checks threshold")
			}
			var perEndpoint int
			for k := range in.Thresholds {
				if strings.HasPrefix(k, "http_req_duration{name:") {
					perEndpoint++
					if _, ok := in.Thresholds["http_req_failed{name:"+strings.TrimPrefix(k, "http_req_duration{name:")]; !ok {
						t.Errorf("%s has no matching http_req_failed threshold", k)
					}
				}
			}
			if perEndpoint == 0 {
				t.Error("no per-endpoint http_req_duration{name:...} thresholds")
			}
			if name == "breakpoint" {
				for k, v := range in.Thresholds {
					if !strings.HasPrefix(k, "http_req") {
						continue
					}
					var ths []struct {
						AbortOnFail bool `json:"abortOnFail"`
					}
					if err := json.Unmarshal(v, &ths); err != nil || len(ths) == 0 {
						t.Errorf("breakpoint threshold %s: %v %s", k, err, v)
					}
					for _, th := range ths {
						if !th.AbortOnFail {
							t.Errorf("breakpoint threshold %s does not abort on fail: %s", k, v)
						}
					}
				}
			}
		})
	}
}

func TestScriptsEnvOverrides(t *testing.T) {
	k6 := stacktest.K6(t)
	in := inspect(t, k6, filepath.Join(scriptDir, "smoke.js"), "DURATION=3s", "VUS=3")
	if sc := in.Scenarios["smoke"]; sc.Duration != "3s" || sc.VUs != 3 {
		t.Errorf("smoke with DURATION=3s VUS=3: duration %s vus %d", sc.Duration, sc.VUs)
	}
	in = inspect(t, k6, filepath.Join(scriptDir, "stepped.js"), "STEPS=2,4,8", "STEP_DURATION=5s")
	if len(in.Scenarios) != 3 || in.TotalDuration != "15s" || in.MaxVUs != 8 {
		t.Fatalf("stepped STEPS=2,4,8 STEP_DURATION=5s: %d steps, total %s, max VUs %d", len(in.Scenarios), in.TotalDuration, in.MaxVUs)
	}
	for sn, sc := range in.Scenarios {
		if sc.Tags["step"] == "" || sc.Tags["target_vus"] != strings.TrimSpace(sc.Tags["target_vus"]) || sc.Tags["target_vus"] == "" {
			t.Errorf("step scenario %s tags = %v, want step and target_vus", sn, sc.Tags)
		}
	}
	if in.Scenarios["step_03"].Tags["step"] != "3" || in.Scenarios["step_03"].Tags["target_vus"] != "8" {
		t.Errorf("step_03 tags = %v", in.Scenarios["step_03"].Tags)
	}
	// A bad override fails the script's init with a clear message.
	cmd := exec.Command(k6, "inspect", "-e", "VUS=many", filepath.Join(scriptDir, "smoke.js"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "VUS=many") {
		t.Errorf("VUS=many: err %v, output %s", err, out)
	}
}

func TestOptionsErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		opts Options
		want string
	}{
		{Options{}, "no scenario"},
		{Options{Scenario: "nope"}, `unknown scenario "nope"`},
		{Options{Scenario: "smoke", TestID: "bad id/.."}, "test id"},
		{Options{Scenario: "smoke", BaseURL: "localhost"}, "base URL"},
		{Options{Scenario: "smoke", PrometheusURL: "::"}, "Prometheus URL"},
		{Options{Scenario: "smoke", Env: map[string]string{"duration": "1s"}}, "environment override"},
		{Options{Scenario: "smoke", K6Binary: "/nonexistent/k6", Dir: t.TempDir()}, "make setup"},
	}
	for _, c := range cases {
		_, err := Run(ctx, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) error = %v, want it to mention %q", c.opts, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

func TestArgs(t *testing.T) {
	o, err := Options{Scenario: "smoke", PrometheusURL: "http://127.0.0.1:9090", TestID: "t1",
		Env: map[string]string{"VUS": "2", "DURATION": "3s"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(o.args("smoke.js", "/tmp/s.json"), " ")
	want := "run --no-color --summary-export /tmp/s.json -o experimental-prometheus-rw --tag testid=t1 --tag test_type=smoke --tag environment=local -e BASE_URL=http://127.0.0.1:8080 -e DURATION=3s -e VUS=2 smoke.js"
	if got != want {
		t.Errorf("args:\n got %s\nwant %s", got, want)
	}
	env := strings.Join(o.processEnv(), "\n")
	for _, w := range []string{"K6_PROMETHEUS_RW_SERVER_URL=http://127.0.0.1:9090/api/v1/write", "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true", "K6_PROMETHEUS_RW_PUSH_INTERVAL=1s"} {
		if !strings.Contains(env, w) {
			t.Errorf("process env lacks %s", w)
		}
	}
	if w, _ := RemoteWriteURL("http://p:9090/custom/write"); w != "http://p:9090/custom/write" {
		t.Errorf("RemoteWriteURL kept path = %s", w)
	}
}

func TestRunRecordsRun(t *testing.T) {
	k6 := stacktest.K6(t)
	stub := demostub.Start(t, demostub.Options{})
	dir := t.TempDir()
	var stdout bytes.Buffer
	res, err := Run(context.Background(), Options{
		K6Binary: k6, Scenario: "smoke", BaseURL: stub.URL, TestID: "unit-smoke", Dir: dir, Quiet: true,
		Env: map[string]string{"DURATION": "2s", "VUS": "2", "SLEEP": "0.05"}, Stdout: &stdout, Stderr: &stdout,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stdout.String())
	}
	if res.ExitCode != 0 || !res.End.After(res.Start) {
		t.Fatalf("result %+v", res)
	}
	rec, err := ReadRun(dir, "unit-smoke")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Start.Equal(res.Start) || !rec.End.Equal(res.End) || rec.Scenario != "smoke" || rec.Env["DURATION"] != "2s" {
		t.Errorf("run.json = %+v, want %+v", rec, res)
	}
	if d := rec.End.Sub(rec.Start); d < 2*time.Second {
		t.Errorf("run lasted %s, want at least the 2s DURATION", d)
	}
	count := summaryCount(t, res.SummaryPath)
	if count == 0 || int64(count) != stub.Requests.Load() {
		t.Errorf("k6 summary counts %v requests, the stub served %d", count, stub.Requests.Load())
	}
}

func TestRunThresholdFailureIsNotAnError(t *testing.T) {
	k6 := stacktest.K6(t)
	stub := demostub.Start(t, demostub.Options{Status: 500})
	res, err := Run(context.Background(), Options{
		K6Binary: k6, ScriptDir: scriptDir, Scenario: "read-heavy", BaseURL: stub.URL, TestID: "unit-fail", Dir: t.TempDir(), Quiet: true,
		Env: map[string]string{"DURATION": "1s", "RATE": "20", "VUS": "2"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.ThresholdsFailed() {
		t.Fatalf("exit code %d, want %d (thresholds failed)", res.ExitCode, ExitThresholdsFailed)
	}
}

func TestReadRunMissing(t *testing.T) {
	_, err := ReadRun(t.TempDir(), "nope")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadRun of a missing run: %v", err)
	}
}

func summaryCount(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Metrics struct {
			HTTPReqs struct {
				Count float64 `json:"count"`
			} `json:"http_reqs"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s.Metrics.HTTPReqs.Count
}
