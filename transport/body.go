package transport

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// readBody reads the whole body into buf under MaxBodyBytes and
// ReadTimeout. It returns the HTTP status and message of a failure.
//
// It reads r.Body itself, at most MaxBodyBytes+1 bytes, instead of
// through http.MaxBytesReader, and sets the deadline on the
// ResponseWriter directly when it can: on this path per request those
// were two allocations and an indirection for a limit one comparison
// keeps (the answers are the same).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, int, string) {
	setReadDeadline(w, time.Now().Add(s.cfg.ReadTimeout))
	defer setReadDeadline(w, time.Time{})
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		discardBody(r)
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, limit)
	}
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		dst := buf[len(buf):cap(buf)]
		if room := limit + 1 - int64(len(buf)); int64(len(dst)) > room {
			dst = dst[:room] // one byte past the limit tells an oversized body
		}
		n, err := r.Body.Read(dst)
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			discardBody(r)
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", limit)
		}
		if err == io.EOF {
			return buf, 0, ""
		}
		if err != nil {
			if isTimeout(err) {
				return nil, http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", s.cfg.ReadTimeout)
			}
			return nil, http.StatusBadRequest, "reading the request body: " + err.Error()
		}
	}
}

// setReadDeadline sets the request stream's read deadline: directly when
// w is quic-go's ResponseWriter, else through http.ResponseController
// (which unwraps the access log's writer).
func setReadDeadline(w http.ResponseWriter, t time.Time) {
	if d, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
		d.SetReadDeadline(t)
		return
	}
	http.NewResponseController(w).SetReadDeadline(t)
}

// maxDiscard bounds how much of an oversized body the server reads and
// drops before answering 413. quic-go stops the request stream with
// H3_NO_ERROR after an early response, as RFC 9114 §4.1 allows, but
// Chromium's fetch() never resolves when that happens mid-upload; reading
// the rest (under ReadTimeout) lets every client see the 413.
const maxDiscard = 8 << 20

func discardBody(r *http.Request) {
	io.CopyN(io.Discard, r.Body, maxDiscard)
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// requestTimeout reads X-Femtoclaw-Timeout-Ms (the client's remaining
// deadline) into a capability timeout.
func requestTimeout(r *http.Request) time.Duration {
	v := r.Header.Get("X-Femtoclaw-Timeout-Ms")
	if v == "" {
		return 0
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
