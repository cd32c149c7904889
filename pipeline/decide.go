package pipeline

import (
	"errors"
	"log/slog"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// ErrNothingToDecide is Decide's error for a message-form request: it is
// recorded, never executed, so no decision is made on it.
var ErrNothingToDecide = errors.New("pipeline: a message-form request is recorded, never executed: there is nothing to decide")

// Decide returns the decision the runtime makes on a decoded tool call
// from principal under reg and pol, without running anything: the
// registry's validation (an unknown capability, or arguments its schema
// refuses, is the PROTOCOL_ERROR returned as err), whether the capability
// is enabled, and the policy's verdict on the capability's canonical form
// of the arguments (capability.Canonicalizer) — what Execute decides in
// its validate and authorize stages, without the caches, the journal or
// the capability. canonical is the arguments the policy decided on when
// they differ from the call's, else nil. `femtoclaw policy eval` and
// `femtoclaw policy test` print it.
//
// A panicking policy or an empty decision fails closed, as in the
// runtime (evaluate; logged to log, nil meaning slog.Default()).
//
// A Canonicalizer whose form depends on the world (fs.read's symbolic
// links) computes it from the world as it is now, as a live call would:
// `femtoclaw policy diff --candidate` replays journaled calls through
// Decide, so a path or binary that resolves differently today is decided
// as it resolves today. Decide is safe for concurrent use.
func Decide(log *slog.Logger, reg *capability.Registry, pol *policy.Policy, principal string, msg *protocol.Message) (d protocol.Verdict, canonical []byte, err error) {
	if log == nil {
		log = slog.Default()
	}
	if msg.Form != protocol.FormToolCall {
		return protocol.Verdict{}, nil, ErrNothingToDecide
	}
	entry, err := reg.Validate(msg)
	if err != nil {
		return protocol.Verdict{}, nil, err
	}
	if !entry.Settings.Enabled {
		return disabledVerdict(msg.Tool), nil, nil
	}
	x := &execution{msg: msg}
	if v, ok := canonicalize(entry, msg).(*validated); ok {
		x.canon = v
	}
	args, alt, _ := x.policyArgs()
	return evaluate(log, pol, &policy.Input{Principal: principal, Capability: msg.Tool, Args: args, Alt: alt}, "policy"), x.canonicalArgs(), nil
}
