// Package admin is the runtime's admin listener: a plain HTTP/1.1 server
// on TCP, loopback by default and separate from the data plane, for the
// people and programs that operate the runtime.
//
//	GET /metrics         Prometheus text format 0.0.4 (histograms as real histograms)
//	GET /healthz         200 while the process serves HTTP at all (liveness)
//	GET /readyz          200 when every readiness check passes, else 503; the JSON
//	                     body lists the checks and any active performance degradations
//	                     (which are reported but do not fail readiness)
//	GET /v1/stats        JSON: per-stage latency percentiles (since start, and over
//	                     the last 1 s and 10 s), throughput over 1 s / 10 s / 60 s,
//	                     in-flight executions, resource use
//	GET /debug/pprof/    the standard Go profiles
//
// A Server owns one monitor goroutine that ticks once a second: it
// refreshes resource gauges (goroutines, RSS, CPU seconds, open files),
// snapshots every latency histogram to compute interval percentiles, feeds
// the degradation detector, and records throughput. Start begins serving;
// Shutdown stops the listener and the monitor and waits for both.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Check is one readiness check's result.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Config configures a Server. The caller's struct is never modified.
type Config struct {
	// Addr is the TCP address. If empty, defaults to 127.0.0.1:9464.
	Addr string
	// Metrics is the registry exposed on /metrics and summarised on
	// /v1/stats. Required.
	Metrics *stats.Registry
	// Checks returns the readiness checks. If nil, the runtime is ready
	// whenever it is alive.
	Checks func() []Check
	// Detector receives each stage's interval snapshot once a second. If
	// nil, a detector with the FC-PERF budgets (stats.DefaultBudgets) is
	// made; its events go to OnDegradation.
	Detector *stats.Detector
	// OnDegradation is called for each performance_degraded and
	// performance_recovered event. May be nil.
	OnDegradation func(stats.Event)
	// Logger receives the listener's own log records. If nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Tick is the monitor period. If zero, one second.
	Tick time.Duration
}

// stageFamilies maps detector stage names to the histogram families the
// pipeline records them in.
var stageFamilies = map[string]string{
	"validate":  "femtoclaw_protocol_validation_seconds",
	"authorize": "femtoclaw_authorization_seconds",
	"dispatch":  "femtoclaw_capability_dispatch_seconds",
	"commit":    "femtoclaw_memory_commit_seconds",
	"overhead":  "femtoclaw_execution_overhead_seconds",
	"total":     "femtoclaw_execution_duration_seconds",
}

// Server is the admin listener. Safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	srv      *http.Server
	ln       net.Listener
	detector *stats.Detector
	start    time.Time
	stop     chan struct{}
	done     chan struct{}
	serveErr chan error

	// life guards Start and Shutdown: Shutdown before Start returns nil
	// at once, and a second Shutdown returns nil.
	life struct {
		sync.Mutex
		started, stopped bool
	}

	mu struct {
		sync.Mutex
		history []tickSample // last 61 ticks, newest last
	}
}

// tickSample is what the monitor keeps per tick.
type tickSample struct {
	at         time.Time
	executions uint64
	snaps      map[string]*stats.Snapshot // histogram key -> cumulative snapshot
}

// New builds a Server; Start begins serving.
func New(cfg Config) (*Server, error) {
	if cfg.Metrics == nil {
		return nil, errors.New("admin: Config.Metrics is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9464"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, start: cfg.Now(), stop: make(chan struct{}), done: make(chan struct{}), serveErr: make(chan error, 1)}
	s.detector = cfg.Detector
	if s.detector == nil {
		s.detector = stats.NewDetector(stats.DetectorConfig{Now: cfg.Now, OnEvent: cfg.OnDegradation})
	}
	reg := cfg.Metrics
	stats.RegisterProcessMetrics(reg) // process_* and go_* (CPU, RSS, open files, goroutines)
	reg.GaugeFunc("femtoclaw_performance_degraded_stages", "Stages whose rolling p99 is over budget (see /readyz for detail).", func() float64 { return float64(s.detector.Degraded()) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "alive"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /v1/stats", s.statsJSON)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return s, nil
}

// Start listens and serves in the background, and starts the monitor.
// Start after Shutdown, or a second Start, is an error.
func (s *Server) Start() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.life.stopped {
		return errors.New("admin: Start after Shutdown")
	}
	if s.life.started {
		return errors.New("admin: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.life.started = true
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	go s.monitor()
	s.log.Info("admin listener", "addr", ln.Addr().String())
	return nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops serving and the monitor, waiting for both within ctx.
// Shutdown before Start, or after an earlier Shutdown, returns nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.life.Lock()
	if s.life.stopped {
		s.life.Unlock()
		return nil
	}
	s.life.stopped = true
	started := s.life.started
	s.life.Unlock()
	if !started {
		return nil
	}
	close(s.stop)
	err := s.srv.Shutdown(ctx)
	<-s.done
	if e := <-s.serveErr; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
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
	s.cfg.Metrics.Each(func(name string, labels []stats.Label, m any) {
		switch v := m.(type) {
		case *stats.Histogram:
			cur.snaps[histKey(name, labels)] = v.Snapshot()
		case *stats.Counter:
			if name == "femtoclaw_executions_total" {
				cur.executions += v.Load()
			}
		}
	})
	s.mu.Lock()
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

func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := s.cfg.Metrics.WritePrometheus(w); err != nil {
		s.log.Warn("writing /metrics", "err", err)
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var checks []Check
	if s.cfg.Checks != nil {
		checks = s.cfg.Checks()
	}
	ready := true
	for _, c := range checks {
		ready = ready && c.OK
	}
	body := map[string]any{"ready": ready, "checks": checks, "degraded": degradations(s.detector.Active())}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// window returns the snapshot of key over the last d (nil when not enough history).
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

func rate(hist []tickSample, d time.Duration) float64 {
	n := len(hist)
	if n < 2 {
		return 0
	}
	cur := hist[n-1]
	for i := n - 2; i >= 0; i-- {
		if el := cur.at.Sub(hist[i].at); el >= d || i == 0 {
			if el <= 0 {
				return 0
			}
			return float64(cur.executions-hist[i].executions) / el.Seconds()
		}
	}
	return 0
}

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
	r := Report{Time: s.cfg.Now(), UptimeS: s.cfg.Now().Sub(s.start).Seconds(),
		Throughput: map[string]float64{"1s": rate(hist, time.Second), "10s": rate(hist, 10*time.Second), "60s": rate(hist, 60*time.Second)},
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

func (s *Server) statsJSON(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.report()) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
