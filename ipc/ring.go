package ipc

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// ring is one process's view of one single-producer single-consumer ring
// in a region (layout.go). The same type serves both ends; a process uses
// the producer methods (reserve, write, publish) or the consumer methods
// (next, release) of a given ring, never both.
//
// Concurrency design:
//
//  1. One goroutine at a time per end. The server's poller owns both of
//     its ends; on the client the combiner (whoever holds Client.writing)
//     owns the request producer and the reader goroutine owns the
//     response consumer. A ring itself has no lock.
//  2. local is this end's own index (producer: head; consumer: tail). It
//     is never read back from shared memory: the peer cannot move it.
//  3. peer caches the opposite index; shared memory is read only when the
//     cache says "full" (producer) or "empty" (consumer), so on the hot
//     path each side touches its own cache line only.
//  4. Every value read from shared memory — the peer's index, a frame's
//     length — is loaded once into a local, validated against the
//     invariants of layout.go, and only then used. A violation returns an
//     error wrapping errViolation and leaves local unchanged.
//  5. Publication is a single atomic store of local (release); the peer
//     loads it (acquire). Go's atomics are sequentially consistent, which
//     the doorbell protocol (doorbell.go) also needs.
//  6. Payloads are copied out before use: the peer may scribble over a
//     frame after publishing it, and the consumer must not see two
//     different values of one byte.
//
// Considered and not built: fixed-size slots (simpler, but a 1 MiB frame
// limit would need 1 MiB slots); a padding frame at the wrap point
// (avoids the split copy, but costs up to a max frame of ring space and
// one more frame kind for every client to handle).
type ring struct {
	head  *atomic.Uint64
	tail  *atomic.Uint64
	data  []byte
	size  uint64 // len(data), a power of two
	mask  uint64
	max   uint64 // max frame payload
	local uint64
	peer  uint64
}

func newRing(mem []byte, ctl, data, size uint64, maxFrame uint32) *ring {
	return &ring{
		head: (*atomic.Uint64)(unsafe.Pointer(&mem[ctl+ctlHead])),
		tail: (*atomic.Uint64)(unsafe.Pointer(&mem[ctl+ctlTail])),
		data: mem[data : data+size : data+size],
		size: size, mask: size - 1, max: uint64(maxFrame),
	}
}

// free is the space the producer knows of, without reading shared memory.
func (r *ring) free() uint64 { return r.size - (r.local - r.peer) }

// refreshTail reloads the consumer's index (producer side).
func (r *ring) refreshTail() error {
	t := r.tail.Load()
	if t%frameAlign != 0 || r.local-t > r.size || t-r.peer > r.local-r.peer {
		return fmt.Errorf("%w: tail %d with head %d (last tail %d)", errViolation, t, r.local, r.peer)
	}
	r.peer = t
	return nil
}

// write copies one frame in without publishing it. It reports false when
// the ring has no room for it now (the caller publishes what it wrote,
// waits and retries); n must be at most max.
func (r *ring) write(id uint64, flags uint32, payload []byte) (bool, error) {
	need := frameSize(uint64(len(payload)))
	if need > r.free() {
		if err := r.refreshTail(); err != nil {
			return false, err
		}
		if need > r.free() {
			return false, nil
		}
	}
	pos := r.local & r.mask
	h := r.data[pos : pos+frameHeaderSize]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], flags)
	binary.LittleEndian.PutUint64(h[8:], id)
	start := (pos + frameHeaderSize) & r.mask
	n := copy(r.data[start:], payload)
	copy(r.data, payload[n:])
	r.local += need
	return true, nil
}

// publish makes every written frame visible to the consumer. It reports
// whether anything new was published.
func (r *ring) publish() bool {
	if r.head.Load() == r.local { // our own line: cheap
		return false
	}
	r.head.Store(r.local)
	return true
}

// frame is one frame read by the consumer. payload is a private copy.
type frame struct {
	id       uint64
	flags    uint32
	length   uint32 // as the header said (payload is nil when over max)
	payload  []byte
	oversize bool
}

// available reports whether a frame is ready, reloading head when the
// cache says empty (consumer side).
func (r *ring) available() (bool, error) {
	if r.peer != r.local {
		return true, nil
	}
	h := r.head.Load()
	if h == r.local {
		return false, nil
	}
	if h%frameAlign != 0 || h-r.local > r.size {
		return false, fmt.Errorf("%w: head %d with tail %d", errViolation, h, r.local)
	}
	r.peer = h
	return true, nil
}

// next reads the next frame into f, allocating its payload with alloc
// (nil: make). It reports false when the ring is empty. A frame over max
// is consumed with f.oversize set and no payload. Release makes the
// space reusable.
func (r *ring) next(f *frame, alloc func(n int) []byte) (bool, error) {
	ok, err := r.available()
	if !ok || err != nil {
		return false, err
	}
	avail := r.peer - r.local
	pos := r.local & r.mask
	var h [frameHeaderSize]byte
	copy(h[:], r.data[pos:pos+frameHeaderSize]) // read once
	length := binary.LittleEndian.Uint32(h[0:])
	need := frameSize(uint64(length))
	if need > avail {
		return false, fmt.Errorf("%w: frame of %d bytes at %d, only %d published", errViolation, length, r.local, avail)
	}
	*f = frame{id: binary.LittleEndian.Uint64(h[8:]), flags: binary.LittleEndian.Uint32(h[4:]), length: length}
	if uint64(length) > r.max {
		f.oversize = true
		r.local += need
		return true, nil
	}
	var p []byte
	if alloc != nil {
		p = alloc(int(length))[:length]
	} else {
		p = make([]byte, length)
	}
	start := (pos + frameHeaderSize) & r.mask
	n := copy(p, r.data[start:])
	copy(p[n:], r.data)
	f.payload = p
	r.local += need
	return true, nil
}

// release hands consumed space back to the producer. It reports whether
// anything was released.
func (r *ring) release() bool {
	if r.tail.Load() == r.local {
		return false
	}
	r.tail.Store(r.local)
	return true
}
