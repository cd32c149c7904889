package capability

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// ShellConfig configures the shell capability. The zero value allows no
// binary, so every call is refused.
type ShellConfig struct {
	// AllowedBins lists the binaries a call may name, as bare names
	// (looked up at load in the PATH of Env, absolute directories only)
	// or absolute paths. Each is resolved to an absolute path once, when
	// the capability is built; a call's "bin" must equal an entry as
	// written or its resolved path. A binary not listed is refused even if
	// the policy allowed it. If empty, every call is refused.
	AllowedBins []string
	// Dir is the working directory of every process. It must be an
	// absolute path to a directory. If empty, defaults to "/".
	Dir string
	// Env is the complete environment of every process, as KEY=value
	// entries; nothing is inherited from the runtime. If nil, defaults to
	// PATH=/usr/bin:/bin and LANG=C. A non-nil empty slice means an empty
	// environment.
	Env []string
	// MaxOutputBytes caps stdout and stderr, each. Output beyond it is
	// read and dropped; the result carries a truncation marker and
	// "truncated": true. If zero, defaults to 32 KiB.
	MaxOutputBytes int
	// Limits are the resource limits of every process (Linux).
	Limits ShellLimits
	// Landlock confines every process to paths (Linux, where the kernel
	// offers Landlock).
	Landlock LandlockConfig
	// RunAs, if set, is the user (name or numeric uid) every process runs
	// as, with that user's groups (Linux). It needs the runtime to run as
	// root, unless it names the runtime's own user.
	RunAs string
}

// Shell defaults.
const (
	DefaultShellPath      = "/usr/bin:/bin"
	DefaultMaxOutputBytes = 32 << 10
	shellWaitDelay        = time.Second
)

// Shell is the "shell" capability: it runs one allowlisted binary with an
// argv, never through a shell. Safe for concurrent use.
//
// It runs every process in a process group of its own and kills the group
// when the call ends, so nothing a call started outlives it. That needs
// POSIX process groups and a way to wait for the leader without reaping it
// (waitid on Linux, kqueue on macOS): on other platforms (Windows, the
// other Unix systems) the capability can be built and registered but not
// enabled — NewRegistry refuses Settings.Enabled for it, naming the
// platform, and Execute refuses every call.
type Shell struct {
	bins   map[string]string // accepted "bin" value -> absolute path
	names  map[string]string // absolute path -> the bare name PATH resolves to it
	dir    string
	env    []string
	maxOut int
	conf   launchSpec // confinement template (shell_confine.go)
}

// NewShell builds the shell capability, resolving every allowlisted
// binary. The error (CONFIGURATION_ERROR) names the entry that is not an
// executable regular file, a relative path, an invalid environment entry
// or a working directory that is not a directory.
func NewShell(cfg ShellConfig) (*Shell, error) {
	s := &Shell{bins: map[string]string{}, names: map[string]string{}, dir: cfg.Dir, maxOut: cfg.MaxOutputBytes}
	if s.dir == "" {
		s.dir = "/"
	}
	if !filepath.IsAbs(s.dir) {
		return nil, cfgErr("shell: working directory " + strconv.Quote(s.dir) + " is not absolute")
	}
	if st, err := os.Stat(s.dir); err != nil || !st.IsDir() {
		return nil, cfgErr("shell: working directory " + strconv.Quote(s.dir) + " is not a directory")
	}
	if s.maxOut == 0 {
		s.maxOut = DefaultMaxOutputBytes
	}
	if s.maxOut < 0 {
		return nil, cfgErr("shell: max output bytes is negative")
	}
	conf, why := confinement(cfg)
	if why != "" {
		return nil, cfgErr("shell: " + why)
	}
	s.conf = conf
	if cfg.Env == nil {
		s.env = []string{"PATH=" + DefaultShellPath, "LANG=C"}
	} else {
		s.env = make([]string, 0, len(cfg.Env))
		for _, kv := range cfg.Env {
			if i := strings.IndexByte(kv, '='); i <= 0 || strings.IndexByte(kv, 0) >= 0 {
				return nil, cfgErr("shell: environment entry " + strconv.Quote(kv) + " is not KEY=value")
			}
			s.env = append(s.env, kv)
		}
	}
	path := DefaultShellPath
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, b := range cfg.AllowedBins {
		abs, err := resolveBin(b, path)
		if err != "" {
			return nil, cfgErr("shell: allowed binary " + strconv.Quote(b) + ": " + err)
		}
		s.bins[b] = abs
		s.bins[abs] = abs
		if base := filepath.Base(abs); !strings.Contains(b, "/") {
			s.names[abs] = b
		} else if p, err := resolveBin(base, path); err == "" && p == abs {
			s.names[abs] = base
		}
	}
	return s, nil
}

// resolveBin resolves an allowlist entry to the absolute path of an
// executable regular file.
func resolveBin(name, pathList string) (string, string) {
	if name == "" || name == "." || name == ".." || strings.IndexByte(name, 0) >= 0 {
		return "", "invalid name"
	}
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) || filepath.Clean(name) != name {
			return "", "a path must be absolute and clean"
		}
		if !isExecutable(name) {
			return "", "not an executable regular file"
		}
		return name, ""
	}
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue // relative PATH entries are never searched
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, ""
		}
	}
	return "", "not found in " + pathList
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func (*Shell) Name() string    { return "shell" }
func (*Shell) Version() string { return "1.0.0" }
func (*Shell) Description() string {
	return "Runs an allowlisted binary with an argument vector (no shell), a scrubbed environment, a timeout and output caps."
}
func (*Shell) Schema() []byte {
	return []byte(`{"type":"object","properties":{` +
		`"bin":{"type":"string","minLength":1,"maxLength":4096},` +
		`"argv":{"type":"array","maxItems":16,"items":{"type":"string","maxLength":256}}},` +
		`"required":["bin"],"additionalProperties":false}`)
}
func (*Shell) Effects() Effects { return EffectsWrite }

// Bins returns the allowlist as resolved: accepted "bin" value to
// absolute path.
func (s *Shell) Bins() map[string]string {
	out := make(map[string]string, len(s.bins))
	for k, v := range s.bins {
		out[k] = v
	}
	return out
}

// Canonicalize implements Canonicalizer: "bin" becomes the absolute path
// the process will execute (the allowlist's resolution), and Alt spells it
// as the bare name when PATH resolves that name to the same file, so a
// rule written for "git" and one written for "/usr/bin/git" both match
// either spelling of the call. argv is unchanged. A bin that is not
// allowlisted has no canonical form (Execute refuses it).
func (s *Shell) Canonicalize(args protocol.Value) (Canonical, error) {
	bin := args.Get("bin").Str()
	path, ok := s.bins[bin]
	if !ok {
		return Canonical{}, newErr(ErrAuthorization, "shell: binary "+quoteShort(bin)+" is not allowlisted")
	}
	b := make([]byte, 0, len(args.Raw())+len(path))
	b = append(b, `{"bin":`...)
	b = protocol.AppendString(b, path)
	if argv := args.Get("argv"); argv.Exists() {
		b = append(b, `,"argv":`...)
		b = argv.AppendJSON(b)
	}
	c := Canonical{Args: append(b, '}')}
	if name, ok := s.names[path]; ok {
		c.Alt = protocol.AppendString(append(make([]byte, 0, len(name)+10), `{"bin":`...), name)
		c.Alt = append(c.Alt, '}')
	}
	return c, nil
}

// Execute runs the binary. The result is
// {"exit_code":N,"stdout":…,"stderr":…,"truncated":bool} (plus
// "signal" when a signal ended the process). A non-zero exit returns the
// result and an ExecutionError; a deadline kills the whole process group
// and returns the partial result and a Timeout error.
func (s *Shell) Execute(ctx context.Context, req *Request) ([]byte, error) {
	if why := s.unavailable(); why != "" {
		return nil, newErr(ErrEnvironment, "shell: not available on "+runtime.GOOS+": "+why)
	}
	if len(s.bins) == 0 {
		return nil, newErr(ErrEnvironment, "shell: no binary is allowlisted")
	}
	binV := req.Args.Get("bin")
	if binV.Kind() != protocol.KindString {
		return nil, newErr(ErrArgument, "shell: bin must be a string")
	}
	bin := binV.Str()
	path, ok := s.bins[bin]
	if !ok {
		return nil, newErr(ErrAuthorization, "shell: binary "+quoteShort(bin)+" is not allowlisted")
	}
	argvV := req.Args.Get("argv")
	argv := make([]string, 1, 1+argvV.Len())
	argv[0] = path
	for it := argvV.First(); it.Exists(); it = it.Next() {
		if it.Kind() != protocol.KindString {
			return nil, newErr(ErrArgument, "shell: argv items must be strings")
		}
		if strings.IndexByte(it.Str(), 0) >= 0 {
			return nil, newErr(ErrArgument, "shell: argv items must not contain NUL")
		}
		argv = append(argv, it.Str())
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(err)
	}
	stdout := &capBuffer{max: s.maxOut}
	stderr := &capBuffer{max: s.maxOut}
	st, err := s.run(ctx, path, argv, stdout, stderr)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, ctxErr(cerr)
		}
		return nil, newErr(ErrEnvironment, "shell: cannot start "+quoteShort(bin)+": "+errText(err))
	}
	res := s.result(st, stdout, stderr)
	if cerr := ctx.Err(); cerr != nil {
		return res, ctxErr(cerr)
	}
	switch {
	case st.signal != 0:
		return res, newErr(ErrExecution, "shell: killed by signal "+st.signal.String())
	case st.code != 0:
		return res, newErr(ErrExecution, "shell: exit status "+strconv.Itoa(st.code))
	case st.err != "":
		return res, newErr(ErrExecution, "shell: "+st.err)
	}
	return res, nil
}

// exitStatus is how a call's process ended: an exit code, or the signal
// that killed it (code -1), or err when that is unknown.
type exitStatus struct {
	code   int
	signal syscall.Signal
	err    string
}

// runGroup runs argv (argv[0] is path, the binary executed) in a process
// group of its own and kills the group when the call ends. It is the
// whole runner where no launcher exists (macOS), and the launcher's
// outer layer on Linux.
func runGroup(ctx context.Context, cmd *exec.Cmd) (exitStatus, error) {
	cmd.Stdin = nil // /dev/null
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = groupAttr()
	}
	if cmd.Cancel == nil {
		cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	}
	cmd.WaitDelay = shellWaitDelay
	if err := cmd.Start(); err != nil {
		return exitStatus{}, err
	}
	pid := cmd.Process.Pid
	// Wait for the leader to exit without reaping it: while it is a
	// zombie its pid, and so its process group id, cannot be reused, so
	// killing the group cannot hit an unrelated process. Then kill the
	// group: nothing the call started outlives it in its group.
	if waitExitedNoReap(pid) {
		_ = killGroup(pid)
	}
	werr := cmd.Wait()
	st := exitStatus{code: -1}
	if ps := cmd.ProcessState; ps != nil {
		st.code = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			st.signal = ws.Signal()
		}
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		st.err = errText(werr)
	}
	return st, nil
}

func (s *Shell) result(st exitStatus, stdout, stderr *capBuffer) []byte {
	code := st.code
	signal := ""
	if st.signal != 0 {
		code = -1
		signal = signalName(st.signal)
	}
	b := make([]byte, 0, len(stdout.buf)+len(stderr.buf)+128)
	b = append(b, `{"exit_code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	if signal != "" {
		b = append(b, `,"signal":`...)
		b = protocol.AppendString(b, signal)
	}
	b = append(b, `,"stdout":`...)
	b = protocol.AppendString(b, stdout.text())
	b = append(b, `,"stderr":`...)
	b = protocol.AppendString(b, stderr.text())
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, stdout.dropped > 0 || stderr.dropped > 0)
	return append(b, '}')
}

// capBuffer keeps the first max bytes written to it and counts the rest.
// Each instance is written by one goroutine (os/exec's copier).
type capBuffer struct {
	buf     []byte
	max     int
	dropped int64
}

func (c *capBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.max - len(c.buf); room > 0 {
		take := min(room, len(p))
		c.buf = append(c.buf, p[:take]...)
		p = p[take:]
	}
	c.dropped += int64(len(p))
	return n, nil
}

// TruncationMarker starts the line appended to truncated output.
const TruncationMarker = "\n[femtoclaw: output truncated, "

// text returns the kept output, with a marker when some was dropped.
func (c *capBuffer) text() string {
	if c.dropped == 0 {
		return string(c.buf)
	}
	kept := trimPartialRune(c.buf)
	dropped := c.dropped + int64(len(c.buf)-len(kept))
	return string(kept) + TruncationMarker + strconv.FormatInt(dropped, 10) + " more bytes dropped]"
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

func ctxErr(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return newErr(ErrTimeout, "deadline exceeded; the work was stopped")
	}
	return newErr(ErrExecution, "canceled: "+err.Error())
}

// errText is err's text with the noisy *PathError prefix kept short.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// quoteShort quotes an untrusted string for an error message, cut at 80 bytes.
func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}
