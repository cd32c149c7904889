package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/panjf2000/ants/v2"

	"github.com/femtoclaw/femtoclaw-go/cache"
	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Journal is what the commit stage needs from the journal;
// *journal.Journal implements it. A nil Journal in Config means nothing is
// persisted, and every answer says so ("journal":{"durable":false}).
type Journal interface {
	Append(r *journal.Record) (uint64, error)
	AppendAsync(r *journal.Record, done func(seq uint64, err error))
	// Sync makes everything appended so far durable; used after an intent
	// record when appends alone are not (interval mode).
	Sync() error
	Ready() bool
}

// Config configures a Runtime. The caller's struct is never modified.
type Config struct {
	// Limits bound every message (bytes, depth, args, values). Zero fields
	// take protocol's defaults.
	Limits protocol.Limits
	// MaxInFlight bounds admitted executions; past it an execution is
	// answered at once with a RUNTIME_ERROR (reason "overloaded"). If zero,
	// defaults to 10000.
	MaxInFlight int
	// PoolQueue bounds how many calls may wait for a worker of one
	// capability's pool (effects read/write) before that capability
	// answers "overloaded". If zero, defaults to 4 × the pool size.
	PoolQueue int
	// Caches sizes the validation and decision caches.
	Caches cache.Config
	// Journal commits every execution. If nil, nothing is persisted.
	Journal Journal
	// Durable says whether Journal's Append returns only after the record
	// is on stable storage (journal durability "always"). It sets the
	// answer's "durable" flag; it is ignored when Journal is nil.
	Durable bool
	// Telemetry configures the asynchronous event sink.
	Telemetry TelemetryConfig
	// Metrics receives the runtime's histograms, counters and gauges. If
	// nil, a private registry is used (see Runtime.Metrics).
	Metrics *stats.Registry
	// DisableTelemetry turns off latency histograms and telemetry events
	// (counters stay on). It exists to measure what they cost; production
	// runtimes keep them.
	DisableTelemetry bool
	// Logger receives the runtime's own log records. If nil, slog.Default().
	Logger *slog.Logger
	// Now is the wall clock. If nil, time.Now. Tests inject their own.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Limits = c.Limits.WithDefaults()
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 10000
	}
	if c.Metrics == nil {
		c.Metrics = stats.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Telemetry.Queue <= 0 {
		c.Telemetry.Queue = 1 << 14
	}
	return c
}

// Request is one message handed to the runtime by a transport.
type Request struct {
	// Message is the protocol message exactly as received. The runtime
	// copies what it keeps; the caller may reuse the buffer once Execute
	// returns (or, for Submit, once done runs).
	Message []byte
	// Principal is who is asking, as established by the transport's
	// authentication — never taken from the message.
	Principal string
	// IdempotencyKey, if the client sent one, is journaled with the record.
	IdempotencyKey string
	// Transport names the ingress ("inproc", "http3", "ring") for metrics
	// and events.
	Transport string
	// Timeout asks for a capability deadline; it is clamped to the
	// capability's MaxTimeout. If zero, the capability's Timeout applies.
	Timeout time.Duration
}

// snapshot is the immutable configuration one execution sees from start
// to end: registry, policy, and the epochs their caches are keyed by.
// Reload swaps it atomically.
type snapshot struct {
	reg      *capability.Registry
	pol      *policy.Policy
	regEpoch uint64
	decEpoch uint64
	caps     map[string]*capRuntime
}

// capRuntime is the per-capability execution state: its bulkhead (nil for
// effects none) and its execution-time histogram.
//
// The bulkhead is a bounded queue in front of an ants pool: callers never
// block on it (Submit must not park a transport's reader goroutine), they
// either enqueue or are answered "overloaded" at once. One dispatcher
// goroutine per capability moves queued calls into the pool, blocking there
// while every worker is busy; it is owned by the Runtime and stopped by
// Close after the queue is drained.
type capRuntime struct {
	pool    *ants.Pool
	q       chan func()
	done    chan struct{} // closed when the dispatcher exits
	latency *stats.Histogram
}

func (cr *capRuntime) dispatch() {
	defer close(cr.done)
	for task := range cr.q {
		if err := cr.pool.Submit(task); err != nil {
			task() // the pool is closed: run here so the call still completes
		}
	}
}

// Runtime is the execution engine: validate, authorize, admit, execute,
// commit, answer. It is safe for concurrent use by any number of
// goroutines. The caller that opened it must call Close.
type Runtime struct {
	cfg  Config
	snap atomic.Pointer[snapshot]
	// cacheP holds the caches once built: building ristretto's counters
	// takes ~2 ms, so Open starts it in the background and the first
	// executions simply run uncached (noCache's nil caches always miss).
	cacheP     atomic.Pointer[cache.Caches]
	cacheBuilt chan struct{}
	cacheErr   error // set before cacheBuilt closes
	noCache    cache.Caches
	ids        *idGen
	base       time.Time // monotonic origin for stage clocks
	m          *metrics
	sink       *sink
	log        *slog.Logger
	journal    Journal

	inFlight atomic.Int64
	closing  atomic.Bool
	// gate is read-held by every execution from arrival to its last touch
	// of caches, pools and sink; Close takes it for writing to drain them.
	// An arrival that cannot read-lock it (Close is waiting or done) is
	// answered "shutting_down" without touching anything Close releases.
	gate sync.RWMutex

	mu      sync.Mutex // guards pools, lastReg, regGen and the snapshot swap
	pools   map[string]*capRuntime
	lastReg *capability.Registry
	regGen  uint64
}

// Open builds a runtime over a capability registry and a policy.
func Open(cfg Config, reg *capability.Registry, pol *policy.Policy) (*Runtime, error) {
	if reg == nil || pol == nil {
		return nil, protocol.NewError(protocol.CategoryConfiguration, "pipeline", "a registry and a policy are required")
	}
	cfg = cfg.withDefaults()
	rt := &Runtime{cfg: cfg, cacheBuilt: make(chan struct{}), ids: newIDGen(cfg.Now), base: time.Now(), log: cfg.Logger,
		journal: cfg.Journal, pools: map[string]*capRuntime{}}
	rt.m = newMetrics(cfg.Metrics)
	cfg.Metrics.GaugeFunc("femtoclaw_cache_entries_limit_bytes", "Configured bound of the validation and decision caches, in bytes.",
		func() float64 {
			eff := func(v, def int64) int64 {
				if v == 0 {
					return def
				}
				return max(v, 0)
			}
			return float64(eff(cfg.Caches.ValidationBytes, cache.DefaultValidationBytes) + eff(cfg.Caches.DecisionBytes, cache.DefaultDecisionBytes))
		})
	rt.mu.Lock()
	err := rt.install(reg, pol)
	rt.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go func() { // owned by the Runtime; Close waits for cacheBuilt
		defer close(rt.cacheBuilt)
		c, err := cache.New(cfg.Caches)
		if err != nil {
			rt.cacheErr = err
			rt.log.Error("caches could not be built; running uncached", "err", err)
			return
		}
		rt.cacheP.Store(c)
	}()
	rt.sink = newSink(cfg.Telemetry, rt.m, rt.log)
	rt.event("runtime_startup", "runtime open")
	if cfg.Journal == nil {
		rt.log.Warn("no journal: executions are NOT persisted; answers say \"durable\":false")
	}
	return rt, nil
}

// install builds and publishes a snapshot for reg and pol, creating pools
// for capabilities that need one and do not have one yet. rt.mu is held.
func (rt *Runtime) install(reg *capability.Registry, pol *policy.Policy) error {
	rh := reg.Hash()
	ph := pol.Hash()
	s := &snapshot{reg: reg, pol: pol, caps: map[string]*capRuntime{}}
	// The registry hash covers names, versions, schemas and settings, but
	// not how each capability instance is configured (shell's binaries,
	// fs.read's root). Validation-cache entries hold the capability entry,
	// so every new registry gets a new epoch, even with an equal hash.
	if reg != rt.lastReg {
		rt.regGen++
		rt.lastReg = reg
	}
	s.regEpoch = binary.LittleEndian.Uint64(rh[:8]) ^ rt.regGen*0xbf58476d1ce4e5b9
	s.decEpoch = s.regEpoch ^ binary.LittleEndian.Uint64(ph[:8])*0x9e3779b97f4a7c15
	for _, e := range reg.Entries() {
		name := e.Cap.Name()
		cr := rt.pools[name]
		if cr == nil {
			cr = &capRuntime{latency: rt.m.capHistogram(name)}
			rt.pools[name] = cr
		}
		if e.Cap.Effects() != capability.EffectsNone && e.Settings.Enabled && cr.pool == nil {
			size := e.Settings.PoolSize
			queue := rt.cfg.PoolQueue
			if queue <= 0 {
				queue = 4 * size
			}
			p, err := ants.NewPool(size, ants.WithPanicHandler(func(r any) {
				rt.log.Error("capability pool task panicked", "capability", name, "panic", fmt.Sprint(r))
			}))
			if err != nil {
				return fmt.Errorf("pipeline: pool for %q: %w", name, err)
			}
			cr.pool = p
			cr.q = make(chan func(), queue)
			cr.done = make(chan struct{})
			go cr.dispatch()
			lbl := stats.Label{Name: "capability", Value: name}
			rt.cfg.Metrics.GaugeFunc("femtoclaw_pool_running", "Capability pool workers busy.", func() float64 { return float64(p.Running()) }, lbl)
			q := cr.q
			rt.cfg.Metrics.GaugeFunc("femtoclaw_pool_waiting", "Calls queued for a capability pool worker (queue depth).", func() float64 { return float64(len(q) + p.Waiting()) }, lbl)
			rt.cfg.Metrics.GaugeFunc("femtoclaw_pool_capacity", "Capability pool size.", func() float64 { return float64(p.Cap()) }, lbl)
		}
		s.caps[name] = cr
	}
	rt.snap.Store(s)
	return nil
}

// Reload atomically replaces the registry and/or the policy (nil keeps
// the current one). Executions already past validation finish under the
// snapshot they started with; caches are keyed by epoch, so no stale
// verdict survives.
func (rt *Runtime) Reload(reg *capability.Registry, pol *policy.Policy) error {
	if !rt.gate.TryRLock() {
		return errors.New("pipeline: reload during shutdown")
	}
	defer rt.gate.RUnlock()
	rt.mu.Lock()
	cur := rt.snap.Load()
	if reg == nil {
		reg = cur.reg
	}
	if pol == nil {
		pol = cur.pol
	}
	err := rt.install(reg, pol)
	rt.mu.Unlock()
	if err != nil {
		return err
	}
	rt.event("policy_load", "registry and policy reloaded")
	return nil
}

// Registry returns the registry in force.
func (rt *Runtime) Registry() *capability.Registry { return rt.snap.Load().reg }

// Policy returns the policy in force.
func (rt *Runtime) Policy() *policy.Policy { return rt.snap.Load().pol }

// Metrics returns the registry the runtime records into.
func (rt *Runtime) Metrics() *stats.Registry { return rt.cfg.Metrics }

// InFlight returns the number of admitted, unanswered executions.
func (rt *Runtime) InFlight() int64 { return rt.inFlight.Load() }

// Durable reports whether answers are durable when they say so.
func (rt *Runtime) Durable() bool { return rt.journal != nil && rt.cfg.Durable }

// Close stops admitting work (new executions are answered RUNTIME_ERROR,
// reason "shutting_down"), waits for admitted executions until ctx is
// done, then stops the pools, the telemetry exporter (draining its queue)
// and the caches. The journal belongs to the caller, who closes it after.
//
// If ctx ends first, Close returns an error and leaves the pools, caches
// and telemetry sink to the executions still running (their goroutines
// end with them, or with the process).
func (rt *Runtime) Close(ctx context.Context) error {
	if rt.closing.Swap(true) {
		return nil
	}
	drained := make(chan struct{})
	go func() { rt.gate.Lock(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		return fmt.Errorf("pipeline: %d executions still running at shutdown: %w", rt.inFlight.Load(), ctx.Err())
	}
	rt.mu.Lock()
	for _, cr := range rt.pools {
		if cr.pool != nil {
			close(cr.q)
			<-cr.done
			cr.pool.Release()
		}
	}
	rt.mu.Unlock()
	rt.event("runtime_shutdown", "runtime closed")
	err := rt.sink.close(ctx)
	<-rt.cacheBuilt
	if c := rt.cacheP.Load(); c != nil {
		c.Close()
	}
	return err
}

// caches returns the caches, or a set that always misses while they are
// still being built.
func (rt *Runtime) caches() *cache.Caches {
	if c := rt.cacheP.Load(); c != nil {
		return c
	}
	return &rt.noCache
}

// cachesBuilt waits for the caches (tests and benchmarks).
func (rt *Runtime) cachesBuilt() *cache.Caches {
	<-rt.cacheBuilt
	return rt.caches()
}

// Emit sends a system event (for example "performance_degraded") to the
// telemetry sink. It never blocks.
func (rt *Runtime) Emit(typ, msg string) { rt.event(typ, msg) }

// Closing reports whether Close has begun.
func (rt *Runtime) Closing() bool { return rt.closing.Load() }

// Ready reports whether the runtime accepts work: not closing, and its
// journal (if any) accepts writes.
func (rt *Runtime) Ready() bool {
	return !rt.closing.Load() && (rt.journal == nil || rt.journal.Ready())
}

// RecordSecurityRejection journals and counts a request that a transport
// refused before it reached the pipeline (missing or bad credentials):
// the audit trail has no gap for unauthenticated traffic. It blocks until
// the record is committed and returns the answer the transport should
// send (state ERROR, category SECURITY_ERROR).
//
// The record is committed asynchronously (the answer does not wait for
// it, and says "durable":false), so floods of bad credentials cost no
// fsync wait and hold no admission slot.
func (rt *Runtime) RecordSecurityRejection(reason, remote, transport string) *protocol.Answer {
	x := rt.newExecution(&Request{Principal: "", Transport: transport})
	x.failWith(protocol.StateInputReceived, &protocol.Error{Category: protocol.CategorySecurity, Severity: protocol.SeverityError,
		Subsystem: "authentication", Reason: protocol.Reason(reason), Message: "unauthenticated request from " + remote + ": " + reason}, outRejected)
	x.ans.State = protocol.StateError
	a := x.ans // the caller's copy: x.ans is finished on the journal's goroutine
	if !rt.gate.TryRLock() {
		return &a
	}
	x.gated = true
	x.done = func(*protocol.Answer) {}
	x.commitAsync()
	return &a
}

func (rt *Runtime) event(typ, msg string) {
	rt.sink.emit(&Event{Type: typ, Message: msg, WallNs: rt.cfg.Now().UnixNano()})
}

// record adds v to h unless telemetry is disabled.
func (rt *Runtime) record(h *stats.Histogram, v int64) {
	if !rt.cfg.DisableTelemetry {
		h.Record(v)
	}
}

// mono returns nanoseconds on the monotonic clock since the runtime began.
func (rt *Runtime) mono() int64 { return int64(time.Since(rt.base)) }

// execution carries one request through the cycle. It is allocated once
// per request and holds the answer, the journal record and the event, so
// the cycle allocates little else.
type execution struct {
	rt           *Runtime
	req          *Request
	snap         *snapshot
	start        int64 // mono at INPUT_RECEIVED
	wall         int64
	msg          *protocol.Message
	entry        *capability.Entry
	cr           *capRuntime
	hit          bool // decision served from cache
	out          outcome
	execNs       int64
	ans          protocol.Answer
	rec          journal.Record
	ev           Event
	done         func(*protocol.Answer)
	poolDone     func()
	admitted     bool
	gated        bool              // holds rt.gate for reading
	intentFailed bool              // the intent could not be committed, so the capability never ran
	rejected     *protocol.Message // decoded, but refused by the registry (unknown tool, bad args)
}

func (rt *Runtime) newExecution(req *Request) *execution {
	x := &execution{rt: rt, req: req, snap: rt.snap.Load()}
	now := rt.cfg.Now()
	x.wall = now.UnixNano()
	x.start = rt.mono()
	x.ans.ExecutionID = rt.ids.next()
	x.ev.ExecutionID = x.ans.ExecutionID
	x.ev.Principal = req.Principal
	x.ev.Transport = req.Transport
	x.ev.WallNs = x.wall
	x.ev.transition(protocol.StateInputReceived, 0)
	x.ev.transition(protocol.StateProtocolValidating, 0)
	return x
}

func (x *execution) mark(s protocol.State, at int64) { x.ev.transition(s, at-x.start) }

// Execute runs one message through the whole cycle and returns its answer.
// It never returns nil and never panics on bad input: every failure is an
// answer with an error object. ctx cancels the wait for the capability
// (and its deadline bounds it).
func (rt *Runtime) Execute(ctx context.Context, req *Request) *protocol.Answer {
	x := rt.newExecution(req)
	if !rt.enter(x) {
		x.commitSync()
		return &x.ans
	}
	if !x.front() {
		x.commitSync()
		return &x.ans
	}
	if !rt.admit(x) {
		x.commitSync()
		return &x.ans
	}
	x.run(ctx)
	x.commitSync()
	return &x.ans
}

// Submit runs one message asynchronously and calls done with the answer
// exactly once, from some goroutine; done must not block for long.
// Capabilities with effects "none" run on the caller's goroutine before
// Submit returns; others run on their capability's pool. The commit wait
// happens on the journal's goroutine, not the caller's.
func (rt *Runtime) Submit(req *Request, done func(*protocol.Answer)) {
	x := rt.newExecution(req)
	x.done = done
	if !rt.enter(x) || !x.front() || !rt.admit(x) {
		x.commitAsync()
		return
	}
	if x.msg.Form == protocol.FormMessage || x.cr.pool == nil {
		x.run(context.Background())
		x.commitAsync()
		return
	}
	// The pool worker runs the capability, then hands off to the journal.
	x.mark(protocol.StateCapabilityExecuting, rt.mono())
	x.poolDone = x.commitAsync
	x.runPooled(context.Background(), true)
}

// enter read-locks the shutdown gate, or answers "shutting_down".
func (rt *Runtime) enter(x *execution) bool {
	if rt.closing.Load() || !rt.gate.TryRLock() {
		x.fail(protocol.StateProtocolValidating, protocol.CategoryRuntime, reasonShuttingDown, "runtime is shutting down; retry on another instance", outShuttingDown)
		return false
	}
	x.gated = true
	return true
}

func (rt *Runtime) admit(x *execution) bool {
	if n := rt.inFlight.Add(1); n > int64(rt.cfg.MaxInFlight) {
		rt.inFlight.Add(-1)
		rt.m.overloadRejects.Inc()
		x.fail(protocol.StateAuthorizationEvaluating, protocol.CategoryRuntime, reasonOverloaded,
			fmt.Sprintf("overloaded: %d executions in flight (limit %d); retry later", n-1, rt.cfg.MaxInFlight), outOverloaded)
		return false
	}
	rt.m.inFlight.Add(1)
	x.admitted = true
	return true
}

func (rt *Runtime) release() {
	rt.m.inFlight.Add(-1)
	rt.inFlight.Add(-1)
}

// Reasons the runtime itself reports (beyond protocol's).
const (
	reasonOverloaded   protocol.Reason = "overloaded"
	reasonShuttingDown protocol.Reason = "shutting_down"
	reasonTimeout      protocol.Reason = "timeout"
	reasonPanic        protocol.Reason = "panic"
	reasonJournal      protocol.Reason = "journal_failed"
	reasonPolicyError  protocol.Reason = "policy_error"
)

// front validates and authorizes. It returns false when the execution was
// answered with a rejection or a denial (or was a message form, answered
// by run).
func (x *execution) front() (ok bool) {
	rt := x.rt
	// Validate: the cache first, then decode + schema.
	msg, entryAny, err, hit := rt.caches().Validation.Get(x.snap.regEpoch, x.req.Message)
	var entry *capability.Entry
	if hit {
		entry, _ = entryAny.(*capability.Entry)
	} else {
		msg, err = protocol.Decode(x.req.Message, rt.cfg.Limits)
		if err == nil && msg.Form == protocol.FormToolCall {
			entry, err = x.snap.reg.Validate(msg)
		}
		rt.caches().Validation.Put(x.snap.regEpoch, x.req.Message, msg, entry, err)
	}
	t1 := rt.mono()
	x.ans.Timings.Validate = t1 - x.start
	rt.record(rt.m.validate, x.ans.Timings.Validate)
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
	x.mark(protocol.StateAuthorizationEvaluating, t1)
	if msg.Form == protocol.FormMessage {
		return true // no capability, no decision: run records it
	}
	x.entry = entry
	x.ev.Capability = msg.Tool
	x.cr = x.snap.caps[msg.Tool]

	// Authorize: registry says enabled, then the decision cache, then policy.
	d := x.authorize()
	t2 := rt.mono()
	x.ans.Timings.Authorize = t2 - t1
	if x.hit {
		rt.record(rt.m.authorizeHit, x.ans.Timings.Authorize)
	} else {
		rt.record(rt.m.authorizeMiss, x.ans.Timings.Authorize)
	}
	x.ans.Decision, x.ans.Rule = d.Code, d.Rule
	x.ev.Decision, x.ev.Rule = d.Code, d.Rule
	rt.m.decisions[d.Code].Inc()
	if d.Code != protocol.DecisionAuthorized {
		e := &protocol.Error{Category: protocol.CategoryAuthorization, Severity: protocol.SeverityError,
			Subsystem: "capability_gate", Message: d.Reason, Capability: msg.Tool, Decision: d.Code, Rule: d.Rule}
		if d.Reason == "" {
			e.Message = string(d.Code)
		}
		x.failWith(protocol.StateAuthorizationEvaluating, e, outDenied)
		return false
	}
	return true
}

// authorize decides; any failure on this path denies (fails closed).
func (x *execution) authorize() (d protocol.Verdict) {
	e := x.entry
	if e == nil || x.cr == nil {
		return protocol.Verdict{Code: protocol.DecisionNotFound, Rule: "registry", Reason: "capability " + x.msg.Tool + " is not registered"}
	}
	if !e.Settings.Enabled {
		return protocol.Verdict{Code: protocol.DecisionDisabled, Rule: "registry", Reason: "capability " + x.msg.Tool + " is disabled (enable it in the configuration)"}
	}
	args := x.msg.Args.Raw()
	if d, ok := x.rt.caches().Decisions.Get(x.snap.decEpoch, x.req.Principal, x.msg.Tool, args); ok {
		x.hit = true
		return d
	}
	defer func() {
		if r := recover(); r != nil {
			x.rt.log.Error("policy evaluation panicked; denying", "category", string(protocol.CategoryAuthorization), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "fail-closed", Reason: "policy evaluation failed; denied"}
		}
	}()
	d = x.snap.pol.Evaluate(&policy.Input{Principal: x.req.Principal, Capability: x.msg.Tool, Args: x.msg.Args})
	if d.Code == "" { // fail closed on an engine that returned nothing
		d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: "fail-closed", Reason: "policy returned no decision; denied"}
	}
	x.rt.caches().Decisions.Put(x.snap.decEpoch, x.req.Principal, x.msg.Tool, args, d)
	return d
}

// run executes the capability (inline or on its pool, synchronously) and
// fills the answer's result or error.
func (x *execution) run(ctx context.Context) {
	rt := x.rt
	t := rt.mono()
	x.mark(protocol.StateCapabilityExecuting, t)
	if x.msg.Form == protocol.FormMessage {
		x.out = outMessage
		x.mark(protocol.StateMemoryCommitting, t)
		return
	}
	if x.cr.pool == nil {
		x.body(ctx)
	} else {
		x.runPooled(ctx, false)
	}
}

// body commits the intent of a write-effect capability (when journaling)
// and then invokes the capability.
func (x *execution) body(ctx context.Context) {
	if x.entry.Cap.Effects() == capability.EffectsWrite && x.rt.journal != nil && !x.commitIntent() {
		return
	}
	x.invoke(ctx)
}

// deadline returns the capability deadline for this request.
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
				res, err = nil, &capability.Error{Type: "panic", Msg: fmt.Sprintf("capability %s panicked", x.msg.Tool)}
			}
		}()
		res, err = x.entry.Cap.Execute(ctx, &capability.Request{ExecutionID: x.ans.ExecutionID, Principal: x.req.Principal, Args: x.msg.Args})
	}()
	end := rt.mono()
	x.execNs = end - start
	x.ans.Timings.Execute = x.execNs
	rt.record(x.cr.latency, x.execNs)
	x.finishCapability(res, err, ctx.Err())
	x.mark(protocol.StateMemoryCommitting, end)
}

func (x *execution) finishCapability(res []byte, err, ctxErr error) {
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
	reason := protocol.Reason(capability.TypeOf(err))
	msg := err.Error()
	if ctxErr != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(ctxErr, context.DeadlineExceeded)) {
		reason = reasonTimeout
		msg = fmt.Sprintf("capability %s exceeded its deadline of %s", x.msg.Tool, x.timeout())
	}
	if reason == "panic" {
		reason = reasonPanic
	}
	x.out = outCapError
	x.setError(protocol.StateCapabilityExecuting, &protocol.Error{Category: protocol.CategoryCapability, Severity: protocol.SeverityError,
		Subsystem: "capability:" + x.msg.Tool, Message: msg, Reason: reason, Capability: x.msg.Tool})
}

// runPooled runs the capability on its bulkhead pool. If async, the pool
// worker continues with x.poolDone; otherwise the caller waits.
func (x *execution) runPooled(ctx context.Context, async bool) {
	rt := x.rt
	queued := rt.mono()
	var wait chan struct{}
	if !async {
		wait = make(chan struct{})
	}
	task := func() {
		x.ans.Timings.Admit += rt.mono() - queued
		rt.record(rt.m.admit, x.ans.Timings.Admit)
		func() {
			defer func() {
				if r := recover(); r != nil { // outside invoke's own recover: intent commit, bookkeeping
					rt.log.Error("execution panicked in a pool worker", "execution_id", x.ans.ExecutionID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					if x.ans.Error == nil {
						x.fail(protocol.StateCapabilityExecuting, protocol.CategoryRuntime, reasonPanic, "internal error while executing; see the runtime log", outCapError)
					}
				}
			}()
			x.body(ctx)
		}()
		if async {
			x.poolDone()
		} else {
			close(wait)
		}
	}
	select {
	case x.cr.q <- task:
	default:
		rt.m.overloadRejects.Inc()
		x.out = outOverloaded
		x.setError(protocol.StateCapabilityExecuting, &protocol.Error{Category: protocol.CategoryRuntime, Severity: protocol.SeverityWarning,
			Subsystem: "capability_pool", Reason: reasonOverloaded, Capability: x.msg.Tool,
			Message: fmt.Sprintf("capability %s is at capacity (%d running, %d queued); retry later", x.msg.Tool, x.cr.pool.Running(), len(x.cr.q))})
		if async {
			x.poolDone()
		}
		return
	}
	if async {
		return
	}
	<-wait
}

// fail answers with a new error from the named state.
func (x *execution) fail(from protocol.State, cat protocol.Category, reason protocol.Reason, msg string, out outcome) {
	x.failWith(from, &protocol.Error{Category: cat, Severity: protocol.SeverityError, Subsystem: "pipeline", Reason: reason, Message: msg}, out)
}

func (x *execution) failWith(from protocol.State, e *protocol.Error, out outcome) {
	x.out = out
	x.setError(from, e)
}

func (x *execution) setError(from protocol.State, e *protocol.Error) {
	e.ExecutionID = x.ans.ExecutionID
	e.ID = "err-" + x.ans.ExecutionID[len("exec-"):]
	e.Timestamp = x.rt.cfg.Now()
	if e.Origin == "" {
		e.Origin = from
	}
	x.ans.Error = e
	x.ans.Status = protocol.StatusError
	x.ev.Category, x.ev.Reason = e.Category, e.Reason
	x.rt.m.errors[e.Category].Inc()
}

// commitIntent durably records an intent before a write-effect capability
// runs; if that fails the capability does not run.
func (x *execution) commitIntent() bool {
	r := &journal.Record{Kind: journal.KindIntent, ExecutionID: x.ans.ExecutionID, Principal: x.req.Principal,
		Capability: x.msg.Tool, Decision: string(x.ans.Decision), Rule: x.ans.Rule,
		State: string(protocol.StateCapabilityExecuting), IdempotencyKey: x.req.IdempotencyKey}
	x.fillArgs(r)
	_, err := x.rt.journal.Append(r)
	if err == nil && !x.rt.cfg.Durable {
		err = x.rt.journal.Sync() // the intent must be on disk before the world changes
	}
	if err != nil {
		x.out = outMemoryError
		x.intentFailed = true
		x.setError(protocol.StateCapabilityExecuting, &protocol.Error{Category: protocol.CategoryMemory, Severity: protocol.SeverityCritical,
			Subsystem: "journal", Reason: reasonJournal, Capability: x.msg.Tool,
			Message: "intent record could not be committed; the capability was not run: " + err.Error()})
		return false
	}
	return true
}

func (x *execution) fillArgs(r *journal.Record) {
	if x.msg == nil || x.msg.Form != protocol.FormToolCall {
		return
	}
	raw := x.msg.Args.RawBytes()
	r.ArgsDigest = sha256.Sum256(raw)
	if x.entry == nil || !x.entry.Settings.RedactArgs {
		r.Args = raw
	}
}

// record fills the journal record from the finished execution.
func (x *execution) record() *journal.Record {
	r := &x.rec
	r.ExecutionID = x.ans.ExecutionID
	r.Principal = x.req.Principal
	r.IdempotencyKey = x.req.IdempotencyKey
	r.Decision = string(x.ans.Decision)
	r.Rule = x.ans.Rule
	r.Status = string(x.ans.Status)
	r.Result = x.ans.Result
	switch {
	case x.msg == nil && x.rejected != nil && x.rejected.Form == protocol.FormToolCall:
		// Decoded but refused by the registry (unknown tool, bad args):
		// journal the tool and its args, honouring the capability's
		// redaction setting even though the call was refused.
		r.Kind = journal.KindRejection
		r.Capability = x.rejected.Tool
		raw := x.rejected.Args.RawBytes()
		r.ArgsDigest = sha256.Sum256(raw)
		if e, ok := x.snap.reg.Lookup(x.rejected.Tool); !ok || !e.Settings.RedactArgs {
			r.Args = raw
		}
	case x.msg == nil:
		r.Kind = journal.KindRejection
		r.Args = x.req.Message // the rejected input itself is the evidence
		if len(r.Args) > 4096 || !utf8.Valid(r.Args) || !json.Valid(r.Args) {
			r.Args = nil // the journal stores valid JSON only; keep the digest
		}
		r.ArgsDigest = sha256.Sum256(x.req.Message)
	case x.msg.Form == protocol.FormMessage:
		r.Kind = journal.KindMessage
		if x.out == outOverloaded || x.out == outShuttingDown {
			r.Kind = journal.KindRejection
		}
		r.Args = unsafe.Slice(unsafe.StringData(x.msg.Raw()), len(x.msg.Raw())) // read-only alias of the decoded copy
		r.ArgsDigest = sha256.Sum256(r.Args)
	default:
		r.Capability = x.msg.Tool
		x.fillArgs(r)
		switch {
		case x.ans.Decision != protocol.DecisionAuthorized || x.out == outOverloaded || x.out == outShuttingDown || x.intentFailed:
			r.Kind = journal.KindRejection
		case x.entry != nil && x.entry.Cap.Effects() == capability.EffectsWrite && x.rt.journal != nil:
			r.Kind = journal.KindOutcome
		default:
			r.Kind = journal.KindExecution
		}
	}
	if x.ans.Error != nil {
		r.Error = x.ans.Error.AppendJSON(nil)
		r.State = string(protocol.StateError)
	} else {
		r.State = string(protocol.StateCompleted)
	}
	r.Timings = journal.Timings{ValidateNs: x.ans.Timings.Validate, AuthorizeNs: x.ans.Timings.Authorize,
		AdmitNs: x.ans.Timings.Admit, ExecuteNs: x.ans.Timings.Execute, TotalNs: x.rt.mono() - x.start}
	return r
}

// commitSync commits the record (blocking until durable) and finishes.
func (x *execution) commitSync() {
	rt := x.rt
	if rt.journal == nil {
		x.finish(0, nil, rt.mono())
		return
	}
	t := rt.mono()
	seq, err := rt.journal.Append(x.record())
	x.finish(seq, err, t)
}

// commitAsync commits through the journal's callback and then calls done.
func (x *execution) commitAsync() {
	rt := x.rt
	if rt.journal == nil {
		x.finish(0, nil, rt.mono())
		x.done(&x.ans)
		return
	}
	t := rt.mono()
	rt.journal.AppendAsync(x.record(), func(seq uint64, err error) {
		x.finish(seq, err, t)
		x.done(&x.ans)
	})
}

// finish completes the answer after the commit attempt that began at
// commitStart: journal info, final state, timings, metrics, event.
func (x *execution) finish(seq uint64, jerr error, commitStart int64) {
	rt := x.rt
	end := rt.mono()
	if rt.journal != nil {
		x.ans.Timings.Commit = end - commitStart
		rt.record(rt.m.commit, x.ans.Timings.Commit)
	}
	if jerr != nil {
		rt.log.Error("journal commit failed", "category", string(protocol.CategoryMemory), "execution_id", x.ans.ExecutionID, "err", jerr)
		if x.ans.Error == nil {
			x.out = outMemoryError
			x.setError(protocol.StateMemoryCommitting, &protocol.Error{Category: protocol.CategoryMemory, Severity: protocol.SeverityCritical,
				Subsystem: "journal", Reason: reasonJournal, Capability: x.ev.Capability,
				Message: "the execution record could not be committed: " + jerr.Error()})
		}
	} else if rt.journal != nil {
		x.ans.Journal = protocol.JournalInfo{Seq: seq, Durable: rt.cfg.Durable}
	}
	if x.ans.Error == nil {
		x.ans.State = protocol.StateCompleted
		x.ans.Status = protocol.StatusSuccess
	} else {
		x.ans.State = protocol.StateError
	}
	x.mark(x.ans.State, end)
	x.ans.Timings.Total = end - x.start
	overhead := x.ans.Timings.Total - x.ans.Timings.Execute - x.ans.Timings.Commit - x.ans.Timings.Admit
	rt.record(rt.m.overhead, overhead)
	rt.record(rt.m.total, x.ans.Timings.Total)
	if x.ans.Timings.Execute > 0 {
		rt.record(rt.m.dispatch, max(overhead-x.ans.Timings.Validate-x.ans.Timings.Authorize, 0))
	}
	rt.m.outcomes[x.out].Inc()
	if x.admitted {
		x.admitted = false
		rt.release()
	}
	if !rt.cfg.DisableTelemetry {
		rt.m.transport(x.req.Transport).Record(x.ans.Timings.Total)
		if x.ans.Error != nil || rt.sink.sampled(uint64(x.start)) {
			rt.sink.emit(&x.ev)
		}
	}
	if x.gated { // last: Close may release caches, pools and sink after this
		x.gated = false
		rt.gate.RUnlock()
	}
}
