package capability

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// confineFixture is a data directory holding a 0600 token (as the
// runtime's), and a working directory apart from it.
func confineFixture(t *testing.T) (token, work string) {
	t.Helper()
	base := t.TempDir()
	data, work := filepath.Join(base, "data"), filepath.Join(base, "work")
	for _, d := range []string{data, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	token = filepath.Join(data, "token")
	if err := os.WriteFile(token, []byte("fct_SECRET_TOKEN_VALUE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return token, work
}

func needLandlock(t *testing.T) {
	t.Helper()
	if LandlockABI() == 0 {
		t.Skip("the kernel offers no Landlock")
	}
}

func shOut(t *testing.T, s *Shell, script string) (shellResult, error) {
	t.Helper()
	res, err := runShell(t, context.Background(), s, jsonArgs("/bin/sh", "-c", script))
	if res == nil {
		t.Fatalf("%q: no result: %v", script, err)
	}
	return parseShellResult(t, res), err
}

// TestSecurityConfinementTokenUnreachable: a shell child cannot read the
// runtime's token, by any spelling, nor signal the runtime.
func TestSecurityConfinementTokenUnreachable(t *testing.T) {
	needLandlock(t)
	token, work := confineFixture(t)
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}, Dir: work,
		Landlock: LandlockConfig{Read: append([]string{"/proc", work}, DefaultLandlockRead...), Write: []string{work}}})
	rel, _ := filepath.Rel(work, token)
	for _, script := range []string{
		"cat " + token,
		"cat " + rel,
		"cat /proc/self/root" + token,
		"cat /proc/" + strconv.Itoa(os.Getpid()) + "/root" + token,
		"cp " + token + " copy && cat copy",
		"ln -s " + token + " l && cat l",
		"ln " + token + " h && cat h",
		"cd " + filepath.Dir(token) + " && cat token",
	} {
		r, _ := shOut(t, s, script)
		if strings.Contains(r.stdout, "SECRET") || strings.Contains(r.stderr, "SECRET") {
			t.Errorf("%q read the token: %+v", script, r)
		}
	}
	if LandlockABI() >= 6 {
		r, err := shOut(t, s, "kill -0 "+strconv.Itoa(os.Getpid()))
		if err == nil || r.exitCode == 0 {
			t.Errorf("a child could signal the runtime: %+v", r)
		}
	}
}

// TestSecurityConfinementInheritedFDs: the child has fds 0–2 only, even
// when the runtime holds a descriptor without close-on-exec (inherited
// from its own parent, or opened by code that forgot the flag).
func TestSecurityConfinementInheritedFDs(t *testing.T) {
	token, work := confineFixture(t)
	fd, err := syscall.Open(token, syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	const high = 100
	if err := unix.Dup2(fd, high); err != nil { // dup2 never sets close-on-exec
		t.Fatal(err)
	}
	defer syscall.Close(high)
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}, Dir: work,
		Landlock: LandlockConfig{Read: append([]string{"/proc"}, DefaultLandlockRead...)}})
	r, err := shOut(t, s, "ls /proc/$$/fd")
	if err != nil {
		t.Fatal(err, r)
	}
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != "0 1 2" {
		t.Errorf("the shell has fds %q, want 0 1 2", got)
	}
	for _, script := range []string{
		"cat <&" + strconv.Itoa(fd),
		"cat <&" + strconv.Itoa(high),
		"cat /proc/self/fd/" + strconv.Itoa(high),
		"cat /dev/fd/" + strconv.Itoa(fd),
	} {
		if r, _ := shOut(t, s, script); strings.Contains(r.stdout, "SECRET") {
			t.Errorf("%q read the token through an inherited fd", script)
		}
	}
	r, _ = shOut(t, s, "grep NoNewPrivs /proc/self/status")
	if !strings.Contains(r.stdout, "1") {
		t.Errorf("no_new_privs not set: %q", r.stdout)
	}
}

// TestSecurityConfinementNoDescendantSurvives: whatever a call started
// is gone when the call returns — setsid, a double fork, a new session's
// own background job — without waiting.
func TestSecurityConfinementNoDescendantSurvives(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}})
	for _, script := range []string{
		"setsid sleep 100 & echo $!",
		"setsid sh -c 'sleep 100 & echo $!' ; :",
		"(sleep 100 & echo $!) ; :",
		"sh -c 'setsid sleep 100 & echo $!' & wait",
		"setsid sh -c 'trap \"\" TERM HUP; sleep 100 & echo $!; wait' &\nsleep 0.05; echo done",
	} {
		r, _ := shOut(t, s, script)
		var pids []int
		for _, f := range strings.Fields(r.stdout) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		if len(pids) == 0 {
			t.Errorf("%q: no pid printed: %+v", script, r)
		}
		for _, p := range pids {
			if procAlive(p) {
				t.Errorf("%q: process %d outlived the call", script, p)
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
}

// TestSecurityConfinementLimits: resource limits apply to the process
// and its children.
func TestSecurityConfinementLimits(t *testing.T) {
	_, work := confineFixture(t)
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}, Dir: work,
		Landlock: LandlockConfig{Write: []string{work}},
		Limits:   ShellLimits{CPUSeconds: 1, AddressSpaceBytes: 512 << 20, FileSizeBytes: 1 << 20, OpenFiles: 64}})
	r, err := shOut(t, s, "ulimit -v; ulimit -t; ulimit -n; sh -c 'ulimit -v'")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != "524288 1 64 524288" {
		t.Errorf("limits %q, want 524288 1 64 524288", got)
	}
	// A big write is stopped at the file-size limit.
	r, err = shOut(t, s, "head -c 3000000 /dev/zero > big")
	if st, serr := os.Stat(filepath.Join(work, "big")); serr != nil || st.Size() > 1<<20 {
		t.Errorf("big file: %v %v", st, serr)
	}
	if err == nil {
		t.Errorf("the big write succeeded: %+v", r)
	}
	// A CPU-bound loop is killed at the CPU limit.
	if r, err := shOut(t, s, "while :; do :; done"); err == nil || r.signal == "" {
		t.Errorf("busy loop: %v %+v", err, r)
	}
}

// TestSecurityConfinementForkBomb: under a RunAs user, processes are
// bounded, and none outlives the call.
func TestSecurityConfinementForkBomb(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run_as another user needs root")
	}
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}, RunAs: "nobody", Limits: ShellLimits{Processes: 8}})
	r, _ := shOut(t, s, "id -u; i=0; while [ $i -lt 40 ]; do sleep 100 & echo $!; i=$((i+1)); done 2>/dev/null; :")
	f := strings.Fields(r.stdout)
	if len(f) == 0 || f[0] != "65534" {
		t.Fatalf("not run as nobody: %+v", r)
	}
	if n := len(f) - 1; n >= 40 || n == 0 {
		t.Errorf("%d background processes started under a limit of 8", n)
	}
	for _, p := range f[1:] {
		if pid, err := strconv.Atoi(p); err == nil && procAlive(pid) {
			t.Errorf("process %d outlived the call", pid)
		}
	}
	if _, err := NewShell(ShellConfig{RunAs: "no-such-user-xyz"}); err == nil {
		t.Error("accepted an unknown run_as user")
	}
}

// TestSecurityConfinementParentDeath: when the runtime is SIGKILLed mid
// call, its shell child and the child's setsid grandchild die too. The
// runtime is this test binary, re-executed as a helper.
func TestSecurityConfinementParentDeath(t *testing.T) {
	if dir := os.Getenv("FEMTOCLAW_TEST_HELPER_DIR"); dir != "" {
		s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}, Dir: dir, Landlock: LandlockConfig{Write: []string{dir}}})
		_, _ = shOut(t, s, "setsid sleep 100 & echo $! > pid.tmp && mv pid.tmp pid; sleep 100")
		return
	}
	dir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestSecurityConfinementParentDeath$", "-test.count=1")
	helper.Env = append(os.Environ(), "FEMTOCLAW_TEST_HELPER_DIR="+dir)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "pid"))
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("grandchild %d: %v", pid, err)
	}
	defer unix.Close(pfd)
	_ = helper.Process.Kill() // SIGKILL: the runtime gets no chance to clean up
	_ = helper.Wait()
	// The pidfd becomes readable when the grandchild exits.
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 20_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n != 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived the runtime's SIGKILL (%v)", pid, err)
		}
		return
	}
}
