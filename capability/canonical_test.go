package capability

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func canonicalPath(t *testing.T, f *FSRead, p string) (string, error) {
	t.Helper()
	args := string(protocol.AppendString([]byte(`{"path":`), p)) + "}"
	c, err := f.Canonicalize(mustValue(t, args))
	if err != nil {
		return "", err
	}
	v := mustValue(t, string(c.Args))
	return v.Get("path").Str(), nil
}

// TestSecurityCanonicalPath: every spelling of a path inside the root
// canonicalizes to the one absolute, clean, link-free path the read opens.
func TestSecurityCanonicalPath(t *testing.T) {
	root, _ := fsFixture(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "secrets"), 0o755))
	must(os.WriteFile(filepath.Join(root, "secrets", "db.txt"), []byte("db"), 0o644))
	must(os.WriteFile(filepath.Join(root, "server.key"), []byte("key"), 0o644))
	must(os.Symlink("secrets", filepath.Join(root, "public")))
	must(os.Symlink("../secrets/db.txt", filepath.Join(root, "sub", "db-link")))
	f, err := NewFSRead(FSReadConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	db := root + "/secrets/db.txt"
	for _, tc := range []struct{ in, want string }{
		{root + "/./secrets/db.txt", db},
		{root + "//secrets//db.txt", db},
		{root + "/sub/../secrets/db.txt", db},
		{"secrets/db.txt", db},
		{"./secrets/./db.txt", db},
		{"public/db.txt", db},                  // a directory link
		{"sub/db-link", db},                    // a file link
		{"sub/db-link/.", db},                  // cleaned after resolution
		{"missing/../secrets/db.txt", db},      // a missing component still cleans
		{"server.key/.", root + "/server.key"}, // the trailing /. is gone
		{"server.key/", root + "/server.key"},
		{"link-in", root + "/sub/inner.txt"},
		{".", root},
		{"nope/x.txt", root + "/nope/x.txt"},
	} {
		got, err := canonicalPath(t, f, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"../outside/secret.txt", "link-out", "link-abs", "dir-out/secret.txt", "/etc/passwd", "sub/../../x"} {
		if got, err := canonicalPath(t, f, in); !errors.Is(err, &Error{Type: ErrAuthorization}) {
			t.Errorf("Canonicalize(%q) = %q, %v; want an AuthorizationError", in, got, err)
		}
	}
}

// TestSecurityCanonicalPathExecuteReauthorizes: when a link changes
// between the decision and the read, Execute authorizes the new target
// before reading it, and reads exactly the resolved path.
func TestSecurityCanonicalPathExecuteReauthorizes(t *testing.T) {
	root, _ := fsFixture(t)
	if err := os.MkdirAll(filepath.Join(root, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "secrets", "db.txt"), []byte("db"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hello.txt", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	f, err := NewFSRead(FSReadConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	args := mustValue(t, `{"path":"current"}`)
	c, err := f.Canonicalize(args)
	if err != nil {
		t.Fatal(err)
	}
	// The link is retargeted after the policy decided on hello.txt.
	if err := os.Remove(filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("secrets/db.txt", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	var asked []string
	deny := func(c Canonical) error {
		asked = append(asked, string(c.Args))
		if strings.Contains(string(c.Args), "/secrets/") {
			return &Error{Type: ErrAuthorization, Msg: "policy: denied by rule F1"}
		}
		return nil
	}
	res, err := f.Execute(context.Background(), &Request{Args: args, Canonical: mustValue(t, string(c.Args)), Authorize: deny})
	if !errors.Is(err, &Error{Type: ErrAuthorization}) || res != nil {
		t.Fatalf("read after retarget: %s, %v; want the policy's refusal", res, err)
	}
	if len(asked) != 1 || !strings.Contains(asked[0], root+"/secrets/db.txt") {
		t.Errorf("asked the policy about %q", asked)
	}
	// Unchanged: the policy is not asked again.
	asked = nil
	c2, _ := f.Canonicalize(mustValue(t, `{"path":"hello.txt"}`))
	if _, err := f.Execute(context.Background(), &Request{Args: mustValue(t, `{"path":"hello.txt"}`), Canonical: mustValue(t, string(c2.Args)), Authorize: deny}); err != nil || asked != nil {
		t.Errorf("unchanged path: %v, asked %q", err, asked)
	}
}

func TestSecurityCanonicalPathNoFollowAtOpen(t *testing.T) {
	root, _ := fsFixture(t)
	// A resolved path whose component is now a link is refused at open,
	// never followed.
	if _, err := openResolved(nil, root, "link-in"); err == nil {
		t.Fatal("openResolved followed a symbolic link")
	}
	if _, err := openResolved(nil, root, "dir-out/secret.txt"); err == nil {
		t.Fatal("openResolved followed a directory link")
	}
	file, err := openResolved(nil, root, "sub/inner.txt")
	if err != nil {
		t.Fatal(err)
	}
	file.Close()
}

// TestSecurityCanonicalBinary: the shell decides on the path it will exec,
// with the bare name as the other spelling.
func TestSecurityCanonicalBinary(t *testing.T) {
	s := newShell(t, ShellConfig{AllowedBins: []string{"sh", "/bin/echo"}})
	sh := s.Bins()["sh"]
	for _, tc := range []struct{ in, args, alt string }{
		{`{"bin":"sh","argv":["-c","true"]}`, `{"bin":` + quoteJSON(sh) + `,"argv":["-c","true"]}`, `{"bin":"sh"}`},
		{`{"bin":` + quoteJSON(sh) + `}`, `{"bin":` + quoteJSON(sh) + `}`, `{"bin":"sh"}`},
	} {
		c, err := s.Canonicalize(mustValue(t, tc.in))
		if err != nil || string(c.Args) != tc.args || string(c.Alt) != tc.alt {
			t.Errorf("Canonicalize(%s) = %s alt %s, %v; want %s alt %s", tc.in, c.Args, c.Alt, err, tc.args, tc.alt)
		}
	}
	if _, err := s.Canonicalize(mustValue(t, `{"bin":"/tmp/sh"}`)); err == nil {
		t.Error("a binary that is not allowlisted has a canonical form")
	}
}

// TestSecurityCanonicalURL: RFC 3986 §6 normalization.
func TestSecurityCanonicalURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.github.com/%61dmin", "https://api.github.com/admin"},
		{"HTTPS://API.GitHub.COM:443/x/../admin", "https://api.github.com/admin"},
		{"https://api.github.com/./admin/.", "https://api.github.com/admin/"},
		{"https://api.github.com/%2e%2e/admin", "https://api.github.com/admin"},
		{"https://api.github.com./admin", "https://api.github.com/admin"},
		{"https://api.github.com", "https://api.github.com/"},
		{"https://api.github.com:/", "https://api.github.com/"},
		{"http://example.com:80/a?q=%7e%2f#frag", "http://example.com/a?q=~%2F"},
		{"https://example.com:8443/a%2fb", "https://example.com:8443/a%2Fb"},
		{"https://bücher.example/", "https://xn--bcher-kva.example/"},
		{"https://[2001:DB8::1]:443/", "https://[2001:db8::1]/"},
		{"https://[2001:db8::1]:8443/", "https://[2001:db8::1]:8443/"},
	} {
		got, msg := normalizeURL(tc.in)
		if msg != "" || got != tc.want {
			t.Errorf("normalizeURL(%q) = %q, %q; want %q", tc.in, got, msg, tc.want)
		}
	}
	for _, in := range []string{"ftp://x/", "https://user@x/", "https:///x", "https://x/a b", `https://x\@evil/`, "https:opaque", "https://%61pi.github.com/"} {
		if got, msg := normalizeURL(in); msg == "" {
			t.Errorf("normalizeURL(%q) = %q; want a refusal", in, got)
		}
	}
}

// TestSecurityCanonicalRedirectReauthorized: every redirect hop is put to
// the policy hook; a refused hop stops the call before it connects.
func TestSecurityCanonicalRedirectReauthorized(t *testing.T) {
	var hits []string
	other := serverOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		w.Write([]byte("other"))
	}))
	first := serverOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x/../%61dmin", http.StatusFound)
		case "/home":
			http.Redirect(w, r, "/final", http.StatusFound)
		default:
			w.Write([]byte("final"))
		}
	}))
	h := newHTTPGet(t, HTTPGetConfig{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	var asked []string
	onlyFirst := func(c Canonical) error {
		asked = append(asked, string(c.Args))
		if !strings.Contains(string(c.Args), first.URL) {
			return &Error{Type: ErrAuthorization, Msg: "policy: url_host (rule P8)"}
		}
		return nil
	}
	call := func(u string) ([]byte, error) {
		args := mustValue(t, string(urlArgs(u)))
		c, err := h.Canonicalize(args)
		if err != nil {
			t.Fatal(err)
		}
		return h.Execute(context.Background(), &Request{Args: args, Canonical: mustValue(t, string(c.Args)), Authorize: onlyFirst})
	}
	if _, err := call(first.URL + "/away"); !errors.Is(err, &Error{Type: ErrAuthorization}) || len(hits) != 0 {
		t.Fatalf("redirect to another host: %v, hits %q", err, hits)
	}
	if len(asked) != 1 || asked[0] != `{"url":"`+other.URL+`/admin"}` {
		t.Errorf("the hop was asked as %q", asked)
	}
	asked = nil
	if res, err := call(first.URL + "/home"); err != nil || !strings.Contains(string(res), "final") || len(asked) != 1 {
		t.Errorf("same-host redirect: %s, %v, asked %q", res, err, asked)
	}
}

// TestSecuritySSRFEmbeddedIPv4: IPv6 forms that embed a refused IPv4
// address are refused by that address's class.
func TestSecuritySSRFEmbeddedIPv4(t *testing.T) {
	for _, tc := range []struct{ addr, class string }{
		{"::127.0.0.1", "loopback (IPv4-compatible)"},
		{"::169.254.169.254", "cloud metadata (IPv4-compatible)"},
		{"::10.0.0.1", "private (IPv4-compatible)"},
		{"::ffff:0:127.0.0.1", "loopback (via SIIT)"},
		{"::ffff:0:192.168.1.1", "private (via SIIT)"},
		{"::ffff:127.0.0.1", "loopback"},
		{"64:ff9b::127.0.0.1", "loopback (via NAT64)"},
		{"64:ff9b::a9fe:a9fe", "cloud metadata (via NAT64)"},
		{"2002:7f00:1::", "loopback (via 6to4)"},
		{"2002:a00:1::", "private (via 6to4)"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::8.8.8.8", ""},
		{"::ffff:0:8.8.8.8", ""},
	} {
		if got := AddrClass(netip.MustParseAddr(tc.addr)); got != tc.class {
			t.Errorf("AddrClass(%s) = %q, want %q", tc.addr, got, tc.class)
		}
	}
}

func quoteJSON(s string) string { return string(protocol.AppendString(nil, s)) }
