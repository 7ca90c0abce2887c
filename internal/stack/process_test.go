package stack

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestProcStat(t *testing.T) {
	start, live := procStat(os.Getpid())
	if !live || start == "" {
		t.Fatalf("procStat(self) = %q, %v; want a start time and live", start, live)
	}
	if again, _ := procStat(os.Getpid()); again != start {
		t.Errorf("start time changed: %q then %q", start, again)
	}
	if _, live := procStat(-1); live {
		t.Error("procStat(-1) live")
	}
}

// TestWaitExitFollowsThePID: waitExit without a done channel (loadlens
// down, another process than the one that started the part) returns only
// once the process has exited — here it stays a zombie until the test
// reaps it, which counts as exited.
func TestWaitExitFollowsThePID(t *testing.T) {
	cmd := exec.Command("sleep", "0.5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitExit(ctx, pid, "/bin/sleep", nil); err != nil {
		t.Fatal(err)
	}
	if _, live := procStat(pid); live {
		t.Errorf("waitExit returned while pid %d still runs", pid)
	}

	// A process that does not exit: waitExit reports it when ctx ends.
	long := exec.Command("sleep", "60")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { long.Process.Kill(); long.Wait() }()
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := waitExit(short, long.Process.Pid, "/bin/sleep", nil); err == nil {
		t.Error("waitExit returned nil for a running process")
	}
}
