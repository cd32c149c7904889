package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Stream is one POST /v1/stream: Send frames messages onto the request
// stream, Recv returns the answers in the same order. Send and Recv may
// be used from two goroutines (one each); Send is also safe for several.
// CloseSend ends the request side (the server then answers what it has
// and ends the response, so Recv returns io.EOF); Close aborts both.
type Stream struct {
	pw      *sendPipe
	resp    *http.Response
	cancel  context.CancelFunc
	mu      sync.Mutex // serializes Send
	wbuf    []byte
	maxResp int64
	once    sync.Once
	done    func() // tells the Client the stream is closed
	keyed   bool   // frames carry an idempotency key (/v1/stream/keyed)
}

// Stream opens POST /v1/stream. ctx bounds the whole stream (no Timeout
// applies); cancel it or call Close to end it. The stream counts as a
// call in flight for Client.Shutdown until Close.
func (c *Client) Stream(ctx context.Context) (*Stream, error) { return c.stream(ctx, "/v1/stream") }

// KeyedStream opens POST /v1/stream/keyed: a stream whose messages each
// carry an idempotency key (Stream.SendKey; Send sends none).
func (c *Client) KeyedStream(ctx context.Context) (*Stream, error) {
	return c.stream(ctx, "/v1/stream/keyed")
}

func (c *Client) stream(ctx context.Context, path string) (*Stream, error) {
	if !c.calls.tryEnter() {
		return nil, ErrServerClosed
	}
	st, err := c.openStream(ctx, path)
	if err != nil {
		c.calls.leave()
		return nil, err
	}
	st.done = c.calls.leave
	return st, nil
}

func (c *Client) openStream(ctx context.Context, path string) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	pw := newSendPipe()
	req, err := c.newRequest(ctx, http.MethodPost, path, pw)
	if err != nil {
		cancel()
		return nil, err
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-femtoclaw-frames")
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		cancel()
		pw.closeWrite(err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		pw.closeWrite(io.EOF)
		return nil, &StatusError{Code: resp.StatusCode, Body: body}
	}
	return &Stream{pw: pw, resp: resp, cancel: cancel, maxResp: c.cfg.MaxResponseBytes, keyed: path == "/v1/stream/keyed"}, nil
}

// Send writes one message as a frame. It returns once the frame is queued
// for the connection: up to 64 KiB of frames wait there (frames sent
// together leave in one stream write); past that, and under QUIC flow
// control, Send waits.
func (s *Stream) Send(msg []byte) error { return s.SendKey("", msg) }

// SendKey writes one message with an idempotency key; the stream must have
// been opened with KeyedStream unless key is empty.
func (s *Stream) SendKey(key string, msg []byte) error {
	if len(msg) == 0 {
		return errEmptyFrame
	}
	if key != "" && !s.keyed {
		return errors.New("transport: an idempotency key needs a stream opened with KeyedStream")
	}
	if len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("transport: Idempotency-Key is longer than %d bytes", MaxIdempotencyKeyLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyed {
		s.wbuf = appendKeyedFrame(s.wbuf[:0], key, msg)
	} else {
		s.wbuf = appendFrame(s.wbuf[:0], msg)
	}
	return s.pw.write(s.wbuf)
}

// Recv returns the next answer (a fresh slice). io.EOF means the server
// ended the stream after the last answer.
func (s *Stream) Recv() ([]byte, error) {
	return readFrame(s.resp.Body, nil, s.maxResp)
}

// CloseSend ends the request stream: no more Sends.
func (s *Stream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pw.closeWrite(io.EOF)
}

// Close aborts the stream in both directions.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.pw.closeWrite(io.ErrClosedPipe)
		s.cancel()
		s.resp.Body.Close()
		if s.done != nil {
			s.done()
		}
	})
	return nil
}
