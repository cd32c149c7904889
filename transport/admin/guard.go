package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// The admin listener's front door (see the package doc, "Access"): every
// request passes hostAllowed, then, when a token is configured, the
// bearer check. Both refuse with a JSON body naming the reason.

// loopbackAddr reports whether a listen address's host is a loopback IP
// literal or "localhost". An empty host (all interfaces) and any other
// name are not: a name's resolution can change after the check.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// compileToken decodes Config.TokenSHA256 ("" means no token).
func compileToken(sum string) (*[sha256.Size]byte, error) {
	if sum == "" {
		return nil, nil
	}
	raw, err := hex.DecodeString(sum)
	if err != nil || len(raw) != sha256.Size {
		return nil, fmt.Errorf("admin: TokenSHA256 must be 64 hex digits")
	}
	var out [sha256.Size]byte
	copy(out[:], raw)
	return &out, nil
}

// normalizeName lowercases a DNS name and drops one trailing dot, so
// "Metrics.Example.COM." and "metrics.example.com" are one name.
func normalizeName(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostAllowed reports whether r's Host names this listener: the address
// the connection reached (an IP literal, IPv6 in brackets, in any
// spelling netip parses to the same address) with the listener's port,
// "localhost" with that port when that address is loopback, or one of
// Config.Hosts. Anything else — a public name, another IP, a missing
// Host or port — is what a DNS-rebinding page sends, and is refused.
func (s *Server) hostAllowed(r *http.Request) bool {
	if r.Host == "" {
		return false
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	lap, err := netip.ParseAddrPort(fmt.Sprint(local))
	if local == nil || err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil { // no port
		host, port = r.Host, ""
	}
	name := normalizeName(host)
	for _, h := range s.hosts {
		hh, hp, err := net.SplitHostPort(h)
		if err != nil {
			hh, hp = h, ""
		}
		if normalizeName(hh) == name && (hp == port || hp == "" && port == fmt.Sprint(lap.Port())) {
			return true
		}
	}
	if port != fmt.Sprint(lap.Port()) {
		return false
	}
	if name == "localhost" {
		return lap.Addr().Unmap().IsLoopback()
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(r.Host, "[") {
		return false // a bare IPv6 literal: not a valid Host
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.WithZone("").Unmap() == lap.Addr().WithZone("").Unmap()
}

// authorized reports whether r carries the admin token (always true when
// none is configured). The digest comparison is constant-time.
func (s *Server) authorized(r *http.Request) bool {
	if s.token == nil {
		return true
	}
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

// tokenExempt reports whether a path is served without the admin token:
// /healthz (liveness probes) and /ui, the admin page, whose body is a
// constant carrying no runtime data; the page reads everything it shows
// from /v1/stats, with the token (see the package doc, "The admin page").
func tokenExempt(path string) bool { return path == transport.HealthPath || path == UIPath }

// guard wraps the admin mux with the Host check and the token check.
// The token-exempt paths need no token, but do need a valid Host.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r) {
			writeJSON(w, http.StatusMisdirectedRequest, map[string]string{
				"error":  "misdirected_request",
				"reason": string(protocol.ReasonHostNotAllowed),
				"detail": "the Host header does not name this admin listener (its own address, localhost for a loopback one, or a configured name); refused to prevent DNS rebinding",
			})
			return
		}
		if !tokenExempt(r.URL.Path) && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="femtoclaw-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error":  "unauthorized",
				"reason": string(protocol.ReasonAdminTokenRequired),
				"detail": "send Authorization: Bearer <admin token>",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}
