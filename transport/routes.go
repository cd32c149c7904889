package transport

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// ServeHTTP routes one HTTP/3 request. It is the http3.Server's handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.active.enter()
	defer s.active.leave()
	if s.debug {
		aw := &accessWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			s.log.Debug("request", "proto", r.Proto, "method", r.Method, "path", r.URL.Path, "status", aw.status,
				"remote", r.RemoteAddr, "dur", time.Since(start))
		}()
		w = aw
	}
	if r.ProtoMajor != 3 {
		s.writeError(w, r, http.StatusHTTPVersionNotSupported, protocol.CategoryProtocol, protocol.ReasonHTTP3Required, "this server speaks HTTP/3 only")
		return
	}
	path := r.URL.Path
	if path == HealthPath {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		writeJSON(w, r, http.StatusOK, HealthJSON())
		return
	}
	var route func(http.ResponseWriter, *http.Request, string)
	method := http.MethodPost
	switch {
	case path == "/v1/execute":
		route = s.handleExecute
	case path == "/v1/stream/keyed":
		route = s.handleKeyedStream
	case path == "/v1/stream":
		route = s.handleStream
	case path == "/v1/capabilities":
		route, method = s.handleCapabilities, http.MethodGet
	case strings.HasPrefix(path, "/v1/executions/"):
		route, method = s.handleExecution, http.MethodGet
	default:
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no such endpoint: "+path)
		return
	}
	if r.Method != method {
		s.methodNotAllowed(w, r, method)
		return
	}
	if path == "/v1/execute" {
		growStack() // before the body is read (stack.go)
	}
	principal, fail := s.authenticate(r)
	if fail != "" {
		// With a RejectionLog the per-request line is Debug: the log logs
		// each source once per window, so a flood cannot fill the disk
		// through the log either.
		level := slog.LevelWarn
		if s.rej != nil {
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "unauthenticated request rejected", "category", string(protocol.CategorySecurity), "reason", string(fail),
			"remote", r.RemoteAddr, "path", path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="femtoclaw"`)
		if s.sec != nil {
			if ans := s.sec.RecordSecurityRejection(fail, r.RemoteAddr, "http3"); ans != nil && ans.Error != nil {
				w.Header().Set("X-Femtoclaw-Execution-Id", ans.ExecutionID)
				writeJSON(w, r, http.StatusUnauthorized, ans.AppendJSON(nil))
				return
			}
		}
		s.writeError(w, r, http.StatusUnauthorized, protocol.CategorySecurity, fail, authMessage(fail))
		return
	}
	route(w, r, principal)
}

func authMessage(f authFailure) string {
	switch f {
	case authBadToken:
		return "the bearer token is not valid"
	case authMalformed:
		return "the Authorization header is not \"Bearer <token>\""
	}
	return "authentication required: send Authorization: Bearer <token> or a client certificate"
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, r, http.StatusMethodNotAllowed, protocol.CategoryProtocol, protocol.ReasonMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
}
