package stats

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Event types and severities emitted by a Detector.
const (
	EventDegraded  = "performance_degraded"
	EventRecovered = "performance_recovered"

	SeverityWarning  = "WARNING"
	SeverityCritical = "CRITICAL"
)

// Budget is the p99 latency a stage should stay under (TargetP99) and must
// stay under (CriticalP99).
type Budget struct {
	Stage       string
	TargetP99   time.Duration
	CriticalP99 time.Duration
}

// DefaultBudgets returns the FC-PERF-0001 budgets: target p99 at the
// specification's target, critical at its hard upper bound. Stage names are
// the ones the pipeline reports timings under.
//
//	stage      target   critical  FC-PERF section
//	validate   200 µs   2 ms      §7 protocol validation
//	authorize  200 µs   2 ms      §6 authorization
//	dispatch   500 µs   5 ms      §5 capability invocation overhead
//	commit     1 ms     10 ms     §8 memory commit
//	telemetry  500 µs   5 ms      §9 telemetry
//	overhead   1 ms     10 ms     §4 runtime overhead per cycle
func DefaultBudgets() []Budget {
	return []Budget{
		{"validate", 200 * time.Microsecond, 2 * time.Millisecond},
		{"authorize", 200 * time.Microsecond, 2 * time.Millisecond},
		{"dispatch", 500 * time.Microsecond, 5 * time.Millisecond},
		{"commit", time.Millisecond, 10 * time.Millisecond},
		{"telemetry", 500 * time.Microsecond, 5 * time.Millisecond},
		{"overhead", time.Millisecond, 10 * time.Millisecond},
	}
}

// DetectorConfig configures a Detector. The zero value is usable.
type DetectorConfig struct {
	// Budgets lists the stages watched. Observations of other stages are
	// ignored. A zero CriticalP99 means no CRITICAL level; a zero TargetP99
	// means the stage is degraded only when over CriticalP99. If nil,
	// defaults to DefaultBudgets().
	Budgets []Budget
	// Window is how far back the rolling p99 looks: the interval snapshots
	// observed within the last Window are merged. If zero, defaults to 10 s.
	Window time.Duration
	// MinSamples is the fewest samples the window must hold before the
	// stage's state may change (a p99 of a handful of samples is noise). A
	// window with no samples at all recovers a degraded stage. If zero,
	// defaults to 100.
	MinSamples uint64
	// BaselineFactor, if greater than 1, also marks a stage degraded
	// (WARNING) while its rolling p99 exceeds BaselineFactor × its baseline,
	// even within budget: a stage that got 10× slower than it was a minute
	// ago is news even if it is far from its FC-PERF target. The baseline
	// stops moving while the stage is degraded. If zero (or ≤ 1), the
	// baseline only annotates events.
	BaselineFactor float64
	// Now reads the clock. If nil, defaults to time.Now.
	Now func() time.Time
	// OnEvent receives each transition, from the goroutine calling Observe,
	// after the Detector's lock is released (it may call Active). It must
	// not block for long. If nil, events are only visible through Active
	// and Degraded.
	OnEvent func(Event)
}

func (c DetectorConfig) withDefaults() DetectorConfig {
	if c.Budgets == nil {
		c.Budgets = DefaultBudgets()
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.MinSamples == 0 {
		c.MinSamples = 100
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Event announces that a stage became degraded, changed severity, or
// recovered. P99 is the rolling p99 that caused it, Budget the limit it
// crossed (TargetP99 for WARNING and for recovery, CriticalP99 for
// CRITICAL, BaselineFactor × Baseline for a WARNING raised by the
// baseline alone), Baseline the stage's recent healthy p99 for comparison (0 if
// none yet).
type Event struct {
	Type     string // EventDegraded or EventRecovered
	Stage    string
	Severity string // SeverityWarning or SeverityCritical; for a recovery, the severity that ended
	P99      time.Duration
	Budget   time.Duration
	Baseline time.Duration
	Time     time.Time
}

// baselineWeight is the weight of each healthy window p99 in a stage's
// baseline, an exponentially weighted moving average: the baseline follows
// roughly the last 1/baselineWeight = 20 healthy observations.
const baselineWeight = 0.05

// Detector watches per-stage latency and announces degradation.
//
// An owner goroutine calls Observe periodically (say once a second) with
// each stage's interval snapshot (Snapshot.Sub of two successive
// snapshots). The Detector merges the intervals of the last Window into a
// rolling snapshot and compares its p99 with the stage's Budget:
//
//	p99 > CriticalP99                    degraded, CRITICAL
//	p99 > TargetP99                      degraded, WARNING
//	p99 > BaselineFactor × baseline      degraded, WARNING (only if BaselineFactor > 1)
//	otherwise                            healthy
//
// A change of state (healthy → degraded, a change of severity, degraded →
// healthy) emits one Event; repeated observations in the same state emit
// nothing. While a stage is healthy, its window p99 feeds its baseline,
// which events report so that a reader sees how far latency moved.
//
// All methods are safe for concurrent use; Observe is meant for one owner
// goroutine, Active and Degraded for readers such as /readyz and /metrics.
type Detector struct {
	cfg     DetectorConfig
	budgets map[string]Budget

	mu struct {
		sync.Mutex
		stages map[string]*stageState
	}
}

type stageState struct {
	window   []observation // oldest first
	baseline float64       // ns; 0 until the first healthy window
	active   *Event        // current degradation, nil when healthy
}

type observation struct {
	at time.Time
	s  *Snapshot
}

// NewDetector returns a Detector with cfg's zero fields defaulted as
// documented on DetectorConfig. cfg is not retained or modified.
func NewDetector(cfg DetectorConfig) *Detector {
	cfg = cfg.withDefaults()
	d := &Detector{cfg: cfg, budgets: make(map[string]Budget, len(cfg.Budgets))}
	for _, b := range cfg.Budgets {
		d.budgets[b.Stage] = b
	}
	d.cfg.Budgets = slices.Clone(cfg.Budgets)
	d.mu.stages = make(map[string]*stageState)
	return d
}

// Observe adds the interval snapshot s (samples recorded since the previous
// Observe of this stage) and re-evaluates the stage. s is retained for
// Window and must not be modified (Snapshots are immutable). Stages without
// a budget are ignored.
func (d *Detector) Observe(stage string, s *Snapshot) {
	b, ok := d.budgets[stage]
	if !ok {
		return
	}
	now := d.cfg.Now()
	ev, emit := d.observe(stage, b, s, now)
	if emit && d.cfg.OnEvent != nil {
		d.cfg.OnEvent(ev)
	}
}

func (d *Detector) observe(stage string, b Budget, s *Snapshot, now time.Time) (Event, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.mu.stages[stage]
	if st == nil {
		st = &stageState{}
		d.mu.stages[stage] = st
	}
	st.window = append(st.window, observation{now, s})
	cut := 0
	for cut < len(st.window) && now.Sub(st.window[cut].at) >= d.cfg.Window {
		cut++
	}
	st.window = slices.Delete(st.window, 0, cut)

	var rolling *Snapshot
	for _, o := range st.window {
		rolling = rolling.Merge(o.s)
	}
	n := rolling.Count()
	if n == 0 {
		if st.active == nil {
			return Event{}, false
		}
		ev := *st.active
		ev.Type, ev.P99, ev.Budget, ev.Time = EventRecovered, 0, b.TargetP99, now
		st.active = nil
		return ev, true
	}
	if n < d.cfg.MinSamples {
		return Event{}, false
	}
	p99 := time.Duration(rolling.Percentile(99))

	severity, limit := "", time.Duration(0)
	baseline := time.Duration(st.baseline)
	relative := time.Duration(0)
	if d.cfg.BaselineFactor > 1 && st.baseline > 0 {
		relative = time.Duration(d.cfg.BaselineFactor * st.baseline)
	}
	switch {
	case b.CriticalP99 > 0 && p99 > b.CriticalP99:
		severity, limit = SeverityCritical, b.CriticalP99
	case b.TargetP99 > 0 && p99 > b.TargetP99:
		severity, limit = SeverityWarning, b.TargetP99
	case relative > 0 && p99 > relative:
		severity, limit = SeverityWarning, relative
	}

	if severity == "" {
		if st.baseline == 0 {
			st.baseline = float64(p99)
		} else {
			st.baseline += baselineWeight * (float64(p99) - st.baseline)
		}
		if st.active == nil {
			return Event{}, false
		}
		ev := *st.active
		ev.Type, ev.P99, ev.Budget, ev.Baseline, ev.Time = EventRecovered, p99, b.TargetP99, baseline, now
		st.active = nil
		return ev, true
	}
	if st.active != nil && st.active.Severity == severity {
		st.active.P99 = p99 // keep Active's figures current; no new event
		return Event{}, false
	}
	ev := Event{Type: EventDegraded, Stage: stage, Severity: severity, P99: p99, Budget: limit, Baseline: baseline, Time: now}
	st.active = &ev
	return ev, true
}

// Active returns the current degradations, one per degraded stage, sorted
// by stage. Each is the event that started the current severity, with P99
// updated to the latest observation.
func (d *Detector) Active() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Event
	for _, st := range d.mu.stages {
		if st.active != nil {
			out = append(out, *st.active)
		}
	}
	slices.SortFunc(out, func(a, b Event) int { return strings.Compare(a.Stage, b.Stage) })
	return out
}

// Degraded returns the number of currently degraded stages (the value of a
// degraded-stages gauge, as the admin listener exposes).
func (d *Detector) Degraded() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, st := range d.mu.stages {
		if st.active != nil {
			n++
		}
	}
	return n
}
