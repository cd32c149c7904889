package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// One test per damage case of the table in doc.go. Each builds a journal,
// closes it cleanly (a durable checkpoint), damages it and checks that
// Open and Verify refuse with an error naming the damage, and that new
// appends never reuse an acknowledged seq (Open does not start).

// closedJournal writes n records in single-record blocks over several
// segments, closes cleanly and returns the dir and the segment names.
func closedJournal(t *testing.T, n int) (string, Config, []segInfo) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 4096
	j := mustOpen(t, cfg)
	for i := range n {
		mustAppend(t, j, testRecord(i))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(osFS{}, dir)
	if err != nil || len(segs) < 3 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	return dir, cfg, segs
}

// wantRefused checks that Open and Verify both fail with ErrCorrupt and
// that the message mentions each of words.
func wantRefused(t *testing.T, cfg Config, words ...string) {
	t.Helper()
	j, err := Open(cfg)
	if err == nil {
		rep := j.Recovery()
		j.Close()
		t.Fatalf("Open accepted the damaged journal: %+v", rep)
	}
	if !IsCorruption(err) {
		t.Fatalf("Open: %v (want ErrCorrupt)", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("Open error does not name %q: %v", w, err)
		}
	}
	if _, verr := Verify(cfg.Dir); !IsCorruption(verr) {
		t.Fatalf("Verify: %v (Open said %v)", verr, err)
	}
}

func TestDamageDeletedLastSegment(t *testing.T) {
	_, cfg, segs := closedJournal(t, 60)
	last := segs[len(segs)-1]
	os.Remove(last.path)
	wantRefused(t, cfg, last.name, "missing", "checkpoint")
}

func TestDamageTruncatedAtBlockBoundary(t *testing.T) {
	dir, cfg, segs := closedJournal(t, 60)
	last := segs[len(segs)-1]
	offs, _ := blockOffsets(t, last.path)
	os.Truncate(last.path, offs[len(offs)-1])
	_ = dir
	wantRefused(t, cfg, last.name, "ends at offset", "checkpoint")
}

func TestDamageTruncatedMidBlock(t *testing.T) {
	_, cfg, segs := closedJournal(t, 60)
	last := segs[len(segs)-1]
	offs, end := blockOffsets(t, last.path)
	os.Truncate(last.path, (offs[len(offs)-1]+end)/2)
	wantRefused(t, cfg, last.name, "checkpoint")
}

func TestDamageZeroedLastBlocks(t *testing.T) {
	_, cfg, segs := closedJournal(t, 60)
	last := segs[len(segs)-1]
	offs, end := blockOffsets(t, last.path)
	data, _ := os.ReadFile(last.path)
	clear(data[offs[len(offs)-2]:end])
	os.WriteFile(last.path, data, 0o600)
	wantRefused(t, cfg, last.name, "checkpoint")
}

// TestDamageZeroedMiddleBlock: a zeroed block with valid blocks after it
// is refused even without a checkpoint: the later blocks record that the
// segment was synced past it.
func TestDamageZeroedMiddleBlock(t *testing.T) {
	dir, cfg, segs := closedJournal(t, 60)
	os.Remove(filepath.Join(dir, checkpointName))
	last := segs[len(segs)-1]
	offs, _ := blockOffsets(t, last.path)
	if len(offs) < 3 {
		t.Fatalf("%d blocks in the last segment", len(offs))
	}
	data, _ := os.ReadFile(last.path)
	clear(data[offs[1]:offs[2]])
	os.WriteFile(last.path, data, 0o600)
	wantRefused(t, cfg, last.name, "records this segment durable")
}

func TestDamageEmptySegment(t *testing.T) {
	_, cfg, segs := closedJournal(t, 60)
	last := segs[len(segs)-1]
	os.Truncate(last.path, 0)
	wantRefused(t, cfg, last.name, "empty segment")
}

func TestDamageMissingSegment0(t *testing.T) {
	_, cfg, segs := closedJournal(t, 60)
	os.Remove(segs[0].path)
	wantRefused(t, cfg, segmentName(0), "missing")
}

func TestDamageLeadingSegmentsGone(t *testing.T) {
	_, cfg, segs := closedJournal(t, 60)
	os.Remove(segs[0].path)
	os.Remove(segs[1].path)
	wantRefused(t, cfg, "missing", "segments 0..1 are gone")
}

func TestDamageCheckpointAheadOfData(t *testing.T) {
	dir, cfg, _ := closedJournal(t, 60)
	longer := copyDir(t, dir)
	j := mustOpen(t, testConfig(longer))
	for i := range 20 {
		mustAppend(t, j, testRecord(100+i))
	}
	j.Close()
	ck, _ := os.ReadFile(filepath.Join(longer, checkpointName))
	os.WriteFile(filepath.Join(dir, checkpointName), ck, 0o600)
	wantRefused(t, cfg, "checkpoint")
}

// TestDamageCheckpointOfAnotherJournal: a checkpoint pasted from another
// journal (another genesis) is refused.
func TestDamageCheckpointOfAnotherJournal(t *testing.T) {
	dir, cfg, _ := closedJournal(t, 60)
	other := t.TempDir()
	ocfg := testConfig(other)
	ocfg.SegmentSize = 4096
	ocfg.rand = bytes.NewReader(bytes.Repeat([]byte{7}, 32))
	j := mustOpen(t, ocfg)
	for i := range 5 {
		mustAppend(t, j, testRecord(i))
	}
	j.Close()
	ck, _ := os.ReadFile(filepath.Join(other, checkpointName))
	os.WriteFile(filepath.Join(dir, checkpointName), ck, 0o600)
	wantRefused(t, cfg, "checkpoint")
}

// TestDamageZeroRunThenValidData: a run of zeros longer than any block
// (5 MiB) with valid blocks after it: Open and Verify agree — refused,
// since the later blocks vouch for the zeroed range.
func TestDamageZeroRunThenValidData(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 16 << 20
	cfg.Codec = CodecNone
	cfg.CheckpointEvery = -1
	j := mustOpen(t, cfg)
	for i := range 120 {
		r := testRecord(i)
		r.Result = bytes.Repeat([]byte{'x'}, 64<<10)
		mustAppend(t, j, r)
	}
	j.Close()
	os.Remove(filepath.Join(dir, checkpointName))
	segs, _ := listSegments(osFS{}, dir)
	last := segs[len(segs)-1]
	offs, end := blockOffsets(t, last.path)
	data, _ := os.ReadFile(last.path)
	from := offs[1]
	to := from + 5<<20
	if to >= end {
		t.Fatalf("segment too short: %d", end)
	}
	clear(data[from:to])
	os.WriteFile(last.path, data, 0o600)
	wantRefused(t, cfg, "non-zero bytes")
	rep, _ := Verify(dir)
	if rep.Failure == nil || rep.Failure.Offset != from {
		t.Fatalf("Verify: failure %+v, want offset %d", rep.Failure, from)
	}
}

// TestExpectHead: VerifyAnchored holds the journal to a head recorded
// outside it; a truncation that leaves a valid journal fails it.
func TestExpectHead(t *testing.T) {
	dir, _, segs := closedJournal(t, 60)
	j := mustOpen(t, testConfig(dir))
	seq, hash := j.Head()
	j.Close()
	if seq != 60 || len(hash) != 64 {
		t.Fatalf("Head() = %d %q", seq, hash)
	}
	for _, a := range []string{"60", hash, "1"} {
		if _, err := VerifyAnchored(dir, a); err != nil {
			t.Fatalf("anchor %s: %v", a, err)
		}
	}
	// Remove the last segment and the checkpoint: the rest verifies, but
	// not against the anchor.
	os.Remove(segs[len(segs)-1].path)
	os.Remove(filepath.Join(dir, checkpointName))
	if _, err := Verify(dir); err != nil {
		t.Fatalf("Verify of the shorter journal: %v", err)
	}
	for _, a := range []string{"60", hash} {
		if _, err := VerifyAnchored(dir, a); !IsCorruption(err) {
			t.Fatalf("anchor %s after truncation: %v", a, err)
		}
	}
	if _, err := VerifyAnchored(dir, "zz"); err == nil || IsCorruption(err) {
		t.Fatalf("bad anchor: %v", err)
	}
}

// TestRepair: repair copies the journal aside, cuts at the last valid
// block, says what it dropped, and the journal opens again.
func TestRepair(t *testing.T) {
	dir, cfg, segs := closedJournal(t, 60)
	// Zero a block in the middle of the second segment: everything after
	// it is refused by Open.
	mid := segs[1]
	offs, _ := blockOffsets(t, mid.path)
	data, _ := os.ReadFile(mid.path)
	clear(data[offs[1]:offs[2]])
	os.WriteFile(mid.path, data, 0o600)
	// Open trusts the checkpoint past the damage (it does not reread what
	// the checkpoint covers); Verify reads everything and refuses.
	if _, err := Verify(dir); !IsCorruption(err) {
		t.Fatalf("Verify: %v", err)
	}
	backup := filepath.Join(t.TempDir(), "copy")
	rep, err := Repair(dir, RepairOptions{Backup: backup})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(backup); !IsCorruption(err) { // the copy is the damaged journal itself
		t.Fatalf("Verify of the backup: %v", err)
	}
	if rep.CutSegment != mid.name || rep.CutOffset != offs[1] || len(rep.RemovedSegments) != len(segs)-2 ||
		!rep.RemovedCheckpoint || rep.Cause == nil || rep.DroppedBytes == 0 {
		t.Fatalf("repair report %+v", rep)
	}
	v := mustVerify(t, dir)
	if v.HeadSeq != rep.HeadSeq || v.HeadHash != rep.HeadHash || rep.DroppedFromSeq != rep.HeadSeq+1 {
		t.Fatalf("after repair: verify %+v, repair %+v", v, rep)
	}
	j := mustOpen(t, cfg)
	if s := mustAppend(t, j, testRecord(99)); s != rep.HeadSeq+1 {
		t.Fatalf("append after repair: seq %d", s)
	}
	// A journal that is open is not repaired: Repair takes the lock Open
	// holds, and touches nothing (no backup, no cut) when it cannot.
	locked := filepath.Join(t.TempDir(), "copy-locked")
	if _, err := Repair(dir, RepairOptions{ToSeq: 5, Backup: locked}); !errors.Is(err, ErrLocked) {
		t.Fatalf("repair of an open journal: %v", err)
	}
	if _, err := os.Stat(locked); !os.IsNotExist(err) {
		t.Fatalf("repair of an open journal made a backup: %v", err)
	}
	if s := mustAppend(t, j, testRecord(100)); s != rep.HeadSeq+2 {
		t.Fatalf("append after the refused repair: seq %d", s)
	}
	j.Close()
	// ToSeq cuts earlier.
	rep2, err := Repair(dir, RepairOptions{ToSeq: 5, Backup: filepath.Join(t.TempDir(), "copy2")})
	if err != nil || rep2.HeadSeq != 5 {
		t.Fatalf("repair to seq 5: %+v %v", rep2, err)
	}
	if v := mustVerify(t, dir); v.HeadSeq != 5 {
		t.Fatalf("verify after repair to 5: %+v", v)
	}
}

// TestSyncAfterFailedSync: once an fdatasync failed (here: the interval
// syncer's, failing once), Sync returns the sticky error every time — a
// second fdatasync would succeed without the lost pages — appends fail,
// Ready is false, and Open refuses the directory for the rest of the
// process.
func TestSyncAfterFailedSync(t *testing.T) {
	for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
		t.Run("mode="+string(mode), func(t *testing.T) {
			m := newMemFS()
			var armed atomic.Bool
			var fails atomic.Int64
			efs := &errorFS{fileSystem: m, inject: func(op, path string) error {
				if op == "datasync" && armed.CompareAndSwap(true, false) {
					fails.Add(1)
					return errInjected
				}
				return nil
			}}
			cfg := memConfig(m)
			cfg.fs = efs
			cfg.Durability = mode
			cfg.SyncInterval = time.Hour
			j := mustOpen(t, cfg)
			mustAppend(t, j, testRecord(0))
			if err := j.Sync(); err != nil {
				t.Fatal(err)
			}
			armed.Store(true)
			_, aerr := j.Append(testRecord(1)) // always mode: this batch's sync fails
			serr := j.Sync()                   // interval mode: this sync fails
			if fails.Load() != 1 {
				t.Fatalf("injected %d failures", fails.Load())
			}
			if !errors.Is(aerr, ErrFailed) && !errors.Is(serr, ErrFailed) {
				t.Fatalf("no error after a failed fdatasync: append %v, sync %v", aerr, serr)
			}
			for range 3 {
				if err := j.Sync(); !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
					t.Fatalf("Sync after a failed fdatasync: %v", err)
				}
			}
			if !strings.Contains(j.Err().Error(), "records after seq 1 are not known to be durable") {
				t.Fatalf("sticky error does not say what is durable: %v", j.Err())
			}
			if _, err := j.Append(testRecord(2)); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after failure: %v", err)
			}
			sync := make(chan error, 1)
			j.AppendAsync(testRecord(3), func(_ uint64, err error) { sync <- err })
			select {
			case err := <-sync:
				if !errors.Is(err, ErrFailed) {
					t.Fatalf("AppendAsync after failure: %v", err)
				}
			default:
				t.Fatal("AppendAsync after failure queued the record instead of refusing it")
			}
			if j.Ready() {
				t.Fatal("Ready after a failed fdatasync")
			}
			j.Close()
			if _, err := Open(cfg); !errors.Is(err, ErrFailed) {
				t.Fatalf("reopen in the same process: %v", err)
			}
		})
	}
}

// TestUnconfirmedTailRewritten: after a failed writeback, the blocks no
// durable metadata confirms are written again and synced by Open (so a
// power loss right after Open keeps what Open reported), and reported.
func TestUnconfirmedTailRewritten(t *testing.T) {
	m := newMemFS()
	cfg := memConfig(m)
	cfg.Durability = DurabilityInterval
	cfg.SyncInterval = time.Hour
	cfg.CheckpointEvery = -1
	j := mustOpen(t, cfg)
	mustAppend(t, j, testRecord(0))
	j.Sync()
	for i := 1; i < 6; i++ {
		mustAppend(t, j, testRecord(i)) // written, not synced
	}
	// The process stops after a failed writeback of the unsynced pages:
	// they are still in the page cache, marked clean, not on disk.
	live := m.lostWritebackClone()
	j.Close()
	cfg.fs = live
	j = mustOpen(t, cfg)
	rep := j.Recovery()
	if rep.UnconfirmedFromSeq != 2 || rep.UnconfirmedRecords != 5 || rep.HeadSeq != 6 {
		t.Fatalf("recovery %+v", rep)
	}
	// A power loss now keeps everything Open reported.
	after := live.crashClone(nil, 0)
	j.Close()
	cfg.fs = after
	j = mustOpen(t, cfg)
	if got := j.Recovery().HeadSeq; got < 6 {
		t.Fatalf("power loss after recovery lost records: head %d", got)
	}
	j.Close()
}

// TestQueueBound: past MaxQueuedRecords, AppendAsync refuses with
// ErrOverloaded (at once, nothing written) and Append waits for room.
func TestQueueBound(t *testing.T) {
	m := newMemFS()
	cfg := memConfig(m)
	cfg.MaxQueuedRecords = 8
	release, entered := make(chan struct{}), make(chan struct{})
	var block atomic.Bool
	cfg.fs = &errorFS{fileSystem: m, inject: func(op, path string) error {
		if op == "write" && filepath.Ext(path) == segmentExt && block.CompareAndSwap(true, false) {
			close(entered)
			<-release // hold the flusher inside a batch
		}
		return nil
	}}
	j := mustOpen(t, cfg)
	block.Store(true)
	first := make(chan error, 1)
	j.AppendAsync(testRecord(0), func(_ uint64, err error) { first <- err })
	<-entered // the flusher took record 0 and is blocked in its write

	var queued, overloaded int
	results := make(chan error, 100)
	for i := 1; i <= 40; i++ {
		j.AppendAsync(testRecord(i), func(_ uint64, err error) { results <- err })
	}
	for range 40 {
		select {
		case err := <-results:
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("refused with %v", err)
			}
			overloaded++
		default:
		}
	}
	queued = 40 - overloaded
	if queued > 8 || overloaded < 32 {
		t.Fatalf("queued %d, overloaded %d with a bound of 8", queued, overloaded)
	}
	// Append waits (backpressure) rather than failing.
	done := make(chan error, 1)
	go func() { _, err := j.Append(testRecord(99)); done <- err }()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Append past the bound: %v", err)
	}
	for range queued {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	if n := len(allRecordsFS(t, m)); n != queued+2 {
		t.Fatalf("%d records, want %d", n, queued+2)
	}
	_ = fmt.Sprint
}

func allRecordsFS(t *testing.T, fsys fileSystem) []*Record {
	t.Helper()
	var out []*Record
	if err := scanDir(fsys, memDir, nil, Query{}, func(r *Record) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFailedBatchQueuedBehind: records queued while the failing fdatasync
// ran (before the error was known) are not written after it: their
// Appends fail too, even though a later fdatasync would succeed.
func TestFailedBatchQueuedBehind(t *testing.T) {
	m := newMemFS()
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	cfg := memConfig(m)
	cfg.fs = &errorFS{fileSystem: m, inject: func(op, path string) error {
		if op == "datasync" && filepath.Ext(path) == segmentExt && armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
			return errInjected
		}
		return nil
	}}
	j := mustOpen(t, cfg)
	mustAppend(t, j, testRecord(0))
	armed.Store(true)
	first := make(chan error, 1)
	go func() { _, err := j.Append(testRecord(1)); first <- err }()
	select {
	case <-entered: // batch 1's fdatasync is running and will fail
	case err := <-first:
		t.Fatalf("the batch was acknowledged (%v) without an fdatasync", err)
	}
	behind := make(chan error, 8)
	for i := range 8 {
		j.AppendAsync(testRecord(2+i), func(_ uint64, err error) { behind <- err })
	}
	close(release)
	if err := <-first; !errors.Is(err, ErrFailed) {
		t.Fatalf("the failing batch: %v", err)
	}
	for range 8 {
		if err := <-behind; !errors.Is(err, ErrFailed) {
			t.Fatalf("a record queued behind the failed sync: %v", err)
		}
	}
	j.Close()
	if n := len(allRecordsFS(t, m)); n > 2 {
		t.Fatalf("%d records on disk: records queued behind the failure were written", n)
	}
}

// TestHeadSegment: HeadSegment names the newest segment file as records
// roll the journal over several.
func TestHeadSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SegmentSize = 4096
	j := mustOpen(t, cfg)
	defer j.Close()
	if got := j.HeadSegment(); got != segmentName(0) {
		t.Fatalf("empty journal: HeadSegment %q", got)
	}
	for i := range 60 {
		mustAppend(t, j, testRecord(i))
		segs, err := listSegments(osFS{}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := j.HeadSegment(), filepath.Base(segs[len(segs)-1].path); got != want {
			t.Fatalf("after %d records: HeadSegment %q, newest segment %q", i+1, got, want)
		}
	}
	if j.HeadSegment() == segmentName(0) {
		t.Fatal("60 records in 4 KiB segments did not roll")
	}
}
