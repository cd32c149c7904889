package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newServer(t *testing.T, reg *stats.Registry, checks func() []Check, clk *fakeClock, onDeg func(stats.Event)) *Server {
	t.Helper()
	s, err := New(Config{Addr: "127.0.0.1:0", Metrics: reg, Checks: checks, Now: clk.now, Tick: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnDegradation: onDeg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadyzFollowsChecks(t *testing.T) {
	var journalOK atomic.Bool
	journalOK.Store(true)
	clk := &fakeClock{}
	s := newServer(t, stats.NewRegistry(), func() []Check {
		return []Check{{Name: "journal_accepts_writes", OK: journalOK.Load()}}
	}, clk, nil)
	if code, _ := get(t, s, "/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get(t, s, "/readyz"); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	journalOK.Store(false) // a failed journal
	if code, body := get(t, s, "/readyz"); code != 503 || !strings.Contains(body, `"ready": false`) {
		t.Fatalf("readyz with a failed journal: %d %s", code, body)
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	reg := stats.NewRegistry()
	h := reg.Histogram(pipeline.MetricCommitSeconds, "Journal commit latency.")
	for i := range 1000 {
		h.Record(int64(100_000 + i*100))
	}
	reg.Counter(pipeline.MetricExecutionsTotal, "Executions.", stats.Label{Name: pipeline.LabelOutcome, Value: "success"}).Add(1000)
	s := newServer(t, reg, nil, &fakeClock{}, nil)
	code, body := get(t, s, "/metrics")
	if code != 200 || !strings.Contains(body, pipeline.MetricCommitSeconds+"_bucket") {
		t.Fatalf("metrics %d", code)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (scripts/test.sh installs Debian's prometheus package)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestDegradationAndRecovery slows the commit stage past its budget and
// sees the event, the gauge and the /readyz detail, then the recovery.
func TestDegradationAndRecovery(t *testing.T) {
	reg := stats.NewRegistry()
	h := reg.Histogram(pipeline.MetricCommitSeconds, "Journal commit latency.")
	clk := &fakeClock{}
	// OnDegradation runs on whichever goroutine ticks (here the test's;
	// the monitor's hourly ticker never fires): guarded all the same.
	var mu sync.Mutex
	var events []stats.Event
	got := func() []stats.Event { mu.Lock(); defer mu.Unlock(); return append([]stats.Event(nil), events...) }
	s := newServer(t, reg, func() []Check { return []Check{{Name: "x", OK: true}} }, clk, func(e stats.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	s.Tick()
	for range 5 { // 5 s of commits at 20 ms: over the 10 ms hard bound
		for range 200 {
			h.Record(int64(20 * time.Millisecond))
		}
		clk.advance(time.Second)
		s.Tick()
	}
	if events := got(); len(events) == 0 || events[0].Type != "performance_degraded" || events[0].Stage != "commit" || events[0].Severity != "CRITICAL" {
		t.Fatalf("events %+v", events)
	}
	if code, body := get(t, s, "/readyz"); code != 200 || !strings.Contains(body, `"stage": "commit"`) {
		t.Fatalf("readyz must stay ready and list the degradation: %d %s", code, body)
	}
	if _, body := get(t, s, "/metrics"); !strings.Contains(body, pipeline.MetricPerformanceDegradedStages+" 1") {
		t.Fatalf("gauge not 1")
	}
	for range 15 { // fast again for longer than the window
		for range 200 {
			h.Record(int64(200 * time.Microsecond))
		}
		clk.advance(time.Second)
		s.Tick()
	}
	all := got()
	last := all[len(all)-1]
	if last.Type != "performance_recovered" || last.Stage != "commit" {
		t.Fatalf("no recovery: %+v", all)
	}
	if _, body := get(t, s, "/metrics"); !strings.Contains(body, pipeline.MetricPerformanceDegradedStages+" 0") {
		t.Fatalf("gauge not back to 0")
	}
}

func TestStatsJSON(t *testing.T) {
	reg := stats.NewRegistry()
	h := reg.Histogram(pipeline.MetricValidateSeconds, "Validation.")
	c := reg.Counter(pipeline.MetricExecutionsTotal, "Executions.", stats.Label{Name: pipeline.LabelOutcome, Value: "success"})
	clk := &fakeClock{}
	s := newServer(t, reg, nil, clk, nil)
	s.Tick()
	for range 10 {
		for range 100 {
			h.Record(1000)
		}
		c.Add(100)
		clk.advance(time.Second)
		s.Tick()
	}
	_, body := get(t, s, "/v1/stats")
	var r Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Throughput["1s"] != 100 || r.Throughput["10s"] != 100 {
		t.Fatalf("throughput %v", r.Throughput)
	}
	if len(r.Stages) != 1 || r.Stages[0].All.Count != 1000 || r.Stages[0].Last1s.Count != 100 || r.Stages[0].Last10s.Count != 1000 {
		t.Fatalf("stages %+v", r.Stages)
	}
	if code, _ := get(t, s, "/debug/pprof/"); code != 404 {
		t.Fatalf("pprof is off by default, got %d", code)
	}
}

func TestSecondShutdownOrCloseIsErrServerClosed(t *testing.T) {
	for _, first := range []string{"Shutdown", "Close"} {
		s := newServer(t, stats.NewRegistry(), nil, &fakeClock{}, nil)
		stop := map[string]func() error{
			"Shutdown": func() error { return s.Shutdown(context.Background()) },
			"Close":    s.Close,
		}
		if err := stop[first](); err != nil {
			t.Fatalf("first %s: %v", first, err)
		}
		if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
			t.Fatalf("%s: still serving", first)
		}
		for _, second := range []string{"Shutdown", "Close"} {
			if err := stop[second](); !errors.Is(err, transport.ErrServerClosed) {
				t.Fatalf("%s after %s: %v", second, first, err)
			}
		}
		if err := s.Start(); !errors.Is(err, transport.ErrServerClosed) {
			t.Fatalf("Start after %s: %v", first, err)
		}
	}
}

// TestShutdownBeforeStartReturns runs in a synctest bubble: a Shutdown
// that blocked would be durably blocked when synctest.Wait returns.
func TestShutdownBeforeStartReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{Addr: "127.0.0.1:0", Metrics: stats.NewRegistry(), Tick: time.Hour,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Shutdown before Start: %v", err)
			}
		default:
			t.Fatal("Shutdown before Start blocked")
		}
		if err := s.Shutdown(context.Background()); !errors.Is(err, transport.ErrServerClosed) {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
}

// TestHealthzIsTheDataPlanes: /healthz answers the body the HTTP/3
// listener answers (transport.HealthJSON), to GET and HEAD.
func TestHealthzIsTheDataPlanes(t *testing.T) {
	s := newServer(t, stats.NewRegistry(), nil, &fakeClock{}, nil)
	code, body := get(t, s, transport.HealthPath)
	if code != 200 || body != string(transport.HealthJSON()) {
		t.Fatalf("healthz %d %q, want %q", code, body, transport.HealthJSON())
	}
	var h transport.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil || h.Status != transport.HealthOK {
		t.Fatalf("healthz decodes to %+v, %v", h, err)
	}
	resp, err := http.Head("http://" + s.Addr().String() + transport.HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD healthz %d %v", resp.StatusCode, resp.Header)
	}
}

// TestBuildInfo: build_info is 1 with the configured version, and no
// label is ever empty.
func TestBuildInfo(t *testing.T) {
	for _, c := range []struct {
		build   Build
		version string
	}{
		{Build{Version: "1.2.3", Revision: "abc123"}, `revision="abc123",version="1.2.3"`},
		{Build{}, `version="`},
	} {
		reg := stats.NewRegistry()
		srv, err := New(Config{Addr: "127.0.0.1:0", Metrics: reg, Build: c.build, Tick: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		reg.WritePrometheus(&out)
		var line string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, pipeline.MetricBuildInfo+"{") {
				line = l
			}
		}
		if !strings.HasPrefix(line, pipeline.MetricBuildInfo+`{goversion="`+runtime.Version()+`",`) || !strings.Contains(line, c.version) ||
			!strings.HasSuffix(line, "} 1") || strings.Contains(line, `=""`) {
			t.Errorf("build %+v: %q", c.build, line)
		}
		if srv.build.Version == "" || srv.build.Revision == "" || srv.build.GoVersion == "" {
			t.Errorf("build %+v defaults to %+v", c.build, srv.build)
		}
	}
}
