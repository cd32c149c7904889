package perf

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// The tests run the engine in a synctest bubble where they can: time is
// fake and advances only while every goroutine of the bubble is blocked,
// so sleeps cost nothing and every latency and duration is exact. No test
// asserts a wall-clock time.

// within returns an error unless got is want within the relative bound.
func within(got int64, want time.Duration, bound float64) error {
	if math.Abs(float64(got)-float64(want)) > bound*float64(want)+1 {
		return fmt.Errorf("%v, want %v within %.3f%%", time.Duration(got), want, bound*100)
	}
	return nil
}

// checkAccounting asserts the identities every Result keeps.
func checkAccounting(t *testing.T, r Result) {
	t.Helper()
	if r.Ops+r.Errors != r.Sent+r.NotSent {
		t.Errorf("ok %d + errors %d != sent %d + not sent %d", r.Ops, r.Errors, r.Sent, r.NotSent)
	}
	var sum, timeouts int64
	for c, n := range r.ByCategory {
		sum += n
		if IsTimeout(c) {
			timeouts += n
		}
		if r.Examples[c] == "" {
			t.Errorf("category %q has no example", c)
		}
	}
	if sum != r.Errors || timeouts != r.Timeouts || r.ByCategory[CategoryNotSent] != r.NotSent {
		t.Errorf("by category %v: sum %d, timeouts %d; want errors %d, timeouts %d, not sent %d", r.ByCategory, sum, timeouts, r.Errors, r.Timeouts, r.NotSent)
	}
	if r.Latency.Count != uint64(r.Ops) || r.Histogram.Count() != uint64(r.Ops) {
		t.Errorf("latency count %d, histogram %d, want ok %d", r.Latency.Count, r.Histogram.Count(), r.Ops)
	}
	if r.Ops == 0 && (r.Throughput != 0 || r.Window != 0) {
		t.Errorf("no OK request but throughput %v over %v", r.Throughput, r.Window)
	}
	if r.Ops > 0 && math.Abs(r.Throughput-float64(r.Ops)/r.Window.Seconds()) > 1e-6*r.Throughput {
		t.Errorf("throughput %v, want ok/window = %d/%v", r.Throughput, r.Ops, r.Window)
	}
	if r.Window > r.Elapsed+time.Second {
		t.Errorf("window %v longer than the phase %v and its grace", r.Window, r.Elapsed)
	}
	var ivOK, ivErr int64
	for _, iv := range r.Intervals {
		ivOK += iv.OK
		ivErr += iv.Errors
	}
	if ivOK != r.Ops || ivErr != r.Errors {
		t.Errorf("intervals add up to ok %d errors %d, want %d %d", ivOK, ivErr, r.Ops, r.Errors)
	}
	if r.PerMix != nil {
		var ok, errs int64
		for _, m := range r.PerMix {
			ok += m.OK
			errs += m.Errors
		}
		if ok != r.Ops || errs != r.Errors {
			t.Errorf("per mix adds up to ok %d errors %d, want %d %d", ok, errs, r.Ops, r.Errors)
		}
	}
}

func TestClosedLoopCountsAndErrors(t *testing.T) {
	var calls atomic.Int64
	r := Run(context.Background(), Config{Name: "T/x=1", Workers: 4, Duration: time.Minute, Warmup: -1, Count: 1000}, func(int) Op {
		return func(context.Context) error {
			if calls.Add(1)%10 == 0 {
				return Fail("boom", errors.New("every tenth fails"))
			}
			return nil
		}
	})
	checkAccounting(t, r)
	if r.Sent != 1000 || r.Ops != 900 || r.Errors != 100 || r.ByCategory["boom"] != 100 || r.FirstError == nil || r.Timeouts != 0 {
		t.Fatalf("%+v", r)
	}
	var b strings.Builder
	r.WriteBench(&b)
	if !strings.HasPrefix(b.String(), "BenchmarkT/x=1\t900\t") || !strings.Contains(b.String(), " exec/s\t") || !strings.Contains(b.String(), "\t100 errors\n") {
		t.Fatalf("bench line %q", b.String())
	}
}

// TestDeadlineCutsAreTimeouts: requests still in flight after the
// measured phase and its grace are timeouts, never dropped, and the
// throughput is over the window of OK answers.
func TestDeadlineCutsAreTimeouts(t *testing.T) {
	op := func(int) Op {
		return func(ctx context.Context) error {
			select {
			case <-time.After(30 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 4, Duration: 100 * time.Millisecond, Warmup: -1, Grace: -1}, op)
		checkAccounting(t, r)
		// Each worker: OK at 30, 60, 90 ms; the request sent at 90 ms is cut at 100.
		if r.Sent != 16 || r.Ops != 12 || r.Timeouts != 4 || r.ByCategory[CategoryTimeout] != 4 || r.Abandoned != 0 {
			t.Fatalf("sent %d ok %d timeouts %d %v, want 16 12 4", r.Sent, r.Ops, r.Timeouts, r.ByCategory)
		}
		if r.Elapsed != 100*time.Millisecond || r.Window != 90*time.Millisecond {
			t.Fatalf("elapsed %v window %v, want 100ms 90ms", r.Elapsed, r.Window)
		}
		if l := r.Latency; within(l.Min, 30*time.Millisecond, l.ErrorBound) != nil || within(l.Max, 30*time.Millisecond, l.ErrorBound) != nil {
			t.Fatalf("latency %+v, want 30ms", r.Latency)
		}
	})
	// With a grace of 10 ms the same requests are still timeouts; with
	// the default (1 s) they are answered and count.
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 4, Duration: 100 * time.Millisecond, Warmup: -1, Grace: 10 * time.Millisecond}, op)
		checkAccounting(t, r)
		if r.Ops != 12 || r.Timeouts != 4 {
			t.Fatalf("grace 10ms: ok %d timeouts %d, want 12 4", r.Ops, r.Timeouts)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 4, Duration: 100 * time.Millisecond, Warmup: -1}, op)
		checkAccounting(t, r)
		if r.Sent != 16 || r.Ops != 16 || r.Errors != 0 || r.Window != 120*time.Millisecond || r.Elapsed != 100*time.Millisecond {
			t.Fatalf("default grace: sent %d ok %d errors %d window %v elapsed %v, want 16 16 0 120ms 100ms", r.Sent, r.Ops, r.Errors, r.Window, r.Elapsed)
		}
	})
}

// TestServerDiesHalfway: once every request fails, the throughput stays
// the OK requests over the time they were answered in.
func TestServerDiesHalfway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r := Run(context.Background(), Config{Workers: 2, Duration: time.Second, Warmup: -1}, func(int) Op {
			return func(ctx context.Context) error {
				time.Sleep(time.Millisecond)
				if time.Since(start) > 400*time.Millisecond {
					return Fail(CategoryRefused, errors.New("connection refused"))
				}
				return nil
			}
		})
		checkAccounting(t, r)
		if r.Window != 400*time.Millisecond || r.Ops != 800 || r.ByCategory[CategoryRefused] != r.Errors || r.Errors != 1200 {
			t.Fatalf("window %v ok %d errors %d %v, want 400ms 800 1200 refused", r.Window, r.Ops, r.Errors, r.ByCategory)
		}
		if r.Throughput != 2000 {
			t.Fatalf("throughput %v, want 800 over 0.4 s", r.Throughput)
		}
	})
}

func TestOpenLoopStopsAtDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 2, Duration: 200 * time.Millisecond, Warmup: -1, Rate: 1000}, func(int) Op {
			return func(context.Context) error { return nil }
		})
		checkAccounting(t, r)
		// One arrival per ms from t=0; the one due at 200 ms is past the end.
		if r.Ops != 200 || r.Sent != 200 || r.Elapsed != 200*time.Millisecond || r.Errors != 0 {
			t.Fatalf("open loop at 1000/s for 0.2 s: %+v, want 200 ok in 200ms", r)
		}
	})
}

// TestOpenLoopNotSent: arrivals a busy worker could not send are
// not_sent, and latency counts from the due time.
func TestOpenLoopNotSent(t *testing.T) {
	op := func(int) Op {
		return func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil }
	}
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 1, Duration: 95 * time.Millisecond, Warmup: -1, Rate: 1000, Grace: -1}, op)
		checkAccounting(t, r)
		// The worker sends arrivals 0..9 (due k ms) at 10k ms; each takes
		// 10 ms. The one sent at 90 ms ends at 100, past the end (no
		// grace): a timeout. Arrivals 10..94 are never sent.
		if r.Sent != 10 || r.Ops != 9 || r.NotSent != 85 || r.Timeouts != 86 || r.ByCategory[CategoryTimeout] != 1 {
			t.Fatalf("%+v", r)
		}
		// Arrival k is answered at 10(k+1) ms: latency 9k+10 ms; k = 8 is the last OK.
		if err := within(r.Latency.Max, 82*time.Millisecond, r.Latency.ErrorBound); err != nil {
			t.Fatalf("max latency: %v (latency counts from the due time)", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// A grace of 100 ms: the worker keeps sending the overdue arrivals
		// until 195 ms (10..19); the one sent at 190 ms is answered after it.
		r := Run(context.Background(), Config{Workers: 1, Duration: 95 * time.Millisecond, Warmup: -1, Rate: 1000, Grace: 100 * time.Millisecond}, op)
		checkAccounting(t, r)
		if r.Sent != 20 || r.Ops != 19 || r.NotSent != 75 || r.ByCategory[CategoryTimeout] != 1 {
			t.Fatalf("%+v", r)
		}
	})
}

func TestErrorLatencyNotRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Failures take 100 ms, successes no time at all: if any failure
		// leaked into the histogram its max would be 100 ms.
		var calls atomic.Int64
		r := Run(context.Background(), Config{Workers: 2, Duration: time.Minute, Warmup: -1, Count: 50}, func(int) Op {
			return func(context.Context) error {
				if calls.Add(1)%5 == 0 {
					time.Sleep(100 * time.Millisecond)
					return errors.New("slow failure")
				}
				return nil
			}
		})
		checkAccounting(t, r)
		if r.Errors == 0 || r.FirstError == nil || r.Ops+r.Errors != 50 {
			t.Fatalf("errors not counted: %+v", r)
		}
		if time.Duration(r.Latency.Max) >= 100*time.Millisecond {
			t.Fatalf("max latency %v includes a failure's latency", time.Duration(r.Latency.Max))
		}
	})
}

func TestAllErrorsNoThroughput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 1, Duration: 50 * time.Millisecond, Warmup: -1}, func(int) Op {
			return func(context.Context) error {
				time.Sleep(time.Millisecond)
				return errors.New("down")
			}
		})
		checkAccounting(t, r)
		if r.Ops != 0 || r.Errors != 50 || r.Throughput != 0 || r.Window != 0 || r.ByCategory[CategoryTransport] != 50 {
			t.Fatalf("%+v", r)
		}
		var b strings.Builder
		r.WriteBench(&b)
		if strings.HasPrefix(b.String(), "Benchmark") || !strings.Contains(b.String(), "no successful request") {
			t.Fatalf("a run without OK requests printed a result: %q", b.String())
		}
	})
}

// TestWarmupExcluded: warm-up requests are counted nowhere.
func TestWarmupExcluded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r := Run(context.Background(), Config{Workers: 1, Duration: 100 * time.Millisecond, Warmup: 50 * time.Millisecond}, func(int) Op {
			return func(context.Context) error {
				time.Sleep(10 * time.Millisecond)
				if time.Since(start) <= 50*time.Millisecond {
					return errors.New("cold")
				}
				return nil
			}
		})
		checkAccounting(t, r)
		if r.Errors != 0 || r.Ops != 10 || !r.Started.Equal(start.Add(50*time.Millisecond)) {
			t.Fatalf("%+v", r)
		}
	})
}

// TestAbandoned: a request that never returns is a timeout once the
// drain is over, and its late answer is ignored.
func TestAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		r := Run(context.Background(), Config{Workers: 3, Duration: 10 * time.Millisecond, Warmup: -1, Drain: 50 * time.Millisecond}, func(int) Op {
			return func(context.Context) error { <-release; return nil } // ignores its context
		})
		close(release)
		checkAccounting(t, r)
		if r.Abandoned != 3 || r.Timeouts != 3 || r.Sent != 3 || r.Ops != 0 {
			t.Fatalf("%+v", r)
		}
	})
}

func TestPerRequestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		r := Run(context.Background(), Config{Workers: 1, Duration: time.Minute, Warmup: -1, Count: 10, Timeout: 5 * time.Millisecond}, func(int) Op {
			return func(ctx context.Context) error {
				d := time.Millisecond
				if calls.Add(1)%2 == 0 {
					d = time.Second
				}
				select {
				case <-time.After(d):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
		checkAccounting(t, r)
		if r.Ops != 5 || r.Timeouts != 5 || r.ByCategory[CategoryTimeout] != 5 {
			t.Fatalf("%+v", r)
		}
	})
}

// xorshift is a deterministic generator for test data.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

// delays returns n latencies from a known, skewed distribution: most
// between 50 µs and 1 ms, a tail up to 40 ms, a few exact small values.
func delays(n int) []time.Duration {
	x := xorshift(0x9E3779B97F4A7C15)
	out := make([]time.Duration, n)
	for i := range out {
		u := float64(x.next()>>11) / (1 << 53)
		switch {
		case i%97 == 0:
			out[i] = time.Duration(x.next()%2000) * time.Nanosecond // small values are exact
		case u < 0.95:
			out[i] = 50*time.Microsecond + time.Duration(u/0.95*float64(950*time.Microsecond))
		default:
			out[i] = time.Millisecond + time.Duration(math.Pow((u-0.95)/0.05, 3)*float64(39*time.Millisecond))
		}
	}
	return out
}

// TestAccuracyKnownDistribution: a server whose delays are known; every
// figure fcload reports matches the exact one within the histogram's
// error bound, closed loop and open loop.
func TestAccuracyKnownDistribution(t *testing.T) {
	const n = 20000
	want := delays(n)
	sorted := slices.Clone(want)
	slices.Sort(sorted)
	exact := func(q float64) time.Duration {
		r := int(math.Ceil(q / 100 * n))
		return sorted[min(max(r, 1), n)-1]
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"closed", Config{Workers: 16, Duration: time.Hour, Warmup: -1, Count: n}},
		// 64 outstanding at most; at 1000/s with delays below 40 ms no
		// arrival waits for a worker, so latency from the due time is the delay.
		{"open", Config{Workers: 64, Duration: time.Hour, Warmup: -1, Count: n, Rate: 1000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var next atomic.Int64
				r := Run(context.Background(), c.cfg, func(int) Op {
					return func(context.Context) error {
						time.Sleep(want[next.Add(1)-1])
						return nil
					}
				})
				checkAccounting(t, r)
				if r.Ops != n || r.Errors != 0 {
					t.Fatalf("ok %d errors %d", r.Ops, r.Errors)
				}
				s := r.Latency
				bound := s.ErrorBound
				if bound <= 0 || bound > 0.001 {
					t.Fatalf("error bound %v", bound)
				}
				var sum float64
				for _, d := range want {
					sum += float64(d)
				}
				for _, f := range []struct {
					name string
					got  float64
					want float64
				}{
					{"min", float64(s.Min), float64(sorted[0])}, {"p50", float64(s.P50), float64(exact(50))},
					{"p90", float64(s.P90), float64(exact(90))}, {"p99", float64(s.P99), float64(exact(99))},
					{"p99.9", float64(s.P999), float64(exact(99.9))}, {"p99.99", float64(s.P9999), float64(exact(99.99))},
					{"max", float64(s.Max), float64(sorted[n-1])}, {"mean", s.Mean, sum / n},
				} {
					if math.Abs(f.got-f.want) > bound*f.want+1 {
						t.Errorf("%s: measured %v, exact %v: off by more than %.3f%%", f.name, time.Duration(f.got), time.Duration(f.want), bound*100)
					}
				}
			})
		})
	}
}

// countAtLeast counts a snapshot's samples whose bucket lies at or above v.
func countAtLeast(s *stats.Snapshot, v int64) uint64 {
	var n uint64
	s.EachBucket(func(lo, hi int64, c uint64) {
		if lo >= v {
			n += c
		}
	})
	return n
}

// TestCoordinatedOmission: a server that stalls once for S while the
// load arrives at R per second. Every arrival due during the first half
// of the stall waits at least S/2, so an honest open loop reports at
// least R×S/2 samples of S/2 or more, and a p99 of at least S/2 when
// they are over 1 % of the run. The assertion is on sample counts from
// the stall's size and the rate (the fake clock makes them exact), and
// the same check run on a closed loop, which only sees the requests in
// flight when the stall began, shows that the check has teeth.
func TestCoordinatedOmission(t *testing.T) {
	const (
		rate    = 1000.0
		stall   = 200 * time.Millisecond
		service = 100 * time.Microsecond
		dur     = 2 * time.Second
	)
	run := func(cfg Config) Result {
		start := time.Now()
		stallFrom, stallTo := start.Add(500*time.Millisecond), start.Add(500*time.Millisecond+stall)
		return Run(context.Background(), cfg, func(int) Op {
			return func(ctx context.Context) error {
				if now := time.Now(); !now.Before(stallFrom) && now.Before(stallTo) {
					time.Sleep(stallTo.Sub(now)) // the server is stalled: nothing is answered
				}
				time.Sleep(service)
				return nil
			}
		})
	}
	minSlow := uint64(rate*stall.Seconds()/2) - 1
	synctest.Test(t, func(t *testing.T) {
		r := run(Config{Workers: 8, Duration: dur, Warmup: -1, Rate: rate})
		checkAccounting(t, r)
		if r.Errors != 0 || r.Ops != int64(rate*dur.Seconds()) {
			t.Fatalf("open loop: ok %d errors %d", r.Ops, r.Errors)
		}
		if n := countAtLeast(r.Histogram, int64(stall/2)); n < minSlow {
			t.Fatalf("open loop: %d samples ≥ %v, want at least R×S/2 = %d: the stall is hidden", n, stall/2, minSlow)
		}
		if float64(minSlow) >= 0.01*float64(r.Ops) && r.Latency.P99 < int64(stall/2) {
			t.Fatalf("open loop: p99 %v, want ≥ %v", time.Duration(r.Latency.P99), stall/2)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := run(Config{Workers: 8, Duration: dur, Warmup: -1})
		if n := countAtLeast(r.Histogram, int64(stall/2)); n >= minSlow {
			t.Fatalf("closed loop: %d samples ≥ %v; the check cannot tell coordinated omission apart", n, stall/2)
		}
	})
}

func TestMixProportionsAndPerMix(t *testing.T) {
	mix := []MixEntry{{Name: "noop", Weight: 8}, {Name: "denied", Weight: 1}, {Name: "malformed", Weight: 2}}
	sched := schedule(mix)
	if len(sched) != 11 {
		t.Fatalf("schedule %v", sched)
	}
	var seen [3]int
	for i, e := range sched {
		seen[e]++
		if i > 0 && e != 0 && sched[i-1] == e {
			t.Fatalf("schedule %v: entry %d twice in a row", sched, e)
		}
	}
	if seen != [3]int{8, 1, 2} {
		t.Fatalf("schedule %v", sched)
	}
	for _, rate := range []float64{0, 1e6} {
		// With Count, both loops walk one schedule for all workers.
		r := RunMix(context.Background(), Config{Workers: 4, Duration: time.Hour, Warmup: -1, Count: 1100, Rate: rate, Mix: mix}, func(int) MixOp {
			return func(_ context.Context, entry int) error {
				if entry == 1 {
					return Fail(CategoryUnexpectedAnswer, errors.New("allowed"))
				}
				return nil
			}
		})
		checkAccounting(t, r)
		if r.PerMix["noop"].OK != 800 || r.PerMix["malformed"].OK != 200 || r.PerMix["denied"].Errors != 100 || r.PerMix["denied"].OK != 0 {
			t.Fatalf("rate %v: per mix %+v", rate, r.PerMix)
		}
	}
}

// fakePipe answers each request after delay, from a timer goroutine.
type fakePipe struct {
	delay    time.Duration
	inflight atomic.Int64
	max      *atomic.Int64
	broken   *atomic.Bool
}

func (p *fakePipe) Send(_ int, done func(error)) error {
	if p.broken != nil && p.broken.Load() {
		return Fail(CategoryReset, errors.New("stream reset"))
	}
	if n := p.inflight.Add(1); n > p.max.Load() {
		p.max.Store(n)
	}
	time.AfterFunc(p.delay, func() { p.inflight.Add(-1); done(nil) })
	return nil
}

func (p *fakePipe) Close() {}

func TestPipelined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var most atomic.Int64
		r := RunPipelined(context.Background(), Config{Workers: 8, Duration: 100 * time.Millisecond, Warmup: -1, Grace: -1}, 2, func(context.Context, int) (Pipe, error) {
			return &fakePipe{delay: 30 * time.Millisecond, max: &most}, nil
		})
		checkAccounting(t, r)
		// 4 in flight per pipe, answered every 30 ms: OK at 30, 60, 90; the
		// batch sent at 90 is answered at 120, after the end, with no grace.
		if r.Ops != 24 || r.Timeouts != 8 || r.Sent != 32 || most.Load() != 4 {
			t.Fatalf("ok %d timeouts %d sent %d most in flight %d: %+v", r.Ops, r.Timeouts, r.Sent, most.Load(), r)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := RunPipelined(context.Background(), Config{Workers: 8, Duration: 100 * time.Millisecond, Warmup: -1, Grace: -1}, 2, func(_ context.Context, i int) (Pipe, error) {
			if i == 1 {
				return nil, Fail(CategoryRefused, errors.New("no stream"))
			}
			return &fakePipe{delay: 30 * time.Millisecond, max: new(atomic.Int64)}, nil
		})
		checkAccounting(t, r)
		if r.ByCategory[CategoryRefused] != 1 || r.Ops != 12 {
			t.Fatalf("%+v", r)
		}
	})
}

// TestPipeBreaks: a pipe that breaks is replaced; once no new one can be
// opened, that connection stops (it does not spin on a dead pipe).
func TestPipeBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opened atomic.Int64
		broken := new(atomic.Bool)
		r := RunPipelined(context.Background(), Config{Workers: 2, Duration: time.Second, Warmup: -1}, 1, func(context.Context, int) (Pipe, error) {
			if opened.Add(1) > 1 {
				return nil, Fail(CategoryRefused, errors.New("connection refused"))
			}
			p := &fakePipe{delay: 10 * time.Millisecond, max: new(atomic.Int64), broken: broken}
			time.AfterFunc(105*time.Millisecond, func() { broken.Store(true) })
			return p, nil
		})
		checkAccounting(t, r)
		// 2 in flight, answered every 10 ms; it breaks at 105 ms, so the
		// send at 110 ms fails, and so does the reopening.
		if r.Ops != 22 || r.ByCategory[CategoryReset] != 1 || r.ByCategory[CategoryRefused] != 1 || r.Errors != 2 || opened.Load() != 2 {
			t.Fatalf("%+v (opened %d)", r, opened.Load())
		}
	})
}

// TestHooks: OnPhase brackets the measured phase, Tick reports each
// second of it, and the intervals cover the whole phase.
func TestHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var phases []string
		var ticks []Interval
		r := Run(context.Background(), Config{Workers: 1, Duration: 2500 * time.Millisecond, Warmup: 500 * time.Millisecond,
			OnPhase: func(m bool) { phases = append(phases, fmt.Sprint(m, " ", time.Since(start))) },
			Tick:    func(iv Interval) { ticks = append(ticks, iv) }},
			// 7 ms: no answer falls on a whole second, where the order of
			// the answer and the tick would be the scheduler's choice.
			func(int) Op { return func(context.Context) error { time.Sleep(7 * time.Millisecond); return nil } })
		checkAccounting(t, r)
		// The last request, sent at 2996 ms, is answered in the grace.
		if want := []string{"true 500ms", "false 3.003s"}; !slices.Equal(phases, want) {
			t.Fatalf("phases %q, want %q", phases, want)
		}
		if len(ticks) != 2 || ticks[0].At != 0 || ticks[1].At != time.Second || ticks[0].OK != 142 || ticks[1].OK != 143 {
			t.Fatalf("ticks %+v", ticks)
		}
		if len(r.Intervals) != 3 || r.Intervals[2].At != 2*time.Second || r.Intervals[2].OK != 72 {
			t.Fatalf("intervals %+v", r.Intervals)
		}
		if line := FormatProgress(ticks[1], 7); !strings.Contains(line, "2s") || !strings.Contains(line, "143 ok/s") || !strings.Contains(line, "errors 7") {
			t.Fatalf("progress %q", line)
		}
	})
}

// TestHooksWithoutWarmup: with no warm-up the phase's start is sampled
// before the first request, so a fast run cannot finish before it.
func TestHooksWithoutWarmup(t *testing.T) {
	var started atomic.Bool
	var early atomic.Int64
	r := Run(context.Background(), Config{Workers: 4, Duration: time.Minute, Warmup: -1, Count: 100,
		OnPhase: func(m bool) {
			if m {
				started.Store(true)
			}
		}},
		func(int) Op {
			return func(context.Context) error {
				if !started.Load() {
					early.Add(1)
				}
				return nil
			}
		})
	if r.Ops != 100 || early.Load() != 0 {
		t.Fatalf("ok %d, %d requests before the phase's start was sampled", r.Ops, early.Load())
	}
}

func TestCategoryOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.DeadlineExceeded, CategoryTimeout},
		{context.Canceled, CategoryTimeout},
		{Fail("RUNTIME_ERROR/overloaded", errors.New("x")), "RUNTIME_ERROR/overloaded"},
		{errors.New("weird"), CategoryTransport},
	} {
		if got := CategoryOf(c.err); got != c.want {
			t.Errorf("CategoryOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
