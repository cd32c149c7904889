package pipeline

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// authorize is stage 3 (AUTHORIZATION_EVALUATING): the registry says
// enabled, then the decision cache, then the policy. It returns false
// when the execution was answered with a denial. A message-form request
// has no capability and no decision: it passes on to be recorded.
func (x *execution) authorize() bool {
	if x.msg.Form == protocol.FormMessage {
		return true
	}
	rt := x.rt
	t1 := x.start + x.ans.Timings.Validate
	x.ev.Capability = x.msg.Tool
	x.cr = x.snap.caps[x.msg.Tool]
	d := x.decide()
	t2 := rt.mono()
	x.ans.Timings.Authorize = t2 - t1
	if x.hit {
		rt.observe(rt.m.authorizeHit, x.ans.Timings.Authorize)
	} else {
		rt.observe(rt.m.authorizeMiss, x.ans.Timings.Authorize)
	}
	x.ans.Decision, x.ans.Rule = d.Code, d.Rule
	x.ev.Decision, x.ev.Rule = d.Code, d.Rule
	rt.m.decisions[d.Code].Inc()
	if d.Code != protocol.DecisionAuthorized {
		e := &protocol.Error{Category: protocol.CategoryAuthorization, Severity: protocol.SeverityError,
			Subsystem: "capability_gate", Message: d.Reason, Capability: x.msg.Tool, Decision: d.Code, Rule: d.Rule}
		if d.Reason == "" {
			e.Message = string(d.Code)
		}
		x.failWith(protocol.StateAuthorizationEvaluating, e, outDenied)
		return false
	}
	return true
}

// decide returns the verdict for this call; any failure on this path
// denies (fails closed). With a shadow candidate loaded, decideShadow
// takes over past the registry checks: this one nil test is all that
// shadow mode costs a runtime without a candidate.
func (x *execution) decide() protocol.Verdict {
	e := x.entry
	if e == nil || x.cr == nil {
		return protocol.Verdict{Code: protocol.DecisionNotFound, Rule: "registry", Reason: "capability " + x.msg.Tool + " is not registered"}
	}
	if !e.Settings.Enabled {
		return disabledVerdict(x.msg.Tool)
	}
	pargs, alt, args := x.policyArgs()
	if x.snap.cand != nil {
		return x.decideShadow(pargs, alt, args)
	}
	if d, ok := x.rt.caches().Decisions.Get(x.snap.decEpoch, x.req.Principal, x.msg.Tool, args); ok {
		x.hit = true
		return d
	}
	d := x.evaluate(x.snap.pol, pargs, alt, "policy")
	x.rt.caches().Decisions.Put(x.snap.decEpoch, x.req.Principal, x.msg.Tool, args, d)
	return d
}

// decideShadow is decide in shadow mode: the active policy and the
// candidate both decide (one cache entry holds both verdicts), the active
// verdict is returned — the only one ever acted on — and a difference is
// counted and put into the execution's journal record.
func (x *execution) decideShadow(pargs, alt protocol.Value, args string) protocol.Verdict {
	rt, s := x.rt, x.snap
	d, c, ok := rt.caches().Decisions.GetPair(s.decEpoch, x.req.Principal, x.msg.Tool, args)
	if ok {
		x.hit = true
	} else {
		d = x.evaluate(s.pol, pargs, alt, "policy")
		c = x.evaluate(s.cand, pargs, alt, "shadow candidate policy")
		rt.caches().Decisions.PutPair(s.decEpoch, x.req.Principal, x.msg.Tool, args, d, c)
	}
	rt.m.shadowEvaluations.Inc()
	if c.Code != d.Code || c.Rule != d.Rule {
		rt.m.shadowDifferences[b2i(d.Code.Allowed())][b2i(c.Code.Allowed())].Inc()
		// The execution record carries it (journalRecord fills the rest of
		// x.rec); calls on which the policies agree add nothing.
		x.rec.Shadow = &journal.Shadow{Decision: string(c.Code), Rule: c.Rule, PolicyHash: s.candHash}
	}
	return d
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// evaluate asks p (named which in the log) about this call.
func (x *execution) evaluate(p *policy.Policy, pargs, alt protocol.Value, which string) protocol.Verdict {
	return evaluate(x.rt.log, p, &policy.Input{Principal: x.req.Principal, Capability: x.msg.Tool, Args: pargs, Alt: alt}, which)
}

// evaluate returns p's verdict on in; a panic (logged to log, naming
// which policy) or an empty decision denies.
func evaluate(log *slog.Logger, p *policy.Policy, in *policy.Input, which string) (d protocol.Verdict) {
	defer func() {
		if r := recover(); r != nil {
			log.Error(which+" evaluation panicked; denying", "category", string(protocol.CategoryAuthorization), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "fail-closed", Reason: "policy evaluation failed; denied"}
		}
	}()
	d = p.Evaluate(in)
	if d.Code == "" { // fail closed on an engine that returned nothing
		d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "fail-closed", Reason: "policy returned no decision; denied"}
	}
	return d
}

// disabledVerdict is the registry's denial of a capability that is
// registered but not enabled (decide, Decide).
func disabledVerdict(tool string) protocol.Verdict {
	return protocol.Verdict{Code: protocol.DecisionDisabled, Rule: "registry", Reason: "capability " + tool + " is disabled (enable it in the configuration)"}
}
