package capability

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// HTTPGetConfig configures the http.get capability. The zero value is
// usable: public addresses only, documented limits.
type HTTPGetConfig struct {
	// AllowPrivate allows every address class that is refused by default:
	// loopback, private (RFC 1918, fc00::/7), link-local (including the
	// cloud metadata address 169.254.169.254), unspecified, shared
	// (100.64.0.0/10), documentation, benchmarking, reserved, multicast,
	// and NAT64/6to4/Teredo forms that embed such addresses.
	AllowPrivate bool
	// AllowedCIDRs are specific exceptions to the refusal above.
	AllowedCIDRs []netip.Prefix
	// Timeout bounds one call, redirects included (the execution's own
	// deadline applies too; the earlier wins). If zero, defaults to 10s.
	Timeout time.Duration
	// MaxBodyBytes caps the body returned; the rest is not read and the
	// result says "truncated": true. If zero, defaults to 1 MiB.
	MaxBodyBytes int64
	// MaxRedirects is how many redirects are followed. If zero, defaults
	// to 5; negative means none.
	MaxRedirects int
	// UserAgent is sent with every request. If empty, defaults to
	// "femtoclaw-http.get/1".
	UserAgent string
}

// http.get defaults.
const (
	DefaultHTTPTimeout   = 10 * time.Second
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMaxRedirects  = 5
	DefaultHTTPUserAgent = "femtoclaw-http.get/1"
)

// HTTPGet is the "http.get" capability. Safe for concurrent use.
//
// The address check runs in the dialer's Control hook, on the IP address
// the socket is about to connect to, after name resolution. A name that
// resolves to a refused address (DNS rebinding included) is refused, and
// so is every redirect target, because every connection is dialed
// through the same hook. Proxies from the environment are never used.
type HTTPGet struct {
	allowPrivate bool
	allowed      []netip.Prefix
	timeout      time.Duration
	maxBody      int64
	maxRedirects int
	userAgent    string
	client       *http.Client
}

// NewHTTPGet builds the http.get capability. The error
// (CONFIGURATION_ERROR) reports negative limits or an invalid prefix.
func NewHTTPGet(cfg HTTPGetConfig) (*HTTPGet, error) {
	h := &HTTPGet{
		allowPrivate: cfg.AllowPrivate,
		timeout:      cfg.Timeout,
		maxBody:      cfg.MaxBodyBytes,
		maxRedirects: cfg.MaxRedirects,
		userAgent:    cfg.UserAgent,
	}
	if h.timeout == 0 {
		h.timeout = DefaultHTTPTimeout
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxRedirects == 0 {
		h.maxRedirects = DefaultMaxRedirects
	}
	if h.maxRedirects < 0 {
		h.maxRedirects = 0
	}
	if h.userAgent == "" {
		h.userAgent = DefaultHTTPUserAgent
	}
	if h.timeout < 0 || h.maxBody < 0 {
		return nil, cfgErr("http.get: negative timeout or max body bytes")
	}
	for _, p := range cfg.AllowedCIDRs {
		if !p.IsValid() {
			return nil, cfgErr("http.get: invalid allowed prefix " + strconv.Quote(p.String()))
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		h.allowed = append(h.allowed, p.Masked())
	}
	dialer := &net.Dialer{Timeout: h.timeout, Control: h.control}
	tr := &http.Transport{
		Proxy:                  nil, // never from the environment: the check must see the real target
		DialContext:            dialer.DialContext,
		DisableKeepAlives:      true, // no connection outlives a call
		TLSHandshakeTimeout:    h.timeout,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	h.client = &http.Client{Transport: tr, CheckRedirect: func(r *http.Request, via []*http.Request) error { return h.checkRedirect(r, via, nil) }}
	return h, nil
}

func (*HTTPGet) Name() string    { return "http.get" }
func (*HTTPGet) Version() string { return "1.0.0" }
func (*HTTPGet) Description() string {
	return "Fetches an http or https URL with GET; private, loopback and link-local addresses are refused unless allowed."
}
func (*HTTPGet) Schema() []byte {
	return []byte(`{"type":"object","properties":{"url":{"type":"string","minLength":1,"maxLength":4096}},"required":["url"],"additionalProperties":false}`)
}
func (*HTTPGet) Effects() Effects { return EffectsRead }

// BlockedError is the dial-time refusal of an address. Address is the
// "ip:port" the socket would have connected to.
type BlockedError struct {
	Address string
	Class   string // loopback, private, link-local, …
}

func (e *BlockedError) Error() string {
	return "connection to " + e.Address + " refused: " + e.Class + " address (allow it with AllowPrivate or AllowedCIDRs)"
}

// control is the net.Dialer hook: it sees the resolved address of every
// connection attempt.
func (h *HTTPGet) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Address: address, Class: "unparseable"}
	}
	if class := h.refused(ap.Addr()); class != "" {
		return &BlockedError{Address: address, Class: class}
	}
	return nil
}

// refused returns why ip is refused, or "" when it may be dialed.
func (h *HTTPGet) refused(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	for _, p := range h.allowed {
		if p.Contains(ip) {
			return ""
		}
	}
	class := AddrClass(ip)
	if class == "" || h.allowPrivate {
		return ""
	}
	return class
}

type namedPrefix struct {
	p     netip.Prefix
	class string
}

// specialPrefixes are the ranges AddrClass reports beyond what netip
// classifies itself.
var specialPrefixes = func() []namedPrefix {
	list := []struct{ cidr, class string }{
		{"0.0.0.0/8", "this-network"},
		{"100.64.0.0/10", "shared (CGNAT)"},
		{"192.0.0.0/24", "IETF protocol assignment"},
		{"192.0.2.0/24", "documentation"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"198.18.0.0/15", "benchmarking"},
		{"240.0.0.0/4", "reserved"},
		{"100::/64", "discard"},
		{"2001:db8::/32", "documentation"},
		{"2001::/32", "Teredo tunnel"},
		{"64:ff9b:1::/48", "local NAT64"},
	}
	out := make([]namedPrefix, len(list))
	for i, e := range list {
		out[i] = namedPrefix{netip.MustParsePrefix(e.cidr), e.class}
	}
	return out
}()

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")           // ::a.b.c.d, deprecated (RFC 4291 §2.5.5.1)
	siitPrefix   = netip.MustParsePrefix("::ffff:0:0:0/96") // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765, SIIT)
)

// AddrClass returns the class of a non-public address ("loopback",
// "private", "link-local", "cloud metadata", …) or "" for a public one.
// Addresses embedding IPv4 (mapped ::ffff:a.b.c.d, IPv4-compatible
// ::a.b.c.d, SIIT-translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96, 6to4
// 2002::/16) are judged by the embedded address; :: and ::1 stay
// unspecified and loopback.
func AddrClass(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && !ip.IsUnspecified() && !ip.IsLoopback() {
		a := ip.As16()
		switch {
		case v4Compatible.Contains(ip):
			if c := AddrClass(netip.AddrFrom4([4]byte(a[12:16]))); c != "" {
				return c + " (IPv4-compatible)"
			}
			return ""
		case siitPrefix.Contains(ip):
			if c := AddrClass(netip.AddrFrom4([4]byte(a[12:16]))); c != "" {
				return c + " (via SIIT)"
			}
			return ""
		case nat64Prefix.Contains(ip):
			if c := AddrClass(netip.AddrFrom4([4]byte(a[12:16]))); c != "" {
				return c + " (via NAT64)"
			}
			return ""
		case sixToFour.Contains(ip):
			if c := AddrClass(netip.AddrFrom4([4]byte(a[2:6]))); c != "" {
				return c + " (via 6to4)"
			}
			return ""
		}
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip == netip.AddrFrom4([4]byte{169, 254, 169, 254}) || ip == netip.MustParseAddr("fd00:ec2::254"):
		return "cloud metadata"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, np := range specialPrefixes {
		if np.p.Contains(ip) {
			return np.class
		}
	}
	return ""
}

// redirectError is a refusal by checkRedirect.
type redirectError struct {
	msg string
	err error // the policy's refusal, if that was the cause
}

func (e *redirectError) Error() string { return e.msg }

// checkRedirect refuses a redirect past the limit or to a refused URL, and
// asks the policy about the hop's canonical URL (authorize is the call's
// Request.Authorize): a redirect is authorized against the same rules,
// principal and policy snapshot as the first URL.
func (h *HTTPGet) checkRedirect(req *http.Request, via []*http.Request, authorize func(Canonical) error) error {
	if len(via) > h.maxRedirects {
		return &redirectError{msg: "stopped after " + strconv.Itoa(h.maxRedirects) + " redirects"}
	}
	if msg := checkURL(req.URL); msg != "" {
		return &redirectError{msg: "redirect to a refused URL: " + msg}
	}
	canon, msg := normalizeURL(req.URL.String())
	if msg != "" {
		return &redirectError{msg: "redirect to a refused URL: " + msg}
	}
	if authorize != nil {
		if err := authorize(Canonical{Args: urlArgs(canon)}); err != nil {
			return &redirectError{msg: "redirect to " + quoteShort(canon) + " refused: " + err.Error(), err: err}
		}
	}
	u, err := url.Parse(canon)
	if err != nil {
		return &redirectError{msg: "redirect to a refused URL: invalid URL"}
	}
	req.URL = u // fetch exactly what was authorized
	req.Host = ""
	return nil
}

// urlArgs returns {"url": u}.
func urlArgs(u string) []byte {
	return append(protocol.AppendString(append(make([]byte, 0, len(u)+10), `{"url":`...), u), '}')
}

// Canonicalize implements Canonicalizer: {"url": the URL's normal form}
// (normalizeURL: RFC 3986 §6 case, percent-encoding and dot-segment
// normalization, default port removed, IDNA hosts in ASCII), so
// "https://API.github.com:443/%61dmin" is decided as
// "https://api.github.com/admin". It fails for URLs Execute refuses.
func (h *HTTPGet) Canonicalize(args protocol.Value) (Canonical, error) {
	canon, msg := normalizeURL(args.Get("url").Str())
	if msg != "" {
		return Canonical{}, newErr(ErrArgument, "http.get: "+msg)
	}
	return Canonical{Args: urlArgs(canon)}, nil
}

// checkURL returns why u may not be fetched, or "".
func checkURL(u *url.URL) string {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "scheme " + quoteShort(u.Scheme) + " is not http or https"
	case u.Host == "" || u.Hostname() == "":
		return "no host"
	case u.User != nil:
		return "credentials in the URL are not allowed"
	}
	return ""
}

// selectedHeaders are the response headers the result carries.
var selectedHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Language", "Last-Modified", "ETag", "Cache-Control", "Location", "Date"}

// Execute fetches args.url. The result is
// {"status":N,"url":final URL,"headers":{…},"body":…,"encoding":"utf-8"|"base64","truncated":bool}.
// Any HTTP status is a success; refused addresses are an
// AuthorizationError naming the address.
func (h *HTTPGet) Execute(ctx context.Context, req *Request) ([]byte, error) {
	raw := req.Args.Get("url").Str()
	u, err := url.Parse(raw)
	if err != nil {
		return nil, newErr(ErrArgument, "http.get: invalid URL "+quoteShort(raw))
	}
	if msg := checkURL(u); msg != "" {
		return nil, newErr(ErrArgument, "http.get: "+msg)
	}
	canon, msg := normalizeURL(raw)
	if msg != "" {
		return nil, newErr(ErrArgument, "http.get: "+msg)
	}
	if ca := urlArgs(canon); !req.sameCanonical(ca) {
		if err := req.authorize(Canonical{Args: ca}); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, canon, nil)
	if err != nil {
		return nil, newErr(ErrArgument, "http.get: invalid URL "+quoteShort(raw))
	}
	hreq.Header.Set("User-Agent", h.userAgent)
	client := *h.client // per call: the redirect check carries this call's policy hook
	authorize := req.Authorize
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error { return h.checkRedirect(r, via, authorize) }
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, h.doErr(ctx, err)
	}
	defer resp.Body.Close()
	body, truncated, err := readCapped(resp.Body, resp.ContentLength, h.maxBody)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxErr(ctx.Err())
		}
		return nil, newErr(ErrExecution, "http.get: reading the body: "+err.Error())
	}
	b := make([]byte, 0, len(body)*4/3+512)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(resp.StatusCode), 10)
	b = append(b, `,"url":`...)
	b = protocol.AppendString(b, resp.Request.URL.String())
	b = append(b, `,"headers":{`...)
	first := true
	for _, k := range selectedHeaders {
		v := resp.Header.Get(k)
		if v == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = protocol.AppendString(b, strings.ToLower(k))
		b = append(b, ':')
		b = protocol.AppendString(b, v)
	}
	b = append(b, '}')
	b = appendContent(b, "body", body, truncated)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, truncated)
	return append(b, '}'), nil
}

func (h *HTTPGet) doErr(ctx context.Context, err error) *Error {
	var be *BlockedError
	var re *redirectError
	switch {
	case errors.As(err, &be):
		return newErr(ErrAuthorization, "http.get: "+be.Error())
	case errors.As(err, &re):
		return newErr(ErrAuthorization, "http.get: "+re.msg)
	case ctx.Err() != nil:
		return ctxErr(ctx.Err())
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return newErr(ErrTimeout, "http.get: "+err.Error())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return newErr(ErrExecution, "http.get: "+err.Error())
}
