package stats

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
)

// benchValues are latencies spread from 1 µs to ~38 ms (as in
// the ceilings harness, inproc/hdr_test.go), so recorders touch many lines.
func benchValues() []int64 {
	vals := make([]int64, 1024)
	for i := range vals {
		vals[i] = int64(1000 + i*i*37)
	}
	return vals
}

// ceilingHist is the 30-line lock-free histogram of
// the ceilings harness, inproc/hdr_test.go (one unsharded array, ~6 %
// error): the floor Record is compared against in the same run, since the
// machine is shared and absolute numbers drift.
type ceilingHist struct{ c [64 * 16]atomic.Uint64 }

func (h *ceilingHist) Record(v int64) {
	u := uint64(v) | 16
	e := bits.Len64(u) - 5
	sub := (u >> uint(e)) & 15
	h.c[e*16+int(sub)].Add(1)
}

func BenchmarkRecord(b *testing.B) {
	vals := benchValues()
	b.Run("impl=ceiling", func(b *testing.B) {
		var h ceilingHist
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.Record(vals[i&1023])
			i++
		}
	})
	for _, sf := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("impl=stats/sigfigs=%d", sf), func(b *testing.B) {
			h := NewHistogram(HistogramConfig{SigFigs: sf})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.Record(vals[i&1023])
				i++
			}
		})
	}
}

// BenchmarkRecordParallel records from GOMAXPROCS goroutines. dist=same
// records one value everywhere (worst case: every recorder wants the same
// counter); dist=spread uses benchValues. shards=1 is the unsharded
// histogram, impl=ceiling the unsharded floor (see ceilingHist).
func BenchmarkRecordParallel(b *testing.B) {
	vals := benchValues()
	for _, dist := range []string{"same", "spread"} {
		for _, shards := range []int{-1, 1, 0} {
			name := fmt.Sprintf("dist=%s/shards=%d", dist, shards)
			switch shards {
			case -1:
				name = fmt.Sprintf("dist=%s/impl=ceiling", dist)
			case 0:
				name = fmt.Sprintf("dist=%s/shards=default", dist)
			}
			b.Run(name, func(b *testing.B) {
				if shards < 0 {
					var h ceilingHist
					b.RunParallel(func(pb *testing.PB) {
						i := 0
						for pb.Next() {
							if dist == "same" {
								h.Record(1500)
							} else {
								h.Record(vals[i&1023])
							}
							i++
						}
					})
					return
				}
				h := NewHistogram(HistogramConfig{Shards: shards})
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if dist == "same" {
							h.Record(1500)
						} else {
							h.Record(vals[i&1023])
						}
						i++
					}
				})
			})
		}
	}
}

func BenchmarkSnapshot(b *testing.B) {
	h := NewHistogram(HistogramConfig{})
	r := rand.New(rand.NewPCG(1, 1))
	for range 100_000 {
		h.Record(int64(r.ExpFloat64() * 100_000))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Snapshot()
	}
}

func BenchmarkPercentile(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	h := NewHistogram(HistogramConfig{})
	samples := make([]int64, 100_000)
	for i := range samples {
		samples[i] = int64(math.Exp(r.Float64() * 25))
		h.Record(samples[i])
	}
	s := h.Snapshot()
	slices.Sort(samples)
	b.ReportAllocs()
	var got int64
	for b.Loop() {
		got = s.Percentile(99.9)
	}
	exact := exactPercentile(samples, 99.9)
	b.ReportMetric(100*math.Abs(float64(got-exact))/float64(exact), "%error")
	b.ReportMetric(float64(got), "p99.9-ns")
}

func BenchmarkCounterAdd(b *testing.B) {
	b.Run("impl=striped", func(b *testing.B) {
		var c Counter
		b.ReportAllocs()
		for b.Loop() {
			c.Add(1)
		}
	})
	b.Run("impl=atomic", func(b *testing.B) {
		var c atomic.Uint64
		b.ReportAllocs()
		for b.Loop() {
			c.Add(1)
		}
	})
}

// BenchmarkCounterAddParallel compares the striped Counter with a plain
// atomic.Uint64 that every goroutine shares.
func BenchmarkCounterAddParallel(b *testing.B) {
	b.Run("impl=striped", func(b *testing.B) {
		var c Counter
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
	b.Run("impl=atomic", func(b *testing.B) {
		var c atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
}
