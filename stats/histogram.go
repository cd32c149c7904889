package stats

import (
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// Bucket layout (log-linear, HDR style).
//
// A histogram with k sub-bucket bits (halfCount = 2^k) maps a value v ≥ 0 to
//
//	e   = max(bits.Len64(v) - (k+1), 0)     // power-of-two range, 0 for v < 2^(k+1)
//	idx = e<<k + v>>e
//
// Values below 2^(k+1) get one bucket each (exact). Above that, every
// power-of-two range [2^(e+k), 2^(e+k+1)) is split into 2^k buckets of width
// 2^e. The lower bound of bucket idx ≥ 2^(k+1) is (idx - e<<k) << e with
// e = idx>>k - 1. A bucket's width is at most 1/2^k of its lower bound, so
// reporting its midpoint is off by at most 1/2^(k+1) of the true value.
//
// Significant figures map to k as in HdrHistogram: the smallest power of two
// ≥ 2×10^SigFigs is 2^(k+1).
//
//	SigFigs  k   buckets per power of two  relative error (ErrorBound)
//	1        4   16                        1/32   ≈ 3.1 %
//	2        7   128                       1/256  ≈ 0.39 %
//	3        10  1024                      1/2048 ≈ 0.049 %

// Defaults and limits of HistogramConfig.
const (
	DefaultSigFigs  = 2
	DefaultMaxValue = int64(time.Hour)
	// MaxMaxValue is the largest MaxValue accepted: about 36 years in ns.
	MaxMaxValue = int64(1) << 60
	maxShards   = 64
)

// HistogramConfig configures a Histogram. The zero value is usable.
type HistogramConfig struct {
	// SigFigs is the number of significant decimal figures kept, 1 to 3.
	// If zero, defaults to 2 (relative error ≤ 0.39 %). Values above 3 are
	// clamped to 3, negative values to the default.
	SigFigs int
	// MaxValue is the largest recordable value in ns; larger values are
	// recorded as MaxValue and counted in Snapshot.Clamped. If zero or
	// negative, defaults to one hour. Clamped to MaxMaxValue.
	MaxValue int64
	// Shards is the number of counter arrays concurrent recorders are spread
	// over to avoid cache-line contention; it is rounded up to a power of
	// two. Memory is Shards × buckets × 8 bytes (≈36 KiB per shard with the
	// default SigFigs and MaxValue). If zero, defaults to 2×GOMAXPROCS
	// rounded up to a power of two, between 2 and 16. Clamped to 64.
	Shards int
}

func (c HistogramConfig) withDefaults() HistogramConfig {
	switch {
	case c.SigFigs <= 0:
		c.SigFigs = DefaultSigFigs
	case c.SigFigs > 3:
		c.SigFigs = 3
	}
	if c.MaxValue <= 0 {
		c.MaxValue = DefaultMaxValue
	}
	c.MaxValue = min(c.MaxValue, MaxMaxValue)
	if c.Shards <= 0 {
		c.Shards = min(max(2*runtime.GOMAXPROCS(0), 2), 16)
	}
	c.Shards = min(c.Shards, maxShards)
	c.Shards = 1 << bits.Len(uint(c.Shards-1))
	return c
}

// subBucketBits returns k for a number of significant figures (1..3).
func subBucketBits(sigFigs int) uint {
	largest := 2 * math.Pow10(sigFigs)
	return uint(math.Ceil(math.Log2(largest))) - 1
}

// bucketIndex maps v ≥ 0 to its bucket index for k sub-bucket bits.
func bucketIndex(v uint64, k uint) int {
	e := uint(bits.Len64(v|1<<k)) - (k + 1)
	return int(uint64(e)<<k + v>>e)
}

// bucketBounds returns the lowest value of bucket idx and its width.
func bucketBounds(idx int, k uint) (lo, width uint64) {
	if idx < 2<<k {
		return uint64(idx), 1
	}
	e := uint(idx>>k) - 1
	return uint64(idx-int(e<<k)) << e, 1 << e
}

// bucketMid returns the value reported for bucket idx: the midpoint of its
// range, rounded down.
func bucketMid(idx int, k uint) int64 {
	lo, w := bucketBounds(idx, k)
	return int64(lo + (w-1)/2)
}

// Histogram records latencies in nanoseconds into log-linear buckets.
//
// Concurrency: Record and Snapshot are safe for concurrent use by any number
// of goroutines and never block. Record is one atomic add on a counter picked
// from one of several shards by the recording goroutine's stack address, so
// two goroutines recording at once usually write different cache lines.
// Nothing is locked; Snapshot reads the counters one by one, so a snapshot
// taken while others record may include some of the concurrent samples and
// not others (each sample is either in or out, never half-counted).
//
// Count, sum, min and max are not tracked separately: they are derived from
// the buckets when a Snapshot is read (see Snapshot), which keeps Record to
// a single atomic instruction.
type Histogram struct {
	// Read by Record; written only by NewHistogram.
	k         uint
	k1        uint   // k + 1
	half      uint64 // 1 << k
	shardMask uint64 // shards - 1
	maxValue  int64
	stride    uint64          // counters per shard, a multiple of 8 (one cache line)
	counts    []atomic.Uint64 // shards × stride

	nBuckets int
	sigFigs  int
	clamped  atomic.Uint64
}

// NewHistogram returns an empty histogram. cfg's zero fields take the
// defaults documented on HistogramConfig.
func NewHistogram(cfg HistogramConfig) *Histogram {
	cfg = cfg.withDefaults()
	k := subBucketBits(cfg.SigFigs)
	n := bucketIndex(uint64(cfg.MaxValue), k) + 1
	stride := (n + 7) &^ 7
	return &Histogram{
		k:         k,
		k1:        k + 1,
		half:      1 << k,
		shardMask: uint64(cfg.Shards - 1),
		maxValue:  cfg.MaxValue,
		stride:    uint64(stride),
		nBuckets:  n,
		sigFigs:   cfg.SigFigs,
		counts:    make([]atomic.Uint64, cfg.Shards*stride),
	}
}

// Record adds one sample of v nanoseconds. Values outside [0, MaxValue] are
// recorded as 0 or MaxValue and counted in Snapshot.Clamped. Record never
// blocks and does not allocate.
func (h *Histogram) Record(v int64) {
	if uint64(v) > uint64(h.maxValue) {
		v = h.clamp(v)
	}
	// bucketIndex, with shift counts masked so the compiler emits bare
	// shifts (e and k are < 64 by construction).
	u := uint64(v)
	e := (uint(bits.Len64(u|h.half)) - h.k1) & 63
	idx := uint64(e)<<(h.k&63) + u>>e
	h.counts[(shardHash()&h.shardMask)*h.stride+idx].Add(1)
}

// RecordDuration records d as nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

func (h *Histogram) clamp(v int64) int64 {
	h.clamped.Add(1)
	if v < 0 {
		return 0
	}
	return h.maxValue
}

// SigFigs returns the configured significant figures.
func (h *Histogram) SigFigs() int { return h.sigFigs }

// MaxValue returns the largest recordable value in ns.
func (h *Histogram) MaxValue() int64 { return h.maxValue }

// Snapshot returns a copy of the histogram's counters. It allocates the
// copy and reads every counter of every shard once; it does not stop
// concurrent recording.
func (h *Histogram) Snapshot() *Snapshot {
	shards := len(h.counts) / int(h.stride)
	stride := int(h.stride)
	lo, hi := -1, -1
	tmp := make([]uint64, h.nBuckets)
	var total uint64
	for i := range tmp {
		var c uint64
		for s := range shards {
			c += h.counts[s*stride+i].Load()
		}
		if c != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
			total += c
		}
		tmp[i] = c
	}
	s := &Snapshot{sigFigs: h.sigFigs, k: h.k, maxValue: h.maxValue, clamped: h.clamped.Load(), total: total}
	if lo >= 0 {
		s.base = lo
		s.counts = tmp[lo : hi+1 : hi+1]
	}
	return s
}

// shardHash returns a hash of the address of a stack variable: goroutines
// have distinct stacks, so concurrent recorders usually land on different
// shards, and one goroutine keeps hitting the same one (its cache lines
// stay local). The top 6 bits are well mixed; callers mask them. The
// address is only hashed, never dereferenced.
//
// Rejected: a per-P index (needs runtime internals via linkname), a random
// shard per call (every line ends up written by every core), sync.Pool
// tokens (≈10 ns more per call).
func shardHash() uint64 {
	var marker byte
	p := uint64(uintptr(unsafe.Pointer(&marker)))
	return ((p >> 10) * 0x9E3779B97F4A7C15) >> 58
}
