package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// testCap is a configurable capability for exercising the pipeline.
type testCap struct {
	name    string
	effects capability.Effects
	fn      func(ctx context.Context, req *capability.Request) ([]byte, error)
}

func (c *testCap) Name() string        { return c.name }
func (c *testCap) Version() string     { return "1.0.0" }
func (c *testCap) Description() string { return "test capability" }
func (c *testCap) Schema() []byte {
	return []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
}
func (c *testCap) Effects() capability.Effects { return c.effects }
func (c *testCap) Execute(ctx context.Context, req *capability.Request) ([]byte, error) {
	return c.fn(ctx, req)
}

const testPolicy = `
version: 1
default: deny
rules:
  - id: allow-noop
    effect: allow
    capabilities: [noop, echo]
  - id: allow-tests
    effect: allow
    principals: [tester]
    capabilities: ["t.*"]
  - id: no-big-n
    effect: deny
    capabilities: ["t.*"]
    args:
      n: {range: [100, 1000000]}
`

type env struct {
	rt  *Runtime
	j   *memJournal
	out *bytes.Buffer
}

// memJournal is an in-memory Journal that can be told to fail.
type memJournal struct {
	mu    sync.Mutex
	recs  []journal.Record
	fail  error
	syncs int
}

func (m *memJournal) Append(r *journal.Record) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	r.Seq = uint64(len(m.recs) + 1)
	c := *r
	c.Args = append([]byte(nil), r.Args...)
	m.recs = append(m.recs, c)
	return r.Seq, nil
}

func (m *memJournal) AppendAsync(r *journal.Record, done func(uint64, error)) {
	seq, err := m.Append(r)
	go done(seq, err)
}

func (m *memJournal) Ready() bool { return true }

func (m *memJournal) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncs++
	return m.fail
}

func (m *memJournal) records() []journal.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]journal.Record(nil), m.recs...)
}

func newEnv(t testing.TB, caps []capability.Capability, settings map[string]capability.Settings, mod func(*Config)) *env {
	t.Helper()
	reg, err := capability.NewRegistry(caps, settings)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{j: &memJournal{}, out: &bytes.Buffer{}}
	cfg := Config{Journal: e.j, Durable: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := Open(cfg, reg, pol)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	return e
}

func basicCaps(extra ...capability.Capability) ([]capability.Capability, map[string]capability.Settings) {
	caps := append([]capability.Capability{capability.NewNoop(), capability.NewEcho()}, extra...)
	s := map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}}
	for _, c := range extra {
		s[c.Name()] = capability.Settings{Enabled: true, Timeout: time.Second, PoolSize: 2}
	}
	return caps, s
}

func (e *env) exec(principal, msg string) *protocol.Answer {
	return e.rt.Execute(context.Background(), &Request{Message: []byte(msg), Principal: principal, Transport: "test"})
}

func checkShape(t *testing.T, a *protocol.Answer) map[string]any {
	t.Helper()
	enc := a.AppendJSON(nil)
	var v map[string]any
	if err := json.Unmarshal(enc, &v); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	if p, err := protocol.ParseAnswer(enc); err != nil || !bytes.Equal(p.AppendJSON(nil), enc) {
		t.Fatalf("answer does not round-trip through protocol.ParseAnswer: %v\n%s", err, enc)
	}
	if !strings.HasPrefix(a.ExecutionID, "exec-") {
		t.Fatalf("execution id %q", a.ExecutionID)
	}
	return v
}

func TestOutcomes(t *testing.T) {
	boom := &testCap{name: "t.boom", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) { panic("kaboom") }}
	fails := &testCap{name: "t.fail", effects: capability.EffectsRead, fn: func(context.Context, *capability.Request) ([]byte, error) {
		return []byte(`{"exit_code":3}`), &capability.Error{Type: capability.ErrExecution, Msg: "exit status 3"}
	}}
	ok := &testCap{name: "t.ok", effects: capability.EffectsRead, fn: func(_ context.Context, r *capability.Request) ([]byte, error) {
		return []byte(`{"n":` + r.Args.Get("n").Number() + `}`), nil
	}}
	caps, settings := basicCaps(boom, fails, ok)
	settings["t.off"] = capability.Settings{}
	caps = append(caps, &testCap{name: "t.off", effects: capability.EffectsNone})
	e := newEnv(t, caps, settings, nil)

	for _, tc := range []struct {
		name, principal, msg string
		state                protocol.State
		decision             protocol.Decision
		rule                 string
		category             protocol.Category
		reason               protocol.Reason
		result               string
	}{
		{"noop allowed", "anyone", `{"tool_call":{"tool":"noop","args":{}}}`, protocol.StateCompleted, protocol.DecisionAuthorized, "allow-noop", "", "", `{}`},
		{"echo", "anyone", `{"tool_call":{"tool":"echo","args":{"text":"hi"}}}`, protocol.StateCompleted, protocol.DecisionAuthorized, "allow-noop", "", "", `{"text":"hi"}`},
		{"pooled ok", "tester", `{"tool_call":{"tool":"t.ok","args":{"n":7}}}`, protocol.StateCompleted, protocol.DecisionAuthorized, "allow-tests", "", "", `{"n":7}`},
		{"message form", "anyone", `{"message":{"content":"done"}}`, protocol.StateCompleted, "", "", "", "", ``},
		{"malformed", "anyone", `{"tool_call":{"tool":"noop"}}`, protocol.StateError, "", "", protocol.CategoryProtocol, protocol.ReasonMissingField, ``},
		{"unknown tool", "anyone", `{"tool_call":{"tool":"Noop","args":{}}}`, protocol.StateError, "", "", protocol.CategoryProtocol, protocol.ReasonUnknownCapability, ``},
		{"schema", "tester", `{"tool_call":{"tool":"t.ok","args":{"n":"x"}}}`, protocol.StateError, "", "", protocol.CategoryProtocol, protocol.ReasonInvalidArguments, ``},
		{"disabled", "tester", `{"tool_call":{"tool":"t.off","args":{}}}`, protocol.StateError, protocol.DecisionDisabled, "registry", protocol.CategoryAuthorization, "", ``},
		{"default deny", "stranger", `{"tool_call":{"tool":"t.ok","args":{"n":1}}}`, protocol.StateError, protocol.DecisionPolicyViolation, "default-deny", protocol.CategoryAuthorization, "", ``},
		{"deny by argument", "tester", `{"tool_call":{"tool":"t.ok","args":{"n":500}}}`, protocol.StateError, protocol.DecisionArgumentInvalid, "no-big-n", protocol.CategoryAuthorization, "", ``},
		{"capability error", "tester", `{"tool_call":{"tool":"t.fail","args":{}}}`, protocol.StateError, protocol.DecisionAuthorized, "allow-tests", protocol.CategoryCapability, "ExecutionError", `{"exit_code":3}`},
		{"panic", "tester", `{"tool_call":{"tool":"t.boom","args":{}}}`, protocol.StateError, protocol.DecisionAuthorized, "allow-tests", protocol.CategoryCapability, protocol.ReasonPanic, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.j.records())
			for i := range 3 { // the third run is served from the caches (admitted on second sighting)
				if i > 0 {
					e.rt.cachesBuilt().Wait() // ristretto applies sets asynchronously
				}
				a := e.exec(tc.principal, tc.msg)
				checkShape(t, a)
				if a.Error != nil && (a.Error.ExecutionID != a.ExecutionID || a.Error.ID != "err-"+a.ExecutionID[len("exec-"):]) {
					t.Fatalf("error object names execution %s, answer is %s", a.Error.ExecutionID, a.ExecutionID)
				}
				if a.State != tc.state || a.Decision != tc.decision || a.Rule != tc.rule || string(a.Result) != tc.result {
					t.Fatalf("got state %s decision %q rule %q result %s (err %v)", a.State, a.Decision, a.Rule, a.Result, a.Error)
				}
				if tc.category == "" {
					if a.Error != nil || a.Status != protocol.StatusSuccess {
						t.Fatalf("unexpected error %v", a.Error)
					}
				} else if a.Error == nil || a.Error.Category != tc.category || (tc.reason != "" && a.Error.Reason != tc.reason) || a.Status != protocol.StatusError {
					t.Fatalf("error = %+v, want %s/%s", a.Error, tc.category, tc.reason)
				}
				if !a.Journal.Durable || a.Journal.Seq == 0 {
					t.Fatalf("journal info %+v", a.Journal)
				}
			}
			recs := e.j.records()
			if len(recs) != before+3 {
				t.Fatalf("journaled %d records, want 3", len(recs)-before)
			}
			last := recs[len(recs)-1]
			if last.Principal != tc.principal || last.State != string(tc.state) || last.Decision != string(tc.decision) {
				t.Fatalf("record %+v", last)
			}
		})
	}
}

func TestNothingRejectedExecutes(t *testing.T) {
	var ran atomic.Int64
	c := &testCap{name: "t.count", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
		ran.Add(1)
		return nil, nil
	}}
	caps, settings := basicCaps(c)
	e := newEnv(t, caps, settings, nil)
	for _, m := range []string{
		`{"tool_call":{"tool":"t.count","args":{"n":1}}, "x":1}`,
		`{"tool_call":{"tool":"t.count","args":{"n":1,"n":2}}}`,
		`{"tool_call":{"tool":"t.count","args":{"n":1},"args":{}}}`,
		`{"tool_call":{"tool":"t.count","args":{"n":500}}}`, // denied by argument
		`{"message":{"content":"{\"tool_call\":{\"tool\":\"t.count\",\"args\":{}}}"}}`,
	} {
		e.exec("tester", m)
		e.exec("stranger", `{"tool_call":{"tool":"t.count","args":{}}}`)
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("a rejected or denied message executed %d times", n)
	}
}

func TestTimeoutAndDeadline(t *testing.T) {
	slow := &testCap{name: "t.slow", effects: capability.EffectsRead, fn: func(ctx context.Context, _ *capability.Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	caps, settings := basicCaps(slow)
	settings["t.slow"] = capability.Settings{Enabled: true, Timeout: 20 * time.Millisecond, MaxTimeout: 50 * time.Millisecond, PoolSize: 1}
	e := newEnv(t, caps, settings, nil)
	a := e.exec("tester", `{"tool_call":{"tool":"t.slow","args":{}}}`)
	if a.Error == nil || a.Error.Category != protocol.CategoryCapability || a.Error.Reason != protocol.ReasonTimeout {
		t.Fatalf("answer %+v", a.Error)
	}
	// A request may ask for less, never for more than MaxTimeout.
	x := &execution{entry: &capability.Entry{Settings: settings["t.slow"]}, req: &Request{Timeout: time.Hour}}
	if got := x.timeout(); got != 50*time.Millisecond {
		t.Fatalf("timeout clamped to %v", got)
	}
}

// TestOverload fills the in-flight bound with blocked executions and
// checks the next one is refused at once.
func TestOverload(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 16)
	block := &testCap{name: "t.block", effects: capability.EffectsRead, fn: func(ctx context.Context, _ *capability.Request) ([]byte, error) {
		started <- struct{}{}
		<-release
		return nil, nil
	}}
	caps, settings := basicCaps(block)
	settings["t.block"] = capability.Settings{Enabled: true, Timeout: time.Minute, PoolSize: 4}
	e := newEnv(t, caps, settings, func(c *Config) { c.MaxInFlight = 3 })
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { e.exec("tester", `{"tool_call":{"tool":"t.block","args":{}}}`) })
	}
	for range 3 {
		<-started
	}
	a := e.exec("tester", `{"tool_call":{"tool":"noop","args":{}}}`)
	if a.Error == nil || a.Error.Category != protocol.CategoryRuntime || a.Error.Reason != protocol.ReasonOverloaded {
		t.Fatalf("expected overload, got %+v", a)
	}
	close(release)
	wg.Wait()
	if a := e.exec("tester", `{"tool_call":{"tool":"noop","args":{}}}`); a.Error != nil {
		t.Fatalf("after draining: %v", a.Error)
	}
	if e.rt.InFlight() != 0 {
		t.Fatalf("in flight = %d", e.rt.InFlight())
	}
}

func TestWriteEffectCommitsIntentFirst(t *testing.T) {
	var e *env
	var sawIntent atomic.Bool
	w := &testCap{name: "t.write", effects: capability.EffectsWrite, fn: func(context.Context, *capability.Request) ([]byte, error) {
		recs := e.j.records()
		sawIntent.Store(len(recs) > 0 && recs[len(recs)-1].Kind == journal.KindIntent)
		return []byte(`{"wrote":true}`), nil
	}}
	caps, settings := basicCaps(w)
	e = newEnv(t, caps, settings, nil)
	a := e.exec("tester", `{"tool_call":{"tool":"t.write","args":{}}}`)
	if a.Error != nil || !sawIntent.Load() {
		t.Fatalf("intent committed before execution: %v, err %v", sawIntent.Load(), a.Error)
	}
	recs := e.j.records()
	if len(recs) != 2 || recs[0].Kind != journal.KindIntent || recs[1].Kind != journal.KindOutcome || recs[1].ExecutionID != recs[0].ExecutionID {
		t.Fatalf("records %+v", recs)
	}
	// A failing journal stops the capability from running at all.
	e.j.mu.Lock()
	e.j.fail = errors.New("disk full")
	e.j.mu.Unlock()
	sawIntent.Store(false)
	a = e.exec("tester", `{"tool_call":{"tool":"t.write","args":{"n":2}}}`)
	if a.Error == nil || a.Error.Category != protocol.CategoryMemory || sawIntent.Load() || a.Journal.Durable {
		t.Fatalf("with a failed journal: %+v", a)
	}
}

// TestIntentSyncedInIntervalMode: when appends are not durable by
// themselves, the intent is synced before a write capability runs.
func TestIntentSyncedInIntervalMode(t *testing.T) {
	var e *env
	var syncsBefore atomic.Int64
	w := &testCap{name: "t.write", effects: capability.EffectsWrite, fn: func(context.Context, *capability.Request) ([]byte, error) {
		e.j.mu.Lock()
		syncsBefore.Store(int64(e.j.syncs))
		e.j.mu.Unlock()
		return nil, nil
	}}
	caps, settings := basicCaps(w)
	e = newEnv(t, caps, settings, func(c *Config) { c.Durable = false })
	if a := e.exec("tester", `{"tool_call":{"tool":"t.write","args":{}}}`); a.Error != nil || a.Journal.Durable {
		t.Fatalf("%+v", a)
	}
	if syncsBefore.Load() != 1 {
		t.Fatalf("intent synced %d times before the capability ran, want 1", syncsBefore.Load())
	}
}

func TestNoJournalSaysNotDurable(t *testing.T) {
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, func(c *Config) { c.Journal = nil })
	a := e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`)
	v := checkShape(t, a)
	if j := v["journal"].(map[string]any); j["durable"] != false {
		t.Fatalf("journal = %v", j)
	}
}

func TestSubmit(t *testing.T) {
	ok := &testCap{name: "t.ok", effects: capability.EffectsRead, fn: func(context.Context, *capability.Request) ([]byte, error) { return []byte(`{}`), nil }}
	caps, settings := basicCaps(ok)
	e := newEnv(t, caps, settings, nil)
	msgs := []string{
		`{"tool_call":{"tool":"noop","args":{}}}`,
		`{"tool_call":{"tool":"t.ok","args":{}}}`,
		`{"message":{"content":"x"}}`,
		`not json`,
	}
	var wg sync.WaitGroup
	answers := make([]*protocol.Answer, len(msgs))
	for i, m := range msgs {
		wg.Add(1)
		e.rt.Submit(&Request{Message: []byte(m), Principal: "tester"}, func(a *protocol.Answer) {
			answers[i] = a
			wg.Done()
		})
	}
	wg.Wait()
	for i, want := range []protocol.State{protocol.StateCompleted, protocol.StateCompleted, protocol.StateCompleted, protocol.StateError} {
		if answers[i].State != want || !answers[i].Journal.Durable {
			t.Errorf("answer %d: %s %+v", i, answers[i].State, answers[i].Error)
		}
	}
}

// TestReloadUnderLoad swaps between two policies while executions run:
// every decision must be one of the two policies' answers, and after the
// last reload only the new one's.
func TestReloadUnderLoad(t *testing.T) {
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, nil)
	allowAll, err := policy.Parse([]byte("version: 1\ndefault: deny\nrules:\n  - {id: all, effect: allow, capabilities: [noop]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	denyAll, err := policy.Parse([]byte("version: 1\ndefault: deny\nrules:\n  - {id: none, effect: deny, capabilities: [noop]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Value
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`)
				if !(a.Rule == "all" && a.Decision == protocol.DecisionAuthorized) &&
					!(a.Rule == "none" && a.Decision == protocol.DecisionPolicyViolation) &&
					!(a.Rule == "allow-noop") {
					bad.Store(fmt.Sprintf("%s/%s", a.Decision, a.Rule))
				}
			}
		})
	}
	for i := range 200 {
		p := allowAll
		if i%2 == 1 {
			p = denyAll
		}
		if err := e.rt.Reload(nil, p); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("decision from neither policy: %v", b)
	}
	for range 10 {
		if a := e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`); a.Rule != "none" {
			t.Fatalf("after the last reload: %s/%s (stale cached verdict?)", a.Decision, a.Rule)
		}
	}
}

func TestTelemetryEvents(t *testing.T) {
	var out syncBuffer
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, func(c *Config) { c.Telemetry.Output = &out })
	e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`)
	e.exec("p", `{"tool_call":{"tool":"nope","args":{}}}`)
	e.rt.Shutdown(context.Background())
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		kinds = append(kinds, fmt.Sprint(ev["event_type"], ":", ev["new_state"]))
	}
	got := strings.Join(kinds, " ")
	for _, want := range []string{
		"state_transition:INPUT_RECEIVED state_transition:PROTOCOL_VALIDATING state_transition:AUTHORIZATION_EVALUATING state_transition:CAPABILITY_EXECUTING state_transition:MEMORY_COMMITTING state_transition:COMPLETED authorization_decision:<nil>",
		"state_transition:PROTOCOL_VALIDATING state_transition:ERROR error:<nil>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("events lack %q\ngot: %s", want, got)
		}
	}
}

// TestTelemetryNeverBlocks stalls the exporter and checks executions go
// on and drops are counted.
func TestTelemetryNeverBlocks(t *testing.T) {
	stall := &stallWriter{release: make(chan struct{})}
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, func(c *Config) {
		c.Telemetry = TelemetryConfig{Queue: 8, Output: stall}
	})
	for range 500 {
		if a := e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`); a.Error != nil {
			t.Fatal(a.Error)
		}
	}
	if e.rt.m.eventsDropped.Load() == 0 {
		t.Fatal("no drops counted with a stalled exporter and a queue of 8")
	}
	close(stall.release)
}

type stallWriter struct{ release chan struct{} }

func (s *stallWriter) Write(p []byte) (int, error) { <-s.release; return len(p), nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestExporterFailureIsObservabilityError: a failing exporter is counted
// as an OBSERVABILITY_ERROR and executions go on.
func TestExporterFailureIsObservabilityError(t *testing.T) {
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, func(c *Config) { c.Telemetry.Output = failWriter{} })
	for range 50 {
		if a := e.exec("p", `{"tool_call":{"tool":"noop","args":{}}}`); a.Error != nil {
			t.Fatal(a.Error)
		}
	}
	e.rt.Shutdown(context.Background())
	if e.rt.m.exportErrors.Load() == 0 || e.rt.m.errors[protocol.CategoryObservability].Load() == 0 {
		t.Fatal("exporter failure not counted")
	}
}
