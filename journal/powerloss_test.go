package journal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Power-loss tests: the journal runs on a memFS; at some point a crash
// clone is taken (what a power cut would leave on disk) and the journal is
// reopened on it. Every record acknowledged as durable before the cut must
// be there, with its content, and the journal must open.

const memDir = "/data/journal"

// memConfig is testConfig on a fresh memFS.
func memConfig(m *memFS) Config {
	cfg := testConfig(memDir)
	cfg.fs = m
	return cfg
}

// durableAcks is the set of records acknowledged as durable: in always mode
// every Append that returned; in interval mode the Appends that returned
// before a Sync that returned nil.
type durableAcks struct {
	mu   sync.Mutex
	recs map[uint64]*Record
}

func (d *durableAcks) add(rs ...*Record) {
	d.mu.Lock()
	for _, r := range rs {
		d.recs[r.Seq] = r
	}
	d.mu.Unlock()
}

// snapshotLocked copies the set; d.mu must be held.
func (d *durableAcks) snapshotLocked() map[uint64]*Record {
	out := make(map[uint64]*Record, len(d.recs))
	for k, v := range d.recs {
		out[k] = v
	}
	return out
}

// checkAfterCrash opens the journal on the crash clone c and checks that
// every record in acked is there, that Verify agrees with Open, and that
// new appends continue after the highest acknowledged seq.
func checkAfterCrash(t *testing.T, c *memFS, cfg Config, acked map[uint64]*Record, what string) {
	t.Helper()
	cfg.fs = c
	j, err := Open(cfg)
	if err != nil {
		t.Fatalf("%s: Open after power loss: %v", what, err)
	}
	have := map[uint64]*Record{}
	if err := j.Scan(Query{}, func(r *Record) bool { have[r.Seq] = r; return true }); err != nil {
		t.Fatalf("%s: Scan: %v", what, err)
	}
	var maxAcked uint64
	for seq, want := range acked {
		got := have[seq]
		if got == nil || !sameRecord(got, want) {
			t.Fatalf("%s: acknowledged seq %d (%s) lost after power loss (recovery %+v)", what, seq, want.ExecutionID, j.Recovery())
		}
		maxAcked = max(maxAcked, seq)
	}
	seq, err := j.Append(testRecord(1 << 20))
	if err != nil || seq <= maxAcked {
		t.Fatalf("%s: append after recovery: seq %d (highest acknowledged %d), %v", what, seq, maxAcked, err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("%s: Close: %v", what, err)
	}
	if rep, err := verifyDir(c, memDir, ""); err != nil || rep.HeadSeq != seq {
		t.Fatalf("%s: Verify after recovery: head %d, want %d: %v", what, rep.HeadSeq, seq, err)
	}
}

// powerLossRun runs writers against a journal on a memFS and cuts the power
// at FS operation crashAt (or when the writers are done). Writers in
// interval mode call Sync every few appends.
func powerLossRun(t *testing.T, cfg Config, writers, perWriter int, crashAt int, rng *rand.Rand, keep float64) (*memFS, map[uint64]*Record) {
	t.Helper()
	m := newMemFS()
	cfg.fs = m
	acks := &durableAcks{recs: map[uint64]*Record{}}
	crashed := make(chan struct{})
	var clone *memFS
	var snapshot map[uint64]*Record
	var ops int
	cut := func() {
		acks.mu.Lock()
		clone = m.crashCloneLocked(rng, keep)
		snapshot = acks.snapshotLocked()
		acks.mu.Unlock()
		close(crashed)
	}
	m.hook = func(op, path string) {
		if ops++; ops == crashAt {
			cut()
		}
	}
	j, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var pending []*Record
			for i := range perWriter {
				select {
				case <-crashed:
					return
				default:
				}
				r := testRecord(w*perWriter + i)
				if _, err := j.Append(r); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if cfg.Durability != DurabilityInterval {
					acks.add(r)
					continue
				}
				pending = append(pending, r)
				if len(pending) == 8 || i == perWriter-1 {
					if err := j.Sync(); err != nil {
						t.Errorf("Sync: %v", err)
						return
					}
					acks.add(pending...)
					pending = pending[:0]
				}
			}
		})
	}
	wg.Wait()
	m.mu.Lock()
	if clone == nil {
		m.hook = nil
		acks.mu.Lock()
		clone = m.crashCloneLocked(rng, keep)
		snapshot = acks.snapshotLocked()
		acks.mu.Unlock()
	}
	m.hook = nil
	m.mu.Unlock()
	j.Close()
	return clone, snapshot
}

// TestPowerLoss cuts the power at random points under concurrent load, in
// both durability modes, with small blocks and segments (multi-block
// batches, rolls, checkpoints), keeping none or a random half of the
// unsynced pages.
func TestPowerLoss(t *testing.T) {
	runs := 12
	if testing.Short() {
		runs = 4
	}
	for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
		for _, keep := range []float64{0, 0.5} {
			t.Run(fmt.Sprintf("mode=%s/keep=%v", mode, keep), func(t *testing.T) {
				for run := range runs {
					seed := uint64(run)*7919 + 1
					rng := rand.New(rand.NewPCG(seed, 2))
					cfg := testConfig(memDir)
					cfg.Durability = mode
					cfg.SegmentSize = 16 << 10
					cfg.MaxBatchRecords = 4 // batches of several blocks
					cfg.CheckpointEvery = 8
					cfg.SyncInterval = time.Hour // interval mode: only Sync and rolls sync
					crashAt := 1 + rng.IntN(600)
					clone, acked := powerLossRun(t, cfg, 32, 40, crashAt, rng, keep)
					checkAfterCrash(t, clone, cfg, acked, fmt.Sprintf("seed %d, cut at op %d, %d acked", seed, crashAt, len(acked)))
				}
			})
		}
	}
}

// TestPowerLossEveryOp cuts the power after every file-system operation of
// a small single-writer workload (always mode; rolls, checkpoints and a
// Close included), and after Close.
func TestPowerLossEveryOp(t *testing.T) {
	cfg := testConfig(memDir)
	cfg.SegmentSize = 4 << 10
	cfg.CheckpointEvery = 3
	_, _ = powerLossRun(t, cfg, 1, 40, -1, nil, 0)
	m := newMemFS()
	total := 0
	m.hook = func(string, string) { total++ }
	cfg.fs = m
	j := mustOpen(t, cfg)
	for i := range 40 {
		mustAppend(t, j, testRecord(i))
	}
	j.Close()
	step := 1
	if testing.Short() {
		step = 5
	}
	for k := 1; k <= total+1; k += step {
		for _, keep := range []float64{0, 0.5} {
			clone, acked := powerLossRun(t, cfg, 1, 40, k, rand.New(rand.NewPCG(uint64(k), 3)), keep)
			checkAfterCrash(t, clone, cfg, acked, fmt.Sprintf("cut after op %d of %d, keep %v", k, total, keep))
		}
	}
}

// TestPowerLossAfterClose: a clean Close leaves a checkpoint that survives
// the power loss that follows, and nothing is lost.
func TestPowerLossAfterClose(t *testing.T) {
	for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
		m := newMemFS()
		cfg := memConfig(m)
		cfg.Durability = mode
		cfg.SyncInterval = time.Hour
		j := mustOpen(t, cfg)
		recs := map[uint64]*Record{}
		for i := range 30 {
			r := testRecord(i)
			recs[mustAppend(t, j, r)] = r
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		c := m.crashClone(nil, 0)
		cfg.fs = c
		j = mustOpen(t, cfg)
		if rep := j.Recovery(); !rep.FromCheckpoint || rep.HeadSeq != 30 {
			t.Fatalf("mode %s: after Close and a power loss: %+v", mode, rep)
		}
		j.Close()
		checkAfterCrash(t, c, cfg, recs, "after close")
	}
}

// TestPowerLossIntervalSyncer: in interval mode the periodic fdatasync makes
// what was appended before it durable (no Sync call).
func TestPowerLossIntervalSyncer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemFS()
		cfg := memConfig(m)
		cfg.Durability = DurabilityInterval
		cfg.SyncInterval = 10 * time.Millisecond
		cfg.CheckpointEvery = -1
		j := mustOpen(t, cfg)
		recs := map[uint64]*Record{}
		for i := range 50 {
			r := testRecord(i)
			recs[mustAppend(t, j, r)] = r
		}
		time.Sleep(5 * cfg.SyncInterval)
		synctest.Wait()
		c := m.crashClone(nil, 0)
		j.Close()
		checkAfterCrash(t, c, cfg, recs, "interval syncer")
	})
}

// TestPowerLossIntervalRoll: in interval mode the roll to a new segment
// syncs the old one: records synced by Sync in an earlier segment survive.
func TestPowerLossIntervalRoll(t *testing.T) {
	m := newMemFS()
	cfg := memConfig(m)
	cfg.Durability = DurabilityInterval
	cfg.SyncInterval = time.Hour
	cfg.SegmentSize = 4 << 10
	cfg.CheckpointEvery = -1
	j := mustOpen(t, cfg)
	recs := map[uint64]*Record{}
	for i := range 60 {
		r := testRecord(i)
		recs[mustAppend(t, j, r)] = r
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(m, memDir); len(segs) < 3 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	c := m.crashClone(nil, 0)
	j.Close()
	checkAfterCrash(t, c, cfg, recs, "interval roll")
}

var _ = errors.Is
var _ = os.O_RDONLY
var _ = slices.Sort[[]int]
var _ atomic.Bool

// TestPowerLossAfterTornRepair: Open's repair of a torn tail (the copy
// aside, the zeroing) is durable: a power loss right after Open neither
// loses the .broken copy nor brings the torn bytes back.
func TestPowerLossAfterTornRepair(t *testing.T) {
	m := newMemFS()
	cfg := memConfig(m)
	j := mustOpen(t, cfg)
	for i := range 10 {
		mustAppend(t, j, testRecord(i))
	}
	j.Close()
	// Durable garbage after the tail: a torn block that reached the disk.
	segs, _ := listSegments(m, memDir)
	f, _ := m.OpenFile(segs[0].path, os.O_RDWR, 0)
	_, end := blockOffsetsFS(t, m, segs[0].path)
	f.WriteAt([]byte("FCJB torn block bytes"), end)
	f.Sync()
	f.Close()
	j = mustOpen(t, cfg)
	rep := j.Recovery()
	if rep.TruncatedBytes == 0 || rep.BrokenFile == "" {
		t.Fatalf("torn tail not repaired: %+v", rep)
	}
	c := m.crashClone(nil, 0)
	j.Close()
	if _, err := c.Stat(memDir + "/" + rep.BrokenFile); err != nil {
		t.Fatalf("the .broken copy did not survive a power loss: %v", err)
	}
	cfg.fs = c
	j = mustOpen(t, cfg)
	if r := j.Recovery(); r.TruncatedBytes != 0 || r.HeadSeq != 10 {
		t.Fatalf("after a power loss following the repair: %+v", r)
	}
	j.Close()
}

func blockOffsetsFS(t *testing.T, fsys fileSystem, path string) (offs []int64, end int64) {
	t.Helper()
	data, err := readFile(fsys, path)
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
