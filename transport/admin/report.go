package admin

import (
	"sort"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// StageStats is one histogram's figures in /v1/stats.
type StageStats struct {
	Name    string        `json:"name"`
	Labels  string        `json:"labels,omitempty"`
	All     stats.Summary `json:"since_start"`
	Last1s  stats.Summary `json:"last_1s"`
	Last10s stats.Summary `json:"last_10s"`
}

// Report is the /v1/stats body.
type Report struct {
	Time       time.Time          `json:"time"`
	UptimeS    float64            `json:"uptime_seconds"`
	Throughput map[string]float64 `json:"throughput_per_second"`
	Stages     []StageStats       `json:"stages"`
	Counters   map[string]uint64  `json:"counters"`
	Gauges     map[string]float64 `json:"gauges"`
	Degraded   []Degradation      `json:"degraded"`
}

func (s *Server) report() Report {
	s.mu.Lock()
	hist := append([]tickSample(nil), s.mu.history...)
	s.mu.Unlock()
	r1, r10, r60 := s.throughput.Rates()
	r := Report{Time: s.cfg.Now(), UptimeS: s.cfg.Now().Sub(s.start).Seconds(),
		Throughput: map[string]float64{"1s": r1, "10s": r10, "60s": r60},
		Counters:   map[string]uint64{}, Gauges: map[string]float64{}, Degraded: degradations(s.detector.Active())}
	s.cfg.Metrics.Each(func(name string, labels []stats.Label, m any) {
		key := histKey(name, labels)
		lbl := strings.TrimPrefix(strings.TrimPrefix(key, name), "|")
		switch v := m.(type) {
		case *stats.Histogram:
			st := StageStats{Name: name, Labels: lbl, All: v.Snapshot().Summary()}
			if w := s.windowed(hist, key, time.Second); w != nil {
				st.Last1s = w.Summary()
			}
			if w := s.windowed(hist, key, 10*time.Second); w != nil {
				st.Last10s = w.Summary()
			}
			if st.All.Count > 0 {
				r.Stages = append(r.Stages, st)
			}
		case *stats.Counter:
			if n := v.Load(); n > 0 {
				r.Counters[name+braces(lbl)] = n
			}
		case *stats.Gauge:
			r.Gauges[name+braces(lbl)] = float64(v.Load())
		case func() float64:
			r.Gauges[name+braces(lbl)] = v()
		}
	})
	sort.Slice(r.Stages, func(i, j int) bool {
		if r.Stages[i].Name != r.Stages[j].Name {
			return r.Stages[i].Name < r.Stages[j].Name
		}
		return r.Stages[i].Labels < r.Stages[j].Labels
	})
	return r
}

// Degradation is an active performance degradation as reported in JSON.
type Degradation struct {
	Stage    string    `json:"stage"`
	Severity string    `json:"severity"`
	P99      string    `json:"p99"`
	Budget   string    `json:"budget"`
	Baseline string    `json:"baseline"`
	Since    time.Time `json:"since"`
}

func degradations(evs []stats.Event) []Degradation {
	out := make([]Degradation, 0, len(evs))
	for _, e := range evs {
		out = append(out, Degradation{Stage: e.Stage, Severity: e.Severity, P99: e.P99.String(), Budget: e.Budget.String(), Baseline: e.Baseline.String(), Since: e.Time})
	}
	return out
}

func braces(lbl string) string {
	if lbl == "" {
		return ""
	}
	return "{" + strings.ReplaceAll(lbl, "|", ",") + "}"
}
