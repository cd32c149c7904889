package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TestDecideIsExecute: Decide gives the decision and rule Execute gives,
// for calls allowed, denied by the registry, denied by the policy on the
// canonical form only, and refused by validation.
func TestDecideIsExecute(t *testing.T) {
	root := t.TempDir()
	proj := root + "/project"
	for _, d := range []string{"secrets", "docs"} {
		if err := os.MkdirAll(filepath.Join(proj, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(proj, "docs", "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("secrets", filepath.Join(proj, "s")); err != nil {
		t.Fatal(err)
	}
	cfg := capability.BuiltinConfig{FSRead: capability.FSReadConfig{Root: root}, Shell: capability.ShellConfig{AllowedBins: []string{"ls"}}}
	pol := anchorFor(t, root)
	e := canonEnv(t, cfg, pol)
	caps, err := capability.Builtins(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]capability.Settings{}
	for _, c := range caps {
		s[c.Name()] = capability.Settings{Enabled: c.Name() != "http.get", Timeout: 5 * time.Second, PoolSize: 2}
	}
	reg, err := capability.NewRegistry(caps, s)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Reload(reg, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[protocol.Decision]bool{}
	for _, tc := range []struct {
		principal, call string
		canonical       bool // the policy decides on another spelling
	}{
		{"agent-1", fsCall(proj + "/docs/a.txt"), false},
		{"agent-1", fsCall(proj + "/./secrets/db.txt"), true},
		{"agent-1", fsCall(proj + "/s/db.txt"), true},
		{"agent-1", shellCall("ls", "-l"), true},
		{"agent-1", shellCall("/usr/bin/rm", "-rf"), false},
		{"agent-3", shellCall("ls"), true},
		{"agent-1", `{"tool_call":{"tool":"http.get","args":{"url":"https://api.github.com/"}}}`, false},
		{"anyone", `{"tool_call":{"tool":"noop","args":{}}}`, false},
	} {
		msg, err := protocol.Decode([]byte(tc.call), protocol.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		d, canon, err := Decide(nil, reg, p, tc.principal, msg)
		if err != nil {
			t.Fatalf("%s: %v", tc.call, err)
		}
		a := e.exec(tc.principal, tc.call)
		if d.Code != a.Decision || d.Rule != a.Rule {
			t.Errorf("%s %s: Decide %s by %s, Execute %s by %s", tc.principal, tc.call, d.Code, d.Rule, a.Decision, a.Rule)
		}
		seen[d.Code] = true
		if (canon != nil) != tc.canonical {
			t.Errorf("%s: canonical %s", tc.call, canon)
		}
	}
	for _, want := range []protocol.Decision{protocol.DecisionAuthorized, protocol.DecisionDisabled, protocol.DecisionArgumentInvalid, protocol.DecisionPolicyViolation} {
		if !seen[want] {
			t.Errorf("no case decided %s: %v", want, seen)
		}
	}
	for _, call := range []string{`{"tool_call":{"tool":"nope","args":{}}}`, `{"tool_call":{"tool":"fs.read","args":{"path":1}}}`} {
		msg, _ := protocol.Decode([]byte(call), protocol.Limits{})
		_, _, err := Decide(nil, reg, p, "agent-1", msg)
		a := e.exec("agent-1", call)
		if !errors.Is(err, protocol.ErrProtocol) || a.Error == nil || a.Error.Category != protocol.CategoryProtocol || !strings.Contains(err.Error(), a.Error.Message) {
			t.Errorf("%s: Decide %v, Execute %+v", call, err, a.Error)
		}
	}
	msg, _ := protocol.Decode([]byte(`{"message":{"content":"hi"}}`), protocol.Limits{})
	if _, _, err := Decide(nil, reg, p, "agent-1", msg); !errors.Is(err, ErrNothingToDecide) {
		t.Errorf("message form: %v", err)
	}
}
