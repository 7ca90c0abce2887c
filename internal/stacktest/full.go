package stacktest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/stack"
)

var binaries struct {
	once     sync.Once
	dir      string
	prebuilt bool // dir came from PrebuiltEnv: Main leaves it
	err      error
}

// PrebuiltEnv names a directory holding loadlens-demo and loadlens-exporter
// already built from this checkout: `make test` builds them once (make
// build) and sets it, so the test packages do not each link them again.
const PrebuiltEnv = "LOADLENS_TEST_BINARIES"

// Binaries builds loadlens-demo and loadlens-exporter once per test binary
// (the go build cache makes it quick), or takes them from PrebuiltEnv, and
// returns their directory; Main removes a directory it built.
func Binaries(t testing.TB) string {
	t.Helper()
	pkg.mu.Lock()
	inMain := pkg.inMain
	pkg.mu.Unlock()
	if !inMain {
		t.Fatal("stacktest: Binaries needs TestMain: func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }")
	}
	binaries.once.Do(buildBinaries)
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.dir
}

// BuildBinariesInBackground starts the build of Binaries without waiting
// for it, so a test can start other servers meanwhile; Binaries then waits
// for the build and reports its error.
func BuildBinariesInBackground() { go binaries.once.Do(buildBinaries) }

func buildBinaries() {
	if d := os.Getenv(PrebuiltEnv); d != "" {
		for _, name := range []string{stack.DemoBinary, stack.ExporterBinary} {
			if st, err := os.Stat(filepath.Join(d, name)); err != nil || st.Mode()&0o111 == 0 {
				binaries.err = fmt.Errorf("%s=%s: no executable %s there: run make build, or unset it to build in the test", PrebuiltEnv, d, name)
				return
			}
		}
		binaries.dir, binaries.prebuilt = d, true
		return
	}
	root, err := stack.RepoRoot(".")
	if err != nil {
		binaries.err = err
		return
	}
	if binaries.dir, binaries.err = os.MkdirTemp("", "loadlens-bin-"); binaries.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binaries.err = stack.BuildBinaries(ctx, root, binaries.dir)
}

// FullOptions configure a private full stack.
type FullOptions struct {
	// DemoMode is naive or tuned (default tuned).
	DemoMode string
	// DemoArgs and ExporterArgs are appended to the command lines.
	DemoArgs, ExporterArgs []string
	// SeedUsers and SeedPosts seed the demo (default 200 users, 1000 posts).
	SeedUsers, SeedPosts int
	// RuleFiles to load (default: the repo's rules).
	RuleFiles []string
	// ScrapeInterval (default 1s).
	ScrapeInterval time.Duration
	// PostgresMaxConnections (default 100).
	PostgresMaxConnections int
}

// Full is a private full stack: PostgreSQL, Redis, the demo service,
// loadlens-exporter, Alertmanager and Prometheus scraping them.
type Full struct {
	*stack.Stack
	DemoURL, ExporterURL, PrometheusURL, AlertmanagerURL string
}

// FullStack starts every part of the native stack for this test, as
// `loadlens up` does, and stops it at the end.
func FullStack(t testing.TB, opts FullOptions) *Full {
	t.Helper()
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.SeedUsers == 0 {
		opts.SeedUsers, opts.SeedPosts = 200, 1000
	}
	s := private(t, stack.Config{
		BinDir:                 Binaries(t),
		DemoMode:               opts.DemoMode,
		DemoArgs:               opts.DemoArgs,
		ExporterArgs:           opts.ExporterArgs,
		SeedUsers:              opts.SeedUsers,
		SeedPosts:              opts.SeedPosts,
		RuleFiles:              opts.RuleFiles,
		ScrapeInterval:         opts.ScrapeInterval,
		PostgresMaxConnections: opts.PostgresMaxConnections,
	})
	f := &Full{Stack: s}
	for name, url := range map[string]*string{
		stack.PartDemo: &f.DemoURL, stack.PartExporter: &f.ExporterURL,
		stack.PartPrometheus: &f.PrometheusURL, stack.PartAlertmanager: &f.AlertmanagerURL,
	} {
		st, _ := s.Part(name)
		*url = st.URL
	}
	return f
}

// K6 returns the repository's pinned k6 (.tools/bin/k6) or one on PATH,
// and fails the test naming the setup command when there is none.
func K6(t testing.TB) string {
	t.Helper()
	p, err := stack.FindTool("k6")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
