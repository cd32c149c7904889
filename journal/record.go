package journal

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// Kind says what a record is. The values are part of the wire format.
type Kind uint8

const (
	// KindExecution is the complete record of an allowed call that ran.
	KindExecution Kind = 1
	// KindIntent is committed before a capability with effects:write runs.
	KindIntent Kind = 2
	// KindOutcome follows an intent with the result of the execution.
	KindOutcome Kind = 3
	// KindRejection records a malformed, denied, overloaded or
	// unauthenticated request.
	KindRejection Kind = 4
	// KindMessage records a message-form request (recorded, never executed).
	KindMessage Kind = 5
	// KindSystem records startup, shutdown, configuration and policy loads.
	KindSystem Kind = 6
	// KindInterrupted is written by Open, once, for each intent that
	// recovery found without a later record of the same execution: the
	// execution was cut off by a crash and will not be re-run. Its
	// ExecutionID is the intent's; State is INTERRUPTED, Status error, and
	// Error a JSON object naming the intent's seq. (Format version 2.)
	KindInterrupted Kind = 7
	// KindReplay records a repeated Idempotency-Key answered from the
	// journal: ExecutionID is the original execution's, so reading an
	// execution shows the original and each replay of it. Nothing ran.
	KindReplay Kind = 8

	kindMax = KindReplay
)

var kindNames = [...]string{"", "execution", "intent", "outcome", "rejection", "message", "system", "interrupted", "replay"}

// String returns the lowercase name of the kind ("execution", "intent", …).
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind is the inverse of Kind.String. It returns false for an unknown name.
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s && i != 0 {
			return Kind(i), true
		}
	}
	return 0, false
}

// Timings are the per-stage durations of an execution, in nanoseconds.
type Timings struct {
	ValidateNs  int64
	AuthorizeNs int64
	AdmitNs     int64
	ExecuteNs   int64
	TotalNs     int64
}

// Record is one journal entry. Seq and TimeUnixNs are assigned by the
// journal when the record is committed (Append writes them back into the
// Record before it returns); everything else is the caller's.
//
// A Record passed to Append or AppendAsync must not be modified until the
// call returns or its callback runs. Records returned by readers are fresh
// copies owned by the caller.
type Record struct {
	Seq            uint64   // assigned by the journal on commit, from 1
	TimeUnixNs     int64    // assigned by the journal; never decreasing
	Kind           Kind     //
	ExecutionID    string   //
	Principal      string   //
	Capability     string   //
	ArgsDigest     [32]byte // SHA-256 of Args as received (computed by the caller)
	Args           []byte   // raw JSON; nil when redacted
	Decision       string   // e.g. AUTHORIZED, DENIED_POLICY_VIOLATION
	Rule           string   // deciding rule id
	State          string   // final state: COMPLETED, ERROR, or CAPABILITY_EXECUTING for an intent
	Status         string   // success|error
	Result         []byte   // raw JSON capability result; may be nil
	Error          []byte   // raw JSON error object; may be nil
	IdempotencyKey string   //
	Timings        Timings  //
	// CanonicalArgs is the canonical form of Args the policy decided on
	// (raw JSON), when the capability canonicalizes its arguments and the
	// form differs from Args; nil otherwise, and when redacted.
	CanonicalArgs []byte
	// Shadow is the verdict of a candidate policy evaluated beside the
	// active one (shadow mode) when it differed from Decision and Rule;
	// nil when they agreed or no candidate was loaded.
	Shadow *Shadow
}

// Shadow is a candidate policy's verdict on a call, journaled with the
// call's record when it differed from the active policy's. The runtime
// acted on the active verdict (Record.Decision, Record.Rule) only.
type Shadow struct {
	Decision   string   // the candidate's decision code, e.g. AUTHORIZED
	Rule       string   // the candidate's deciding rule id
	PolicyHash [32]byte // SHA-256 of the candidate policy's text
}

type shadowJSON struct {
	Decision   string `json:"decision"`
	Rule       string `json:"rule"`
	PolicyHash string `json:"policy_sha256"`
}

type recordJSON struct {
	Seq            uint64          `json:"seq"`
	Time           string          `json:"ts"`
	TimeUnixNs     int64           `json:"ts_unix_ns"`
	Kind           string          `json:"type"`
	ExecutionID    string          `json:"execution_id,omitempty"`
	Principal      string          `json:"principal,omitempty"`
	Capability     string          `json:"capability,omitempty"`
	ArgsDigest     string          `json:"args_sha256"`
	Args           json.RawMessage `json:"args"`
	CanonicalArgs  json.RawMessage `json:"canonical_args,omitempty"`
	Decision       string          `json:"decision,omitempty"`
	Rule           string          `json:"rule,omitempty"`
	State          string          `json:"state,omitempty"`
	Status         string          `json:"status,omitempty"`
	Result         json.RawMessage `json:"result"`
	Error          json.RawMessage `json:"error"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Shadow         *shadowJSON     `json:"shadow,omitempty"`
	Timings        struct {
		Validate  int64 `json:"validate"`
		Authorize int64 `json:"authorize"`
		Admit     int64 `json:"admit"`
		Execute   int64 `json:"execute"`
		Total     int64 `json:"total"`
	} `json:"timings_ns"`
}

// rawOrNull embeds p as raw JSON; nil, empty or invalid JSON becomes null
// (invalid bytes are exported as a JSON string so nothing is lost).
func rawOrNull(p []byte) json.RawMessage {
	if len(p) == 0 {
		return json.RawMessage("null")
	}
	if !json.Valid(p) {
		q, _ := json.Marshal(string(p))
		return q
	}
	return p
}

// MarshalJSON renders the record for export and lookups: args, result and
// error are embedded as raw JSON, the digest as hex, the time as RFC 3339
// UTC with nanoseconds plus the raw Unix nanoseconds.
func (r *Record) MarshalJSON() ([]byte, error) {
	var o recordJSON
	o.Seq = r.Seq
	o.Time = time.Unix(0, r.TimeUnixNs).UTC().Format(time.RFC3339Nano)
	o.TimeUnixNs = r.TimeUnixNs
	o.Kind = r.Kind.String()
	o.ExecutionID = r.ExecutionID
	o.Principal = r.Principal
	o.Capability = r.Capability
	o.ArgsDigest = hex.EncodeToString(r.ArgsDigest[:])
	o.Args = rawOrNull(r.Args)
	if len(r.CanonicalArgs) > 0 {
		o.CanonicalArgs = rawOrNull(r.CanonicalArgs)
	}
	o.Decision = r.Decision
	o.Rule = r.Rule
	o.State = r.State
	o.Status = r.Status
	o.Result = rawOrNull(r.Result)
	o.Error = rawOrNull(r.Error)
	o.IdempotencyKey = r.IdempotencyKey
	if r.Shadow != nil {
		o.Shadow = &shadowJSON{Decision: r.Shadow.Decision, Rule: r.Shadow.Rule, PolicyHash: hex.EncodeToString(r.Shadow.PolicyHash[:])}
	}
	o.Timings.Validate = r.Timings.ValidateNs
	o.Timings.Authorize = r.Timings.AuthorizeNs
	o.Timings.Admit = r.Timings.AdmitNs
	o.Timings.Execute = r.Timings.ExecuteNs
	o.Timings.Total = r.Timings.TotalNs
	return json.Marshal(&o)
}
