package pipeline

import (
	"errors"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// respond is stage 7: it completes the answer after the commit attempt
// that began at commitStart — journal position, final state, timings —
// then records the stage histograms and outcome counters, gives back the
// admission slot, emits the telemetry event, and finally releases the
// shutdown gate. After respond the execution touches nothing of the
// runtime's.
func (x *execution) respond(seq uint64, jerr error, commitStart int64) {
	rt := x.rt
	end := rt.mono()
	if rt.journal != nil {
		x.ans.Timings.Commit = end - commitStart
		rt.observe(rt.m.commit, x.ans.Timings.Commit)
	}
	wrote := x.entry != nil && x.entry.Cap.Effects() == capability.EffectsWrite && x.ans.Timings.Execute > 0
	overloaded := jerr != nil && errors.Is(jerr, journal.ErrOverloaded) && x.ans.Error == nil && !wrote
	if overloaded {
		// The journal's queue is full and nothing that changed the world
		// ran: an overload, not a failed journal (it is healthy, and
		// nothing was written), so a retry is safe.
		rt.m.overloadRejects.Inc()
		x.out = outOverloaded
		x.setError(protocol.StateMemoryCommitting, &protocol.Error{Category: protocol.CategoryRuntime, Severity: protocol.SeverityWarning,
			Subsystem: "journal", Reason: protocol.ReasonOverloaded, Capability: x.ev.Capability,
			Message: "the journal's commit queue is full; retry later"})
	}
	if jerr != nil && !overloaded {
		rt.log.Error("journal commit failed", "category", string(protocol.CategoryMemory), "execution_id", x.ans.ExecutionID, "err", jerr)
		if x.ans.Error == nil {
			x.out = outMemoryError
			x.setError(protocol.StateMemoryCommitting, &protocol.Error{Category: protocol.CategoryMemory, Severity: protocol.SeverityCritical,
				Subsystem: "journal", Reason: protocol.ReasonJournalFailed, Capability: x.ev.Capability,
				Message: "the execution record could not be committed: " + jerr.Error()})
		}
	} else if rt.journal != nil && jerr == nil {
		x.ans.Journal = protocol.JournalInfo{Seq: seq, Durable: rt.cfg.Durable}
	}
	if x.ans.Error == nil {
		x.ans.State = protocol.StateCompleted
		x.ans.Status = protocol.StatusSuccess
	} else {
		x.ans.State = protocol.StateError
	}
	x.mark(x.ans.State, end)
	x.ans.Timings.Total = end - x.start
	overhead := x.ans.Timings.Total - x.ans.Timings.Execute - x.ans.Timings.Commit - x.ans.Timings.Admit
	rt.observe(rt.m.overhead, overhead)
	rt.observe(rt.m.total, x.ans.Timings.Total)
	if x.ans.Timings.Execute > 0 {
		rt.observe(rt.m.dispatch, max(overhead-x.ans.Timings.Validate-x.ans.Timings.Authorize, 0))
	}
	rt.m.outcomes[x.out].Inc()
	if x.key != nil { // the key's first use is answered: replay it from now on
		rt.keys.finish(x.key, &x.ans, x.settles())
		x.key = nil
	}
	if x.admitted {
		x.admitted = false
		rt.release()
	}
	if !rt.cfg.DisableTelemetry {
		rt.m.transport(x.req.Transport).Record(x.ans.Timings.Total)
		if x.ans.Error != nil || rt.sink.sampled(uint64(x.start)) {
			rt.sink.emit(&x.ev)
		}
	}
	x.releaseGate() // last: shutdown may release caches, pools and sink after this
}

// settles reports whether x's answer is the answer of its call for good,
// to be replayed for its idempotency key: everything except refusals that
// happened before the call could run (overloaded, shutting down, an intent
// that could not be committed).
func (x *execution) settles() bool {
	switch x.out {
	case outOverloaded, outShuttingDown:
		return false
	case outMemoryError:
		return !x.intentFailed
	}
	return true
}
