package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// phase is one pipelined measurement (-stream over HTTP/3, the ring's
// pipelined mode): senders keep requests in flight for -warmup plus
// -duration; only answers that arrive after the warm-up are counted, and
// latency is recorded for successes only, as in perf.Run.
type phase struct {
	h       *stats.Histogram
	n, errs atomic.Int64
	first   atomic.Value
	measure atomic.Bool
}

// fail counts err (whether or not the warm-up is over: a sender that
// cannot send is an error of the run).
func (p *phase) fail(err error) {
	p.first.CompareAndSwap(nil, err)
	p.errs.Add(1)
}

// answered records one answer whose request was sent at t; err is the
// transport's or the answer's own.
func (p *phase) answered(t time.Time, err error) {
	if !p.measure.Load() {
		return
	}
	if err != nil {
		p.fail(err)
		return
	}
	p.h.Record(int64(time.Since(t)))
	p.n.Add(1)
}

// runPhase starts one sender per client (send(ctx, i) runs until ctx
// ends, then waits for its answers), measures after the warm-up, and
// returns the result once every sender is done.
func runPhase(ctx context.Context, o options, name string, clients int, send func(ctx context.Context, p *phase, i int)) perf.Result {
	p := &phase{h: stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})}
	phaseCtx, cancel := context.WithTimeout(ctx, o.warmup+o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { send(phaseCtx, p, i) })
	}
	if o.warmup > 0 {
		select {
		case <-time.After(o.warmup):
		case <-phaseCtx.Done():
		}
	}
	start := time.Now()
	p.measure.Store(true)
	<-phaseCtx.Done()
	el := time.Since(start)
	p.measure.Store(false)
	wg.Wait()
	r := perf.Result{Name: name, Ops: p.n.Load(), Errors: p.errs.Load(), Elapsed: el, Throughput: float64(p.n.Load()) / el.Seconds(), Latency: p.h.Snapshot().Summary()}
	if e, ok := p.first.Load().(error); ok {
		r.FirstError = e
	}
	return r
}
