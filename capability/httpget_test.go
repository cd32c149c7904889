package capability

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func newHTTPGet(t *testing.T, cfg HTTPGetConfig) *HTTPGet {
	t.Helper()
	h, err := NewHTTPGet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h *HTTPGet, url string) (protocol.Value, error) {
	t.Helper()
	args := string(protocol.AppendString([]byte(`{"url":`), url)) + "}"
	res, err := h.Execute(context.Background(), &Request{Args: mustValue(t, args)})
	if err != nil {
		return protocol.Value{}, err
	}
	v, perr := protocol.ParseValue(res, protocol.Limits{})
	if perr != nil {
		t.Fatalf("%s: result %s is not valid JSON: %v", url, res, perr)
	}
	return v, nil
}

// serverOn starts an httptest server listening on addr (e.g. 127.0.0.2:0).
func serverOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func hello() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Secret", "not selected")
		w.Write([]byte("hello \"there\""))
	})
}

func TestHTTPGetLoopbackRefusedByDefault(t *testing.T) {
	srv := serverOn(t, "127.0.0.1:0", hello())
	h := newHTTPGet(t, HTTPGetConfig{})
	_, err := get(t, h, srv.URL+"/x")
	if !errors.Is(err, &Error{Type: ErrAuthorization}) {
		t.Fatalf("err = %v, want AuthorizationError", err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error %q does not name the blocked address %s", err, addr)
	}
	// A name that resolves to loopback is checked at dial time too.
	_, port, _ := net.SplitHostPort(addr)
	if _, err := get(t, h, "http://localhost:"+port+"/"); !errors.Is(err, &Error{Type: ErrAuthorization}) {
		t.Errorf("localhost: err = %v", err)
	}
}

func TestHTTPGetAllowed(t *testing.T) {
	srv := serverOn(t, "127.0.0.1:0", hello())
	for name, cfg := range map[string]HTTPGetConfig{
		"AllowPrivate": {AllowPrivate: true},
		"CIDR":         {AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		"mapped CIDR":  {AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}},
	} {
		v, err := get(t, newHTTPGet(t, cfg), srv.URL+"/x")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s, _ := v.Get("status").Int(); s != 200 || v.Get("body").Str() != `hello "there"` || v.Get("truncated").Bool() {
			t.Errorf("%s: %s", name, v.Raw())
		}
		hd := v.Get("headers")
		if hd.Get("content-type").Str() != "text/plain" || hd.Get("x-secret").Exists() {
			t.Errorf("%s: headers %s", name, hd.Raw())
		}
	}
	// Another loopback address is not covered by the /32 exception.
	other := serverOn(t, "127.0.0.2:0", hello())
	h := newHTTPGet(t, HTTPGetConfig{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if _, err := get(t, h, other.URL); !errors.Is(err, &Error{Type: ErrAuthorization}) {
		t.Errorf("127.0.0.2: err = %v", err)
	}
}

func TestHTTPGetRedirects(t *testing.T) {
	target := serverOn(t, "127.0.0.2:0", hello())
	allowed := serverOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback":
			http.Redirect(w, r, target.URL+"/", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/to-self":
			http.Redirect(w, r, "/final", http.StatusMovedPermanently)
		default:
			w.Write([]byte("final"))
		}
	}))
	h := newHTTPGet(t, HTTPGetConfig{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxRedirects: 3})
	_, err := get(t, h, allowed.URL+"/to-loopback")
	if !errors.Is(err, &Error{Type: ErrAuthorization}) || !strings.Contains(err.Error(), strings.TrimPrefix(target.URL, "http://")) {
		t.Errorf("redirect to loopback: err = %v", err)
	}
	if _, err := get(t, h, allowed.URL+"/to-file"); !errors.Is(err, &Error{Type: ErrAuthorization}) || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("redirect to file: err = %v", err)
	}
	if _, err := get(t, h, allowed.URL+"/loop"); !errors.Is(err, &Error{Type: ErrAuthorization}) || !strings.Contains(err.Error(), "3 redirects") {
		t.Errorf("redirect loop: err = %v", err)
	}
	v, err := get(t, h, allowed.URL+"/to-self")
	if err != nil || v.Get("body").Str() != "final" || !strings.HasSuffix(v.Get("url").Str(), "/final") {
		t.Errorf("allowed redirect: %v %s", err, v.Raw())
	}
}

func TestHTTPGetURLChecks(t *testing.T) {
	h := newHTTPGet(t, HTTPGetConfig{})
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/", "gopher://x/", "javascript:alert(1)", "//example.com/", "http://", "http://user:pw@example.com/", "example.com", "http://[::1", "%zz"} {
		if _, err := get(t, h, u); !errors.Is(err, &Error{Type: ErrArgument}) {
			t.Errorf("%s: err = %v, want ArgumentError", u, err)
		}
	}
	// Literal private and metadata addresses are refused at dial time, before any packet.
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:1/", "http://0.0.0.0:1/", "http://[::ffff:127.0.0.1]:1/", "http://[64:ff9b::7f00:1]:1/"} {
		_, err := get(t, h, u)
		if !errors.Is(err, &Error{Type: ErrAuthorization}) {
			t.Errorf("%s: err = %v, want AuthorizationError", u, err)
		}
	}
}

func TestHTTPGetBodyCap(t *testing.T) {
	srv := serverOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bin" {
			w.Write([]byte{0xff, 0xfe, 0xfd})
			return
		}
		w.Write([]byte(strings.Repeat("z", 5000)))
	}))
	h := newHTTPGet(t, HTTPGetConfig{AllowPrivate: true, MaxBodyBytes: 1024})
	v, err := get(t, h, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("body").Str() != strings.Repeat("z", 1024) || !v.Get("truncated").Bool() {
		t.Errorf("body %d bytes, truncated %v", len(v.Get("body").Str()), v.Get("truncated").Bool())
	}
	v, err = get(t, h, srv.URL+"/bin")
	if err != nil || v.Get("encoding").Str() != "base64" || v.Get("body").Str() != "//79" {
		t.Errorf("binary body: %v %s", err, v.Raw())
	}
}

func TestHTTPGetTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := serverOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	h := newHTTPGet(t, HTTPGetConfig{AllowPrivate: true, Timeout: 200 * time.Millisecond})
	if _, err := get(t, h, srv.URL); !errors.Is(err, &Error{Type: ErrTimeout}) {
		t.Errorf("err = %v, want Timeout", err)
	}
}

func TestAddrClass(t *testing.T) {
	for addr, want := range map[string]string{
		"8.8.8.8": "", "2606:4700::1111": "", "1.1.1.1": "",
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private", "172.16.0.1": "private",
		"192.168.1.1": "private", "fc00::1": "private", "169.254.169.254": "cloud metadata",
		"fd00:ec2::254": "cloud metadata", "169.254.1.1": "link-local", "fe80::1": "link-local",
		"0.0.0.0": "unspecified", "::": "unspecified", "100.64.0.1": "shared (CGNAT)", "224.0.0.1": "multicast",
		"255.255.255.255": "broadcast", "240.0.0.1": "reserved", "::ffff:10.0.0.1": "private",
		"64:ff9b::a00:1": "private (via NAT64)", "64:ff9b::808:808": "", "2002:7f00:1::": "loopback (via 6to4)",
		"2001:db8::1": "documentation", "0.1.2.3": "this-network", "198.18.0.1": "benchmarking",
	} {
		if got := AddrClass(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AddrClass(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestHTTPGetConfig(t *testing.T) {
	for _, cfg := range []HTTPGetConfig{{Timeout: -1}, {MaxBodyBytes: -1}, {AllowedCIDRs: []netip.Prefix{{}}}} {
		if _, err := NewHTTPGet(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestHTTPGetConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	h := newHTTPGet(t, HTTPGetConfig{AllowPrivate: true})
	if _, err := get(t, h, "http://"+addr+"/"); !errors.Is(err, &Error{Type: ErrExecution}) {
		t.Errorf("err = %v, want ExecutionError", err)
	}
}

func TestBuiltinMetadata(t *testing.T) {
	caps, err := Builtins(BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Effects{"noop": EffectsNone, "echo": EffectsNone, "shell": EffectsWrite, "fs.read": EffectsRead, "http.get": EffectsRead}
	for _, c := range caps {
		if c.Description() == "" || want[c.Name()] != c.Effects() {
			t.Errorf("%s: description %q effects %s", c.Name(), c.Description(), c.Effects())
		}
		delete(want, c.Name())
	}
	if len(want) != 0 {
		t.Errorf("missing built-ins %v", want)
	}
}
