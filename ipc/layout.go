package ipc

// The shared-memory region. Everything in this file is part of the wire
// format: a C, Rust or Python client is written from this drawing (and
// doc.go's handshake), so changing a constant or an offset below breaks
// every client already written. A new layout gets a new Version.
//
// All integers are little endian. The region is one memfd, sealed against
// shrinking and growing, mapped MAP_SHARED by both processes. The server
// fills the header before it passes the descriptor; after that the header
// is read-only for both sides, except the server-state word and the two
// doorbells.
//
// Region header (4096 bytes; offsets in bytes from the start of the region):
//
//	 0        4        6        8                16               24       28       32
//	+--------+--------+--------+----------------+----------------+--------+--------+
//	| "FCRG" |version | header |   features     |  region size   |  max   | server |
//	|        |  (1)   |  size  |  (bit set)     |    (bytes)     | frame  | state  |
//	+--------+--------+--------+----------------+----------------+--------+--------+
//	32               40               48               56               64
//	+----------------+----------------+----------------+----------------+
//	| request ring   | request ring   | request ring   | response ring  |
//	| control offset | data offset    | data size      | control offset |
//	+----------------+----------------+----------------+----------------+
//	64               72               80                              128
//	+----------------+----------------+-------------------------------+
//	| response ring  | response ring  |  zero                         |
//	| data offset    | data size      |                               |
//	+----------------+----------------+-------------------------------+
//	128      132      136                                             256
//	+--------+--------+-----------------------------------------------+
//	| server | server |  zero    (server doorbell: its own 128 bytes)  |
//	| seq    | parked |                                               |
//	+--------+--------+-----------------------------------------------+
//	256      260      264                                             384
//	+--------+--------+-----------------------------------------------+
//	| client | client |  zero    (client doorbell: its own 128 bytes)  |
//	| seq    | parked |                                               |
//	+--------+--------+-----------------------------------------------+
//	384 … 512 zero; 512 request ring control; 768 response ring control;
//	1024 … 4096 zero
//
// Ring control block (256 bytes; head and tail on separate 128-byte lines,
// so the two processes never write the same cache line or its prefetch
// pair):
//
//	+0                 +8                                            +128
//	+------------------+---------------------------------------------+
//	| head (u64)       |  zero                                       |  written by the producer only
//	+------------------+---------------------------------------------+
//	+128               +136                                          +256
//	+------------------+---------------------------------------------+
//	| tail (u64)       |  zero                                       |  written by the consumer only
//	+------------------+---------------------------------------------+
//
// head and tail are free-running byte counts (they never wrap in practice:
// 2^64 bytes). A frame starts at data[head mod size]; size is a power of
// two and a multiple of 16. Invariants, checked by both sides on every
// value read from the peer:
//
//	tail <= head, head - tail <= size, head and tail are multiples of 16,
//	and each only grows.
//
// The request ring's producer is the client and its consumer the server;
// the response ring the other way round. With the default sizes the
// request data starts at 4096 and the response data right after it; a
// client uses the offsets in the header, never its own arithmetic.
//
// Frame (16-byte header, then the payload, padded with zeros to a multiple
// of 16; a frame occupies 16 + roundup16(length) bytes):
//
//	 0        4        8                16
//	+--------+--------+----------------+--------------------------------+
//	| length | flags  |   request id   | payload (length bytes) …       |
//	+--------+--------+----------------+--------------------------------+
//
//	length     payload bytes, 0 ≤ length ≤ max frame
//	flags      requests: zero, or FlagKeyed when the payload starts with
//	           an idempotency key (below); any other bit is refused.
//	           Responses: FlagTransport when the ipc layer made the answer
//	           itself (frame too large, server draining, a bad key prefix)
//	           and the pipeline never saw the request.
//	request id chosen by the client, echoed in the answer; answers come
//	           back in completion order, not request order
//	payload    request: the protocol message (UTF-8 JSON); with FlagKeyed,
//	           first a key prefix — key length (u16, big-endian, 1 to 256),
//	           the key bytes — then the message. Response: the answer, the
//	           JSON object every transport returns ("replayed":true when a
//	           key's first answer is served again; see package pipeline).
//
// The header never straddles the end of the data area (everything is
// 16-aligned and the size a multiple of 16); the payload may: it continues
// at data[0]. A producer advances head only to the end of a whole frame,
// so a consumer that sees head has the whole frame. A frame whose length
// is over max frame is skipped by the server and answered with
// FlagTransport and PROTOCOL_ERROR "too_large"; a frame that claims more
// bytes than head covers is a protocol violation, and the server closes
// the connection.
//
// Publication: the producer writes frames, then stores head (a release
// store; one store may publish many frames). The consumer loads head
// (acquire), copies the frames out, then stores tail (release; again once
// for a batch).
//
// Doorbells (futex words, FUTEX_WAIT / FUTEX_WAKE without the PRIVATE
// flag: the word is shared between processes). A side that finds nothing
// to do spins briefly, then parks: it increments its own parked word
// (atomically), re-checks the rings, and if still nothing has changed calls
// FUTEX_WAIT on its own seq word with the seq value it read before
// incrementing parked; on waking it decrements parked. After storing head
// or tail, a side loads the peer's parked word; if it is non-zero it
// increments the peer's seq word and calls FUTEX_WAKE on it (all
// waiters). All of these accesses are sequentially consistent (on amd64:
// locked instructions or XCHG for the stores), which is what makes the
// "store index, load parked" / "store parked, load index" pair safe.
//
// Server state (offset 28, u32, written by the server only): 0 serving,
// 1 draining (requests after this are answered with FlagTransport,
// reason shutting_down), 2 closed. A client that finds it non-zero fails
// new requests at once; the socket's EOF is the final word.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Part of the wire format and should not be changed.
const (
	regionMagic     = "FCRG"
	helloMagic      = "FCIH"
	replyMagic      = "FCIA"
	Version         = 1    // the layout and handshake version this package speaks
	headerSize      = 4096 // region header, a page
	frameHeaderSize = 16
	frameAlign      = 16
	ctlSize         = 256 // ring control block
	lineSize        = 128 // what head, tail and each doorbell are padded to

	offMagic       = 0
	offVersion     = 4
	offHeaderSize  = 6
	offFeatures    = 8
	offRegionSize  = 16
	offMaxFrame    = 24
	offServerState = 28
	offReqCtl      = 32
	offReqData     = 40
	offReqSize     = 48
	offRespCtl     = 56
	offRespData    = 64
	offRespSize    = 72
	offServerBell  = 128 // seq u32, then parked u32
	offClientBell  = 256
	offReqCtlBlock = 512
	offRespCtlBlk  = 768
	ctlHead        = 0
	ctlTail        = lineSize

	// FeatureDoorbells: the futex doorbells above are in use. Always set by
	// this version; a client that does not implement them must refuse.
	FeatureDoorbells uint64 = 1 << 0

	// FeatureSocketFrames, requested in the hello: no region; the frames
	// (same 16-byte header, payload padded to 16) travel over the socket
	// itself, both ways, after the reply. The server passes no descriptor.
	// Max frame is then streamMaxFrame.
	FeatureSocketFrames uint64 = 1 << 1

	// FlagTransport marks a response the ipc layer made itself.
	FlagTransport uint32 = 1 << 0
	// FlagKeyed marks a request whose payload starts with an idempotency
	// key: u16 big-endian length, then the key, then the message.
	FlagKeyed uint32 = 1 << 1
	// maxKeyLen bounds a key (protocol.MaxIdempotencyKeyLen; the package
	// test holds the two equal, since this file imports nothing of the
	// project).
	maxKeyLen = 256

	serverServing  = 0
	serverDraining = 1
	serverClosed   = 2
)

// knownFeatures is every feature bit this package implements.
const knownFeatures = FeatureDoorbells | FeatureSocketFrames

// streamMaxFrame is the max frame of socket framing, both ways.
const streamMaxFrame = 1<<20 + 4096

// geometry is a region's shape: what the header says, validated.
type geometry struct {
	features     uint64
	regionSize   uint64
	maxFrame     uint32
	reqCtl       uint64
	reqData      uint64
	reqSize      uint64
	respCtl      uint64
	respData     uint64
	respSize     uint64
	headerLength uint16
}

// newGeometry is the layout the server builds for ring sizes req and resp
// (powers of two, multiples of 16).
func newGeometry(req, resp uint64, maxFrame uint32) geometry {
	return geometry{
		features: FeatureDoorbells, regionSize: headerSize + req + resp, maxFrame: maxFrame,
		reqCtl: offReqCtlBlock, reqData: headerSize, reqSize: req,
		respCtl: offRespCtlBlk, respData: headerSize + req, respSize: resp,
		headerLength: headerSize,
	}
}

// writeHeader fills a zeroed region's header.
func (g geometry) writeHeader(mem []byte) {
	le := binary.LittleEndian
	copy(mem[offMagic:], regionMagic)
	le.PutUint16(mem[offVersion:], Version)
	le.PutUint16(mem[offHeaderSize:], g.headerLength)
	le.PutUint64(mem[offFeatures:], g.features)
	le.PutUint64(mem[offRegionSize:], g.regionSize)
	le.PutUint32(mem[offMaxFrame:], g.maxFrame)
	le.PutUint64(mem[offReqCtl:], g.reqCtl)
	le.PutUint64(mem[offReqData:], g.reqData)
	le.PutUint64(mem[offReqSize:], g.reqSize)
	le.PutUint64(mem[offRespCtl:], g.respCtl)
	le.PutUint64(mem[offRespData:], g.respData)
	le.PutUint64(mem[offRespSize:], g.respSize)
}

// parseHeader reads and validates a region header: magic, version,
// features this package knows, and every offset and size inside the
// mapped length, aligned, and not overlapping. The values are read once;
// the caller uses the returned copy only.
func parseHeader(mem []byte) (geometry, error) {
	le := binary.LittleEndian
	var g geometry
	if len(mem) < headerSize {
		return g, fmt.Errorf("%w: region of %d bytes is smaller than its %d-byte header", ErrBadRegion, len(mem), headerSize)
	}
	if string(mem[offMagic:offMagic+4]) != regionMagic {
		return g, fmt.Errorf("%w: magic %q, want %q", ErrBadRegion, mem[offMagic:offMagic+4], regionMagic)
	}
	if v := le.Uint16(mem[offVersion:]); v != Version {
		return g, fmt.Errorf("%w: region version %d, this client speaks %d", ErrVersion, v, Version)
	}
	g.headerLength = le.Uint16(mem[offHeaderSize:])
	g.features = le.Uint64(mem[offFeatures:])
	g.regionSize = le.Uint64(mem[offRegionSize:])
	g.maxFrame = le.Uint32(mem[offMaxFrame:])
	g.reqCtl = le.Uint64(mem[offReqCtl:])
	g.reqData = le.Uint64(mem[offReqData:])
	g.reqSize = le.Uint64(mem[offReqSize:])
	g.respCtl = le.Uint64(mem[offRespCtl:])
	g.respData = le.Uint64(mem[offRespData:])
	g.respSize = le.Uint64(mem[offRespSize:])
	if unknown := g.features &^ knownFeatures; unknown != 0 {
		return g, fmt.Errorf("%w: the region uses features %#x this client does not implement", ErrVersion, unknown)
	}
	if g.features&FeatureDoorbells == 0 {
		return g, fmt.Errorf("%w: the region does not use doorbells (feature bit 0)", ErrVersion)
	}
	if g.regionSize != uint64(len(mem)) {
		return g, fmt.Errorf("%w: header says %d bytes, the mapping has %d", ErrBadRegion, g.regionSize, len(mem))
	}
	if g.headerLength < offRespCtlBlk+ctlSize || uint64(g.headerLength) > g.regionSize {
		return g, fmt.Errorf("%w: header size %d", ErrBadRegion, g.headerLength)
	}
	if err := checkRing("request", g.reqCtl, g.reqData, g.reqSize, g); err != nil {
		return g, err
	}
	if err := checkRing("response", g.respCtl, g.respData, g.respSize, g); err != nil {
		return g, err
	}
	if g.reqCtl == g.respCtl || overlaps(g.reqData, g.reqSize, g.respData, g.respSize) {
		return g, fmt.Errorf("%w: the rings overlap", ErrBadRegion)
	}
	if g.maxFrame == 0 || uint64(g.maxFrame)+frameHeaderSize > min(g.reqSize, g.respSize)/2 {
		return g, fmt.Errorf("%w: max frame %d does not fit twice in the rings", ErrBadRegion, g.maxFrame)
	}
	return g, nil
}

func checkRing(name string, ctl, data, size uint64, g geometry) error {
	switch {
	case ctl%lineSize != 0 || ctl < offServerBell || ctl+ctlSize > uint64(g.headerLength):
		return fmt.Errorf("%w: %s ring control at %d", ErrBadRegion, name, ctl)
	case size < 2*frameAlign || size&(size-1) != 0 || size > 1<<40:
		return fmt.Errorf("%w: %s ring size %d is not a power of two in [32, 2^40]", ErrBadRegion, name, size)
	case data%frameAlign != 0 || data < uint64(g.headerLength) || data > g.regionSize || g.regionSize-data < size:
		return fmt.Errorf("%w: %s ring data [%d, +%d) outside the region", ErrBadRegion, name, data, size)
	}
	return nil
}

func overlaps(a, alen, b, blen uint64) bool { return a < b+blen && b < a+alen }

// frameSize is the bytes a frame with a payload of n bytes occupies.
func frameSize(n uint64) uint64 { return frameHeaderSize + (n+frameAlign-1)&^(frameAlign-1) }

// errViolation is the cause of a protocol violation by the peer (an index
// or length read from shared memory that breaks the ring's invariants).
var errViolation = errors.New("ipc: peer broke the ring protocol")

// errBadKeyPrefix is a FlagKeyed request whose key prefix does not fit.
var errBadKeyPrefix = errors.New("ipc: keyed request: the key length is 0, over 256, or runs past the payload, or no message follows")

// requestOf returns the idempotency key and the message of a request
// frame's payload, by its flags (see the frame layout above).
func requestOf(flags uint32, p []byte) (key string, msg []byte, err error) {
	if flags&^FlagKeyed != 0 {
		return "", nil, fmt.Errorf("ipc: request flags %#x: only FlagKeyed is defined for requests", flags)
	}
	if flags&FlagKeyed == 0 {
		return "", p, nil
	}
	if len(p) < 2 {
		return "", nil, errBadKeyPrefix
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if n == 0 || n > maxKeyLen || n >= len(p) {
		return "", nil, errBadKeyPrefix
	}
	return string(p[:n]), p[n:], nil
}

// appendKeyed appends a FlagKeyed request payload: the key prefix, then msg.
func appendKeyed(b []byte, key string, msg []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	return append(b, msg...)
}
