package pipeline

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// idGen makes execution ids: UUIDv7 (RFC 9562) strings prefixed "exec-",
// unique and sortable by creation time.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       unix_ts_ms (48 bits)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          unix_ts_ms           |  ver=7 |  seq (high 12 bits)  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|var|seq low 6 |        process-random node (56 bits)           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            node                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The 48-bit millisecond and the 18-bit sequence live in one atomic word
// (ms<<18 | seq): each id takes max(last+1, now<<18), so ids from one
// process are strictly increasing even when the wall clock steps back, and
// up to 262,144 ids per millisecond keep the timestamp exact (past that the
// sequence borrows into the next millisecond, still unique and ordered).
// The 56-bit random node, drawn once per process, keeps ids from different
// processes apart (RFC 9562 §6.2 method 1, "fixed-length dedicated counter").
type idGen struct {
	last atomic.Uint64
	node uint64
	now  func() time.Time
}

func newIDGen(now func() time.Time) *idGen {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return &idGen{node: binary.BigEndian.Uint64(b[:]) >> 8, now: now}
}

const seqBits = 18

func (g *idGen) next() string {
	ms := uint64(g.now().UnixMilli())
	want := ms << seqBits
	for {
		last := g.last.Load()
		v := max(last+1, want)
		if g.last.CompareAndSwap(last, v) {
			return format(v, g.node)
		}
	}
}

func format(v, node uint64) string {
	ms := v >> seqBits
	seq := v & (1<<seqBits - 1)
	var u [16]byte
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	hi := seq >> 6 // 12 bits
	u[6] = 0x70 | byte(hi>>8)
	u[7] = byte(hi)
	u[8] = 0x80 | byte(seq&0x3f)
	u[9], u[10], u[11], u[12], u[13], u[14], u[15] = byte(node>>48), byte(node>>40), byte(node>>32), byte(node>>24), byte(node>>16), byte(node>>8), byte(node)
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
