package runfile

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStaleZombie: a server that exited but that its parent has not
// reaped yet (a zombie: signal 0 still finds its pid) is stale.
func TestStaleZombie(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	// Wait for the exit without reaping it (WNOWAIT).
	var si unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &si, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if !processAlive(cmd.Process.Pid) {
		t.Fatal("signal 0 does not find the zombie: the test checks nothing")
	}
	dir := t.TempDir()
	Write(dir, &Info{PID: cmd.Process.Pid, Version: "v", Started: time.Now()})
	if _, err := Read(dir); !errors.Is(err, ErrStale) {
		t.Fatalf("zombie server: %v", err)
	}
}
