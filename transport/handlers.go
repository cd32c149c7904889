package transport

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// capsCache is the encoded GET /v1/capabilities body for one registry.
type capsCache struct {
	reg  *capability.Registry
	body []byte
}

func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request, principal string) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > MaxIdempotencyKeyLen {
		s.writeError(w, r, http.StatusBadRequest, protocol.CategoryProtocol, protocol.ReasonInvalidHeader,
			fmt.Sprintf("Idempotency-Key is longer than %d bytes", MaxIdempotencyKeyLen))
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	msg, status, text := s.readBody(w, r, (*bp)[:0])
	if status != 0 {
		reason := protocol.ReasonBodyReadFailed
		switch status {
		case http.StatusRequestEntityTooLarge:
			reason = protocol.ReasonTooLarge
		case http.StatusRequestTimeout:
			reason = protocol.ReasonReadTimeout
		}
		s.writeError(w, r, status, protocol.CategoryProtocol, reason, text)
		return
	}
	*bp = msg[:0]
	req := pipeline.Request{Message: msg, Principal: principal, IdempotencyKey: key, Transport: "http3", Timeout: requestTimeout(r)}
	// No timer here: req.Timeout becomes the capability deadline of pooled
	// (read/write) capabilities inside the pipeline; effects-none ones are
	// bounded computations no timer could interrupt. A per-request
	// context.WithTimeout cost ~9% of the server's CPU per request.
	ans := s.ex.Execute(r.Context(), &req)
	op := getBuf()
	defer putBuf(op)
	out := ans.AppendJSON((*op)[:0])
	*op = out[:0]
	w.Header().Set("X-Femtoclaw-Execution-Id", ans.ExecutionID)
	if ans.Replayed {
		w.Header().Set(HeaderIdempotentReplayed, "true")
	}
	writeJSON(w, r, StatusOf(ans), out)
}

func (s *Server) handleCapabilities(w http.ResponseWriter, r *http.Request, _ string) {
	reg := s.ex.Registry()
	c := s.caps.Load()
	if c == nil || c.reg != reg {
		c = &capsCache{reg: reg, body: encodeCapabilities(reg)}
		s.caps.Store(c)
	}
	writeJSON(w, r, http.StatusOK, c.body)
}

// encodeCapabilities renders {"capabilities":[{name, version,
// description, effects, enabled, schema}, …]} sorted by name.
func encodeCapabilities(reg *capability.Registry) []byte {
	b := []byte(`{"capabilities":[`)
	for i, e := range reg.Entries() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = protocol.AppendString(b, e.Cap.Name())
		b = append(b, `,"version":`...)
		b = protocol.AppendString(b, e.Cap.Version())
		b = append(b, `,"description":`...)
		b = protocol.AppendString(b, e.Cap.Description())
		b = append(b, `,"effects":`...)
		b = protocol.AppendString(b, string(e.Cap.Effects()))
		b = append(b, `,"enabled":`...)
		b = strconv.AppendBool(b, e.Settings.Enabled)
		b = append(b, `,"timeout_ms":`...)
		b = strconv.AppendInt(b, e.Settings.Timeout.Milliseconds(), 10)
		b = append(b, `,"schema":`...)
		b = append(b, e.Cap.Schema()...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (s *Server) handleExecution(w http.ResponseWriter, r *http.Request, _ string) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/executions/")
	if id == "" || strings.Contains(id, "/") || len(id) > 128 {
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no such execution id: "+strconv.Quote(id))
		return
	}
	if s.lookup == nil {
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryMemory, protocol.ReasonLookupUnavailable, "execution lookups are not configured on this server (no journal)")
		return
	}
	recs, err := s.lookup(id)
	if err != nil {
		s.log.Error("execution lookup failed", "category", string(protocol.CategoryMemory), "execution_id", id, "err", err)
		s.writeError(w, r, http.StatusServiceUnavailable, protocol.CategoryMemory, protocol.ReasonJournalReadFailed, "reading the journal failed: "+err.Error())
		return
	}
	if len(recs) == 0 {
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no journal record for execution "+id)
		return
	}
	b := []byte(`{"execution_id":`)
	b = protocol.AppendString(b, id)
	b = append(b, `,"records":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		rb, err := recs[i].MarshalJSON()
		if err != nil {
			s.writeError(w, r, http.StatusInternalServerError, protocol.CategoryMemory, protocol.ReasonEncodeFailed, err.Error())
			return
		}
		b = append(b, rb...)
	}
	b = append(b, "]}"...)
	writeJSON(w, r, http.StatusOK, b)
}
