package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"os"
)

// position is a byte position in the journal: segment index and offset.
type position struct {
	seg uint64
	off int64
	// Set by the writer when it publishes a position (Journal.Head).
	head    [hashSize]byte
	headSeq uint64
}

func (p position) before(q position) bool { return p.seg < q.seg || p.seg == q.seg && p.off < q.off }

// blockVisit describes one valid block found by walk.
type blockVisit struct {
	seg   *segInfo
	off   int64 // offset of the block in the segment
	index int64 // block index in the segment
	hdr   blockHeader
	block []byte // the whole block (header and body); aliases a mapping, valid during the call
}

// walkOpts configures walk.
type walkOpts struct {
	from  *checkpoint // start after this verified point; nil: from the first segment
	end   *position   // stop at this position (a live journal's committed end); nil: the tail
	chain bool        // verify prev links, the chain hash, segment links and time order
	// durable, when set, is a position durable metadata (a checkpoint)
	// vouches for: damage before it is corruption, never a torn tail, and
	// the walk must reach it, with the chain hash and seq it records.
	durable *checkpoint
	// atDurable, if set, is called when the walk reaches durable's
	// position (after every block before it was visited) and the chain
	// matches; its error is corruption at that position.
	atDurable func() error
	// afterBlock, if set, is called after each valid block with the
	// chain hash after it and the next seq (chain walks only).
	afterBlock func(head [hashSize]byte, nextSeq uint64)
	visit      func(v *blockVisit) error
	// beforeUnmap is called when walk is done with a segment's mapping
	// (after its last visit, before the block slices become invalid).
	beforeUnmap func()
}

// tornTail describes an incomplete block at the end of the last segment.
type tornTail struct {
	seg     segInfo
	off     int64 // where valid data ends
	end     int64 // end of the damaged (non-zero) bytes
	records int64 // records in the torn block, when its header was readable
	block   int64
	err     error
	broken  string // name of the copy repairTail made, if any
}

// walkResult is what walk found.
type walkResult struct {
	segs         []segInfo
	genesis      [hashSize]byte
	firstSeq     uint64
	nextSeq      uint64
	head         [hashSize]byte
	lastTime     int64
	lastBlockOff int64 // offset of the last valid block in the last segment; 0 if none
	blockIndex   int64 // number of valid blocks in the last segment
	tailOff      int64 // end of valid data in the last segment
	lastSynced   int64 // the last valid block's synced field, in the last segment (0 if none)
	tailSeg      uint64
	validEnd     position // end of the last valid block (or segment header) walked
	blocks       int64
	records      int64
	bytes        int64 // bytes of valid blocks walked
	rawBytes     int64 // uncompressed body bytes of valid blocks walked
	torn         *tornTail
	manifest     *manifest   // the retention manifest; nil when nothing was ever removed
	pending      []segInfo   // segments before the manifest's first one, still present (not walked)
	checkpoint   *checkpoint // set by recoverDir: the checkpoint verification started from, if any
}

// walk reads the journal's segments in order, checking every block's CRC
// and (with opts.chain) the hash chain, sequence numbers and time order. It
// stops at the first failure: a failure in the last segment with no valid
// block after it is a torn tail (reported in the result, err == nil);
// anything else is returned as a *BlockError of kind ErrCorrupt. A visit
// error stops the walk and is returned as is.
//
// The journal starts at segment 0, seq 1, with the genesis value as its
// chain hash, or, once retention removed segments, where the retention
// manifest says, with the manifest's anchor; segments before that are on
// their way out and not walked (walkResult.pending). A walk without
// opts.chain (a scan) that finds a segment removed by retention after it
// listed the directory goes on from the next one.
func walk(fsys fileSystem, dir string, opts walkOpts) (walkResult, error) {
	var res walkResult
	m, segs, pending, err := listJournal(fsys, dir)
	if err != nil {
		return res, err
	}
	res.segs, res.pending, res.manifest = segs, pending, m
	if len(segs) == 0 {
		if m != nil {
			return res, &BlockError{Kind: ErrCorrupt, Segment: segmentName(m.first), Block: -1, Seq: m.firstSeq,
				Err: fmt.Errorf("missing: the journal has no segments, but the retention manifest records it as starting at segment %s (seq %d)", segmentName(m.first), m.firstSeq)}
		}
		if cp := opts.durable; cp != nil {
			return res, &BlockError{Kind: ErrCorrupt, Segment: segmentName(cp.seg), Block: -1, Seq: cp.nextSeq - 1,
				Err: fmt.Errorf("missing: the journal has no segments, but the checkpoint records seq 1..%d as durable, up to segment %s offset %d", cp.nextSeq-1, segmentName(cp.seg), cp.off)}
		}
		return res, nil
	}
	switch {
	case m == nil && segs[0].index != 0:
		return res, &BlockError{Kind: ErrCorrupt, Segment: segmentName(0), Block: -1,
			Err: fmt.Errorf("missing: the first segment present is %s; segments 0..%d are gone", segs[0].name, segs[0].index-1)}
	case m != nil && segs[0].index != m.first:
		return res, &BlockError{Kind: ErrCorrupt, Segment: segmentName(m.first), Block: -1, Seq: m.firstSeq,
			Err: fmt.Errorf("missing: the retention manifest records the journal as starting at segment %s (seq %d), but the first segment present is %s: segments %d..%d are gone, and not by retention",
				segmentName(m.first), m.firstSeq, segs[0].name, m.first, segs[0].index-1)}
	}
	if m != nil && opts.from != nil {
		// Resuming at a checkpoint skips the first segment's header: check
		// it against the manifest here (64 bytes).
		if h, err := readSegHeader(fsys, segs[0].path); err != nil || h.FirstSeq != m.firstSeq || h.Prev != m.anchor {
			why := fmt.Errorf("chain broken: it does not continue from the retention manifest's anchor (seq %d, hash %x)", m.firstSeq-1, m.anchor[:8])
			if err != nil {
				why = err
			}
			return res, &BlockError{Kind: ErrCorrupt, Segment: segs[0].name, Block: -1, Seq: m.firstSeq, Err: why}
		}
	}
	var hasher hash.Hash
	if opts.chain {
		hasher = sha256.New()
	}
	first := 0
	if cp := opts.from; cp != nil {
		found := false
		for i := range segs {
			if segs[i].index == cp.seg {
				first, found = i, true
			}
		}
		switch {
		case found:
			res.genesis = cp.genesis
			res.firstSeq = cp.firstSeq
			if m != nil {
				res.firstSeq = max(res.firstSeq, m.firstSeq)
			}
			res.nextSeq = cp.nextSeq
			res.head = cp.head
			res.lastTime = cp.lastTime
			res.blocks = cp.blocks
			res.records = cp.records
		case !opts.chain && cp.seg < segs[0].index:
			opts.from = nil // retention removed it since: read what remains from its start
		default:
			return res, fmt.Errorf("journal: segment %s, where the walk was to resume, is not in the journal", segmentName(cp.seg))
		}
	}
	for i := first; i < len(segs); i++ {
		seg := &segs[i]
		last := i == len(segs)-1
		data, unmap, err := fsys.Map(seg.path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && removedSince(fsys, dir, seg.index, &res) {
				if !opts.chain {
					res.firstSeq = 0 // start again at the next segment's header
					continue
				}
				return res, fmt.Errorf("journal: segment %s was removed by retention during the walk; run it again: %w", seg.name, err)
			}
			return res, err
		}
		res.tailSeg = seg.index
		stop, err := walkSegment(&res, seg, data, last, i == first && opts.from != nil, hasher, &opts)
		if opts.beforeUnmap != nil {
			opts.beforeUnmap()
		}
		unmap()
		if err != nil {
			return res, err
		}
		if stop {
			break
		}
	}
	if cp := opts.durable; cp != nil && opts.end == nil {
		if end := (position{seg: res.tailSeg, off: res.tailOff}); end.before(position{seg: cp.seg, off: cp.off}) {
			return res, missingBelow(&res, cp)
		}
	}
	return res, nil
}

// listJournal reads the retention manifest and lists the segments,
// split at its first segment (see splitPending). A journal whose first
// segment is not where the manifest says is listed again when the
// manifest changed meanwhile (a retention pass between the two reads);
// walk judges what is still wrong.
func listJournal(fsys fileSystem, dir string) (*manifest, []segInfo, []segInfo, error) {
	for try := 0; ; try++ {
		m, err := readManifest(fsys, dir)
		if err != nil {
			return nil, nil, nil, err
		}
		segs, pending, err := splitPending(fsys, dir, m)
		if err != nil || len(segs) == 0 || try == 3 {
			return m, segs, pending, err
		}
		var first uint64
		if m != nil {
			first = m.first
		}
		if segs[0].index == first {
			return m, segs, pending, nil
		}
		if m2, err := readManifest(fsys, dir); err != nil || m2 == nil || m != nil && m2.first == m.first {
			return m, segs, pending, nil
		}
	}
}

// removedSince reports whether retention removed segment index after the
// walk listed the directory (the manifest now starts after it), and
// takes the new manifest.
func removedSince(fsys fileSystem, dir string, index uint64, res *walkResult) bool {
	m, err := readManifest(fsys, dir)
	if err != nil || m == nil || m.first <= index {
		return false
	}
	res.manifest = m
	return true
}

// missingBelow is the error for a journal that ends before the position a
// checkpoint vouches for: a deleted, short, zeroed or emptied segment.
func missingBelow(res *walkResult, cp *checkpoint) error {
	name := segmentName(cp.seg)
	what := fmt.Sprintf("segment %s is missing", name)
	if res.tailSeg == cp.seg {
		what = fmt.Sprintf("segment %s ends at offset %d (seq %d)", name, res.tailOff, res.nextSeq-1)
	}
	if res.torn != nil && res.torn.seg.index == res.tailSeg {
		what += fmt.Sprintf(", damaged at offset %d: %v", res.torn.off, res.torn.err)
	}
	return &BlockError{Kind: ErrCorrupt, Segment: name, Offset: res.tailOff, Block: res.blockIndex, Seq: res.nextSeq,
		Err: fmt.Errorf("missing: %s, but the checkpoint records seq %d..%d as durable up to offset %d of %s; the data the journal acknowledged is gone (restore it, or `femtoclaw journal repair` to accept the loss)",
			what, res.nextSeq, cp.nextSeq-1, cp.off, name)}
}

func walkSegment(res *walkResult, seg *segInfo, data []byte, last, resume bool, hasher hash.Hash, opts *walkOpts) (stop bool, err error) {
	corrupt := func(off, block int64, seq uint64, err error) error {
		return &BlockError{Kind: ErrCorrupt, Segment: seg.name, Offset: off, Block: block, Seq: seq, Err: err}
	}
	off := int64(segHeaderSize)
	var blockIdx int64
	if resume {
		off = opts.from.off
		blockIdx = opts.from.blockIndex
		res.validEnd = position{seg: seg.index, off: off}
	} else {
		h, herr := decodeSegHeader(data)
		switch {
		case herr != nil && len(data) == 0:
			// Segments are renamed into place only after their header is
			// synced: an empty one is damage, not a crash.
			return true, corrupt(0, -1, res.nextSeq, fmt.Errorf("empty segment (0 bytes): %w", herr))
		case herr != nil && allZero(data):
			return true, corrupt(0, -1, res.nextSeq, fmt.Errorf("segment is all zeros (%d bytes): %w", len(data), herr))
		case herr != nil:
			return true, corrupt(0, -1, 0, herr)
		case h.Index != seg.index:
			return true, corrupt(0, -1, 0, fmt.Errorf("header says segment %d", h.Index))
		case res.firstSeq == 0:
			res.genesis, res.head, res.firstSeq, res.nextSeq = h.Prev, h.Prev, h.FirstSeq, h.FirstSeq
			switch m := res.manifest; {
			case m != nil && seg.index == m.first:
				// Where retention left the journal's start: the chain
				// continues from the manifest's anchor.
				res.genesis = m.genesis
				if h.FirstSeq != m.firstSeq {
					return true, corrupt(0, -1, 0, fmt.Errorf("the first segment starts at seq %d, but the retention manifest records seq %d", h.FirstSeq, m.firstSeq))
				}
				if opts.chain && h.Prev != m.anchor {
					return true, corrupt(0, -1, h.FirstSeq, fmt.Errorf("chain broken: the first segment's prev hash %x is not the retention manifest's anchor %x", h.Prev[:8], m.anchor[:8]))
				}
			case m != nil:
				res.genesis = m.genesis // a scan going on after retention removed segments under it
			case h.FirstSeq != 1:
				return true, corrupt(0, -1, 0, fmt.Errorf("the first segment starts at seq %d, want 1", h.FirstSeq))
			}
		case h.FirstSeq != res.nextSeq:
			return true, corrupt(0, -1, res.nextSeq, fmt.Errorf("segment starts at seq %d, want %d", h.FirstSeq, res.nextSeq))
		case opts.chain && h.Prev != res.head:
			return true, corrupt(0, -1, res.nextSeq, fmt.Errorf("chain broken: segment prev hash %x, want %x", h.Prev[:8], res.head[:8]))
		}
	}
	res.lastBlockOff = 0
	res.lastSynced = 0
	if !resume {
		res.validEnd = position{seg: seg.index, off: segHeaderSize}
	}
	var durableOff int64 = -1 // offset in this segment the checkpoint vouches for; -1: none
	if cp := opts.durable; cp != nil {
		switch {
		case cp.seg == seg.index:
			durableOff = cp.off
		case cp.seg > seg.index:
			durableOff = int64(len(data)) + 1 // the whole segment
		}
	}
	for {
		if opts.end != nil && seg.index == opts.end.seg && off >= opts.end.off {
			res.tailOff = off
			res.blockIndex = blockIdx
			return true, nil
		}
		if cp := opts.durable; cp != nil && cp.seg == seg.index && off == cp.off && (!resume || off != opts.from.off) {
			err := checkAgainst(res, cp)
			if err == nil && opts.atDurable != nil {
				err = opts.atDurable()
			}
			if err != nil {
				return true, corrupt(off, blockIdx, res.nextSeq, err)
			}
		}
		var h blockHeader
		var berr error
		if off >= int64(len(data)) || allZero(data[off:min(off+blockHeaderSize, int64(len(data)))]) {
			// Zeros where a block would start: the end of the data if
			// everything after it is zero too.
			nz := nonZeroEnd(data[min(off, int64(len(data))):])
			if nz == 0 {
				res.tailOff = off
				res.blockIndex = blockIdx
				return false, nil // clean end of this segment
			}
			berr = fmt.Errorf("zeros where a block should start, but non-zero bytes up to offset %d", off+nz)
		} else {
			h, berr = checkBlock(data[off:])
		}
		if berr == nil && h.FirstSeq != res.nextSeq {
			return true, corrupt(off, blockIdx, res.nextSeq, fmt.Errorf("block starts at seq %d, want %d", h.FirstSeq, res.nextSeq))
		}
		if berr == nil && opts.chain && h.Prev != res.head {
			return true, corrupt(off, blockIdx, res.nextSeq, fmt.Errorf("chain broken: prev hash %x, want %x", h.Prev[:8], res.head[:8]))
		}
		if berr == nil && opts.chain && h.TimeNs < res.lastTime {
			return true, corrupt(off, blockIdx, res.nextSeq, fmt.Errorf("time %d before previous block's %d", h.TimeNs, res.lastTime))
		}
		if berr != nil {
			// Damage. It is a torn tail — bytes that were never synced,
			// cut off by a crash — unless something durable vouches for
			// this offset: a later segment (the roll synced this one), the
			// checkpoint, or a later valid block whose synced field is
			// past it.
			var why string
			switch vouch, at := maxSyncedAfter(data, off); {
			case !last:
				why = "a later segment exists (this one was synced before it was created)"
			case durableOff > off:
				why = fmt.Sprintf("the checkpoint records this segment durable up to offset %d", durableOff)
			case vouch > off:
				why = fmt.Sprintf("the block at offset %d records this segment durable up to offset %d", at, vouch)
			}
			if why != "" {
				return true, corrupt(off, blockIdx, res.nextSeq, fmt.Errorf("%v; %s", berr, why))
			}
			t := &tornTail{seg: *seg, off: off, end: off + nonZeroEnd(data[min(off, int64(len(data))):]), err: berr, block: blockIdx}
			if hh, err := decodeBlockHeader(data[off:]); err == nil {
				t.records = int64(hh.Count)
			}
			res.torn = t
			res.tailOff = off
			res.blockIndex = blockIdx
			return true, nil
		}
		block := data[off : off+int64(h.size())]
		if durableOff > off && durableOff < off+int64(len(block)) {
			return true, corrupt(off, blockIdx, res.nextSeq, fmt.Errorf("the checkpoint records a block boundary at offset %d, inside this block", durableOff))
		}
		if opts.visit != nil {
			if err := opts.visit(&blockVisit{seg: seg, off: off, index: blockIdx, hdr: h, block: block}); err != nil {
				return true, err
			}
		}
		if hasher != nil {
			hasher.Reset()
			hasher.Write(res.head[:])
			hasher.Write(block)
			hasher.Sum(res.head[:0])
		}
		res.nextSeq += uint64(h.Count)
		res.lastTime = h.TimeNs
		res.blocks++
		res.records += int64(h.Count)
		res.bytes += int64(len(block))
		res.rawBytes += int64(h.RawLen)
		res.lastBlockOff = off
		res.lastSynced = min(h.Synced, off)
		off += int64(len(block))
		res.validEnd = position{seg: seg.index, off: off}
		if opts.afterBlock != nil {
			opts.afterBlock(res.head, res.nextSeq)
		}
		blockIdx++
	}
}

// checkAgainst compares the walk's state at the checkpoint's position with
// what the checkpoint recorded there.
func checkAgainst(res *walkResult, cp *checkpoint) error {
	switch {
	case res.genesis != cp.genesis:
		return fmt.Errorf("the checkpoint belongs to another journal: its genesis is %x, the journal's %x", cp.genesis[:8], res.genesis[:8])
	case res.nextSeq != cp.nextSeq:
		return fmt.Errorf("the checkpoint records seq %d as the next one here, the journal has %d", cp.nextSeq, res.nextSeq)
	case res.head != cp.head:
		return fmt.Errorf("the checkpoint records chain hash %x here, the journal has %x", cp.head[:8], res.head[:8])
	}
	return nil
}

var zeroPage [64 << 10]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// nonZeroEnd returns the offset just past the last non-zero byte of b.
func nonZeroEnd(b []byte) int64 {
	i := len(b)
	for i > 0 {
		n := min(i, len(zeroPage))
		if !bytes.Equal(b[i-n:i], zeroPage[:n]) {
			break
		}
		i -= n
	}
	for i >= 8 && binary.LittleEndian.Uint64(b[i-8:i]) == 0 {
		i -= 8
	}
	for i > 0 && b[i-1] == 0 {
		i--
	}
	return int64(i)
}

// maxSyncedAfter returns the largest synced field of the blocks with a
// valid CRC that start after off, and where the one that has it starts
// (0, 0 when none does).
func maxSyncedAfter(data []byte, off int64) (synced, at int64) {
	magic := []byte(blockMagic)
	for p := off + 1; p < int64(len(data)); {
		k := bytes.Index(data[p:], magic)
		if k < 0 {
			break
		}
		p += int64(k)
		if h, err := checkBlock(data[p:]); err == nil && min(h.Synced, p) > synced {
			synced, at = min(h.Synced, p), p
		}
		p++
	}
	return synced, at
}

// checkpoint is a verified point in the journal from which Open continues
// without rereading what came before. It is advisory: a checkpoint that
// does not match the segment it names is ignored.
//
// File layout (little endian): "FCJC" | version u16 | zero u16 |
// seg u64 | off i64 | blockIndex i64 | lastBlockOff i64 | firstSeq u64 |
// nextSeq u64 | lastTime i64 | blocks i64 | records i64 | genesis [32] |
// head [32] | nIntents u32 | nIntents × (seq u64, uvarint len, id) | CRC32C u32 of all before.
type checkpoint struct {
	seg          uint64
	off          int64
	blockIndex   int64
	lastBlockOff int64
	firstSeq     uint64
	nextSeq      uint64
	lastTime     int64
	blocks       int64
	records      int64
	genesis      [hashSize]byte
	head         [hashSize]byte
	intents      []intent
}

type intent struct {
	seq uint64
	id  string
}

const checkpointMagic = "FCJC"

func (c *checkpoint) encode() []byte {
	b := make([]byte, 0, 160+len(c.intents)*40)
	b = append(b, checkpointMagic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	for _, v := range [...]uint64{c.seg, uint64(c.off), uint64(c.blockIndex), uint64(c.lastBlockOff), c.firstSeq,
		c.nextSeq, uint64(c.lastTime), uint64(c.blocks), uint64(c.records)} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = append(b, c.genesis[:]...)
	b = append(b, c.head[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.intents)))
	for _, in := range c.intents {
		b = binary.LittleEndian.AppendUint64(b, in.seq)
		b = binary.AppendUvarint(b, uint64(len(in.id)))
		b = append(b, in.id...)
	}
	return binary.LittleEndian.AppendUint32(b, checksum(b))
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	const fixed = 8 + 9*8 + 2*hashSize + 4
	if len(b) < fixed+4 || string(b[:4]) != checkpointMagic {
		return c, errBadMagic
	}
	body := b[:len(b)-4]
	if checksum(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return c, errBadCRC
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v != formatVersion && v != formatVersion1 {
		return c, errBadVersion
	}
	p := body[8:]
	u := func() uint64 { v := binary.LittleEndian.Uint64(p); p = p[8:]; return v }
	c.seg, c.off, c.blockIndex, c.lastBlockOff = u(), int64(u()), int64(u()), int64(u())
	c.firstSeq, c.nextSeq, c.lastTime, c.blocks, c.records = u(), u(), int64(u()), int64(u()), int64(u())
	copy(c.genesis[:], p)
	copy(c.head[:], p[hashSize:])
	p = p[2*hashSize:]
	n := binary.LittleEndian.Uint32(p)
	p = p[4:]
	if uint64(n) > uint64(len(p))/9 {
		return c, errBadHeader
	}
	c.intents = make([]intent, 0, n)
	for range n {
		if len(p) < 8 {
			return c, errShort
		}
		seq := binary.LittleEndian.Uint64(p)
		p = p[8:]
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return c, errShort
		}
		c.intents = append(c.intents, intent{seq: seq, id: string(p[k : k+int(l)])})
		p = p[k+int(l):]
	}
	if len(p) != 0 {
		return c, errBadHeader
	}
	return c, nil
}
