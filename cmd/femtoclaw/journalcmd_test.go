package main

import (
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
