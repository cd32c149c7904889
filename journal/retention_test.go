package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// Retention tests: segments removed or archived by age and size, what is
// never removed, readers after a removal, damage around the manifest, and
// power loss at every operation of a pass.

// retentionConfig is memConfig with 4 KiB segments, retention as given,
// no periodic pass (only the one at Open; passes is signalled after each)
// and a clock the test can move.
func retentionConfig(m *memFS, rc RetentionConfig) (Config, *testClock, chan error) {
	cfg := memConfig(m)
	clock := newTestClock()
	cfg.Now = clock.Now
	cfg.SegmentSize = 4096
	cfg.Retention = rc
	cfg.afterTick = func(time.Duration) <-chan time.Time { return nil } // no periodic pass
	passes := make(chan error, 16)
	cfg.retained = func(_ retentionResult, err error) { passes <- err }
	return cfg, clock, passes
}

// fill appends records from..to-1 (testRecord(i) gets seq i+1 in a fresh journal).
func fill(t *testing.T, j *Journal, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		mustAppend(t, j, testRecord(i))
	}
}

// checkRecords checks that the journal holds exactly the records
// testRecord(first-1) .. testRecord(head-1) as seqs first..head.
func checkRecords(t *testing.T, fsys fileSystem, first, head uint64) {
	t.Helper()
	next := first
	err := scanDir(fsys, memDir, nil, Query{}, func(r *Record) bool {
		if r.Seq != next || !sameRecord(r, testRecord(int(r.Seq-1))) {
			t.Fatalf("record seq %d (%s), want seq %d", r.Seq, r.ExecutionID, next)
		}
		next++
		return true
	})
	if err != nil || next != head+1 {
		t.Fatalf("scan: up to seq %d, want %d: %v", next-1, head, err)
	}
}

func segIndexes(t *testing.T, fsys fileSystem, dir string) []uint64 {
	t.Helper()
	segs, err := listSegmentFiles(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, s := range segs {
		out = append(out, s.index)
	}
	return out
}

func TestRetentionMaxBytes(t *testing.T) {
	m := newMemFS()
	cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 5 * 4096})
	j := mustOpen(t, cfg)
	<-passes
	fill(t, j, 0, 300)
	before := segIndexes(t, m, memDir)
	res, err := j.retain()
	if err != nil {
		t.Fatal(err)
	}
	after := segIndexes(t, m, memDir)
	if len(before) < 10 || res.segments != len(before)-len(after) || after[0] != res.first || res.first == 0 {
		t.Fatalf("segments %v -> %v, pass %+v", before, after, res)
	}
	var total int64
	for _, idx := range after {
		size, _ := m.Stat(filepath.Join(memDir, segmentName(idx)))
		total += size
	}
	if total > cfg.Retention.MaxBytes {
		t.Fatalf("%d bytes of segments kept, bound %d", total, cfg.Retention.MaxBytes)
	}
	st := j.Stats()
	if st.SegmentsRemoved != int64(res.segments) || st.BytesReclaimed != res.bytes || st.BytesReclaimed != int64(res.segments)*4096 || st.FirstSeq <= 1 {
		t.Fatalf("stats %+v, pass %+v", st, res)
	}
	if _, err := m.Stat(filepath.Join(memDir, segmentName(0))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment 0: %v", err)
	}
	head, _ := j.Head()
	checkRecords(t, m, st.FirstSeq, head)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyDir(m, memDir, "")
	if err != nil || rep.Retention == nil || rep.Retention.FirstSeq != st.FirstSeq || rep.Retention.AnchorSeq != st.FirstSeq-1 ||
		rep.Retention.Removed != int64(res.first) || rep.FirstSeq != st.FirstSeq || rep.HeadSeq != head {
		t.Fatalf("verify: %+v, retention %+v: %v", rep, rep.Retention, err)
	}
	// Reopen: the journal starts where retention left it, and goes on.
	cfg.Retention = RetentionConfig{}
	j = mustOpen(t, cfg)
	if r := j.Recovery(); r.FirstSeq != st.FirstSeq || r.Retention == nil || r.Retention.FirstSegment != res.first || r.HeadSeq != head {
		t.Fatalf("recovery %+v", r)
	}
	fill(t, j, int(head), int(head)+20)
	j.Close()
	checkRecords(t, m, st.FirstSeq, head+20)
	if _, err := verifyDir(m, memDir, ""); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionMaxAge runs the retention goroutine on a fake clock: the
// segments whose newest record is older than MaxAge go, one period at a
// time; the segment that also holds newer records stays.
func TestRetentionMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemFS()
		cfg := memConfig(m)
		cfg.Now = time.Now // the bubble's clock
		cfg.SegmentSize = 4096
		cfg.Retention = RetentionConfig{MaxAge: time.Hour, Every: time.Minute}
		j := mustOpen(t, cfg)
		fill(t, j, 0, 100)
		time.Sleep(30 * time.Minute)
		fill(t, j, 100, 200)
		time.Sleep(15 * time.Minute)
		synctest.Wait()
		if st := j.Stats(); st.SegmentsRemoved != 0 || st.RetentionPasses < 40 {
			t.Fatalf("removed before anything was an hour old: %+v", st)
		}
		time.Sleep(20 * time.Minute) // the first hundred are 65 minutes old
		synctest.Wait()
		st := j.Stats()
		if st.SegmentsRemoved == 0 || st.FirstSeq > 101 {
			t.Fatalf("after an hour: %+v", st)
		}
		checkRecords(t, m, st.FirstSeq, 200)
		time.Sleep(time.Hour)
		synctest.Wait()
		// Everything is old now; only the active segment stays.
		if segs := segIndexes(t, m, memDir); len(segs) != 1 {
			t.Fatalf("segments %v", segs)
		}
		st = j.Stats()
		checkRecords(t, m, st.FirstSeq, 200)
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := verifyDir(m, memDir, ""); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRetentionKeeps: MinAge, an intent without an outcome and the last
// checkpoint's segment each keep their segment, whatever MaxBytes says.
func TestRetentionKeeps(t *testing.T) {
	t.Run("min-age", func(t *testing.T) {
		m := newMemFS()
		cfg, clock, passes := retentionConfig(m, RetentionConfig{MaxBytes: 1, MinAge: time.Hour})
		j := mustOpen(t, cfg)
		defer j.Close()
		<-passes
		fill(t, j, 0, 100)
		if res, err := j.retain(); err != nil || res.segments != 0 {
			t.Fatalf("removed records younger than MinAge: %+v, %v", res, err)
		}
		clock.advance(2 * time.Hour)
		if res, err := j.retain(); err != nil || res.segments == 0 {
			t.Fatalf("nothing removed once old: %+v, %v", res, err)
		}
		if segs := segIndexes(t, m, memDir); len(segs) != 1 {
			t.Fatalf("segments %v", segs)
		}
	})
	t.Run("open-intent", func(t *testing.T) {
		m := newMemFS()
		cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 1})
		j := mustOpen(t, cfg)
		defer j.Close()
		<-passes
		fill(t, j, 0, 30)
		intent := testRecord(30)
		intent.Kind, intent.ExecutionID = KindIntent, "running"
		seq := mustAppend(t, j, intent)
		fill(t, j, 31, 150)
		res, err := j.retain()
		if err != nil || res.segments == 0 || j.Stats().FirstSeq > seq {
			t.Fatalf("pass %+v, first seq %d, intent seq %d: %v", res, j.Stats().FirstSeq, seq, err)
		}
		if recs, err := j.Get("running"); err != nil || len(recs) != 1 {
			t.Fatalf("the open intent: %v, %v", recs, err)
		}
		outcome := testRecord(150)
		outcome.Kind, outcome.ExecutionID = KindOutcome, "running"
		mustAppend(t, j, outcome)
		if res, err := j.retain(); err != nil || res.segments == 0 || j.Stats().FirstSeq <= seq {
			t.Fatalf("after the outcome: %+v, first seq %d: %v", res, j.Stats().FirstSeq, err)
		}
	})
	t.Run("checkpoint", func(t *testing.T) {
		m := newMemFS()
		cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 1})
		cfg.CheckpointEvery = 40
		j := mustOpen(t, cfg)
		<-passes
		fill(t, j, 0, 150) // single-record blocks: a checkpoint every 40
		if _, err := j.retain(); err != nil {
			t.Fatal(err)
		}
		cp, err := readCheckpoint(m, memDir)
		if err != nil {
			t.Fatal(err)
		}
		segs := segIndexes(t, m, memDir)
		if segs[0] != cp.seg || cp.seg == segs[len(segs)-1] {
			t.Fatalf("segments %v, checkpoint in %d", segs, cp.seg)
		}
		// A process crash now: Open starts from the checkpoint.
		c := m.lostWritebackClone()
		j.Close()
		cfg.fs = c
		j = mustOpen(t, cfg)
		defer j.Close()
		if r := j.Recovery(); !r.FromCheckpoint || r.Retention == nil || r.HeadSeq != 150 {
			t.Fatalf("recovery %+v", r)
		}
	})
}

// TestRetentionReaders: lookups and scans of removed records answer "not
// found" — before and after the Get index was built — and never fail.
func TestRetentionReaders(t *testing.T) {
	m := newMemFS()
	cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 3 * 4096})
	j := mustOpen(t, cfg)
	defer j.Close()
	<-passes
	fill(t, j, 0, 200)
	if recs, err := j.Get(testRecord(0).ExecutionID); err != nil || len(recs) != 1 {
		t.Fatalf("before: %v, %v", recs, err)
	}
	if _, err := j.retain(); err != nil {
		t.Fatal(err)
	}
	first := j.Stats().FirstSeq
	if first < 50 {
		t.Fatalf("first seq %d", first)
	}
	for _, i := range []int{0, 1, int(first) - 2} {
		if recs, err := j.Get(testRecord(i).ExecutionID); err != nil || recs != nil {
			t.Fatalf("removed seq %d: %v, %v", i+1, recs, err)
		}
	}
	if recs, err := j.Get(testRecord(int(first) - 1).ExecutionID); err != nil || len(recs) != 1 || recs[0].Seq != first {
		t.Fatalf("first kept: %v, %v", recs, err)
	}
	n := 0
	if err := j.Scan(Query{}, func(r *Record) bool { n++; return true }); err != nil || n != 200-int(first)+1 {
		t.Fatalf("scan: %d records, %v", n, err)
	}
	// A segment that disappears under a lookup (after the index was
	// pruned): not found, no error.
	fill(t, j, 200, 260)
	if recs, err := j.Get(testRecord(int(first) + 5).ExecutionID); err != nil || len(recs) != 1 {
		t.Fatalf("%v, %v", recs, err)
	}
	segs := segIndexes(t, m, memDir)
	if err := m.Remove(filepath.Join(memDir, segmentName(segs[0]))); err != nil {
		t.Fatal(err)
	}
	calls := 0
	base := func() uint64 { // the pass moves the base after the lookup started
		if calls++; calls == 1 {
			return segs[0]
		}
		return segs[0] + 1
	}
	j.index.mu.Lock()
	recs, err := j.index.lookup(m, memDir, testRecord(int(first)+5).ExecutionID, base)
	j.index.mu.Unlock()
	if err != nil || recs != nil {
		t.Fatalf("lookup of a segment removed under it: %v, %v", recs, err)
	}
}

// TestRetentionConcurrentReaders removes segments while scans and lookups
// run on the real file system (segments mapped, removed while mapped).
func TestRetentionConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 4096
	cfg.Retention = RetentionConfig{MaxBytes: 4 * 4096}
	cfg.Durability = DurabilityInterval // fast appends; a roll syncs the segment it seals
	cfg.afterTick = func(time.Duration) <-chan time.Time { return nil }
	j := mustOpen(t, cfg)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var appended atomic.Int64
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if _, err := j.Append(testRecord(i)); err != nil {
				t.Error(err)
				return
			}
			appended.Store(int64(i + 1))
		}
	})
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				prev := uint64(0)
				err := j.Scan(Query{}, func(r *Record) bool {
					// A jump is records removed while the scan ran.
					if r.Seq <= prev || !sameRecord(r, testRecord(int(r.Seq-1))) {
						t.Errorf("scan: seq %d after %d", r.Seq, prev)
					}
					prev = r.Seq
					return true
				})
				if err != nil {
					t.Errorf("scan: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			n := max(int(appended.Load()), 1)
			if _, err := j.Get(testRecord(i % n).ExecutionID); err != nil {
				t.Errorf("get: %v", err)
				return
			}
		}
	})
	for appended.Load() < 1500 {
		if _, err := j.retain(); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	st := j.Stats()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if st.SegmentsRemoved == 0 {
		t.Fatalf("nothing removed: %+v", st)
	}
	if rep := mustVerify(t, dir); rep.Retention == nil || rep.FirstSeq != st.FirstSeq {
		t.Fatalf("verify %+v (first seq %d)", rep, st.FirstSeq)
	}
}

// wholeChain copies the archive's segments and the journal's into one new
// directory, without the manifest, and verifies them as one journal: the
// archived segments and what remains are one unbroken chain from the
// genesis.
func wholeChain(t *testing.T, fsys fileSystem, archive string) VerifyReport {
	t.Helper()
	whole := "/data/whole"
	fsys.MkdirAll(whole, 0o700)
	for _, d := range []string{archive, memDir} {
		segs, err := listSegmentFiles(fsys, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			data, err := readFile(fsys, s.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeFile(fsys, filepath.Join(whole, s.name), data, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := verifyDir(fsys, whole, "")
	if err != nil || rep.Retention != nil || rep.FirstSeq != 1 {
		t.Fatalf("archive + journal as one chain: %+v: %v", rep, err)
	}
	return rep
}

func TestRetentionArchive(t *testing.T) {
	m := newMemFS()
	archive := "/data/journal-archive"
	cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 3 * 4096, ArchiveDir: archive})
	j := mustOpen(t, cfg)
	<-passes
	fill(t, j, 0, 200)
	res, err := j.retain()
	if err != nil || res.segments == 0 {
		t.Fatalf("%+v: %v", res, err)
	}
	if got := segIndexes(t, m, archive); len(got) != res.segments || got[0] != 0 || got[len(got)-1] != res.first-1 {
		t.Fatalf("archive holds %v, pass %+v", got, res)
	}
	if st := j.Stats(); st.SegmentsArchived != int64(res.segments) || st.SegmentsRemoved != 0 {
		t.Fatalf("stats %+v", st)
	}
	j.Close()
	rep, err := verifyDir(m, memDir, "")
	if err != nil || rep.Retention == nil || rep.Retention.Archived != int64(res.first) || rep.Retention.Removed != 0 {
		t.Fatalf("verify %+v: %v", rep.Retention, err)
	}
	if whole := wholeChain(t, m, archive); whole.HeadSeq != rep.HeadSeq || whole.HeadHash != rep.HeadHash {
		t.Fatalf("whole chain head %d %s, journal %d %s", whole.HeadSeq, whole.HeadHash, rep.HeadSeq, rep.HeadHash)
	}
	// Verify held to a head recorded before retention: the anchor hash,
	// a seq it removed, and a hash it removed (refused, naming retention).
	a := rep.Retention
	if _, err := verifyDir(m, memDir, a.AnchorHash); err != nil {
		t.Fatalf("anchored at the retention anchor: %v", err)
	}
	if _, err := verifyDir(m, memDir, "3"); err != nil {
		t.Fatalf("anchored at a removed seq: %v", err)
	}
	seg1, _ := readFile(m, filepath.Join(archive, segmentName(1)))
	h, _ := decodeSegHeader(seg1)
	if _, err := verifyDir(m, memDir, fmt.Sprintf("%x", h.Prev)); err == nil || !strings.Contains(err.Error(), "retention removed") {
		t.Fatalf("anchored at a removed block's hash: %v", err)
	}
}

// TestRetentionArchiveRefusesOverwrite: a different file of the same name
// in the archive (another journal's) is not overwritten.
func TestRetentionArchiveRefusesOverwrite(t *testing.T) {
	m := newMemFS()
	archive := "/data/journal-archive"
	m.MkdirAll(archive, 0o700)
	writeFile(m, filepath.Join(archive, segmentName(0)), bytes.Repeat([]byte{7}, 4096), true)
	cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 3 * 4096, ArchiveDir: archive})
	j := mustOpen(t, cfg)
	defer j.Close()
	<-passes
	fill(t, j, 0, 200)
	if _, err := j.retain(); err == nil || !strings.Contains(err.Error(), "different") {
		t.Fatalf("retain: %v", err)
	}
	if data, _ := readFile(m, filepath.Join(archive, segmentName(0))); data[0] != 7 {
		t.Fatal("overwritten")
	}
	// Found before the manifest was written: nothing changed.
	if st := j.Stats(); st.RetentionFailed || st.FirstSeq != 1 || st.RetentionErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
	if segs := segIndexes(t, m, memDir); segs[0] != 0 {
		t.Fatalf("segments %v", segs)
	}
	fill(t, j, 200, 210) // the journal itself goes on
}

// TestRetentionFailureSticky: a failed manifest sync stops retention for
// the life of the process; nothing was removed, appends go on.
func TestRetentionFailureSticky(t *testing.T) {
	m := newMemFS()
	var armed atomic.Bool
	var syncs atomic.Int64
	efs := &errorFS{fileSystem: m, inject: func(op, path string) error {
		if armed.Load() && op == "sync" && filepath.Base(path) == manifestTmp {
			syncs.Add(1)
			return errInjected
		}
		return nil
	}}
	cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 1})
	cfg.fs = efs
	j := mustOpen(t, cfg)
	defer j.Close()
	<-passes
	fill(t, j, 0, 100)
	armed.Store(true)
	before := segIndexes(t, m, memDir)
	if _, err := j.retain(); !errors.Is(err, errInjected) {
		t.Fatalf("retain: %v", err)
	}
	if _, err := j.retain(); !errors.Is(err, errInjected) || syncs.Load() != 1 {
		t.Fatalf("second pass: %v (%d syncs)", err, syncs.Load())
	}
	if after := segIndexes(t, m, memDir); len(after) != len(before) {
		t.Fatalf("segments %v -> %v", before, after)
	}
	if st := j.Stats(); !st.RetentionFailed || st.Failed || !j.Ready() {
		t.Fatalf("stats %+v", st)
	}
	fill(t, j, 100, 110)
}

func TestRetentionConfig(t *testing.T) {
	for _, rc := range []RetentionConfig{{MaxAge: -1}, {MaxBytes: -1}, {MinAge: -1}, {MaxBytes: 1, ArchiveDir: memDir + "/"}} {
		cfg := memConfig(newMemFS())
		cfg.Retention = rc
		if _, err := Open(cfg); err == nil {
			t.Fatalf("Open accepted %+v", rc)
		}
	}
	c := (Config{Dir: "x", Retention: RetentionConfig{MaxAge: time.Minute, MinAge: time.Hour}}).withDefaults()
	if c.Retention.MaxAge != time.Hour || c.Retention.Every != time.Minute {
		t.Fatalf("%+v", c.Retention)
	}
	if (RetentionConfig{MinAge: time.Hour}).enabled() {
		t.Fatal("MinAge alone enables retention")
	}
}

// retainedJournal builds a journal on disk and lets retention remove its
// first segments, then closes it.
func retainedJournal(t *testing.T) (Config, RetentionInfo) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 4096
	cfg.Retention = RetentionConfig{MaxBytes: 4 * 4096}
	cfg.afterTick = func(time.Duration) <-chan time.Time { return nil }
	j := mustOpen(t, cfg)
	fill(t, j, 0, 200)
	if _, err := j.retain(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir)
	if rep.Retention == nil || rep.Retention.FirstSegment < 3 {
		t.Fatalf("retention %+v", rep.Retention)
	}
	cfg.Retention = RetentionConfig{}
	return cfg, *rep.Retention
}

// TestDamageOldestSegmentDeletedByHand: after retention, deleting the
// first remaining segment without updating the manifest is damage.
func TestDamageOldestSegmentDeletedByHand(t *testing.T) {
	cfg, ri := retainedJournal(t)
	os.Remove(filepath.Join(cfg.Dir, segmentName(ri.FirstSegment)))
	wantRefused(t, cfg, "missing", segmentName(ri.FirstSegment), "not by retention")
}

// TestDamageRetentionManifestDeleted: without the manifest, a journal
// that does not start at segment 0 is missing its first segments.
func TestDamageRetentionManifestDeleted(t *testing.T) {
	cfg, ri := retainedJournal(t)
	os.Remove(filepath.Join(cfg.Dir, manifestName))
	wantRefused(t, cfg, "missing", fmt.Sprintf("segments 0..%d are gone", ri.FirstSegment-1))
}

func TestDamageRetentionManifestCorrupt(t *testing.T) {
	cfg, _ := retainedJournal(t)
	path := filepath.Join(cfg.Dir, manifestName)
	data, _ := os.ReadFile(path)
	data[20] ^= 1
	os.WriteFile(path, data, 0o600)
	wantRefused(t, cfg, "retention manifest", "crc")
}

// TestDamageRetentionAnchor: a manifest (valid CRC) whose anchor is not
// the first segment's prev hash: the chain does not continue from it.
func TestDamageRetentionAnchor(t *testing.T) {
	cfg, _ := retainedJournal(t)
	m, err := readManifest(osFS{}, cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	m.anchor[0] ^= 1
	if err := writeManifest(osFS{}, cfg.Dir, m); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, cfg, "chain broken", "anchor")
}

// TestDamageRetentionLaterSegmentDeletedByHand: a gap after the
// manifest's first segment is damage too.
func TestDamageRetentionLaterSegmentDeletedByHand(t *testing.T) {
	cfg, ri := retainedJournal(t)
	os.Remove(filepath.Join(cfg.Dir, segmentName(ri.FirstSegment+1)))
	wantRefused(t, cfg, "missing", segmentName(ri.FirstSegment+1))
}

// retentionBase builds, on a memFS, a closed journal of several segments
// whose records are all durable, and returns it with its head.
func retentionBase(t *testing.T) (*memFS, uint64) {
	t.Helper()
	m := newMemFS()
	cfg := memConfig(m)
	cfg.SegmentSize = 4096
	cfg.CheckpointEvery = -1
	j := mustOpen(t, cfg)
	fill(t, j, 0, 100)
	head, _ := j.Head()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return m.crashClone(nil, 0), head
}

// checkRetentionCrash opens the crash image c (retention off: recovery
// alone) and checks the journal: it opens, every record from its first
// seq to head is there, it verifies, no segment before its first is left,
// and (archive mode) the archive holds every record before it, one chain
// with the journal.
func checkRetentionCrash(t *testing.T, c *memFS, head uint64, archive, what string) {
	t.Helper()
	cfg := memConfig(c)
	cfg.SegmentSize = 4096
	j, err := Open(cfg)
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	r := j.Recovery()
	if err := j.Close(); err != nil {
		t.Fatalf("%s: Close: %v", what, err)
	}
	if r.HeadSeq != head {
		t.Fatalf("%s: head %d, want %d", what, r.HeadSeq, head)
	}
	checkRecords(t, c, r.FirstSeq, head)
	rep, err := verifyDir(c, memDir, "")
	if err != nil {
		t.Fatalf("%s: Verify: %v", what, err)
	}
	if rep.Retention != nil && rep.Retention.PendingSegments != 0 {
		t.Fatalf("%s: %d segments left pending after Open", what, rep.Retention.PendingSegments)
	}
	if archive != "" && r.FirstSeq > 1 {
		if whole := wholeChain(t, c, archive); whole.HeadSeq != head {
			t.Fatalf("%s: archive and journal reach seq %d, want %d", what, whole.HeadSeq, head)
		}
	}
}

// TestPowerLossRetentionEveryOp cuts the power after every file-system
// operation of an Open whose retention pass removes (or archives) most
// segments, and of the Close after it, keeping none or a random half of
// the unsynced pages and directory operations; then, for a cut that left
// a pass unfinished, after every operation of the Open that finishes it.
func TestPowerLossRetentionEveryOp(t *testing.T) {
	base, head := retentionBase(t)
	for _, archive := range []string{"", "/data/journal-archive"} {
		rc := RetentionConfig{MaxBytes: 3 * 4096, ArchiveDir: archive}
		run := func(k int, keep float64) (clone *memFS, ops int) {
			m := base.crashClone(nil, 0)
			m.randomDirOps = true
			rng := rand.New(rand.NewPCG(uint64(k)*31+uint64(keep*10), 5))
			m.hook = func(op, path string) {
				if ops++; ops == k {
					clone = m.crashCloneLocked(rng, keep)
				}
			}
			cfg, _, passes := retentionConfig(m, rc)
			j := mustOpen(t, cfg)
			if err := <-passes; err != nil {
				t.Fatalf("pass: %v", err)
			}
			if st := j.Stats(); st.SegmentsRemoved+st.SegmentsArchived < 3 {
				t.Fatalf("the pass removed %+v", st)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			m.mu.Lock()
			m.hook = nil
			if clone == nil {
				clone = m.crashCloneLocked(rng, keep)
			}
			m.mu.Unlock()
			return clone, ops
		}
		_, total := run(-1, 0)
		t.Logf("archive %q: %d operations", archive, total)
		for k := 1; k <= total+1; k++ {
			for _, keep := range []float64{0, 0.5} {
				what := fmt.Sprintf("archive %q, cut after op %d of %d, keep %v", archive, k, total, keep)
				c, _ := run(k, keep)
				// Once more, cutting the Open that finishes the pass.
				if m, _ := readManifest(c, memDir); m != nil {
					if _, pending, _ := splitPending(c, memDir, m); len(pending) > 0 {
						checkFinishCrashes(t, c, head, archive, what)
					}
				}
				checkRetentionCrash(t, c, head, archive, what)
			}
		}
	}
}

// checkFinishCrashes cuts the power after every operation of the Open
// that finishes a pass cut short on c.
func checkFinishCrashes(t *testing.T, c *memFS, head uint64, archive, what string) {
	t.Helper()
	count := func(k int) (*memFS, int) {
		m := c.crashClone(nil, 0)
		m.randomDirOps = true
		var clone *memFS
		ops := 0
		rng := rand.New(rand.NewPCG(uint64(k)+7, 6))
		m.hook = func(op, path string) {
			if ops++; ops == k {
				clone = m.crashCloneLocked(rng, 0.5)
			}
		}
		cfg := memConfig(m)
		cfg.SegmentSize = 4096
		j := mustOpen(t, cfg)
		j.Close()
		m.mu.Lock()
		m.hook = nil
		m.mu.Unlock()
		return clone, ops
	}
	_, total := count(-1)
	for k := 1; k <= total; k++ {
		if clone, _ := count(k); clone != nil {
			checkRetentionCrash(t, clone, head, archive, fmt.Sprintf("%s; then cut after op %d of %d of the Open finishing it", what, k, total))
		}
	}
}

// TestPowerLossRetentionAfterPass: once a pass returns, its removals are
// durable: a power loss brings no removed segment back.
func TestPowerLossRetentionAfterPass(t *testing.T) {
	for _, archive := range []string{"", "/data/journal-archive"} {
		base, head := retentionBase(t)
		cfg, _, passes := retentionConfig(base, RetentionConfig{MaxBytes: 3 * 4096, ArchiveDir: archive})
		j := mustOpen(t, cfg)
		<-passes
		c := base.crashClone(nil, 0)
		j.Close()
		m, err := readManifest(c, memDir)
		if err != nil || m == nil {
			t.Fatalf("archive %q: manifest after a power loss: %v, %v", archive, m, err)
		}
		if _, pending, _ := splitPending(c, memDir, m); len(pending) != 0 {
			t.Fatalf("archive %q: %d removed segments came back", archive, len(pending))
		}
		checkRetentionCrash(t, c, head, archive, "after a pass")
	}
}

// TestPowerLossRetentionArchiveCopy: across file systems (rename fails
// with EXDEV) a segment is copied into the archive, synced, and only then
// removed; a power loss after the pass loses nothing.
func TestPowerLossRetentionArchiveCopy(t *testing.T) {
	base, head := retentionBase(t)
	archive := "/data/journal-archive"
	var copies atomic.Int64
	efs := &errorFS{fileSystem: base, inject: func(op, path string) error {
		// A segment's rename into the archive fails; the copy's own
		// rename (from a .seg.tmp name) into place is within the archive.
		if op == "rename" && filepath.Dir(path) == archive && filepath.Ext(path) == segmentExt {
			if copies.Add(1)%2 == 1 {
				return &os.LinkError{Op: "rename", New: path, Err: syscall.EXDEV}
			}
		}
		return nil
	}}
	cfg, _, passes := retentionConfig(base, RetentionConfig{MaxBytes: 3 * 4096, ArchiveDir: archive})
	cfg.fs = efs
	j := mustOpen(t, cfg)
	if err := <-passes; err != nil {
		t.Fatal(err)
	}
	st := j.Stats()
	c := base.crashClone(nil, 0)
	j.Close()
	if st.SegmentsArchived < 3 || copies.Load() != 2*st.SegmentsArchived {
		t.Fatalf("stats %+v, %d renames", st, copies.Load())
	}
	checkRetentionCrash(t, c, head, archive, "after a pass that copied")
}

// TestRetentionRemoveRetried: a failed removal (a segment held open, on
// Windows) is not sticky: the segment waits before the manifest's first
// one, and the next pass removes it.
func TestRetentionRemoveRetried(t *testing.T) {
	m := newMemFS()
	var armed atomic.Bool
	efs := &errorFS{fileSystem: m, inject: func(op, path string) error {
		if armed.Load() && op == "remove" && filepath.Base(path) == segmentName(1) {
			return errInjected
		}
		return nil
	}}
	cfg, _, passes := retentionConfig(m, RetentionConfig{MaxBytes: 3 * 4096})
	cfg.fs = efs
	j := mustOpen(t, cfg)
	defer j.Close()
	<-passes
	fill(t, j, 0, 100)
	armed.Store(true)
	if _, err := j.retain(); !errors.Is(err, errInjected) {
		t.Fatalf("retain: %v", err)
	}
	st := j.Stats()
	if st.RetentionFailed || st.SegmentsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	if rep, err := verifyDir(m, memDir, ""); err != nil || rep.Retention.PendingSegments == 0 {
		t.Fatalf("verify with a segment left behind: %+v: %v", rep.Retention, err)
	}
	armed.Store(false)
	if _, err := j.retain(); err != nil {
		t.Fatal(err)
	}
	if segs := segIndexes(t, m, memDir); segs[0] != j.base.Load() {
		t.Fatalf("segments %v, first %d", segs, j.base.Load())
	}
}
