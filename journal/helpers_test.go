package journal

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a deterministic clock: each call advances by 1µs.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time { return time.Unix(0, c.ns.Add(1000)).UTC() }

// advance moves the clock forward by d.
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// zeroRand is a deterministic source for the genesis value.
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// testConfig is a deterministic, small-segment configuration.
func testConfig(dir string) Config {
	return Config{
		Dir:         dir,
		SegmentSize: 64 << 10,
		Now:         newTestClock().Now,
		rand:        zeroRand{},
	}
}

// testRecord returns a deterministic record of roughly 200 encoded bytes.
func testRecord(i int) *Record {
	args := []byte(fmt.Sprintf(`{"path":"/var/data/file-%06d.txt","mode":"r"}`, i))
	r := &Record{
		Kind:        KindExecution,
		ExecutionID: fmt.Sprintf("exec-%08d", i),
		Principal:   "agent-7",
		Capability:  []string{"fs.read", "echo", "noop", "shell"}[i%4],
		ArgsDigest:  sha256.Sum256(args),
		Args:        args,
		Decision:    "AUTHORIZED",
		Rule:        "allow-read",
		State:       "COMPLETED",
		Status:      "success",
		Result:      []byte(fmt.Sprintf(`{"bytes":%d}`, i*7)),
		Timings:     Timings{ValidateNs: 812, AuthorizeNs: 95, ExecuteNs: int64(1430 + i), TotalNs: int64(2500 + i)},
	}
	return r
}

func mustOpen(t testing.TB, cfg Config) *Journal {
	t.Helper()
	j, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return j
}

func mustAppend(t testing.TB, j *Journal, r *Record) uint64 {
	t.Helper()
	seq, err := j.Append(r)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return seq
}

// appendConcurrent appends n records from w goroutines and returns the seqs.
func appendConcurrent(t testing.TB, j *Journal, n, w int) []uint64 {
	t.Helper()
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, w)
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				seq, err := j.Append(testRecord(i))
				if err != nil {
					errs <- err
					return
				}
				seqs[i] = seq
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	return seqs
}

func allRecords(t testing.TB, dir string) []*Record {
	t.Helper()
	var out []*Record
	if err := Scan(dir, Query{}, func(r *Record) bool { out = append(out, r); return true }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func mustVerify(t testing.TB, dir string) VerifyReport {
	t.Helper()
	rep, err := Verify(dir)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

// blockOffsets returns the offsets of every valid block in a segment, plus
// the end of the last one.
func blockOffsets(t testing.TB, path string) (offs []int64, end int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(segHeaderSize)
	for {
		h, err := checkBlock(data[off:])
		if err != nil {
			return offs, off
		}
		offs = append(offs, off)
		off += int64(h.size())
	}
}

func sameRecord(a, b *Record) bool {
	return a.Kind == b.Kind && a.ExecutionID == b.ExecutionID && a.Principal == b.Principal &&
		a.Capability == b.Capability && a.ArgsDigest == b.ArgsDigest && bytes.Equal(a.Args, b.Args) &&
		(a.Args == nil) == (b.Args == nil) && a.Decision == b.Decision && a.Rule == b.Rule &&
		a.State == b.State && a.Status == b.Status && bytes.Equal(a.Result, b.Result) &&
		bytes.Equal(a.Error, b.Error) && a.IdempotencyKey == b.IdempotencyKey && a.Timings == b.Timings &&
		(a.Shadow == nil) == (b.Shadow == nil) && (a.Shadow == nil || *a.Shadow == *b.Shadow)
}

var errInjected = fmt.Errorf("injected: input/output error")
