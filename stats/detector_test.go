package stats

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is an injected clock advanced by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)}
}

// stageSim records into a real histogram and hands the detector interval
// snapshots, as the pipeline's owner goroutine would.
type stageSim struct {
	h    *Histogram
	prev *Snapshot
}

func (s *stageSim) interval(n int, latency time.Duration) *Snapshot {
	for range n {
		s.h.RecordDuration(latency)
	}
	cur := s.h.Snapshot()
	iv := cur.Sub(s.prev)
	s.prev = cur
	return iv
}

func TestDetectorTransitions(t *testing.T) {
	clk := newFakeClock()
	var events []Event
	var d *Detector
	d = NewDetector(DetectorConfig{
		Budgets:    []Budget{{Stage: "commit", TargetP99: time.Millisecond, CriticalP99: 10 * time.Millisecond}},
		Window:     3 * time.Second,
		MinSamples: 50,
		Now:        clk.Now,
		OnEvent: func(e Event) {
			events = append(events, e)
			_ = d.Degraded() + len(d.Active()) // OnEvent runs outside the lock: no deadlock
		},
	})
	sim := &stageSim{h: NewHistogram(HistogramConfig{})}
	step := func(n int, lat time.Duration) {
		clk.Advance(time.Second)
		d.Observe("commit", sim.interval(n, lat))
	}
	expect := func(what string, typ, sev string, degraded int) {
		t.Helper()
		if len(events) != 1 {
			t.Fatalf("%s: %d events %+v, want 1", what, len(events), events)
		}
		e := events[0]
		if e.Type != typ || e.Severity != sev || e.Stage != "commit" || !e.Time.Equal(clk.Now()) {
			t.Fatalf("%s: event %+v", what, e)
		}
		if d.Degraded() != degraded || len(d.Active()) != degraded {
			t.Fatalf("%s: Degraded %d Active %v", what, d.Degraded(), d.Active())
		}
		events = nil
	}
	expectNone := func(what string) {
		t.Helper()
		if len(events) != 0 {
			t.Fatalf("%s: unexpected events %+v", what, events)
		}
	}

	// Healthy traffic establishes a baseline; no events.
	for range 5 {
		step(200, 200*time.Microsecond)
	}
	expectNone("healthy")
	// Too few samples never change state, however slow.
	d2 := NewDetector(DetectorConfig{Budgets: []Budget{{"commit", time.Millisecond, 0}}, Now: clk.Now})
	d2.Observe("commit", (&stageSim{h: NewHistogram(HistogramConfig{})}).interval(10, time.Second))
	if d2.Degraded() != 0 {
		t.Fatal("degraded on 10 samples with MinSamples defaulting to 100")
	}

	// The journal slows to 3 ms: over target → WARNING, once.
	step(200, 3*time.Millisecond)
	expect("slow", EventDegraded, SeverityWarning, 1)
	e := d.Active()[0]
	if e.P99 < 2900*time.Microsecond || e.Budget != time.Millisecond || e.Baseline < 190*time.Microsecond || e.Baseline > 210*time.Microsecond {
		t.Fatalf("WARNING numbers: %+v", e)
	}
	step(200, 3*time.Millisecond)
	expectNone("still slow")

	// Over critical → CRITICAL.
	step(200, 20*time.Millisecond)
	expect("critical", EventDegraded, SeverityCritical, 1)
	if e := d.Active()[0]; e.Budget != 10*time.Millisecond || e.P99 < 19*time.Millisecond {
		t.Fatalf("CRITICAL numbers: %+v", e)
	}

	// Back under: the slow intervals must age out of the 3 s window first.
	step(200, 100*time.Microsecond)
	step(200, 100*time.Microsecond)
	expectNone("window still holds slow samples")
	step(200, 100*time.Microsecond)
	expect("recovered", EventRecovered, SeverityCritical, 0)

	// Degrade again, then the stage goes idle: an empty window recovers it.
	step(500, 5*time.Millisecond)
	expect("slow again", EventDegraded, SeverityWarning, 1)
	for range 3 {
		step(0, 0)
	}
	expect("idle", EventRecovered, SeverityWarning, 0)

	// Unknown stages are ignored.
	d.Observe("nope", sim.interval(1000, time.Hour))
	expectNone("unknown stage")
}

func TestDetectorDefaults(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	if d.cfg.Window != 10*time.Second || d.cfg.MinSamples != 100 || d.cfg.Now == nil || len(d.cfg.Budgets) != len(DefaultBudgets()) {
		t.Fatalf("defaults: %+v", d.cfg)
	}
	for _, b := range DefaultBudgets() {
		if b.TargetP99 <= 0 || b.CriticalP99 != 10*b.TargetP99 {
			t.Errorf("budget %+v: critical should be the FC-PERF hard bound, 10× target", b)
		}
	}
}

func TestThroughputRates(t *testing.T) {
	clk := newFakeClock()
	tp := NewThroughput(clk.Now)
	if r1, r10, r60 := tp.Rates(); r1 != 0 || r10 != 0 || r60 != 0 {
		t.Fatal("rates before any tick")
	}
	tp.Tick()
	// 70 seconds: 100/s for the first 60, then 1000/s for the last 10.
	for i := range 70 {
		clk.Advance(time.Second)
		if i < 60 {
			tp.Add(100)
		} else {
			for range 1000 {
				tp.Inc()
			}
		}
		tp.Tick()
		tp.Tick() // a second tick in the same second replaces the first
	}
	r1, r10, r60 := tp.Rates()
	if r1 != 1000 || r10 != 1000 {
		t.Errorf("r1 %v r10 %v, want 1000", r1, r10)
	}
	if want := (50*100 + 10*1000) / 60.0; r60 != want {
		t.Errorf("r60 %v, want %v", r60, want)
	}
	if tp.Total() != 60*100+10*1000 {
		t.Errorf("Total %d", tp.Total())
	}
	// Asking for more history than kept uses the oldest tick.
	if r := tp.Rate(time.Hour); r != r60 {
		t.Errorf("Rate(1h) = %v, want the 60 s rate %v", r, r60)
	}
}

func TestDetectorBaselineFactor(t *testing.T) {
	clk := newFakeClock()
	var events []Event
	d := NewDetector(DetectorConfig{
		Budgets:        []Budget{{Stage: "validate", TargetP99: 200 * time.Microsecond, CriticalP99: 2 * time.Millisecond}},
		Window:         time.Second,
		BaselineFactor: 4,
		Now:            clk.Now,
		OnEvent:        func(e Event) { events = append(events, e) },
	})
	sim := &stageSim{h: NewHistogram(HistogramConfig{})}
	step := func(lat time.Duration) {
		clk.Advance(time.Second)
		d.Observe("validate", sim.interval(1000, lat))
	}
	for range 10 {
		step(2 * time.Microsecond)
	}
	step(6 * time.Microsecond) // 3× baseline: fine (and nudges the baseline to ~2.2 µs)
	if len(events) != 0 {
		t.Fatalf("events at 3× baseline: %+v", events)
	}
	step(20 * time.Microsecond) // 10× baseline, far under the 200 µs budget
	if len(events) != 1 || events[0].Type != EventDegraded || events[0].Severity != SeverityWarning {
		t.Fatalf("events at 10× baseline: %+v", events)
	}
	if e := events[0]; e.Baseline > 2300*time.Nanosecond || e.Budget < 4*e.Baseline || e.Budget > 5*e.Baseline {
		t.Fatalf("baseline numbers: %+v", e)
	}
	step(20 * time.Microsecond) // baseline frozen: still degraded, no new event
	step(2 * time.Microsecond)
	if len(events) != 2 || events[1].Type != EventRecovered {
		t.Fatalf("recovery: %+v", events)
	}
}

// TestConcurrentReaders runs an owner goroutine feeding a Detector and a
// Throughput while readers poll them, for the race detector.
func TestConcurrentReaders(t *testing.T) {
	var mu sync.Mutex
	clk := newFakeClock()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clk.Now() }
	d := NewDetector(DetectorConfig{Budgets: []Budget{{"s", time.Microsecond, 0}}, MinSamples: 1, Now: now})
	tp := NewThroughput(now)
	h := NewHistogram(HistogramConfig{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.Record(5000)
				tp.Inc()
				_ = d.Active()
				_ = d.Degraded()
				_, _, _ = tp.Rates()
			}
		})
	}
	var prev *Snapshot
	for range 200 {
		mu.Lock()
		clk.Advance(100 * time.Millisecond)
		mu.Unlock()
		cur := h.Snapshot()
		d.Observe("s", cur.Sub(prev))
		prev = cur
		tp.Tick()
	}
	close(stop)
	wg.Wait()
	if d.Degraded() != 1 {
		t.Fatalf("Degraded = %d, want 1 (5 µs > 1 µs budget)", d.Degraded())
	}
}
