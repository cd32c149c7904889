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
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, int, string) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	defer rc.SetReadDeadline(time.Time{})
	if r.ContentLength > s.cfg.MaxBodyBytes {
		discardBody(r)
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, 0, ""
		}
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				discardBody(r)
				return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes)
			case isTimeout(err):
				return nil, http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", s.cfg.ReadTimeout)
			}
			return nil, http.StatusBadRequest, "reading the request body: " + err.Error()
		}
	}
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
