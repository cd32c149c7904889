package pipeline

import (
	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// validated is what the validation cache keeps, in place of the bare
// *capability.Entry, for an accepted call to a capability.Canonicalizer:
// the entry and the canonical form of the call's arguments, computed once
// per distinct message on the validation miss, so a cached call pays
// nothing for it. The policy decides on args (and alt); the decision cache
// is keyed by key, the canonical text, never by the raw bytes, so two
// spellings share one decision and a raw spelling whose canonical form has
// changed is decided again.
type validated struct {
	entry *capability.Entry
	args  protocol.Value // canonical args; missing: the capability gave none (the raw args are decided on)
	alt   protocol.Value // other spellings (capability.Canonical.Alt); may be missing
	canon []byte         // args' JSON text, for the journal when it differs from the raw args
	key   string         // the decision cache's args key: canonical text, NUL, alt text
}

// canonicalize returns what the validation cache keeps for an accepted
// call: entry itself, or a *validated when the capability canonicalizes its
// arguments. A canonicalization that fails or panics leaves args missing:
// the policy then decides on the arguments as received, and the capability,
// which computes its form again in Execute, refuses or asks the policy
// about what it would act on (Request.Authorize).
func canonicalize(entry *capability.Entry, msg *protocol.Message) (cached any) {
	c, ok := entry.Cap.(capability.Canonicalizer)
	if !ok {
		return entry
	}
	v := &validated{entry: entry}
	defer func() {
		if recover() != nil {
			cached = &validated{entry: entry}
		}
	}()
	cf, err := c.Canonicalize(msg.Args)
	if err != nil || cf.Args == nil {
		return v
	}
	args, perr := protocol.ParseValue(cf.Args, protocol.Limits{})
	if perr != nil || args.Kind() != protocol.KindObject {
		return v
	}
	var alt protocol.Value
	if cf.Alt != nil {
		if alt, perr = protocol.ParseValue(cf.Alt, protocol.Limits{}); perr != nil || alt.Kind() != protocol.KindObject {
			return v
		}
	}
	v.args, v.alt, v.canon = args, alt, cf.Args
	v.key = args.Raw() + "\x00" + alt.Raw()
	return v
}

// policyArgs returns what the policy decides on and the decision cache's
// args key: the canonical form when there is one, else the raw args.
func (x *execution) policyArgs() (args, alt protocol.Value, key string) {
	if c := x.canon; c != nil && c.args.Exists() {
		return c.args, c.alt, c.key
	}
	return x.msg.Args, protocol.Value{}, x.msg.Args.Raw()
}

// canonicalArgs returns the canonical args to journal beside the raw
// ones: nil when there is no canonical form or it is the raw text.
func (x *execution) canonicalArgs() []byte {
	c := x.canon
	if c == nil || len(c.canon) == 0 || string(c.canon) == x.msg.Args.Raw() {
		return nil
	}
	return c.canon
}

// authorizeForm is capability.Request.Authorize: it decides another
// canonical form of this call (a redirect hop, a path whose links changed)
// with the same policy snapshot and principal, uncached.
func (x *execution) authorizeForm(c capability.Canonical) error {
	args, err := protocol.ParseValue(c.Args, protocol.Limits{})
	if err != nil || args.Kind() != protocol.KindObject {
		return &capability.Error{Type: capability.ErrAuthorization, Msg: "the capability asked the policy about arguments that are not a JSON object"}
	}
	var alt protocol.Value
	if c.Alt != nil {
		if alt, err = protocol.ParseValue(c.Alt, protocol.Limits{}); err != nil {
			return &capability.Error{Type: capability.ErrAuthorization, Msg: "the capability asked the policy about an invalid alternative spelling"}
		}
	}
	d := x.snap.pol.Evaluate(&policy.Input{Principal: x.req.Principal, Capability: x.msg.Tool, Args: args, Alt: alt})
	if d.Code == protocol.DecisionAuthorized {
		return nil
	}
	return &capability.Error{Type: capability.ErrAuthorization, Msg: string(d.Code) + " by rule " + d.Rule + ": " + d.Reason}
}

// request builds the capability's Request: with the canonical form and
// the policy hook for a Canonicalizer.
func (x *execution) request() *capability.Request {
	r := &capability.Request{ExecutionID: x.ans.ExecutionID, Principal: x.req.Principal, Args: x.msg.Args}
	if x.canon != nil {
		r.Canonical = x.canon.args
		r.Authorize = x.authorizeForm
	}
	return r
}
