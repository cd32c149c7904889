package protocol

import (
	"strconv"
	"time"
)

// Reason is a machine-readable sub-code that says exactly which rule a
// rejected input broke. It complements the category: every PROTOCOL_ERROR
// carries one, so clients and tests can tell an invalid UTF-8 sequence from
// a duplicate key without parsing the message text.
type Reason string

// Protocol rejection reasons.
const (
	ReasonTooLarge          Reason = "too_large"          // more bytes than Limits.MaxBytes
	ReasonInvalidUTF8       Reason = "invalid_utf8"       // not valid UTF-8
	ReasonInvalidJSON       Reason = "invalid_json"       // not valid JSON (includes markdown fences)
	ReasonTrailingData      Reason = "trailing_data"      // something after the JSON value
	ReasonNotObject         Reason = "not_object"         // top level is not an object
	ReasonAmbiguous         Reason = "ambiguous_form"     // both message and tool_call
	ReasonNoForm            Reason = "no_form"            // neither message nor tool_call
	ReasonUnknownKey        Reason = "unknown_key"        // a key the envelope does not define
	ReasonCaseConflict      Reason = "case_conflict"      // keys that differ only in case
	ReasonDuplicateKey      Reason = "duplicate_key"      // the same key twice in one object
	ReasonWrongType         Reason = "wrong_type"         // an envelope field of the wrong JSON type
	ReasonMissingField      Reason = "missing_field"      // content, tool or args absent
	ReasonEmptyContent      Reason = "empty_content"      // message.content is ""
	ReasonEmptyTool         Reason = "empty_tool"         // tool_call.tool is ""
	ReasonArgsNotObject     Reason = "args_not_object"    // tool_call.args is not an object
	ReasonTooDeep           Reason = "too_deep"           // nesting deeper than Limits.MaxDepth
	ReasonTooManyArgs       Reason = "too_many_args"      // more args than Limits.MaxArgs
	ReasonTooManyValues     Reason = "too_many_values"    // more JSON values than Limits.MaxValues
	ReasonUnknownCapability Reason = "unknown_capability" // tool names no registered capability
	ReasonInvalidArguments  Reason = "invalid_arguments"  // args fail the capability's schema
)

// Runtime reasons: why an execution that passed validation was not run to
// completion. Transports map answers to their own statuses from these
// constants only (HTTP/3: transport.StatusOf), so each is spelled once.
const (
	ReasonOverloaded    Reason = "overloaded"     // admission or a capability's pool is full; retry later (503)
	ReasonShuttingDown  Reason = "shutting_down"  // the runtime is closing; retry on another instance (503)
	ReasonTimeout       Reason = "timeout"        // the capability's deadline passed; its work was stopped (504)
	ReasonPanic         Reason = "panic"          // the capability or the runtime panicked while executing
	ReasonJournalFailed Reason = "journal_failed" // the intent or the execution record could not be committed (503)
)

// Capability failure reasons: a CAPABILITY_ERROR carries the kind of
// failure the capability reported (spec document 04 §14). capability's
// ErrorType values are these.
const (
	ReasonArgumentError      Reason = "ArgumentError"      // the arguments cannot be acted on (beyond the schema)
	ReasonExecutionError     Reason = "ExecutionError"     // the action ran and failed
	ReasonAuthorizationError Reason = "AuthorizationError" // the capability's own confinement refused
	ReasonEnvironmentError   Reason = "EnvironmentError"   // the environment is not fit
	ReasonOutputTooLarge     Reason = "OutputTooLarge"     // output exceeded a hard cap
)

// MaxIdempotencyKeyLen bounds an idempotency key, in bytes, on every
// transport (HTTP/3's Idempotency-Key header, keyed stream and ring frames).
const MaxIdempotencyKeyLen = 256

// Idempotency reasons: a repeated Idempotency-Key that cannot be replayed.
const (
	ReasonIdempotencyConflict Reason = "idempotency_conflict" // the key was used for a different call (PROTOCOL_ERROR, HTTP 422)
	ReasonIdempotencyLoading  Reason = "idempotency_loading"  // the key index is still being rebuilt from the journal; retry (503)
	ReasonInterrupted         Reason = "interrupted"          // the key's write-effect execution was interrupted by a crash; it is never re-run (MEMORY_ERROR)
)

// Authentication reasons: why a transport refused a request before it
// reached the runtime (SECURITY_ERROR, HTTP 401; on the shared-memory
// ring, a refused handshake).
const (
	ReasonMissingCredentials     Reason = "missing_credentials"     // no bearer token and no client certificate
	ReasonInvalidToken           Reason = "invalid_token"           // a bearer token that matches no principal
	ReasonMalformedAuthorization Reason = "malformed_authorization" // an Authorization header that is not "Bearer <token>"
	ReasonUnmappedPeer           Reason = "unmapped_peer"           // a local-socket peer whose uid and gid map to no principal
)

// Transport reasons: refusals of a request's framing rather than its
// message (PROTOCOL_ERROR), and failures of the lookup endpoints.
const (
	ReasonHTTP3Required     Reason = "http3_required"      // the request did not come over HTTP/3 (505)
	ReasonNotFound          Reason = "not_found"           // no such endpoint, or no such execution (404)
	ReasonMethodNotAllowed  Reason = "method_not_allowed"  // the endpoint does not take this method (405)
	ReasonInvalidHeader     Reason = "invalid_header"      // a header the runtime reads is malformed (400)
	ReasonBodyReadFailed    Reason = "body_read_failed"    // the request body could not be read (400)
	ReasonReadTimeout       Reason = "read_timeout"        // the request body, or a stream frame, did not arrive in time (408)
	ReasonEmptyFrame        Reason = "empty_frame"         // a zero-length frame on /v1/stream
	ReasonInvalidFrame      Reason = "invalid_frame"       // a keyed stream frame whose key does not fit
	ReasonLookupUnavailable Reason = "lookup_unavailable"  // execution lookups need a journal (404)
	ReasonJournalReadFailed Reason = "journal_read_failed" // reading the journal for a lookup failed (503)
	ReasonEncodeFailed      Reason = "encode_failed"       // a stored record could not be encoded as an answer (500)
)

// Admin listener reasons: why transport/admin refused a request before
// any handler ran (the admin listener is not an open door).
const (
	ReasonHostNotAllowed     Reason = "host_not_allowed"     // the Host header does not name the listener: DNS rebinding (421)
	ReasonAdminTokenRequired Reason = "admin_token_required" // the admin bearer token is configured and was not sent (401)
)

// Error is the specification's structured error object (document 17 §5,
// §26), the one shape every failure takes in answers, journal records and
// telemetry. The zero value is not useful; build errors with NewError.
//
// Error values are immutable once returned and safe to share.
type Error struct {
	ID          string   `json:"error_id"`
	Category    Category `json:"category"`
	Severity    Severity `json:"severity"`
	Message     string   `json:"message"`
	Subsystem   string   `json:"subsystem"`
	Timestamp   time.Time
	ExecutionID string   `json:"execution_id,omitempty"`
	Reason      Reason   `json:"reason,omitempty"`
	Origin      State    `json:"origin,omitempty"` // the state in which the error arose
	Capability  string   `json:"capability,omitempty"`
	Decision    Decision `json:"decision,omitempty"`
	Rule        string   `json:"rule,omitempty"`
}

// NewError returns an error of severity ERROR.
func NewError(cat Category, subsystem, msg string) *Error {
	return &Error{Category: cat, Severity: SeverityError, Subsystem: subsystem, Message: msg}
}

// Error implements error.
func (e *Error) Error() string {
	s := string(e.Category)
	if e.Reason != "" {
		s += "(" + string(e.Reason) + ")"
	}
	return s + ": " + e.Message
}

// Is matches sentinel errors by category, and by reason when the target has
// one: errors.Is(err, ErrProtocol) holds for every protocol error, and
// errors.Is(err, &Error{Category: CategoryProtocol, Reason: ReasonDuplicateKey})
// only for duplicate keys.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Message != "" || t.ID != "" {
		return false
	}
	return t.Category == e.Category && (t.Reason == "" || t.Reason == e.Reason)
}

// Sentinels for errors.Is, one per category.
var (
	ErrProtocol      = &Error{Category: CategoryProtocol}
	ErrAuthorization = &Error{Category: CategoryAuthorization}
	ErrCapability    = &Error{Category: CategoryCapability}
	ErrMemory        = &Error{Category: CategoryMemory}
	ErrConfiguration = &Error{Category: CategoryConfiguration}
	ErrSecurity      = &Error{Category: CategorySecurity}
	ErrObservability = &Error{Category: CategoryObservability}
	ErrRuntime       = &Error{Category: CategoryRuntime}
	ErrSystem        = &Error{Category: CategorySystem}
)

// AppendJSON appends the error object as compact JSON. Fields that are
// empty and optional are left out; the six required fields are always there.
func (e *Error) AppendJSON(b []byte) []byte {
	b = append(b, `{"error_id":`...)
	b = AppendString(b, e.ID)
	b = append(b, `,"category":`...)
	b = AppendString(b, string(e.Category))
	b = append(b, `,"severity":`...)
	b = AppendString(b, string(e.Severity))
	b = append(b, `,"message":`...)
	b = AppendString(b, e.Message)
	b = append(b, `,"subsystem":`...)
	b = AppendString(b, e.Subsystem)
	b = append(b, `,"timestamp":`...)
	if e.Timestamp.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = e.Timestamp.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	opt := func(b []byte, k, v string) []byte {
		if v == "" {
			return b
		}
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		return AppendString(b, v)
	}
	b = opt(b, "execution_id", e.ExecutionID)
	b = opt(b, "reason", string(e.Reason))
	b = opt(b, "origin", string(e.Origin))
	b = opt(b, "capability", e.Capability)
	b = opt(b, "decision", string(e.Decision))
	b = opt(b, "rule", e.Rule)
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler.
func (e *Error) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal. Invalid UTF-8 is
// replaced by U+FFFD; <, > and & are left alone (answers are not HTML).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c < 0x80 {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == runeError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendUint appends n in decimal.
func appendUint(b []byte, n uint64) []byte { return strconv.AppendUint(b, n, 10) }
