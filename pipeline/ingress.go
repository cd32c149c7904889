package pipeline

import (
	"context"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Ingress (DESIGN §3, stage 1): a transport hands the runtime a Request,
// synchronously (Execute) or asynchronously (Submit). Both run the same
// stages in the same order:
//
//	enter ─> validate ─> authorize ─> admit ─> execute ─> commit ─> respond
//
// and any stage that refuses skips straight to commit, so every request,
// refused or not, is journaled and answered exactly once.

// Request is one message handed to the runtime by a transport.
type Request struct {
	// Message is the protocol message exactly as received. The runtime
	// copies what it keeps; the caller may reuse the buffer once Execute
	// returns (or, for Submit, once done runs).
	Message []byte
	// Principal is who is asking, as established by the transport's
	// authentication — never taken from the message.
	Principal string
	// IdempotencyKey, if the client sent one, is journaled with the record.
	IdempotencyKey string
	// Transport names the ingress ("inproc", "http3", "ring") for metrics
	// and events.
	Transport string
	// Timeout asks for a capability deadline; it is clamped to the
	// capability's MaxTimeout. If zero, the capability's Timeout applies.
	Timeout time.Duration
}

// Execute runs one message through the whole cycle and returns its answer.
// It never returns nil and never panics on bad input: every failure is an
// answer with an error object. ctx cancels the wait for the capability
// (and its deadline bounds it).
func (rt *Runtime) Execute(ctx context.Context, req *Request) *protocol.Answer {
	x := rt.newExecution(req)
	if rt.enter(x) {
		ok := x.validate()
		if x.keyed() {
			if a := x.claimKey(ctx); a != nil {
				return a
			}
		}
		if ok && !x.refused && x.authorize() && rt.admit(x) {
			x.execute(ctx)
		}
	}
	x.commit()
	return &x.ans
}

// Submit runs one message asynchronously and calls done with the answer
// exactly once, from some goroutine; done must not block for long.
// Capabilities with effects "none" run on the caller's goroutine before
// Submit returns; others run on their capability's pool. The commit wait
// happens on the journal's goroutine, not the caller's.
func (rt *Runtime) Submit(req *Request, done func(*protocol.Answer)) {
	x := rt.newExecution(req)
	x.done = done
	if !rt.enter(x) {
		x.commitAsync()
		return
	}
	ok := x.validate()
	if x.keyed() && x.claimKeyAsync(func() { x.submitAfterValidate(ok) }) {
		return
	}
	x.submitAfterValidate(ok)
}

// submitAfterValidate is the rest of Submit's cycle once validation (and
// the idempotency stage, for a keyed request) is done.
func (x *execution) submitAfterValidate(ok bool) {
	rt := x.rt
	if !ok || x.refused || !x.authorize() || !rt.admit(x) {
		x.commitAsync()
		return
	}
	if x.msg.Form == protocol.FormMessage || x.cr.pool == nil {
		x.execute(context.Background())
		x.commitAsync()
		return
	}
	// The pool worker runs the capability, then hands off to the journal.
	x.mark(protocol.StateCapabilityExecuting, rt.mono())
	x.poolDone = x.commitAsync
	x.executePooled(context.Background(), true)
}

// RecordSecurityRejection journals and counts a request that a transport
// refused before it reached the pipeline (missing or bad credentials):
// the audit trail has no gap for unauthenticated traffic. It returns the
// answer the transport should send (state ERROR, category SECURITY_ERROR).
//
// It writes one record per call: for traffic anyone can send (a network
// listener), use a RejectionLog (NewRejectionLog), which journals
// aggregates at a bounded rate instead.
//
// The record is committed asynchronously (the answer does not wait for
// it, and says "durable":false), so floods of bad credentials cost no
// fsync wait and hold no admission slot.
func (rt *Runtime) RecordSecurityRejection(reason protocol.Reason, remote, transport string) *protocol.Answer {
	var a protocol.Answer
	rt.recordRejectionWith("", reason, "unauthenticated request from "+remote+": "+string(reason), transport, nil, &a)
	return &a
}

// recordRejection journals one SECURITY_ERROR rejection under id (a new
// one when empty) with evidence as its args. It reports false, journaling
// nothing, when the runtime is shutting down.
func (rt *Runtime) recordRejection(id string, reason protocol.Reason, msg, transport string, evidence []byte) bool {
	var a protocol.Answer
	return rt.recordRejectionWith(id, reason, msg, transport, evidence, &a)
}

func (rt *Runtime) recordRejectionWith(id string, reason protocol.Reason, msg, transport string, evidence []byte, out *protocol.Answer) bool {
	x := rt.newExecution(&Request{Principal: "", Transport: transport})
	x.evidence = evidence
	if id != "" {
		x.ans.ExecutionID, x.ev.ExecutionID = id, id
	}
	x.failWith(protocol.StateInputReceived, &protocol.Error{Category: protocol.CategorySecurity, Severity: protocol.SeverityError,
		Subsystem: "authentication", Reason: reason, Message: msg}, outRejected)
	x.ans.State = protocol.StateError
	*out = x.ans // the caller's copy: x.ans is finished on the journal's goroutine
	if !rt.gate.TryRLock() {
		return false
	}
	x.gated = true
	x.done = func(*protocol.Answer) {}
	x.commitAsync()
	return true
}
