package journal

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestLockDirOneWriter(t *testing.T) {
	dir := t.TempDir()
	l, err := LockDir(dir, "first writer")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetListeners([]string{"udp 127.0.0.1:4433"}); err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir, "second writer")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second LockDir = %v, want a LockedError", err)
	}
	if le.Holder.PID != os.Getpid() || le.Holder.Command != "first writer" {
		t.Errorf("holder = %+v", le.Holder)
	}
	for _, want := range []string{"pid", "first writer", "udp 127.0.0.1:4433"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockDir(dir, "second writer")
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	l2.Unlock()
}

// TestLockDirReleasedOnKill: the kernel releases the lock of a process
// killed with SIGKILL, so a crash never leaves a stale lock.
func TestLockDirReleasedOnKill(t *testing.T) {
	if os.Getenv("FEMTOCLAW_TEST_LOCK_CHILD") != "" {
		if _, err := LockDir(os.Getenv("FEMTOCLAW_TEST_LOCK_CHILD"), "child"); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		select {} // hold it until killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDirReleasedOnKill$")
	cmd.Env = append(os.Environ(), "FEMTOCLAW_TEST_LOCK_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		cmd.Process.Kill()
		t.Fatalf("child did not lock: %q %v", buf, err)
	}
	_, err = LockDir(dir, "parent")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != cmd.Process.Pid || le.Holder.Command != "child" {
		cmd.Process.Kill()
		t.Fatalf("while the child holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := LockDir(dir, "parent")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}

// TestOpenTakesTheLock: two Opens of one directory, in one process or
// two, cannot both write it; Close releases it.
func TestOpenTakesTheLock(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	j.Close()
}
