package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// canonEnv opens a runtime with the built-ins configured by cfg, every one
// enabled, under the policy text pol.
func canonEnv(t *testing.T, cfg capability.BuiltinConfig, pol string) *env {
	t.Helper()
	caps, err := capability.Builtins(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]capability.Settings{}
	for _, c := range caps {
		s[c.Name()] = capability.Settings{Enabled: true, Timeout: 5 * time.Second, PoolSize: 2}
	}
	reg, err := capability.NewRegistry(caps, s)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{j: &memJournal{}}
	rt, err := Open(Config{Journal: e.j, Durable: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, reg, p)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	return e
}

type canonCase struct {
	name, principal, call string
	allow                 bool
}

// run executes every case three times (a miss, then cached validation
// and decisions) and checks the outcome each time.
func (e *env) runCanon(t *testing.T, cases []canonCase) {
	t.Helper()
	for _, tc := range cases {
		for i := range 3 {
			a := e.exec(tc.principal, tc.call)
			if got := a.Decision == protocol.DecisionAuthorized && a.Error == nil; got != tc.allow {
				t.Errorf("%s (run %d): decision %s rule %s error %v; want allowed=%v", tc.name, i, a.Decision, a.Rule, a.Error, tc.allow)
			}
			e.rt.cachesBuilt().Wait()
		}
	}
}

// anchorFor returns the shipped anchor policy with its absolute paths
// moved under root.
func anchorFor(t *testing.T, root string) string {
	data, err := os.ReadFile("../policy/testdata/anchor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "[/project/", "["+root+"/project/")
}

func fsCall(p string) string {
	return `{"tool_call":{"tool":"fs.read","args":{"path":` + string(protocol.AppendString(nil, p)) + `}}}`
}

// TestSecurityCanonicalDotSegment: the paths and other spellings
// of them no longer pass the shipped example's deny rules (F1, F2).
func TestSecurityCanonicalDotSegment(t *testing.T) {
	root := t.TempDir()
	proj := root + "/project"
	for _, d := range []string{"secrets", "pub", "docs"} {
		if err := os.MkdirAll(filepath.Join(proj, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"secrets/db.txt": "db", "server.key": "key", "docs/readme.txt": "hi"} {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../secrets/db.txt", filepath.Join(proj, "pub", "db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("secrets", filepath.Join(proj, "s")); err != nil {
		t.Fatal(err)
	}
	e := canonEnv(t, capability.BuiltinConfig{FSRead: capability.FSReadConfig{Root: root}}, anchorFor(t, root))
	e.runCanon(t, []canonCase{
		{"readme", "agent-1", fsCall(proj + "/docs/readme.txt"), true},
		{"readme relative", "agent-1", fsCall("project/docs/./readme.txt"), true}, // decided as the absolute path
		{"dot segment", "agent-1", fsCall(proj + "/./secrets/db.txt"), false},
		{"double slash", "agent-1", fsCall(proj + "//secrets/db.txt"), false},
		{"dot-dot inside", "agent-1", fsCall(proj + "/docs/../secrets/db.txt"), false},
		{"file link", "agent-1", fsCall(proj + "/pub/db"), false},
		{"directory link", "agent-1", fsCall(proj + "/s/db.txt"), false},
		{"key trailing dot", "agent-1", fsCall(proj + "/server.key/."), false},
		{"key trailing slash", "agent-1", fsCall(proj + "/server.key/"), false},
	})
	// Both forms are journaled where they differ.
	var found bool
	for _, r := range e.j.records() {
		if strings.Contains(string(r.Args), "/./secrets/") {
			found = true
			if !strings.Contains(string(r.CanonicalArgs), proj+"/secrets/db.txt") {
				t.Errorf("record args %s canonical %s", r.Args, r.CanonicalArgs)
			}
		}
		if strings.Contains(string(r.Args), "/docs/readme.txt") && r.CanonicalArgs != nil {
			t.Errorf("canonical args journaled though equal: %s", r.CanonicalArgs)
		}
	}
	if !found {
		t.Error("no record of the dot-segment call")
	}
}

// TestSecurityCanonicalLinkRetargeted: a link retargeted after its
// decision was cached is decided again before it is read.
func TestSecurityCanonicalLinkRetargeted(t *testing.T) {
	root := t.TempDir()
	proj := root + "/project"
	for _, d := range []string{"secrets", "docs"} {
		if err := os.MkdirAll(filepath.Join(proj, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(proj, "secrets", "db.txt"), []byte("SECRET"), 0o644)
	os.WriteFile(filepath.Join(proj, "docs", "a.txt"), []byte("public"), 0o644)
	link := filepath.Join(proj, "current")
	if err := os.Symlink("docs/a.txt", link); err != nil {
		t.Fatal(err)
	}
	e := canonEnv(t, capability.BuiltinConfig{FSRead: capability.FSReadConfig{Root: root}}, anchorFor(t, root))
	e.runCanon(t, []canonCase{{"public through the link", "agent-1", fsCall(proj + "/current"), true}})
	os.Remove(link)
	if err := os.Symlink("secrets/db.txt", link); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a := e.exec("agent-1", fsCall(proj+"/current"))
		if a.Error == nil || strings.Contains(string(a.Result), "SECRET") {
			t.Fatalf("run %d: the retargeted link was read: %s", i, a.Result)
		}
		if a.Error.Reason != protocol.ReasonAuthorizationError || !strings.Contains(a.Error.Message, "F1") {
			t.Errorf("run %d: error %+v", i, a.Error)
		}
	}
}

func shellCall(bin string, argv ...string) string {
	b := []byte(`{"tool_call":{"tool":"shell","args":{"bin":`)
	b = protocol.AppendString(b, bin)
	b = append(b, `,"argv":[`...)
	for i, a := range argv {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, a)
	}
	return string(b) + `]}}}`
}

// TestSecurityCanonicalBinaryPath: a deny rule written for the bare name
// holds for the absolute path, and one written for the path holds for the
// bare name.
func TestSecurityCanonicalBinaryPath(t *testing.T) {
	caps, err := capability.Builtins(capability.BuiltinConfig{Shell: capability.ShellConfig{AllowedBins: []string{"git", "ls"}}})
	if err != nil {
		t.Skip(err)
	}
	var lsPath string
	for _, c := range caps {
		if s, ok := c.(*capability.Shell); ok {
			lsPath = s.Bins()["ls"]
		}
	}
	pol := `
rules:
  - {id: any-shell, effect: allow, capabilities: [shell]}
  - {id: no-git-push, effect: deny, capabilities: [shell], args: {bin: {in: [git]}, argv: {contains_item: [push]}}}
  - {id: no-ls-root, effect: deny, capabilities: [shell], args: {bin: {in: [` + lsPath + `]}, argv: {contains_item: ["/root"]}}}
`
	e := canonEnv(t, capability.BuiltinConfig{Shell: capability.ShellConfig{AllowedBins: []string{"git", "ls"}}}, pol)
	e.runCanon(t, []canonCase{
		{"ls", "agent-1", shellCall("ls", "-d", "/"), true},
		{"git push", "agent-1", shellCall("git", "push"), false},
		{"/usr/bin/git push", "agent-1", shellCall("/usr/bin/git", "push"), false},
		{"ls /root by name", "agent-1", shellCall("ls", "/root"), false},
		{"ls /root by path", "agent-1", shellCall(lsPath, "/root"), false},
	})
}

// TestSecurityCanonicalURL: the URL rules are decided on the normalized
// URL, and every redirect hop is decided again.
func TestSecurityCanonicalURL(t *testing.T) {
	var otherHits atomic.Int32
	other := localServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write([]byte("other"))
	}))
	var first *httptest.Server
	first = localServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
		case "/to-admin":
			http.Redirect(w, r, "/x/../%61dmin", http.StatusFound)
		case "/admin":
			w.Write([]byte("ADMIN"))
		default:
			w.Write([]byte("ok"))
		}
	}))
	host := strings.TrimPrefix(first.URL, "http://")
	pol := `
rules:
  - id: local
    effect: allow
    capabilities: [http.get]
    args: {url: {url_scheme: [http], url_host: ["` + host + `"]}}
  - {id: no-admin, effect: deny, capabilities: [http.get], args: {url: {contains: [/admin]}}}
`
	e := canonEnv(t, capability.BuiltinConfig{HTTPGet: capability.HTTPGetConfig{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}, pol)
	get := func(u string) string { return `{"tool_call":{"tool":"http.get","args":{"url":"` + u + `"}}}` }
	upper := "HTTP://" + strings.ToUpper(host)
	e.runCanon(t, []canonCase{
		{"plain", "agent-1", get(first.URL + "/ok"), true},
		{"upper-case scheme", "agent-1", get(upper + "/ok"), true},
		{"admin", "agent-1", get(first.URL + "/admin"), false},
		{"percent-encoded admin", "agent-1", get(first.URL + "/%61dmin"), false},
		{"dot-segment admin", "agent-1", get(first.URL + "/x/../admin"), false},
		{"encoded dots admin", "agent-1", get(first.URL + "/%2e/admin"), false},
		{"redirect to another host", "agent-1", get(first.URL + "/away"), false},
		{"redirect to admin", "agent-1", get(first.URL + "/to-admin"), false},
	})
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other host was reached %d times", n)
	}
}

func localServer(t *testing.T, h http.Handler) *httptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// TestSecurityOptionsHardenedPolicy: the shipped model policy, on real
// canonical calls, refuses the option attacks on sort and git.
func TestSecurityOptionsHardenedPolicy(t *testing.T) {
	pol, err := os.ReadFile("../policy/testdata/hardened.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := capability.NewShell(capability.ShellConfig{AllowedBins: []string{"sort", "git"}}); err != nil {
		t.Skip(err)
	}
	e := canonEnv(t, capability.BuiltinConfig{Shell: capability.ShellConfig{AllowedBins: []string{"sort", "git"}}}, string(pol))
	for _, tc := range []struct {
		name  string
		call  string
		allow bool
	}{
		{"sort", shellCall("sort", "-n", "-k", "2", "data.txt"), true},
		{"sort by path", shellCall("/usr/bin/sort", "-r", "data.txt"), true},
		{"sort --outp=FILE", shellCall("sort", "--outp=out", "data.txt"), false},
		{"sort --ou FILE", shellCall("sort", "--ou", "out", "data.txt"), false},
		{"sort -uoFILE", shellCall("sort", "-uoout", "data.txt"), false},
		{"/usr/bin/sort -uoFILE", shellCall("/usr/bin/sort", "-uoout", "data.txt"), false},
		{"git status", shellCall("git", "status", "-s"), true},
		{"git -c alias.x=push x", shellCall("git", "-c", "alias.x=push", "x"), false},
		{"git -c help.autocorrect=immediate psuh", shellCall("git", "-c", "help.autocorrect=immediate", "psuh"), false},
		{"git ext::", shellCall("git", "clone", "ext::sh -c id", "d"), false},
		{"/usr/bin/git push", shellCall("/usr/bin/git", "push"), false},
		{"git -C . push", shellCall("git", "-C", ".", "push"), false},
	} {
		for i := range 3 {
			a := e.exec("agent-1", tc.call)
			if got := a.Decision == protocol.DecisionAuthorized; got != tc.allow {
				t.Errorf("%s (run %d): decision %s rule %s (%v); want allowed=%v", tc.name, i, a.Decision, a.Rule, a.Error, tc.allow)
			}
			e.rt.cachesBuilt().Wait()
		}
	}
}
