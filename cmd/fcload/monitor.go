package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// serverProbe says how to watch the runtime under load: its process (CPU
// and memory from /proc/PID), and its stages and counters (the in-process
// registry, or the admin listener's /v1/stats).
type serverProbe struct {
	pid              int
	version, address string
	self             bool   // the runtime runs in this process
	dataDir          string // the server's data directory (when watched)
	note             string // why the process cannot be read (pid 0)
	metrics          *stats.Registry
	adminAddr        string
	adminToken       string
	stagesNote       string // why there are no stages (no admin listener)
}

// monitor samples a serverProbe at the measured phases' boundaries (and
// once a second for the peak RSS) and sums what the runs cost the server.
// Its methods are called from the goroutine that runs perf.Run (the
// phase and tick hooks) and, between runs, from the driver: never
// concurrently.
type monitor struct {
	p      *serverProbe
	client *http.Client

	resErr         string // the first failure to read the process
	have           bool   // some process reading succeeded
	lost           string // why a run's figures are missing (the process was gone at its end)
	runStart       perf.ProcessSample
	runStartOK     bool
	runCPU         float64
	runRSS         int64
	cpu            float64
	rssStart       int64
	rssEnd, peak   int64
	countersAt     map[string]uint64
	counters       map[string]uint64
	stagesAt       map[string]*stats.Snapshot
	stages         map[string]*stats.Snapshot
	adminEnd       *admin.Report
	adminErr       string
	measuredPhases int
}

func newMonitor(p *serverProbe) *monitor {
	return &monitor{p: p, client: &http.Client{Timeout: 2 * time.Second}, counters: map[string]uint64{}, stages: map[string]*stats.Snapshot{}}
}

// read samples the server process.
func (m *monitor) read() (perf.ProcessSample, bool) {
	if m.p == nil || m.p.pid == 0 {
		return perf.ProcessSample{}, false
	}
	s, err := perf.ReadProcess(m.p.pid)
	if err != nil {
		if m.resErr == "" {
			m.resErr = err.Error()
		}
		return s, false
	}
	m.have = true
	m.peak = max(m.peak, s.RSSBytes)
	return s, true
}

// phase is perf.Config.OnPhase.
func (m *monitor) phase(measuring bool) {
	if m.p == nil {
		return
	}
	s, ok := m.read()
	counters, stages := m.runtimeFigures(!measuring)
	if measuring {
		m.runStart, m.runStartOK, m.runCPU, m.runRSS = s, ok, 0, 0
		if ok && m.measuredPhases == 0 {
			m.rssStart = s.RSSBytes
		}
		m.countersAt, m.stagesAt = counters, stages
		return
	}
	m.measuredPhases++
	if (!ok || !m.runStartOK) && m.have && m.lost == "" {
		m.lost = fmt.Sprintf("the server process could not be read at the start or end of run %d (%s): its figures would be partial", m.measuredPhases, m.resErr)
	}
	if ok && m.runStartOK {
		m.runCPU = max(s.CPUSeconds-m.runStart.CPUSeconds, 0)
		m.runRSS = s.RSSBytes
		m.cpu += m.runCPU
		m.rssEnd = s.RSSBytes
	}
	for k, v := range counters {
		if d := v - m.countersAt[k]; v > m.countersAt[k] {
			m.counters[k] += d
		}
	}
	for k, s := range stages {
		if d := s.Sub(m.stagesAt[k]); d.Count() > 0 {
			m.stages[k] = m.stages[k].Merge(d)
		}
	}
}

// sample is called once a second (perf.Config.Tick): the peak RSS.
func (m *monitor) sample() { m.read() }

// endRun puts the run's share of the server's resources on rep.
func (m *monitor) endRun(rep *perf.Repetition) {
	rep.ServerCPUSeconds, rep.ServerRSSBytes = m.runCPU, m.runRSS
	m.runCPU, m.runRSS = 0, 0
}

// runtimeFigures reads the runtime's counters and, in process, its
// histograms; from an admin listener, at the end of a phase (end), it
// keeps the whole /v1/stats for the stages.
func (m *monitor) runtimeFigures(end bool) (map[string]uint64, map[string]*stats.Snapshot) {
	if reg := m.p.metrics; reg != nil {
		counters, stages := map[string]uint64{}, map[string]*stats.Snapshot{}
		stageOf := map[string]string{}
		for _, st := range pipeline.Stages() {
			stageOf[pipeline.StageFamily(st)] = st
		}
		reg.Each(func(name string, labels []stats.Label, v any) {
			switch v := v.(type) {
			case *stats.Counter:
				counters[name+braces(labels)] = v.Load()
			case *stats.Histogram:
				key := name
				if st := stageOf[name]; st != "" {
					key = st
				}
				stages[key+braces(labels)] = v.Snapshot()
			}
		})
		return counters, stages
	}
	if m.p.adminAddr == "" {
		return nil, nil
	}
	r, err := m.fetchStats()
	if err != nil {
		if m.adminErr == "" {
			m.adminErr = err.Error()
		}
		return nil, nil
	}
	if end {
		m.adminEnd = r
	}
	return r.Counters, nil
}

func braces(labels []stats.Label) string {
	if len(labels) == 0 {
		return ""
	}
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = l.Name + "=" + l.Value
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// fetchStats reads the admin listener's /v1/stats (as `femtoclaw stats`
// does: the bearer token when one is configured).
func (m *monitor) fetchStats() (*admin.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+m.p.adminAddr+"/v1/stats", nil)
	if err != nil {
		return nil, err
	}
	if m.p.adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+m.p.adminToken)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", m.p.adminAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("admin listener %s asks for its token: give -admin-token-file (listen.admin_token_file)", m.p.adminAddr)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("admin listener %s: %s: %s", m.p.adminAddr, resp.Status, strings.TrimSpace(string(body)))
	}
	var r admin.Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("admin listener %s: decoding /v1/stats: %w", m.p.adminAddr, err)
	}
	return &r, nil
}

// report is the Server member of the report.
func (m *monitor) report(runs []perf.Repetition) *perf.Server {
	p := m.p
	if p == nil {
		return nil
	}
	s := &perf.Server{PID: p.pid, Version: p.version, Address: p.address}
	switch {
	case m.have && m.lost != "":
		s.ResourceScope, s.ResourceNote = "unknown", m.lost
		m.have = false
	case m.have && p.self:
		s.ResourceScope = "self"
	case m.have:
		s.ResourceScope = "server"
	default:
		s.ResourceScope = "unknown"
		s.ResourceNote = p.note
		if s.ResourceNote == "" {
			s.ResourceNote = m.resErr
		}
	}
	if m.have {
		var ok int64
		for _, r := range runs {
			ok += r.OK
		}
		s.CPUSeconds, s.RSSStartBytes, s.RSSEndBytes, s.RSSPeakBytes = m.cpu, m.rssStart, m.rssEnd, m.peak
		if ok > 0 {
			s.CPUPerRequest = m.cpu * 1e9 / float64(ok)
		}
	}
	if len(m.counters) > 0 {
		s.Counters = m.counters
	}
	switch {
	case len(m.stages) > 0:
		s.StagesScope, s.Stages = "phases", map[string]stats.Summary{}
		for k, snap := range m.stages {
			s.Stages[k] = snap.Summary()
		}
	case m.adminEnd != nil:
		s.StagesScope, s.Stages = "since_start", map[string]stats.Summary{}
		for _, st := range m.adminEnd.Stages {
			key := st.Stage
			if key == "" {
				key = st.Name
			}
			if st.Labels != "" {
				key += "{" + strings.ReplaceAll(st.Labels, "|", ",") + "}"
			}
			s.Stages[key] = st.All
		}
		if s.Version == "" {
			s.Version = m.adminEnd.Build.Version
		}
	default:
		s.StagesNote = p.stagesNote
		if m.adminErr != "" {
			s.StagesNote = m.adminErr
		}
	}
	return s
}

// readSecret reads a token file (trimmed).
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
