package transport

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
)

// TestSendPipeOrderAndBound: frames written from several goroutines
// arrive whole and each writer's in order, read in chunks of any size,
// and the queue never holds more than sendPipeMax bytes (frames are
// smaller than that).
func TestSendPipeOrderAndBound(t *testing.T) {
	p := newSendPipe()
	const writers, perWriter = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				// frame: writer, sequence, then padding of a varying size
				f := appendFrame(nil, append([]byte{byte(w), byte(i >> 8), byte(i)}, bytes.Repeat([]byte{'x'}, (i*37)%3000)...))
				if err := p.write(f); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); p.closeWrite(io.EOF) }()

	var got bytes.Buffer
	chunk := make([]byte, 1)
	for k := 0; ; k++ {
		p.mu.Lock()
		if q := len(p.buf) - p.off; q > sendPipeMax {
			t.Fatalf("%d bytes queued, bound %d", q, sendPipeMax)
		}
		p.mu.Unlock()
		n, err := p.Read(chunk[:1+k%len(chunk)])
		got.Write(chunk[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk) < 9000 {
			chunk = make([]byte, len(chunk)*2+1)
		}
	}
	next := make([]int, writers)
	for r := bytes.NewReader(got.Bytes()); ; {
		f, err := readFrame(r, nil, 1<<20)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		w, i := int(f[0]), int(f[1])<<8|int(f[2])
		if i != next[w] || len(f) != 3+(i*37)%3000 {
			t.Fatalf("writer %d: frame %d (%d bytes), want frame %d", w, i, len(f), next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != perWriter {
			t.Errorf("writer %d: %d frames arrived, want %d", w, n, perWriter)
		}
	}
}

// TestSendPipeClose: CloseSend delivers what is queued, then io.EOF; an
// abort is seen at once; a reader that closed fails later writes, and
// a writer waiting on a full queue is released by either close.
func TestSendPipeClose(t *testing.T) {
	p := newSendPipe()
	p.write([]byte("abc"))
	p.closeWrite(io.EOF)
	if err := p.write([]byte("d")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after CloseSend: %v", err)
	}
	b, err := io.ReadAll(p)
	if string(b) != "abc" || err != nil {
		t.Fatalf("after CloseSend: %q, %v", b, err)
	}

	p = newSendPipe()
	p.write([]byte("abc"))
	abort := errors.New("aborted")
	p.closeWrite(abort)
	if n, err := p.Read(make([]byte, 8)); n != 0 || err != abort {
		t.Fatalf("after abort: %d, %v", n, err)
	}

	for _, closeSide := range []string{"reader", "writer"} {
		p = newSendPipe()
		if err := p.write(make([]byte, sendPipeMax)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- p.write([]byte("more")) }() // waits: the queue is full
		if closeSide == "reader" {
			p.Close()
		} else {
			p.closeWrite(io.ErrClosedPipe)
		}
		if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("%s closed: the waiting write returned %v", closeSide, err)
		}
	}
}
