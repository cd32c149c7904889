package pipeline

import (
	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// execution carries one request through the cycle. It is allocated once
// per request and holds the answer, the journal record and the event, so
// the cycle allocates little else. Each stage fills its part:
//
//	newExecution   id, clocks, event header          (execution.go)
//	enter, admit   gated, admitted                   (admission.go)
//	validate       msg or rejected, ans.Timings      (validate.go)
//	authorize      entry, cr, hit, ans.Decision,     (authorize.go)
//	               rec.Shadow (shadow mode, differing verdicts only)
//	execute        ans.Result or ans.Error, timings  (execute.go, bulkhead.go)
//	commit         rec                               (commit.go)
//	respond        ans.Journal, ans.State, metrics   (respond.go)
//
// An execution is touched by one goroutine at a time: the caller's, then
// possibly a pool worker's, then possibly the journal's.
type execution struct {
	rt       *Runtime
	req      *Request
	snap     *snapshot
	start    int64 // mono at INPUT_RECEIVED; validation ended at start+ans.Timings.Validate
	msg      *protocol.Message
	entry    *capability.Entry
	canon    *validated // the canonical form of the args, for a Canonicalizer (canonical.go)
	cr       *bulkhead
	ans      protocol.Answer
	rec      journal.Record
	ev       Event
	done     func(*protocol.Answer)
	poolDone func()
	rejected *protocol.Message // decoded, but refused by the registry (unknown tool, bad args)
	evidence []byte            // the runtime's own JSON journaled as the args of a security rejection (never client input)
	secrets  *secretSet        // the call's secret arguments (redact_secrets.go), once computed
	key      *keyEntry         // the idempotency key this execution is the first use of

	// One word of flags, kept together so that the carrier stays in the
	// 1 KiB allocation size class (1016 bytes, with the allocator's 8-byte
	// header for objects with pointers).
	out          outcome
	hit          bool // decision served from cache
	admitted     bool
	gated        bool // holds rt.gate for reading
	intentFailed bool // the intent could not be committed, so the capability never ran
	secretsDone  bool
	refused      bool // answered by the idempotency stage: skip to commit
}

func (rt *Runtime) newExecution(req *Request) *execution {
	x := &execution{rt: rt, req: req, snap: rt.snap.Load()}
	now := rt.cfg.Now()
	wall := now.UnixNano()
	x.start = rt.mono()
	x.ans.ExecutionID = rt.ids.next()
	x.ev.ExecutionID = x.ans.ExecutionID
	x.ev.Principal = req.Principal
	x.ev.Transport = req.Transport
	x.ev.WallNs = wall
	x.ev.transition(protocol.StateInputReceived, 0)
	x.ev.transition(protocol.StateProtocolValidating, 0)
	return x
}

// mark records a state transition at mono time at.
func (x *execution) mark(s protocol.State, at int64) { x.ev.transition(s, at-x.start) }

// fail answers with a new error from the named state.
func (x *execution) fail(from protocol.State, cat protocol.Category, reason protocol.Reason, msg string, out outcome) {
	x.failWith(from, &protocol.Error{Category: cat, Severity: protocol.SeverityError, Subsystem: "pipeline", Reason: reason, Message: msg}, out)
}

func (x *execution) failWith(from protocol.State, e *protocol.Error, out outcome) {
	x.out = out
	x.setError(from, e)
}

// setError stamps e with this execution's ids and time and makes it the
// answer's error.
func (x *execution) setError(from protocol.State, e *protocol.Error) {
	e.ExecutionID = x.ans.ExecutionID
	e.ID = "err-" + x.ans.ExecutionID[len("exec-"):]
	e.Timestamp = x.rt.cfg.Now()
	if e.Origin == "" {
		e.Origin = from
	}
	x.ans.Error = e
	x.ans.Status = protocol.StatusError
	x.ev.Category, x.ev.Reason = e.Category, e.Reason
	x.rt.m.errors[e.Category].Inc()
}
