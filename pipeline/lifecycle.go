package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/femtoclaw/femtoclaw-go/cache"
	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Lifecycle: Open → Execute / Submit / Reload from any goroutine →
// Shutdown(ctx) (drain) or Close() (now). A second Shutdown or Close, and
// a Reload after either, returns ErrClosed.

// ErrClosed is returned by Shutdown, Close and Reload once the runtime has
// begun closing.
var ErrClosed = errors.New("pipeline: runtime closed")

// Open builds a runtime over a capability registry and a policy (and
// Config.Shadow, a candidate policy to evaluate beside it, if set).
func Open(cfg Config, reg *capability.Registry, pol *policy.Policy) (*Runtime, error) {
	if reg == nil || pol == nil {
		return nil, protocol.NewError(protocol.CategoryConfiguration, "pipeline", "a registry and a policy are required")
	}
	cfg = cfg.withDefaults()
	rt := &Runtime{cfg: cfg, cacheBuilt: make(chan struct{}), ids: newIDGen(cfg.Now), base: time.Now(),
		log: cfg.Logger, journal: cfg.Journal, pools: map[string]*bulkhead{}, redact: newRedactor(cfg.RedactionKey)}
	rt.m = newMetrics(cfg.Metrics)
	cfg.Metrics.GaugeFunc(MetricCacheLimitBytes, "Configured bound of the validation and decision caches, in bytes.",
		func() float64 {
			eff := func(v, def int64) int64 {
				if v == 0 {
					return def
				}
				return max(v, 0)
			}
			return float64(eff(cfg.Caches.ValidationBytes, cache.DefaultValidationBytes) + eff(cfg.Caches.DecisionBytes, cache.DefaultDecisionBytes))
		})
	cfg.Metrics.GaugeFunc(MetricPolicyShadowLoaded, "1 while a shadow candidate policy is evaluated beside the active one, else 0.",
		func() float64 {
			if rt.snap.Load().cand != nil {
				return 1
			}
			return 0
		})
	rt.mu.Lock()
	err := rt.install(reg, pol, cfg.Shadow)
	rt.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go func() { // owned by the Runtime; shutdown waits for cacheBuilt
		defer close(rt.cacheBuilt)
		c, err := cache.New(cfg.Caches)
		if err != nil {
			rt.cacheErr = err
			rt.log.Error("caches could not be built; running uncached", "err", err)
			return
		}
		rt.cacheP.Store(c)
	}()
	if !cfg.Idempotency.Disabled {
		jr, _ := cfg.Journal.(JournalReader)
		rt.keys = newKeyIndex(cfg.Idempotency, jr, cfg.Now)
		keys := rt.keys
		keys.genesis, keys.hasGenesis = journalIdentity(cfg.Journal)
		cfg.Metrics.GaugeFunc(MetricIdempotencyKeys, "Idempotency keys remembered for replay.", func() float64 { return float64(keys.size()) })
		go func() { // owned by the Runtime; shutdown stops it and waits
			start := time.Now()
			keys.rebuild()
			if keys.snapErr != nil {
				rt.log.Warn("idempotency key index: snapshot not used; read the whole retention window from the journal", "err", keys.snapErr)
			}
			if keys.loadErr != nil {
				rt.log.Error("idempotency key index: rebuild from the journal failed; keyed requests are refused", "err", keys.loadErr)
			}
			rt.log.Info("idempotency key index rebuilt", "keys", keys.size(), "journal_records_read", keys.scanned, "duration", time.Since(start).String())
		}()
		if cfg.Idempotency.SnapshotFile != "" && keys.hasGenesis {
			rt.snapStop, rt.snapDone = make(chan struct{}), make(chan struct{})
			go rt.snapshotLoop(keys.cfg.SnapshotEvery, rt.snapStop, rt.snapDone)
		}
	}
	rt.sink = newSink(cfg.Telemetry, rt.m, rt.log)
	rt.event("runtime_startup", "runtime open")
	if cfg.Journal == nil {
		rt.log.Warn("no journal: executions are NOT persisted; answers say \"durable\":false")
	}
	return rt, nil
}

// install builds and publishes a snapshot for reg, pol and the shadow
// candidate cand (nil: none), creating a bulkhead for each capability that
// needs one and has none yet. rt.mu is held.
func (rt *Runtime) install(reg *capability.Registry, pol, cand *policy.Policy) error {
	rh := reg.Hash()
	ph := pol.Hash()
	s := &snapshot{reg: reg, pol: pol, cand: cand, caps: map[string]*bulkhead{}}
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
	if cand != nil {
		// Shadow-mode entries hold both verdicts (cache.Decisions.PutPair):
		// their epoch covers the candidate too, so replacing either policy
		// leaves no pair behind.
		s.candHash = cand.Hash()
		s.decEpoch ^= binary.LittleEndian.Uint64(s.candHash[:8]) * 0xc2b2ae3d27d4eb4f
	}
	for _, e := range reg.Entries() {
		name := e.Cap.Name()
		bh := rt.pools[name]
		if bh == nil {
			bh = &bulkhead{latency: rt.m.capHistogram(name)}
			rt.pools[name] = bh
		}
		if e.Cap.Effects() != capability.EffectsNone && e.Settings.Enabled && bh.pool == nil {
			queue := rt.cfg.PoolQueue
			if queue <= 0 {
				queue = 4 * e.Settings.PoolSize
			}
			if err := rt.startBulkhead(bh, name, e.Settings.PoolSize, queue); err != nil {
				return err
			}
		}
		s.caps[name] = bh
	}
	rt.snap.Store(s)
	return nil
}

// Reload atomically replaces the registry and/or the policy (nil keeps
// the current one); the shadow candidate, if any, stays. Executions
// already past validation finish under the snapshot they started with;
// caches are keyed by epoch, so no stale verdict survives. After Shutdown
// or Close it returns ErrClosed.
func (rt *Runtime) Reload(reg *capability.Registry, pol *policy.Policy) error {
	return rt.reload(reg, pol, nil, true)
}

// ReloadShadow is Reload that also replaces the shadow candidate: cand
// nil turns shadow mode off. The registry, the active policy and the
// candidate change in one atomic swap, so no execution sees a new active
// policy beside an old candidate.
func (rt *Runtime) ReloadShadow(reg *capability.Registry, pol, cand *policy.Policy) error {
	return rt.reload(reg, pol, cand, false)
}

func (rt *Runtime) reload(reg *capability.Registry, pol, cand *policy.Policy, keepCand bool) error {
	if rt.closing.Load() || !rt.gate.TryRLock() {
		return ErrClosed
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
	if keepCand {
		cand = cur.cand
	}
	err := rt.install(reg, pol, cand)
	rt.mu.Unlock()
	if err != nil {
		return err
	}
	if cand != nil {
		rt.event("policy_load", "registry, policy and shadow candidate reloaded")
	} else {
		rt.event("policy_load", "registry and policy reloaded")
	}
	return nil
}

// Shutdown stops admitting work (new executions are answered
// RUNTIME_ERROR, reason "shutting_down"), waits for admitted executions
// until ctx is done, then stops the bulkheads, the telemetry exporter
// (draining its queue) and the caches. The journal belongs to the caller,
// who closes it after.
//
// If ctx ends first, Shutdown returns an error and leaves the bulkheads,
// caches and telemetry sink to the executions still running; they are
// released when the last of them finishes. A second call returns
// ErrClosed.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	if !rt.beginClosing() {
		return ErrClosed
	}
	drained := make(chan struct{})
	go func() { // owned by the Runtime: ends when the last execution releases the gate
		rt.gate.Lock()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		go func() { <-drained; rt.freeResources(nil) }()
		return fmt.Errorf("pipeline: %d executions still running at shutdown: %w", rt.inFlight.Load(), ctx.Err())
	}
	return rt.freeResources(ctx)
}

// Close stops admitting work at once, like Shutdown, but waits for
// nothing: executions still running finish on their own and the last of
// them releases the bulkheads, caches and sink; telemetry events not yet
// exported are dropped. A second call returns ErrClosed.
func (rt *Runtime) Close() error {
	if !rt.beginClosing() {
		return ErrClosed
	}
	if rt.gate.TryLock() {
		rt.freeResources(nil)
		return nil
	}
	go func() { // owned by the Runtime: ends when the last execution releases the gate
		rt.gate.Lock()
		rt.freeResources(nil)
	}()
	return nil
}

// beginClosing turns new arrivals away (they are answered
// "shutting_down") and stops the key index's rebuild; false means closing
// had already begun.
func (rt *Runtime) beginClosing() bool {
	if rt.closing.Swap(true) {
		return false
	}
	if rt.keys != nil {
		rt.keys.stop.Store(true)
	}
	if rt.onClosing != nil {
		rt.onClosing()
	}
	return true
}

// freeResources frees what executions use, once none can touch it again (the
// gate is write-held). With a nil ctx it does not wait for the telemetry
// exporter to drain.
func (rt *Runtime) freeResources(ctx context.Context) error {
	if rt.keys != nil {
		rt.keys.stop.Store(true)
		<-rt.keys.loaded
		if rt.snapStop != nil {
			close(rt.snapStop)
			<-rt.snapDone
			rt.snapshotKeys() // every execution is answered: the last, complete snapshot
		}
	}
	rt.mu.Lock()
	for _, bh := range rt.pools {
		bh.stop()
	}
	rt.mu.Unlock()
	rt.event("runtime_shutdown", "runtime closed")
	var err error
	if ctx != nil {
		err = rt.sink.close(ctx)
	} else {
		rt.sink.signalStop()
	}
	<-rt.cacheBuilt
	if c := rt.cacheP.Load(); c != nil {
		c.Close()
	}
	return err
}
