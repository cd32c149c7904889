package policy

import (
	_ "embed"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

//go:embed testdata/anchor.yaml
var anchorYAML []byte

func anchorPolicy(tb testing.TB) *Policy {
	tb.Helper()
	p, err := Parse(anchorYAML)
	if err != nil {
		tb.Fatalf("anchor.yaml: %v", err)
	}
	return p
}

// TestAnchorCases: our rewrite of the anchor policy gives the anchors'
// expected decision on each of the 41 cases (the same ones OPA, Cedar and
// the Go floor give).
func TestAnchorCases(t *testing.T) {
	p := anchorPolicy(t)
	if n := len(p.Rules()); n != 20 {
		t.Fatalf("anchor policy has %d rules, want 20", n)
	}
	if len(Cases) != 41 {
		t.Fatalf("%d cases, want 41", len(Cases))
	}
	for _, tc := range Cases {
		d := p.Evaluate(anchorInput(t, tc.Call))
		if d.Code.Allowed() != tc.Allow {
			t.Errorf("%s: %+v, want allow=%v", tc.Name, d, tc.Allow)
		}
		if d.Rule == "" || d.Reason == "" {
			t.Errorf("%s: decision without rule or reason: %+v", tc.Name, d)
		}
	}
}

// TestAnchorDecisions pins the code and deciding rule of a selection of the
// cases: each of the three codes, each deny rule, and the first-allow rule.
func TestAnchorDecisions(t *testing.T) {
	p := anchorPolicy(t)
	const (
		ok  = protocol.DecisionAuthorized
		arg = protocol.DecisionArgumentInvalid
		pol = protocol.DecisionPolicyViolation
	)
	for _, tc := range []struct {
		call   Call
		code   protocol.Decision
		rule   string
		reason string // exact, when set
	}{
		{BenchAllow, ok, "P1", "allowed by rule P1"},
		{BenchDenyArg, arg, "P1", `args.bin "rm" not in ["ls" "cat" "grep" "git" "go"] (rule P1)`},
		{BenchDenyDefault, pol, DefaultDenyRule, ""},
		{Call{"agent-1", "shell", map[string]any{"bin": "ls", "argv": []any{"-l", 3.0}}}, arg, "P1",
			`args.argv[1] 3 is not a string (rule P1)`},
		{Call{"agent-1", "shell", map[string]any{"bin": "cat", "argv": argv(string(make([]byte, 300)))}}, arg, "P1", ""},
		{Call{"agent-2", "fs.read", map[string]any{}}, arg, "P4", "args.path is missing (rule P4)"},
		{Call{"agent-1", "shell", map[string]any{"bin": "git", "argv": argv("push", "origin")}}, arg, "F5", ""},
		{Call{"agent-2", "fs.read", map[string]any{"path": "/project/secrets/token"}}, arg, "F1", ""},
		{Call{"agent-1", "fs.read", map[string]any{"path": "/srv/data/tls/server.pem"}}, arg, "F2", ""},
		{Call{"agent-4", "http.get", map[string]any{"url": "https://arxiv.org/abs/1"}}, pol, "F3", "denied by rule F3"},
		{Call{"agent-1", "http.get", map[string]any{"url": "https://pkg.go.dev/admin/users"}}, arg, "F4", ""},
		{Call{"agent-3", "http.get", map[string]any{"url": "https://pypi.org@evil.io/"}}, arg, "P8", ""},
		{Call{"agent-1", "http.get", map[string]any{"url": "https://internal.example.com/v1/status"}}, ok, "P10", ""},
		{Call{"agent-9", "noop", map[string]any{}}, pol, DefaultDenyRule, ""},
		{Call{"agent-1", "deploy", map[string]any{"env": "prod"}}, pol, DefaultDenyRule, ""},
	} {
		d := p.Evaluate(anchorInput(t, tc.call))
		if d.Code != tc.code || d.Rule != tc.rule || tc.reason != "" && d.Reason != tc.reason {
			t.Errorf("%v: got %+v, want %s by %s %q", tc.call, d, tc.code, tc.rule, tc.reason)
		}
	}
}
