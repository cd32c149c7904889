package capability

import (
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/idna"
)

// normalizeURL returns the normal form of an absolute http or https URL,
// after RFC 3986 §6.2.2 and §6.2.3: scheme and host lower-cased, the host
// converted to its ASCII (punycode) form and stripped of a trailing dot,
// the scheme's default port and an empty port removed, percent-encodings
// of unreserved characters decoded and the others written in upper case,
// dot segments removed, an empty path written "/", the fragment (never
// sent) dropped. "HTTPS://API.GitHub.com:443/x/../%61dmin?q=%7e#f" becomes
// "https://api.github.com/admin?q=~". It fails for what Execute refuses
// (another scheme, no host, userinfo, whitespace, control characters or a
// backslash) and for a host it cannot convert.
func normalizeURL(raw string) (string, string) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == '\\' || c == 0x7f {
			return "", "the URL has whitespace, a control character or a backslash"
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "invalid URL " + quoteShort(raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if msg := checkURL(u); msg != "" {
		return "", msg
	}
	if u.Opaque != "" {
		return "", "invalid URL " + quoteShort(raw)
	}
	host, port := u.Hostname(), u.Port()
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return "", "no host"
	}
	if strings.Contains(host, ":") { // an IPv6 literal (a zone is refused)
		if strings.Contains(host, "%") {
			return "", "an IPv6 zone is not allowed"
		}
		host = "[" + host + "]"
	} else if !isASCII(host) || strings.HasPrefix(host, "xn--") || strings.Contains(host, ".xn--") {
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", "host " + quoteShort(host) + " is not a valid international domain name"
		}
		host = a
	}
	if port == "80" && u.Scheme == "http" || port == "443" && u.Scheme == "https" {
		port = ""
	}
	var b strings.Builder
	b.Grow(len(raw) + 8)
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if port != "" {
		b.WriteString(net.JoinHostPort(strings.Trim(host, "[]"), port))
	} else {
		b.WriteString(host)
	}
	p := removeDotSegments(normalizeEscapes(u.EscapedPath()))
	if p == "" {
		p = "/"
	}
	b.WriteString(p)
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteByte('?')
		b.WriteString(normalizeEscapes(u.RawQuery))
	}
	return b.String(), ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// normalizeEscapes decodes percent-encoded unreserved characters and
// upper-cases the hex digits of every other escape (RFC 3986 §6.2.2.1,
// §6.2.2.2). A '%' not followed by two hex digits is encoded as "%25".
func normalizeEscapes(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	const upper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		hi, ok1 := byte(0), false
		lo, ok2 := byte(0), false
		if i+2 < len(s) {
			hi, ok1 = unhex(s[i+1])
			lo, ok2 = unhex(s[i+2])
		}
		if !ok1 || !ok2 {
			b = append(b, "%25"...)
			continue
		}
		if d := hi<<4 | lo; unreserved(d) {
			b = append(b, d)
		} else {
			b = append(b, '%', upper[hi], upper[lo])
		}
		i += 2
	}
	return string(b)
}

// removeDotSegments is RFC 3986 §5.2.4 on an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}
