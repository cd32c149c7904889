package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// tablePaths lists every command of the table by its full name.
func tablePaths(prefix []string, cmds []*command) [][]string {
	var out [][]string
	for _, c := range cmds {
		p := append(append([]string(nil), prefix...), c.name)
		out = append(out, p)
		out = append(out, tablePaths(p, c.subs)...)
	}
	return out
}

// TestHelpAtEveryLevel: -h, --help and `help …` print the help of the
// program, of every group and of every leaf on standard output, exit 0,
// and run nothing.
func TestHelpAtEveryLevel(t *testing.T) {
	env := []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut := runCLI(t, env, "", args...)
		if code != 0 || !strings.HasPrefix(out, "usage: femtoclaw <command>") || !strings.Contains(out, "journal tail") || errOut != "" {
			t.Fatalf("%v: %d\n%s\n%s", args, code, out, errOut)
		}
	}
	for _, path := range tablePaths(nil, commands) {
		if path[0] == "policy" && len(path) > 1 {
			continue // policy's subcommands print their own help (policycmd.go)
		}
		want := "usage: femtoclaw " + strings.Join(path, " ")
		for _, args := range [][]string{append(path, "--help"), append(path, "-h"), append([]string{"help"}, path...)} {
			code, out, errOut := runCLI(t, env, "", args...)
			if code != 0 || !strings.HasPrefix(out, want) || errOut != "" {
				t.Errorf("%v: exit %d, want 0 and %q on stdout\nstdout:\n%s\nstderr:\n%s", args, code, want, out, errOut)
			}
		}
	}
	// A group's help lists its subcommands from the table.
	_, out, _ := runCLI(t, nil, "", "policy", "--help")
	for _, s := range commands[slicesIndex(commands, "policy")].subs {
		if !strings.Contains(out, "  "+s.name+"  ") {
			t.Errorf("policy --help does not list %s:\n%s", s.name, out)
		}
	}
	// A leaf's help has its examples and flags.
	_, out, _ = runCLI(t, nil, "", "journal", "tail", "--help")
	for _, want := range []string{"examples:", "femtoclaw journal tail -n 100", "flags:", "  -n N", "  --dir DIR", "  --data-dir DIR"} {
		if !strings.Contains(out, want) {
			t.Errorf("journal tail --help lacks %q:\n%s", want, out)
		}
	}
	// Help runs nothing: no data directory is created for serve --help.
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, _ := runCLI(t, []string{"FEMTOCLAW_DATA_DIR=" + dir}, "", "serve", "--help"); code != 0 {
		t.Fatalf("serve --help: %d", code)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("serve --help created the data directory")
	}
}

func slicesIndex(cmds []*command, name string) int {
	for i, c := range cmds {
		if c.name == name {
			return i
		}
	}
	return -1
}

// TestUsageErrorsExit2: every mistake on the command line exits 2 with a
// message on standard error naming it, and nothing on standard output.
func TestUsageErrorsExit2(t *testing.T) {
	env := []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: femtoclaw <command>"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"journl", "tail"}, `did you mean "journal"`},
		{[]string{"journal"}, "missing command"},
		{[]string{"journal", "tial"}, `did you mean "tail"`},
		{[]string{"journal", "tail", "--capability", "x"}, "unknown flag --capability"},
		{[]string{"journal", "tail", "-n", "many"}, "-n"},
		{[]string{"journal", "tail", "extra"}, `unexpected argument "extra"`},
		{[]string{"journal", "get"}, "missing EXEC_ID"},
		{[]string{"journal", "export", "--from", "yesterday"}, "--from"},
		{[]string{"journal", "verify", "--to-seq", "3"}, "unknown flag --to-seq"},
		{[]string{"stats", "--oncee"}, "did you mean --once?"},
		{[]string{"capabilities", "extra"}, `unexpected argument "extra"`},
		{[]string{"capabilities", "--data-dir", "x"}, "unknown flag --data-dir"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
		{[]string{"--version", "extra"}, "takes no arguments"},
		{[]string{"token"}, "missing command"},
		{[]string{"token", "create"}, "missing --principal"},
		{[]string{"token", "create", "--principal", "mtls:ops"}, "only an mTLS client certificate authenticates"},
		{[]string{"token", "create", "--config", "c.yaml", "--principal", "p"}, "unknown flag --config"},
		{[]string{"exec", "--server", "--principal", "ops", "{}"}, "--principal applies to an in-process execution"},
		{[]string{"exec", "--ipc", "--journal", "{}"}, "--journal applies to an in-process execution"},
		{[]string{"exec", "--pin", "abc", "{}"}, "--pin applies only with --server"},
		{[]string{"exec", "--server", "--ipc", "{}"}, "choose one"},
		{[]string{"exec", "{}", "{}"}, "one message expected"},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"help", "version", "extra"}, `no subcommand "extra"`},
		{[]string{"--config", "c.yaml", "serve"}, "flags go after the command"},
	} {
		code, out, errOut := runCLI(t, env, "", c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, want 2 and %q on stderr\nstdout:\n%s\nstderr:\n%s", c.args, code, c.want, out, errOut)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := runCLI(t, nil, "", "--version")
	_, want, _ := runCLI(t, nil, "", "version")
	if code != 0 || out != want || !strings.HasPrefix(out, "femtoclaw "+version+"\n") {
		t.Fatalf("--version: %d %q, version: %q", code, out, want)
	}
}

// logField returns the string field key of the first log record whose
// msg is msg.
func logField(log, msg, key string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			s, _ := rec[key].(string)
			return s
		}
	}
	return ""
}

// startServe runs serve until the test ends; it returns the log and a
// stop function that returns serve's exit status.
func startServe(t *testing.T, env []string, args ...string) (*lineWaiter, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &lineWaiter{want: "femtoclaw ready", hit: make(chan struct{})}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), io.Discard, w, env)
	}()
	select {
	case <-w.hit:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d before ready:\n%s", code, w.String())
	}
	stopped := false
	stop := func() int {
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return w, stop
}

// TestRunFile: serve describes itself in DATA_DIR/run.json with the
// addresses it bound; exec --server and stats find it there; the file
// goes when serve shuts down, and one left by a dead server is reported
// stale, never trusted.
func TestRunFile(t *testing.T) {
	dir := t.TempDir()
	// A previous server was killed: its run.json is still there.
	runfile.Write(dir, &runfile.Info{PID: 1 << 30, Version: "0.0.1", Started: time.Now().Add(-time.Hour), HTTP3: []string{"127.0.0.1:1"}, Admin: "127.0.0.1:1"})
	w, stop := startServe(t, []string{"FEMTOCLAW_DATA_DIR=" + dir}, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	log := w.String()
	if !strings.Contains(log, "replacing the run.json of a server that did not shut down cleanly") {
		t.Errorf("the stale run.json was replaced silently:\n%s", log)
	}
	info, err := runfile.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	h3, adm, sock := logField(log, "HTTP/3 listening", "addr"), logField(log, "admin listener", "addr"), logField(log, "ring listening", "socket")
	if info.PID != os.Getpid() || info.Version != version || info.DataDir != abs || time.Since(info.Started) > time.Minute ||
		len(info.HTTP3) != 1 || info.HTTP3[0] != h3 || strings.HasSuffix(h3, ":0") || info.Admin != adm || strings.HasSuffix(adm, ":0") {
		t.Fatalf("run.json %+v; log: http3 %s admin %s", info, h3, adm)
	}
	if sock != "" && info.Socket != filepath.Join(abs, "femtoclaw.sock") {
		t.Errorf("run.json socket %q, the ring listens on %q", info.Socket, sock)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	if pin, _ := transport.SPKIPin(blk.Bytes); info.SPKIPin != pin {
		t.Fatalf("run.json pin %q, the certificate's %q", info.SPKIPin, pin)
	}
	// From here the pin can only come from run.json.
	os.Remove(filepath.Join(dir, "tls", "cert.pem"))

	// The client commands read run.json: with the data directory from the
	// environment (the configuration) or from --data-dir.
	msg := `{"tool_call":{"tool":"echo","args":{"text":"found"}}}`
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{"FEMTOCLAW_DATA_DIR=" + dir}, []string{"exec", "--server", msg}},
		{nil, []string{"exec", "--server", "--data-dir", dir, msg}},
		{nil, []string{"exec", "--data-dir", dir, "--server", "https://" + h3, msg}},
		{nil, []string{"exec", "--data-dir", dir, "--server=https://" + h3, msg}},
		{nil, []string{"exec", msg, "--data-dir", dir, "--server", "https://" + h3}},
	} {
		code, out, errOut := runCLI(t, c.env, "", c.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", c.args, code, out, errOut)
		}
		if a := answer(t, out); a.Status != protocol.StatusSuccess || !a.Journal.Durable {
			t.Fatalf("%v: %d %s %s", c.args, code, out, errOut)
		}
	}
	if sock != "" {
		code, out, errOut := runCLI(t, nil, "", "exec", "--ipc", "--data-dir", dir, msg)
		if a := answer(t, out); code != 0 || a.Status != protocol.StatusSuccess {
			t.Fatalf("exec --ipc: %d %s %s", code, out, errOut)
		}
	}
	code, out, errOut := runCLI(t, nil, "", "stats", "--once", "--data-dir", dir)
	for _, want := range []string{"server pid " + strconv.Itoa(os.Getpid()), "version " + version, "admin " + adm, "data dir " + abs, "throughput/s"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("stats does not say %q: %d\n%s\n%s", want, code, out, errOut)
		}
	}

	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, w.String())
	}
	if _, err := os.Stat(runfile.Path(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("run.json outlived serve: %v", err)
	}
	// No server: the client commands say so instead of guessing an address.
	for _, args := range [][]string{{"stats", "--once", "--data-dir", dir}, {"exec", "--server", "--data-dir", dir, msg}} {
		if code, _, errOut := runCLI(t, nil, "", args...); code != 1 || !strings.Contains(errOut, "no server is running on "+dir) {
			t.Errorf("%v without a server: %d %s", args, code, errOut)
		}
	}
	// A killed server's run.json is reported stale, with its pid.
	runfile.Write(dir, &runfile.Info{PID: 1 << 30, Version: "0.0.1", Started: time.Now(), HTTP3: []string{h3}, Admin: adm, SPKIPin: info.SPKIPin})
	for _, args := range [][]string{{"stats", "--once", "--data-dir", dir}, {"exec", "--server", "--data-dir", dir, msg}, {"exec", "--ipc", "--data-dir", dir, msg}} {
		code, _, errOut := runCLI(t, nil, "", args...)
		if code != 1 || !strings.Contains(errOut, "stale") || !strings.Contains(errOut, "process "+strconv.Itoa(1<<30)+" is not running") {
			t.Errorf("%v with a stale run.json: %d %s", args, code, errOut)
		}
	}
}

// TestTokenCreate: the token create prints is accepted by a server
// configured with the entry it prints, for the principal it names; the
// server knows nothing of it without the entry.
func TestTokenCreate(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "", "token", "create", "--principal", "agent-7")
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	tok, snippet, _ := strings.Cut(out, "\n")
	if !regexp.MustCompile(`^fct_[0-9a-f]{64}$`).MatchString(tok) || len(tok) != len(newBearerToken()) {
		t.Fatalf("token %q: not the format serve generates", tok)
	}
	if _, out2, _ := runCLI(t, nil, "", "token", "create", "--principal", "agent-7"); strings.HasPrefix(out2, tok) {
		t.Fatal("two token create printed the same token")
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "femtoclaw.yaml")
	if err := os.WriteFile(cfgFile, []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"FEMTOCLAW_DATA_DIR=" + filepath.Join(dir, "data")}
	_, stop := startServe(t, env, "--config", cfgFile, "--listen", "127.0.0.1:0", "--admin", "off")
	defer stop()
	msg := `{"tool_call":{"tool":"echo","args":{"text":"token"}}}`
	code, out, errOut = runCLI(t, env, "", "exec", "--server", "--token", tok, msg)
	a := answer(t, out)
	if code != 0 || a.Status != protocol.StatusSuccess {
		t.Fatalf("exec with the created token: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, env, "", "journal", "get", a.ExecutionID)
	if code != 0 || !strings.Contains(out, `"principal":"agent-7"`) {
		t.Fatalf("the execution's principal: %d %s %s", code, out, errOut)
	}
	// A token nobody configured is refused.
	_, other, _ := runCLI(t, nil, "", "token", "create", "--principal", "agent-7")
	otherTok, _, _ := strings.Cut(other, "\n")
	code, out, _ = runCLI(t, env, "", "exec", "--server", "--token", otherTok, msg)
	if a := answer(t, out); code != 1 || a.Error == nil || a.Error.Category != protocol.CategorySecurity {
		t.Fatalf("an unconfigured token: %d %s", code, out)
	}
}
