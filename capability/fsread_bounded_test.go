package capability

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestSecurityBoundedFSReadFIFO: a file whose read would block forever is
// never read: FIFOs, however named, are refused before any read.
func TestSecurityBoundedFSReadFIFO(t *testing.T) {
	root, _ := fsFixture(t)
	if err := os.Symlink("fifo", filepath.Join(root, "link-fifo")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(root, "d", "deep.fifo")); err != nil {
		t.Skip("no named pipes here:", err)
	}
	f, err := NewFSRead(FSReadConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"fifo",
		"./fifo",
		"link-fifo",
		filepath.Join(root, "fifo"),
		"d/deep.fifo",
		"sub/../d/deep.fifo",
		"/dev/null", // outside the root: refused by confinement before the type check
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := f.Execute(ctx, &Request{Args: mustValue(t, `{"path":`+quoteJSON(path)+`}`)})
		cancel()
		if !errors.Is(err, &Error{Type: ErrArgument}) && !errors.Is(err, &Error{Type: ErrAuthorization}) {
			t.Errorf("%s: err = %v, want a refusal", path, err)
		}
	}
}

// TestSecurityBoundedFSReadStall: a read the file system never answers
// (simulated: the reader blocks after the type check) ends its call at the
// deadline with a Timeout; stalled readers are bounded by MaxReaders, past
// which calls are refused at once; when the file system answers, the
// tokens come back.
func TestSecurityBoundedFSReadStall(t *testing.T) {
	root, _ := fsFixture(t)
	synctest.Test(t, func(t *testing.T) {
		f, err := NewFSRead(FSReadConfig{Root: root, MaxReaders: 2})
		if err != nil {
			t.Fatal(err)
		}
		stall := make(chan struct{})
		f.testStall = stall
		call := func(timeout time.Duration) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := f.Execute(ctx, &Request{Args: mustValue(t, `{"path":"hello.txt"}`)})
			return err
		}
		for i := range 2 {
			if err := call(time.Second); !errors.Is(err, &Error{Type: ErrTimeout}) {
				t.Fatalf("stalled read %d: err = %v, want Timeout", i, err)
			}
		}
		// Both tokens are held by abandoned readers: refused at once,
		// without waiting for the deadline.
		start := time.Now()
		if err := call(time.Hour); !errors.Is(err, &Error{Type: ErrEnvironment}) {
			t.Fatalf("third read: err = %v, want EnvironmentError", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("refusal waited %v", d)
		}
		// The file system answers: the readers finish and give their tokens back.
		close(stall)
		synctest.Wait()
		f.testStall = nil
		if err := call(time.Second); err != nil {
			t.Fatalf("after the stall: %v", err)
		}
	})
}
