package perf

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
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
	if r.Ops < 1000 || r.Errors == 0 || r.FirstError == nil || r.Latency.Count != uint64(r.Ops+r.Errors) {
		t.Fatalf("%+v", r)
	}
	var b strings.Builder
	r.WriteBench(&b)
	if !strings.HasPrefix(b.String(), "BenchmarkT/x=1\t") || !strings.Contains(b.String(), "exec/s") {
		t.Fatalf("bench line %q", b.String())
	}
}

func TestOpenLoopStopsAtDuration(t *testing.T) {
	r := Run(context.Background(), Config{Workers: 2, Duration: 200 * time.Millisecond, Warmup: -1, Rate: 1000}, func(int) Op {
		return func(context.Context) error { return nil }
	})
	if r.Ops == 0 || r.Ops > 400 {
		t.Fatalf("open loop at 1000/s for 0.2 s did %d ops", r.Ops)
	}
}
