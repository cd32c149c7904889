package transport

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Token is one accepted bearer token: the principal it authenticates and
// the hex SHA-256 of the token text. The token itself is never stored.
type Token struct {
	Principal string
	SHA256    string // lowercase or uppercase hex of sha256(token), 64 digits
}

// HashToken returns the hex SHA-256 of a bearer token, the form
// ServerConfig.Tokens stores.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// GenerateToken returns a new random bearer token (32 bytes from
// crypto/rand, base64url without padding, prefixed "fc_").
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("transport: generate token: %w", err)
	}
	return "fc_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// tokenEntry is a compiled Token.
type tokenEntry struct {
	principal string
	sum       [32]byte
}

func compileTokens(ts []Token) ([]tokenEntry, error) {
	out := make([]tokenEntry, 0, len(ts))
	for i, t := range ts {
		raw, err := hex.DecodeString(t.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("transport: token #%d (%s): SHA256 must be 64 hex digits", i, t.Principal)
		}
		if err := protocol.CheckAssignedPrincipal(t.Principal); err != nil {
			return nil, fmt.Errorf("transport: token #%d: %w", i, err)
		}
		var e tokenEntry
		e.principal = t.Principal
		copy(e.sum[:], raw)
		out = append(out, e)
	}
	return out, nil
}

// authFailure says why a request was not authenticated: one of
// protocol's authentication reasons.
type authFailure = protocol.Reason

const (
	authMissing   = protocol.ReasonMissingCredentials
	authBadToken  = protocol.ReasonInvalidToken
	authMalformed = protocol.ReasonMalformedAuthorization
)

// authenticate returns the principal of r: a bearer token when the
// Authorization header carries one (it must match), else the verified
// mTLS client certificate's subject CN as "mtls:"+CN.
//
// Token comparison hashes the presented token and compares the digest
// with every configured digest in constant time, without an early exit,
// so neither the position of a match nor a common prefix leaks through
// timing.
func (s *Server) authenticate(r *http.Request) (string, authFailure) {
	if h := r.Header.Get("Authorization"); h != "" {
		const prefix = "Bearer "
		if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
			return "", authMalformed
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
		principal := ""
		for i := range s.tokens {
			if subtle.ConstantTimeCompare(sum[:], s.tokens[i].sum[:]) == 1 {
				principal = s.tokens[i].principal
			}
		}
		if principal == "" {
			return "", authBadToken
		}
		return principal, ""
	}
	// VerifyClientCertIfGiven: a certificate in PeerCertificates was
	// verified against ClientCAFile during the handshake.
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != "" {
			return protocol.MTLSPrincipalPrefix + cn, ""
		}
	}
	return "", authMissing
}
