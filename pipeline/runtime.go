package pipeline

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/cache"
	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Runtime is the execution engine: validate, authorize, admit, execute,
// commit, answer. It is safe for concurrent use by any number of
// goroutines. The caller that opened it must call Shutdown or Close.
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
	redact     *redactor     // keyed digests of secret arguments
	keys       *keyIndex     // nil when idempotent replay is disabled
	snapStop   chan struct{} // stops the key-index snapshot loop (nil: none)
	snapDone   chan struct{}

	inFlight atomic.Int64
	closing  atomic.Bool
	// gate is read-held by every execution from arrival to its last touch
	// of caches, pools and sink; Shutdown takes it for writing to drain
	// them. An arrival that cannot read-lock it (shutdown is waiting or
	// done) is answered "shutting_down" without touching anything that
	// shutdown releases.
	gate sync.RWMutex

	// onClosing, if set (tests only), runs once shutdown has begun: from
	// then on every arrival is answered "shutting_down".
	onClosing func()

	mu      sync.Mutex // guards pools, lastReg, regGen and the snapshot swap
	pools   map[string]*bulkhead
	lastReg *capability.Registry
	regGen  uint64
}

// snapshot is the immutable configuration one execution sees from start
// to end: registry, policy, the shadow candidate (if any), and the epochs
// their caches are keyed by. Reload swaps it atomically, so the active
// policy and its candidate always change together.
type snapshot struct {
	reg      *capability.Registry
	pol      *policy.Policy
	cand     *policy.Policy // shadow candidate; nil: shadow mode off
	candHash [32]byte       // cand.Hash(), journaled with each differing record
	regEpoch uint64
	decEpoch uint64 // covers reg, pol and cand
	caps     map[string]*bulkhead
}

// Registry returns the registry in force.
func (rt *Runtime) Registry() *capability.Registry { return rt.snap.Load().reg }

// Policy returns the policy in force.
func (rt *Runtime) Policy() *policy.Policy { return rt.snap.Load().pol }

// Shadow returns the shadow candidate policy in force, or nil when shadow
// mode is off.
func (rt *Runtime) Shadow() *policy.Policy { return rt.snap.Load().cand }

// Metrics returns the registry the runtime records into.
func (rt *Runtime) Metrics() *stats.Registry { return rt.cfg.Metrics }

// InFlight returns the number of admitted, unanswered executions.
func (rt *Runtime) InFlight() int64 { return rt.inFlight.Load() }

// Durable reports whether answers are durable when they say so.
func (rt *Runtime) Durable() bool { return rt.journal != nil && rt.cfg.Durable }

// Closing reports whether Shutdown or Close has begun.
func (rt *Runtime) Closing() bool { return rt.closing.Load() }

// Ready reports whether the runtime accepts work: not closing, and its
// journal (if any) accepts writes.
func (rt *Runtime) Ready() bool {
	return !rt.closing.Load() && (rt.journal == nil || rt.journal.Ready())
}

// Emit sends a system event (for example "performance_degraded") to the
// telemetry sink. It never blocks.
func (rt *Runtime) Emit(typ, msg string) { rt.event(typ, msg) }

func (rt *Runtime) event(typ, msg string) {
	rt.sink.emit(&Event{Type: typ, Message: msg, WallNs: rt.cfg.Now().UnixNano()})
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

// observe adds a stage latency v to h unless telemetry is disabled.
func (rt *Runtime) observe(h *stats.Histogram, v int64) {
	if !rt.cfg.DisableTelemetry {
		h.Record(v)
	}
}

// mono returns nanoseconds on the monotonic clock since the runtime began.
func (rt *Runtime) mono() int64 { return int64(time.Since(rt.base)) }
