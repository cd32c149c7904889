package stats

import "sync/atomic"

// counterShards is the number of cache-line-separated cells a Counter
// spreads its increments over.
const counterShards = 8 // a power of two ≤ 64

// Counter is a monotonically increasing uint64, striped over cache lines so
// that goroutines incrementing it at once rarely write the same line (the
// cell is chosen like a Histogram shard, from the caller's stack address).
// The zero value is a usable counter at 0. It is safe for concurrent use;
// Add never blocks. It must not be copied after first use.
//
// Load sums the cells without stopping writers, so it may miss increments
// that happen while it runs but never counts one twice; successive Loads by
// one goroutine never decrease.
type Counter struct {
	cells [counterShards]struct {
		n atomic.Uint64
		_ [56]byte // one value per 64-byte cache line
	}
}

// Add adds n.
func (c *Counter) Add(n uint64) {
	c.cells[shardHash()&(counterShards-1)].n.Add(n)
}

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Load returns the current total.
func (c *Counter) Load() uint64 {
	var t uint64
	for i := range c.cells {
		t += c.cells[i].n.Load()
	}
	return t
}

// Gauge is an int64 that goes up and down: a plain atomic, because Set
// cannot be striped. The zero value is a usable gauge at 0. It is safe for
// concurrent use and must not be copied after first use.
type Gauge struct {
	v atomic.Int64
}

// Set stores v.
func (g *Gauge) Set(v int64) { g.v.Store(v) }

// Add adds delta (which may be negative).
func (g *Gauge) Add(delta int64) { g.v.Add(delta) }

// Load returns the current value.
func (g *Gauge) Load() int64 { return g.v.Load() }
