package pipeline

import (
	"crypto/sha256"
	"unsafe"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Commit is stage 6 (MEMORY_COMMITTING). Two kinds of journal record are
// written here:
//
//   - the intent (commitIntent), before a write-effect capability runs,
//     durable before the world changes: if it cannot be committed, the
//     capability is not run;
//   - the execution record (journalRecord), for every request, allowed,
//     denied, rejected, overloaded or message form alike: commit waits
//     for it (Execute), commitAsync hands it to the journal's goroutine
//     (Submit). Both end in respond.

// commitIntent durably records an intent before a write-effect capability
// runs; if that fails the capability does not run.
func (x *execution) commitIntent() bool {
	r := &journal.Record{Kind: journal.KindIntent, ExecutionID: x.ans.ExecutionID, Principal: x.req.Principal,
		Capability: x.msg.Tool, Decision: string(x.ans.Decision), Rule: x.ans.Rule,
		State: string(protocol.StateCapabilityExecuting), IdempotencyKey: x.req.IdempotencyKey}
	x.fillArgs(r)
	_, err := x.rt.journal.Append(r)
	if err == nil && !x.rt.cfg.Durable {
		err = x.rt.journal.Sync() // the intent must be on disk before the world changes
	}
	if err != nil {
		x.out = outMemoryError
		x.intentFailed = true
		x.setError(protocol.StateCapabilityExecuting, &protocol.Error{Category: protocol.CategoryMemory, Severity: protocol.SeverityCritical,
			Subsystem: "journal", Reason: protocol.ReasonJournalFailed, Capability: x.msg.Tool,
			Message: "intent record could not be committed; the capability was not run: " + err.Error()})
		return false
	}
	return true
}

// fillArgs puts a tool call's arguments and their digest into r, or only
// the digest when the capability redacts its arguments. When the policy
// decided on a canonical form that differs from the raw args, that form
// goes beside them (CanonicalArgs), redacted alike.
func (x *execution) fillArgs(r *journal.Record) {
	if x.msg == nil || x.msg.Form != protocol.FormToolCall {
		return
	}
	x.fillArgsOf(r, x.entry, x.msg.Args.RawBytes())
	if r.Args != nil && x.callSecrets() == nil {
		// The canonical form beside the raw one; never for a call with
		// secrets, whose canonical form would carry them in clear.
		r.CanonicalArgs = x.canonicalArgs()
	}
}

// fillArgsOf puts raw (the args of a call to e) and their digest into r,
// with every secret replaced (redact_secrets.go); the digest is keyed
// when the call has secrets.
func (x *execution) fillArgsOf(r *journal.Record, e *capability.Entry, raw []byte) {
	r.ArgsDigest = x.digestArgs(raw)
	if s := x.callSecrets(); s != nil {
		r.Args = s.rawArgs(e.Settings.RedactArgs)
		return
	}
	r.Args = raw
}

// digestArgs is the journal's digest of a call's raw arguments: SHA-256,
// or the keyed digest when the call has secrets (so that the digest of a
// short secret cannot be reversed by guessing).
func (x *execution) digestArgs(raw []byte) (d [32]byte) {
	if x.callSecrets() != nil {
		copy(d[:], x.rt.redact.mac(raw))
		return d
	}
	return sha256.Sum256(raw)
}

// argsIdentity returns the capability and arguments digest journalRecord
// journals for x; the idempotency key index compares calls by them, live
// and after a restart alike (TestCallIdentityMatchesJournal holds the two
// together).
func (x *execution) argsIdentity() (string, [32]byte) {
	switch {
	case x.msg == nil && x.rejected != nil && x.rejected.Form == protocol.FormToolCall:
		return x.rejected.Tool, x.digestArgs(x.rejected.Args.RawBytes())
	case x.msg == nil && x.evidence != nil:
		return "", sha256.Sum256(x.evidence)
	case x.msg == nil:
		var d [32]byte
		copy(d[:], x.rt.redact.mac(x.req.Message))
		return "", d
	case x.msg.Form == protocol.FormMessage:
		return "", sha256.Sum256([]byte(x.msg.Raw()))
	default:
		return x.msg.Tool, x.digestArgs(x.msg.Args.RawBytes())
	}
}

// journalRecord fills the execution record from the finished execution.
func (x *execution) journalRecord() *journal.Record {
	r := &x.rec
	r.ExecutionID = x.ans.ExecutionID
	r.Principal = x.req.Principal
	r.IdempotencyKey = x.req.IdempotencyKey
	r.Decision = string(x.ans.Decision)
	r.Rule = x.ans.Rule
	r.Status = string(x.ans.Status)
	r.Result = x.ans.Result
	switch {
	case x.msg == nil && x.rejected != nil && x.rejected.Form == protocol.FormToolCall:
		// Decoded but refused by the registry (unknown tool, bad args):
		// journal the tool and its args, honouring the capability's
		// redaction setting even though the call was refused.
		r.Kind = journal.KindRejection
		r.Capability = x.rejected.Tool
		e, _ := x.snap.reg.Lookup(x.rejected.Tool)
		x.fillArgsOf(r, e, x.rejected.Args.RawBytes())
	case x.msg == nil && x.evidence != nil:
		// A security rejection: the runtime's own account of it (an
		// aggregate of unauthenticated requests), not client input.
		r.Kind = journal.KindRejection
		r.Args = x.evidence
		r.ArgsDigest = sha256.Sum256(x.evidence)
	case x.msg == nil:
		// Undecodable: which capability it was for, and so which parts are
		// secret, is unknown. Its length and keyed digest, never its bytes.
		r.Kind = journal.KindRejection
		r.Args = x.rt.undecodableArgs(x.req.Message)
		copy(r.ArgsDigest[:], x.rt.redact.mac(x.req.Message))
	case x.msg.Form == protocol.FormMessage:
		r.Kind = journal.KindMessage
		if x.out == outOverloaded || x.out == outShuttingDown {
			r.Kind = journal.KindRejection
		}
		r.Args = unsafe.Slice(unsafe.StringData(x.msg.Raw()), len(x.msg.Raw())) // read-only alias of the decoded copy
		r.ArgsDigest = sha256.Sum256(r.Args)
	default:
		r.Capability = x.msg.Tool
		x.fillArgs(r)
		switch {
		case x.ans.Decision != protocol.DecisionAuthorized || x.out == outOverloaded || x.out == outShuttingDown || x.intentFailed:
			r.Kind = journal.KindRejection
		case x.entry != nil && x.entry.Cap.Effects() == capability.EffectsWrite && x.rt.journal != nil:
			r.Kind = journal.KindOutcome
		default:
			r.Kind = journal.KindExecution
		}
	}
	if x.ans.Error != nil {
		r.Error = x.ans.Error.AppendJSON(nil)
		r.State = string(protocol.StateError)
	} else {
		r.State = string(protocol.StateCompleted)
	}
	r.Timings = journal.Timings{ValidateNs: x.ans.Timings.Validate, AuthorizeNs: x.ans.Timings.Authorize,
		AdmitNs: x.ans.Timings.Admit, ExecuteNs: x.ans.Timings.Execute, TotalNs: x.rt.mono() - x.start}
	return r
}

// commit commits the execution record (blocking until the journal
// returns: durable in "always" mode) and responds.
func (x *execution) commit() {
	x.redactOutputs()
	rt := x.rt
	if rt.journal == nil {
		x.respond(0, nil, rt.mono())
		return
	}
	t := rt.mono()
	seq, err := rt.journal.Append(x.journalRecord())
	x.respond(seq, err, t)
}

// commitAsync commits through the journal's callback, then responds and
// calls done on the journal's goroutine.
func (x *execution) commitAsync() {
	x.redactOutputs()
	rt := x.rt
	if rt.journal == nil {
		x.respond(0, nil, rt.mono())
		x.done(&x.ans)
		return
	}
	t := rt.mono()
	rt.journal.AppendAsync(x.journalRecord(), func(seq uint64, err error) {
		x.respond(seq, err, t)
		x.done(&x.ans)
	})
}
