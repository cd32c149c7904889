package pipeline

import (
	"log/slog"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// PolicyVerdict returns the verdict p gives the tool call msg (a protocol
// message) by principal, decided as a runtime over reg decides it: on the
// canonical form of the arguments that reg's capability computes (with
// its alternative spellings), failing closed on a panic or an empty
// decision (logged to log; nil means slog.Default()). It runs nothing and
// caches nothing, and does not ask whether the capability is enabled:
// that is the registry's verdict, not the policy's. An error means msg is
// not a tool call that reg accepts (the runtime would have refused it
// before any policy): a *protocol.Error of category PROTOCOL_ERROR.
//
// `femtoclaw policy diff --candidate` replays journaled calls through it.
// Canonical forms are computed now, not when the call was made: a path or
// a binary that resolves differently today is decided as it resolves
// today.
func PolicyVerdict(log *slog.Logger, reg *capability.Registry, p *policy.Policy, principal string, msg []byte) (protocol.Verdict, error) {
	if log == nil {
		log = slog.Default()
	}
	m, err := protocol.Decode(msg, protocol.Limits{})
	if err != nil {
		return protocol.Verdict{}, err
	}
	if m.Form != protocol.FormToolCall {
		return protocol.Verdict{}, protocol.NewError(protocol.CategoryProtocol, "pipeline", "a message-form request is never decided by a policy")
	}
	entry, err := reg.Validate(m)
	if err != nil {
		return protocol.Verdict{}, err
	}
	x := &execution{msg: m}
	if v, ok := canonicalize(entry, m).(*validated); ok {
		x.canon = v
	}
	args, alt, _ := x.policyArgs()
	return evaluate(log, p, &policy.Input{Principal: principal, Capability: m.Tool, Args: args, Alt: alt}, "policy"), nil
}
