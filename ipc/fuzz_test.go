package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzFrameDecoder runs the consumer over arbitrary ring contents and
// arbitrary indices (what a hostile producer controls). It must never
// panic or read outside the data area; every frame it accepts lies within
// what head published; and an error leaves the reader where it was.
// Seeds are real encodings.
func FuzzFrameDecoder(f *testing.F) {
	const size = 512
	seed := func(frames ...[]byte) {
		_, prod, _ := testRegion(size, 200)
		for i, p := range frames {
			prod.write(uint64(i+1), 0, p)
		}
		prod.publish()
		f.Add(append([]byte(nil), prod.data...), prod.local, uint64(0), uint32(200))
	}
	seed([]byte(`{"tool_call":{"tool":"noop","args":{}}}`))
	seed(bytes.Repeat([]byte("x"), 200), []byte("y"), bytes.Repeat([]byte("z"), 150))
	seed()
	f.Add(make([]byte, size), uint64(1<<63), uint64(1<<63-16), uint32(1<<31))
	f.Fuzz(func(t *testing.T, data []byte, head, tail uint64, maxFrame uint32) {
		mem, prod, cons := testRegion(size, maxFrame)
		copy(cons.data, data)
		prod.head.Store(head)
		cons.local, cons.peer = tail&^15, tail&^15
		before := append([]byte(nil), mem[:headerSize]...)
		var fr frame
		for range 64 {
			at := cons.local
			ok, err := cons.next(&fr, nil)
			if err != nil {
				if !errors.Is(err, errViolation) {
					t.Fatalf("error not a violation: %v", err)
				}
				if cons.local != at {
					t.Fatalf("a refused frame moved the reader from %d to %d", at, cons.local)
				}
				break
			}
			if !ok {
				break
			}
			if cons.local-at != frameSize(uint64(fr.length)) || cons.local-tail&^15 > size {
				t.Fatalf("frame of %d bytes advanced %d (now %d bytes past the start)", fr.length, cons.local-at, cons.local-tail&^15)
			}
			if !fr.oversize && len(fr.payload) != int(fr.length) {
				t.Fatalf("payload %d bytes, header says %d", len(fr.payload), fr.length)
			}
			if fr.oversize != (uint64(fr.length) > uint64(maxFrame)) {
				t.Fatalf("oversize %v for length %d max %d", fr.oversize, fr.length, maxFrame)
			}
		}
		cons.release()
		// The consumer wrote nothing but its tail.
		binary.LittleEndian.PutUint64(before[offReqCtlBlock+ctlTail:], cons.local)
		binary.LittleEndian.PutUint64(before[offReqCtlBlock+ctlHead:], head)
		if !bytes.Equal(before, mem[:headerSize]) {
			t.Fatal("the consumer wrote to the header beyond its tail")
		}
	})
}

// FuzzParseHeader validates arbitrary region headers (the first 128
// bytes, where every field lives, over a mapping of arbitrary length):
// never a panic, and a header it accepts describes rings inside the
// region that do not overlap each other or the header.
func FuzzParseHeader(f *testing.F) {
	good := make([]byte, headerSize+2*4096)
	newGeometry(4096, 4096, 1024).writeHeader(good)
	f.Add(good[:128], uint32(len(good)))
	f.Add(good[:128], uint32(headerSize))
	f.Add([]byte("FCRG"), uint32(0))
	f.Fuzz(func(t *testing.T, hdr []byte, size uint32) {
		mem := make([]byte, max(int(size%(1<<20)), len(hdr)))
		copy(mem, hdr)
		g, err := parseHeader(mem)
		if err != nil {
			return
		}
		for _, r := range [][3]uint64{{g.reqCtl, g.reqData, g.reqSize}, {g.respCtl, g.respData, g.respSize}} {
			if r[0]+ctlSize > uint64(g.headerLength) || r[1] < uint64(g.headerLength) || r[1]+r[2] > uint64(len(mem)) || r[2]&(r[2]-1) != 0 {
				t.Fatalf("accepted a ring outside the region: %+v", g)
			}
		}
		if overlaps(g.reqData, g.reqSize, g.respData, g.respSize) {
			t.Fatalf("accepted overlapping rings: %+v", g)
		}
		_ = newRing(mem, g.reqCtl, g.reqData, g.reqSize, g.maxFrame)
	})
}
