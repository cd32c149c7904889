package admin

import (
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// historyTicks is how many monitor ticks the Server keeps: a minute of
// intervals at the default one-second tick, for the windows of /v1/stats
// and its series.
const historyTicks = 61

// tickSample is what the monitor keeps per tick.
type tickSample struct {
	at         time.Time
	snaps      map[string]*stats.Snapshot // histogram key -> cumulative snapshot
	executions uint64                     // pipeline.MetricExecutionsTotal, all outcomes
	inFlight   float64                    // pipeline.MetricExecutionsInFlight
	// stages is each stage's interval since the previous tick, merged
	// across its family's labels (nil on the first tick). A stage with no
	// family registered is absent.
	stages map[string]stats.Summary
}

// Tick runs one monitor step now (tests use it with an injected clock).
func (s *Server) Tick() { s.tick() }

func (s *Server) monitor() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for { // Start took the first tick
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick()
		}
	}
}

func histKey(name string, labels []stats.Label) string {
	var b strings.Builder
	b.WriteString(name)
	for _, l := range labels {
		b.WriteString("|" + l.Name + "=" + l.Value)
	}
	return b.String()
}

// inFamily reports whether the histogram key belongs to family fam.
func inFamily(key, fam string) bool { return key == fam || strings.HasPrefix(key, fam+"|") }

// tick snapshots every histogram and the executions counters, feeds the
// detector and the throughput, and appends to the history. Ticks are
// serialized (tickMu): the monitor's and a caller's Tick never interleave,
// so each interval is computed against the tick before it exactly once.
func (s *Server) tick() {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	cur := tickSample{at: s.cfg.Now(), snaps: map[string]*stats.Snapshot{}}
	s.cfg.Metrics.Each(func(name string, labels []stats.Label, m any) {
		switch v := m.(type) {
		case *stats.Histogram:
			cur.snaps[histKey(name, labels)] = v.Snapshot()
		case *stats.Counter:
			if name == pipeline.MetricExecutionsTotal {
				cur.executions += v.Load()
			}
		case *stats.Gauge:
			if name == pipeline.MetricExecutionsInFlight {
				cur.inFlight = float64(v.Load())
			}
		}
	})
	s.mu.Lock()
	prev := s.last()
	// The executions are counted by the pipeline's counters; the
	// throughput gets what they added since the last tick.
	var before uint64
	if prev != nil {
		before = prev.executions
	}
	if cur.executions > before {
		s.throughput.Add(cur.executions - before)
	}
	s.throughput.Tick()
	s.mu.Unlock()
	// prev stays valid: only tick, serialized, modifies the history, and
	// it replaces the slice rather than writing into its elements.
	if prev != nil {
		// Each stage's interval, merged across its family's labels, feeds
		// the detector (which ignores stages without a budget) and the
		// series of /v1/stats.
		cur.stages = map[string]stats.Summary{}
		for _, stage := range pipeline.Stages() {
			fam := pipeline.StageFamily(stage)
			var iv *stats.Snapshot
			for k, snap := range cur.snaps {
				if !inFamily(k, fam) {
					continue
				}
				d := snap
				if p := prev.snaps[k]; p != nil {
					d = snap.Sub(p)
				}
				if iv == nil {
					iv = d
				} else {
					iv = iv.Merge(d)
				}
			}
			if iv != nil {
				s.detector.Observe(stage, iv)
				cur.stages[stage] = iv.Summary()
			}
		}
	}
	s.mu.Lock()
	s.mu.history = append(s.mu.history, cur)
	if len(s.mu.history) > historyTicks {
		s.mu.history = s.mu.history[1:]
	}
	s.mu.Unlock()
}

// last returns the newest tick (nil before the first); s.mu must be held.
func (s *Server) last() *tickSample {
	if n := len(s.mu.history); n > 0 {
		return &s.mu.history[n-1]
	}
	return nil
}

// windowed returns the snapshot of key over the last d (nil when not enough history).
func (s *Server) windowed(hist []tickSample, key string, d time.Duration) *stats.Snapshot {
	n := len(hist)
	if n < 2 {
		return nil
	}
	cur := hist[n-1]
	for i := n - 2; i >= 0; i-- {
		if cur.at.Sub(hist[i].at) >= d || i == 0 {
			if p := hist[i].snaps[key]; p != nil && cur.snaps[key] != nil {
				return cur.snaps[key].Sub(p)
			}
			return cur.snaps[key]
		}
	}
	return nil
}
