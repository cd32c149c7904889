package pipeline

import (
	"fmt"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Admission (DESIGN §3, stage 4) bounds the work in the runtime: at most
// Config.MaxInFlight admitted executions; past that, an immediate
// RUNTIME_ERROR with reason "overloaded". Before validation, enter holds
// the shutdown gate so that nothing shutdown releases is touched after it.

// enter read-locks the shutdown gate, or answers "shutting_down".
func (rt *Runtime) enter(x *execution) bool {
	if rt.closing.Load() || !rt.gate.TryRLock() {
		x.fail(protocol.StateProtocolValidating, protocol.CategoryRuntime, protocol.ReasonShuttingDown, "runtime is shutting down; retry on another instance", outShuttingDown)
		return false
	}
	x.gated = true
	return true
}

// admit takes an in-flight slot, or answers "overloaded".
func (rt *Runtime) admit(x *execution) bool {
	if n := rt.inFlight.Add(1); n > int64(rt.cfg.MaxInFlight) {
		rt.inFlight.Add(-1)
		rt.m.overloadRejects.Inc()
		x.fail(protocol.StateAuthorizationEvaluating, protocol.CategoryRuntime, protocol.ReasonOverloaded,
			fmt.Sprintf("overloaded: %d executions in flight (limit %d); retry later", n-1, rt.cfg.MaxInFlight), outOverloaded)
		return false
	}
	rt.m.inFlight.Add(1)
	x.admitted = true
	return true
}

// release gives back an admitted execution's slot (respond calls it).
func (rt *Runtime) release() {
	rt.m.inFlight.Add(-1)
	rt.inFlight.Add(-1)
}
