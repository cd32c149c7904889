package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	for _, codec := range []Codec{CodecS2, CodecZstd, CodecNone} {
		for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
			t.Run("codec="+string(codec)+"/mode="+string(mode), func(t *testing.T) {
				dir := t.TempDir()
				cfg := testConfig(dir)
				cfg.Codec, cfg.Durability = codec, mode
				j := mustOpen(t, cfg)
				const n = 2000
				seqs := appendConcurrent(t, j, n, 16)
				sorted := slices.Clone(seqs)
				slices.Sort(sorted)
				for i, s := range sorted {
					if s != uint64(i+1) {
						t.Fatalf("seqs not 1..%d: index %d has %d", n, i, s)
					}
				}
				got, err := j.Get("exec-00000042")
				if err != nil || len(got) != 1 || got[0].Seq != seqs[42] || !sameRecord(&got[0], testRecord(42)) {
					t.Fatalf("Get = %+v, %v", got, err)
				}
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
				recs := allRecords(t, dir)
				if len(recs) != n {
					t.Fatalf("scanned %d records, want %d", len(recs), n)
				}
				var last int64
				for i, r := range recs {
					if r.Seq != uint64(i+1) {
						t.Fatalf("record %d has seq %d", i, r.Seq)
					}
					if r.TimeUnixNs < last {
						t.Fatalf("time went backwards at seq %d", r.Seq)
					}
					last = r.TimeUnixNs
					var id int
					if _, err := fmtSscanf(r.ExecutionID, &id); err != nil || seqs[id] != r.Seq || !sameRecord(r, testRecord(id)) {
						t.Fatalf("record seq %d does not match what was appended", r.Seq)
					}
				}
				rep := mustVerify(t, dir)
				if rep.Records != n || rep.HeadSeq != n || rep.Segments < 2 {
					t.Fatalf("verify report %+v", rep)
				}
				j = mustOpen(t, cfg)
				if r := j.Recovery(); r.Records != n || r.HeadSeq != n || r.HeadHash != rep.HeadHash || !r.FromCheckpoint {
					t.Fatalf("recovery %+v, verify head %s", r, rep.HeadHash)
				}
				if s := mustAppend(t, j, testRecord(n)); s != n+1 {
					t.Fatalf("seq after reopen = %d", s)
				}
				j.Close()
				mustVerify(t, dir)
			})
		}
	}
}

func fmtSscanf(id string, n *int) (int, error) {
	var err error
	*n = 0
	s := strings.TrimPrefix(id, "exec-")
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad id")
		}
		*n = *n*10 + int(c-'0')
	}
	return 1, err
}

func TestRecordEncodingRoundTrip(t *testing.T) {
	cases := []*Record{
		testRecord(1),
		{Kind: KindSystem},
		{Kind: KindRejection, Args: nil, Result: []byte{}, Error: []byte(`{"category":"PROTOCOL_ERROR"}`),
			Timings: Timings{ValidateNs: -5, TotalNs: 1 << 60}, IdempotencyKey: "k\x00ü"},
	}
	for _, r := range cases {
		b := appendRecord(nil, r)
		if len(b) > encodedRecordSize(r) {
			t.Fatalf("encodedRecordSize %d < actual %d", encodedRecordSize(r), len(b))
		}
		if !bytes.Equal(b, appendRecord(nil, r)) {
			t.Fatal("encoding not deterministic")
		}
		var got Record
		if err := decodeRecord(b, &got); err != nil {
			t.Fatal(err)
		}
		if !sameRecord(&got, r) || (got.Result == nil) != (r.Result == nil) {
			t.Fatalf("round trip: got %+v want %+v", got, r)
		}
	}
}

func TestConfigDefaultsDoNotMutate(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	before := cfg
	j := mustOpen(t, cfg)
	defer j.Close()
	if cfg.Durability != before.Durability || cfg.Logger != nil || cfg.SegmentSize != 0 {
		t.Fatal("Open modified the caller's Config")
	}
	d := cfg.withDefaults()
	if d.Durability != DurabilityAlways || d.Codec != CodecS2 || d.SegmentSize != defaultSegmentSize ||
		d.MaxBatchRecords != defaultMaxBatchRecords || d.SyncInterval != defaultSyncInterval {
		t.Fatalf("defaults: %+v", d)
	}
	for _, bad := range []Config{{}, {Dir: "x", Durability: "sometimes"}, {Dir: "x", Codec: "lz4"}} {
		if _, err := Open(bad); err == nil {
			t.Fatalf("Open(%+v) succeeded", bad)
		}
	}
}

func TestCloseIdempotentAndClosedErrors(t *testing.T) {
	j := mustOpen(t, testConfig(t.TempDir()))
	mustAppend(t, j, testRecord(0))
	if !j.Ready() {
		t.Fatal("not ready")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != ErrClosed {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if j.Ready() {
		t.Fatal("ready after Close")
	}
	if _, err := j.Append(testRecord(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	called := make(chan error, 1)
	j.AppendAsync(testRecord(1), func(_ uint64, err error) { called <- err })
	if err := <-called; !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendAsync after Close: %v", err)
	}
	if _, err := j.Get("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

func TestAppendAsync(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, testConfig(dir))
	const n = 500
	got := make(chan uint64, n)
	for i := range n {
		j.AppendAsync(testRecord(i), func(seq uint64, err error) {
			if err != nil {
				t.Error(err)
			}
			got <- seq
		})
	}
	seen := map[uint64]bool{}
	for range n {
		seen[<-got] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct seqs", len(seen))
	}
	j.Close()
	if recs := allRecords(t, dir); len(recs) != n {
		t.Fatalf("%d records", len(recs))
	}
	// Records queued asynchronously are written in queue order.
	for i, r := range allRecords(t, dir) {
		if !sameRecord(r, testRecord(i)) {
			t.Fatalf("record %d out of order", i)
		}
	}
}

func TestClockClamp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	clock := newTestClock()
	var back atomic.Bool
	cfg.Now = func() time.Time {
		now := clock.Now()
		if back.Load() {
			return now.Add(-time.Hour)
		}
		return now
	}
	j := mustOpen(t, cfg)
	r1 := testRecord(1)
	mustAppend(t, j, r1)
	back.Store(true)
	r2 := testRecord(2)
	mustAppend(t, j, r2)
	if r2.TimeUnixNs < r1.TimeUnixNs || r2.Seq != r1.Seq+1 {
		t.Fatalf("times %d then %d; seqs %d %d", r1.TimeUnixNs, r2.TimeUnixNs, r1.Seq, r2.Seq)
	}
	if j.Stats().ClampedTimes != 1 {
		t.Fatalf("clamped = %d", j.Stats().ClampedTimes)
	}
	j.Close()
	mustVerify(t, dir)
}

func TestStickyError(t *testing.T) {
	for _, which := range []string{"write", "sync"} {
		t.Run("fail="+which, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			var failWrite, failSync atomic.Bool
			w, s := failOps(&failWrite, "write"), failOps(&failSync, "datasync")
			cfg.fs = &errorFS{fileSystem: osFS{}, inject: func(op, path string) error {
				if err := w(op, path); err != nil {
					return err
				}
				return s(op, path)
			}}
			j := mustOpen(t, cfg)
			acked := appendConcurrent(t, j, 100, 8)
			if which == "write" {
				failWrite.Store(true)
			} else {
				failSync.Store(true)
			}
			if _, err := j.Append(testRecord(100)); !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
				t.Fatalf("Append with failing file: %v", err)
			}
			failWrite.Store(false)
			failSync.Store(false)
			if _, err := j.Append(testRecord(101)); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after failure (sticky): %v", err)
			}
			if j.Ready() || !errors.Is(j.Err(), ErrFailed) || !j.Stats().Failed {
				t.Fatal("journal still ready after a failure")
			}
			if err := j.Close(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close: %v", err)
			}
			if err := j.Close(); err != ErrClosed {
				t.Fatalf("second Close after a failure: %v, want ErrClosed", err)
			}
			j = mustOpen(t, testConfig(dir))
			defer j.Close()
			have := map[uint64]bool{}
			j.Scan(Query{}, func(r *Record) bool { have[r.Seq] = true; return true })
			for _, s := range acked {
				if !have[s] {
					t.Fatalf("acknowledged seq %d lost", s)
				}
			}
		})
	}
}

func TestIntentsInterrupted(t *testing.T) {
	for _, ckpt := range []int{-1, 1} {
		dir := t.TempDir()
		cfg := testConfig(dir)
		cfg.CheckpointEvery = ckpt
		j := mustOpen(t, cfg)
		rec := func(k Kind, id string) *Record {
			r := testRecord(0)
			r.Kind, r.ExecutionID = k, id
			return r
		}
		mustAppend(t, j, rec(KindIntent, "exec-a"))
		mustAppend(t, j, rec(KindIntent, "exec-b"))
		mustAppend(t, j, rec(KindOutcome, "exec-a"))
		seqC := mustAppend(t, j, rec(KindIntent, "exec-c"))
		mustAppend(t, j, rec(KindExecution, "exec-d"))
		// No Close: simulate a crash (the checkpoint, if any, is periodic).
		j2 := simulateCrashReopen(t, j, cfg)
		rep := j2.Recovery()
		want := []Interrupted{{"exec-b", 2, 6}, {"exec-c", seqC, 7}}
		if !slices.Equal(rep.Interrupted, want) {
			t.Fatalf("checkpointEvery=%d: interrupted = %+v, want %+v", ckpt, rep.Interrupted, want)
		}
		// The verdict is journaled: Get shows it after the intent.
		got, err := j2.Get("exec-b")
		if err != nil || len(got) != 2 || got[0].Kind != KindIntent || got[1].Kind != KindInterrupted ||
			got[1].Seq != 6 || got[1].State != "INTERRUPTED" {
			t.Fatalf("Get(exec-b) after recovery = %+v, %v", got, err)
		}
		mustAppend(t, j2, rec(KindOutcome, "exec-e"))
		// A second open (after a crash, or a clean close) reports nothing.
		j3 := simulateCrashReopen(t, j2, cfg)
		if got := j3.Recovery().Interrupted; len(got) != 0 {
			t.Fatalf("checkpointEvery=%d: interrupted reported again: %+v", ckpt, got)
		}
		j3.Close()
		j3 = mustOpen(t, cfg)
		if got := j3.Recovery().Interrupted; len(got) != 0 {
			t.Fatalf("after a clean close: %+v", got)
		}
		j3.Close()
	}
}

// simulateCrashReopen abandons j without Close (its goroutine keeps running
// until the test ends, but writes nothing more) and opens the same dir.
func simulateCrashReopen(t *testing.T, j *Journal, cfg Config) *Journal {
	t.Helper()
	// Stop the flusher without the final sync/checkpoint by marking closed
	// and stopping: equivalent to a crash after the last acknowledged sync.
	j.mu.Lock()
	j.mu.closed = true
	j.mu.Unlock()
	j.err.Store(ptr(errors.New("test: abandoned")))
	close(j.stopc)
	<-j.donec
	j.lock.Unlock() // a dead process's lock is released by the kernel
	return mustOpen(t, cfg)
}

func ptr[T any](v T) *T { return &v }

func TestSegmentRollAndInspect(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 4096
	cfg.MaxBatchRecords = 8
	j := mustOpen(t, cfg)
	appendConcurrent(t, j, 600, 4)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	ins, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Segments) < 5 || ins.Records != 600 || ins.Ratio() <= 1 || ins.Codecs["s2"] == 0 {
		t.Fatalf("inspect: %d segments, %+v", len(ins.Segments), ins)
	}
	var sum int64
	for i, s := range ins.Segments {
		if s.Name != segmentName(uint64(i)) {
			t.Fatalf("segment %d named %s", i, s.Name)
		}
		sum += s.Records
	}
	if sum != 600 {
		t.Fatalf("segment record sum %d", sum)
	}
	// A prepared next segment may be kept for the next Open, but is no segment.
	if fi, err := os.Stat(filepath.Join(dir, preparedSegName)); err == nil && fi.Size() != cfg.SegmentSize {
		t.Fatalf("prepared temp segment of size %d left behind", fi.Size())
	}
	mustVerify(t, dir)
}

func TestOversizeRecordGetsOwnBlock(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 4096
	j := mustOpen(t, cfg)
	big := testRecord(1)
	big.Result = bytes.Repeat([]byte(`"x"`), 20000) // invalid JSON on purpose: stored verbatim
	mustAppend(t, j, testRecord(0))
	mustAppend(t, j, big)
	mustAppend(t, j, testRecord(2))
	j.Close()
	recs := allRecords(t, dir)
	if len(recs) != 3 || !bytes.Equal(recs[1].Result, big.Result) {
		t.Fatalf("got %d records", len(recs))
	}
	mustVerify(t, dir)
	tooBig := testRecord(3)
	tooBig.Args = make([]byte, maxBlockBody)
	j = mustOpen(t, cfg)
	defer j.Close()
	if _, err := j.Append(tooBig); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge record: %v", err)
	}
}

func TestExportJSONL(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, testConfig(dir))
	appendConcurrent(t, j, 40, 1)
	j.Close()
	var buf bytes.Buffer
	if err := ExportJSONL(dir, Query{Capability: "echo"}, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d lines", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["capability"] != "echo" || m["type"] != "execution" || m["seq"].(float64) != 2 ||
		len(m["args_sha256"].(string)) != 64 || m["args"].(map[string]any)["mode"] != "r" {
		t.Fatalf("export line: %s", lines[0])
	}
}

func TestScanTimeRange(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, testConfig(dir))
	var times []int64
	for i := range 10 {
		r := testRecord(i)
		mustAppend(t, j, r)
		times = append(times, r.TimeUnixNs)
	}
	var got []uint64
	err := j.Scan(Query{From: time.Unix(0, times[3]), To: time.Unix(0, times[7])}, func(r *Record) bool {
		got = append(got, r.Seq)
		return true
	})
	j.Close()
	if err != nil || !slices.Equal(got, []uint64{4, 5, 6, 7}) {
		t.Fatalf("time range scan: %v %v", got, err)
	}
}

func TestGetIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 8192
	j := mustOpen(t, cfg)
	defer j.Close()
	add := func(from, to int) {
		for i := from; i < to; i++ {
			in := testRecord(i)
			in.Kind = KindIntent
			mustAppend(t, j, in)
			mustAppend(t, j, testRecord(i)) // same execution id
		}
	}
	add(0, 150)
	check := func(i int) {
		t.Helper()
		got, err := j.Get(testRecord(i).ExecutionID)
		if err != nil || len(got) != 2 || got[0].Kind != KindIntent || got[1].Kind != KindExecution ||
			got[1].Seq != got[0].Seq+1 || !sameRecord(&got[1], testRecord(i)) {
			t.Fatalf("Get(%d) = %d records, %v", i, len(got), err)
		}
	}
	for _, i := range []int{0, 1, 77, 149} {
		check(i)
	}
	if got, err := j.Get("exec-nope"); err != nil || got != nil {
		t.Fatalf("Get(missing) = %v, %v", got, err)
	}
	// Incremental: records committed after the index was built, while
	// other goroutines keep appending.
	done := make(chan struct{})
	go func() {
		defer close(done)
		add(150, 300)
	}()
	for i := 0; i < 150; i += 13 {
		check(i)
	}
	<-done
	for _, i := range []int{150, 151, 299} {
		check(i)
	}
	if segs, _ := listSegments(osFS{}, dir); len(segs) < 3 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
}

// TestCloseCommitsQueued: everything queued before Close is committed and
// its callback called with success.
func TestCloseCommitsQueued(t *testing.T) {
	for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
		dir := t.TempDir()
		cfg := testConfig(dir)
		cfg.Durability = mode
		j := mustOpen(t, cfg)
		const n = 300
		var ok atomic.Int64
		for i := range n {
			j.AppendAsync(testRecord(i), func(seq uint64, err error) {
				if err == nil && seq > 0 {
					ok.Add(1)
				}
			})
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if ok.Load() != n {
			t.Fatalf("mode %s: %d of %d callbacks succeeded before Close returned", mode, ok.Load(), n)
		}
		if rep := mustVerify(t, dir); rep.Records != n {
			t.Fatalf("mode %s: %d records after Close", mode, rep.Records)
		}
		st := j.Stats()
		if mode == DurabilityInterval && st.MaxUnsyncedRecords == 0 {
			t.Fatalf("interval mode: loss window not measured: %+v", st)
		}
	}
}

// TestAppendAllocs pins the allocations of an uncontended Append: the
// batch, its done channel and the queue slice (one batch per record here;
// under load they are shared by the whole batch).
func TestAppendAllocs(t *testing.T) {
	j := mustOpen(t, Config{Dir: t.TempDir(), Durability: DurabilityInterval})
	defer j.Close()
	r := testRecord(1)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 6 {
		t.Fatalf("Append allocates %.1f times per call, want <= 6", allocs)
	}
	t.Logf("%.1f allocs per uncontended Append", allocs)
}

// TestScanWhileAppending: a live Scan sees a consistent prefix while
// writers keep going.
func TestScanWhileAppending(t *testing.T) {
	for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
		dir := t.TempDir()
		cfg := testConfig(dir)
		cfg.SegmentSize = 8192
		cfg.Durability = mode
		j := mustOpen(t, cfg)
		done := make(chan struct{})
		go func() {
			defer close(done)
			appendConcurrent(t, j, 1500, 8)
		}()
		for range 20 {
			var last uint64
			err := j.Scan(Query{}, func(r *Record) bool {
				if r.Seq != last+1 {
					t.Errorf("scan: seq %d after %d", r.Seq, last)
					return false
				}
				last = r.Seq
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		<-done
		j.Close()
		mustVerify(t, dir)
	}
}

// TestSyncInIntervalMode: Sync makes interval-mode appends durable at once.
func TestSyncInIntervalMode(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(Config{Dir: dir, Durability: DurabilityInterval, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for range 3 {
		if _, err := j.Append(&Record{Kind: KindIntent, ExecutionID: "exec-x"}); err != nil {
			t.Fatal(err)
		}
	}
	if j.written.Load() == j.syncedRecs.Load() {
		t.Fatal("records were synced before Sync (SyncInterval is an hour)")
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	if j.written.Load() != j.syncedRecs.Load() {
		t.Fatal("Sync left records unsynced")
	}
}
