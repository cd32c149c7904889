package admin

import (
	"sort"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// StageStats is one histogram's figures in /v1/stats.
type StageStats struct {
	Name string `json:"name"`
	// Stage is the pipeline stage the family measures (pipeline.Stages),
	// absent for a histogram that is no stage's (the journal's fsync, the
	// per-transport end-to-end).
	Stage   string        `json:"stage,omitempty"`
	Labels  string        `json:"labels,omitempty"`
	All     stats.Summary `json:"since_start"`
	Last1s  stats.Summary `json:"last_1s"`
	Last10s stats.Summary `json:"last_10s"`
}

// Report is the /v1/stats body. The admin page (/ui) reads Series,
// Throughput, InFlight, Decisions, Errors, Degradation, Degraded and
// Journal; members are only ever added, so older readers keep working.
type Report struct {
	Time       time.Time          `json:"time"`
	UptimeS    float64            `json:"uptime_seconds"`
	Throughput map[string]float64 `json:"throughput_per_second"`
	Stages     []StageStats       `json:"stages"`
	Counters   map[string]uint64  `json:"counters"`
	Gauges     map[string]float64 `json:"gauges"`
	Degraded   []Degradation      `json:"degraded"`

	// Build is the running binary's version, Go version and revision.
	Build Build `json:"build"`
	// InFlight is the number of admitted, unanswered executions.
	InFlight float64 `json:"in_flight"`
	// Decisions counts authorization decisions by code: every code of
	// protocol.Decisions, zeros included.
	Decisions map[string]uint64 `json:"decisions"`
	// Outcomes counts finished executions by outcome (the LabelOutcome
	// values of pipeline.MetricExecutionsTotal), zeros included.
	Outcomes map[string]uint64 `json:"outcomes"`
	// Errors counts errors reported in answers by category: every
	// protocol.Categories value, zeros included.
	Errors map[string]uint64 `json:"errors"`
	// Degradation is the worst active severity: "ok" with no stage over
	// budget, else stats.SeverityWarning or stats.SeverityCritical.
	Degradation string `json:"degradation"`
	// Journal is the journal's head, null when the runtime runs without
	// one (Config.JournalHead nil).
	Journal *JournalHead `json:"journal"`
	// Series are per-tick figures over the last minute, oldest first.
	Series Series `json:"series"`
}

// Series are the monitor's per-tick figures, one element per interval
// between two ticks (at most historyTicks-1), oldest first: element i
// covers the interval that ended at TimeUnixMs[i].
type Series struct {
	TimeUnixMs []int64 `json:"time_unix_ms"`
	// Throughput is executions finished per second in each interval.
	Throughput []float64 `json:"throughput_per_second"`
	// InFlight is the in-flight gauge at the end of each interval.
	InFlight []float64 `json:"in_flight"`
	// Stages holds each stage's interval percentiles, by stage name
	// (pipeline.Stages); a stage whose family is not registered is absent.
	Stages map[string]StageSeries `json:"stages"`
}

// StageSeries is one stage's per-interval count and percentiles, in ns.
// An interval without samples has count 0 and percentiles 0.
type StageSeries struct {
	Count []uint64 `json:"count"`
	P50   []int64  `json:"p50_ns"`
	P90   []int64  `json:"p90_ns"`
	P99   []int64  `json:"p99_ns"`
	P999  []int64  `json:"p99_9_ns"`
}

// JournalHead is the journal's head as /v1/stats reports it: the values
// `femtoclaw journal verify --expect-head` checks, and the segment file
// being written.
type JournalHead struct {
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
	Segment string `json:"segment"`
}

// Build describes the running binary; it labels pipeline.MetricBuildInfo.
type Build struct {
	Version   string `json:"version"`
	GoVersion string `json:"goversion"`
	Revision  string `json:"revision"`
}

func (s *Server) report() Report {
	s.mu.Lock()
	hist := append([]tickSample(nil), s.mu.history...)
	s.mu.Unlock()
	r1, r10, r60 := s.throughput.Rates()
	active := s.detector.Active()
	r := Report{Time: s.cfg.Now(), UptimeS: s.cfg.Now().Sub(s.start).Seconds(),
		Throughput: map[string]float64{"1s": r1, "10s": r10, "60s": r60},
		Counters:   map[string]uint64{}, Gauges: map[string]float64{}, Degraded: degradations(active),
		Build: s.build, Decisions: map[string]uint64{}, Outcomes: map[string]uint64{}, Errors: map[string]uint64{},
		Degradation: worstSeverity(active), Series: series(hist)}
	for _, d := range protocol.Decisions() {
		r.Decisions[string(d)] = 0
	}
	for _, c := range protocol.Categories() {
		r.Errors[string(c)] = 0
	}
	if s.cfg.JournalHead != nil {
		h := s.cfg.JournalHead()
		r.Journal = &h
	}
	stageOf := map[string]string{}
	for _, st := range pipeline.Stages() {
		stageOf[pipeline.StageFamily(st)] = st
	}
	s.cfg.Metrics.Each(func(name string, labels []stats.Label, m any) {
		key := histKey(name, labels)
		lbl := strings.TrimPrefix(strings.TrimPrefix(key, name), "|")
		switch v := m.(type) {
		case *stats.Histogram:
			st := StageStats{Name: name, Stage: stageOf[name], Labels: lbl, All: v.Snapshot().Summary()}
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
			n := v.Load()
			if n > 0 {
				r.Counters[name+braces(lbl)] = n
			}
			switch name {
			case pipeline.MetricAuthorizationDecisionsTotal:
				r.Decisions[labelValue(labels, pipeline.LabelDecision)] += n
			case pipeline.MetricExecutionsTotal:
				r.Outcomes[labelValue(labels, pipeline.LabelOutcome)] += n
			case pipeline.MetricErrorsTotal:
				r.Errors[labelValue(labels, pipeline.LabelCategory)] += n
			}
		case *stats.Gauge:
			r.Gauges[name+braces(lbl)] = float64(v.Load())
			if name == pipeline.MetricExecutionsInFlight {
				r.InFlight = float64(v.Load())
			}
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

// series turns the history into the per-interval figures of Report.Series.
func series(hist []tickSample) Series {
	out := Series{TimeUnixMs: []int64{}, Throughput: []float64{}, InFlight: []float64{}, Stages: map[string]StageSeries{}}
	for _, h := range hist { // every stage seen in the window gets a series
		for st := range h.stages {
			out.Stages[st] = StageSeries{}
		}
	}
	for i := 1; i < len(hist); i++ {
		prev, cur := &hist[i-1], &hist[i]
		if cur.stages == nil {
			continue
		}
		out.TimeUnixMs = append(out.TimeUnixMs, cur.at.UnixMilli())
		rate := 0.0
		if dt := cur.at.Sub(prev.at).Seconds(); dt > 0 && cur.executions > prev.executions {
			rate = float64(cur.executions-prev.executions) / dt
		}
		out.Throughput = append(out.Throughput, rate)
		out.InFlight = append(out.InFlight, cur.inFlight)
		for st, ss := range out.Stages {
			sum := cur.stages[st] // zero when the stage had no family at this tick
			ss.Count = append(ss.Count, sum.Count)
			ss.P50 = append(ss.P50, sum.P50)
			ss.P90 = append(ss.P90, sum.P90)
			ss.P99 = append(ss.P99, sum.P99)
			ss.P999 = append(ss.P999, sum.P999)
			out.Stages[st] = ss
		}
	}
	return out
}

func labelValue(labels []stats.Label, name string) string {
	for _, l := range labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// worstSeverity is "ok" without active degradations, else the worst one's.
func worstSeverity(evs []stats.Event) string {
	worst := "ok"
	for _, e := range evs {
		switch {
		case e.Severity == stats.SeverityCritical:
			return stats.SeverityCritical
		case e.Severity == stats.SeverityWarning:
			worst = stats.SeverityWarning
		}
	}
	return worst
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
