package policy

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

const (
	authorized = protocol.DecisionAuthorized
	violation  = protocol.DecisionPolicyViolation
	argInvalid = protocol.DecisionArgumentInvalid
)

// TestDecisionCodes: each of the three codes, from each place that gives it.
func TestDecisionCodes(t *testing.T) {
	p := mustParse(t, `
rules:
  - {id: allow-ls, effect: allow, capabilities: [shell], args: {bin: {in: [ls]}}}
  - {id: allow-ls2, effect: allow, capabilities: [shell], args: {bin: {in: [ls, cat]}, argv: {max_items: 1}}}
  - {id: no-mallory, effect: deny, principals: [mallory], capabilities: ["*"]}
  - {id: no-root, effect: deny, capabilities: [shell], args: {argv: {contains_item: [/]}}}
  - {id: echo, effect: allow, capabilities: [echo]}
`)
	for _, tc := range []struct {
		principal, capability, args string
		code                        protocol.Decision
		rule                        string
	}{
		{"alice", "shell", `{"bin":"ls"}`, authorized, "allow-ls"},                   // first full match in file order
		{"alice", "shell", `{"bin":"cat","argv":["a"]}`, authorized, "allow-ls2"},    // a later allow when the first fails
		{"alice", "shell", `{"bin":"rm"}`, argInvalid, "allow-ls"},                   // (3): first partially matching allow
		{"alice", "shell", `{"bin":"cat","argv":["a","b"]}`, argInvalid, "allow-ls"}, // first failing allow in file order
		{"alice", "shell", `{"bin":"ls","argv":["/"]}`, argInvalid, "no-root"},       // (1) deny with args
		{"mallory", "echo", `{}`, violation, "no-mallory"},                           // (1) deny without args
		{"mallory", "shell", `{"bin":"ls","argv":["/"]}`, violation, "no-mallory"},   // the first matching deny names the code
		{"alice", "fs.read", `{}`, violation, DefaultDenyRule},                       // (4)
		{"alice", "echo", `{"anything":[1,2,{"x":null}]}`, authorized, "echo"},       // unconstrained args
		{"alice", "shell", `[]`, argInvalid, "allow-ls"},                             // args not an object: every arg missing
	} {
		d := p.Evaluate(&Input{Principal: tc.principal, Capability: tc.capability, Args: obj(t, tc.args)})
		if d.Code != tc.code || d.Rule != tc.rule || d.Reason == "" {
			t.Errorf("%s %s %s: %+v, want %s by %s", tc.principal, tc.capability, tc.args, d, tc.code, tc.rule)
		}
	}
	// A zero Args value reads as an object with no members.
	if d := p.Evaluate(&Input{Principal: "a", Capability: "shell"}); d.Code != argInvalid || d.Rule != "allow-ls" {
		t.Errorf("zero args: %+v", d)
	}
}

// TestDenyOverrides: a matching deny wins wherever it is in the file, and
// however specific the allow is.
func TestDenyOverrides(t *testing.T) {
	allow := `{id: a, effect: allow, principals: [agent-1], capabilities: [fs.read], args: {path: {prefix: [/etc/]}}}`
	deny := `{id: d, effect: deny, capabilities: ["fs.*"], args: {path: {suffix: [shadow]}}}`
	for _, doc := range []string{"rules: [" + allow + ", " + deny + "]", "rules: [" + deny + ", " + allow + "]"} {
		p := mustParse(t, doc)
		in := &Input{Principal: "agent-1", Capability: "fs.read", Args: obj(t, `{"path":"/etc/shadow"}`)}
		if d := p.Evaluate(in); d.Code != argInvalid || d.Rule != "d" {
			t.Errorf("%s: %+v, want the deny", doc, d)
		}
		in.Args = obj(t, `{"path":"/etc/hosts"}`)
		if d := p.Evaluate(in); d.Code != authorized || d.Rule != "a" {
			t.Errorf("%s: %+v, want the allow", doc, d)
		}
	}
}

// shuffled returns the anchor policy with its rules in a permuted order.
func shuffled(t *testing.T, seed uint64) *Policy {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(anchorYAML, &doc); err != nil {
		t.Fatal(err)
	}
	rules := doc["rules"].([]any)
	x := seed*2862933555777941757 + 3037000493
	for i := len(rules) - 1; i > 0; i-- { // Fisher–Yates with a fixed LCG
		x = x*6364136223846793005 + 1442695040888963407
		j := int((x >> 33) % uint64(i+1))
		rules[i], rules[j] = rules[j], rules[i]
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(out))
}

// extraInputs widens the anchor cases with calls that hit several rules.
var extraInputs = []struct{ principal, capability, args string }{
	{"agent-3", "fs.read", `{"path":"/project/research/x.key"}`},
	{"agent-1", "fs.read", `{"path":"/project/secrets/a.pem"}`},
	{"agent-4", "http.get", `{"url":"https://pypi.org/admin"}`},
	{"agent-2", "shell", `{"bin":"git","argv":["push"],"x":1}`},
	{"agent-2", "shell", `{"bin":"git","argv":"push"}`},
	{"agent-3", "shell", `{"bin":"ls","argv":[]}`},
	{"agent-5", "echo", `{}`},
	{"agent-1", "fs.read", `{"path":7}`},
	{"", "noop", `{}`},
}

// TestDeterminism: the same input always gets the same decision, and
// whether it is allowed does not depend on rule order.
func TestDeterminism(t *testing.T) {
	base := anchorPolicy(t)
	var inputs []*Input
	for _, tc := range Cases {
		inputs = append(inputs, anchorInput(t, tc.Call))
	}
	for _, x := range extraInputs {
		inputs = append(inputs, &Input{Principal: x.principal, Capability: x.capability, Args: obj(t, x.args)})
	}
	want := make([]protocol.Verdict, len(inputs))
	for i, in := range inputs {
		want[i] = base.Evaluate(in)
		for range 3 {
			if d := base.Evaluate(in); d != want[i] {
				t.Fatalf("input %d: %+v then %+v", i, want[i], d)
			}
		}
	}
	for seed := range uint64(20) {
		p := shuffled(t, seed)
		if p.Hash() == base.Hash() && seed > 0 {
			t.Logf("seed %d: same order", seed)
		}
		for i, in := range inputs {
			d := p.Evaluate(in)
			if d.Code.Allowed() != want[i].Code.Allowed() {
				t.Errorf("seed %d, input %d: %+v, in file order %+v", seed, i, d, want[i])
			}
			// Only one rule can decide most anchor inputs; where a single
			// deny or allow applies, the code and rule do not move.
			if d.Code == authorized && d.Rule != want[i].Rule && !strings.HasPrefix(want[i].Rule, "P1") {
				t.Errorf("seed %d, input %d: allowed by %s, in file order by %s", seed, i, d.Rule, want[i].Rule)
			}
		}
	}
}

// TestFailsClosed: a nil policy or input, and a panic inside a rule (deny
// or allow), deny with a reason naming the cause — never an allow.
func TestFailsClosed(t *testing.T) {
	var nilPolicy *Policy
	if d := nilPolicy.Evaluate(&Input{Capability: "noop"}); d.Code != violation {
		t.Errorf("nil policy: %+v", d)
	}
	if d := Default().Evaluate(nil); d.Code != violation {
		t.Errorf("nil input: %+v", d)
	}
	doc := `rules:
  - {id: boom, effect: EFFECT, capabilities: [c], args: {a: {type: string}}}
  - {id: ok, effect: allow, capabilities: [c]}
`
	for _, effect := range []string{"allow", "deny"} {
		p := mustParse(t, strings.Replace(doc, "EFFECT", effect, 1))
		p.rules[0].args[0].c.checks[0].fn = func(protocol.Value) bool { panic("injected fault") }
		d := p.Evaluate(&Input{Capability: "c", Args: obj(t, `{"a":"x"}`)})
		if d.Code != violation || d.Rule != "boom" || !strings.Contains(d.Reason, "injected fault") || !strings.Contains(d.Reason, "failing closed") {
			t.Errorf("%s rule panics: %+v", effect, d)
		}
	}
}

// TestAllocs pins the hot path: no allocation for allow and default deny,
// one (the reason text) for an argument denial.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	p := anchorPolicy(t)
	for _, tc := range []struct {
		call Call
		max  float64
	}{{BenchAllow, 0}, {BenchDenyDefault, 0}, {BenchDenyArg, 1},
		{Call{"agent-2", "fs.read", map[string]any{"path": "/project/src/main.go"}}, 0},
		{Call{"agent-4", "http.get", map[string]any{"url": "https://x/"}}, 0},
		{Call{"agent-3", "http.get", map[string]any{"url": "https://api.github.com/repos/x/y"}}, 0},
	} {
		in := anchorInput(t, tc.call)
		if n := testing.AllocsPerRun(100, func() { sinkDecision = p.Evaluate(in) }); n > tc.max {
			t.Errorf("%v: %v allocs per decision, want <= %v", tc.call, n, tc.max)
		}
	}
}
