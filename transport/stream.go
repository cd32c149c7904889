package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// StreamWindow bounds the messages one /v1/stream may have submitted and
// not yet answered. When it is full the server stops reading the request
// stream, so a fast sender is slowed by QUIC flow control instead of
// queueing without bound.
const StreamWindow = 1024

// minAnswerReserve is what a submitted message reserves from its stream's
// unsent-bytes budget before its answer exists, when the stream has not
// yet seen a larger answer (an error answer is ~450 bytes, a noop one
// ~400). With the default 1 MiB budget it allows 256 small messages in
// flight per stream, the depth pipelined clients use.
const minAnswerReserve = 4 << 10

// unsentBudget bounds the answer bytes one stream holds for a client that
// does not read them (ServerConfig.StreamMaxUnsentBytes). charged is the
// bytes of answers ready but not yet written to the stream, plus a
// reservation for each message still running: the largest answer frame
// this stream has produced so far (at least minAnswerReserve), so a
// stream whose answers are big runs few at a time. The reader stops
// reading frames while charged is at or over the bound; the writer
// releases each answer's bytes once the stream took them, waking it.
type unsentBudget struct {
	mu      sync.Mutex
	charged int64
	largest int64
	wake    chan struct{} // cap 1: a release happened
}

func newUnsentBudget() *unsentBudget {
	return &unsentBudget{largest: minAnswerReserve, wake: make(chan struct{}, 1)}
}

// reserve charges one message about to be submitted; it returns the
// reservation for settle.
func (b *unsentBudget) reserve() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.charged += b.largest
	return b.largest
}

// settle replaces a reservation by the answer frame's actual size.
func (b *unsentBudget) settle(reserved, actual int64) {
	b.mu.Lock()
	b.charged += actual - reserved
	b.largest = max(b.largest, actual)
	b.mu.Unlock()
}

// release returns n bytes the stream has taken.
func (b *unsentBudget) release(n int64) {
	b.mu.Lock()
	b.charged -= n
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *unsentBudget) over(limit int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.charged >= limit
}

// streamSlot is one submitted message awaiting its answer; slots are
// written out strictly in submission order.
// The answer frame is in a buffer from bufPool, which the writer returns
// to the pool once the stream took it.
type streamSlot struct {
	ans chan *[]byte // buffered 1: done never blocks
}

var slotPool = sync.Pool{New: func() any { return &streamSlot{ans: make(chan *[]byte, 1)} }}

// handleStream serves POST /v1/stream: frames in (see frame.go), answers
// out in the same order. Two goroutines per stream: this one reads and
// submits (Submit runs effects-none capabilities inline, others on their
// pools; the commit wait is on the journal's goroutine), a writer sends
// each answer once it and all earlier ones are ready, flushing when it
// has caught up. The stream ends when the client closes its side (after
// the remaining answers), on a framing error (after an error frame), on
// IdleTimeout without a frame, or on Shutdown (the server stops reading
// and finishes what it accepted).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request, principal string) {
	s.serveStream(w, r, principal, false)
}

// handleKeyedStream serves POST /v1/stream/keyed: as /v1/stream, with an
// idempotency key in each request frame (see frame.go).
func (s *Server) handleKeyedStream(w http.ResponseWriter, r *http.Request, principal string) {
	s.serveStream(w, r, principal, true)
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, principal string, keyed bool) {
	rc := http.NewResponseController(w)
	setCommonHeaders(w, r)
	w.Header().Set("Content-Type", "application/x-femtoclaw-frames")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	timeout := requestTimeout(r)

	// Shutdown, or a writer that can no longer deliver answers, interrupts
	// a blocked read by moving the read deadline to now; mu orders that
	// against this goroutine's own deadline updates.
	var mu sync.Mutex
	drained := false
	stopReading := func() {
		mu.Lock()
		drained = true
		rc.SetReadDeadline(time.Now())
		mu.Unlock()
	}
	stop := context.AfterFunc(s.drainCtx, stopReading)
	defer stop()

	pending := make(chan *streamSlot, StreamWindow)
	budget := newUnsentBudget()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.streamWriter(w, rc, pending, budget, stopReading)
	}()

	var endFrame []byte // an error answer to send last, if the stream broke
	// The read deadline is the idle bound: moved forward when an eighth of
	// IdleTimeout has passed since it was last set, not per frame (a
	// deadline update takes the stream's lock and may reset its timer), so
	// a stream idle for between 7/8 × IdleTimeout and IdleTimeout is cut.
	var deadlineSet time.Time
	refresh := s.cfg.IdleTimeout / 8
	for {
		// Past the unsent-bytes bound, read nothing until the client
		// takes answers: QUIC flow control then slows the sender.
		if budget.over(s.cfg.StreamMaxUnsentBytes) {
			if s.cfg.testOnStreamFull != nil {
				s.cfg.testOnStreamFull()
			}
			for budget.over(s.cfg.StreamMaxUnsentBytes) && !isDrained(&mu, &drained) {
				select {
				case <-budget.wake:
				case <-s.drainCtx.Done():
					stopReading()
				}
			}
		}
		mu.Lock()
		if drained {
			mu.Unlock()
			break
		}
		if now := time.Now(); now.Sub(deadlineSet) >= refresh {
			rc.SetReadDeadline(now.Add(s.cfg.IdleTimeout))
			deadlineSet = now
		}
		mu.Unlock()
		// Each frame gets its own buffer from bufPool: Submit may read
		// the message until its done callback runs, which returns it.
		mp := getBuf()
		msg, err := readFrame(r.Body, (*mp)[:0], s.cfg.MaxBodyBytes)
		if msg != nil {
			*mp = msg[:0]
		}
		if err != nil {
			putBuf(mp)
			switch {
			case errors.Is(err, io.EOF):
			case s.drainCtx.Err() != nil, isDrained(&mu, &drained):
			case errors.Is(err, ErrFrameTooLarge):
				endFrame = transportError(protocol.CategoryProtocol, protocol.ReasonTooLarge, err.Error()+"; stream closed")
			case errors.Is(err, errEmptyFrame):
				endFrame = transportError(protocol.CategoryProtocol, protocol.ReasonEmptyFrame, "a zero-length frame is invalid; stream closed")
			case isTimeout(err):
				endFrame = transportError(protocol.CategoryProtocol, protocol.ReasonReadTimeout, fmt.Sprintf("no complete frame within %s; stream closed", s.cfg.IdleTimeout))
			default:
				s.log.Debug("stream read ended", "remote", r.RemoteAddr, "err", err)
			}
			break
		}
		var key string
		if keyed {
			if key, msg, err = splitKeyedFrame(msg); err != nil {
				putBuf(mp)
				endFrame = transportError(protocol.CategoryProtocol, protocol.ReasonInvalidFrame, err.Error()+"; stream closed")
				break
			}
		}
		sl := slotPool.Get().(*streamSlot)
		pending <- sl // blocks when StreamWindow answers are outstanding
		reserved := budget.reserve()
		req := &pipeline.Request{Message: msg, Principal: principal, IdempotencyKey: key, Transport: "http3-stream", Timeout: timeout}
		s.ex.Submit(req, func(a *protocol.Answer) {
			op := getBuf()
			*op = appendAnswerFrame((*op)[:0], a)
			putBuf(mp) // the message is the runtime's no longer
			budget.settle(reserved, int64(len(*op)))
			sl.ans <- op
		})
	}
	if endFrame != nil {
		sl := slotPool.Get().(*streamSlot)
		op := getBuf()
		*op = appendFrame((*op)[:0], endFrame)
		budget.settle(0, int64(len(*op)))
		sl.ans <- op
		pending <- sl
	}
	close(pending)
	<-writerDone
}

func isDrained(mu *sync.Mutex, drained *bool) bool {
	mu.Lock()
	defer mu.Unlock()
	return *drained
}

// streamWriter writes answers in order; it flushes whenever no further
// answer is ready, so a lone message is answered at once and a burst is
// coalesced into few packets. Each write must complete within
// IdleTimeout (a client that stops reading is cut off). After a write
// error it stops the reader and keeps draining (answers must still be
// collected so Submit's callbacks never block).
func (s *Server) streamWriter(w http.ResponseWriter, rc *http.ResponseController, pending <-chan *streamSlot, budget *unsentBudget, stopReading func()) {
	var werr error
	unflushed := false
	defer func() {
		if werr != nil {
			stopReading()
		}
	}()
	lastDeadline := time.Time{}
	for sl := range pending {
		if werr == nil {
			// Refresh the write deadline at most once a second: it is a
			// bound on a stalled peer, not a per-answer timer.
			if now := time.Now(); now.Sub(lastDeadline) > time.Second {
				rc.SetWriteDeadline(now.Add(s.cfg.IdleTimeout))
				lastDeadline = now
			}
		}
		var op *[]byte
		select {
		case op = <-sl.ans:
		default:
			if unflushed && werr == nil {
				werr = rc.Flush()
				unflushed = false
			}
			op = <-sl.ans
		}
		slotPool.Put(sl)
		n := int64(len(*op))
		if werr == nil {
			if _, werr = w.Write(*op); werr != nil {
				stopReading()
			}
			unflushed = true
		}
		putBuf(op) // Write does not keep it
		budget.release(n)
		if len(pending) == 0 && unflushed && werr == nil {
			werr = rc.Flush()
			unflushed = false
		}
	}
	if unflushed && werr == nil {
		rc.Flush()
	}
}
