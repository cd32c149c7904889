package stats

import (
	"sync"
	"time"
)

// throughputSlots is how many per-second totals a Throughput keeps: enough
// for a rate over the last 60 s.
const throughputSlots = 61

// Throughput counts events and reports their rate over the last 1 s, 10 s or
// 60 s.
//
// Counting (Add, Inc) is a striped Counter increment: no clock read, no
// lock. Rates come from per-second totals that Tick records: an owner
// goroutine calls Tick about once a second, and Rate compares the newest
// total with the one `over` earlier. Ticks within the same clock second
// replace each other, so ticking more often is harmless; ticking less often
// only coarsens the window.
//
// All methods are safe for concurrent use.
type Throughput struct {
	events Counter
	now    func() time.Time

	mu struct {
		sync.Mutex
		ring [throughputSlots]tick // ring[(head-i) mod len] is i ticks ago
		head int
		n    int // valid entries
	}
}

type tick struct {
	at    time.Time
	total uint64
}

// NewThroughput returns a Throughput reading time from now; if now is nil,
// it uses time.Now.
func NewThroughput(now func() time.Time) *Throughput {
	if now == nil {
		now = time.Now
	}
	return &Throughput{now: now}
}

// Add counts n events.
func (t *Throughput) Add(n uint64) { t.events.Add(n) }

// Inc counts one event.
func (t *Throughput) Inc() { t.events.Add(1) }

// Total returns the number of events counted so far.
func (t *Throughput) Total() uint64 { return t.events.Load() }

// Tick records the current total at the current time.
func (t *Throughput) Tick() {
	at, total := t.now(), t.events.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.n > 0 && t.mu.ring[t.mu.head].at.Unix() == at.Unix() {
		t.mu.ring[t.mu.head] = tick{at, total}
		return
	}
	t.mu.head = (t.mu.head + 1) % throughputSlots
	t.mu.ring[t.mu.head] = tick{at, total}
	t.mu.n = min(t.mu.n+1, throughputSlots)
}

// Rate returns events per second between the newest tick and the newest
// tick at least `over` older than it (or the oldest kept, if none is old
// enough), or 0 before two ticks. over is typically 1, 10 or 60 seconds.
func (t *Throughput) Rate(over time.Duration) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.n < 2 {
		return 0
	}
	newest := t.mu.ring[t.mu.head]
	var old tick
	for i := 1; i < t.mu.n; i++ {
		old = t.mu.ring[(t.mu.head-i+throughputSlots)%throughputSlots]
		if newest.at.Sub(old.at) >= over {
			break
		}
	}
	d := newest.at.Sub(old.at).Seconds()
	if d <= 0 || newest.total < old.total {
		return 0
	}
	return float64(newest.total-old.total) / d
}

// Rates returns Rate over 1 s, 10 s and 60 s.
func (t *Throughput) Rates() (r1, r10, r60 float64) {
	return t.Rate(time.Second), t.Rate(10 * time.Second), t.Rate(time.Minute)
}
