package pipeline

import (
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Reading a key's original answer back: kept in memory, or rebuilt from
// the journal records of its execution.

// answerOf returns the answer to replay for a complete entry: the kept
// copy, or one rebuilt from the journal's records of the execution.
func (ix *keyIndex) answerOf(e *keyEntry, durable bool) (*protocol.Answer, error) {
	ix.mu.Lock()
	kept := e.ans
	ix.mu.Unlock()
	if kept != nil {
		return kept, nil
	}
	if ix.jr == nil {
		return nil, errNoAnswer
	}
	recs, err := ix.jr.Get(e.execID)
	if err != nil {
		return nil, err
	}
	return answerFromRecords(e.execID, recs, durable)
}

// answerFromRecords rebuilds the answer of an execution from its journal
// records: the last record that closed it (execution, outcome, rejection,
// message), or the INTERRUPTED verdict when only its intent is there.
func answerFromRecords(execID string, recs []journal.Record, durable bool) (*protocol.Answer, error) {
	var last, intent *journal.Record
	for i := range recs {
		switch recs[i].Kind {
		case journal.KindExecution, journal.KindOutcome, journal.KindRejection, journal.KindMessage:
			last = &recs[i]
		case journal.KindIntent:
			intent = &recs[i]
		}
	}
	if last == nil && intent != nil {
		return interruptedAnswer(execID, intent, durable), nil
	}
	if last == nil {
		return nil, errNoAnswer
	}
	a := &protocol.Answer{ExecutionID: execID, State: protocol.State(last.State), Decision: protocol.Decision(last.Decision),
		Rule: last.Rule, Status: protocol.Status(last.Status), Journal: protocol.JournalInfo{Seq: last.Seq, Durable: durable},
		Timings: protocol.Timings{Validate: last.Timings.ValidateNs, Authorize: last.Timings.AuthorizeNs, Admit: last.Timings.AdmitNs,
			Execute: last.Timings.ExecuteNs, Total: last.Timings.TotalNs}}
	if len(last.Result) > 0 {
		a.Result = last.Result
	}
	if len(last.Error) > 0 {
		e, err := protocol.ParseError(last.Error)
		if err != nil {
			return nil, err
		}
		a.Error = e
	}
	return a, nil
}

// interruptedAnswer is the verdict for a key whose write-effect execution
// was cut off by a crash between its durable intent and its outcome: the
// world may or may not have changed, so it is never run again.
func interruptedAnswer(execID string, intent *journal.Record, durable bool) *protocol.Answer {
	return &protocol.Answer{ExecutionID: execID, State: protocol.StateError, Decision: protocol.Decision(intent.Decision), Rule: intent.Rule,
		Status: protocol.StatusError, Journal: protocol.JournalInfo{Seq: intent.Seq, Durable: durable},
		Error: &protocol.Error{ID: "err-" + execID[min(len(execID), len("exec-")):], Category: protocol.CategoryMemory, Severity: protocol.SeverityCritical,
			Subsystem: "journal", Reason: protocol.ReasonInterrupted, ExecutionID: execID, Capability: intent.Capability,
			Origin:    protocol.StateInterrupted,
			Message:   "execution " + execID + " was INTERRUPTED: its intent is durable but it has no outcome; it is never re-run (an operator decides)",
			Timestamp: time.Unix(0, intent.TimeUnixNs).UTC()}}
}

var errNoAnswer = protocol.NewError(protocol.CategoryMemory, "journal", "the original answer of this idempotency key is no longer in the journal")
