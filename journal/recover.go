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
	Segments         int           // segment files
	Blocks           int64         // valid blocks in the journal
	Records          int64         // valid records in the journal
	FirstSeq         uint64        // seq of the first record the journal can hold (1 for a new journal)
	HeadSeq          uint64        // seq of the last record; 0 when empty
	HeadHash         string        // hex chain hash after the last block (the genesis value when empty)
	Genesis          string        // hex genesis value from the first segment's header
	FromCheckpoint   bool          // verification started at a checkpoint
	VerifiedBlocks   int64         // blocks whose CRC and chain link Open checked
	VerifiedBytes    int64         // bytes of those blocks
	TruncatedBytes   int64         // bytes of a torn tail that Open removed (copied aside first)
	TruncatedRecords int64         // records in the torn block, when its header was readable
	BrokenFile       string        // where the torn bytes were copied, if any
	Interrupted      []Interrupted // intent records with no later record of the same execution
	Duration         time.Duration // time Open spent recovering
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
// was cut off by a crash. It must be reported as INTERRUPTED, never re-run.
type Interrupted struct {
	ExecutionID string
	Seq         uint64 // seq of the intent record
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

// recover runs Open's recovery: it verifies the journal from the last
// usable checkpoint (or from the start), repairs a torn tail and returns
// the writer's starting state.
func recoverDir(cfg *Config) (walkResult, *intentTracker, RecoveryReport, error) {
	start := time.Now()
	var rep RecoveryReport
	cp, cperr := readCheckpoint(cfg.fs, cfg.Dir)
	// durable is where the checkpoint says synced data reached: damage
	// before it is corruption even when it looks like a torn tail.
	var durable *position
	if cp != nil {
		durable = &position{seg: cp.seg, off: cp.off}
		cperr = checkCheckpoint(cfg.fs, cfg.Dir, cp)
	}
	if cperr != nil {
		cp = nil
		if !errors.Is(cperr, os.ErrNotExist) {
			cfg.Logger.Warn("journal: ignoring checkpoint", "dir", cfg.Dir, "err", cperr)
		}
	}
	var tracker *intentTracker
	if cp != nil {
		tracker = newIntentTracker(cp.intents)
	} else {
		tracker = newIntentTracker(nil)
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
	res, err := walk(cfg.fs, cfg.Dir, walkOpts{from: cp, chain: true, visit: visit})
	if err != nil {
		return res, nil, rep, err
	}
	rep.FromCheckpoint = cp != nil
	if t := res.torn; t != nil && durable != nil && (t.seg.index < durable.seg || t.seg.index == durable.seg && t.off < durable.off) {
		return res, nil, rep, &BlockError{Kind: ErrCorrupt, Segment: t.seg.name, Offset: t.off, Block: t.block, Seq: res.nextSeq,
			Err: fmt.Errorf("%v (the checkpoint records this block as synced)", t.err)}
	}
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
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("journal: repair: %w", err)
	}
	return cfg.fs.SyncDir(cfg.Dir)
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
