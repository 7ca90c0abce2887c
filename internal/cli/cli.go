// Package cli implements the loadlens command: it brings the native stack
// up and down, reports its status, runs load tests and writes reports.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"

	"github.com/loadlens/loadlens/internal/stack"
)

// Exit codes.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitNotRunning = 3 // status: no stack recorded (like systemctl status)
)

// app holds one invocation's flags; nothing is package-level.
type app struct {
	stdout, stderr io.Writer
	dir            string
	up             upFlags
	statusJSON     bool
	run            runFlags
	report         reportFlags
	compare        compareFlags
}

// Main runs the loadlens command with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	a.run.env, a.compare.env = map[string]string{}, map[string]string{}
	k := kingpin.New("loadlens", "Native load-testing stack on loopback: PostgreSQL, Redis, the instrumented demo service, loadlens-exporter, Prometheus and Alertmanager; k6 runs and reports.")
	k.UsageWriter(stderr)
	k.ErrorWriter(stderr)
	k.Terminate(nil)
	k.HelpFlag.Short('h')
	k.Flag("dir", "Run directory holding data, logs and state of the stack.").
		Envar("LOADLENS_DIR").Default(defaultDir()).StringVar(&a.dir)

	up := k.Command("up", "Start the stack in the background and wait until every part is ready.")
	a.up.register(up)
	down := k.Command("down", "Stop the running stack.")
	status := k.Command("status", "Report each part's address and health (exit 0 healthy, 1 degraded, 3 not running).")
	status.Flag("json", "Print machine-readable JSON.").BoolVar(&a.statusJSON)
	run := k.Command("run", "Run a k6 scenario against the running demo service, then write its report.")
	a.run.register(run)
	rep := k.Command("report", "Write reports/TESTID/report.md and its charts from Prometheus.")
	a.report.register(rep)
	compare := k.Command("compare", "Run the same load on the naive and the tuned demo and write the before/after report (restarts the stack).")
	a.compare.register(compare)
	a.up.register(compare)

	cmd, err := k.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "loadlens: %v (see loadlens --help)\n", err)
		return exitUsage
	}
	if cmd == "" { // --help
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case up.FullCommand():
		return a.runUp(ctx)
	case down.FullCommand():
		return a.runDown(ctx)
	case status.FullCommand():
		return a.runStatus(ctx)
	case run.FullCommand():
		return a.runRun(ctx)
	case rep.FullCommand():
		return a.runReport(ctx)
	case compare.FullCommand():
		return a.runCompare(ctx)
	}
	return exitUsage
}

// defaultDir is .run at the repository root, or in the current directory
// outside the repository.
func defaultDir() string {
	if root, err := stack.RepoRoot("."); err == nil {
		return filepath.Join(root, ".run")
	}
	return ".run"
}

func (a *app) errorf(format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(a.stderr, "loadlens: "+strings.TrimSpace(msg))
	return exitFailure
}
