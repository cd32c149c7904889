package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
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
