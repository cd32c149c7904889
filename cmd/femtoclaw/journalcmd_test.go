package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// TestJournalRepairAndExpectHead: verify --expect-head holds the journal to
// a recorded head; repair cuts a damaged journal at its last valid block
// after copying it aside, and says what it dropped.
func TestJournalRepairAndExpectHead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, err := journal.Open(journal.Config{Dir: dir, SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := j.Append(&journal.Record{Kind: journal.KindExecution, ExecutionID: "exec-" + strings.Repeat("x", i%7), Args: []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	seq, hash := j.Head()
	j.Close()
	for _, anchor := range []string{hash, "40"} {
		if code, out, errb := runCLI(t, nil, "", "journal", "verify", "--dir", dir, "--expect-head", anchor); code != 0 || !strings.Contains(out, "expected head") {
			t.Fatalf("verify --expect-head %s: %d %s %s", anchor, code, out, errb)
		}
	}
	if seq != 40 {
		t.Fatalf("head seq %d", seq)
	}
	// Delete the last segment: Open and verify refuse (the checkpoint).
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	os.Remove(segs[len(segs)-1])
	if code, out, _ := runCLI(t, nil, "", "journal", "verify", "--dir", dir); code == 0 || !strings.Contains(out, "missing") {
		t.Fatalf("verify after deleting the last segment: %d %s", code, out)
	}
	backup := filepath.Join(t.TempDir(), "copy")
	code, out, errb := runCLI(t, nil, "", "journal", "repair", "--dir", dir, "--backup", backup)
	if code != 0 || !strings.Contains(out, "copied the journal to "+backup) || !strings.Contains(out, "dropped:") || !strings.Contains(out, "the checkpoint") {
		t.Fatalf("repair: %d %s %s", code, out, errb)
	}
	if code, out, _ := runCLI(t, nil, "", "journal", "verify", "--dir", dir); code != 0 {
		t.Fatalf("verify after repair: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, nil, "", "journal", "verify", "--dir", dir, "--expect-head", hash); code == 0 {
		t.Fatalf("verify --expect-head of the old head after repair passed: %s", out)
	}
}

// TestServeRetentionThenVerify: serve with journal.retention set removes
// the oldest segments of a journal at start (outside the idempotency
// window, here off), and `journal verify` proves the chain of what remains
// from the anchor it reports.
func TestServeRetentionThenVerify(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(journal.Config{Dir: filepath.Join(dir, "journal"), SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := j.Append(&journal.Record{Kind: journal.KindExecution, ExecutionID: fmt.Sprintf("exec-%d", i), Args: []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=",
		"FEMTOCLAW_JOURNAL_SEGMENT_SIZE=4096", "FEMTOCLAW_JOURNAL_RETENTION_MAX_BYTES=16384",
		"FEMTOCLAW_JOURNAL_RETENTION_ARCHIVE_DIR=journal-archive", "FEMTOCLAW_EXECUTION_IDEMPOTENCY_ENABLED=false"}
	ctx, cancel := context.WithCancel(context.Background())
	w := &lineWaiter{want: `"msg":"journal: retention"`, hit: make(chan struct{})}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, w, env) }()
	select {
	case <-w.hit:
	case code := <-done:
		t.Fatalf("serve exited %d before a retention pass:\n%s", code, w.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, w.String())
	}
	code, out, _ := runCLI(t, []string{"FEMTOCLAW_DATA_DIR=" + dir}, "", "journal", "verify")
	if code != 0 || !strings.Contains(out, "chain anchored at seq ") || !strings.Contains(out, "segments removed/archived by retention") ||
		!strings.Contains(out, "from the retention anchor") {
		t.Fatalf("journal verify: %d %s", code, out)
	}
	archived, _ := filepath.Glob(filepath.Join(dir, "journal-archive", "*.seg"))
	if len(archived) == 0 {
		t.Fatalf("nothing in the archive:\n%s", out)
	}
	t.Logf("journal verify:\n%s", out)
}
