package pipeline

import (
	"errors"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// validate is stage 2 (PROTOCOL_VALIDATING): the validation cache first,
// keyed by (registry epoch, exact bytes); on a miss protocol.Decode
// (strict JSON, exactly one form, limits) and, for a tool call, the
// registry (registered tool, args satisfy its compiled schema). Accepted
// and rejected outcomes alike are cached. It returns false when the
// execution was answered with a PROTOCOL_ERROR.
func (x *execution) validate() bool {
	rt := x.rt
	msg, entryAny, err, hit := rt.caches().Validation.Get(x.snap.regEpoch, x.req.Message)
	var entry *capability.Entry
	if !hit {
		msg, err = protocol.Decode(x.req.Message, rt.cfg.Limits)
		if err == nil && msg.Form == protocol.FormToolCall {
			entry, err = x.snap.reg.Validate(msg)
		}
		entryAny = entry
		if err == nil && entry != nil {
			entryAny = canonicalize(entry, msg) // once per distinct message: kept with the cached validation
		}
		rt.caches().Validation.Put(x.snap.regEpoch, x.req.Message, msg, entryAny, err)
	}
	switch e := entryAny.(type) {
	case *capability.Entry:
		entry = e
	case *validated:
		entry, x.canon = e.entry, e
	}
	t1 := rt.mono()
	x.ans.Timings.Validate = t1 - x.start
	rt.observe(rt.m.validate, x.ans.Timings.Validate)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			c := *pe // a cached rejection is shared: stamp a copy
			pe = &c
		} else {
			pe = protocol.NewError(protocol.CategoryProtocol, "protocol_validator", err.Error())
		}
		if msg != nil {
			x.ev.Capability = msg.Tool
			x.rejected = msg
		}
		x.failWith(protocol.StateProtocolValidating, pe, outRejected)
		return false
	}
	x.msg = msg
	x.entry = entry
	x.mark(protocol.StateAuthorizationEvaluating, t1)
	return true
}
