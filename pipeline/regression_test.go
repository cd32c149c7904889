package pipeline

// Regression tests for defects found in review (each failed before its fix).

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// A rejected message ≤4 KiB is cached with its *protocol.Error; every later
// rejection of the same bytes gets the SAME pointer and setError mutates it.
func TestRegressionCachedErrorShared(t *testing.T) {
	caps, s := basicCaps()
	e := newEnv(t, caps, s, nil)
	bad := `{"tool_call":{"tool":"nope","args":{}}}`
	a1 := e.exec("alice", bad)
	id1 := a1.ExecutionID
	e.rt.cachesBuilt().Wait()
	a2 := e.exec("bob", bad)
	t.Logf("a1 exec=%s a1.error.execution_id=%s", id1, a1.Error.ExecutionID)
	t.Logf("a2 exec=%s a2.error.execution_id=%s same pointer=%v", a2.ExecutionID, a2.Error.ExecutionID, a1.Error == a2.Error)
	if a1.Error.ExecutionID != id1 {
		t.Errorf("answer 1's error object now names execution %s (its own is %s)", a1.Error.ExecutionID, id1)
	}
}

func TestRegressionCachedErrorRace(t *testing.T) {
	caps, s := basicCaps()
	e := newEnv(t, caps, s, nil)
	bad := `{"tool_call":{"tool":"nope","args":{}}}`
	e.exec("x", bad)
	e.rt.cachesBuilt().Wait()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				a := e.exec("p", bad)
				_ = a.AppendJSON(nil)
			}
		}()
	}
	wg.Wait()
	bad2 := 0
	for _, r := range e.j.records() {
		if len(r.Error) > 0 && !contains(r.Error, r.ExecutionID) {
			bad2++
		}
	}
	if bad2 > 0 {
		t.Errorf("%d journal records carry an error object naming another execution", bad2)
	}
}

func contains(b []byte, s string) bool {
	return string(b) != "" && (len(s) == 0 || indexOf(string(b), s) >= 0)
}
func indexOf(a, b string) int {
	for i := 0; i+len(b) <= len(a); i++ {
		if a[i:i+len(b)] == b {
			return i
		}
	}
	return -1
}

// Reload with a registry whose capability INSTANCE differs (e.g. a shell
// allowlist or fs.read root narrowed) but whose name/version/schema/settings
// are equal: Registry.Hash is identical, so the validation cache keeps
// handing out the old *Entry and the old instance runs.
func TestRegressionReloadStaleEntry(t *testing.T) {
	oldCap := &testCap{name: "t.x", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) { return []byte(`"OLD"`), nil }}
	newCap := &testCap{name: "t.x", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) { return []byte(`"NEW"`), nil }}
	caps, s := basicCaps(oldCap)
	e := newEnv(t, caps, s, nil)
	msg := `{"tool_call":{"tool":"t.x","args":{}}}`
	a := e.exec("tester", msg)
	t.Logf("before reload: %s", a.Result)
	e.rt.cachesBuilt().Wait()
	caps2, s2 := basicCaps(newCap)
	reg2, err := capability.NewRegistry(caps2, s2)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Reload(reg2, nil); err != nil {
		t.Fatal(err)
	}
	a = e.exec("tester", msg)
	if string(a.Result) != `"NEW"` {
		t.Errorf("after Reload the old capability instance ran: %s", a.Result)
	}
	a = e.exec("tester", `{"tool_call":{"tool":"t.x","args":{ }}}`)
	t.Logf("different bytes after reload: %s", a.Result)
}

// Submit is documented as asynchronous, but with the pool busy ants'
// Submit parks the CALLER (MaxBlockingTasks is a count of blocked callers,
// not a queue). A transport's reader goroutine is then stuck behind a
// slow capability.
func TestRegressionSubmitBlocksCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		slow := &testCap{name: "t.slow", effects: capability.EffectsRead, fn: func(ctx context.Context, _ *capability.Request) ([]byte, error) {
			<-release
			return []byte(`{}`), nil
		}}
		caps, s := basicCaps(slow)
		s["t.slow"] = capability.Settings{Enabled: true, Timeout: 5 * time.Second, PoolSize: 1}
		e := newEnv(t, caps, s, nil)
		msg := []byte(`{"tool_call":{"tool":"t.slow","args":{}}}`)
		done := make(chan *protocol.Answer, 2)
		e.rt.Submit(&Request{Message: msg, Principal: "tester"}, func(a *protocol.Answer) { done <- a })
		returned := make(chan struct{})
		go func() {
			e.rt.Submit(&Request{Message: msg, Principal: "tester"}, func(a *protocol.Answer) { done <- a })
			close(returned)
		}()
		synctest.Wait() // every goroutine is blocked: the worker on release, a parked caller on the pool
		select {
		case <-returned:
		default:
			t.Errorf("second Submit has not returned while the only worker is busy: the caller is parked in the pool")
		}
		close(release)
		<-done
		<-done
		<-returned
	})
}

// Close does not exclude executions that are still in front() (validation
// and authorization run before the admission check and are not tracked by
// the WaitGroup), so cache.Put races ristretto's Close: send on closed channel.
func TestRegressionCloseRacesCachePut(t *testing.T) {
	for round := 0; round < 30; round++ {
		caps, s := basicCaps()
		reg, _ := capability.NewRegistry(caps, s)
		pol, _ := policy.Parse([]byte(testPolicy))
		rt, err := Open(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, reg, pol)
		if err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					m := `{"tool_call":{"tool":"noop","args":{},"x":` + strconv.Itoa(g*1e9+i) + `}}`
					rt.Execute(context.Background(), &Request{Message: []byte(m), Principal: "p"})
				}
			}(g)
		}
		rt.Shutdown(context.Background())
		stop.Store(true)
		wg.Wait()
	}
}

// Shutdown(ctx) (then Close(ctx)) ignored ctx while the telemetry exporter was stuck in Write.
func TestRegressionCloseHangsOnStalledExporter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stall := &stallWriter{release: make(chan struct{})}
		caps, settings := basicCaps()
		e := newEnv(t, caps, settings, func(c *Config) { c.Telemetry = TelemetryConfig{Output: stall} })
		for range 2000 {
			e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		// In the bubble, time advances only when every goroutine is blocked:
		// a Shutdown that ignored ctx would leave the bubble deadlocked, and
		// synctest reports that as a failure instead of hanging.
		if err := e.rt.Shutdown(ctx); err == nil {
			t.Error("Shutdown reported success with the exporter still stalled")
		}
		close(stall.release)
	})
}

func TestRegressionRedactArgsIgnoredOnSchemaRejection(t *testing.T) {
	c := &testCap{name: "t.secret", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) { return []byte(`{}`), nil }}
	caps, s := basicCaps(c)
	s["t.secret"] = capability.Settings{Enabled: true, RedactArgs: true}
	e := newEnv(t, caps, s, nil)
	e.exec("tester", `{"tool_call":{"tool":"t.secret","args":{"n":1}}}`)                // ok
	e.exec("tester", `{"tool_call":{"tool":"t.secret","args":{"n":"hunter2-SECRET"}}}`) // schema: n must be integer
	for _, r := range e.j.records() {
		t.Logf("kind=%v capability=%q args=%s", r.Kind, r.Capability, r.Args)
		if strings.Contains(string(r.Args), "SECRET") {
			t.Errorf("redact_args capability: journal kept the arguments of a %v record", r.Kind)
		}
		if r.Kind == journal.KindRejection && r.Capability == "" {
			t.Errorf("rejection for t.secret journaled without its capability")
		}
	}
}

// A full journal queue (journal.ErrOverloaded) is an overload, not a
// failed journal: RUNTIME_ERROR reason overloaded (503 with Retry-After),
// no journal position claimed.
func TestRegressionJournalQueueFullIsOverload(t *testing.T) {
	caps, s := basicCaps()
	e := newEnv(t, caps, s, nil)
	e.j.fail = journal.ErrOverloaded
	a := e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`)
	if a.Error == nil || a.Error.Category != protocol.CategoryRuntime || a.Error.Reason != protocol.ReasonOverloaded || a.Journal.Seq != 0 || a.Journal.Durable {
		t.Fatalf("journal queue full: %s", a.AppendJSON(nil))
	}
}

// The per-execution carrier is the cycle's one big allocation. An object
// with pointers over 512 bytes carries an 8-byte allocation header, so past
// 1016 bytes it moves from the 1024-byte size class to the 1152-byte one
// and every execution pays for it (Execute B/op +14 % when it did). Grow it
// knowingly.
func TestRegressionExecutionFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(execution{}); n > 1024-8 {
		t.Fatalf("execution is %d bytes: with its allocation header it is over the 1024-byte size class", n)
	}
}
