package protocol

// Category is the class of an error, from the FemtoClaw error model
// (document 17, the canonical wire values).
type Category string

// The error categories. Every error the runtime reports belongs to exactly one.
const (
	CategoryProtocol      Category = "PROTOCOL_ERROR"      // malformed message, unknown capability, bad argument structure
	CategoryAuthorization Category = "AUTHORIZATION_ERROR" // not registered, disabled, policy or argument-policy denial
	CategoryCapability    Category = "CAPABILITY_ERROR"    // the capability failed, timed out or panicked
	CategoryMemory        Category = "MEMORY_ERROR"        // journal write, sync, read or integrity failure
	CategoryConfiguration Category = "CONFIGURATION_ERROR" // invalid configuration or policy
	CategorySecurity      Category = "SECURITY_ERROR"      // authentication failure, tampering
	CategoryObservability Category = "OBSERVABILITY_ERROR" // telemetry emission or export failure
	CategoryRuntime       Category = "RUNTIME_ERROR"       // invariant violation, overload, deadline, shutdown
	CategorySystem        Category = "SYSTEM_ERROR"        // OS, filesystem, network or resource exhaustion
)

// Categories lists every category in a fixed order (for metrics and docs).
func Categories() []Category {
	return []Category{CategoryProtocol, CategoryAuthorization, CategoryCapability, CategoryMemory,
		CategoryConfiguration, CategorySecurity, CategoryObservability, CategoryRuntime, CategorySystem}
}

// Severity is how bad an error is (document 17 §4).
type Severity string

// The severities. CRITICAL may require the runtime to shut down.
const (
	SeverityInfo     Severity = "INFO"
	SeverityWarning  Severity = "WARNING"
	SeverityError    Severity = "ERROR"
	SeverityCritical Severity = "CRITICAL"
)

// Decision is the capability gate's verdict (document 05 §8): exactly one of
// the five codes. The zero value means no authorization decision was made
// (the message was rejected before authorization, or was a message form).
type Decision string

// The five decision codes.
const (
	DecisionAuthorized      Decision = "AUTHORIZED"
	DecisionNotFound        Decision = "DENIED_CAPABILITY_NOT_FOUND"
	DecisionDisabled        Decision = "DENIED_CAPABILITY_DISABLED"
	DecisionPolicyViolation Decision = "DENIED_POLICY_VIOLATION"
	DecisionArgumentInvalid Decision = "DENIED_ARGUMENT_INVALID"
)

// Decisions lists the five codes in a fixed order.
func Decisions() []Decision {
	return []Decision{DecisionAuthorized, DecisionNotFound, DecisionDisabled, DecisionPolicyViolation, DecisionArgumentInvalid}
}

// Allowed reports whether d permits execution.
func (d Decision) Allowed() bool { return d == DecisionAuthorized }

// Verdict is one authorization decision with its grounds: the decision code,
// the id of the rule that decided, and a reason in words. The policy engine
// returns it, the decision cache stores it, and the runtime answers with it.
//
// Code is named Decision for the specification's "decision code"; Verdict is
// the whole decision. Rule is a policy rule id, policy's default-deny rule, or
// a name for a decision taken before the policy ("registry" for a capability
// that is not registered or is disabled, "fail-closed" for an evaluation
// that failed). The zero Verdict means no decision was made.
//
// A Verdict is a plain value: comparable, and safe to copy and share.
type Verdict struct {
	Code   Decision
	Rule   string
	Reason string
}

// State is a state of the runtime state machine (document 10). The runtime
// lifecycle uses INITIALIZING, IDLE and SHUTDOWN; every execution walks its
// own machine from INPUT_RECEIVED to COMPLETED or ERROR.
type State string

// The state names, exactly as the specification spells them.
const (
	StateInitializing            State = "INITIALIZING"
	StateIdle                    State = "IDLE"
	StateInputReceived           State = "INPUT_RECEIVED"
	StateProtocolValidating      State = "PROTOCOL_VALIDATING"
	StateAuthorizationEvaluating State = "AUTHORIZATION_EVALUATING"
	StateCapabilityExecuting     State = "CAPABILITY_EXECUTING"
	StateMemoryCommitting        State = "MEMORY_COMMITTING"
	StateCompleted               State = "COMPLETED"
	StateError                   State = "ERROR"
	StateShutdown                State = "SHUTDOWN"
	// StateInterrupted is not a machine state: journal recovery reports an
	// execution whose intent record has no outcome with this label.
	StateInterrupted State = "INTERRUPTED"
)

// CanTransition reports whether the state machine of document 10 allows the
// edge from → to. A message-form input walks the full path with no-op
// authorization and execution steps, so no extra edges are needed.
func CanTransition(from, to State) bool {
	switch from {
	case StateInitializing:
		return to == StateIdle || to == StateError
	case StateIdle:
		return to == StateInputReceived || to == StateShutdown
	case StateInputReceived:
		return to == StateProtocolValidating || to == StateError
	case StateProtocolValidating:
		return to == StateAuthorizationEvaluating || to == StateError
	case StateAuthorizationEvaluating:
		return to == StateCapabilityExecuting || to == StateError
	case StateCapabilityExecuting:
		return to == StateMemoryCommitting || to == StateError
	case StateMemoryCommitting:
		return to == StateCompleted || to == StateError
	case StateCompleted:
		return to == StateIdle
	case StateError:
		return to == StateIdle || to == StateShutdown
	}
	return false
}

// Status is the coarse outcome in an answer.
type Status string

// The two statuses.
const (
	StatusSuccess Status = "success"
	StatusError   Status = "error"
)
