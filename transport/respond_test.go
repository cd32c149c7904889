package transport

import (
	"net/http"
	"testing"
)

// headerWriter is an http.ResponseWriter that keeps one header map and
// discards the body, as a server's writer does between requests.
type headerWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) WriteHeader(status int)      { w.status = status }
func (w *headerWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// TestWriteJSONDoesNotAllocate: answering an HTTP/3 request costs no
// allocation in the transport once a body of that size has been answered
// (the header values are shared), and the headers are right.
func TestWriteJSONDoesNotAllocate(t *testing.T) {
	r := &http.Request{Proto: "HTTP/3.0"}
	body := []byte(`{"state":"COMPLETED"}`)
	w := &headerWriter{h: make(http.Header, 4)}
	writeJSON(w, r, http.StatusOK, body)
	if got := w.h.Get("Content-Length"); got != "21" {
		t.Fatalf("Content-Length %q, want 21", got)
	}
	if w.h.Get("Content-Type") != "application/json" || w.h.Get("X-Femtoclaw-Proto") != "HTTP/3.0" || w.status != 200 || w.n != len(body) {
		t.Fatalf("headers %v, status %d, %d bytes", w.h, w.status, w.n)
	}
	if a := testing.AllocsPerRun(100, func() { writeJSON(w, r, http.StatusOK, body) }); a != 0 {
		t.Errorf("writeJSON: %.1f allocations per answer, want 0", a)
	}
	// A size past the shared table still answers right.
	big := make([]byte, len(contentLengths)+5)
	writeJSON(w, r, http.StatusOK, big)
	if got, want := w.h.Get("Content-Length"), "4101"; got != want {
		t.Fatalf("Content-Length %q, want %q", got, want)
	}
}
