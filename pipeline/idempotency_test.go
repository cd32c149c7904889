package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
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

// counterCap is a write-effect capability that counts its calls: the
// effect an idempotency key must never repeat.
func counterCap(n *atomic.Int64) *testCap {
	return &testCap{name: "t.count", effects: capability.EffectsWrite, fn: func(context.Context, *capability.Request) ([]byte, error) {
		return []byte(`{"call":` + strconv.FormatInt(n.Add(1), 10) + `}`), nil
	}}
}

func (e *env) execKey(principal, key, msg string) *protocol.Answer {
	return e.rt.Execute(context.Background(), &Request{Message: []byte(msg), Principal: principal, IdempotencyKey: key, Transport: "test"})
}

// sameAnswer compares two answers as a client sees them, but for the
// replayed mark.
func sameAnswer(t *testing.T, first, again *protocol.Answer) {
	t.Helper()
	a, b := *first, *again
	a.Replayed, b.Replayed = false, false
	if string(a.AppendJSON(nil)) != string(b.AppendJSON(nil)) {
		t.Fatalf("replayed answer differs:\n%s\n%s", first.AppendJSON(nil), again.AppendJSON(nil))
	}
}

const countCall = `{"tool_call":{"tool":"t.count","args":{"n":1}}}`

func TestIdempotencySequentialReplay(t *testing.T) {
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	e := newEnv(t, caps, s, nil)
	first := e.execKey("tester", "k1", countCall)
	if first.Status != protocol.StatusSuccess || first.Replayed {
		t.Fatalf("first: %+v %v", first.Error, first.Replayed)
	}
	for i := 0; i < 3; i++ {
		// Another spelling of the same envelope is the same call.
		again := e.execKey("tester", "k1", `{"tool_call": {"tool":"t.count", "args":{"n":1}}}`)
		if !again.Replayed {
			t.Fatalf("retry %d not replayed: %s", i, again.AppendJSON(nil))
		}
		sameAnswer(t, first, again)
	}
	if n.Load() != 1 {
		t.Fatalf("capability called %d times, want 1", n.Load())
	}
	var replays int
	for _, r := range e.j.records() {
		if r.Kind == journal.KindReplay {
			replays++
			if r.ExecutionID != first.ExecutionID || r.IdempotencyKey != "k1" || r.Principal != "tester" {
				t.Errorf("replay record %+v", r)
			}
		}
	}
	if replays != 3 { // memJournal appends before AppendAsync returns
		t.Fatalf("replay records: %d, want 3", replays)
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	slow := counterCap(&n)
	inner := slow.fn
	slow.fn = func(ctx context.Context, r *capability.Request) ([]byte, error) { <-release; return inner(ctx, r) }
	caps, s := basicCaps(slow)
	e := newEnv(t, caps, s, nil)
	const g = 100
	answers := make([]*protocol.Answer, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			if i%2 == 0 {
				answers[i] = e.execKey("tester", "same", countCall)
				return
			}
			done := make(chan *protocol.Answer, 1)
			e.rt.Submit(&Request{Message: []byte(countCall), Principal: "tester", IdempotencyKey: "same"}, func(a *protocol.Answer) { done <- a })
			answers[i] = <-done
		})
	}
	close(release)
	wg.Wait()
	if n.Load() != 1 {
		t.Fatalf("capability called %d times under %d concurrent requests, want 1", n.Load(), g)
	}
	var orig *protocol.Answer
	replayed := 0
	for _, a := range answers {
		if !a.Replayed {
			if orig != nil {
				t.Fatalf("two first answers: %s and %s", orig.ExecutionID, a.ExecutionID)
			}
			orig = a
		} else {
			replayed++
		}
	}
	if orig == nil || replayed != g-1 {
		t.Fatalf("first %v, replayed %d", orig != nil, replayed)
	}
	for _, a := range answers {
		sameAnswer(t, orig, a)
	}
}

func TestIdempotencyConflictAndScope(t *testing.T) {
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	e := newEnv(t, caps, s, nil)
	first := e.execKey("tester", "k", countCall)
	other := e.execKey("tester", "k", `{"tool_call":{"tool":"t.count","args":{"n":2}}}`)
	if other.Error == nil || other.Error.Category != protocol.CategoryProtocol || other.Error.Reason != protocol.ReasonIdempotencyConflict || other.Replayed {
		t.Fatalf("same key, other call: %s", other.AppendJSON(nil))
	}
	recs := e.j.records()
	if last := recs[len(recs)-1]; last.Kind != journal.KindRejection || last.IdempotencyKey != "k" {
		t.Fatalf("conflict journaled as %+v", last)
	}
	// A key belongs to its principal: another principal's "k" is its own.
	pol, _ := policy.Parse([]byte(testPolicy + `
  - id: allow-other
    effect: allow
    principals: [other]
    capabilities: ["t.count"]
`))
	if err := e.rt.Reload(nil, pol); err != nil {
		t.Fatal(err)
	}
	theirs := e.execKey("other", "k", countCall)
	if theirs.Replayed || theirs.ExecutionID == first.ExecutionID || theirs.Status != protocol.StatusSuccess || n.Load() != 2 {
		t.Fatalf("other principal, same key: %s (calls %d)", theirs.AppendJSON(nil), n.Load())
	}
}

func TestIdempotencyDenialReplaysAfterPolicyChange(t *testing.T) {
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	e := newEnv(t, caps, s, nil)
	denied := e.execKey("intruder", "k", countCall)
	if denied.Decision == protocol.DecisionAuthorized {
		t.Fatal("not denied")
	}
	pol, _ := policy.Parse([]byte(testPolicy + `
  - id: allow-intruder
    effect: allow
    principals: [intruder]
    capabilities: ["t.count"]
`))
	if err := e.rt.Reload(nil, pol); err != nil {
		t.Fatal(err)
	}
	again := e.execKey("intruder", "k", countCall)
	if !again.Replayed || again.Decision != denied.Decision || n.Load() != 0 {
		t.Fatalf("a denied key ran after the policy changed: %s", again.AppendJSON(nil))
	}
	if fresh := e.execKey("intruder", "k2", countCall); fresh.Status != protocol.StatusSuccess || n.Load() != 1 {
		t.Fatalf("a new key under the new policy: %s", fresh.AppendJSON(nil))
	}
}

func TestIdempotencyProtocolErrorReplays(t *testing.T) {
	caps, s := basicCaps()
	e := newEnv(t, caps, s, nil)
	bad := `{"tool_call":{"tool":"noop","args":{},"tool":"x"}}`
	first := e.execKey("tester", "k", bad)
	again := e.execKey("tester", "k", bad)
	if first.Error == nil || !again.Replayed {
		t.Fatalf("%s\n%s", first.AppendJSON(nil), again.AppendJSON(nil))
	}
	sameAnswer(t, first, again)
}

// An answer refused before the call ran (overloaded) settles nothing:
// the retry runs.
func TestIdempotencyOverloadIsNotRemembered(t *testing.T) {
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	e := newEnv(t, caps, s, func(c *Config) { c.MaxInFlight = 1 })
	e.rt.inFlight.Add(1) // the only slot is taken
	busy := e.execKey("tester", "k", countCall)
	e.rt.inFlight.Add(-1)
	if busy.Error == nil || busy.Error.Reason != protocol.ReasonOverloaded {
		t.Fatalf("not overloaded: %s", busy.AppendJSON(nil))
	}
	if ok := e.execKey("tester", "k", countCall); ok.Replayed || ok.Status != protocol.StatusSuccess || n.Load() != 1 {
		t.Fatalf("retry after overload: %s", ok.AppendJSON(nil))
	}
}

// TestCallIdentityMatchesJournal holds the idempotency stage's notion of
// "the same call" to what the journal records, which the rebuilt index
// uses after a restart.
func TestCallIdentityMatchesJournal(t *testing.T) {
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	var seen []callID
	e := newEnv(t, caps, s, nil)
	for i, msg := range []string{countCall, `{"message":{"content":"hi"}}`, `{"tool_call":{"tool":"nope","args":{}}}`,
		`{"tool_call":{"tool":"t.count","args":{"n":"x"}}}`, `not json`, `{"tool_call":{"tool":"noop","args":{}}}`} {
		key := "id-" + strconv.Itoa(i)
		x := e.rt.newExecution(&Request{Message: []byte(msg), Principal: "tester", IdempotencyKey: key})
		if !e.rt.enter(x) {
			t.Fatal("closed")
		}
		x.validate()
		seen = append(seen, x.callIdentity())
		x.releaseGate()
		e.execKey("tester", key, msg)
	}
	byKey := map[string]callID{}
	for _, r := range e.j.records() {
		if r.IdempotencyKey != "" && r.Kind != journal.KindIntent {
			byKey[r.IdempotencyKey] = newCallID(r.Capability, r.ArgsDigest)
		}
	}
	for i, want := range seen {
		if got := byKey["id-"+strconv.Itoa(i)]; got != want {
			t.Errorf("call %d: journal identity differs from the live one", i)
		}
	}
}

func openTestJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(journal.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func journalEnv(t *testing.T, j *journal.Journal, caps []capability.Capability, s map[string]capability.Settings, mod func(*Config)) *Runtime {
	t.Helper()
	reg, err := capability.NewRegistry(caps, s)
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := policy.Parse([]byte(testPolicy))
	cfg := Config{Journal: j, Durable: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := Open(cfg, reg, pol)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func execKey(rt *Runtime, key, msg string) *protocol.Answer {
	return rt.Execute(context.Background(), &Request{Message: []byte(msg), Principal: "tester", IdempotencyKey: key})
}

// TestIdempotencyAcrossRestart: a key answered before a restart replays
// after it, from the journal; a key whose write-effect execution has a
// durable intent and no outcome (a crash in between) answers INTERRUPTED
// and never runs again.
func TestIdempotencyAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	j := openTestJournal(t, dir)
	rt := journalEnv(t, j, caps, s, nil)
	first := execKey(rt, "done", countCall)
	// The crash: an intent made durable, the process gone before the
	// capability's outcome was journaled.
	var argsDigest [32]byte
	{
		x := rt.newExecution(&Request{Message: []byte(countCall)})
		rt.enter(x)
		x.validate()
		_, argsDigest = x.argsIdentity()
		x.releaseGate()
	}
	if _, err := j.Append(&journal.Record{Kind: journal.KindIntent, ExecutionID: "exec-0190a0b0-0000-7000-8000-000000000001", Principal: "tester",
		Capability: "t.count", ArgsDigest: argsDigest, Decision: "AUTHORIZED", Rule: "allow-tests", State: "CAPABILITY_EXECUTING", IdempotencyKey: "cut"}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j = openTestJournal(t, dir)
	defer j.Close()
	rt = journalEnv(t, j, caps, s, nil)
	again := execKey(rt, "done", countCall)
	if !again.Replayed || again.ExecutionID != first.ExecutionID || string(again.Result) != string(first.Result) ||
		again.Journal.Seq != first.Journal.Seq || again.Decision != first.Decision || again.State != first.State {
		t.Fatalf("after restart:\n%s\nwant the answer of\n%s", again.AppendJSON(nil), first.AppendJSON(nil))
	}
	cut := execKey(rt, "cut", countCall)
	if !cut.Replayed || cut.Error == nil || cut.Error.Reason != protocol.ReasonInterrupted || cut.ExecutionID != "exec-0190a0b0-0000-7000-8000-000000000001" {
		t.Fatalf("interrupted key: %s", cut.AppendJSON(nil))
	}
	if n.Load() != 1 {
		t.Fatalf("capability called %d times, want 1", n.Load())
	}
	if err := rt.Shutdown(context.Background()); err != nil { // waits for the replay records' commit
		t.Fatal(err)
	}
	recs, err := j.Get(first.ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []journal.Kind
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	if len(kinds) < 3 || kinds[len(kinds)-1] != journal.KindReplay {
		t.Fatalf("journal get shows %v, want the original's records and its replay", kinds)
	}
}

// TestIdempotencyRetention: keys older than the window are forgotten
// (injected clock), and the index holds at most MaxKeys under a stream of
// unique keys.
func TestIdempotencyRetention(t *testing.T) {
	var n atomic.Int64
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	caps, s := basicCaps(counterCap(&n))
	e := newEnv(t, caps, s, func(c *Config) {
		c.Now = now
		c.Idempotency = IdempotencyConfig{Retention: time.Hour, MaxKeys: 100}
	})
	e.execKey("tester", "old", countCall)
	clock.Add(int64(2 * time.Hour))
	e.execKey("tester", "new", countCall) // inserting sweeps what is past the window
	if a := e.execKey("tester", "old", countCall); a.Replayed || n.Load() != 3 {
		t.Fatalf("a key older than the window replayed: %s", a.AppendJSON(nil))
	}
	for i := range 1000 {
		e.execKey("tester", "u"+strconv.Itoa(i), countCall)
		if got := e.rt.keys.size(); got > 100 {
			t.Fatalf("%d keys held, bound 100", got)
		}
	}
}

type protoAnswer = protocol.Answer
type runtimeMemStats = runtime.MemStats

func readMem(m *runtime.MemStats) { runtime.GC(); runtime.ReadMemStats(m) }

// TestIdempotencySnapshot: shutdown saves the key index; a restart loads
// it and reads only the journal records after it; a damaged or foreign
// snapshot is ignored and the journal read whole, with the same keys.
func TestIdempotencySnapshot(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "journal")
	snap := filepath.Join(base, "idempotency.snap")
	var n atomic.Int64
	caps, s := basicCaps(counterCap(&n))
	withSnap := func(c *Config) { c.Idempotency.SnapshotFile = snap }
	j := openTestJournal(t, dir)
	rt := journalEnv(t, j, caps, s, withSnap)
	firsts := map[string]*protocol.Answer{}
	for i := range 50 {
		k := "k-" + strconv.Itoa(i)
		firsts[k] = execKey(rt, k, countCall)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot at shutdown: %v", err)
	}
	check := func(name string, wantScannedAtMost int) {
		t.Helper()
		j := openTestJournal(t, dir)
		defer j.Close()
		rt := journalEnv(t, j, caps, s, withSnap)
		defer rt.Shutdown(context.Background())
		<-rt.keys.loaded
		if rt.keys.size() != 50 || !rt.keys.whole {
			t.Fatalf("%s: %d keys rebuilt, whole %v", name, rt.keys.size(), rt.keys.whole)
		}
		if wantScannedAtMost >= 0 && rt.keys.scanned > wantScannedAtMost {
			t.Errorf("%s: the rebuild read %d journal records, want at most %d", name, rt.keys.scanned, wantScannedAtMost)
		}
		for k, first := range firsts {
			if a := execKey(rt, k, countCall); !a.Replayed || a.ExecutionID != first.ExecutionID {
				t.Fatalf("%s: key %s: %s", name, k, a.AppendJSON(nil))
			}
		}
	}
	// The snapshot covers all 100+ records (intents and outcomes): only the
	// system records written after it, if any, are read.
	check("from the snapshot", 5)
	if n.Load() != 50 {
		t.Fatalf("capability called %d times, want 50", n.Load())
	}
	b, _ := os.ReadFile(snap)
	b[len(b)/2] ^= 0xff
	os.WriteFile(snap, b, 0o600)
	check("damaged snapshot", -1)
	// Another journal's snapshot is ignored too.
	other := filepath.Join(t.TempDir(), "journal")
	oj := openTestJournal(t, other)
	ort := journalEnv(t, oj, caps, s, withSnap)
	execKey(ort, "elsewhere", countCall)
	ort.Shutdown(context.Background())
	oj.Close()
	check("foreign snapshot", -1)
	if n.Load() != 51 {
		t.Fatalf("capability called %d times, want 51", n.Load())
	}
}

// The journal (a leaf package) writes the INTERRUPTED record's error object
// itself; it must speak protocol's vocabulary, since replays and lookups
// hand it to clients.
func TestJournalInterruptedRecordSpeaksProtocol(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j := openTestJournal(t, dir)
	if _, err := j.Append(&journal.Record{Kind: journal.KindIntent, ExecutionID: "exec-x", Principal: "p", State: "CAPABILITY_EXECUTING"}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// Close leaves the intent open: the next Open journals the verdict.
	j = openTestJournal(t, dir)
	defer j.Close()
	recs, err := j.Get("exec-x")
	if err != nil || len(recs) != 2 || recs[1].Kind != journal.KindInterrupted {
		t.Fatalf("records %+v, %v", recs, err)
	}
	e, err := protocol.ParseError(recs[1].Error)
	if err == nil && (e.Reason != protocol.ReasonInterrupted || e.Category != protocol.CategoryMemory) {
		t.Fatalf("interrupted record error %s: reason %q category %q", recs[1].Error, e.Reason, e.Category)
	}
	if err != nil && !strings.Contains(string(recs[1].Error), `"reason":"`+string(protocol.ReasonInterrupted)+`"`) {
		t.Fatalf("interrupted record error %s does not carry reason %q", recs[1].Error, protocol.ReasonInterrupted)
	}
}
