package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// execute is stage 5 (CAPABILITY_EXECUTING): effects "none" run inline on
// the caller's goroutine; "read" and "write" run on the capability's
// bulkhead (bulkhead.go), and the caller waits. A message-form request
// runs nothing: it goes straight to commit. The answer's result or error
// is filled in either way.
func (x *execution) execute(ctx context.Context) {
	rt := x.rt
	t := rt.mono()
	x.mark(protocol.StateCapabilityExecuting, t)
	if x.msg.Form == protocol.FormMessage {
		x.out = outMessage
		x.mark(protocol.StateMemoryCommitting, t)
		return
	}
	if x.cr.pool == nil {
		x.executeBody(ctx)
	} else {
		x.executePooled(ctx, false)
	}
}

// executeBody commits the intent of a write-effect capability (when
// journaling) and then invokes the capability. It runs on whichever
// goroutine executes the call: the caller's or a pool worker's.
func (x *execution) executeBody(ctx context.Context) {
	if x.entry.Cap.Effects() == capability.EffectsWrite && x.rt.journal != nil && !x.commitIntent() {
		return
	}
	x.invoke(ctx)
}

// timeout returns the capability deadline for this request.
func (x *execution) timeout() time.Duration {
	s := x.entry.Settings
	d := s.Timeout
	if x.req.Timeout > 0 {
		d = min(x.req.Timeout, s.MaxTimeout)
	}
	return d
}

// invoke calls the capability on the current goroutine, turning panics
// into CAPABILITY_ERROR, and records its result.
func (x *execution) invoke(ctx context.Context) {
	rt := x.rt
	if x.entry.Cap.Effects() != capability.EffectsNone {
		// Effects "none" means pure computation of bounded cost, run inline:
		// a timer could not interrupt it anyway, and arming one costs more
		// (~0.5 µs) than the whole cycle of such a capability. The caller's
		// ctx still carries the transport's deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, x.timeout())
		defer cancel()
	}
	start := rt.mono()
	var (
		res []byte
		err error
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				rt.log.Error("capability panicked", "capability", x.msg.Tool, "execution_id", x.ans.ExecutionID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				res, err = nil, &capability.Error{Type: capability.ErrPanic, Msg: fmt.Sprintf("capability %s panicked", x.msg.Tool)}
			}
		}()
		res, err = x.entry.Cap.Execute(ctx, x.request())
	}()
	end := rt.mono()
	x.ans.Timings.Execute = end - start
	rt.observe(x.cr.latency, x.ans.Timings.Execute)
	x.capabilityOutcome(res, err, ctx.Err())
	x.mark(protocol.StateMemoryCommitting, end)
}

// capabilityOutcome turns what the capability returned into the answer's
// result and status, or a CAPABILITY_ERROR whose reason is the failure's
// type (protocol's capability reasons; a passed deadline is "timeout").
func (x *execution) capabilityOutcome(res []byte, err, ctxErr error) {
	if len(res) > 0 && !json.Valid(res) {
		x.rt.log.Error("capability returned invalid JSON; result dropped", "capability", x.msg.Tool, "execution_id", x.ans.ExecutionID)
		res = nil
		if err == nil {
			err = &capability.Error{Type: capability.ErrExecution, Msg: "capability " + x.msg.Tool + " returned a result that is not valid JSON"}
		}
	}
	x.ans.Result = res
	if err == nil {
		x.out = outSuccess
		x.ans.Status = protocol.StatusSuccess
		return
	}
	reason := capability.TypeOf(err)
	msg := err.Error()
	if ctxErr != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(ctxErr, context.DeadlineExceeded)) {
		reason = protocol.ReasonTimeout
		msg = fmt.Sprintf("capability %s exceeded its deadline of %s", x.msg.Tool, x.timeout())
	}
	x.out = outCapError
	x.setError(protocol.StateCapabilityExecuting, &protocol.Error{Category: protocol.CategoryCapability, Severity: protocol.SeverityError,
		Subsystem: "capability:" + x.msg.Tool, Message: msg, Reason: reason, Capability: x.msg.Tool})
}
