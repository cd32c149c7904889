package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/panjf2000/ants/v2"

	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// bulkhead is the per-capability execution state: its worker pool (nil
// for effects none, which run inline) and its execution-time histogram.
//
// A capability with effects read or write runs on its own ants pool, so a
// slow or stuck capability exhausts only its own workers. Callers never
// block on it (Submit must not park a transport's reader goroutine): they
// either enqueue or are answered "overloaded" at once.
//
// The queue is a bounded channel in front of the pool. One dispatcher
// goroutine per capability moves queued calls into the pool, blocking
// there while every worker is busy; it is owned by the Runtime and stopped
// by shutdown after the queue is drained.
type bulkhead struct {
	pool    *ants.Pool
	q       chan func()
	done    chan struct{} // closed when the dispatcher exits
	latency *stats.Histogram
}

// startBulkhead gives bh a pool of size workers and a queue of queue
// waiting calls, and registers its gauges.
func (rt *Runtime) startBulkhead(bh *bulkhead, name string, size, queue int) error {
	p, err := ants.NewPool(size, ants.WithPanicHandler(func(r any) {
		rt.log.Error("capability pool task panicked", "capability", name, "panic", fmt.Sprint(r))
	}))
	if err != nil {
		return fmt.Errorf("pipeline: pool for %q: %w", name, err)
	}
	bh.pool = p
	bh.q = make(chan func(), queue)
	bh.done = make(chan struct{})
	go bh.dispatch()
	lbl := stats.Label{Name: LabelCapability, Value: name}
	rt.cfg.Metrics.GaugeFunc(MetricPoolRunning, "Capability pool workers busy.", func() float64 { return float64(p.Running()) }, lbl)
	q := bh.q
	rt.cfg.Metrics.GaugeFunc(MetricPoolWaiting, "Calls queued for a capability pool worker (queue depth).", func() float64 { return float64(len(q) + p.Waiting()) }, lbl)
	rt.cfg.Metrics.GaugeFunc(MetricPoolCapacity, "Capability pool size.", func() float64 { return float64(p.Cap()) }, lbl)
	return nil
}

func (bh *bulkhead) dispatch() {
	defer close(bh.done)
	for task := range bh.q {
		if err := bh.pool.Submit(task); err != nil {
			task() // the pool is closed: run here so the call still completes
		}
	}
}

// offer queues task without blocking; false means the bulkhead is full.
func (bh *bulkhead) offer(task func()) bool {
	select {
	case bh.q <- task:
		return true
	default:
		return false
	}
}

// queued is the number of calls waiting for a worker.
func (bh *bulkhead) queued() int { return len(bh.q) }

// stop drains the queue, waits for the dispatcher and releases the pool.
// Called once, by shutdown, when no execution can offer again.
func (bh *bulkhead) stop() {
	if bh.pool == nil {
		return
	}
	close(bh.q)
	<-bh.done
	bh.pool.Release()
}

// executePooled runs the capability on its bulkhead. If async, the pool
// worker continues with x.poolDone; otherwise the caller waits.
func (x *execution) executePooled(ctx context.Context, async bool) {
	rt := x.rt
	queued := rt.mono()
	var wait chan struct{}
	if !async {
		wait = make(chan struct{})
	}
	task := func() {
		x.ans.Timings.Admit += rt.mono() - queued
		rt.observe(rt.m.admit, x.ans.Timings.Admit)
		func() {
			defer func() {
				if r := recover(); r != nil { // outside invoke's own recover: intent commit, bookkeeping
					rt.log.Error("execution panicked in a pool worker", "execution_id", x.ans.ExecutionID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					if x.ans.Error == nil {
						x.fail(protocol.StateCapabilityExecuting, protocol.CategoryRuntime, protocol.ReasonPanic, "internal error while executing; see the runtime log", outCapError)
					}
				}
			}()
			x.executeBody(ctx)
		}()
		if async {
			x.poolDone()
		} else {
			close(wait)
		}
	}
	if !x.cr.offer(task) {
		rt.m.overloadRejects.Inc()
		x.out = outOverloaded
		x.setError(protocol.StateCapabilityExecuting, &protocol.Error{Category: protocol.CategoryRuntime, Severity: protocol.SeverityWarning,
			Subsystem: "capability_pool", Reason: protocol.ReasonOverloaded, Capability: x.msg.Tool,
			Message: fmt.Sprintf("capability %s is at capacity (%d running, %d queued); retry later", x.msg.Tool, x.cr.pool.Running(), x.cr.queued())})
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
