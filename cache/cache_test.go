package cache

import (
	"errors"
	"strconv"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func newCaches(t testing.TB, cfg Config) *Caches {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func decode(t testing.TB, s string) *protocol.Message {
	t.Helper()
	m, err := protocol.Decode([]byte(s), protocol.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// putUntil retries a Put until it is visible: ristretto's admission policy
// may drop a set under contention, which is allowed (the cache is a hint).
func putUntil(t *testing.T, c *Caches, put func(), visible func() bool) {
	t.Helper()
	for range 100 {
		put()
		c.Wait()
		if visible() {
			return
		}
	}
	t.Fatal("entry never became visible")
}

func TestValidationHitMissEpoch(t *testing.T) {
	c := newCaches(t, Config{})
	in := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	m := decode(t, string(in))
	if _, _, _, ok := c.Validation.Get(1, in); ok {
		t.Fatal("hit on an empty cache")
	}
	putUntil(t, c, func() { c.Validation.Put(1, in, m, "entry", nil) }, func() bool {
		_, _, _, ok := c.Validation.Get(1, in)
		return ok
	})
	got, entry, err, ok := c.Validation.Get(1, in)
	if !ok || got != m || entry != "entry" || err != nil {
		t.Fatalf("hit = %v %v %v %v", got, entry, err, ok)
	}
	if _, _, _, ok := c.Validation.Get(2, in); ok {
		t.Fatal("hit under another epoch: a reload would serve a stale verdict")
	}
	other := []byte(`{"tool_call":{"tool":"noop","args":{} }}`)
	if _, _, _, ok := c.Validation.Get(1, other); ok {
		t.Fatal("hit for different bytes")
	}
}

func TestValidationCachesRejections(t *testing.T) {
	c := newCaches(t, Config{})
	in := []byte(`{"tool_call":{"tool":"nope","args":{}}}`)
	rej := &protocol.Error{Category: protocol.CategoryProtocol, Reason: protocol.ReasonUnknownCapability, Message: "unknown"}
	putUntil(t, c, func() { c.Validation.Put(7, in, nil, nil, rej) }, func() bool {
		_, _, _, ok := c.Validation.Get(7, in)
		return ok
	})
	_, _, err, _ := c.Validation.Get(7, in)
	if !errors.Is(err, protocol.ErrProtocol) {
		t.Fatalf("cached rejection = %v", err)
	}
}

// A colliding key must not return another input's verdict: plant an entry
// for input B under input A's key, as a hash collision would.
func TestCollisionIsAMiss(t *testing.T) {
	c := newCaches(t, Config{})
	a := []byte(`{"tool_call":{"tool":"shell","args":{"bin":"rm"}}}`)
	b := decode(t, `{"tool_call":{"tool":"noop","args":{}}}`)
	key := c.Validation.key(1, a)
	e := &validationEntry{epoch: 1, input: b.Raw(), msg: b}
	putUntil(t, c, func() { c.Validation.c.Set(key, e, 1) }, func() bool { _, ok := c.Validation.c.Get(key); return ok })
	if _, _, _, ok := c.Validation.Get(1, a); ok {
		t.Fatal("a colliding entry was served for different bytes")
	}

	dk := c.Decisions.key(1, "agent-1", "shell", `{"bin":"rm"}`)
	de := &decisionEntry{epoch: 1, principal: "agent-1", tool: "shell", args: `{"bin":"ls"}`, d: protocol.Verdict{Code: protocol.DecisionAuthorized}}
	putUntil(t, c, func() { c.Decisions.c.Set(dk, de, 1) }, func() bool { _, ok := c.Decisions.c.Get(dk); return ok })
	if _, ok := c.Decisions.Get(1, "agent-1", "shell", `{"bin":"rm"}`); ok {
		t.Fatal("a colliding decision was served for different arguments")
	}
}

func TestDecisionsKeyedOnEveryField(t *testing.T) {
	c := newCaches(t, Config{})
	allow := protocol.Verdict{Code: protocol.DecisionAuthorized, Rule: "P1"}
	putUntil(t, c, func() { c.Decisions.Put(3, "agent-1", "shell", `{"bin":"ls"}`, allow) }, func() bool {
		_, ok := c.Decisions.Get(3, "agent-1", "shell", `{"bin":"ls"}`)
		return ok
	})
	if d, _ := c.Decisions.Get(3, "agent-1", "shell", `{"bin":"ls"}`); d != allow {
		t.Fatalf("got %+v", d)
	}
	for _, miss := range [][4]string{
		{"4", "agent-1", "shell", `{"bin":"ls"}`},
		{"3", "agent-2", "shell", `{"bin":"ls"}`},
		{"3", "agent-1", "fs.read", `{"bin":"ls"}`},
		{"3", "agent-1", "shell", `{"bin":"rm"}`},
		{"3", "agent-1shell", "", `{"bin":"ls"}`},
	} {
		ep, _ := strconv.ParseUint(miss[0], 10, 64)
		if _, ok := c.Decisions.Get(ep, miss[1], miss[2], miss[3]); ok {
			t.Errorf("hit for %v", miss)
		}
	}
}

// TestDecisionPairs: a shadow-mode entry carries both verdicts, is keyed
// like a single one, and the two kinds never answer each other's lookups
// (a runtime that turns shadow mode on or off under the same epoch by a
// hash collision still gets a miss, never half a pair).
func TestDecisionPairs(t *testing.T) {
	c := newCaches(t, Config{})
	deny := protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "default-deny", Reason: "no rule allows"}
	allow := protocol.Verdict{Code: protocol.DecisionAuthorized, Rule: "allow-ls"}
	putUntil(t, c, func() { c.Decisions.PutPair(5, "agent-1", "shell", `{"bin":"ls"}`, deny, allow) }, func() bool {
		_, _, ok := c.Decisions.GetPair(5, "agent-1", "shell", `{"bin":"ls"}`)
		return ok
	})
	if a, s, _ := c.Decisions.GetPair(5, "agent-1", "shell", `{"bin":"ls"}`); a != deny || s != allow {
		t.Fatalf("pair = %+v, %+v", a, s)
	}
	if _, ok := c.Decisions.Get(5, "agent-1", "shell", `{"bin":"ls"}`); ok {
		t.Fatal("a single lookup answered by a pair entry")
	}
	for _, miss := range [][4]string{
		{"6", "agent-1", "shell", `{"bin":"ls"}`},
		{"5", "agent-2", "shell", `{"bin":"ls"}`},
		{"5", "agent-1", "fs.read", `{"bin":"ls"}`},
		{"5", "agent-1", "shell", `{"bin":"rm"}`},
	} {
		ep, _ := strconv.ParseUint(miss[0], 10, 64)
		if _, _, ok := c.Decisions.GetPair(ep, miss[1], miss[2], miss[3]); ok {
			t.Errorf("pair hit for %v", miss)
		}
	}
	putUntil(t, c, func() { c.Decisions.Put(7, "agent-1", "shell", `{"bin":"ls"}`, allow) }, func() bool {
		_, ok := c.Decisions.Get(7, "agent-1", "shell", `{"bin":"ls"}`)
		return ok
	})
	if _, _, ok := c.Decisions.GetPair(7, "agent-1", "shell", `{"bin":"ls"}`); ok {
		t.Fatal("a pair lookup answered by a single entry")
	}
	off := newCaches(t, Config{DecisionBytes: -1})
	off.Decisions.PutPair(5, "p", "noop", "{}", allow, deny)
	off.Wait()
	if _, _, ok := off.Decisions.GetPair(5, "p", "noop", "{}"); ok {
		t.Fatal("pair hit on a disabled cache")
	}
	// A pair that is not stored costs nothing (the candidate's verdict is
	// copied to the heap only for an entry that is set).
	if n := testing.AllocsPerRun(100, func() { off.Decisions.PutPair(5, "p", "noop", "{}", allow, deny) }); n != 0 {
		t.Errorf("PutPair on a disabled cache: %v allocations", n)
	}
}

func TestDisabledAndOversized(t *testing.T) {
	c := newCaches(t, Config{ValidationBytes: -1, DecisionBytes: -1})
	in := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	c.Validation.Put(1, in, decode(t, string(in)), nil, nil)
	c.Decisions.Put(1, "p", "noop", "{}", protocol.Verdict{Code: protocol.DecisionAuthorized})
	c.Wait()
	if _, _, _, ok := c.Validation.Get(1, in); ok {
		t.Fatal("disabled validation cache hit")
	}
	if _, ok := c.Decisions.Get(1, "p", "noop", "{}"); ok {
		t.Fatal("disabled decision cache hit")
	}
	c2 := newCaches(t, Config{MaxInputBytes: 8})
	c2.Validation.Put(1, in, decode(t, string(in)), nil, nil)
	c2.Wait()
	if _, _, _, ok := c2.Validation.Get(1, in); ok {
		t.Fatal("oversized input cached")
	}
}

const benchArgs = `{"bin":"git","argv":["status","-s"]}`

func BenchmarkDecisions(b *testing.B) {
	c := newCaches(b, Config{})
	allow := protocol.Verdict{Code: protocol.DecisionAuthorized, Rule: "P1"}
	for range 100 {
		c.Decisions.Put(1, "agent-1", "shell", benchArgs, allow)
		c.Wait()
		if _, ok := c.Decisions.Get(1, "agent-1", "shell", benchArgs); ok {
			break
		}
	}
	b.Run("op=hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Decisions.Get(1, "agent-1", "shell", benchArgs); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("op=miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Decisions.Get(2, "agent-1", "shell", benchArgs); ok {
				b.Fatal("hit")
			}
		}
	})
	b.Run("op=hit/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Decisions.Get(1, "agent-1", "shell", benchArgs)
			}
		})
	})
}

func BenchmarkValidation(b *testing.B) {
	c := newCaches(b, Config{})
	in := []byte(`{"tool_call":{"tool":"shell","args":` + benchArgs + `}}`)
	m := decode(b, string(in))
	for range 100 {
		c.Validation.Put(1, in, m, nil, nil)
		c.Wait()
		if _, _, _, ok := c.Validation.Get(1, in); ok {
			break
		}
	}
	b.Run("op=hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, _, ok := c.Validation.Get(1, in); !ok {
				b.Fatal("miss")
			}
		}
	})
}
