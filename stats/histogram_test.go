package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketIndexLayout(t *testing.T) {
	for _, sf := range []int{1, 2, 3} {
		k := subBucketBits(sf)
		// Every value maps into a bucket whose bounds contain it; indexes are
		// contiguous and non-decreasing; widths respect the error bound.
		prev := -1
		check := func(v uint64) {
			idx := bucketIndex(v, k)
			lo, w := bucketBounds(idx, k)
			if v < lo || v >= lo+w {
				t.Fatalf("sf=%d v=%d idx=%d: bucket [%d,%d)", sf, v, idx, lo, lo+w)
			}
			if w > 1 && float64(w)/float64(lo) > 1/float64(uint64(1)<<k) {
				t.Fatalf("sf=%d v=%d: width %d too large for lo %d", sf, v, w, lo)
			}
			if bucketIndex(lo, k) != idx || bucketIndex(lo+w-1, k) != idx {
				t.Fatalf("sf=%d idx=%d: bounds map elsewhere", sf, idx)
			}
			if idx < prev {
				t.Fatalf("sf=%d v=%d: index went down", sf, v)
			}
			prev = idx
		}
		for v := uint64(0); v < 1<<16; v++ {
			check(v)
		}
		prev = -1
		for e := uint(16); e < 61; e++ {
			for _, d := range []uint64{0, 1, 3, 1<<(e-1) - 1, 1<<e - 1} {
				check(1<<e + d)
			}
		}
	}
}

func TestSigFigsErrorBound(t *testing.T) {
	for sf, want := range map[int]float64{1: 1.0 / 32, 2: 1.0 / 256, 3: 1.0 / 2048} {
		if got := NewHistogram(HistogramConfig{SigFigs: sf}).Snapshot().ErrorBound(); got != want {
			t.Errorf("SigFigs %d: ErrorBound %v, want %v", sf, got, want)
		}
	}
	if got := NewHistogram(HistogramConfig{}).SigFigs(); got != DefaultSigFigs {
		t.Errorf("default SigFigs = %d", got)
	}
}

// exactPercentile is the definition Snapshot.Percentile approximates.
func exactPercentile(sorted []int64, q float64) int64 {
	return sorted[percentileRank(q, uint64(len(sorted)))-1]
}

func TestPercentilesAgainstExactSort(t *testing.T) {
	dists := map[string]func(r *rand.Rand) int64{
		"uniform_1us_1ms": func(r *rand.Rand) int64 { return 1000 + r.Int64N(999_000) },
		"exponential_50us": func(r *rand.Rand) int64 {
			return int64(r.ExpFloat64() * 50_000)
		},
		"lognormal_2us": func(r *rand.Rand) int64 {
			return int64(math.Exp(r.NormFloat64()*1.5) * 2000)
		},
		"bimodal_fast_slow": func(r *rand.Rand) int64 {
			if r.IntN(100) < 2 {
				return 5_000_000 + r.Int64N(5_000_000) // 2% slow tail at 5-10 ms
			}
			return 300 + r.Int64N(700)
		},
		"tiny_0_300ns": func(r *rand.Rand) int64 { return r.Int64N(300) },
		"pareto_heavy_tail": func(r *rand.Rand) int64 {
			return min(int64(1000/math.Pow(1-r.Float64(), 1/1.2)), int64(time.Hour))
		},
	}
	qs := []float64{0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100}
	for name, gen := range dists {
		for _, sf := range []int{1, 2, 3} {
			for _, seed := range []uint64{1, 42, 2026} {
				t.Run(fmt.Sprintf("dist=%s/sigfigs=%d/seed=%d", name, sf, seed), func(t *testing.T) {
					r := rand.New(rand.NewPCG(seed, seed^0x5eed))
					h := NewHistogram(HistogramConfig{SigFigs: sf})
					samples := make([]int64, 20_000)
					var sum float64
					for i := range samples {
						v := gen(r)
						samples[i] = v
						sum += float64(v)
						h.Record(v)
					}
					slices.Sort(samples)
					s := h.Snapshot()
					bound := s.ErrorBound()
					if s.Count() != uint64(len(samples)) {
						t.Fatalf("Count = %d, want %d", s.Count(), len(samples))
					}
					for _, q := range qs {
						want := exactPercentile(samples, q)
						got := s.Percentile(q)
						if math.Abs(float64(got-want)) > bound*float64(want) {
							t.Errorf("p%v = %d, exact %d: error %.4f%% > bound %.4f%%",
								q, got, want, 100*math.Abs(float64(got-want))/float64(want), 100*bound)
						}
					}
					many := s.Percentiles(qs...)
					for i, q := range qs {
						if many[i] != s.Percentile(q) {
							t.Errorf("Percentiles[%v] = %d, Percentile = %d", q, many[i], s.Percentile(q))
						}
					}
					if sum := s.Summary(); sum.P99 != s.Percentile(99) || sum.Max != s.Max() || sum.Count != s.Count() {
						t.Errorf("Summary %+v disagrees", sum)
					}
					if s.Min() != s.Percentile(0) || s.Max() != s.Percentile(100) {
						t.Errorf("Min/Max %d/%d disagree with p0/p100", s.Min(), s.Max())
					}
					if math.Abs(s.Mean()-sum/float64(len(samples))) > bound*sum/float64(len(samples)) {
						t.Errorf("Mean %.1f, exact %.1f", s.Mean(), sum/float64(len(samples)))
					}
					if math.Abs(float64(s.Sum())-sum) > bound*sum {
						t.Errorf("Sum %d, exact %.0f", s.Sum(), sum)
					}
				})
			}
		}
	}
}

func TestClamping(t *testing.T) {
	h := NewHistogram(HistogramConfig{MaxValue: int64(time.Second)})
	h.Record(-5)
	h.Record(int64(2 * time.Second))
	h.Record(math.MaxInt64)
	h.Record(500)
	s := h.Snapshot()
	if s.Count() != 4 || s.Clamped() != 3 {
		t.Fatalf("Count %d Clamped %d, want 4 and 3", s.Count(), s.Clamped())
	}
	if s.Min() != 0 {
		t.Errorf("Min = %d, want 0 (negative clamps to 0)", s.Min())
	}
	if got := s.Max(); math.Abs(float64(got)-1e9) > s.ErrorBound()*1e9 {
		t.Errorf("Max = %d, want ≈ 1s", got)
	}
}

func TestEmptySnapshot(t *testing.T) {
	for _, s := range []*Snapshot{nil, NewHistogram(HistogramConfig{}).Snapshot()} {
		if s.Count() != 0 || s.Sum() != 0 || s.Mean() != 0 || s.Min() != 0 || s.Max() != 0 || s.Percentile(99) != 0 {
			t.Errorf("empty snapshot reports values")
		}
		n := 0
		s.Buckets(func(upper int64, cum uint64) {
			n++
			if cum != 0 {
				t.Errorf("bucket %d: %d", upper, cum)
			}
		})
		if n != len(expositionBounds)+1 {
			t.Errorf("Buckets called %d times", n)
		}
	}
}

func TestPercentileEdgeQuantiles(t *testing.T) {
	h := NewHistogram(HistogramConfig{})
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	s := h.Snapshot()
	for q, want := range map[float64]int64{math.NaN(): 1, -3: 1, 0: 1, 50: 50, 99: 99, 100: 100, 250: 100} {
		if got := s.Percentile(q); got != want {
			t.Errorf("Percentile(%v) = %d, want %d", q, got, want)
		}
	}
	if got := s.Percentiles(100, 50, 0); !slices.Equal(got, []int64{100, 50, 1}) {
		t.Errorf("Percentiles out of order: %v", got)
	}
	if got := (*Snapshot)(nil).Percentiles(50, 99); !slices.Equal(got, []int64{0, 0}) {
		t.Errorf("empty Percentiles: %v", got)
	}
}

func TestConcurrentRecording(t *testing.T) {
	h := NewHistogram(HistogramConfig{Shards: 4})
	var c Counter
	const goroutines, perG = 8, 20_000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range perG {
				h.Record(r.Int64N(1_000_000))
				c.Inc()
			}
		})
	}
	// Snapshots taken during recording never exceed the final count and
	// never go backwards.
	var last uint64
	for range 20 {
		n := h.Snapshot().Count()
		if n < last {
			t.Fatalf("snapshot count went down: %d after %d", n, last)
		}
		last = n
	}
	wg.Wait()
	if got := h.Snapshot().Count(); got != goroutines*perG {
		t.Fatalf("Count = %d, want %d", got, goroutines*perG)
	}
	if got := c.Load(); got != goroutines*perG {
		t.Fatalf("Counter = %d, want %d", got, goroutines*perG)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := NewHistogram(HistogramConfig{})
	var c Counter
	var g Gauge
	if n := testing.AllocsPerRun(1000, func() {
		h.Record(12345)
		h.RecordDuration(time.Millisecond)
		c.Inc()
		g.Add(1)
	}); n != 0 {
		t.Fatalf("allocs per run = %v", n)
	}
}

func TestCounterAndGauge(t *testing.T) {
	var c Counter
	c.Add(5)
	c.Inc()
	if c.Load() != 6 {
		t.Errorf("Counter = %d", c.Load())
	}
	var g Gauge
	g.Set(10)
	g.Add(-15)
	if g.Load() != -5 {
		t.Errorf("Gauge = %d", g.Load())
	}
}

// randomSnapshot builds a snapshot from n random samples spread over many
// decades.
func randomSnapshot(r *rand.Rand, cfg HistogramConfig, n int) *Snapshot {
	h := NewHistogram(cfg)
	for range n {
		h.Record(int64(math.Exp(r.Float64() * 25)))
	}
	return h.Snapshot()
}

func TestMergeSubLaws(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		cfg := HistogramConfig{SigFigs: 1 + i%3}
		a := randomSnapshot(r, cfg, r.IntN(500))
		b := randomSnapshot(r, cfg, r.IntN(500))
		c := randomSnapshot(r, cfg, r.IntN(500))
		if !a.Merge(b).Equal(b.Merge(a)) {
			t.Fatal("merge is not commutative")
		}
		if !a.Merge(b).Merge(c).Equal(a.Merge(b.Merge(c))) {
			t.Fatal("merge is not associative")
		}
		if got := a.Merge(b).Sub(b); !got.Equal(a) {
			t.Fatalf("(a+b)-b != a: counts %d vs %d", got.Count(), a.Count())
		}
		if a.Merge(b).Count() != a.Count()+b.Count() {
			t.Fatal("merge count")
		}
		if !a.Merge(nil).Equal(a) || !a.Sub(nil).Equal(a) || !a.Sub(a).Equal(emptyLike(a)) {
			t.Fatal("identity laws")
		}
		// Subtracting more than is there saturates at zero.
		if got := a.Sub(a.Merge(b)); got.Count() != 0 {
			t.Fatalf("a-(a+b) has %d samples", got.Count())
		}
	}
}

func emptyLike(s *Snapshot) *Snapshot { return emptySnapshot(s) }

func TestIntervalSnapshots(t *testing.T) {
	h := NewHistogram(HistogramConfig{})
	for range 100 {
		h.Record(1000)
	}
	prev := h.Snapshot()
	for range 50 {
		h.Record(5_000_000)
	}
	cur := h.Snapshot()
	iv := cur.Sub(prev)
	if iv.Count() != 50 || iv.Min() < 4_900_000 {
		t.Fatalf("interval: count %d min %d", iv.Count(), iv.Min())
	}
	if !prev.Merge(iv).Equal(cur) {
		t.Fatal("prev + interval != cur")
	}
}

func TestMergeDifferentResolutions(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	fine := randomSnapshot(r, HistogramConfig{SigFigs: 3}, 2000)
	coarse := randomSnapshot(r, HistogramConfig{SigFigs: 1, MaxValue: int64(time.Minute)}, 2000)
	m := fine.Merge(coarse)
	if m.SigFigs() != 1 || m.MaxValue() != int64(time.Hour) || m.Count() != 4000 {
		t.Fatalf("merged: sigfigs %d max %d count %d", m.SigFigs(), m.MaxValue(), m.Count())
	}
	if !m.Equal(coarse.Merge(fine)) {
		t.Fatal("mixed-resolution merge not commutative")
	}
	// Re-binned percentiles stay within the coarse bound of the fine ones.
	rb := fine.rebin(subBucketBits(1))
	for _, q := range []float64{1, 50, 99} {
		f, c := float64(fine.Percentile(q)), float64(rb.Percentile(q))
		if math.Abs(f-c) > 2*rb.ErrorBound()*f {
			t.Errorf("p%v fine %v rebinned %v", q, f, c)
		}
	}
}

func TestBucketsCumulative(t *testing.T) {
	h := NewHistogram(HistogramConfig{})
	for _, v := range []int64{50, 100, 1000, 999_999, 1_000_000, 20e9, int64(time.Hour)} {
		h.Record(v)
	}
	s := h.Snapshot()
	got := map[int64]uint64{}
	var last uint64
	s.Buckets(func(upper int64, cum uint64) {
		if cum < last {
			t.Fatalf("cumulative count decreased at %d", upper)
		}
		last = cum
		got[upper] = cum
	})
	for upper, want := range map[int64]uint64{100: 2, 250: 2, 1000: 3, 1_000_000: 5, 10e9: 5, math.MaxInt64: 7} {
		if got[upper] != want {
			t.Errorf("le %d: %d, want %d", upper, got[upper], want)
		}
	}
}
