package capability

import (
	"context"
	"errors"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Effects says what a capability may change in the world. The pipeline
// uses it to decide where a call runs (inline for EffectsNone, a bounded
// per-capability pool otherwise) and whether an intent record is committed
// before execution (EffectsWrite).
type Effects string

// The three effect classes.
const (
	EffectsNone  Effects = "none"  // pure computation, bounded cost: runs inline
	EffectsRead  Effects = "read"  // observes the world (files, network), changes nothing
	EffectsWrite Effects = "write" // may change the world: intent is journaled first
)

// Valid reports whether e is one of the three effect classes.
func (e Effects) Valid() bool { return e == EffectsNone || e == EffectsRead || e == EffectsWrite }

// Request is one authorized call handed to Capability.Execute. It is
// immutable; Args has already been validated against the capability's
// compiled schema.
type Request struct {
	ExecutionID string
	Principal   string
	Args        protocol.Value // validated against the schema already
	// Canonical is the canonical form of Args the policy decided on, for
	// a Canonicalizer; missing when the capability has none or it could
	// not be computed (the capability then refuses, or authorizes what it
	// computes itself).
	Canonical protocol.Value
	// Authorize asks the policy, with the same policy snapshot and
	// principal that authorized the call, about another canonical form of
	// it: a redirect hop, a path whose symbolic links changed since the
	// decision. It returns nil when that form is authorized, else a *Error
	// of type AuthorizationError naming the deciding rule. The pipeline
	// sets it for every Canonicalizer; nil means no policy stands in front
	// of the capability (it is being called directly) and every form is
	// accepted.
	Authorize func(Canonical) error
}

// Capability is a registered, explicitly enabled action ("Claw"). It is
// the only path from a protocol message to the world.
//
// Implementations must be safe for concurrent use: Execute is called from
// many goroutines at once. Name, Version, Description, Schema and Effects
// must return constants.
type Capability interface {
	// Name is the exact, case-sensitive identifier the protocol's "tool"
	// field names.
	Name() string
	// Version is a semantic version (MAJOR.MINOR.PATCH).
	Version() string
	// Description is a constant, human-readable sentence.
	Description() string
	// Schema is the JSON Schema (the subset CompileSchema accepts) of the
	// "args" object.
	Schema() []byte
	// Effects is the capability's effect class.
	Effects() Effects
	// Execute runs one call. ctx carries the deadline; the capability
	// must return promptly once ctx is done. result is raw JSON (an
	// object) or nil; it is read-only for the caller and may be shared.
	// err is nil or a *Error (any other error is treated as an
	// ExecutionError). A non-nil result may accompany a non-nil error
	// (for example shell's exit status).
	Execute(ctx context.Context, req *Request) (result []byte, err error)
}

// ErrorType classifies a capability failure (spec document 04 §14). The
// values are protocol's capability reasons: an answer's error carries the
// type as its reason, spelled once, in protocol.
type ErrorType = protocol.Reason

// The error types.
const (
	ErrArgument      = protocol.ReasonArgumentError      // the arguments cannot be acted on (beyond the schema)
	ErrExecution     = protocol.ReasonExecutionError     // the action ran and failed (non-zero exit, HTTP transport error, missing file)
	ErrAuthorization = protocol.ReasonAuthorizationError // the capability's own confinement refused (bin not allowlisted, path escape, blocked address)
	ErrEnvironment   = protocol.ReasonEnvironmentError   // the environment is not fit (capability not configured, OS resource failure)
	ErrTimeout       = protocol.ReasonTimeout            // the deadline passed; the work was stopped (the answer's reason is "timeout", HTTP 504)
	ErrOutputTooBig  = protocol.ReasonOutputTooLarge     // output exceeded a hard cap and could not be truncated meaningfully
	ErrPanic         = protocol.ReasonPanic              // the capability panicked (set by the runtime, never by a capability)
)

// Error is the error a capability returns. Msg never carries secrets.
//
//	return nil, &capability.Error{Type: capability.ErrArgument, Msg: "path is a directory"}
//
// errors.Is(err, &Error{Type: T}) matches any *Error of type T.
type Error struct {
	Type ErrorType
	Msg  string
}

// Error implements error.
func (e *Error) Error() string { return string(e.Type) + ": " + e.Msg }

// Is matches by Type when the target has no message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Type == e.Type
}

// TypeOf returns the ErrorType of err: its own when err wraps a *Error,
// ErrTimeout for context.DeadlineExceeded, ErrExecution otherwise, and ""
// for nil.
func TypeOf(err error) ErrorType {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ErrExecution
}

func newErr(t ErrorType, msg string) *Error { return &Error{Type: t, Msg: msg} }

// Settings is the configuration of one capability. The zero value is a
// disabled capability with default limits.
type Settings struct {
	// Enabled makes the capability callable. Everything is disabled
	// unless configured (spec 05 §11).
	Enabled bool
	// Timeout is the default deadline of one execution. If zero,
	// defaults to 10s.
	Timeout time.Duration
	// MaxTimeout is the largest deadline a caller may ask for. If zero,
	// defaults to 60s, or to Timeout when that is larger. It must not be
	// below Timeout.
	MaxTimeout time.Duration
	// PoolSize is the size of the capability's worker pool when Effects
	// is not none. If zero, defaults to 64.
	PoolSize int
	// RedactArgs makes the journal store only a digest of the arguments.
	RedactArgs bool
}

// Default settings values.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxTimeout = 60 * time.Second
	DefaultPoolSize   = 64
)

// WithDefaults returns s with zero fields set to their defaults. It does
// not modify s.
func (s Settings) WithDefaults() Settings {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxTimeout == 0 {
		s.MaxTimeout = DefaultMaxTimeout
		if s.MaxTimeout < s.Timeout {
			s.MaxTimeout = s.Timeout
		}
	}
	if s.PoolSize == 0 {
		s.PoolSize = DefaultPoolSize
	}
	return s
}

// TimeoutFor returns the deadline to give one execution when the caller
// asked for requested: Timeout when requested is zero or negative, else
// requested clamped to MaxTimeout. s must have its defaults filled (as in
// an Entry).
func (s Settings) TimeoutFor(requested time.Duration) time.Duration {
	switch {
	case requested <= 0:
		return s.Timeout
	case requested > s.MaxTimeout:
		return s.MaxTimeout
	}
	return requested
}

func (s Settings) validate() string {
	switch {
	case s.Timeout < 0:
		return "timeout is negative"
	case s.MaxTimeout < 0:
		return "max_timeout is negative"
	case s.MaxTimeout < s.Timeout:
		return "max_timeout " + s.MaxTimeout.String() + " is below timeout " + s.Timeout.String()
	case s.PoolSize < 0:
		return "pool_size is negative"
	}
	return ""
}

// Entry is one registered capability: the capability, its compiled schema
// and its effective settings (defaults filled). Entries are read-only and
// shared by every goroutine that uses the registry snapshot.
type Entry struct {
	Cap      Capability
	Schema   *Schema
	Settings Settings
}
