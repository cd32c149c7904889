package journal

import (
	"errors"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// execIndex answers "which blocks may hold execution id X" for Get. It
// keeps, per block, a small Bloom filter of the block's execution ids
// (about 10 bits per record: ~1% false positives, 1.25 bytes of memory per
// record), built lazily: the first Get reads the whole journal, later ones
// only what was committed since. A lookup tests every block's filter (a few
// ns each) and decodes only the candidates.
//
// Tried and rejected: an exact map from id to block (tens of bytes per
// record: ~400 MB at 10M records) and scanning everything on every Get
// (O(journal) decoding per lookup).
type execIndex struct {
	mu     sync.Mutex // guards everything below; held for a whole Get
	seed   maphash.Seed
	built  bool
	pos    checkpoint // where indexing continues: seg, off, blockIndex, nextSeq
	blocks []indexedBlock
	bits   []uint64 // the filters, back to back
}

type indexedBlock struct {
	seg      uint64
	off      int64
	size     int32
	wordsOff uint32 // first word of the filter in bits
	words    uint16 // filter length in 64-bit words (a power of two)
}

const bloomHashes = 3

func (x *execIndex) add(v *blockVisit, ids [][]byte) {
	words := 1
	for words*64 < 10*len(ids) && words < 1<<15 {
		words *= 2
	}
	off := len(x.bits)
	x.bits = append(x.bits, make([]uint64, words)...)
	f := x.bits[off:]
	mask := uint64(words*64 - 1)
	for _, id := range ids {
		h := maphash.Bytes(x.seed, id)
		for k := range bloomHashes {
			bit := (h >> (k * 21)) & mask
			f[bit/64] |= 1 << (bit % 64)
		}
	}
	x.blocks = append(x.blocks, indexedBlock{seg: v.seg.index, off: v.off, size: int32(len(v.block)),
		wordsOff: uint32(off), words: uint16(words)})
}

func (x *execIndex) mayContain(b *indexedBlock, h uint64) bool {
	f := x.bits[b.wordsOff : b.wordsOff+uint32(b.words)]
	mask := uint64(int(b.words)*64 - 1)
	for k := range bloomHashes {
		bit := (h >> (k * 21)) & mask
		if f[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// extend indexes the blocks between x.pos and end.
func (x *execIndex) extend(fsys fileSystem, dir string, end *position) error {
	var dec decompressor
	defer dec.close()
	var ids [][]byte
	visit := func(v *blockVisit) error {
		body, err := dec.decode(&v.hdr, v.block[blockHeaderSize:])
		if err != nil {
			return &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
		}
		ids = ids[:0]
		err = splitRecords(body, v.hdr.Count, func(_ int, rec []byte) error {
			_, id, err := recordKindID(rec)
			ids = append(ids, id)
			return err
		})
		if err != nil {
			return &BlockError{Kind: ErrCorrupt, Segment: v.seg.name, Offset: v.off, Block: v.index, Seq: v.hdr.FirstSeq, Err: err}
		}
		x.add(v, ids)
		return nil
	}
	var from *checkpoint
	if x.built {
		from = &x.pos
	}
	res, err := walk(fsys, dir, walkOpts{from: from, end: end, visit: visit})
	if err != nil {
		return err
	}
	if len(res.segs) > 0 {
		last := res.segs[len(res.segs)-1]
		if end != nil {
			last.index = end.seg
		}
		x.pos = checkpoint{seg: last.index, off: res.tailOff, blockIndex: res.blockIndex,
			firstSeq: res.firstSeq, nextSeq: res.nextSeq}
		x.built = true
	}
	return nil
}

// prune forgets the blocks of the segments before first: retention
// removed them (their records are not found any more, and not an error).
func (x *execIndex) prune(first uint64) {
	k, _ := slices.BinarySearchFunc(x.blocks, first, func(b indexedBlock, t uint64) int { return cmpU64(b.seg, t) })
	if k == 0 {
		return
	}
	var off uint32
	if k < len(x.blocks) {
		off = x.blocks[k].wordsOff
	} else {
		off = uint32(len(x.bits))
	}
	x.bits = append([]uint64(nil), x.bits[off:]...)
	x.blocks = append([]indexedBlock(nil), x.blocks[k:]...)
	for i := range x.blocks {
		x.blocks[i].wordsOff -= off
	}
}

// lookup returns the records of id, reading only candidate blocks. base
// returns the journal's first segment: a segment before it that is gone
// was removed by retention, and its records are not found.
func (x *execIndex) lookup(fsys fileSystem, dir, id string, base func() uint64) ([]Record, error) {
	h := maphash.String(x.seed, id)
	var out []Record
	var dec decompressor
	defer dec.close()
	var f file
	var fseg uint64
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var buf []byte
	gone := base() // segments before it were removed by retention
	for i := range x.blocks {
		b := &x.blocks[i]
		if b.seg < gone || !x.mayContain(b, h) {
			continue
		}
		if f == nil || fseg != b.seg {
			if f != nil {
				f.Close()
				f = nil
			}
			var err error
			if f, err = fsys.OpenFile(filepath.Join(dir, segmentName(b.seg)), os.O_RDONLY, 0); err != nil {
				if gone = base(); errors.Is(err, os.ErrNotExist) && b.seg < gone {
					continue // removed since the index was pruned
				}
				return nil, err
			}
			fseg = b.seg
		}
		buf = growTo(buf[:0], int(b.size))[:b.size]
		if _, err := f.ReadAt(buf, b.off); err != nil {
			return nil, err
		}
		hdr, err := checkBlock(buf)
		if err == nil {
			var body []byte
			if body, err = dec.decode(&hdr, buf[blockHeaderSize:]); err == nil {
				err = splitRecords(body, hdr.Count, func(i int, rec []byte) error {
					if _, rid, err := recordKindID(rec); err != nil || string(rid) != id {
						return err
					}
					var r Record
					if err := decodeRecord(rec, &r); err != nil {
						return err
					}
					r.Seq, r.TimeUnixNs = hdr.FirstSeq+uint64(i), hdr.TimeNs
					out = append(out, r)
					return nil
				})
			}
		}
		if err != nil {
			return nil, &BlockError{Kind: ErrCorrupt, Segment: segmentName(b.seg), Offset: b.off, Err: err}
		}
	}
	return out, nil
}
