package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
)

// tailWindow is how far past the end of the data walk looks for stray
// non-zero bytes (a torn write whose first page was lost): the largest
// block the writer produces by default plus its header.
const tailWindow = defaultMaxBatchBytes + blockHeaderSize

// position is a byte position in the journal: segment index and offset.
type position struct {
	seg uint64
	off int64
}

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
	visit func(v *blockVisit) error
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
	blocks       int64
	records      int64
	bytes        int64 // bytes of valid blocks walked
	rawBytes     int64 // uncompressed body bytes of valid blocks walked
	torn         *tornTail
}

// walk reads the journal's segments in order, checking every block's CRC
// and (with opts.chain) the hash chain, sequence numbers and time order. It
// stops at the first failure: a failure in the last segment with no valid
// block after it is a torn tail (reported in the result, err == nil);
// anything else is returned as a *BlockError of kind ErrCorrupt. A visit
// error stops the walk and is returned as is.
func walk(fsys fileSystem, dir string, opts walkOpts) (walkResult, error) {
	var res walkResult
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return res, err
	}
	res.segs = segs
	if len(segs) == 0 {
		return res, nil
	}
	var hasher hash.Hash
	if opts.chain {
		hasher = sha256.New()
	}
	first := 0
	if cp := opts.from; cp != nil {
		for i := range segs {
			if segs[i].index == cp.seg {
				first = i
			}
		}
		res.genesis = cp.genesis
		res.firstSeq = cp.firstSeq
		res.nextSeq = cp.nextSeq
		res.head = cp.head
		res.lastTime = cp.lastTime
		res.blocks = cp.blocks
		res.records = cp.records
	}
	for i := first; i < len(segs); i++ {
		seg := &segs[i]
		last := i == len(segs)-1
		data, unmap, err := fsys.Map(seg.path)
		if err != nil {
			return res, err
		}
		stop, err := walkSegment(&res, seg, data, last, i == first && opts.from != nil, hasher, &opts)
		if opts.beforeUnmap != nil {
			opts.beforeUnmap()
		}
		unmap()
		if err != nil || stop {
			return res, err
		}
	}
	return res, nil
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
	} else {
		h, herr := decodeSegHeader(data)
		switch {
		case herr != nil && last && allZero(data):
			// A segment whose header never reached the disk: torn at creation.
			res.torn = &tornTail{seg: *seg, off: 0, end: 0, err: herr, block: -1}
			res.tailOff = 0
			return true, nil
		case herr != nil:
			return true, corrupt(0, -1, 0, herr)
		case h.Index != seg.index:
			return true, corrupt(0, -1, 0, fmt.Errorf("header says segment %d", h.Index))
		case res.firstSeq == 0:
			res.genesis, res.head, res.firstSeq, res.nextSeq = h.Prev, h.Prev, h.FirstSeq, h.FirstSeq
			if h.FirstSeq == 0 {
				return true, corrupt(0, -1, 0, fmt.Errorf("first seq 0"))
			}
		case h.FirstSeq != res.nextSeq:
			return true, corrupt(0, -1, res.nextSeq, fmt.Errorf("segment starts at seq %d, want %d", h.FirstSeq, res.nextSeq))
		case opts.chain && h.Prev != res.head:
			return true, corrupt(0, -1, res.nextSeq, fmt.Errorf("chain broken: segment prev hash %x, want %x", h.Prev[:8], res.head[:8]))
		}
	}
	res.lastBlockOff = 0
	for {
		if opts.end != nil && seg.index == opts.end.seg && off >= opts.end.off {
			res.tailOff = off
			res.blockIndex = blockIdx
			return true, nil
		}
		var h blockHeader
		var berr error
		if off >= int64(len(data)) || allZero(data[off:min(off+blockHeaderSize, int64(len(data)))]) {
			// Zeros where a block would start: the end of the data, unless
			// non-zero bytes follow within the reach of one torn write.
			if allZero(data[min(off, int64(len(data))):min(off+tailWindow, int64(len(data)))]) {
				res.tailOff = off
				res.blockIndex = blockIdx
				return false, nil // clean end of this segment
			}
			berr = errBadMagic
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
			if last && !validBlockAfter(data, off) {
				t := &tornTail{seg: *seg, off: off, end: nonZeroEnd(data), err: berr, block: blockIdx}
				if hh, err := decodeBlockHeader(data[off:]); err == nil {
					t.records = int64(hh.Count)
				}
				res.torn = t
				res.tailOff = off
				res.blockIndex = blockIdx
				return true, nil
			}
			return true, corrupt(off, blockIdx, res.nextSeq, berr)
		}
		block := data[off : off+int64(h.size())]
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
		off += int64(len(block))
		blockIdx++
	}
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// nonZeroEnd returns the offset just past the last non-zero byte of b.
func nonZeroEnd(b []byte) int64 {
	i := len(b)
	for i >= 8 && binary.LittleEndian.Uint64(b[i-8:i]) == 0 {
		i -= 8
	}
	for i > 0 && b[i-1] == 0 {
		i--
	}
	return int64(i)
}

// validBlockAfter reports whether a block with a valid CRC starts anywhere
// after off: if so, damage at off is not a torn tail but corruption.
func validBlockAfter(data []byte, off int64) bool {
	magic := []byte(blockMagic)
	for p := off + 1; p < int64(len(data)); {
		k := bytes.Index(data[p:], magic)
		if k < 0 {
			return false
		}
		p += int64(k)
		if _, err := checkBlock(data[p:]); err == nil {
			return true
		}
		p++
	}
	return false
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
	if binary.LittleEndian.Uint16(b[4:6]) != formatVersion {
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
