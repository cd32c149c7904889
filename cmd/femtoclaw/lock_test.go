package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// TestSecondWriterRefused: while one writer holds the data directory, a
// second serve or exec --journal is refused with a message naming the
// first, and touches nothing in the directory (no token, no journal).
func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_ADMIN="}
	holder, err := journal.LockDir(dir, "the first writer")
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.SetListeners([]string{"udp 127.0.0.1:4433"}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"exec", "--journal", `{"tool_call":{"tool":"noop","args":{}}}`},
		{"serve"},
	} {
		code, _, stderr := runCLI(t, env, "", args...)
		if code == 0 {
			t.Fatalf("%v ran beside another writer", args)
		}
		for _, want := range []string{"in use by another writer", "pid " + strconv.Itoa(os.Getpid()), "the first writer", "udp 127.0.0.1:4433"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: refusal does not say %q:\n%s", args, want, stderr)
			}
		}
	}
	for _, f := range []string{"token", "journal"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a refused writer created %s", f)
		}
	}
	holder.Unlock()
	code, out, stderr := runCLI(t, env, "", "exec", "--journal", `{"tool_call":{"tool":"noop","args":{}}}`)
	if code != 0 {
		t.Fatalf("after the first writer left: code %d\n%s\n%s", code, out, stderr)
	}
	if a := answer(t, out); !a.Journal.Durable {
		t.Errorf("exec --journal: %v", a)
	}
}
