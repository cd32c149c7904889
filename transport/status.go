package transport

import (
	"net/http"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// RetryAfterSeconds is the Retry-After value sent with every 503.
const RetryAfterSeconds = "1"

// HeaderIdempotentReplayed is set to "true" on an answer replayed for a
// repeated Idempotency-Key (the answer itself says "replayed":true).
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// StatusOf maps an answer to its HTTP status (DESIGN §4):
//
//	200  executed: success, or a capability failure (see "status")
//	400  PROTOCOL_ERROR (413 when the reason is too_large)
//	401  SECURITY_ERROR (unauthenticated)
//	403  AUTHORIZATION_ERROR (every DENIED_* decision)
//	422  reason idempotency_conflict (an Idempotency-Key reused for a
//	     different call: the request is well-formed but cannot be
//	     processed with that key, as the IETF Idempotency-Key draft
//	     advises; 409 is not used because a concurrent retry waits)
//	409  reason interrupted (the key's write-effect execution was cut
//	     off by a crash; it is never re-run, and retrying will not help:
//	     an operator decides)
//	503  reason overloaded, shutting_down, journal_failed or
//	     idempotency_loading, and any MEMORY_ERROR (journal unavailable);
//	     sent with Retry-After
//	504  reason timeout (the capability's deadline passed)
//	500  anything else (RUNTIME_ERROR, SYSTEM_ERROR, …)
//
// Reasons win over categories: a CAPABILITY_ERROR with reason timeout is
// 504, and a RUNTIME_ERROR with reason overloaded is 503. The same
// mapping applies to the answers on /v1/stream, which carry no status of
// their own.
func StatusOf(a *protocol.Answer) int {
	e := a.Error
	if e == nil {
		return http.StatusOK
	}
	switch e.Reason {
	case protocol.ReasonOverloaded, protocol.ReasonShuttingDown, protocol.ReasonJournalFailed, protocol.ReasonIdempotencyLoading:
		return http.StatusServiceUnavailable
	case protocol.ReasonTimeout:
		return http.StatusGatewayTimeout
	case protocol.ReasonTooLarge:
		return http.StatusRequestEntityTooLarge
	case protocol.ReasonIdempotencyConflict:
		return http.StatusUnprocessableEntity
	case protocol.ReasonInterrupted:
		return http.StatusConflict
	}
	switch e.Category {
	case protocol.CategoryCapability:
		return http.StatusOK
	case protocol.CategoryProtocol:
		return http.StatusBadRequest
	case protocol.CategoryAuthorization:
		return http.StatusForbidden
	case protocol.CategorySecurity:
		return http.StatusUnauthorized
	case protocol.CategoryMemory:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
