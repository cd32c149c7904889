package transport

import (
	"io"
	"sync"
)

// sendPipeMax is how many bytes of frames a Stream queues for its request
// body before Send waits for the connection to take them (one frame
// larger than that is queued alone).
const sendPipeMax = 64 << 10

// sendPipe is a Stream's request body. Send appends whole frames under
// the lock; the HTTP/3 transport's body copy takes everything queued in
// one Read, so frames sent while the previous write was on its way leave
// in one stream write. (io.Pipe hands over one Write per Read and parks
// the sender until then: a goroutine switch and a stream write per
// frame, most of a pipelining client's CPU.)
//
//	Send ──append──> buf[off:] ──Read (all of it, up to len(p))──> request stream
//	                  ≤ sendPipeMax bytes; Send waits past that
//
// closeWrite(io.EOF) ends the body after what is queued (CloseSend);
// closeWrite(err) aborts it at once; Close by the reader (the transport,
// when the request ends) makes later Sends fail with io.ErrClosedPipe.
type sendPipe struct {
	mu    sync.Mutex
	cond  sync.Cond // signalled when buf drains, data arrives, or either side closes
	buf   []byte
	off   int   // buf[off:] is queued
	werr  error // the writer closed: io.EOF, or the abort error
	rdone bool  // the reader closed
}

func newSendPipe() *sendPipe {
	p := &sendPipe{}
	p.cond.L = &p.mu
	return p
}

// write queues frame (whole), waiting while the queue is full.
func (p *sendPipe) write(frame []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.rdone && p.werr == nil && len(p.buf)-p.off > 0 && len(p.buf)-p.off+len(frame) > sendPipeMax {
		p.cond.Wait()
	}
	if p.rdone || p.werr != nil {
		return io.ErrClosedPipe
	}
	if p.off == len(p.buf) {
		p.buf, p.off = p.buf[:0], 0
	}
	p.buf = append(p.buf, frame...)
	p.cond.Broadcast()
	return nil
}

// closeWrite ends the body: io.EOF after the queued frames, any other
// error at once.
func (p *sendPipe) closeWrite(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr == nil {
		p.werr = err
		if err != io.EOF {
			p.buf, p.off = nil, 0
		}
	}
	p.cond.Broadcast()
	return nil
}

// Read takes up to len(p) queued bytes, waiting for some.
func (p *sendPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.off == len(p.buf) && p.werr == nil && !p.rdone {
		p.cond.Wait()
	}
	if p.rdone {
		return 0, io.ErrClosedPipe
	}
	if p.off == len(p.buf) {
		return 0, p.werr
	}
	n := copy(b, p.buf[p.off:])
	p.off += n
	p.cond.Broadcast()
	return n, nil
}

// Close is the reader's: the request is over, nothing more is read.
func (p *sendPipe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rdone = true
	p.buf, p.off = nil, 0
	p.cond.Broadcast()
	return nil
}
