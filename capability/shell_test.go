package capability

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// shellResult is the decoded result of a shell call.
type shellResult struct {
	exitCode       int64
	stdout, stderr string
	truncated      bool
	signal         string
}

func parseShellResult(t *testing.T, res []byte) shellResult {
	t.Helper()
	v, err := protocol.ParseValue(res, protocol.Limits{})
	if err != nil {
		t.Fatalf("result %s is not valid JSON: %v", res, err)
	}
	code, ok := v.Get("exit_code").Int()
	if !ok {
		t.Fatalf("result %s: no exit_code", res)
	}
	return shellResult{code, v.Get("stdout").Str(), v.Get("stderr").Str(), v.Get("truncated").Bool(), v.Get("signal").Str()}
}

func newShell(t *testing.T, cfg ShellConfig) *Shell {
	t.Helper()
	s, err := NewShell(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runShell validates args against the shell schema (as the registry
// would) and executes them.
func runShell(t *testing.T, ctx context.Context, s *Shell, args string) ([]byte, error) {
	t.Helper()
	v := mustValue(t, args)
	if err := mustSchema(t, string(s.Schema())).Validate(v); err != nil {
		t.Fatalf("args %s: %v", args, err)
	}
	return s.Execute(ctx, &Request{ExecutionID: "exec-test", Principal: "tester", Args: v})
}

func jsonArgs(bin string, argv ...string) string {
	b := []byte(`{"bin":`)
	b = protocol.AppendString(b, bin)
	b = append(b, `,"argv":[`...)
	for i, a := range argv {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, a)
	}
	return string(append(b, ']', '}'))
}

func TestShellRunsAllowedBin(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"echo"}})
	if got := s.Bins()["echo"]; got != "/usr/bin/echo" && got != "/bin/echo" {
		t.Fatalf("echo resolved to %q", got)
	}
	for _, bin := range []string{"echo", s.Bins()["echo"]} {
		res, err := runShell(t, context.Background(), s, jsonArgs(bin, "hello", "world"))
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		r := parseShellResult(t, res)
		if r.exitCode != 0 || r.stdout != "hello world\n" || r.stderr != "" || r.truncated {
			t.Errorf("%s: result %s", bin, res)
		}
	}
}

func TestShellArgvInjectionIsLiteral(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"echo"}})
	attempts := []string{"; rm -rf /", "$(id)", "`id`", "&& id", "| id", "$HOME", "'", `"`, "\nid", "*", "> /tmp/x", "${IFS}id"}
	res, err := runShell(t, context.Background(), s, jsonArgs("echo", attempts...))
	if err != nil {
		t.Fatal(err)
	}
	r := parseShellResult(t, res)
	if want := strings.Join(attempts, " ") + "\n"; r.stdout != want {
		t.Errorf("stdout = %q, want the arguments verbatim %q", r.stdout, want)
	}
}

func TestShellBinInjectionRefused(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"echo"}})
	for _, bin := range []string{
		"sh", "/bin/sh", "/bin/sh -c", "echo;id", "echo id", "echo\nid", "./echo", "../bin/echo", "bin/echo",
		"usr/bin/echo", "/usr/bin/../bin/echo", "//usr/bin/echo", "/usr/bin/echo/", "ECHO", " echo", "echo ", "$(echo)", "`echo`",
	} {
		_, err := runShell(t, context.Background(), s, jsonArgs(bin, "x"))
		if !errors.Is(err, &Error{Type: ErrAuthorization}) || !strings.Contains(err.Error(), "not allowlisted") {
			t.Errorf("bin %q: err = %v, want a not-allowlisted AuthorizationError", bin, err)
		}
	}
	// An unconfigured shell refuses everything.
	empty := newShell(t, ShellConfig{})
	if _, err := runShell(t, context.Background(), empty, jsonArgs("echo")); !errors.Is(err, &Error{Type: ErrEnvironment}) {
		t.Errorf("empty allowlist: %v", err)
	}
}

func TestShellConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  ShellConfig
		want string
	}{
		{ShellConfig{AllowedBins: []string{"./echo"}}, "absolute and clean"},
		{ShellConfig{AllowedBins: []string{"bin/echo"}}, "absolute and clean"},
		{ShellConfig{AllowedBins: []string{"../bin/echo"}}, "absolute and clean"},
		{ShellConfig{AllowedBins: []string{"/usr/bin/../bin/echo"}}, "absolute and clean"},
		{ShellConfig{AllowedBins: []string{"echo;id"}}, "not found"},
		{ShellConfig{AllowedBins: []string{"/bin/sh -c"}}, "not an executable"},
		{ShellConfig{AllowedBins: []string{"/etc/passwd"}}, "not an executable"},
		{ShellConfig{AllowedBins: []string{"/usr/bin"}}, "not an executable"},
		{ShellConfig{AllowedBins: []string{".."}}, "invalid name"},
		{ShellConfig{AllowedBins: []string{"echo"}, Env: []string{"PATH=relative/dir"}}, "not found"},
		{ShellConfig{Env: []string{"NOEQUALS"}}, "not KEY=value"},
		{ShellConfig{Env: []string{"=x"}}, "not KEY=value"},
		{ShellConfig{Dir: "relative"}, "not absolute"},
		{ShellConfig{Dir: "/nonexistent/dir"}, "not a directory"},
		{ShellConfig{MaxOutputBytes: -1}, "negative"},
	} {
		_, err := NewShell(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, protocol.ErrConfiguration) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := Builtins(BuiltinConfig{Shell: ShellConfig{AllowedBins: []string{"no-such-binary-xyz"}}}); err == nil {
		t.Error("Builtins accepted an unresolvable binary")
	}
}

func TestShellScrubbedEnvironment(t *testing.T) {
	t.Setenv("FEMTOCLAW_TEST_SECRET", "leak")
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, "PATH=/usr/bin:/bin\nLANG=C\n"},
		{[]string{"PATH=/usr/bin", "TZ=UTC", "A=b=c"}, "PATH=/usr/bin\nTZ=UTC\nA=b=c\n"},
		{[]string{}, ""},
	} {
		s := newShell(t, ShellConfig{AllowedBins: []string{"/usr/bin/env"}, Env: c.env, Dir: t.TempDir()})
		res, err := runShell(t, context.Background(), s, jsonArgs("/usr/bin/env"))
		if err != nil {
			t.Fatalf("env %q: %v", c.env, err)
		}
		if r := parseShellResult(t, res); r.stdout != c.want {
			t.Errorf("env %q: child environment %q, want exactly %q", c.env, r.stdout, c.want)
		}
	}
}

func TestShellDirAndStdin(t *testing.T) {
	dir := t.TempDir()
	s := newShell(t, ShellConfig{AllowedBins: []string{"pwd", "cat"}, Dir: dir})
	res, err := runShell(t, context.Background(), s, jsonArgs("pwd"))
	if err != nil {
		t.Fatal(err)
	}
	if r := parseShellResult(t, res); r.stdout != dir+"\n" {
		t.Errorf("pwd = %q, want %q", r.stdout, dir)
	}
	// cat with no arguments reads stdin: /dev/null ends it at once.
	res, err = runShell(t, context.Background(), s, jsonArgs("cat"))
	if err != nil {
		t.Fatal(err)
	}
	if r := parseShellResult(t, res); r.stdout != "" || r.exitCode != 0 {
		t.Errorf("cat = %s", res)
	}
}

func TestShellNonZeroExit(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}})
	res, err := runShell(t, context.Background(), s, jsonArgs("/bin/sh", "-c", "echo out; echo err >&2; exit 3"))
	if !errors.Is(err, &Error{Type: ErrExecution}) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err = %v, want ExecutionError exit status 3", err)
	}
	r := parseShellResult(t, res)
	if r.exitCode != 3 || r.stdout != "out\n" || r.stderr != "err\n" || r.truncated {
		t.Errorf("result %s", res)
	}
	// Killed by a signal.
	res, err = runShell(t, context.Background(), s, jsonArgs("/bin/sh", "-c", "kill -TERM $$"))
	if !errors.Is(err, &Error{Type: ErrExecution}) || !strings.Contains(err.Error(), "signal") {
		t.Errorf("err = %v", err)
	}
	if r := parseShellResult(t, res); r.exitCode != -1 || r.signal != "SIGTERM" {
		t.Errorf("result %s", res)
	}
}

func TestShellOutputCap(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"seq", "/bin/sh"}, MaxOutputBytes: 1000})
	res, err := runShell(t, context.Background(), s, jsonArgs("seq", "1", "5000"))
	if err != nil {
		t.Fatal(err)
	}
	r := parseShellResult(t, res)
	if !r.truncated {
		t.Fatalf("not truncated: %s", res)
	}
	kept, marker, ok := strings.Cut(r.stdout, TruncationMarker)
	if !ok || len(kept) != 1000 || !strings.HasPrefix(kept, "1\n2\n3\n") {
		t.Fatalf("stdout %q lacks the marker or keeps %d bytes", r.stdout[:min(len(r.stdout), 80)], len(kept))
	}
	total := 0
	for i := 1; i <= 5000; i++ {
		total += len(strconv.Itoa(i)) + 1
	}
	if want := strconv.Itoa(total-1000) + " more bytes dropped]"; marker != want {
		t.Errorf("marker %q, want %q", marker, want)
	}
	// stderr has its own cap; a multi-byte rune cut at the cap is dropped whole.
	res, err = runShell(t, context.Background(), s, jsonArgs("/bin/sh", "-c", "printf 'a%.0s' $(seq 999); printf 'ééé' >&2; printf 'é%.0s' $(seq 600) >&2"))
	if err != nil {
		t.Fatal(err)
	}
	r = parseShellResult(t, res)
	if r.stdout != strings.Repeat("a", 999) {
		t.Errorf("stdout %d bytes", len(r.stdout))
	}
	kept, _, ok = strings.Cut(r.stderr, TruncationMarker)
	if !ok || kept != strings.Repeat("é", 500) || !r.truncated {
		t.Errorf("stderr kept %d bytes, %q", len(kept), r.stderr[len(r.stderr)-60:])
	}
}

// procAlive reports whether pid is a live (non-zombie) process.
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// manualDeadline is a context whose deadline "passes" when expire is
// called, so timeout tests do not depend on how fast a loaded machine
// starts processes.
type manualDeadline struct {
	context.Context
	done chan struct{}
}

func newManualDeadline() *manualDeadline {
	return &manualDeadline{Context: context.Background(), done: make(chan struct{})}
}

func (m *manualDeadline) Done() <-chan struct{} { return m.done }
func (m *manualDeadline) expire()               { close(m.done) }
func (m *manualDeadline) Err() error {
	select {
	case <-m.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// waitFile waits (bounded, no sleeps) until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s never appeared", path)
		}
	}
}

func TestShellTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}, Dir: dir, Landlock: LandlockConfig{Write: []string{dir}}})
	ctx := newManualDeadline()
	type out struct {
		res []byte
		err error
	}
	done := make(chan out, 1)
	args := jsonArgs("/bin/sh", "-c", "sleep 100 & echo $!; sleep 100 & echo $!; sh -c 'sleep 100' & echo $!; echo > ready; wait")
	v := mustValue(t, args)
	go func() {
		res, err := s.Execute(ctx, &Request{Args: v})
		done <- out{res, err}
	}()
	waitFile(t, dir+"/ready")
	start := time.Now()
	ctx.expire()
	o := <-done
	if elapsed := time.Since(start); elapsed > 20*time.Second {
		t.Fatalf("took %v: the group was not killed", elapsed)
	}
	if !errors.Is(o.err, &Error{Type: ErrTimeout}) {
		t.Fatalf("err = %v, want Timeout", o.err)
	}
	r := parseShellResult(t, o.res)
	if r.signal != "SIGKILL" || r.exitCode != -1 {
		t.Errorf("result %s", o.res)
	}
	pids := strings.Fields(r.stdout)
	if len(pids) != 3 {
		t.Fatalf("children pids %q", r.stdout)
	}
	assertDead(t, pids)
}

func TestShellRealDeadline(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"sleep"}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := runShell(t, ctx, s, jsonArgs("sleep", "100")); !errors.Is(err, &Error{Type: ErrTimeout}) {
		t.Fatalf("err = %v, want Timeout", err)
	}
}

func TestShellLeavesNoBackgroundProcess(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"/bin/sh"}})
	// The leader exits at once; its background child holds stdout.
	res, err := runShell(t, context.Background(), s, jsonArgs("/bin/sh", "-c", "sleep 100 & echo $!"))
	if err != nil {
		t.Fatal(err)
	}
	assertDead(t, strings.Fields(parseShellResult(t, res).stdout))
}

func TestShellCanceledBeforeStart(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"echo"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := runShell(t, ctx, s, jsonArgs("echo")); err == nil {
		t.Fatal("ran with a canceled context")
	}
}

// assertDead waits (bounded, no sleeps) until every pid is gone or a zombie.
func assertDead(t *testing.T, pids []string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for _, p := range pids {
		pid, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("pid %q", p)
		}
		for procAlive(pid) {
			select {
			case <-tick.C:
			case <-deadline.C:
				t.Fatalf("process %d survived the kill", pid)
			}
		}
	}
}
