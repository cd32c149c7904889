package pipeline

import (
	"fmt"
	"runtime/debug"

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
	t1 := x.validated
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
// denies (fails closed).
func (x *execution) decide() (d protocol.Verdict) {
	e := x.entry
	if e == nil || x.cr == nil {
		return protocol.Verdict{Code: protocol.DecisionNotFound, Rule: "registry", Reason: "capability " + x.msg.Tool + " is not registered"}
	}
	if !e.Settings.Enabled {
		return protocol.Verdict{Code: protocol.DecisionDisabled, Rule: "registry", Reason: "capability " + x.msg.Tool + " is disabled (enable it in the configuration)"}
	}
	pargs, alt, args := x.policyArgs()
	if d, ok := x.rt.caches().Decisions.Get(x.snap.decEpoch, x.req.Principal, x.msg.Tool, args); ok {
		x.hit = true
		return d
	}
	defer func() {
		if r := recover(); r != nil {
			x.rt.log.Error("policy evaluation panicked; denying", "category", string(protocol.CategoryAuthorization), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "fail-closed", Reason: "policy evaluation failed; denied"}
		}
	}()
	d = x.snap.pol.Evaluate(&policy.Input{Principal: x.req.Principal, Capability: x.msg.Tool, Args: pargs, Alt: alt})
	if d.Code == "" { // fail closed on an engine that returned nothing
		d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "fail-closed", Reason: "policy returned no decision; denied"}
	}
	x.rt.caches().Decisions.Put(x.snap.decEpoch, x.req.Principal, x.msg.Tool, args, d)
	return d
}
