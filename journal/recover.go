package journal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// RecoveryReport is what Open found and did.
type RecoveryReport struct {
	Segments         int    // segment files
	Blocks           int64  // valid blocks in the journal
	Records          int64  // valid records in the journal
	FirstSeq         uint64 // seq of the first record the journal holds (1 unless retention removed some)
	HeadSeq          uint64 // seq of the last record; 0 when empty
	HeadHash         string // hex chain hash after the last block (the genesis value when empty)
	Genesis          string // hex genesis value from the first segment's header
	FromCheckpoint   bool   // verification started at a checkpoint
	VerifiedBlocks   int64  // blocks whose CRC and chain link Open checked
	VerifiedBytes    int64  // bytes of those blocks
	TruncatedBytes   int64  // bytes of a torn tail that Open removed (copied aside first)
	TruncatedRecords int64  // records in the torn block, when its header was readable
	BrokenFile       string // where the torn bytes were copied, if any
	// UnconfirmedFromSeq is the first of the records that were written
	// before the restart but that no durable metadata (a later block, the
	// checkpoint) confirms were synced then; 0 when there are none. Open
	// wrote them again and synced them, so they are durable now. In
	// DurabilityAlways mode such a record was either acknowledged (its sync
	// succeeded and the process stopped before the next block), or its
	// writer got no answer (a crash during the sync) or an error (a failed
	// sync): the journal cannot tell which, keeps them, and does not claim
	// they were acknowledged. In DurabilityInterval mode they were
	// acknowledged as written, not as durable.
	UnconfirmedFromSeq uint64
	UnconfirmedRecords int64         // records from UnconfirmedFromSeq to the head
	Interrupted        []Interrupted // intent records with no later record of the same execution
	// Retention is where retention left the journal's start (nil when it
	// never removed anything); PendingSegments counts the segments of a
	// pass cut short that Open finished removing or archiving.
	Retention *RetentionInfo
	Duration  time.Duration // time Open spent recovering
}

// InterruptedIDs returns the execution ids of r.Interrupted, in seq order.
func (r RecoveryReport) InterruptedIDs() []string {
	ids := make([]string, len(r.Interrupted))
	for i, in := range r.Interrupted {
		ids[i] = in.ExecutionID
	}
	return ids
}

// Interrupted is an intent whose outcome was never recorded: the execution
// was cut off by a crash. Open journals a KindInterrupted record for it
// (RecordSeq), once; it is never re-run.
type Interrupted struct {
	ExecutionID string
	Seq         uint64 // seq of the intent record
	RecordSeq   uint64 // seq of the KindInterrupted record Open wrote for it
}

// intentTracker keeps the intents without an outcome, in seq order.
type intentTracker struct {
	open map[string]uint64
}

func newIntentTracker(in []intent) *intentTracker {
	t := &intentTracker{open: make(map[string]uint64, len(in))}
	for _, i := range in {
		t.open[i.id] = i.seq
	}
	return t
}

// observe updates the set with one record.
func (t *intentTracker) observe(k Kind, id []byte, seq uint64) {
	if len(id) == 0 {
		return
	}
	if k == KindIntent {
		t.open[string(id)] = seq
		return
	}
	if len(t.open) != 0 {
		delete(t.open, string(id))
	}
}

func (t *intentTracker) list() []intent {
	out := make([]intent, 0, len(t.open))
	for id, seq := range t.open {
		out = append(out, intent{seq: seq, id: id})
	}
	slices.SortFunc(out, func(a, b intent) int { return cmpU64(a.seq, b.seq) })
	return out
}

// recordKindID extracts the kind and execution id of an encoded record
// without allocating.
func recordKindID(rec []byte) (Kind, []byte, error) {
	if len(rec) < recordFixedSize {
		return 0, nil, errRecord
	}
	k := Kind(rec[0])
	if k == 0 || k > kindMax {
		return 0, nil, fmt.Errorf("%w: kind %d", errRecord, rec[0])
	}
	b := rec[recordFixedSize:]
	for range 5 {
		_, n := binary.Varint(b)
		if n <= 0 {
			return 0, nil, errRecord
		}
		b = b[n:]
	}
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return 0, nil, errRecord
	}
	return k, b[n : n+int(l)], nil
}

// readCheckpoint reads and decodes the checkpoint file.
func readCheckpoint(fsys fileSystem, dir string) (*checkpoint, error) {
	b, err := readFile(fsys, filepath.Join(dir, checkpointName))
	if err != nil {
		return nil, err
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return nil, err
	}
	return &cp, nil
}

// checkCheckpoint checks a checkpoint against the block it names.
func checkCheckpoint(fsys fileSystem, dir string, cp *checkpoint) error {
	if cp.blocks == 0 || cp.lastBlockOff < segHeaderSize {
		return errors.New("checkpoint without blocks")
	}
	f, err := fsys.OpenFile(filepath.Join(dir, segmentName(cp.seg)), os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n := cp.off - cp.lastBlockOff
	if n < blockHeaderSize || n > blockHeaderSize+maxBlockBody {
		return errBadHeader
	}
	blk := make([]byte, n)
	if _, err := f.ReadAt(blk, cp.lastBlockOff); err != nil {
		return err
	}
	h, err := checkBlock(blk)
	if err != nil {
		return err
	}
	sum := sha256.New()
	sum.Write(h.Prev[:])
	sum.Write(blk)
	var head [hashSize]byte
	sum.Sum(head[:0])
	if h.size() != len(blk) || head != cp.head || h.FirstSeq+uint64(h.Count) != cp.nextSeq || h.TimeNs != cp.lastTime {
		return errors.New("checkpoint does not match its block")
	}
	return nil
}

// recoverDir runs Open's recovery: it verifies the journal from the last
// usable checkpoint (or from the start), holds it to what the checkpoint
// vouches for, repairs a torn tail, makes the unconfirmed tail durable and
// returns the writer's starting state.
func recoverDir(cfg *Config) (walkResult, *intentTracker, RecoveryReport, error) {
	start := time.Now()
	var rep RecoveryReport
	// A checkpoint that decodes is a promise: the data it names was synced
	// before it was written. One that does not decode (a power loss during
	// its unsynced write) promises nothing and is ignored.
	cp, cperr := readCheckpoint(cfg.fs, cfg.Dir)
	if cperr != nil && !errors.Is(cperr, os.ErrNotExist) {
		cfg.Logger.Warn("journal: ignoring an unreadable checkpoint", "dir", cfg.Dir, "err", cperr)
	}
	m, err := readManifest(cfg.fs, cfg.Dir)
	if err != nil {
		return walkResult{}, nil, rep, err
	}
	from := cp
	if cp != nil && m != nil && cp.seg < m.first {
		// Retention removed the checkpoint's segment since (the newer
		// checkpoint it was written after was lost with a power loss).
		cfg.Logger.Info("journal: the checkpoint names a segment retention removed; verifying from the retention anchor",
			"dir", cfg.Dir, "checkpoint_segment", segmentName(cp.seg), "first_segment", segmentName(m.first))
		from = nil
	} else if cp != nil {
		if err := checkCheckpoint(cfg.fs, cfg.Dir, cp); err != nil {
			// The data does not match the checkpoint: verify everything,
			// and hold the result to the checkpoint's promise.
			cfg.Logger.Warn("journal: checkpoint does not match the data; verifying from the start", "dir", cfg.Dir, "err", err)
			from = nil
		}
	}
	tracker := newIntentTracker(nil)
	if from != nil {
		tracker = newIntentTracker(from.intents)
	}
	var dec decompressor
	defer dec.close()
	var verified, verifiedBytes int64
	visit := func(v *blockVisit) error {
		verified++
		verifiedBytes += int64(len(v.block))
		body, err := dec.decode(&v.hdr, v.block[blockHeaderSize:])
		if err != nil {
			return &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
		}
		err = splitRecords(body, v.hdr.Count, func(i int, rec []byte) error {
			k, id, err := recordKindID(rec)
			if err == nil {
				tracker.observe(k, id, v.hdr.FirstSeq+uint64(i))
			}
			return err
		})
		if err != nil {
			return &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
		}
		return nil
	}
	atDurable := func() error { return checkIntents(tracker, cp) }
	res, err := walk(cfg.fs, cfg.Dir, walkOpts{from: from, durable: cp, chain: true, visit: visit, atDurable: atDurable})
	if err != nil {
		return res, nil, rep, err
	}
	rep.FromCheckpoint = from != nil
	res.checkpoint = from
	if len(res.pending) > 0 {
		// A retention pass was cut short after its manifest was written:
		// those segments are no longer part of the journal.
		if err := finishPending(cfg, res.manifest, res.pending, noLock{}); err != nil {
			cfg.Logger.Warn("journal: could not finish a retention pass cut short; the retention pass tries again", "dir", cfg.Dir, "err", err)
		}
	}
	rep.Retention = res.manifest.info(len(res.pending))
	if t := res.torn; t != nil {
		if err := repairTail(cfg, t); err != nil {
			return res, nil, rep, err
		}
		rep.TruncatedBytes = max(t.end-t.off, 0)
		rep.TruncatedRecords = t.records
		rep.BrokenFile = t.broken
		cfg.Logger.Warn("journal: truncated torn tail", "segment", t.seg.name, "offset", t.off,
			"bytes", rep.TruncatedBytes, "records", t.records, "copy", rep.BrokenFile, "cause", t.err)
	}
	if len(res.segs) > 0 {
		vouched := max(res.lastSynced, segHeaderSize)
		if cp != nil && cp.seg == res.tailSeg {
			vouched = max(vouched, cp.off)
		}
		first, err := syncUnconfirmed(cfg, &res.segs[len(res.segs)-1], vouched, res.tailOff)
		if err != nil {
			return res, nil, rep, fmt.Errorf("journal: sync of the unconfirmed tail: %w", err)
		}
		if first != 0 {
			rep.UnconfirmedFromSeq = first
			rep.UnconfirmedRecords = int64(res.nextSeq - first)
			cfg.Logger.Info("journal: records not confirmed durable before the restart, now synced",
				"from_seq", first, "records", rep.UnconfirmedRecords)
		}
	}
	rep.Segments = len(res.segs)
	rep.Blocks = res.blocks
	rep.Records = res.records
	rep.FirstSeq = max(res.firstSeq, 1)
	if res.nextSeq > 0 {
		rep.HeadSeq = res.nextSeq - 1
	}
	rep.HeadHash = fmt.Sprintf("%x", res.head)
	rep.Genesis = fmt.Sprintf("%x", res.genesis)
	rep.VerifiedBlocks = verified
	rep.VerifiedBytes = verifiedBytes
	for _, in := range tracker.list() {
		rep.Interrupted = append(rep.Interrupted, Interrupted{ExecutionID: in.id, Seq: in.seq})
	}
	rep.Duration = time.Since(start)
	return res, tracker, rep, nil
}

// checkIntents compares the open intents at the checkpoint's position with
// the ones the checkpoint recorded.
func checkIntents(t *intentTracker, cp *checkpoint) error {
	if got := t.list(); !slices.Equal(got, cp.intents) {
		return fmt.Errorf("the checkpoint records %d open intents here, the journal has %d (or different ones)", len(cp.intents), len(got))
	}
	return nil
}

// syncUnconfirmed makes the bytes [from, to) of seg — blocks no durable
// metadata confirms were synced before the restart — durable now, by
// writing them again and syncing. (After a failed fdatasync the kernel may
// keep such pages in its cache marked clean: read back they look
// committed, but a sync from a new process would not write them.) It
// returns the first seq of those blocks, 0 when there are none.
func syncUnconfirmed(cfg *Config, seg *segInfo, from, to int64) (uint64, error) {
	if from >= to {
		return 0, nil
	}
	f, err := cfg.fs.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, to-from)
	if _, err := f.ReadAt(buf, from); err != nil {
		return 0, err
	}
	h, err := decodeBlockHeader(buf)
	if err != nil {
		return 0, fmt.Errorf("offset %d: %w", from, err)
	}
	if _, err := f.WriteAt(buf, from); err != nil {
		return 0, err
	}
	err = f.Datasync() // mutate:sync-unconfirmed
	if err != nil {
		return 0, err
	}
	return h.FirstSeq, nil
}

// brokenName names the copy of a torn tail; an existing copy (the same
// offset torn twice) is never overwritten.
func brokenName(fsys fileSystem, dir string, t *tornTail) string {
	name := fmt.Sprintf("%s.%d%s", t.seg.name, t.off, brokenSuffix)
	for i := 1; ; i++ {
		if _, err := fsys.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.%d.%d%s", t.seg.name, t.off, i, brokenSuffix)
	}
}

// repairTail copies the torn bytes aside, then zeroes them in the segment
// and syncs both.
func repairTail(cfg *Config, t *tornTail) error {
	f, err := cfg.fs.OpenFile(t.seg.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if t.end > t.off {
		bad := make([]byte, t.end-t.off)
		if _, err := f.ReadAt(bad, t.off); err != nil {
			return fmt.Errorf("journal: repair: %w", err)
		}
		t.broken = brokenName(cfg.fs, cfg.Dir, t)
		if err := writeFile(cfg.fs, filepath.Join(cfg.Dir, t.broken), bad, true); err != nil {
			return fmt.Errorf("journal: repair: %w", err)
		}
		if _, err := f.WriteAt(make([]byte, len(bad)), t.off); err != nil {
			return fmt.Errorf("journal: repair: %w", err)
		}
	}
	err = f.Datasync() // mutate:sync-torn-repair
	if err != nil {
		return fmt.Errorf("journal: repair: %w", err)
	}
	err = cfg.fs.SyncDir(cfg.Dir) // mutate:syncdir-repair
	return err
}

// newGenesis returns the genesis value of a new journal: SHA-256 over a
// label, the creation time and 32 random bytes, so two journals never share
// a chain.
func newGenesis(cfg *Config) ([hashSize]byte, error) {
	r := cfg.rand
	if r == nil {
		r = rand.Reader
	}
	var seed [32]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return [hashSize]byte{}, err
	}
	var b bytes.Buffer
	b.WriteString("femtoclaw journal genesis v1\x00")
	binary.Write(&b, binary.LittleEndian, cfg.Now().UnixNano())
	b.Write(seed[:])
	return sha256.Sum256(b.Bytes()), nil
}
