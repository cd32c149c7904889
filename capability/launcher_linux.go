package capability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The launcher: on Linux every shell call runs through two hidden modes
// of the runtime's own binary (re-executed through /proc/self/exe, which
// names the running binary even if the file was replaced):
//
//	runtime ──fork──> supervisor ──fork──> exec stage ──execve──> the binary
//	          Setpgid,             Pdeathsig SIGKILL     (same pid)
//	          Pdeathsig SIGTERM
//
// The supervisor makes itself a child subreaper (PR_SET_CHILD_SUBREAPER),
// so every process the call starts stays its descendant even after
// setsid or a double fork: an orphan is reparented to the nearest
// subreaper, never past it. It waits for the binary, then kills every
// descendant it finds in /proc and reaps them until it has no child left,
// and only then reports the binary's exit status to the runtime on a
// pipe. On SIGTERM — the runtime's cancel at the deadline, or the
// parent-death signal when the runtime dies, even by SIGKILL — it does the
// same at once.
//
// The exec stage, in the process that becomes the binary, drops to the
// RunAs user, sets PR_SET_NO_NEW_PRIVS, the resource limits and the
// Landlock ruleset, marks every descriptor above 2 close-on-exec (so the
// binary gets 0–2 only, whatever the runtime inherited or opened), and
// executes the binary. Limits set before execve cannot be raced.
//
// Rejected: prlimit(2) on the child after start (races the child, which
// may fork first); a cgroup per call (needs a writable, delegated cgroup
// v2 hierarchy, which this runtime cannot assume, and still needs a
// surviving process to clean up after a SIGKILL of the runtime); a PID
// namespace (needs privilege or user namespaces).
//
// The dispatch happens in init, before main (or a test binary's
// testing.Main): a binary importing this package runs the launcher when
// argv[0] is launcherArg0 and argv has exactly three entries.
const (
	launcherArg0  = "femtoclaw-shell-launcher"
	modeSupervise = "supervise"
	modeExec      = "exec"
	selfExe       = "/proc/self/exe"
)

func init() {
	if len(os.Args) != 3 || os.Args[0] != launcherArg0 {
		return
	}
	var spec launchSpec
	if err := json.Unmarshal([]byte(os.Args[2]), &spec); err != nil {
		os.Stderr.WriteString("femtoclaw launcher: bad spec\n")
		os.Exit(126)
	}
	switch os.Args[1] {
	case modeSupervise:
		os.Exit(supervise(&spec))
	case modeExec:
		execStage(&spec)
	}
	os.Exit(126)
}

// launchStatus is the supervisor's report, one JSON object on fd 3.
type launchStatus struct {
	Code   int    `json:"code"`
	Signal int    `json:"signal,omitempty"`
	Error  string `json:"error,omitempty"`
}

// run executes argv through the launcher and returns how the binary
// ended.
func (s *Shell) run(ctx context.Context, path string, argv []string, stdout, stderr io.Writer) (exitStatus, error) {
	spec := s.conf
	spec.Path, spec.Argv = path, argv
	js, err := json.Marshal(&spec)
	if err != nil {
		return exitStatus{}, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return exitStatus{}, err
	}
	defer statusR.Close()
	cmd := exec.CommandContext(ctx, selfExe)
	cmd.Args = []string{launcherArg0, modeSupervise, string(js)}
	cmd.Dir = s.dir
	cmd.Env = append(make([]string, 0, len(s.env)), s.env...) // never nil: nil would inherit
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{statusW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	st, err := runGroup(ctx, cmd)
	statusW.Close()
	if err != nil {
		return st, err
	}
	data, _ := io.ReadAll(statusR)
	var ls launchStatus
	if len(data) == 0 || json.Unmarshal(data, &ls) != nil {
		return st, nil // the supervisor itself was killed: its status is all there is
	}
	if ls.Error != "" {
		return exitStatus{}, errors.New(ls.Error)
	}
	return exitStatus{code: ls.Code, signal: syscall.Signal(ls.Signal)}, nil
}

// supervise runs the exec stage, waits for it, kills every descendant and
// reports. It returns the supervisor's own exit code.
func supervise(spec *launchSpec) int {
	status := os.NewFile(3, "status")
	// Nothing the runtime leaked reaches the exec stage: mark it all
	// close-on-exec. Closing it instead would also close the descriptors
	// this process's own Go runtime opened by now (its netpoller's epoll
	// fd among them), which made the supervisor crash now and then.
	_ = cloexecFrom(4)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return report(status, launchStatus{Error: "cannot become a subreaper: " + err.Error()})
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	errR, errW, err := os.Pipe()
	if err != nil {
		return report(status, launchStatus{Error: err.Error()})
	}
	pid, err := syscall.ForkExec(selfExe, []string{launcherArg0, modeExec, os.Args[2]}, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2, errW.Fd()},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	errW.Close()
	if err != nil {
		return report(status, launchStatus{Error: err.Error()})
	}
	var mu sync.Mutex
	reaped := false
	go func() {
		for range term {
			mu.Lock()
			if !reaped {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			mu.Unlock()
		}
	}()
	execErr, _ := io.ReadAll(errR) // EOF on a successful execve (close-on-exec)
	var ws syscall.WaitStatus
	for {
		var w syscall.WaitStatus
		got, err := syscall.Wait4(-1, &w, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || got == pid {
			mu.Lock()
			ws, reaped = w, true
			mu.Unlock()
			break
		}
	}
	killDescendants()
	switch {
	case len(execErr) > 0:
		return report(status, launchStatus{Error: string(execErr)})
	case ws.Signaled():
		return report(status, launchStatus{Code: -1, Signal: int(ws.Signal())})
	}
	return report(status, launchStatus{Code: ws.ExitStatus()})
}

func report(status *os.File, st launchStatus) int {
	b, _ := json.Marshal(&st)
	_, _ = status.Write(b)
	_ = status.Close()
	return 0
}

// killDescendants SIGKILLs every descendant of this process and reaps
// its children until none is left. A subreaper inherits every orphan
// below it, so the loop ends with the whole tree gone; a process the
// kernel holds in uninterruptible sleep keeps it waiting until it dies.
func killDescendants() {
	self := os.Getpid()
	for {
		for _, p := range descendants(self) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		n := 0
		for {
			got, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.ECHILD {
				return
			}
			if err != nil || got <= 0 {
				break
			}
			n++
		}
		if n == 0 { // children remain, none exited yet: wait for one
			if _, err := syscall.Wait4(-1, nil, 0, nil); err == syscall.ECHILD {
				return
			}
		}
	}
}

// descendants lists the processes below pid, from /proc (this kernel
// may lack /proc/PID/task/TID/children).
func descendants(pid int) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	kids := map[int][]int{}
	for _, name := range names {
		p, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			kids[pp] = append(kids[pp], p)
		}
	}
	var out []int
	for q := []int{pid}; len(q) > 0; q = q[1:] {
		for _, c := range kids[q[0]] {
			out = append(out, c)
			q = append(q, c)
		}
	}
	return out
}

// execStage confines this process and executes the binary; it returns
// only by exiting, reporting a failure on fd 3 (close-on-exec, so a
// successful execve closes it with nothing written).
func execStage(spec *launchSpec) {
	runtime.LockOSThread() // no_new_privs and Landlock are per thread: this one executes
	fail := func(what string, err error) {
		f := os.NewFile(3, "exec-error")
		_, _ = f.WriteString(what + ": " + errText(err))
		os.Exit(127)
	}
	if spec.RunAs {
		if err := syscall.Setgroups(spec.Groups); err != nil {
			fail("setgroups", err)
		}
		if err := syscall.Setresgid(spec.GID, spec.GID, spec.GID); err != nil {
			fail("setresgid", err)
		}
		if err := syscall.Setresuid(spec.UID, spec.UID, spec.UID); err != nil {
			fail("setresuid", err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("no_new_privs", err)
	}
	if spec.Landlock && LandlockABI() > 0 {
		if err := landlockRestrict(spec.Read, spec.Write); err != nil {
			fail("landlock", err)
		}
	}
	if err := cloexecFrom(3); err != nil {
		fail("close-on-exec", err)
	}
	for _, l := range spec.Limits {
		if err := syscall.Setrlimit(l.Res, &syscall.Rlimit{Cur: l.Val, Max: l.Val}); err != nil {
			fail("setrlimit "+strconv.Itoa(l.Res), err)
		}
	}
	err := syscall.Exec(spec.Path, spec.Argv, os.Environ())
	fail("exec", err)
}

// cloexecFrom marks every descriptor from fd up close-on-exec.
func cloexecFrom(fd int) error {
	if err := unix.CloseRange(uint(fd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return err
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if f, err := strconv.Atoi(n); err == nil && f >= fd {
			_, _ = unix.FcntlInt(uintptr(f), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}

// LandlockABI returns the Landlock ABI version the kernel offers, or 0
// when it offers none (too old, or disabled at boot).
func LandlockABI() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
}

// Landlock access rights, by the ABI that introduced them.
const (
	llRead      = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	llFileOnly  = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	llABI1      = 1<<13 - 1 // EXECUTE … MAKE_SYM
	llABI2Refer = unix.LANDLOCK_ACCESS_FS_REFER
	llABI3Trunc = unix.LANDLOCK_ACCESS_FS_TRUNCATE
	llABI5Ioctl = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
)

// landlockRestrict confines this thread (and what it executes) to read
// beneath read and everything beneath write. With ABI 6 and later it also
// scopes signals and abstract unix sockets: the process cannot signal the
// runtime or connect to its abstract sockets.
func landlockRestrict(read, write []string) error {
	abi := LandlockABI()
	handled := uint64(llABI1)
	if abi >= 2 {
		handled |= llABI2Refer
	}
	if abi >= 3 {
		handled |= llABI3Trunc
	}
	if abi >= 5 {
		handled |= llABI5Ioctl
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handled}
	size := unsafe.Offsetof(attr.Scoped)
	if abi >= 6 {
		attr.Scoped = unix.LANDLOCK_SCOPE_SIGNAL | unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
		size = unsafe.Offsetof(attr.Quiet_access_fs)
	}
	rfd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return e
	}
	defer unix.Close(int(rfd))
	add := func(p string, rights uint64) error {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return errors.New(p + ": " + err.Error())
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			rights &= llFileOnly
		}
		rule := unix.LandlockPathBeneathAttr{Allowed_access: rights & handled, Parent_fd: int32(fd)}
		if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rfd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); e != 0 {
			return errors.New(p + ": " + e.Error())
		}
		return nil
	}
	for _, p := range read {
		if err := add(p, llRead); err != nil {
			return err
		}
	}
	for _, p := range write {
		if err := add(p, handled); err != nil {
			return err
		}
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rfd, 0, 0); e != 0 {
		return e
	}
	return nil
}

func (s *Shell) confinementText() (string, bool) {
	parts := []string{"launcher (subreaper per call, parent-death signal, no_new_privs, fds 0-2 only)"}
	if len(s.conf.Limits) > 0 {
		parts = append(parts, "resource limits")
	}
	if s.conf.RunAs {
		parts = append(parts, "run_as uid "+strconv.Itoa(s.conf.UID))
	}
	switch abi := LandlockABI(); {
	case !s.conf.Landlock:
		parts = append(parts, "Landlock disabled by configuration")
	case abi == 0:
		return strings.Join(parts, ", ") + "; the kernel offers no Landlock: shell processes are NOT confined to paths", true
	default:
		parts = append(parts, "Landlock ABI "+strconv.Itoa(abi))
	}
	return strings.Join(parts, ", "), false
}
