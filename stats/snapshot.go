package stats

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// Snapshot is an immutable copy of a Histogram's buckets at one moment, or
// the result of merging or subtracting snapshots. It is safe for concurrent
// use. A nil *Snapshot reads as empty.
//
// Every value a Snapshot reports (Min, Max, Mean, Sum, Percentile) is derived
// from the buckets: a sample counts as the midpoint of its bucket, so each
// is within ErrorBound() of the exact figure (relative error; exact for
// values below 2^(k+1), e.g. below 256 ns with the default 2 significant
// figures). Count is exact.
type Snapshot struct {
	sigFigs  int
	k        uint
	maxValue int64
	clamped  uint64
	total    uint64
	base     int      // bucket index of counts[0]
	counts   []uint64 // trimmed: counts[0] and counts[len-1] are non-zero, or len == 0
}

// SigFigs returns the significant figures of the buckets.
func (s *Snapshot) SigFigs() int {
	if s == nil {
		return DefaultSigFigs
	}
	return s.sigFigs
}

// MaxValue returns the largest recordable value of the histogram the
// snapshot came from, in ns.
func (s *Snapshot) MaxValue() int64 {
	if s == nil {
		return DefaultMaxValue
	}
	return s.maxValue
}

// ErrorBound returns the largest relative error of any value derived from
// the snapshot: 1/2^(k+1), where 2^k buckets cover each power of two
// (1/32 for 1 significant figure, 1/256 for 2, 1/2048 for 3).
func (s *Snapshot) ErrorBound() float64 {
	return 1 / float64(uint64(2)<<s.kOrDefault())
}

func (s *Snapshot) kOrDefault() uint {
	if s == nil {
		return subBucketBits(DefaultSigFigs)
	}
	return s.k
}

// Count returns the number of samples.
func (s *Snapshot) Count() uint64 {
	if s == nil {
		return 0
	}
	return s.total
}

// Clamped returns how many samples were outside [0, MaxValue] and were
// recorded as 0 or MaxValue instead.
func (s *Snapshot) Clamped() uint64 {
	if s == nil {
		return 0
	}
	return s.clamped
}

// Sum returns the sum of all samples in ns (midpoint of each sample's
// bucket), saturating at math.MaxInt64.
func (s *Snapshot) Sum() int64 {
	if s == nil {
		return 0
	}
	var hi, lo uint64
	for i, c := range s.counts {
		if c == 0 {
			continue
		}
		h, l := bits.Mul64(c, uint64(bucketMid(s.base+i, s.k)))
		var carry uint64
		lo, carry = bits.Add64(lo, l, 0)
		hi += h + carry
	}
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// SumSeconds returns the sum of all samples in seconds, as exposed to
// Prometheus; unlike Sum it does not saturate.
func (s *Snapshot) SumSeconds() float64 {
	if s == nil {
		return 0
	}
	var sum float64
	for i, c := range s.counts {
		if c != 0 {
			sum += float64(c) * float64(bucketMid(s.base+i, s.k))
		}
	}
	return sum / 1e9
}

// Mean returns the mean sample in ns, or 0 if there are none.
func (s *Snapshot) Mean() float64 {
	if s.Count() == 0 {
		return 0
	}
	return s.SumSeconds() * 1e9 / float64(s.total)
}

// Min returns the smallest sample in ns (Percentile(0)), or 0 if there are
// none.
func (s *Snapshot) Min() int64 {
	if s.Count() == 0 {
		return 0
	}
	return bucketMid(s.base, s.k)
}

// Max returns the largest sample in ns (Percentile(100)), or 0 if there are
// none.
func (s *Snapshot) Max() int64 {
	if s.Count() == 0 {
		return 0
	}
	return bucketMid(s.base+len(s.counts)-1, s.k)
}

// Percentile returns the sample at quantile q (0..100, clamped; NaN reads
// as 0) in ns, or 0 if there are none. With n samples sorted ascending it
// is the one at rank max(1, ⌈q/100 × n⌉), reported as its bucket's midpoint,
// so it is within ErrorBound() of that exact sample.
func (s *Snapshot) Percentile(q float64) int64 {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := percentileRank(q, n)
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			return bucketMid(s.base+i, s.k)
		}
	}
	return s.Max()
}

// Percentiles returns Percentile(q) for each of qs, in the order given, in
// one pass over the buckets.
func (s *Snapshot) Percentiles(qs ...float64) []int64 {
	out := make([]int64, len(qs))
	n := s.Count()
	if n == 0 {
		return out
	}
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	ranks := make([]uint64, len(qs))
	for i, q := range qs {
		ranks[i] = percentileRank(q, n)
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ranks[a], ranks[b]) })
	var cum uint64
	j := 0
	for i, c := range s.counts {
		cum += c
		for j < len(order) && cum >= ranks[order[j]] {
			out[order[j]] = bucketMid(s.base+i, s.k)
			j++
		}
	}
	return out
}

// Summary is the usual digest of a snapshot, in ns, for JSON reports such
// as /v1/stats and the perf lab's results.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ns"`
	Min   int64   `json:"min_ns"`
	P50   int64   `json:"p50_ns"`
	P90   int64   `json:"p90_ns"`
	P99   int64   `json:"p99_ns"`
	P999  int64   `json:"p99_9_ns"`
	P9999 int64   `json:"p99_99_ns"`
	Max   int64   `json:"max_ns"`
	// ErrorBound is the relative error of every figure above but Count.
	ErrorBound float64 `json:"error_bound"`
}

// Summary returns count, mean, min, p50, p90, p99, p99.9, p99.99 and max.
func (s *Snapshot) Summary() Summary {
	p := s.Percentiles(0, 50, 90, 99, 99.9, 99.99, 100)
	return Summary{
		Count: s.Count(), Mean: s.Mean(),
		Min: p[0], P50: p[1], P90: p[2], P99: p[3], P999: p[4], P9999: p[5], Max: p[6],
		ErrorBound: s.ErrorBound(),
	}
}

// percentileRank returns the 1-based rank of quantile q among n samples.
func percentileRank(q float64, n uint64) uint64 {
	if !(q > 0) { // also NaN
		return 1
	}
	if q >= 100 {
		return n
	}
	r := math.Ceil(q / 100 * float64(n))
	if r < 1 {
		return 1
	}
	if r > float64(n) {
		return n
	}
	return uint64(r)
}

// Merge returns a snapshot holding the samples of both s and o. If their
// significant figures differ, the result has the coarser resolution (the
// finer buckets nest exactly inside the coarser ones). MaxValue is the
// larger of the two. Either may be nil.
func (s *Snapshot) Merge(o *Snapshot) *Snapshot {
	return combine(s, o, false)
}

// Sub returns the samples in s that are not in prev, bucket by bucket: for
// two snapshots of the same histogram, the samples recorded in between
// (interval = now − previous). Counts saturate at zero, so subtracting an
// unrelated or newer snapshot never underflows. prev may be nil.
func (s *Snapshot) Sub(prev *Snapshot) *Snapshot {
	return combine(s, prev, true)
}

func combine(a, b *Snapshot, sub bool) *Snapshot {
	if a == nil {
		a = emptySnapshot(b)
	}
	if b == nil {
		b = emptySnapshot(a)
	}
	r := &Snapshot{sigFigs: a.sigFigs, k: a.k, maxValue: max(a.maxValue, b.maxValue)}
	if b.k < a.k {
		r.sigFigs, r.k = b.sigFigs, b.k
	}
	a, b = a.rebin(r.k), b.rebin(r.k)
	if sub {
		r.clamped = satSub(a.clamped, b.clamped)
		counts := slices.Clone(a.counts)
		for i, c := range b.counts {
			if j := b.base + i - a.base; j >= 0 && j < len(counts) {
				counts[j] = satSub(counts[j], c)
			}
		}
		r.setCounts(a.base, counts)
		return r
	}
	r.clamped = satAdd(a.clamped, b.clamped)
	switch {
	case len(a.counts) == 0:
		r.setCounts(b.base, slices.Clone(b.counts))
	case len(b.counts) == 0:
		r.setCounts(a.base, slices.Clone(a.counts))
	default:
		lo := min(a.base, b.base)
		hi := max(a.base+len(a.counts), b.base+len(b.counts))
		counts := make([]uint64, hi-lo)
		copy(counts[a.base-lo:], a.counts)
		for i, c := range b.counts {
			counts[b.base+i-lo] = satAdd(counts[b.base+i-lo], c)
		}
		r.setCounts(lo, counts)
	}
	return r
}

func emptySnapshot(like *Snapshot) *Snapshot {
	if like == nil {
		return &Snapshot{sigFigs: DefaultSigFigs, k: subBucketBits(DefaultSigFigs), maxValue: DefaultMaxValue}
	}
	return &Snapshot{sigFigs: like.sigFigs, k: like.k, maxValue: like.maxValue}
}

// setCounts trims zero buckets at both ends of counts (which starts at
// bucket base) and stores it with its total.
func (s *Snapshot) setCounts(base int, counts []uint64) {
	first := slices.IndexFunc(counts, func(c uint64) bool { return c != 0 })
	if first < 0 {
		s.base, s.counts, s.total = 0, nil, 0
		return
	}
	last := len(counts) - 1
	for counts[last] == 0 {
		last--
	}
	s.base = base + first
	s.counts = counts[first : last+1 : last+1]
	s.total = 0
	for _, c := range s.counts {
		s.total = satAdd(s.total, c)
	}
}

// rebin returns s with buckets of k sub-bucket bits (k ≤ s.k).
func (s *Snapshot) rebin(k uint) *Snapshot {
	if k == s.k || len(s.counts) == 0 {
		return s
	}
	lo, _ := bucketBounds(s.base, s.k)
	hi, _ := bucketBounds(s.base+len(s.counts)-1, s.k)
	first := bucketIndex(lo, k)
	counts := make([]uint64, bucketIndex(hi, k)-first+1)
	for i, c := range s.counts {
		v, _ := bucketBounds(s.base+i, s.k)
		j := bucketIndex(v, k) - first
		counts[j] = satAdd(counts[j], c)
	}
	r := &Snapshot{sigFigs: s.sigFigs, k: k, maxValue: s.maxValue, clamped: s.clamped}
	r.setCounts(first, counts)
	return r
}

func bucketLo(idx int, k uint) int64 {
	lo, _ := bucketBounds(idx, k)
	return int64(lo)
}

// satAdd adds without wrapping: counts saturate at 2^64-1 (unreachable by
// recording; possible only by merging decoded snapshots).
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

func satSub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// Equal reports whether s and o hold the same buckets, resolution,
// MaxValue and clamped count. nil equals an empty default snapshot.
func (s *Snapshot) Equal(o *Snapshot) bool {
	if s == nil {
		s = emptySnapshot(nil)
	}
	if o == nil {
		o = emptySnapshot(nil)
	}
	return s.k == o.k && s.maxValue == o.maxValue && s.clamped == o.clamped &&
		s.base == o.base && slices.Equal(s.counts, o.counts)
}

// EachBucket calls fn for every non-empty bucket in ascending order with
// the bucket's range [lo, hi] in ns and its count.
func (s *Snapshot) EachBucket(fn func(lo, hi int64, count uint64)) {
	if s == nil {
		return
	}
	for i, c := range s.counts {
		if c != 0 {
			lo, w := bucketBounds(s.base+i, s.k)
			fn(int64(lo), int64(lo+w-1), c)
		}
	}
}

// expositionBounds are the upper bounds, in ns, of the buckets a histogram
// is exposed with: 100 ns to 10 s in a 1-2.5-5 sequence.
var expositionBounds = func() []int64 {
	var b []int64
	for d := int64(100); d < 10e9; d *= 10 {
		b = append(b, d, d*5/2, d*5)
	}
	return append(b, 10e9)
}()

// ExpositionBounds returns the upper bounds in ns of the fixed buckets
// Buckets reports and Prometheus sees: 100 ns to 10 s in a 1-2.5-5 sequence
// (25 bounds), followed by +Inf. The slice is a fresh copy.
func ExpositionBounds() []int64 { return slices.Clone(expositionBounds) }

// Buckets calls fn once per exposition bound (see ExpositionBounds), in
// ascending order, with the number of samples ≤ upperNs, and finally with
// upperNs = math.MaxInt64 (+Inf) and Count(). A histogram bucket that
// straddles a bound counts below it when its lowest value is ≤ the bound, so
// a sample equal to a bound is always counted below it, and samples above a
// bound by less than 2×ErrorBound() of it may be counted below it too.
func (s *Snapshot) Buckets(fn func(upperNs int64, cumulativeCount uint64)) {
	var cum uint64
	i := 0
	var counts []uint64
	base := 0
	var k uint
	if s != nil {
		counts, base, k = s.counts, s.base, s.k
	}
	for _, b := range expositionBounds {
		for i < len(counts) && bucketLo(base+i, k) <= b {
			cum += counts[i]
			i++
		}
		fn(b, cum)
	}
	fn(math.MaxInt64, s.Count())
}
