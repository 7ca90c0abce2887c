package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/loadlens/loadlens/internal/stacktest"
	"github.com/loadlens/loadlens/loadtest/k6"
)

func TestK6TestRun(t *testing.T) {
	objs := cache.get(t, "k8s/k6")
	runs := Find[*TestRun](objs)
	if len(runs) != 1 {
		t.Fatalf("%d TestRuns, want 1", len(runs))
	}
	tr := runs[0]
	if tr.Spec.Parallelism != 4 {
		t.Errorf("parallelism %d, want 4", tr.Spec.Parallelism)
	}
	cmRef := tr.Spec.Script.ConfigMap
	if cmRef == nil || cmRef.File != "load.js" {
		t.Fatalf("TestRun script %+v, want configMap file load.js", tr.Spec.Script)
	}
	var cm *corev1.ConfigMap
	for _, c := range Find[*corev1.ConfigMap](objs) {
		if c.Name == cmRef.Name {
			cm = c
		}
	}
	if cm == nil {
		t.Fatalf("TestRun names ConfigMap %q, which is not rendered (name reference lost?)", cmRef.Name)
	}
	committed, err := os.ReadFile(filepath.Join(repoRoot(t), K6ScriptPath))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["load.js"] != string(committed) {
		t.Errorf("ConfigMap %s key load.js is not %s", cm.Name, K6ScriptPath)
	}
	if !strings.Contains(tr.Spec.Arguments, "experimental-prometheus-rw") {
		t.Errorf("TestRun arguments %q do not send results to Prometheus", tr.Spec.Arguments)
	}
	env := map[string]string{}
	for _, e := range tr.Spec.Runner.Env {
		env[e.Name] = e.Value
	}
	if env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"] != "true" || !strings.HasSuffix(env["K6_PROMETHEUS_RW_SERVER_URL"], "/api/v1/write") {
		t.Errorf("runner env %v: want remote write with native histograms", env)
	}
	if env["BASE_URL"] != "http://loadlens-demo:8080" {
		t.Errorf("BASE_URL %q, want the demo Service http://loadlens-demo:8080", env["BASE_URL"])
	}
	checkContainerSecurity(t, "k6 runner", &tr.Spec.Runner.ContainerSecurityContext)
}

func TestK6BundleIsFresh(t *testing.T) {
	want, err := BundleK6(k6.FS(), K6Scenario)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(t), K6ScriptPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go run ./internal/manifests/cmd/genk6`", K6ScriptPath)
	}
}

func TestK6BundleParses(t *testing.T) {
	out, err := exec.Command(stacktest.K6(t), "inspect", filepath.Join(repoRoot(t), K6ScriptPath)).CombinedOutput()
	if err != nil {
		t.Fatalf("k6 inspect %s: %v\n%s", K6ScriptPath, err, out)
	}
	if !bytes.Contains(out, []byte(`"load"`)) {
		t.Errorf("k6 inspect shows no scenario \"load\":\n%s", out)
	}
}

func TestBundleK6Errors(t *testing.T) {
	fsys := os.DirFS(t.TempDir())
	if _, err := BundleK6(fsys, "missing"); err == nil {
		t.Errorf("BundleK6 of a missing scenario succeeded")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lib/config.js", "export const A = 1;\n")
	write("other.js", "import { A } from './lib/config.js';\nimport { B } from './lib/other.js';\nexport default function () {}\n")
	if _, err := BundleK6(os.DirFS(dir), "other"); err == nil {
		t.Errorf("BundleK6 accepted a second local import")
	}
	write("ok.js", "import { A } from './lib/config.js';\nexport default function () { return A; }\n")
	got, err := BundleK6(os.DirFS(dir), "ok")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("import {")) || !bytes.Contains(got, []byte("export const A = 1;")) {
		t.Errorf("bundle:\n%s", got)
	}
}
