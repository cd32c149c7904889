package runfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// deadPID is above every kernel's pid limit (Linux: at most 2^22), so no
// process ever has it.
const deadPID = 1 << 30

func TestWriteReadRemove(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); !errors.Is(err, ErrNoServer) {
		t.Fatalf("empty directory: %v, want ErrNoServer", err)
	}
	in := &Info{PID: os.Getpid(), Version: "1.2.3", Started: time.Now(), DataDir: dir,
		HTTP3: []string{"127.0.0.1:4433"}, Admin: "127.0.0.1:9464", SPKIPin: "pin=", Socket: filepath.Join(dir, "s.sock")}
	if err := Write(dir, in); err != nil {
		t.Fatal(err)
	}
	if in.Format != 0 {
		t.Error("Write changed the caller's Info")
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != FormatVersion || got.PID != in.PID || got.Version != in.Version || !got.Started.Equal(in.Started) ||
		got.URL() != "https://127.0.0.1:4433" || got.Admin != in.Admin || got.SPKIPin != in.SPKIPin || got.Socket != in.Socket {
		t.Fatalf("read back %+v, wrote %+v", got, in)
	}
	fi, err := os.Stat(Path(dir))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	// A second Write replaces the file and leaves no temporary behind.
	in.Version = "1.2.4"
	if err := Write(dir, in); err != nil {
		t.Fatal(err)
	}
	if got, _ := Read(dir); got.Version != "1.2.4" {
		t.Fatalf("rewrite: %+v", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("directory holds %v, want only %s", ents, Name)
	}
	// No HTTP/3 listener is an empty list, as documented (was null).
	in.HTTP3 = nil
	if err := Write(dir, in); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(Path(dir)); !strings.Contains(string(b), `"http3": [],`) {
		t.Fatalf("no HTTP/3 listener written as:\n%s", b)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); !errors.Is(err, ErrNoServer) {
		t.Fatalf("after Remove: %v", err)
	}
	if err := Remove(dir); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestStale(t *testing.T) {
	dir := t.TempDir()
	Write(dir, &Info{PID: deadPID, Version: "v", Started: time.Now()})
	info, err := Read(dir)
	var se *StaleError
	if !errors.Is(err, ErrStale) || !errors.As(err, &se) || se.Info.PID != deadPID || info == nil || info.PID != deadPID ||
		!strings.Contains(err.Error(), "not running") {
		t.Fatalf("dead pid: %v %+v", err, info)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// This process is alive but started long after the file's server: the
	// pid was reused.
	Write(dir, &Info{PID: os.Getpid(), Version: "v", Started: time.Now().Add(-24 * time.Hour * 365 * 20)})
	if _, err := Read(dir); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("reused pid: %v", err)
	}
	// The same pid with a start after this process's is live.
	Write(dir, &Info{PID: os.Getpid(), Version: "v", Started: time.Now()})
	if _, err := Read(dir); err != nil {
		t.Fatalf("live: %v", err)
	}
}

func TestReadRefusesWhatItCannotTrust(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{`{"format":2,"pid":1}`, `{"format":1}`, `not json`} {
		os.WriteFile(Path(dir), []byte(body), 0o644)
		if info, err := Read(dir); err == nil || errors.Is(err, ErrNoServer) {
			t.Errorf("%s: %+v %v", body, info, err)
		}
	}
}

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:4433":   "127.0.0.1:4433",
		"[::]:4433":      "[::1]:4433",
		"127.0.0.1:4433": "127.0.0.1:4433",
		"[::1]:9":        "[::1]:9",
		"10.1.2.3:80":    "10.1.2.3:80",
		"not an address": "not an address",
	} {
		if got := ClientAddr(in); got != want {
			t.Errorf("ClientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
