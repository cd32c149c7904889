// Package perf is the load-generation library behind cmd/fcload and the
// perf lab: closed-loop (N workers, each issuing its next request when the
// last is answered) or open-loop (a fixed arrival rate, latency measured
// from each request's intended start so queueing is not hidden), with
// per-request latency in an HDR-style histogram, a warm-up excluded from
// the results, and results printed as benchstat-compatible lines:
//
//	BenchmarkFcload/target=inproc/journal=always/workers=256  1520000  3289 ns/op  304000 exec/s  812000 p50-ns  1630000 p99-ns
//
// so `benchstat old.txt new.txt` compares runs.
package perf

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Op performs one request and reports whether it succeeded. It is called
// from one worker goroutine at a time per worker.
type Op func(ctx context.Context) error

// Config describes a run. The caller's struct is never modified.
type Config struct {
	// Name is the benchmark name, "Fcload/key=value/…". If empty, "Fcload".
	Name string
	// Workers is the number of concurrent workers (closed loop) or the
	// bound on outstanding requests (open loop). If zero, defaults to 1.
	Workers int
	// Duration of the measured phase. If zero, defaults to 5 s.
	Duration time.Duration
	// Warmup runs before measuring; its requests are not counted. If zero,
	// defaults to 1 s; negative means none.
	Warmup time.Duration
	// Rate, if positive, makes the run open-loop at that many requests per
	// second.
	Rate float64
	// MaxOps stops the run after this many measured requests (0: no bound).
	MaxOps int64
}

// Result is a run's outcome.
type Result struct {
	Name       string
	Ops        int64 // successful requests
	Errors     int64 // failed requests; their latency is in no figure
	Elapsed    time.Duration
	Throughput float64       // successful requests per second
	Latency    stats.Summary // of successful requests only
	FirstError error
}

// Run executes cfg with one Op per worker (newOp is called once per
// worker, so each can own a connection). It stops when ctx is done, the
// duration passes or MaxOps is reached.
func Run(ctx context.Context, cfg Config, newOp func(worker int) Op) Result {
	if cfg.Name == "" {
		cfg.Name = "Fcload"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = time.Second
	}
	ops := make([]Op, cfg.Workers)
	for i := range ops {
		ops[i] = newOp(i)
	}
	if cfg.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, cfg.Warmup)
		phase(wctx, cfg, ops, nil)
		cancel()
	}
	// Latency is recorded for successful requests only; failures are
	// counted (and the first kept) but their latency is reported nowhere.
	h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	var n, errs atomic.Int64
	var first atomic.Value
	mctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	phase(mctx, cfg, ops, func(err error, lat time.Duration) {
		if err != nil {
			errs.Add(1)
			first.CompareAndSwap(nil, err)
			return
		}
		h.Record(int64(lat))
		if c := n.Add(1); cfg.MaxOps > 0 && c >= cfg.MaxOps {
			cancel()
		}
	})
	el := time.Since(start)
	r := Result{Name: cfg.Name, Ops: n.Load(), Errors: errs.Load(), Elapsed: el,
		Throughput: float64(n.Load()) / el.Seconds(), Latency: h.Snapshot().Summary()}
	if e, ok := first.Load().(error); ok {
		r.FirstError = e
	}
	return r
}

// phase runs ops until ctx is done, calling done (when non-nil) with each
// finished request's outcome and latency.
func phase(ctx context.Context, cfg Config, ops []Op, done func(err error, latency time.Duration)) {
	var wg sync.WaitGroup
	if cfg.Rate <= 0 {
		for _, op := range ops {
			wg.Go(func() {
				for ctx.Err() == nil {
					t := time.Now()
					err := op(ctx)
					if ctx.Err() != nil && err != nil {
						return // cut off by the end of the phase: not a result
					}
					if done != nil {
						done(err, time.Since(t))
					}
				}
			})
		}
		wg.Wait()
		return
	}
	// Open loop: a ticker schedules arrivals; a free worker takes each;
	// latency counts from the scheduled time.
	slots := make(chan time.Time, len(ops))
	for _, op := range ops {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case due := <-slots:
					if ctx.Err() != nil {
						return // an arrival the phase's end overtook: not run
					}
					err := op(ctx)
					if ctx.Err() != nil && err != nil {
						return
					}
					if done != nil {
						done(err, time.Since(due))
					}
				}
			}
		})
	}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	next := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = next.Add(1<<62 - 1)
	}
	for ctx.Err() == nil {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil || !next.Before(deadline) {
			break // an arrival due at or after the end is not scheduled
		}
		select {
		case slots <- next:
		case <-ctx.Done():
		}
		next = next.Add(interval)
	}
	wg.Wait()
}

// WriteBench prints r as one benchstat line.
func (r Result) WriteBench(w io.Writer) {
	nsPerOp := 0.0
	if r.Ops > 0 {
		nsPerOp = float64(r.Elapsed.Nanoseconds()) / float64(r.Ops)
	}
	fmt.Fprintf(w, "Benchmark%s\t%d\t%.1f ns/op\t%.0f exec/s\t%d p50-ns\t%d p99-ns\t%d p99.9-ns\t%d max-ns\t%d errors\n",
		r.Name, r.Ops, nsPerOp, r.Throughput, r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Errors)
}
