package admin

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// UIPath is the admin page: one self-contained HTML document (inline CSS
// and script, hand-drawn SVG plots, nothing loaded from anywhere) that
// polls /v1/stats once a second. See the package doc, "The admin page".
const UIPath = "/ui"

//go:embed ui.html
var uiPage []byte

// uiCSP is the page's Content-Security-Policy: nothing may load but the
// page's own inline script and stylesheet, named by their SHA-256, and
// the only connection it may open is to this origin (/v1/stats).
var uiCSP = "default-src 'none'; script-src " + inlineHashes(uiPage, "script") +
	"; style-src " + inlineHashes(uiPage, "style") +
	"; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// inlineHashes returns the CSP source list of every <tag>…</tag> body in
// page: 'sha256-<base64>' each, space separated. The page's elements have
// no attributes, so the open tag is matched exactly.
func inlineHashes(page []byte, tag string) string {
	var srcs []string
	rest := string(page)
	open, end := "<"+tag+">", "</"+tag+">"
	for {
		i := strings.Index(rest, open)
		if i < 0 {
			break
		}
		rest = rest[i+len(open):]
		j := strings.Index(rest, end)
		if j < 0 {
			break
		}
		sum := sha256.Sum256([]byte(rest[:j]))
		srcs = append(srcs, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		rest = rest[j+len(end):]
	}
	if len(srcs) == 0 {
		return "'none'"
	}
	return strings.Join(srcs, " ")
}

// ui serves the page. Its body is a constant: no runtime data, so it
// needs no token (guard.tokenExempt); the data comes from /v1/stats.
func ui(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(uiPage)))
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	w.Write(uiPage)
}
