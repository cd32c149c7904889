package transport

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// bufPool recycles request and answer buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // let large buffers go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// newErrorID returns a random "err-…" id for errors the transport itself
// reports (no execution exists for them).
func newErrorID() string {
	var b [12]byte
	rand.Read(b[:])
	return "err-" + hex.EncodeToString(b[:])
}

// transportError builds the answer-shaped body of an error the transport
// answers itself (401, 404, 408, 413, …): state ERROR, status error, no
// execution id, decision null, and the error object.
func transportError(cat protocol.Category, reason protocol.Reason, msg string) []byte {
	a := protocol.Answer{State: protocol.StateError, Status: protocol.StatusError, Error: &protocol.Error{
		ID: newErrorID(), Category: cat, Severity: protocol.SeverityError, Subsystem: "transport",
		Message: msg, Reason: reason, Timestamp: time.Now(),
	}}
	return a.AppendJSON(nil)
}

// Header values every answer carries, shared by every response's header
// map (assigned, never appended to or modified in place): Header.Set
// would allocate each one and canonicalize each key per response.
var (
	headerJSON       = []string{"application/json"}
	headerHTTP3      = []string{"HTTP/3.0"}
	headerRetryAfter = []string{RetryAfterSeconds}
)

func setCommonHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	if r.Proto == headerHTTP3[0] {
		h["X-Femtoclaw-Proto"] = headerHTTP3
	} else {
		h["X-Femtoclaw-Proto"] = []string{r.Proto}
	}
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	setCommonHeaders(w, r)
	h := w.Header()
	if status == http.StatusServiceUnavailable {
		h["Retry-After"] = headerRetryAfter
	}
	h["Content-Length"] = contentLength(len(body))
	w.WriteHeader(status)
	w.Write(body)
}

// contentLengths holds the Content-Length header value of each body size
// below len(contentLengths), made the first time a body of that size is
// answered and shared after that (the value slices are never modified):
// answers of one shape have one or a few sizes, so after warm-up the
// header costs no allocation. Larger bodies get a fresh value.
var contentLengths [4 << 10]atomic.Pointer[[]string]

func contentLength(n int) []string {
	if n < 0 || n >= len(contentLengths) {
		return []string{strconv.Itoa(n)}
	}
	if v := contentLengths[n].Load(); v != nil {
		return *v
	}
	v := []string{strconv.Itoa(n)}
	contentLengths[n].Store(&v)
	return v
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, cat protocol.Category, reason protocol.Reason, msg string) {
	writeJSON(w, r, status, transportError(cat, reason, msg))
}

// accessWriter records the status for the access log. Unwrap keeps
// http.ResponseController (deadlines, Flush) working through it.
type accessWriter struct {
	http.ResponseWriter
	status int
}

func (a *accessWriter) WriteHeader(code int) {
	a.status = code
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
