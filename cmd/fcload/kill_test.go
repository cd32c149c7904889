package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// killAt is the execution after which the test servers are shut down:
// few enough to be reached early in any run, on any machine.
const killAt = 30

func newRuntime(t *testing.T) *pipeline.Runtime {
	t.Helper()
	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.NewRegistry(caps, map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Open(pipeline.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, reg, policy.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	return rt
}

// killer is a runtime that shuts its server down (kill) after killAt
// executions, or with hang set, stops answering from then on: a server
// frozen or killed without a word to its clients, as after a SIGKILL
// where nothing tells the client the connection is gone.
type killer struct {
	*pipeline.Runtime
	n      atomic.Int64
	kill   func()
	hang   chan struct{} // closed by the test's cleanup
	killed atomic.Bool
}

// count counts one execution and reports whether it must hang.
func (k *killer) count() bool {
	n := k.n.Add(1)
	if n == killAt {
		k.killed.Store(true)
		if k.hang == nil {
			go k.kill()
		}
	}
	return n >= killAt && k.hang != nil
}

func (k *killer) Execute(ctx context.Context, req *pipeline.Request) *protocol.Answer {
	if k.count() {
		select {
		case <-ctx.Done():
		case <-k.hang:
		}
	}
	return k.Runtime.Execute(ctx, req)
}

func (k *killer) Submit(req *pipeline.Request, done func(*protocol.Answer)) {
	k.count()
	k.Runtime.Submit(req, done)
}

// checkKilled asserts what a run against a server that went away
// mid-run reports: errors by category, a throughput over the window of
// OK answers only, a failed verdict and exit status 1.
func checkKilled(t *testing.T, k *killer, err error, out, reportPath string) {
	t.Helper()
	if !k.killed.Load() {
		t.Fatalf("the server was not shut down during the run (%d executions): %v\n%s", k.n.Load(), err, out)
	}
	var f runFailed
	if !errors.As(err, &f) || exitStatus(err, io.Discard) != 1 {
		t.Fatalf("a run against a server killed mid-run: err %v, status %d\n%s", err, exitStatus(err, io.Discard), out)
	}
	r := readReport(t, reportPath)
	checkReport(t, r)
	run := r.Runs[0]
	if run.Errors == 0 || len(run.ByCategory) == 0 || r.Failure == "" {
		t.Fatalf("no errors reported: %+v\n%s", run, out)
	}
	if run.OK == 0 || run.OK > k.n.Load() {
		t.Fatalf("ok %d, with %d executions on the server", run.OK, k.n.Load())
	}
	if run.Window >= run.Elapsed {
		t.Fatalf("window %v, phase %v: the time the server was gone is credited to the throughput", run.Window, run.Elapsed)
	}
	t.Logf("ok %d, errors %v, window %v of %v", run.OK, run.ByCategory, run.Window, run.Elapsed)
}

// TestServerShutDownMidRun: an HTTP/3 server that goes away during the
// run (its listener closed after killAt executions), or hangs.
func TestServerShutDownMidRun(t *testing.T) {
	for _, mode := range []string{"execute", "stream", "hung"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			k := &killer{Runtime: newRuntime(t)}
			if mode == "hung" {
				k.hang = make(chan struct{})
				t.Cleanup(func() { close(k.hang) })
			}
			srv, err := transport.NewServer(transport.ServerConfig{Addrs: []string{"127.0.0.1:0"}, TLSDir: filepath.Join(dir, "tls"),
				Tokens: []transport.Token{{Principal: "fcload", SHA256: transport.HashToken("tok")}},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			k.kill = func() { srv.Close() }
			t.Cleanup(func() { srv.Close() })
			args := []string{"-target", "https://" + srv.Addrs()[0].String(), "-token", "tok", "-pin", srv.SPKIPin(), "-data-dir", dir,
				"-workers", "4", "-d", "800ms", "-warmup", "0", "-grace", "100ms", "-json", filepath.Join(dir, "r.json")}
			if mode == "stream" {
				args = append(args, "-stream")
			}
			out, _, err := runFcload(t, args...)
			checkKilled(t, k, err, out, filepath.Join(dir, "r.json"))
			if r := readReport(t, filepath.Join(dir, "r.json")); mode == "hung" && r.Runs[0].Timeouts != r.Runs[0].Errors {
				t.Fatalf("a hung server's requests are timeouts: %v", r.Runs[0].ByCategory)
			}
		})
	}
}

// TestRunWithoutServer: nothing to drive is an error before any run.
func TestRunWithoutServer(t *testing.T) {
	_, _, err := runFcload(t, "-target", "h3", "-data-dir", t.TempDir())
	if err == nil || exitStatus(err, io.Discard) != 1 {
		t.Fatalf("no server: %v", err)
	}
	var f runFailed
	if errors.As(err, &f) {
		t.Fatalf("no server reported as a failed run: %v", err)
	}
}
