package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
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
	// Logger receives the listener's own log records. If nil, defaults to
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Tick is the monitor period. If zero, one second.
	Tick time.Duration
	// Hosts are the names, besides the listener's own address, that a
	// request's Host may carry ("metrics.internal", "admin.example:9464";
	// without a port a name matches with the listener's port or none).
	// Matching ignores case and one trailing dot. If empty, only the
	// address itself (and localhost, for a loopback listener) is accepted.
	Hosts []string
	// TokenSHA256 is the hex SHA-256 of the admin bearer token. When set,
	// every request but GET /healthz must send Authorization: Bearer
	// <token>. Required (New fails without it) when Addr is not a loopback
	// address. If empty on loopback, no token is asked for.
	TokenSHA256 string
	// Pprof serves /debug/pprof/ (heap contents, goroutine stacks and the
	// command line, CPU profiles on demand). Off unless set.
	Pprof bool
	// Build labels pipeline.MetricBuildInfo and is reported in /v1/stats.
	// Empty fields default to what the binary says of itself
	// (runtime/debug.ReadBuildInfo: the main module's version, the Go
	// version, the vcs.revision setting), else "unknown".
	Build Build
	// JournalHead returns the journal's head for /v1/stats and the admin
	// page, on each request (it must be safe for concurrent use and
	// fast). If nil, the runtime has no journal and the report says null.
	JournalHead func() JournalHead
}

// Server is the admin listener. Safe for concurrent use. Lifecycle: New →
// Start → Shutdown (drain within a context) or Close (now), one of which
// the owner must call.
type Server struct {
	cfg      Config
	log      *slog.Logger
	srv      *http.Server
	ln       net.Listener
	detector *stats.Detector
	// throughput is the executions rate over 1, 10 and 60 s (/v1/stats),
	// fed by the monitor from the pipeline's executions counters.
	throughput *stats.Throughput
	start      time.Time
	build      Build              // Config.Build with its defaults
	hosts      []string           // Config.Hosts
	token      *[sha256.Size]byte // nil: no admin token configured
	stop       chan struct{}
	done       chan struct{}
	serveErr   chan error

	// life guards Start, Shutdown and Close: the first Shutdown or Close
	// returns at once if Start never ran; a later one, or Start after
	// either, returns transport.ErrServerClosed.
	life struct {
		sync.Mutex
		started, stopped bool
	}

	tickMu sync.Mutex // serializes tick
	mu     struct {
		sync.Mutex
		history []tickSample // last historyTicks ticks, newest last
	}
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
	token, err := compileToken(cfg.TokenSHA256)
	if err != nil {
		return nil, err
	}
	if token == nil && !loopbackAddr(cfg.Addr) {
		return nil, fmt.Errorf("admin: listener %s is not loopback: an admin token is required (Config.TokenSHA256)", cfg.Addr)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, start: cfg.Now(), hosts: append([]string(nil), cfg.Hosts...), token: token,
		stop: make(chan struct{}), done: make(chan struct{}), serveErr: make(chan error, 1)}
	s.build = buildDefaults(cfg.Build)
	s.throughput = stats.NewThroughput(cfg.Now)
	s.detector = cfg.Detector
	if s.detector == nil {
		s.detector = stats.NewDetector(stats.DetectorConfig{Now: cfg.Now, OnEvent: cfg.OnDegradation})
	}
	reg := cfg.Metrics
	stats.RegisterProcessMetrics(reg) // process_* and go_* (CPU, RSS, open files, goroutines)
	reg.GaugeFunc(pipeline.MetricPerformanceDegradedStages, "Stages whose rolling p99 is over budget (see /readyz for detail).", func() float64 { return float64(s.detector.Degraded()) })
	reg.GaugeFunc(pipeline.MetricBuildInfo, "1, labelled with the running build: release version, Go version, VCS revision.", func() float64 { return 1 },
		stats.Label{Name: pipeline.LabelVersion, Value: s.build.Version},
		stats.Label{Name: pipeline.LabelGoVersion, Value: s.build.GoVersion},
		stats.Label{Name: pipeline.LabelRevision, Value: s.build.Revision})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET "+transport.HealthPath, healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /v1/stats", s.statsJSON)
	mux.HandleFunc("GET "+UIPath, ui)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.srv = &http.Server{Handler: s.guard(mux), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return s, nil
}

// Start listens and serves in the background, and starts the monitor
// after taking its first tick (so a Tick after Start returns measures the
// interval from there).
// Start after Shutdown or Close returns transport.ErrServerClosed; a second
// Start is an error.
func (s *Server) Start() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.life.stopped {
		return transport.ErrServerClosed
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
	s.tick() // the first snapshot, which the first interval is measured from
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	go s.monitor()
	s.log.Info("admin listener", "addr", ln.Addr().String())
	return nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the listener and the monitor, lets requests in progress
// finish within ctx (net/http.Server.Shutdown) and waits for both
// goroutines. It returns transport.ErrServerClosed after an earlier
// Shutdown or Close; before Start it only marks the server closed.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.stopWith(func() error { return s.srv.Shutdown(ctx) })
}

// Close stops the listener and the monitor now, closing every connection
// (net/http.Server.Close), and waits for both goroutines. It returns
// transport.ErrServerClosed after an earlier Shutdown or Close.
func (s *Server) Close() error {
	return s.stopWith(s.srv.Close)
}

func (s *Server) stopWith(stop func() error) error {
	s.life.Lock()
	if s.life.stopped {
		s.life.Unlock()
		return transport.ErrServerClosed
	}
	s.life.stopped = true
	started := s.life.started
	s.life.Unlock()
	if !started {
		return nil
	}
	close(s.stop)
	err := stop()
	<-s.done
	if e := <-s.serveErr; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// buildDefaults fills b's empty fields from the binary's build
// information.
func buildDefaults(b Build) Build {
	bi, ok := debug.ReadBuildInfo()
	if b.Version == "" && ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.GoVersion == "" {
		b.GoVersion = runtime.Version()
	}
	if b.Revision == "" && ok {
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" {
				b.Revision = st.Value
			}
		}
	}
	for _, f := range []*string{&b.Version, &b.GoVersion, &b.Revision} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return b
}
