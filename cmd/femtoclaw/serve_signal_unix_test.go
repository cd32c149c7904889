//go:build unix

package main

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// signalOnLine sends sig to this process from inside the Write of the
// first line containing want: before the writer (serve's logger) returns.
type signalOnLine struct {
	lineWaiter
	sig  syscall.Signal
	sent bool
}

func (w *signalOnLine) Write(p []byte) (int, error) {
	n, err := w.lineWaiter.Write(p)
	if !w.sent && strings.Contains(string(p), w.want) {
		w.sent = true
		syscall.Kill(os.Getpid(), w.sig)
	}
	return n, err
}

// TestServeSIGTERMRightAfterReady: a SIGTERM sent the moment serve says
// "femtoclaw ready" gets the graceful shutdown (serve returns, the
// shutdown journaled) instead of the default action, which ends the
// process (and this test binary) at once.
func TestServeSIGTERMRightAfterReady(t *testing.T) {
	dir := t.TempDir()
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=", "FEMTOCLAW_IPC_ENABLED=false"}
	w := &signalOnLine{lineWaiter: lineWaiter{want: `"msg":"femtoclaw ready"`, hit: make(chan struct{})}, sig: syscall.SIGTERM}
	if code := run(context.Background(), []string{"serve"}, strings.NewReader(""), io.Discard, w, env); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, w.String())
	}
	if !strings.Contains(w.String(), `"msg":"shutting down","signal":"terminated"`) {
		t.Fatalf("no graceful shutdown on SIGTERM:\n%s", w.String())
	}
}
