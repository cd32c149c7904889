package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// shadowCandidate differs from testPolicy in each direction: echo is no
// longer allowed (allow → deny), intern may run t.* (deny → allow: the
// security-critical direction), tester's t.* is allowed by another rule
// (a rule-only difference) and guests' t.* is denied by a rule of its own
// (deny → deny, another rule). noop, and a big n, are decided alike.
const shadowCandidate = `
version: 1
default: deny
rules:
  - id: allow-noop
    effect: allow
    capabilities: [noop]
  - id: allow-tests-wider
    effect: allow
    principals: [tester, intern]
    capabilities: ["t.*"]
  - id: no-big-n
    effect: deny
    capabilities: ["t.*"]
    args:
      n: {range: [100, 1000000]}
  - id: no-tests-for-guests
    effect: deny
    principals: [guest]
    capabilities: ["t.*"]
`

func mustPolicy(t testing.TB, text string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// shadowCall is one call of the shadow tests and what each policy says.
type shadowCall struct {
	principal, msg       string
	active, candidate    protocol.Decision
	activeRule, candRule string
}

func (c shadowCall) differs() bool { return c.active != c.candidate || c.activeRule != c.candRule }

var shadowCalls = []shadowCall{
	{"anyone", `{"tool_call":{"tool":"noop","args":{}}}`, protocol.DecisionAuthorized, protocol.DecisionAuthorized, "allow-noop", "allow-noop"},
	{"anyone", `{"tool_call":{"tool":"echo","args":{"text":"hi"}}}`, protocol.DecisionAuthorized, protocol.DecisionPolicyViolation, "allow-noop", "default-deny"},
	{"intern", `{"tool_call":{"tool":"t.run","args":{"n":1}}}`, protocol.DecisionPolicyViolation, protocol.DecisionAuthorized, "default-deny", "allow-tests-wider"},
	{"tester", `{"tool_call":{"tool":"t.run","args":{"n":2}}}`, protocol.DecisionAuthorized, protocol.DecisionAuthorized, "allow-tests", "allow-tests-wider"},
	{"guest", `{"tool_call":{"tool":"t.run","args":{"n":3}}}`, protocol.DecisionPolicyViolation, protocol.DecisionPolicyViolation, "default-deny", "no-tests-for-guests"},
	{"tester", `{"tool_call":{"tool":"t.run","args":{"n":500}}}`, protocol.DecisionArgumentInvalid, protocol.DecisionArgumentInvalid, "no-big-n", "no-big-n"},
}

// shadowEnv opens a runtime with testPolicy active, cand as its shadow
// candidate (nil: none) and a t.run capability that counts its runs.
func shadowEnv(t *testing.T, cand *policy.Policy) (*env, *atomic.Int64) {
	t.Helper()
	var runs atomic.Int64
	run := &testCap{name: "t.run", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
		runs.Add(1)
		return []byte(`{}`), nil
	}}
	caps, settings := basicCaps()
	caps = append(caps, run)
	settings["t.run"] = capability.Settings{Enabled: true}
	return newEnv(t, caps, settings, func(c *Config) { c.Shadow = cand }), &runs
}

// recordOf returns the journal record of execution id.
func (e *env) recordOf(t *testing.T, id string) journal.Record {
	t.Helper()
	for _, r := range e.j.records() {
		if r.ExecutionID == id && r.Kind != journal.KindIntent {
			return r
		}
	}
	t.Fatalf("no record of %s", id)
	return journal.Record{}
}

func (e *env) metricsText(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := e.rt.Metrics().WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestShadowActsOnActiveOnly: with a candidate loaded, every answer is
// the active policy's — a call the candidate would allow and the active
// policy denies is denied and never runs — while the calls on which they
// differ, and only those, are counted and carry the candidate's verdict
// and hash in their journal record. Cached verdicts (later rounds) are
// shadowed exactly like evaluated ones.
func TestShadowActsOnActiveOnly(t *testing.T) {
	cand := mustPolicy(t, shadowCandidate)
	e, runs := shadowEnv(t, cand)
	if e.rt.Shadow() != cand {
		t.Fatal("Shadow() is not the configured candidate")
	}
	const rounds = 4
	wantRuns := int64(0)
	for round := range rounds {
		for _, c := range shadowCalls {
			a := e.exec(c.principal, c.msg)
			if a.Decision != c.active || a.Rule != c.activeRule {
				t.Fatalf("round %d %s %s: answered %s by %s, want the active policy's %s by %s", round, c.principal, c.msg, a.Decision, a.Rule, c.active, c.activeRule)
			}
			if c.active.Allowed() != (a.Status == protocol.StatusSuccess) {
				t.Fatalf("round %d %s %s: status %s with decision %s", round, c.principal, c.msg, a.Status, a.Decision)
			}
			if c.active.Allowed() && strings.Contains(c.msg, "t.run") {
				wantRuns++
			}
			r := e.recordOf(t, a.ExecutionID)
			if r.Decision != string(c.active) || r.Rule != c.activeRule {
				t.Fatalf("round %d: journaled %s by %s, want the active verdict", round, r.Decision, r.Rule)
			}
			switch {
			case !c.differs() && r.Shadow != nil:
				t.Fatalf("round %d %s %s: the policies agree, yet the record has a shadow %+v", round, c.principal, c.msg, r.Shadow)
			case c.differs() && r.Shadow == nil:
				t.Fatalf("round %d %s %s: the policies differ, and the record has no shadow", round, c.principal, c.msg)
			case c.differs() && (r.Shadow.Decision != string(c.candidate) || r.Shadow.Rule != c.candRule || r.Shadow.PolicyHash != cand.Hash()):
				t.Fatalf("round %d %s %s: shadow %+v, want %s by %s of policy %x", round, c.principal, c.msg, r.Shadow, c.candidate, c.candRule, cand.Hash())
			}
		}
		e.rt.cachesBuilt().Wait() // later rounds are served from the decision cache
	}
	if got := runs.Load(); got != wantRuns {
		t.Fatalf("t.run ran %d times, want %d: a call only the candidate allows ran", got, wantRuns)
	}
	if e.rt.m.authorizeHit.Snapshot().Count() == 0 {
		t.Fatal("no decision was served from the cache: the cached path went untested")
	}
	m := e.rt.m
	if got := m.shadowEvaluations.Load(); got != uint64(rounds*len(shadowCalls)) {
		t.Errorf("evaluations %d, want %d", got, rounds*len(shadowCalls))
	}
	for _, w := range []struct {
		active, cand int
		want         uint64
	}{{1, 0, rounds}, {0, 1, rounds}, {1, 1, rounds}, {0, 0, rounds}} {
		if got := m.shadowDifferences[w.active][w.cand].Load(); got != w.want {
			t.Errorf("differences[active allowed %d][candidate allowed %d] = %d, want %d", w.active, w.cand, got, w.want)
		}
	}
	text := e.metricsText(t)
	for _, want := range []string{
		fmt.Sprintf("%s %d\n", MetricPolicyShadowEvaluationsTotal, rounds*len(shadowCalls)),
		fmt.Sprintf("%s{%s=\"deny\",%s=\"allow\"} %d\n", MetricPolicyShadowDifferencesTotal, LabelShadowActive, LabelShadowCandidate, rounds),
		fmt.Sprintf("%s{%s=\"allow\",%s=\"deny\"} %d\n", MetricPolicyShadowDifferencesTotal, LabelShadowActive, LabelShadowCandidate, rounds),
		MetricPolicyShadowLoaded + " 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Submit takes the same path.
	done := make(chan *protocol.Answer, 1)
	e.rt.Submit(&Request{Message: []byte(shadowCalls[2].msg), Principal: "intern"}, func(a *protocol.Answer) { done <- a })
	a := <-done
	if a.Decision != protocol.DecisionPolicyViolation || runs.Load() != wantRuns {
		t.Fatalf("Submit: %s, runs %d", a.AppendJSON(nil), runs.Load())
	}
	if r := e.recordOf(t, a.ExecutionID); r.Shadow == nil || r.Shadow.Decision != string(protocol.DecisionAuthorized) {
		t.Fatalf("Submit: shadow %+v", r.Shadow)
	}
}

// TestShadowOffCostsNothing: without a candidate nothing is counted,
// no record carries a shadow, and the gauge says so.
func TestShadowOffCostsNothing(t *testing.T) {
	e, _ := shadowEnv(t, nil)
	for _, c := range shadowCalls {
		a := e.exec(c.principal, c.msg)
		if r := e.recordOf(t, a.ExecutionID); r.Shadow != nil || a.Decision != c.active {
			t.Fatalf("%s: %s, shadow %+v", c.msg, a.Decision, r.Shadow)
		}
	}
	if e.rt.Shadow() != nil || e.rt.m.shadowEvaluations.Load() != 0 || !strings.Contains(e.metricsText(t), MetricPolicyShadowLoaded+" 0\n") {
		t.Fatal("shadow mode shows without a candidate")
	}
}

// TestShadowReload: Reload keeps the candidate; ReloadShadow swaps it in
// the same snapshot as the active policy (the next call, though its pair
// of verdicts was cached, is decided by the new candidate) or removes it.
func TestShadowReload(t *testing.T) {
	cand := mustPolicy(t, shadowCandidate)
	e, _ := shadowEnv(t, cand)
	echo := shadowCalls[1]
	warm := func() *protocol.Answer {
		var a *protocol.Answer
		for range 3 {
			a = e.exec(echo.principal, echo.msg)
			e.rt.cachesBuilt().Wait()
		}
		return a
	}
	if r := e.recordOf(t, warm().ExecutionID); r.Shadow == nil {
		t.Fatal("no shadow before the reload")
	}
	if err := e.rt.Reload(nil, mustPolicy(t, testPolicy+"  - {id: extra, effect: allow, principals: [x], capabilities: [noop]}\n")); err != nil {
		t.Fatal(err)
	}
	if e.rt.Shadow() != cand {
		t.Fatal("Reload dropped the candidate")
	}
	if r := e.recordOf(t, warm().ExecutionID); r.Shadow == nil || r.Shadow.PolicyHash != cand.Hash() {
		t.Fatalf("after Reload: shadow %+v", r.Shadow)
	}

	// A candidate that allows echo again: echo now agrees, even though
	// the previous pair is still in the cache.
	cand2 := mustPolicy(t, strings.Replace(shadowCandidate, "capabilities: [noop]", "capabilities: [noop, echo]", 1))
	if err := e.rt.ReloadShadow(nil, nil, cand2); err != nil {
		t.Fatal(err)
	}
	if e.rt.Shadow() != cand2 {
		t.Fatal("ReloadShadow did not install the candidate")
	}
	a := e.exec(echo.principal, echo.msg)
	if r := e.recordOf(t, a.ExecutionID); r.Shadow != nil {
		t.Fatalf("the new candidate agrees on echo, yet shadow %+v (a stale cached pair?)", r.Shadow)
	}
	intern := shadowCalls[2]
	a = e.exec(intern.principal, intern.msg)
	if r := e.recordOf(t, a.ExecutionID); a.Decision != intern.active || r.Shadow == nil || r.Shadow.PolicyHash != cand2.Hash() {
		t.Fatalf("after ReloadShadow: %s, shadow %+v, want the hash of the new candidate", a.Decision, r.Shadow)
	}

	if err := e.rt.ReloadShadow(nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	before := e.rt.m.shadowEvaluations.Load()
	a = e.exec(intern.principal, intern.msg)
	if r := e.recordOf(t, a.ExecutionID); e.rt.Shadow() != nil || r.Shadow != nil || e.rt.m.shadowEvaluations.Load() != before {
		t.Fatalf("shadow mode still on after ReloadShadow(nil): shadow %+v", r.Shadow)
	}
	if !strings.Contains(e.metricsText(t), MetricPolicyShadowLoaded+" 0\n") {
		t.Fatal("gauge still says loaded")
	}
}

// TestDecideMatchesTheRuntime: the offline verdict (policy diff
// --candidate) is the one a runtime gives, for either policy, and on the
// canonical form of the arguments (a deny rule on a bare binary name
// holds for its path, as in TestSecurityCanonicalBinaryPath).
func TestDecideMatchesTheRuntime(t *testing.T) {
	cand := mustPolicy(t, shadowCandidate)
	e, _ := shadowEnv(t, cand)
	reg, active := e.rt.Registry(), e.rt.Policy()
	for _, c := range shadowCalls {
		a := e.exec(c.principal, c.msg)
		for _, p := range []struct {
			pol        *policy.Policy
			code       protocol.Decision
			rule, name string
		}{{active, a.Decision, a.Rule, "active"}, {cand, c.candidate, c.candRule, "candidate"}} {
			v, err := decideText(reg, p.pol, c.principal, []byte(c.msg))
			if err != nil || v.Code != p.code || v.Rule != p.rule {
				t.Errorf("%s %s under the %s policy: offline %+v %v, runtime %s by %s", c.principal, c.msg, p.name, v, err, p.code, p.rule)
			}
		}
	}
	for _, msg := range []string{`{"tool_call":{"tool":"nope","args":{}}}`, `{"tool_call":{"tool":"t.run","args":{"n":"x"}}}`, `{"message":{"content":"hi"}}`, `{`} {
		if v, err := decideText(reg, active, "tester", []byte(msg)); !errors.Is(err, protocol.ErrProtocol) && !errors.Is(err, ErrNothingToDecide) {
			t.Errorf("%s: %+v %v, want a protocol error", msg, v, err)
		}
	}

	caps, err := capability.Builtins(capability.BuiltinConfig{Shell: capability.ShellConfig{AllowedBins: []string{"git", "ls"}}})
	if err != nil {
		t.Skip(err)
	}
	pol := mustPolicy(t, `
rules:
  - {id: any-shell, effect: allow, capabilities: [shell]}
  - {id: no-git-push, effect: deny, capabilities: [shell], args: {bin: {in: [git]}, argv: {contains_item: [push]}}}
`)
	shellReg, err := capability.NewRegistry(caps, map[string]capability.Settings{"shell": {Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	for call, want := range map[string]string{shellCall("git", "push"): "no-git-push", shellCall("/usr/bin/git", "push"): "no-git-push", shellCall("ls", "-d", "/"): "any-shell"} {
		if v, err := decideText(shellReg, pol, "agent-1", []byte(call)); err != nil || v.Rule != want {
			t.Errorf("%s: %+v %v, want rule %s", call, v, err, want)
		}
	}
}

// decideText decodes msg and decides it offline, as policy diff does.
func decideText(reg *capability.Registry, p *policy.Policy, principal string, msg []byte) (protocol.Verdict, error) {
	m, err := protocol.Decode(msg, protocol.Limits{})
	if err != nil {
		return protocol.Verdict{}, err
	}
	v, _, err := Decide(nil, reg, p, principal, m)
	return v, err
}
