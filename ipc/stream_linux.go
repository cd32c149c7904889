package ipc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Socket framing (FeatureSocketFrames): the frames of the rings, carried
// by the unix socket. The server side is one reader (this connection's
// goroutine) and one writer that batches answers into one write while
// more are queued; the client side reuses Client with a socket writer and
// a socket reader.

// appendFrame appends one frame: header, payload, zero padding.
func appendFrame(b []byte, id uint64, flags uint32, payload []byte) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], flags)
	binary.LittleEndian.PutUint64(h[8:], id)
	b = append(b, h[:]...)
	b = append(b, payload...)
	var pad [frameAlign]byte
	return append(b, pad[:int(frameSize(uint64(len(payload))))-frameHeaderSize-len(payload)]...)
}

// readFrame reads one frame from r; a payload over max is discarded and
// reported as oversize.
func readFrame(r *bufio.Reader, f *frame, max int) error {
	var h [frameHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	*f = frame{length: binary.LittleEndian.Uint32(h[0:]), flags: binary.LittleEndian.Uint32(h[4:]), id: binary.LittleEndian.Uint64(h[8:])}
	padded := int64(frameSize(uint64(f.length))) - frameHeaderSize
	if int64(f.length) > int64(max) {
		f.oversize = true
		_, err := io.CopyN(io.Discard, r, padded)
		return err
	}
	f.payload = make([]byte, f.length)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return err
	}
	_, err := r.Discard(int(padded) - int(f.length))
	return err
}

// serveStream runs a socket-framed client until EOF.
func (s *Server) serveStream(uc *net.UnixConn, principal, remote string) {
	max := s.cfg.MaxInFlight
	sem := make(chan struct{}, max)
	out := make(chan *completion, max+1)
	wdone := make(chan struct{})
	go func() { // owned by serveStream, which waits for it
		defer close(wdone)
		var b []byte
		for k := range out {
			b = appendFrame(b[:0], k.id, k.flags, k.body)
			for len(out) > 0 && len(b) < 256<<10 {
				k := <-out
				b = appendFrame(b, k.id, k.flags, k.body)
			}
			if _, err := uc.Write(b); err != nil {
				uc.Close()
				for range out {
				}
				return
			}
		}
	}()
	r := bufio.NewReaderSize(uc, 64<<10)
	var f frame
	for !s.closing.Load() {
		if err := readFrame(r, &f, streamMaxFrame); err != nil {
			break
		}
		sem <- struct{}{}
		if f.oversize {
			out <- transportCompletion(f.id, protocol.CategoryProtocol, protocol.ReasonTooLarge,
				fmt.Sprintf("request frame of %d bytes exceeds the max frame of %d", f.length, streamMaxFrame))
			<-sem
			continue
		}
		key, msg, err := requestOf(f.flags, f.payload)
		if err != nil {
			out <- transportCompletion(f.id, protocol.CategoryProtocol, protocol.ReasonInvalidFrame, err.Error())
			<-sem
			continue
		}
		id := f.id
		s.ex.Submit(&pipeline.Request{Message: msg, Principal: principal, IdempotencyKey: key, Transport: "ring"}, func(a *protocol.Answer) {
			out <- &completion{id: id, body: a.AppendJSON(make([]byte, 0, 512))}
			<-sem
		})
	}
	for range max { // every callback has returned
		sem <- struct{}{}
	}
	close(out)
	<-wdone
	uc.Close()
}

// writeStream writes a batch of calls in one write (the combiner's role
// in socket framing).
func (c *Client) writeStream(list *call) {
	b := c.wbuf[:0]
	for k := list; k != nil; k = k.next {
		b = appendFrame(b, k.id, k.flags, k.msg)
		k.msg = nil
	}
	c.wbuf = b
	if len(b) > 0 && c.err.Load() == nil {
		if _, err := c.uc.Write(b); err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrPeerGone, err))
		}
	}
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil
	}
}

// readStream is the socket-framed reader goroutine.
func (c *Client) readStream() {
	defer close(c.readerDone)
	r := bufio.NewReaderSize(c.uc, 64<<10)
	var f frame
	for {
		if err := readFrame(r, &f, streamMaxFrame); err != nil {
			if c.closing.Load() {
				c.fail(ErrClosed)
			} else {
				c.fail(ErrPeerGone)
			}
			c.sweep(*c.err.Load())
			return
		}
		c.deliver(&f)
	}
}
