package admin

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// healthz answers liveness with the body the HTTP/3 listener sends too
// (transport.HealthJSON).
func healthz(w http.ResponseWriter, _ *http.Request) {
	body := transport.HealthJSON()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", stats.ContentType)
	if err := s.cfg.Metrics.WritePrometheus(w); err != nil {
		s.log.Warn("writing /metrics", "err", err)
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var checks []Check
	if s.cfg.Checks != nil {
		checks = s.cfg.Checks()
	}
	ready := true
	for _, c := range checks {
		ready = ready && c.OK
	}
	body := map[string]any{"ready": ready, "checks": checks, "degraded": degradations(s.detector.Active())}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func (s *Server) statsJSON(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.report()) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
