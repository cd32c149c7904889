package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// TestServerFromRunFile: the server targets take the address, pin,
// socket and token from the data directory serve describes, and refuse a
// stale description.
func TestServerFromRunFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("fct_secret\n"), 0o600)
	info := &runfile.Info{PID: os.Getpid(), Version: "v", Started: time.Now(), DataDir: dir,
		HTTP3: []string{"[::]:4567"}, SPKIPin: "pin-from-run-json", Socket: filepath.Join(dir, "ring.sock")}
	if err := runfile.Write(dir, info); err != nil {
		t.Fatal(err)
	}
	o := options{target: "h3", dataDir: dir}
	if err := resolveRemote(&o); err != nil {
		t.Fatal(err)
	}
	if o.target != "https://[::1]:4567" || o.pin != "pin-from-run-json" || o.token != "fct_secret" {
		t.Fatalf("h3 from run.json: %+v", o)
	}
	// Flags win.
	o = options{target: "https://example.test:1", dataDir: dir, pin: "given", tokenFile: "t"}
	if err := resolveRemote(&o); err != nil || o.target != "https://example.test:1" || o.pin != "given" || o.token != "" {
		t.Fatalf("flags: %+v %v", o, err)
	}
	if s, err := ringSocket(options{dataDir: dir}); err != nil || s != info.Socket {
		t.Fatalf("ring socket %q %v", s, err)
	}
	if s, _ := ringSocket(options{dataDir: dir, socket: "given.sock"}); s != "given.sock" {
		t.Fatalf("-socket: %q", s)
	}

	// A dead server's run.json is refused, not driven.
	info.PID = 1 << 30
	runfile.Write(dir, info)
	o = options{target: "h3", dataDir: dir}
	if err := resolveRemote(&o); !errors.Is(err, runfile.ErrStale) || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("stale h3: %v", err)
	}
	if _, err := ringSocket(options{dataDir: dir}); !errors.Is(err, runfile.ErrStale) {
		t.Fatalf("stale ipc: %v", err)
	}

	// No server described: h3 has nothing to drive; ipc falls back to the
	// default socket.
	runfile.Remove(dir)
	o = options{target: "h3", dataDir: dir}
	if err := resolveRemote(&o); !errors.Is(err, runfile.ErrNoServer) {
		t.Fatalf("no run.json: %v", err)
	}
	if s, err := ringSocket(options{dataDir: dir}); err != nil || s != filepath.Join(dir, "femtoclaw.sock") {
		t.Fatalf("default socket %q %v", s, err)
	}
}

// TestServerProbe: the server watched is the one run.json describes only
// when the target reaches it.
func TestServerProbe(t *testing.T) {
	info := &runfile.Info{HTTP3: []string{"[::]:4567", "127.0.0.1:4568"}, Socket: "/run/f/ring.sock"}
	for url, want := range map[string]bool{
		"https://[::1]:4567": true, "https://127.0.0.1:4567": true, "https://localhost:4568": true, "https://127.0.0.1:4568": true,
		"https://10.0.0.5:4568": false, "https://127.0.0.1:9999": false, "::bad": false,
	} {
		if got := sameHTTP3(url)(info); got != want {
			t.Errorf("%s reaches %v: %v, want %v", url, info.HTTP3, got, want)
		}
	}
	if !sameSocket("/run/f/../f/ring.sock")(info) || sameSocket("/run/g/ring.sock")(info) {
		t.Error("sameSocket")
	}

	dir := t.TempDir()
	runfile.Write(dir, &runfile.Info{PID: os.Getpid(), Version: "v9", Started: time.Now(), DataDir: dir, HTTP3: []string{"127.0.0.1:4567"}, Admin: "127.0.0.1:9999"})
	p := probeFor(options{dataDir: dir}, "https://127.0.0.1:4567", sameHTTP3("https://127.0.0.1:4567"))
	if p.pid != os.Getpid() || p.version != "v9" || p.adminAddr != "127.0.0.1:9999" || p.dataDir != dir {
		t.Fatalf("probe %+v", p)
	}
	p = probeFor(options{dataDir: dir}, "https://127.0.0.1:1", sameHTTP3("https://127.0.0.1:1"))
	if p.pid != 0 || !strings.Contains(p.note, "not the server") || p.adminAddr != "" || p.stagesNote == "" {
		t.Fatalf("another server's probe %+v", p)
	}
}

// TestMonitorAdmin: the monitor reads the server's process and its admin
// listener's /v1/stats with the admin token, and reports the counters
// over the measured phase and the stages since the server started.
func TestMonitorAdmin(t *testing.T) {
	reg := stats.NewRegistry()
	execs := reg.Counter(pipeline.MetricExecutionsTotal, "Executions by outcome.", stats.Label{Name: pipeline.LabelOutcome, Value: "success"})
	reg.Histogram(pipeline.MetricValidateSeconds, "Protocol validation latency.").Record(1500)
	a, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Metrics: reg, TokenSHA256: transport.HashToken("admin-secret"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	os.WriteFile(tokenFile, []byte("admin-secret\n"), 0o600)

	execs.Add(5) // before the phase: not counted
	p := probeFor(options{dataDir: t.TempDir(), adminAddr: a.Addr().String(), adminTokenFile: tokenFile}, "x", func(*runfile.Info) bool { return false })
	p.pid = os.Getpid()
	m := newMonitor(p)
	m.phase(true)
	execs.Add(3)
	m.sample()
	m.phase(false)
	var rep perf.Repetition
	m.endRun(&rep)
	s := m.report([]perf.Repetition{{OK: 3}})
	if s.Counters[pipeline.MetricExecutionsTotal+"{outcome=success}"] != 3 || s.StagesScope != "since_start" || s.Stages["validate"].Count != 1 {
		t.Fatalf("server %+v", s)
	}
	if runtime.GOOS == "linux" && (s.ResourceScope != "server" || s.RSSEndBytes == 0 || rep.ServerRSSBytes == 0) {
		t.Fatalf("resources %+v", s)
	}

	// Without the token, the stages are unknown and the report says why.
	p.adminToken = ""
	m = newMonitor(p)
	m.phase(true)
	m.phase(false)
	if s := m.report(nil); len(s.Stages) != 0 || !strings.Contains(s.StagesNote, "-admin-token-file") {
		t.Fatalf("no token: %+v", s)
	}
}
