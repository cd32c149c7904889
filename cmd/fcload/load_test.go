package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
)

// runFcload runs the command line in process.
func runFcload(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(args, &o, &e)
	return o.String(), e.String(), err
}

func readReport(t *testing.T, path string) *perf.Report {
	t.Helper()
	r, err := perf.ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkReport asserts what every report keeps, whatever happened.
func checkReport(t *testing.T, r *perf.Report) {
	t.Helper()
	if r.Schema != perf.ResultSchema || r.Name == "" || r.Environment.GoVersion == "" || len(r.Workload.Mix) == 0 || len(r.Runs) == 0 {
		t.Fatalf("report: %+v", r)
	}
	for i, run := range r.Runs {
		if run.OK+run.Errors != run.Sent+run.NotSent {
			t.Errorf("run %d: ok %d + errors %d != sent %d + not sent %d", i, run.OK, run.Errors, run.Sent, run.NotSent)
		}
		var sum int64
		for _, n := range run.ByCategory {
			sum += n
		}
		if sum != run.Errors {
			t.Errorf("run %d: categories %v add up to %d, want %d", i, run.ByCategory, sum, run.Errors)
		}
		if run.OK == 0 && run.Throughput != 0 || run.OK > 0 && run.Throughput != float64(run.OK)/run.Window.Seconds() {
			t.Errorf("run %d: throughput %v for %d OK over %v", i, run.Throughput, run.OK, run.Window)
		}
	}
}

// TestInprocMix: a mixed run in process passes, counts every entry,
// and reports the process, the stages and the machine.
func TestInprocMix(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runFcload(t, "-target", "inproc", "-journal", "none", "-mix", "noop=4,echo-64=1,denied=1,malformed=1,slow=1",
		"-n", "160", "-workers", "4", "-warmup", "0", "-slow-delay", "1ms", "-json", filepath.Join(dir, "r.json"), "-bench", "-count", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := readReport(t, filepath.Join(dir, "r.json"))
	checkReport(t, r)
	if len(r.Runs) != 2 || r.Failure != "" {
		t.Fatalf("runs %d failure %q", len(r.Runs), r.Failure)
	}
	for _, run := range r.Runs {
		if run.OK != 160 || run.Errors != 0 || run.PerMix["noop"].OK != 80 || run.PerMix["slow"].OK != 20 || run.PerMix["malformed"].OK != 20 {
			t.Fatalf("run: ok %d errors %d %v per mix %+v", run.OK, run.Errors, run.ByCategory, run.PerMix)
		}
	}
	if s := r.Server; s == nil || s.PID != os.Getpid() || s.StagesScope != "phases" || s.Stages["validate"].Count == 0 {
		t.Fatalf("server %+v", r.Server)
	}
	if runtime.GOOS == "linux" && (r.Server.ResourceScope != "self" || r.Server.RSSEndBytes == 0) {
		t.Fatalf("server resources %+v", r.Server)
	}
	if !strings.Contains(r.Name, "/mix=noop:4+echo-64:1+denied:1+malformed:1+slow:1") {
		t.Fatalf("name %q", r.Name)
	}
	configLine := regexp.MustCompile(`^[a-z][^\s:A-Z]*:\s`)
	bench := 0
	for line := range strings.Lines(out) {
		if configLine.MatchString(line) {
			t.Errorf("stdout line %q reads as a benchstat configuration line", line)
		}
		if strings.HasPrefix(line, "Benchmark"+r.Name+"\t160\t") {
			bench++
		}
	}
	if bench != 2 || !strings.Contains(out, "p99.99") {
		t.Fatalf("%d benchmark lines, want 2:\n%s", bench, out)
	}
}

// TestAllFailing: a run in which no request succeeds exits non-zero and
// prints no throughput; -check refuses to start it at all.
func TestAllFailing(t *testing.T) {
	dir := t.TempDir()
	denied := `{"tool_call":{"tool":"shell","args":{"bin":"rm"}}}`
	out, _, err := runFcload(t, "-target", "inproc", "-journal", "none", "-msg", denied, "-check=false", "-n", "50", "-warmup", "0",
		"-json", filepath.Join(dir, "r.json"), "-bench")
	var f runFailed
	if !errors.As(err, &f) || !strings.Contains(err.Error(), "no request succeeded") || exitStatus(err, &bytes.Buffer{}) != 1 {
		t.Fatalf("err %v (status %d)", err, exitStatus(err, &bytes.Buffer{}))
	}
	if strings.Contains(out, "exec/s") || !strings.Contains(out, "rate      none") || !strings.Contains(out, "no result") {
		t.Fatalf("a run without successes printed a throughput:\n%s", out)
	}
	r := readReport(t, filepath.Join(dir, "r.json"))
	checkReport(t, r)
	if run := r.Runs[0]; run.OK != 0 || run.Errors != 50 || run.ByCategory[perf.CategoryUnexpectedAnswer] != 50 || r.Failure == "" {
		t.Fatalf("run %+v, failure %q", run, r.Failure)
	}
	_, _, err = runFcload(t, "-target", "inproc", "-journal", "none", "-msg", denied, "-n", "50")
	if err == nil || !strings.Contains(err.Error(), "-check: mix entry msg") || !strings.Contains(err.Error(), "DENIED_CAPABILITY_DISABLED") {
		t.Fatalf("-check: %v", err)
	}
	// -expect says what the message must get.
	if _, _, err = runFcload(t, "-target", "inproc", "-journal", "none", "-msg", denied, "-expect", "deny", "-n", "50", "-warmup", "0"); err != nil {
		t.Fatalf("-expect deny: %v", err)
	}
}

// TestMaxErrorRate: errors up to -max-error-rate pass, above fail.
func TestMaxErrorRate(t *testing.T) {
	args := []string{"-target", "inproc", "-journal", "none", "-mix", "noop=3,msg=1", "-msg", `{"tool_call":{"tool":"shell","args":{"bin":"rm"}}}`,
		"-check=false", "-n", "400", "-workers", "1", "-warmup", "0"}
	if _, _, err := runFcload(t, append(args, "-max-error-rate", "0.25")...); err != nil {
		t.Fatalf("25%% errors with -max-error-rate 0.25: %v", err)
	}
	if _, _, err := runFcload(t, append(args, "-max-error-rate", "0.2")...); err == nil || !strings.Contains(err.Error(), "above -max-error-rate 0.2") {
		t.Fatalf("25%% errors with -max-error-rate 0.2: %v", err)
	}
}

func TestUsage(t *testing.T) {
	out, _, err := runFcload(t, "-h")
	if !errors.Is(err, flag.ErrHelp) || exitStatus(err, &bytes.Buffer{}) != 0 {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"Examples:", "-max-error-rate", "-mix", "-rate", "-json", "-bench", "-progress", "coordinated omission", "allowed_bins: [sleep]"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"compar"}, `unknown subcommand "compar"`},
		{[]string{"-workers", "0"}, "-workers 0"},
		{[]string{"-max-error-rate", "2"}, "fraction from 0 to 1"},
		{[]string{"-stream", "-timeout", "1s"}, "not with -stream"},
		{[]string{"-mix", "nop"}, `did you mean "noop"`},
		{[]string{"-frames", "pipe"}, "ring or socket"},
		{[]string{"-journal", "never"}, "always, interval or none"},
		{[]string{"-d", "1s", "extra"}, "unexpected argument"},
	} {
		_, _, err := runFcload(t, c.args...)
		var stderr bytes.Buffer
		if err == nil || !strings.Contains(err.Error(), c.want) || exitStatus(err, &stderr) != 2 || !strings.Contains(stderr.String(), "fcload -h") {
			t.Errorf("%q: %v (status %d), want a usage error with %q", c.args, err, exitStatus(err, &bytes.Buffer{}), c.want)
		}
	}
}

// TestRemoteSlowEntry: the slow entry of the server targets runs with the
// configuration the help and the check's hint give (shell allowing
// sleep, and the policy rule), and is denied by the default one.
func TestRemoteSlowEntry(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("shell runs on linux and darwin")
	}
	calls, err := perf.ParseMix("slow", perf.MixOptions{Slow: remoteSlowMessage(2 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(shell capability.BuiltinConfig, settings map[string]capability.Settings, pol *policy.Policy) error {
		caps, err := capability.Builtins(shell)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := capability.NewRegistry(caps, settings)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := pipeline.Open(pipeline.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, reg, pol)
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Shutdown(context.Background())
		return calls[0].Check(rt.Execute(context.Background(), &pipeline.Request{Message: calls[0].Message, Principal: "agent", Transport: "inproc"}))
	}
	if err := exec(capability.BuiltinConfig{}, nil, policy.Default()); perf.CategoryOf(err) != perf.CategoryUnexpectedAnswer {
		t.Fatalf("default server: %v", err)
	}
	hint := checkHint("slow", false)
	rule := hint[strings.Index(hint, "{id:") : strings.Index(hint, "}}} ")+3]
	pol, err := policy.Parse([]byte("version: 1\ndefault: deny\nrules:\n  - " + rule + "\n"))
	if err != nil {
		t.Fatalf("the hint's rule %q: %v", rule, err)
	}
	err = exec(capability.BuiltinConfig{Shell: capability.ShellConfig{AllowedBins: []string{"sleep"}}},
		map[string]capability.Settings{"shell": {Enabled: true}}, pol)
	if err != nil {
		t.Fatalf("configured as the hint says: %v", err)
	}
}
