package perf

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestClosedLoopCountsAndErrors(t *testing.T) {
	var calls atomic.Int64
	r := Run(context.Background(), Config{Name: "T/x=1", Workers: 4, Duration: time.Minute, Warmup: -1, MaxOps: 1000}, func(int) Op {
		return func(context.Context) error {
			if calls.Add(1)%10 == 0 {
				return errors.New("every tenth fails")
			}
			return nil
		}
	})
	if r.Ops < 1000 || r.Errors == 0 || r.FirstError == nil || r.Latency.Count != uint64(r.Ops) {
		t.Fatalf("%+v", r)
	}
	var b strings.Builder
	r.WriteBench(&b)
	if !strings.HasPrefix(b.String(), "BenchmarkT/x=1\t") || !strings.Contains(b.String(), "exec/s") {
		t.Fatalf("bench line %q", b.String())
	}
}

// The tests below run in a synctest bubble: time is fake and advances only
// while every goroutine of the test is blocked, so sleeps cost nothing and
// durations and latencies are exact.

func TestOpenLoopStopsAtDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 2, Duration: 200 * time.Millisecond, Warmup: -1, Rate: 1000}, func(int) Op {
			return func(context.Context) error { return nil }
		})
		// One arrival per ms from t=0; the one due at 200 ms may race the deadline.
		if r.Ops < 200 || r.Ops > 201 || r.Elapsed != 200*time.Millisecond {
			t.Fatalf("open loop at 1000/s for 0.2 s did %d ops in %v, want 200 or 201 in 200ms", r.Ops, r.Elapsed)
		}
	})
}

func TestErrorLatencyNotRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Failures take 100 ms, successes no time at all: if any failure
		// leaked into the histogram its max would be 100 ms.
		var calls atomic.Int64
		r := Run(context.Background(), Config{Workers: 2, Duration: time.Minute, Warmup: -1, MaxOps: 50}, func(int) Op {
			return func(context.Context) error {
				if calls.Add(1)%5 == 0 {
					time.Sleep(100 * time.Millisecond)
					return errors.New("slow failure")
				}
				return nil
			}
		})
		if r.Errors == 0 || r.FirstError == nil {
			t.Fatalf("no errors counted: %+v", r)
		}
		if r.Latency.Count != uint64(r.Ops) {
			t.Fatalf("histogram has %d samples, want %d (successes only)", r.Latency.Count, r.Ops)
		}
		if time.Duration(r.Latency.Max) >= 100*time.Millisecond {
			t.Fatalf("max latency %v includes a failure's latency", time.Duration(r.Latency.Max))
		}
	})
}

func TestAllErrorsEmptyHistogram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := Run(context.Background(), Config{Workers: 1, Duration: 50 * time.Millisecond, Warmup: -1}, func(int) Op {
			return func(context.Context) error {
				time.Sleep(time.Millisecond) // lets the fake clock reach the deadline
				return errors.New("down")
			}
		})
		if r.Ops != 0 || r.Errors == 0 || r.Latency.Count != 0 || r.Throughput != 0 {
			t.Fatalf("%+v", r)
		}
	})
}
