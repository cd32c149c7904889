package journal

// The on-disk format. Everything in this file is part of the wire format:
// changing a constant or a layout below breaks every journal already written.
// A new layout gets a new version number; readers keep decoding the old one.
//
// A journal is a directory of segment files. A segment is a fixed header
// followed by blocks; the rest of a preallocated segment is zero.
//
// Segment header (64 bytes, little endian):
//
//	 0        4        6        8                16               24
//	+--------+--------+--------+----------------+----------------+
//	| "FCJS" |version | flags  | segment index  |   first seq    |
//	+--------+--------+--------+----------------+----------------+
//	24                                                           56
//	+------------------------------------------------------------+
//	| chain hash before this segment's first block (32 bytes);   |
//	| in segment 0 this is the journal's genesis value           |
//	+------------------------------------------------------------+
//	56       60       64
//	+--------+--------+
//	| CRC32C |  zero  |   CRC-32C (Castagnoli) of bytes [0, 56); flags and
//	+--------+--------+   the last 4 bytes must be zero
//
// Block (one per group commit; header 80 bytes, then the body):
//
//	 0        4   5   6        8                16               24
//	+--------+---+---+--------+----------------+----------------+
//	| "FCJB" |ver|cdc| flags  |   first seq    | time (unix ns) |
//	+--------+---+---+--------+----------------+----------------+
//	24       28       32       36       40
//	+--------+--------+--------+--------+
//	| count  | body   | raw    | CRC32C |
//	|        | length | length |        |
//	+--------+--------+--------+--------+
//	40                                                           72
//	+------------------------------------------------------------+
//	| prev hash: chain hash of the previous block (32 bytes)     |
//	+------------------------------------------------------------+
//	72                80
//	+----------------+------------------------------------------+
//	|  synced        | body: body-length bytes, the records     |
//	+----------------+ compressed with codec cdc                |
//	                 +------------------------------------------+
//
//	time       the commit time of the block (= every record's TimeUnixNs)
//	count      records in the block, >= 1
//	body len   bytes of the body as stored (compressed)
//	raw len    bytes of the body after decompression
//	CRC32C     Castagnoli CRC over header bytes [0,36) ++ [40,80) ++ body,
//	           i.e. everything in the block except the CRC field itself.
//	synced     (version 2) the offset in this segment up to which the
//	           segment was known durable (fdatasync'ed) when the block was
//	           written; at most the block's own offset. Recovery uses it to
//	           tell damage that was never synced (a torn tail: truncated)
//	           from damage to data a later block vouches was durable
//	           (corruption). Version 1 blocks have zero here: they vouch
//	           for nothing.
//
// Versions: 1 (the first); 2 adds the synced field (the 8 bytes were
// zero in version 1, so a version 1 block reads as one that vouches for
// nothing) and record kind 7 (interrupted). Readers accept both; the
// writer writes version 2, in segment headers, blocks and checkpoints
// alike. A journal may hold version 1 segments followed by version 2 ones.
//
// Chain: hash(n) = SHA-256(hash(n-1) ‖ block n), where "block n" is the
// block's full bytes (header, CRC included, and body). hash(-1) is the
// genesis value in segment 0's header. Each block stores hash(n-1) as its
// prev hash, and each segment header stores the chain hash before its first
// block, so a modified block that still has a valid CRC breaks the link to
// the block after it.
//
// Body (after decompression): count records, each prefixed by its length:
//
//	uvarint(len) record
//
// Record (deterministic: the same Record always encodes to the same bytes):
//
//	 0   1                                 33
//	+---+---------------------------------+
//	|k  | args digest (32 bytes)          |   k = Kind
//	+---+---------------------------------+
//	then, in this order:
//	  varint  Timings.ValidateNs, AuthorizeNs, AdmitNs, ExecuteNs, TotalNs
//	  string  ExecutionID, Principal, Capability, Decision, Rule, State,
//	          Status, IdempotencyKey           (uvarint length, bytes)
//	  bytes   Args, Result, Error               (uvarint length+1, bytes;
//	                                             0 means nil)
//	  bytes   CanonicalArgs                     (optional, same encoding;
//	                                             absent when nil and Shadow
//	                                             is nil, so records without
//	                                             either encode as before)
//	  Shadow                                    (optional: present only when
//	                                             Shadow is non-nil, and then
//	                                             CanonicalArgs is written,
//	                                             0 for nil)
//	    string  Shadow.Decision, Shadow.Rule    (uvarint length, bytes)
//	    32 bytes Shadow.PolicyHash
//
// Seq and TimeUnixNs are not stored per record: a record's Seq is the block's
// first seq plus its index, and its time is the block time.
//
// The segment file name is the decimal segment index, zero padded to 20
// digits, plus ".seg" (00000000000000000000.seg). Segments are numbered
// without gaps from 0 (or from the first segment the retention manifest
// names: retention.go has its layout).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Part of the wire format and should not be changed.
const (
	segMagic         = "FCJS"
	blockMagic       = "FCJB"
	formatVersion    = 2 // written; formatVersion1 is still read
	formatVersion1   = 1
	segHeaderSize    = 64
	blockHeaderSize  = 80
	hashSize         = 32
	segmentExt       = ".seg"
	maxBlockBody     = 64 << 20 // body length and raw length bound, in bytes
	maxBlockRecords  = 1 << 20  // record count bound per block
	maxRecordStrings = 1 << 20  // bound on a single string/bytes field
	recordFixedSize  = 1 + 32
	// A block's raw length may not exceed maxRatio*bodyLen+maxRatioSlack;
	// this bounds what a decoder allocates for a small hostile input. The
	// writer stores a body uncompressed rather than exceed it.
	maxRatio      = 64
	maxRatioSlack = 64 << 10
	// maxSegmentOffset bounds the synced field.
	maxSegmentOffset = 1 << 48
)

// Codec ids stored in the block header. Part of the wire format.
const (
	codecNone byte = 0
	codecS2   byte = 1
	codecZstd byte = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// segHeader is the decoded segment header.
type segHeader struct {
	Index    uint64
	FirstSeq uint64
	Prev     [hashSize]byte
}

func (h *segHeader) encode(b []byte) {
	_ = b[segHeaderSize-1]
	clear(b[:segHeaderSize])
	copy(b[0:4], segMagic)
	binary.LittleEndian.PutUint16(b[4:6], formatVersion)
	binary.LittleEndian.PutUint64(b[8:16], h.Index)
	binary.LittleEndian.PutUint64(b[16:24], h.FirstSeq)
	copy(b[24:56], h.Prev[:])
	binary.LittleEndian.PutUint32(b[56:60], crc32.Checksum(b[0:56], crcTable))
}

var (
	errBadMagic   = errors.New("bad magic")
	errBadCRC     = errors.New("crc mismatch")
	errBadVersion = errors.New("unsupported format version")
	errBadHeader  = errors.New("invalid header field")
	errShort      = errors.New("short block")
)

func decodeSegHeader(b []byte) (segHeader, error) {
	var h segHeader
	if len(b) < segHeaderSize {
		return h, errShort
	}
	if string(b[0:4]) != segMagic {
		return h, errBadMagic
	}
	if got, want := crc32.Checksum(b[0:56], crcTable), binary.LittleEndian.Uint32(b[56:60]); got != want {
		return h, fmt.Errorf("%w: want %08x got %08x", errBadCRC, want, got)
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v != formatVersion && v != formatVersion1 {
		return h, fmt.Errorf("%w: %d", errBadVersion, v)
	}
	if binary.LittleEndian.Uint32(b[60:64]) != 0 || binary.LittleEndian.Uint16(b[6:8]) != 0 {
		return h, fmt.Errorf("%w: reserved bytes not zero", errBadHeader)
	}
	h.Index = binary.LittleEndian.Uint64(b[8:16])
	h.FirstSeq = binary.LittleEndian.Uint64(b[16:24])
	copy(h.Prev[:], b[24:56])
	return h, nil
}

// blockHeader is the decoded block header.
type blockHeader struct {
	Codec    byte
	FirstSeq uint64
	TimeNs   int64
	Count    uint32
	BodyLen  uint32
	RawLen   uint32
	CRC      uint32
	Prev     [hashSize]byte
	Synced   int64 // segment offset known durable when the block was written (0 in version 1)
}

// size is the full block size: header plus body.
func (h *blockHeader) size() int { return blockHeaderSize + int(h.BodyLen) }

// encode writes the header into b[:blockHeaderSize] with a zero CRC field;
// sealBlock fills the CRC once the body is in place.
func (h *blockHeader) encode(b []byte) {
	_ = b[blockHeaderSize-1]
	clear(b[:blockHeaderSize])
	copy(b[0:4], blockMagic)
	b[4] = formatVersion
	b[5] = h.Codec
	binary.LittleEndian.PutUint64(b[8:16], h.FirstSeq)
	binary.LittleEndian.PutUint64(b[16:24], uint64(h.TimeNs))
	binary.LittleEndian.PutUint32(b[24:28], h.Count)
	binary.LittleEndian.PutUint32(b[28:32], h.BodyLen)
	binary.LittleEndian.PutUint32(b[32:36], h.RawLen)
	copy(b[40:72], h.Prev[:])
	binary.LittleEndian.PutUint64(b[72:80], uint64(h.Synced))
}

// blockCRC computes the CRC of a complete block (header + body).
func blockCRC(block []byte) uint32 {
	c := crc32.Checksum(block[0:36], crcTable)
	return crc32.Update(c, crcTable, block[40:])
}

// sealBlock stores the CRC of a complete block in its header.
func sealBlock(block []byte) {
	binary.LittleEndian.PutUint32(block[36:40], blockCRC(block))
}

// decodeBlockHeader parses and bounds-checks a block header. It does not
// check the CRC (the body may not have been read yet); see checkBlock.
func decodeBlockHeader(b []byte) (blockHeader, error) {
	var h blockHeader
	if len(b) < blockHeaderSize {
		return h, errShort
	}
	if string(b[0:4]) != blockMagic {
		return h, errBadMagic
	}
	if b[4] != formatVersion && b[4] != formatVersion1 {
		return h, fmt.Errorf("%w: %d", errBadVersion, b[4])
	}
	h.Codec = b[5]
	h.FirstSeq = binary.LittleEndian.Uint64(b[8:16])
	h.TimeNs = int64(binary.LittleEndian.Uint64(b[16:24]))
	h.Count = binary.LittleEndian.Uint32(b[24:28])
	h.BodyLen = binary.LittleEndian.Uint32(b[28:32])
	h.RawLen = binary.LittleEndian.Uint32(b[32:36])
	h.CRC = binary.LittleEndian.Uint32(b[36:40])
	copy(h.Prev[:], b[40:72])
	h.Synced = int64(binary.LittleEndian.Uint64(b[72:80]))
	switch {
	case h.Codec > codecZstd:
		return h, fmt.Errorf("%w: codec %d", errBadHeader, h.Codec)
	case h.Count == 0 || h.Count > maxBlockRecords:
		return h, fmt.Errorf("%w: count %d", errBadHeader, h.Count)
	case h.BodyLen > maxBlockBody || h.RawLen > maxBlockBody:
		return h, fmt.Errorf("%w: lengths %d/%d", errBadHeader, h.BodyLen, h.RawLen)
	case h.Codec == codecNone && h.BodyLen != h.RawLen:
		return h, fmt.Errorf("%w: uncompressed body %d != raw %d", errBadHeader, h.BodyLen, h.RawLen)
	case h.FirstSeq == 0 || h.FirstSeq > math.MaxUint64-uint64(h.Count):
		return h, fmt.Errorf("%w: first seq %d", errBadHeader, h.FirstSeq)
	case uint64(h.RawLen) > maxRatio*uint64(h.BodyLen)+maxRatioSlack:
		return h, fmt.Errorf("%w: raw length %d implausible for body %d", errBadHeader, h.RawLen, h.BodyLen)
	case h.Synced < 0 || h.Synced > maxSegmentOffset:
		return h, fmt.Errorf("%w: synced offset %d", errBadHeader, h.Synced)
	case uint64(h.RawLen) < uint64(h.Count)*(recordFixedSize+1):
		return h, fmt.Errorf("%w: raw length %d too small for %d records", errBadHeader, h.RawLen, h.Count)
	}
	return h, nil
}

// checkBlock decodes the header of a complete block and verifies its CRC.
func checkBlock(block []byte) (blockHeader, error) {
	h, err := decodeBlockHeader(block)
	if err != nil {
		return h, err
	}
	if len(block) < h.size() {
		return h, errShort
	}
	if got := blockCRC(block[:h.size()]); got != h.CRC {
		return h, fmt.Errorf("%w: want %08x got %08x", errBadCRC, h.CRC, got)
	}
	return h, nil
}

// appendRecord appends the deterministic encoding of r (without the length
// prefix) to b.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, byte(r.Kind))
	b = append(b, r.ArgsDigest[:]...)
	b = binary.AppendVarint(b, r.Timings.ValidateNs)
	b = binary.AppendVarint(b, r.Timings.AuthorizeNs)
	b = binary.AppendVarint(b, r.Timings.AdmitNs)
	b = binary.AppendVarint(b, r.Timings.ExecuteNs)
	b = binary.AppendVarint(b, r.Timings.TotalNs)
	for _, s := range [...]string{r.ExecutionID, r.Principal, r.Capability, r.Decision, r.Rule, r.State, r.Status, r.IdempotencyKey} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, p := range [...][]byte{r.Args, r.Result, r.Error} {
		if p == nil {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(p))+1)
		b = append(b, p...)
	}
	switch {
	case r.CanonicalArgs != nil:
		b = binary.AppendUvarint(b, uint64(len(r.CanonicalArgs))+1)
		b = append(b, r.CanonicalArgs...)
	case r.Shadow != nil:
		b = append(b, 0) // CanonicalArgs nil, written because Shadow follows
	}
	if s := r.Shadow; s != nil {
		for _, f := range [...]string{s.Decision, s.Rule} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
		b = append(b, s.PolicyHash[:]...)
	}
	return b
}

// encodedRecordSize returns an upper bound of appendRecord's output plus
// its length prefix, for buffer sizing.
func encodedRecordSize(r *Record) int {
	n := recordFixedSize + 5*binary.MaxVarintLen64 + 12*binary.MaxVarintLen64 + binary.MaxVarintLen32
	return n + len(r.ExecutionID) + len(r.Principal) + len(r.Capability) + len(r.Decision) +
		len(r.Rule) + len(r.State) + len(r.Status) + len(r.IdempotencyKey) +
		len(r.Args) + len(r.Result) + len(r.Error) + len(r.CanonicalArgs) + shadowSize(r.Shadow)
}

// shadowSize bounds the encoding of a record's optional Shadow.
func shadowSize(s *Shadow) int {
	if s == nil {
		return 0
	}
	return 2*binary.MaxVarintLen64 + len(s.Decision) + len(s.Rule) + hashSize
}

var errRecord = errors.New("malformed record")

// decodeRecord decodes one record (without its length prefix) into r. Every
// length is checked against the remaining input before anything is
// allocated, so the allocation is bounded by len(b).
func decodeRecord(b []byte, r *Record) error { return parseRecord(b, r) }

// validateRecord checks that b is a well-formed record without allocating.
func validateRecord(b []byte) error { return parseRecord(b, nil) }

// parseRecord decodes b into r, or only validates it when r is nil.
func parseRecord(b []byte, r *Record) error {
	if len(b) < recordFixedSize {
		return fmt.Errorf("%w: %d bytes", errRecord, len(b))
	}
	k := Kind(b[0])
	if k == 0 || k > kindMax {
		return fmt.Errorf("%w: kind %d", errRecord, b[0])
	}
	if r != nil {
		r.Kind = k
		copy(r.ArgsDigest[:], b[1:33])
	}
	b = b[33:]
	var scratch Record
	if r == nil {
		r = &scratch // timings only; strings and bytes are skipped below
	}
	alloc := r != &scratch
	for _, p := range [...]*int64{&r.Timings.ValidateNs, &r.Timings.AuthorizeNs, &r.Timings.AdmitNs, &r.Timings.ExecuteNs, &r.Timings.TotalNs} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return fmt.Errorf("%w: timings", errRecord)
		}
		*p = v
		b = b[n:]
	}
	for _, p := range [...]*string{&r.ExecutionID, &r.Principal, &r.Capability, &r.Decision, &r.Rule, &r.State, &r.Status, &r.IdempotencyKey} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return fmt.Errorf("%w: string length", errRecord)
		}
		if alloc {
			*p = string(b[n : n+int(l)])
		}
		b = b[n+int(l):]
	}
	fields := [...]*[]byte{&r.Args, &r.Result, &r.Error, &r.CanonicalArgs}
	for i, p := range fields {
		if i == len(fields)-1 && len(b) == 0 {
			*p = nil // the optional CanonicalArgs is absent
			break
		}
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n)+1 {
			return fmt.Errorf("%w: bytes length", errRecord)
		}
		b = b[n:]
		if l == 0 {
			*p = nil
			continue
		}
		l--
		if alloc {
			*p = append(make([]byte, 0, l), b[:l]...)
		}
		b = b[l:]
	}
	if alloc {
		r.Shadow = nil
	}
	if len(b) != 0 {
		if err := parseShadow(b, r, alloc); err != nil {
			return err
		}
	}
	return nil
}

// parseShadow decodes the optional Shadow that ends a record (b is what
// follows CanonicalArgs, non-empty) into r, allocating only when alloc.
func parseShadow(b []byte, r *Record, alloc bool) error {
	var f [2]string
	for i := range f {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return fmt.Errorf("%w: shadow string length", errRecord)
		}
		if alloc {
			f[i] = string(b[n : n+int(l)])
		}
		b = b[n+int(l):]
	}
	if len(b) != hashSize {
		return fmt.Errorf("%w: shadow policy hash: %d bytes", errRecord, len(b))
	}
	if alloc {
		r.Shadow = &Shadow{Decision: f[0], Rule: f[1]}
		copy(r.Shadow.PolicyHash[:], b)
	}
	return nil
}

// splitRecords walks a decompressed body, calling fn with each record's
// bytes. It checks that exactly count records fill the body.
func splitRecords(body []byte, count uint32, fn func(i int, rec []byte) error) error {
	for i := 0; i < int(count); i++ {
		l, n := binary.Uvarint(body)
		if n <= 0 || l > uint64(len(body)-n) {
			return fmt.Errorf("%w: record %d length", errRecord, i)
		}
		if err := fn(i, body[n:n+int(l)]); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		body = body[n+int(l):]
	}
	if len(body) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after %d records", errRecord, len(body), count)
	}
	return nil
}

func checksum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }
