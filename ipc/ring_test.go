package ipc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"
)

// testRegion returns zeroed, 8-byte aligned memory laid out like a region
// with one ring of the given size, and two views of that ring: the
// producer's and the consumer's (as two processes would have).
func testRegion(size uint64, maxFrame uint32) (mem []byte, prod, cons *ring) {
	words := make([]uint64, (headerSize+size)/8)
	mem = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	prod = newRing(mem, offReqCtlBlock, headerSize, size, maxFrame)
	cons = newRing(mem, offReqCtlBlock, headerSize, size, maxFrame)
	return mem, prod, cons
}

// model is the reference: a mutex and a slice. Frames move from written
// to published to read; bytes held are what the producer may not reuse.
type model struct {
	mu        sync.Mutex
	size      uint64
	written   []frame // not yet published
	published []frame // published, not yet read
	held      uint64  // bytes of frames written and not yet released
	unrelease uint64  // bytes read and not yet released
}

func (m *model) fits(n int) bool { return frameSize(uint64(n)) <= m.size-m.held }

func randPayload(rng *rand.Rand, max int) []byte {
	n := rng.IntN(max + 1)
	if rng.IntN(8) == 0 {
		n = max // exact-limit frames are the interesting ones
	}
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// TestRingModel drives one producer view and one consumer view of a ring
// with random operations, and checks every observable result against the
// reference model: which frames are readable, in which order, with which
// bytes, and exactly when the ring is full.
func TestRingModel(t *testing.T) {
	for _, size := range []uint64{64, 256, 4096} {
		maxFrame := uint32(size/2 - frameHeaderSize)
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, size))
			_, prod, cons := testRegion(size, maxFrame)
			m := &model{size: size}
			var id uint64
			for step := range 4000 {
				switch op := rng.IntN(4); op {
				case 0: // write
					p := randPayload(rng, int(maxFrame))
					id++
					ok, err := prod.write(id, uint32(id), p)
					if err != nil {
						t.Fatalf("size %d seed %d step %d: write: %v", size, seed, step, err)
					}
					if ok != m.fits(len(p)) {
						t.Fatalf("size %d seed %d step %d: write of %d bytes ok=%v, model says %v (held %d)", size, seed, step, len(p), ok, m.fits(len(p)), m.held)
					}
					if ok {
						m.written = append(m.written, frame{id: id, flags: uint32(id), length: uint32(len(p)), payload: p})
						m.held += frameSize(uint64(len(p)))
					}
				case 1: // publish
					prod.publish()
					m.published = append(m.published, m.written...)
					m.written = nil
				case 2: // read
					var f frame
					ok, err := cons.next(&f, nil)
					if err != nil {
						t.Fatalf("size %d seed %d step %d: next: %v", size, seed, step, err)
					}
					if ok != (len(m.published) > 0) {
						t.Fatalf("size %d seed %d step %d: next ok=%v with %d published", size, seed, step, ok, len(m.published))
					}
					if ok {
						want := m.published[0]
						m.published = m.published[1:]
						if f.id != want.id || f.flags != want.flags || f.length != want.length || !bytes.Equal(f.payload, want.payload) {
							t.Fatalf("size %d seed %d step %d: read frame id %d len %d, want id %d len %d", size, seed, step, f.id, f.length, want.id, want.length)
						}
						m.unrelease += frameSize(uint64(f.length))
					}
				case 3: // release
					cons.release()
					m.held -= m.unrelease
					m.unrelease = 0
				}
			}
		}
	}
}

// TestRingConcurrent runs a producer and a consumer goroutine over one
// ring (under -race this checks the publication order), with random
// frame sizes and batch lengths, and compares the stream with the
// model's queue.
func TestRingConcurrent(t *testing.T) {
	const size, n = 1024, 20000
	maxFrame := uint32(size/2 - frameHeaderSize)
	_, prod, cons := testRegion(size, maxFrame)
	var mu sync.Mutex
	var queue [][]byte // the model: what was written, in order
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range n {
			p := randPayload(rng, int(maxFrame))
			mu.Lock()
			queue = append(queue, p)
			mu.Unlock()
			for {
				ok, err := prod.write(uint64(i), 0, p)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					break
				}
				prod.publish()
			}
			if rng.IntN(4) == 0 {
				prod.publish()
			}
		}
		prod.publish()
	})
	var f frame
	for got := 0; got < n; {
		ok, err := cons.next(&f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			cons.release()
			continue
		}
		mu.Lock()
		want := queue[0]
		queue = queue[1:]
		mu.Unlock()
		if f.id != uint64(got) || !bytes.Equal(f.payload, want) {
			t.Fatalf("frame %d: id %d, %d bytes; want %d bytes", got, f.id, len(f.payload), len(want))
		}
		got++
		if got%3 == 0 {
			cons.release()
		}
	}
	wg.Wait()
}

// TestRingRejectsLies: indices and lengths that break the invariants are
// refused without moving the reader, and an over-max frame is skipped.
func TestRingRejectsLies(t *testing.T) {
	_, prod, cons := testRegion(256, 100)
	var f frame
	prod.head.Store(8) // not a multiple of 16
	if _, err := cons.next(&f, nil); !errors.Is(err, errViolation) {
		t.Fatalf("misaligned head: %v", err)
	}
	prod.head.Store(512) // more than the ring holds
	if _, err := cons.next(&f, nil); !errors.Is(err, errViolation) {
		t.Fatalf("head beyond the ring: %v", err)
	}
	prod.head.Store(32) // one 16-byte frame claiming 200 bytes
	cons.data[0] = 200
	if _, err := cons.next(&f, nil); !errors.Is(err, errViolation) {
		t.Fatalf("frame longer than published: %v", err)
	}
	if cons.local != 0 {
		t.Fatalf("a refused frame moved the reader to %d", cons.local)
	}
	// Over max but wholly published: skipped, reported.
	_, prod, cons = testRegion(512, 100)
	big := make([]byte, 150)
	prod.max = 1000
	if ok, err := prod.write(7, 0, big); !ok || err != nil {
		t.Fatal(ok, err)
	}
	prod.publish()
	if ok, err := cons.next(&f, nil); !ok || err != nil || !f.oversize || f.id != 7 || f.payload != nil {
		t.Fatalf("over-max frame: ok=%v err=%v %+v", ok, err, f)
	}
	// A tail that runs ahead of head, or goes back, is refused.
	_, prod, _ = testRegion(256, 100)
	prod.write(1, 0, make([]byte, 20))
	prod.tail.Store(64)
	if err := prod.refreshTail(); !errors.Is(err, errViolation) {
		t.Fatalf("tail ahead of head: %v", err)
	}
}

// TestParseHeaderRefusals: a region of another version, with a feature
// this package does not know, or whose sizes disagree, is refused with
// the right class of error.
func TestParseHeaderRefusals(t *testing.T) {
	fresh := func() []byte {
		mem := make([]byte, headerSize+2*4096)
		newGeometry(4096, 4096, 1024).writeHeader(mem)
		return mem
	}
	if _, err := parseHeader(fresh()); err != nil {
		t.Fatalf("a good header: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func([]byte) []byte
		want error
	}{
		"version 2":        {func(m []byte) []byte { m[offVersion] = 2; return m }, ErrVersion},
		"unknown feature":  {func(m []byte) []byte { m[offFeatures+2] = 1; return m }, ErrVersion},
		"no doorbells":     {func(m []byte) []byte { m[offFeatures] = 0; return m }, ErrVersion},
		"magic":            {func(m []byte) []byte { m[0] = 'X'; return m }, ErrBadRegion},
		"short mapping":    {func(m []byte) []byte { return m[:len(m)-16] }, ErrBadRegion},
		"ring not pow2":    {func(m []byte) []byte { m[offReqSize] = 0xf0; return m }, ErrBadRegion},
		"rings overlap":    {func(m []byte) []byte { copy(m[offRespData:offRespData+8], m[offReqData:offReqData+8]); return m }, ErrBadRegion},
		"data in header":   {func(m []byte) []byte { m[offReqData], m[offReqData+1] = 0, 0; return m }, ErrBadRegion},
		"max frame > half": {func(m []byte) []byte { m[offMaxFrame+1] = 0x20; return m }, ErrBadRegion},
	} {
		if _, err := parseHeader(tc.edit(fresh())); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
