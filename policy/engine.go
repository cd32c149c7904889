package policy

import (
	"sync/atomic"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Engine holds the current policy and swaps it atomically on reload. It is
// safe for concurrent use: Evaluate and Current may run on any number of
// goroutines while another calls Reload. An evaluation uses the policy that
// was current when it started, from start to end, so every decision is one
// the old or the new policy would give — never a mix. There is nothing to
// close. Build one with NewEngine; a zero Engine has no policy and denies
// everything.
type Engine struct {
	cur atomic.Pointer[Policy]
}

// NewEngine returns an engine serving p, or Default() if p is nil.
func NewEngine(p *Policy) *Engine {
	if p == nil {
		p = Default()
	}
	e := &Engine{}
	e.cur.Store(p)
	return e
}

// Current returns the policy in force (nil only for a zero Engine).
func (e *Engine) Current() *Policy { return e.cur.Load() }

// Evaluate decides in against the current policy.
func (e *Engine) Evaluate(in *Input) protocol.Verdict { return e.cur.Load().Evaluate(in) }

// Reload parses and compiles data and, if that succeeds, makes it the
// current policy. On error the old policy stays in force and the error (a
// *ParseError, which unwraps to a CONFIGURATION_ERROR) is returned.
func (e *Engine) Reload(data []byte) error {
	p, _, err := parse(data)
	if err != nil {
		return err
	}
	e.cur.Store(p)
	return nil
}

// Swap makes p (a compiled policy; nil is ignored) current and returns the
// policy it replaced.
func (e *Engine) Swap(p *Policy) *Policy {
	if p == nil {
		return e.cur.Load()
	}
	return e.cur.Swap(p)
}
