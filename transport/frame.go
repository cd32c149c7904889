package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Stream framing (POST /v1/stream), both directions:
//
//	+--------+--------+--------+--------+=================+
//	|   length (uint32, big-endian)     |  length bytes   |
//	+--------+--------+--------+--------+=================+
//
// A request frame carries one protocol message exactly as /v1/execute's
// body would; a response frame carries one answer (protocol.Answer JSON).
// Answers come back in request order. length 0 is invalid in a request.
// This layout is part of the wire format and must not change; a new
// layout needs a new endpoint.
//
// POST /v1/stream/keyed is that endpoint for requests that carry an
// idempotency key each: its request frames' payload starts with the key,
//
//	+--------+--------+=============+==================+
//	| key length (u16 BE) | key bytes | protocol message |
//	+--------+--------+=============+==================+
//
// (key length 0: no key; at most MaxIdempotencyKeyLen). Response frames are
// the same as /v1/stream's.
const frameHeaderLen = 4

// keyedFrameHeaderLen is the key-length field of a keyed request frame.
const keyedFrameHeaderLen = 2

// errBadKeyedFrame is a keyed request frame whose key does not fit.
var errBadKeyedFrame = errors.New("transport: keyed frame: key length runs past the frame, or over the limit, or no message follows")

// splitKeyedFrame splits a keyed request frame's payload into its key and
// its message.
func splitKeyedFrame(p []byte) (key string, msg []byte, err error) {
	if len(p) < keyedFrameHeaderLen {
		return "", nil, errBadKeyedFrame
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[keyedFrameHeaderLen:]
	if n > MaxIdempotencyKeyLen || n >= len(p) {
		return "", nil, errBadKeyedFrame
	}
	return string(p[:n]), p[n:], nil
}

// appendKeyedFrame appends one keyed request frame to b.
func appendKeyedFrame(b []byte, key string, msg []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(keyedFrameHeaderLen+len(key)+len(msg)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	return append(b, msg...)
}

// ErrFrameTooLarge is returned by readFrame when a frame's declared
// length exceeds the limit.
var ErrFrameTooLarge = errors.New("transport: frame too large")

// errEmptyFrame is a zero-length request frame.
var errEmptyFrame = errors.New("transport: empty frame")

// appendFrame appends one frame holding p to b.
func appendFrame(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// appendAnswerFrame appends one response frame holding a's JSON to b,
// encoding it in place (no intermediate copy).
func appendAnswerFrame(b []byte, a *protocol.Answer) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	b = a.AppendJSON(b)
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-frameHeaderLen))
	return b
}

// readFrame reads one frame into buf (grown as needed) and returns it.
// io.EOF means the peer ended the stream cleanly between frames; a
// stream that ends inside a frame is io.ErrUnexpectedEOF.
func readFrame(r io.Reader, buf []byte, max int64) ([]byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > max {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n, max)
	}
	if n == 0 {
		return nil, errEmptyFrame
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
