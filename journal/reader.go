package journal

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Query selects records for Scan and ExportJSONL. Zero fields match
// everything.
type Query struct {
	From, To    time.Time // commit time range: From <= t < To (zero: unbounded)
	Capability  string    // exact capability name
	Kind        Kind      // record kind
	ExecutionID string    // exact execution id
	FromSeq     uint64    // first seq (inclusive)
}

func (q *Query) matchBlock(h *blockHeader) (ok, past bool) {
	if !q.To.IsZero() && h.TimeNs >= q.To.UnixNano() {
		return false, true // times never decrease: nothing later can match
	}
	if !q.From.IsZero() && h.TimeNs < q.From.UnixNano() {
		return false, false
	}
	if q.FromSeq != 0 && h.FirstSeq+uint64(h.Count) <= q.FromSeq {
		return false, false
	}
	return true, false
}

func (q *Query) match(r *Record) bool {
	return (q.Capability == "" || r.Capability == q.Capability) &&
		(q.Kind == 0 || r.Kind == q.Kind) &&
		(q.ExecutionID == "" || r.ExecutionID == q.ExecutionID) &&
		(q.FromSeq == 0 || r.Seq >= q.FromSeq)
}

var errStop = errors.New("stop")

// scanDir calls fn for every record matching q, in seq order, up to end
// (nil: the tail). Blocks are CRC-checked; the chain is not (see Verify). A
// torn tail ends the scan silently; other damage returns ErrCorrupt.
func scanDir(fsys fileSystem, dir string, end *position, q Query, fn func(*Record) bool) error {
	var dec decompressor
	defer dec.close()
	visit := func(v *blockVisit) error {
		ok, past := q.matchBlock(&v.hdr)
		if past {
			return errStop
		}
		if !ok {
			return nil
		}
		body, err := dec.decode(&v.hdr, v.block[blockHeaderSize:])
		if err != nil {
			return &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
		}
		err = splitRecords(body, v.hdr.Count, func(i int, rec []byte) error {
			if q.ExecutionID != "" {
				if _, id, err := recordKindID(rec); err == nil && string(id) != q.ExecutionID {
					return nil
				}
			}
			r := new(Record)
			if err := decodeRecord(rec, r); err != nil {
				return err
			}
			r.Seq = v.hdr.FirstSeq + uint64(i)
			r.TimeUnixNs = v.hdr.TimeNs
			if q.match(r) && !fn(r) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
		}
		return err
	}
	_, err := walk(fsys, dir, walkOpts{end: end, visit: visit})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// Scan calls fn with each committed record matching q, in seq order, until
// fn returns false. Records are fresh copies owned by fn. It reads what was
// durable (always mode) or written (interval mode) when Scan started. Safe
// for concurrent use with Append.
func (j *Journal) Scan(q Query, fn func(*Record) bool) error {
	if !j.isOpen() {
		return ErrClosed
	}
	return scanDir(j.cfg.fs, j.cfg.Dir, j.visible.Load(), q, fn)
}

// Get returns every record of an execution (intent, outcome, execution,
// rejection), in seq order; nil when there is none (or when retention
// removed them: those that remain, if some did). The first call builds
// an in-memory index (per-block Bloom filters of execution ids, ~1.25
// bytes per record) by reading the journal; later calls index only what
// was committed since and decode only candidate blocks. Safe for
// concurrent use (lookups are serialized).
func (j *Journal) Get(executionID string) ([]Record, error) {
	if !j.isOpen() {
		return nil, ErrClosed
	}
	x := &j.index
	x.mu.Lock()
	defer x.mu.Unlock()
	x.prune(j.base.Load())
	if err := x.extend(j.cfg.fs, j.cfg.Dir, j.visible.Load()); err != nil {
		return nil, err
	}
	return x.lookup(j.cfg.fs, j.cfg.Dir, executionID, j.base.Load)
}

func (j *Journal) isOpen() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return !j.mu.closed
}

// Scan reads a journal directory offline (no Journal open on it, or one
// open read-only use); see Journal.Scan.
func Scan(dir string, q Query, fn func(*Record) bool) error { return scanDir(osFS{}, dir, nil, q, fn) }

// ExportJSONL writes every record of the journal in dir that matches q as
// one JSON object per line (Record.MarshalJSON), in seq order.
func ExportJSONL(dir string, q Query, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var werr error
	err := scanDir(osFS{}, dir, nil, q, func(r *Record) bool {
		b, err := r.MarshalJSON()
		if err == nil {
			b = append(b, '\n')
			_, err = bw.Write(b)
		}
		werr = err
		return err == nil
	})
	if err == nil {
		err = werr
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Segments int
	Blocks   int64
	Records  int64
	Bytes    int64 // block bytes verified
	RawBytes int64 // uncompressed record bytes decoded
	FirstSeq uint64
	HeadSeq  uint64 // last valid seq; 0 when empty
	HeadHash string // hex chain hash after the last valid block
	Genesis  string // hex genesis value
	Duration time.Duration
	// Failure is the first bad block (nil when the journal verified). Its
	// Kind is ErrTornTail for an incomplete last block, ErrCorrupt otherwise.
	Failure *BlockError
	// Retention, when retention removed segments, is where the chain of
	// what remains is anchored: Verify checked that the first segment
	// continues from the manifest's anchor, and everything after it. Nil
	// when the journal still starts at its genesis.
	Retention *RetentionInfo
}

// Verify checks the whole journal in dir: every segment header, block CRC,
// chain link and hash, sequence number, time order and record encoding.
// It returns the report and, when something failed, an error wrapping
// ErrCorrupt or ErrTornTail (the same *BlockError as report.Failure). It
// only reads. Run against a journal that is open for writing, the block
// being written at that moment may show up as a torn tail.
func Verify(dir string) (VerifyReport, error) { return verifyDir(osFS{}, dir, "") }

// VerifyAnchored is Verify held to a head recorded earlier outside the
// journal (Journal.Head, or Verify's HeadSeq and HeadHash): anchor is a
// decimal seq, which the journal must still reach, or a hex chain hash,
// which must be the chain hash after one of its blocks (or its genesis).
// A journal that no longer reaches the anchor fails with ErrCorrupt: it
// was truncated or rewritten.
func VerifyAnchored(dir, anchor string) (VerifyReport, error) { return verifyDir(osFS{}, dir, anchor) }

func verifyDir(fsys fileSystem, dir, anchor string) (VerifyReport, error) {
	start := time.Now()
	var rep VerifyReport
	// Two stages on two goroutines: this one walks (CRC, chain hash, links);
	// a worker decompresses and validates the records of each block. The
	// walk waits for the worker before unmapping a segment.
	type job struct {
		v     blockVisit
		block []byte
	}
	jobs := make(chan job, 256)
	var pending sync.WaitGroup
	var decodeErr *BlockError // set by the worker: the first (lowest) bad block
	var failed atomic.Bool
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		var dec decompressor
		defer dec.close()
		validate := func(_ int, rec []byte) error { return validateRecord(rec) }
		for jb := range jobs {
			if !failed.Load() {
				v := &jb.v
				body, err := dec.decode(&v.hdr, jb.block[blockHeaderSize:])
				if err == nil {
					err = splitRecords(body, v.hdr.Count, validate)
				}
				if err != nil {
					decodeErr = &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
					failed.Store(true)
				}
			}
			pending.Done()
		}
	}()
	visit := func(v *blockVisit) error {
		if failed.Load() {
			return errStop
		}
		pending.Add(1)
		jobs <- job{v: *v, block: v.block}
		return nil
	}
	// The checkpoint, when it decodes, is checked like Open checks it: the
	// journal must reach its position with the chain hash and seq it
	// recorded.
	cp, _ := readCheckpoint(fsys, dir)
	var anchorSeq uint64
	var anchorHash []byte
	anchored := anchor == ""
	if anchor != "" {
		if v, err := strconv.ParseUint(anchor, 10, 64); err == nil && len(anchor) < 20 {
			anchorSeq = v
		} else if anchorHash, err = hex.DecodeString(anchor); err != nil || len(anchorHash) != hashSize {
			return rep, fmt.Errorf("journal: verify: --expect-head %q is neither a seq nor a %d-byte hex hash", anchor, hashSize)
		}
	}
	afterBlock := func(head [hashSize]byte, _ uint64) {
		if anchorHash != nil && bytes.Equal(head[:], anchorHash) {
			anchored = true
		}
	}
	res, err := walk(fsys, dir, walkOpts{chain: true, visit: visit, beforeUnmap: pending.Wait, durable: cp, afterBlock: afterBlock})
	close(jobs)
	<-workerDone
	if decodeErr != nil {
		// The worker's failure comes first unless the walk failed earlier.
		var be *BlockError
		if errors.Is(err, errStop) || err == nil || !errors.As(err, &be) || be.Segment > decodeErr.Segment ||
			be.Segment == decodeErr.Segment && be.Offset > decodeErr.Offset {
			err = decodeErr
		}
		res.torn = nil
	}
	rep.Segments = len(res.segs)
	rep.Blocks, rep.Records, rep.Bytes, rep.RawBytes = res.blocks, res.records, res.bytes, res.rawBytes
	rep.FirstSeq = res.firstSeq
	if res.nextSeq > 0 {
		rep.HeadSeq = res.nextSeq - 1
	}
	rep.HeadHash = fmt.Sprintf("%x", res.head)
	rep.Genesis = fmt.Sprintf("%x", res.genesis)
	if err == nil && len(res.segs) == 0 {
		err = fmt.Errorf("journal: verify %s: no segments", dir)
	}
	if anchorHash != nil && bytes.Equal(res.genesis[:], anchorHash) {
		anchored = true
	}
	rep.Retention = res.manifest.info(len(res.pending))
	removed := ""
	if m := res.manifest; m != nil {
		if anchorHash != nil && bytes.Equal(m.anchor[:], anchorHash) {
			anchored = true
		}
		removed = fmt.Sprintf(", or among the records up to seq %d that retention removed", m.firstSeq-1)
	}
	if anchorSeq != 0 && res.nextSeq > anchorSeq {
		anchored = true
	}
	if err == nil && !anchored {
		err = &BlockError{Kind: ErrCorrupt, Segment: segmentName(res.tailSeg), Offset: res.tailOff, Block: res.blockIndex, Seq: res.nextSeq,
			Err: fmt.Errorf("the expected head %s is not in the journal (head seq %d, hash %x): it was truncated or rewritten%s", anchor, res.nextSeq-1, res.head, removed)}
	}
	var be *BlockError
	if errors.As(err, &be) {
		rep.Failure = be
	}
	if err == nil && res.torn != nil {
		t := res.torn
		be = &BlockError{Kind: ErrTornTail, Segment: t.seg.name, Offset: t.off, Block: t.block, Seq: res.nextSeq,
			Err: fmt.Errorf("%v (%d bytes after the last valid block)", t.err, t.end-t.off)}
		rep.Failure, err = be, be
	}
	rep.Duration = time.Since(start)
	return rep, err
}

// InspectReport describes a journal's files.
type InspectReport struct {
	Segments []SegmentInfo
	Blocks   int64
	Records  int64
	Bytes    int64 // block bytes
	RawBytes int64 // uncompressed record bytes
	FirstSeq uint64
	HeadSeq  uint64
	HeadHash string // hex chain hash after the last valid block
	// Codecs counts blocks per codec name ("s2", "zstd", "none").
	Codecs map[string]int64
	// Tail describes a torn tail, if any (nil otherwise).
	Tail *BlockError
	// Retention is where retention left the journal's start (nil when it
	// never removed anything).
	Retention *RetentionInfo
}

// Ratio is RawBytes over the compressed body bytes (headers excluded).
func (r InspectReport) Ratio() float64 {
	body := r.Bytes - r.Blocks*blockHeaderSize
	if body <= 0 {
		return 0
	}
	return float64(r.RawBytes) / float64(body)
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	Name     string
	Size     int64 // file size (preallocated)
	Used     int64 // bytes up to the end of the last valid block
	Blocks   int64
	Records  int64
	FirstSeq uint64
	LastSeq  uint64 // 0 when the segment has no blocks
	RawBytes int64
	Ratio    float64 // raw bytes / compressed body bytes
}

// Inspect walks the journal in dir (CRCs checked, chain not) and describes
// its segments, blocks, records and compression.
func Inspect(dir string) (InspectReport, error) { return inspectDir(osFS{}, dir) }

func inspectDir(fsys fileSystem, dir string) (InspectReport, error) {
	var rep InspectReport
	rep.Codecs = map[string]int64{}
	var cur *SegmentInfo
	var body int64
	flush := func() {
		if cur != nil {
			if body > 0 {
				cur.Ratio = float64(cur.RawBytes) / float64(body)
			}
			rep.Segments = append(rep.Segments, *cur)
		}
	}
	names := map[byte]string{codecNone: "none", codecS2: "s2", codecZstd: "zstd"}
	res, err := walk(fsys, dir, walkOpts{chain: true, visit: func(v *blockVisit) error {
		if cur == nil || cur.Name != v.seg.name {
			flush()
			cur = &SegmentInfo{Name: v.seg.name, Size: v.seg.size, FirstSeq: v.hdr.FirstSeq, Used: segHeaderSize}
			body = 0
		}
		cur.Blocks++
		cur.Records += int64(v.hdr.Count)
		cur.LastSeq = v.hdr.FirstSeq + uint64(v.hdr.Count) - 1
		cur.RawBytes += int64(v.hdr.RawLen)
		cur.Used = v.off + int64(len(v.block))
		body += int64(v.hdr.BodyLen)
		rep.Codecs[names[v.hdr.Codec]]++
		return nil
	}})
	flush()
	// Segments without blocks.
	seen := map[string]bool{}
	for _, s := range rep.Segments {
		seen[s.Name] = true
	}
	for _, s := range res.segs {
		if !seen[s.name] {
			rep.Segments = append(rep.Segments, SegmentInfo{Name: s.name, Size: s.size, Used: segHeaderSize})
		}
	}
	sortSegmentInfos(rep.Segments)
	rep.Blocks, rep.Records, rep.Bytes, rep.RawBytes = res.blocks, res.records, res.bytes, res.rawBytes
	rep.FirstSeq = res.firstSeq
	if res.nextSeq > 0 {
		rep.HeadSeq = res.nextSeq - 1
	}
	rep.HeadHash = fmt.Sprintf("%x", res.head)
	if t := res.torn; t != nil {
		rep.Tail = &BlockError{Kind: ErrTornTail, Segment: t.seg.name, Offset: t.off, Block: t.block, Err: t.err}
	}
	rep.Retention = res.manifest.info(len(res.pending))
	return rep, err
}

func sortSegmentInfos(s []SegmentInfo) {
	for i := 1; i < len(s); i++ {
		for k := i; k > 0 && s[k].Name < s[k-1].Name; k-- {
			s[k], s[k-1] = s[k-1], s[k]
		}
	}
}
