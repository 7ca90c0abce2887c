package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one started child process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// startProcess starts binary with args, its output appended to logFile.
// In background mode the child gets its own session and outlives the
// caller (loadlens up). Otherwise it is killed when the caller dies
// (tests), so a crashed test leaves no server behind.
func startProcess(binary string, args, env []string, dir, logFile string, cred *syscall.Credential, background bool) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	defer log.Close() // the child holds its own copy of the descriptor
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = log
	cmd.Stderr = log
	attr := &syscall.SysProcAttr{Credential: cred}
	if background {
		attr.Setsid = true
	} else {
		attr.Setpgid = true
		attr.Pdeathsig = syscall.SIGKILL
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(binary), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// processAlive reports whether pid is a live (not zombie) process running
// binary. Checking the executable guards against a recycled PID.
func processAlive(pid int, binary string) bool {
	if _, live := procStat(pid); !live {
		return false
	}
	if binary == "" {
		return true
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		// Not allowed to read another user's exe link: fall back to cmdline.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err == nil && strings.Contains(string(cmdline), filepath.Base(binary))
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	want, err := filepath.EvalSymlinks(binary)
	if err != nil {
		want = binary
	}
	return exe == want || filepath.Base(exe) == filepath.Base(want)
}

// waitExit waits until pid has exited, or ctx ends. The caller has checked
// that pid is the part's process; waiting then follows the PID alone
// (with its start time, against reuse): an exiting process loses its
// /proc/PID/exe link before it is gone, so processAlive would report it
// dead while it still runs its exit path and holds its resources.
func waitExit(ctx context.Context, pid int, binary string, done <-chan struct{}) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	start, live := procStat(pid)
	for {
		if done != nil {
			select {
			case <-done:
				return nil
			default:
			}
		} else if s, l := procStat(pid); !live || !l || s != start {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process %d (%s) still running: %w", pid, filepath.Base(binary), ctx.Err())
		case <-t.C:
		case <-done:
			return nil
		}
	}
}

// procStat returns pid's start time (field 22 of /proc/PID/stat) and
// whether it is a process that has not exited (neither zombie nor dead).
func procStat(pid int) (start string, live bool) {
	if pid <= 0 {
		return "", false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) {
		return "", false
	}
	// After the parenthesised command name: state is field 3, starttime 22.
	fields := strings.Fields(string(stat[i+2:]))
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return "", false
	}
	return fields[19], true
}

// terminate sends sig, waits up to grace, then SIGKILLs.
func terminate(pid int, binary string, sig syscall.Signal, grace time.Duration, done <-chan struct{}) error {
	if !processAlive(pid, binary) {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if waitExit(ctx, pid, binary, done) == nil {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	return waitExit(ctx2, pid, binary, done)
}
