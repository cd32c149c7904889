package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/ipc"
)

// TestRingServerGoneMidRun: a ring server that goes away during the run
// (closed after killAt executions): closed loop, pipelined, and open loop.
func TestRingServerGoneMidRun(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"execute", nil},
		{"pipelined", []string{"-stream"}},
		{"open", []string{"-rate", "2000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			k := &killer{Runtime: newRuntime(t)}
			sock := filepath.Join(dir, "ring.sock")
			srv, err := ipc.NewServer(ipc.ServerConfig{Path: sock, OwnerPrincipal: "fcload", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, k)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			k.kill = func() { srv.Close() }
			t.Cleanup(func() { srv.Close() })
			args := append([]string{"-target", "ipc", "-socket", sock, "-data-dir", dir, "-workers", "4", "-d", "500ms", "-warmup", "0",
				"-grace", "100ms", "-json", filepath.Join(dir, "r.json")}, c.args...)
			out, _, err := runFcload(t, args...)
			checkKilled(t, k, err, out, filepath.Join(dir, "r.json"))
		})
	}
}
