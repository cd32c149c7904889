package protocol

import "strconv"

// Timings are the per-stage durations of one execution, in nanoseconds.
// A stage that did not run is zero.
type Timings struct {
	Validate  int64 // protocol validation, including the schema check
	Authorize int64 // registry + policy decision
	Admit     int64 // waiting for admission (in-flight bound)
	Execute   int64 // the capability itself
	Commit    int64 // journal commit, including the fsync wait
	Total     int64 // from input received to answer ready
}

// JournalInfo says what the journal did with an execution's record.
// Durable is true only when the record is on stable storage.
type JournalInfo struct {
	Seq     uint64
	Durable bool
}

// Answer is the one answer shape every transport returns (DESIGN §4):
//
//	{"execution_id":"exec-…","state":"COMPLETED","decision":"AUTHORIZED","status":"success",
//	 "result":{…},"error":null,"journal":{"seq":1042,"durable":true},
//	 "timings_ns":{"validate":812,"authorize":95,"execute":1430,"commit":212000,"total":215300}}
//
// On failure State is ERROR, Status is error and Error is the error object.
// Rule names the policy rule that decided, when one did.
type Answer struct {
	ExecutionID string
	State       State
	Decision    Decision // "" when no decision was made (encoded as null)
	Rule        string   // deciding rule, "" when none
	Status      Status
	Result      []byte // raw JSON produced by the capability; nil encodes as null
	Error       *Error
	Journal     JournalInfo
	Timings     Timings
	// Replayed marks an answer served again for a repeated Idempotency-Key:
	// the original execution's answer, not a new execution. It is encoded
	// ("replayed":true, after "journal") only when set.
	Replayed bool
}

// AppendJSON appends the answer as compact JSON.
func (a *Answer) AppendJSON(b []byte) []byte {
	b = append(b, `{"execution_id":`...)
	b = AppendString(b, a.ExecutionID)
	b = append(b, `,"state":`...)
	b = AppendString(b, string(a.State))
	b = append(b, `,"decision":`...)
	if a.Decision == "" {
		b = append(b, "null"...)
	} else {
		b = AppendString(b, string(a.Decision))
	}
	if a.Rule != "" {
		b = append(b, `,"rule":`...)
		b = AppendString(b, a.Rule)
	}
	b = append(b, `,"status":`...)
	b = AppendString(b, string(a.Status))
	b = append(b, `,"result":`...)
	if len(a.Result) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, a.Result...)
	}
	b = append(b, `,"error":`...)
	if a.Error == nil {
		b = append(b, "null"...)
	} else {
		b = a.Error.AppendJSON(b)
	}
	b = append(b, `,"journal":{"seq":`...)
	if a.Journal.Seq == 0 {
		b = append(b, "null"...)
	} else {
		b = appendUint(b, a.Journal.Seq)
	}
	b = append(b, `,"durable":`...)
	b = strconv.AppendBool(b, a.Journal.Durable)
	b = append(b, '}')
	if a.Replayed {
		b = append(b, `,"replayed":true`...)
	}
	b = append(b, `,"timings_ns":{"validate":`...)
	b = strconv.AppendInt(b, a.Timings.Validate, 10)
	b = append(b, `,"authorize":`...)
	b = strconv.AppendInt(b, a.Timings.Authorize, 10)
	b = append(b, `,"admit":`...)
	b = strconv.AppendInt(b, a.Timings.Admit, 10)
	b = append(b, `,"execute":`...)
	b = strconv.AppendInt(b, a.Timings.Execute, 10)
	b = append(b, `,"commit":`...)
	b = strconv.AppendInt(b, a.Timings.Commit, 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, a.Timings.Total, 10)
	return append(b, '}', '}')
}

// MarshalJSON implements json.Marshaler.
func (a *Answer) MarshalJSON() ([]byte, error) { return a.AppendJSON(nil), nil }
