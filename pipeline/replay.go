package pipeline

import (
	"context"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// The idempotency stage runs between validate and authorize for requests
// that carry a key (see idempotency.go for the index, doc.go for the
// semantics). Validation runs first only to learn what the call is; a
// replay runs nothing else.

// callIdentity is what makes two requests "the same call": the
// capability and the digest of the arguments, exactly as journalRecord
// journals them (argsIdentity), so that the key index rebuilt from the
// journal compares retries the way the live one does.
func (x *execution) callIdentity() callID { return newCallID(x.argsIdentity()) }

// keyed reports whether the idempotency stage applies to x.
func (x *execution) keyed() bool { return x.req.IdempotencyKey != "" && x.rt.keys != nil }

// claimKey is the idempotency stage for Execute. It returns a replayed
// answer when the key was answered before (waiting, within ctx, for an
// execution of it still running); nil when x must run — as the key's
// first use, or answered with an error (conflict, index still loading,
// wait cut short) that the rest of the cycle journals and returns.
func (x *execution) claimKey(ctx context.Context) *protocol.Answer {
	ix := x.rt.keys
	id, call := newKeyID(x.req.Principal, x.req.IdempotencyKey), x.callIdentity()
	for {
		r, e := ix.claim(id, call, x.ans.ExecutionID)
		switch r {
		case claimRun:
			x.key = e
			return nil
		case claimReplay:
			return x.replay(e)
		case claimConflict:
			x.conflict(e)
			return nil
		case claimLoading:
			if !waitCtx(ctx, ix.loaded) {
				x.keyLoading()
				return nil
			}
		case claimUnavailable:
			x.keyLoading()
			return nil
		case claimWait:
			if !waitCtx(ctx, e.done) {
				x.refused = true
				x.fail(protocol.StateProtocolValidating, protocol.CategoryRuntime, protocol.ReasonTimeout,
					"an earlier request with this Idempotency-Key is still running ("+e.execID+"); its answer did not arrive before this request's deadline", outOverloaded)
				return nil
			}
			// Claim again: the answer is replayed, or, if the first request
			// was refused before it ran (overload, shutdown), this one runs.
		}
	}
}

// claimKeyAsync is the idempotency stage for Submit: like claimKey, but
// it never blocks. It returns true when it took x over (x.done will be
// called); false when x must run through the rest of the cycle (then
// resume continues it).
func (x *execution) claimKeyAsync(resume func()) bool {
	ix := x.rt.keys
	id, call := newKeyID(x.req.Principal, x.req.IdempotencyKey), x.callIdentity()
	r, e := ix.claim(id, call, x.ans.ExecutionID)
	switch r {
	case claimRun:
		x.key = e
		return false
	case claimReplay:
		if a := x.replay(e); a != nil {
			x.done(a)
		} else {
			x.commitAsync()
		}
	case claimConflict:
		x.conflict(e)
		x.commitAsync()
	case claimUnavailable:
		x.keyLoading()
		x.commitAsync()
	case claimLoading:
		ix.whenLoaded(func() {
			if !x.claimKeyAsync(resume) {
				resume()
			}
		})
	case claimWait:
		ix.whenComplete(e, func() {
			if !x.claimKeyAsync(resume) {
				resume()
			}
		})
	}
	return true
}

// conflict answers a key reused for a different call.
func (x *execution) conflict(e *keyEntry) {
	x.refused = true
	x.rt.m.idempotencyConflicts.Inc()
	x.failWith(protocol.StateProtocolValidating, &protocol.Error{Category: protocol.CategoryProtocol, Severity: protocol.SeverityError,
		Subsystem: "idempotency", Reason: protocol.ReasonIdempotencyConflict,
		Message: "this Idempotency-Key was used for a different call (execution " + e.execID + "); use a new key for a new call"}, outRejected)
}

// keyLoading answers a keyed request that arrived, and gave up waiting,
// while the key index was still being rebuilt from the journal.
func (x *execution) keyLoading() {
	x.refused = true
	msg := "the idempotency key index is still being rebuilt from the journal; retry shortly"
	if ix := x.rt.keys; ix.isLoaded() {
		// The rebuild failed or was cut short: a key missing from the index
		// may still have been used, so no keyed call runs (fail closed).
		msg = "the idempotency key index could not be rebuilt from the journal; keyed requests are refused (see the runtime log)"
	}
	x.fail(protocol.StateProtocolValidating, protocol.CategoryRuntime, protocol.ReasonIdempotencyLoading, msg, outOverloaded)
}

// replay answers x with the answer of the key's first execution, marked
// replayed, and journals a replay record pointing at it (asynchronously:
// the answer is already durable, and a replay costs no fsync wait). x
// holds the shutdown gate until that record is committed. If the original
// answer cannot be read back, replay sets x's error and returns nil: the
// caller commits x as usual.
func (x *execution) replay(e *keyEntry) *protocol.Answer {
	rt := x.rt
	orig, err := rt.keys.answerOf(e, rt.cfg.Durable)
	if err != nil {
		rt.log.Error("idempotency replay: the original answer could not be read", "execution_id", e.execID, "err", err)
		x.refused = true
		x.failWith(protocol.StateProtocolValidating, &protocol.Error{Category: protocol.CategoryMemory, Severity: protocol.SeverityError,
			Subsystem: "idempotency", Reason: protocol.ReasonJournalFailed,
			Message: "the answer of execution " + e.execID + " for this Idempotency-Key could not be read back: " + err.Error()}, outMemoryError)
		return nil
	}
	out := *orig
	out.Replayed = true
	rt.m.outcomes[outReplayed].Inc()
	r := &x.rec
	*r = journal.Record{Kind: journal.KindReplay, ExecutionID: out.ExecutionID, Principal: x.req.Principal, IdempotencyKey: x.req.IdempotencyKey,
		Decision: string(out.Decision), Rule: out.Rule, State: string(out.State), Status: string(out.Status),
		Timings: journal.Timings{ValidateNs: x.ans.Timings.Validate, TotalNs: rt.mono() - x.start}}
	r.Capability, r.ArgsDigest = x.argsIdentity()
	if rt.journal == nil {
		x.releaseGate()
		return &out
	}
	rt.journal.AppendAsync(r, func(_ uint64, err error) {
		if err != nil {
			rt.log.Error("journal commit of a replay record failed", "category", string(protocol.CategoryMemory), "execution_id", out.ExecutionID, "err", err)
		}
		x.releaseGate()
	})
	return &out
}

// releaseGate gives back the shutdown gate (last touch of the runtime).
func (x *execution) releaseGate() {
	if x.gated {
		x.gated = false
		x.rt.gate.RUnlock()
	}
}
