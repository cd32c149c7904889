package pipeline

import (
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"
)

// idGen makes execution ids: UUIDv7 (RFC 9562 §5.7) strings prefixed
// "exec-", sortable by creation time to the millisecond and unguessable.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       unix_ts_ms (48 bits)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          unix_ts_ms           |  ver=7 |   rand_a (12 bits)   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|var|                 rand_b (62 bits)                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            rand_b                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// rand_a and rand_b are 74 bits drawn from crypto/rand for every id: an
// execution id is a capability-like handle (GET /v1/executions/{id}), so
// nothing in it may be derived from another id, a counter or a
// per-process constant. With 74 fresh bits, two ids collide with
// probability about n²/2⁷⁵ (10⁻⁶ after 2.7·10¹⁰ ids in one millisecond),
// and guessing an id someone else holds means guessing 74 bits even when
// its millisecond is known.
//
// Order: the timestamp is max(now, the last timestamp issued), kept in an
// atomic, so ids from one process never sort before an earlier
// millisecond even when the wall clock steps back. Within one
// millisecond the order of ids is random (RFC 9562 §6.2 allows it; a
// monotonic counter there would make neighbours predictable).
//
// Cost: crypto/rand is read 640 bytes (64 ids) at a time into a per-P
// buffer (sync.Pool), so the hot path is one pool get/put and a copy
// instead of a getrandom call per id. Bytes are never reused: each id
// consumes its own 10 bytes and a buffer is refilled when spent.
type idGen struct {
	lastMs atomic.Int64
	now    func() time.Time
	pool   sync.Pool // *randBuf
}

// randBuf is buffered crypto/rand output; off is the first unused byte.
type randBuf struct {
	off int
	b   [idRandBytes * 64]byte
}

// idRandBytes is what one id consumes from randBuf: 80 bits, of which 74
// are kept (6 are overwritten by the version and variant).
const idRandBytes = 10

func newIDGen(now func() time.Time) *idGen {
	g := &idGen{now: now}
	g.pool.New = func() any { return &randBuf{off: len(randBuf{}.b)} }
	return g
}

func (g *idGen) next() string {
	ms := g.now().UnixMilli()
	for {
		last := g.lastMs.Load()
		if ms <= last {
			ms = last
			break
		}
		if g.lastMs.CompareAndSwap(last, ms) {
			break
		}
	}
	var r [idRandBytes]byte
	rb := g.pool.Get().(*randBuf)
	if rb.off+idRandBytes > len(rb.b) {
		_, _ = rand.Read(rb.b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		rb.off = 0
	}
	copy(r[:], rb.b[rb.off:])
	clear(rb.b[rb.off : rb.off+idRandBytes]) // a buffer left in the pool holds no used bytes
	rb.off += idRandBytes
	g.pool.Put(rb)
	return format(uint64(ms), &r)
}

// format renders ms and the random bytes as "exec-" + a UUIDv7 string.
func format(ms uint64, r *[idRandBytes]byte) string {
	var u [16]byte
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | r[0]&0x0f // version 7, rand_a high 4 bits
	u[7] = r[1]             // rand_a low 8 bits
	u[8] = 0x80 | r[2]&0x3f // variant 10, rand_b high 6 bits
	copy(u[9:], r[3:])      // rand_b low 56 bits
	const hex = "0123456789abcdef"
	var s [5 + 36]byte
	copy(s[:], "exec-")
	j := 5
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(s[:])
}
