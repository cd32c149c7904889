package transport

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
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
	w.Header()["X-Femtoclaw-Execution-Id"] = []string{ans.ExecutionID}
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

// handleExecution serves GET /v1/executions/{id}: the journal records of
// one execution, as far as the caller may see them (visibleRecords). An
// id that does not exist and one whose records the caller may not see get
// the same answer (executionNotFound): the same status, reason and
// message, so the endpoint is no oracle for other principals' ids.
func (s *Server) handleExecution(w http.ResponseWriter, r *http.Request, principal string) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/executions/")
	if id == "" || strings.Contains(id, "/") || len(id) > 128 {
		s.executionNotFound(w, r, id)
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
	recs = visibleRecords(recs, principal, s.isAdmin(principal))
	if len(recs) == 0 {
		s.executionNotFound(w, r, id)
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

// executionNotFound is the one answer for an id the caller cannot read,
// whether it exists or not.
func (s *Server) executionNotFound(w http.ResponseWriter, r *http.Request, id string) {
	s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no such execution: "+strconv.Quote(id))
}

// visibleRecords keeps the records principal may read, in place: all of
// them for an admin; otherwise those it made itself (Record.Principal is
// the authenticated principal of the request), never a system record
// (startup, shutdown, policy loads: principal "runtime", which a token
// could also be named) and never an unauthenticated rejection (principal
// "", which no authenticated caller has).
func visibleRecords(recs []journal.Record, principal string, admin bool) []journal.Record {
	if admin {
		return recs
	}
	out := recs[:0]
	for _, rec := range recs {
		if rec.Kind != journal.KindSystem && principal != "" && rec.Principal == principal {
			out = append(out, rec)
		}
	}
	return out
}

// isAdmin reports whether principal is one of ServerConfig.AdminPrincipals.
func (s *Server) isAdmin(principal string) bool {
	return principal != "" && slices.Contains(s.cfg.AdminPrincipals, principal)
}
