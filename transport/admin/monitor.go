package admin

import (
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// stageFamilies maps detector stage names (stats.DefaultBudgets) to the
// histogram families the pipeline records them in.
var stageFamilies = map[string]string{
	"validate":  pipeline.MetricProtocolValidationSeconds,
	"authorize": pipeline.MetricAuthorizationSeconds,
	"dispatch":  pipeline.MetricCapabilityDispatchSeconds,
	"commit":    pipeline.MetricMemoryCommitSeconds,
	"overhead":  pipeline.MetricExecutionOverheadSeconds,
	"total":     pipeline.MetricExecutionDurationSeconds,
}

// tickSample is what the monitor keeps per tick.
type tickSample struct {
	at    time.Time
	snaps map[string]*stats.Snapshot // histogram key -> cumulative snapshot
}

// Tick runs one monitor step now (tests use it with an injected clock).
func (s *Server) Tick() { s.tick() }

func (s *Server) monitor() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	s.tick()
	for {
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

func (s *Server) tick() {
	cur := tickSample{at: s.cfg.Now(), snaps: map[string]*stats.Snapshot{}}
	var executions uint64
	s.cfg.Metrics.Each(func(name string, labels []stats.Label, m any) {
		switch v := m.(type) {
		case *stats.Histogram:
			cur.snaps[histKey(name, labels)] = v.Snapshot()
		case *stats.Counter:
			if name == pipeline.MetricExecutionsTotal {
				executions += v.Load()
			}
		}
	})
	s.mu.Lock()
	// The executions are counted by the pipeline's counters; the
	// throughput gets what they added since the last tick.
	if executions > s.mu.executions {
		s.throughput.Add(executions - s.mu.executions)
	}
	s.mu.executions = executions
	s.throughput.Tick()
	var prev *tickSample
	if n := len(s.mu.history); n > 0 {
		prev = &s.mu.history[n-1]
	}
	s.mu.history = append(s.mu.history, cur)
	if len(s.mu.history) > 61 {
		s.mu.history = s.mu.history[1:]
	}
	s.mu.Unlock()
	if prev == nil {
		return
	}
	// Feed the detector each stage's interval (merged across labels).
	for stage, fam := range stageFamilies {
		var iv *stats.Snapshot
		for k, snap := range cur.snaps {
			if k != fam && !strings.HasPrefix(k, fam+"|") {
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
		}
	}
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
