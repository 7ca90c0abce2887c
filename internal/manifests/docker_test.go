package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	body, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(body)
	// Join continuation lines, drop comments.
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(df, "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var froms, runs, labels []string
	for _, l := range lines {
		switch strings.ToUpper(strings.Fields(l)[0]) {
		case "FROM":
			froms = append(froms, l)
		case "RUN":
			runs = append(runs, l)
		case "LABEL":
			labels = append(labels, l)
		case "ENV", "ARG":
			if regexp.MustCompile(`(?i)(password|secret|token|dsn)`).MatchString(l) {
				t.Errorf("Dockerfile bakes a secret-like value into the image: %s", l)
			}
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a two-stage build, got FROM lines %q", froms)
	}
	// The builder's Go matches go.mod's go directive (major.minor).
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "FROM golang:" + string(m[1]) + " AS build"; froms[0] != want {
		t.Errorf("builder %q, want %q (go.mod says go %s)", froms[0], want, m[1])
	}
	if froms[1] != "FROM gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime base %q, want distroless static nonroot", froms[1])
	}
	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w `, "-X github.com/prometheus/common/version.Version=${VERSION}", "./cmd/${BINARY}"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build step lacks %q: %s", want, build)
		}
	}
	if !strings.Contains(strings.Join(labels, " "), `org.opencontainers.image.version="${VERSION}"`) {
		t.Errorf("no OCI version label from ARG VERSION")
	}
	if !strings.Contains(df, "\nUSER nonroot:nonroot\n") {
		t.Errorf("the image does not run as nonroot")
	}
	for _, bin := range []string{"loadlens-demo", "loadlens-exporter"} {
		if _, err := os.Stat(filepath.Join(root, "cmd", bin, "main.go")); err != nil {
			t.Errorf("BINARY=%s: cmd/%s/main.go: %v", bin, bin, err)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", ".env", ".tools"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(ignore) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// TestBinaryDefaults builds both binaries and checks that their flag
// defaults are the ports and path the manifests and compose file use.
func TestBinaryDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	root := repoRoot(t)
	out := t.TempDir()
	// The demo's serving flags belong to its default command, serve.
	helpArgs := map[string][]string{"loadlens-demo": {"serve", "--help"}, "loadlens-exporter": {"--help"}}
	cases := map[string][]string{
		"loadlens-demo":     {"--web.listen-address", ":8080", "--admin.listen-address", "127.0.0.1:6060", "--web.shutdown-delay", "0s"},
		"loadlens-exporter": {"--web.listen-address", ":9780", "--web.telemetry-path", "/metrics"},
	}
	for bin, flags := range cases {
		t.Run(bin, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(root, "cmd", bin)); err != nil {
				t.Fatalf("cmd/%s does not exist", bin)
			}
			exe := filepath.Join(out, bin)
			build := exec.Command("go", "build", "-o", exe, "./cmd/"+bin)
			build.Dir = root
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./cmd/%s: %v\n%s", bin, err, b)
			}
			help, _ := exec.Command(exe, helpArgs[bin]...).CombinedOutput()
			for i := 0; i < len(flags); i += 2 {
				line := ""
				for _, l := range strings.Split(string(help), "\n") {
					if strings.Contains(l, flags[i]+"=") || strings.Contains(l, flags[i]+" ") {
						line = l
						break
					}
				}
				if line == "" {
					t.Errorf("%s --help shows no %s flag:\n%s", bin, flags[i], help)
					continue
				}
				if !strings.Contains(line, `"`+flags[i+1]+`"`) && !strings.Contains(line, "="+flags[i+1]+" ") && !strings.Contains(line, "default: "+flags[i+1]) {
					t.Errorf("%s: %s default is not %q: %s", bin, flags[i], flags[i+1], strings.TrimSpace(line))
				}
			}
		})
	}
}
