package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func mustParse(tb testing.TB, doc string) *Policy {
	tb.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		tb.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

// TestParseErrors: every invalid document is a CONFIGURATION_ERROR whose
// message names the place.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "empty document"},
		{"not yaml", "rules: [", "did not find"},
		{"default allow", "default: allow\nrules: []", `default: "allow" is not accepted`},
		{"version 2", "version: 2", "version: 2"},
		{"unknown top key", "versoin: 1", `unknown key "versoin" (did you mean "version"?)`},
		{"unknown rule key", "rules: [{effect: allow, capabilities: [x], principle: [a]}]", `rules[0]: unknown key "principle" (did you mean "principals"?)`},
		{"unknown constraint", "rules: [{effect: allow, capabilities: [x], args: {a: {prefixx: [b]}}}]", `rules[0]: args.a: unknown key "prefixx" (did you mean "prefix"?)`},
		{"duplicate key", "rules: [{effect: allow, effect: deny, capabilities: [x]}]", "already defined"},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one YAML document"},
		{"no effect", "rules: [{capabilities: [x]}]", "rules[0]: effect is required"},
		{"bad effect", "rules: [{id: r, effect: permit, capabilities: [x]}]", `rules[0] (id "r"): effect: "permit"`},
		{"no capabilities", "rules: [{effect: allow}]", "rules[0]: capabilities is required"},
		{"empty principals", "rules: [{effect: allow, principals: [], capabilities: [x]}]", "principals: empty list"},
		{"both principal forms", "rules: [{effect: allow, principal: a, principals: [b], capabilities: [x]}]", "not both"},
		{"unknown group", "rules: [{effect: allow, principals: [group:ops], capabilities: [x]}]", `unknown group "group:ops"`},
		{"empty group", "groups: {ops: []}", "groups.ops: no members"},
		{"group of groups", "groups: {a: [b], c: [group:a]}", "groups.c: invalid member"},
		{"duplicate id", "rules: [{id: a, effect: allow, capabilities: [x]}, {id: a, effect: deny, capabilities: [y]}]", `rules[1] (id "a"): duplicate rule id`},
		{"reserved id", "rules: [{id: default-deny, effect: allow, capabilities: [x]}]", "reserved"},
		{"bad type", "rules: [{id: r, effect: allow, capabilities: [x], args: {a: {type: str}}}]", `rules[0] (id "r"): args.a.type: "str"`},
		{"bad regex", "rules: [{effect: allow, capabilities: [x], args: {a: {regex: '('}}}]", "rules[0]: args.a.regex[0]: not a valid RE2 regular expression"},
		{"bad cidr", "rules: [{effect: allow, capabilities: [x], args: {a: {cidr: [10.0.0.0/33]}}}]", "args.a.cidr[0]"},
		{"bad range order", "rules: [{effect: allow, capabilities: [x], args: {a: {range: [5, 1]}}}]", "args.a.range"},
		{"bad range length", "rules: [{effect: allow, capabilities: [x], args: {a: {range: [5]}}}]", "args.a.range"},
		{"negative max_len", "rules: [{effect: allow, capabilities: [x], args: {a: {max_len: -1}}}]", "args.a.max_len: -1 is negative"},
		{"empty in", "rules: [{effect: allow, capabilities: [x], args: {a: {in: []}}}]", "args.a.in: empty list"},
		{"object in in", "rules: [{effect: allow, capabilities: [x], args: {a: {in: [{b: c}]}}}]", "args.a.in[0]"},
		{"empty prefix", "rules: [{effect: allow, capabilities: [x], args: {a: {prefix: ['']}}}]", "args.a.prefix[0]: empty string"},
		{"optional in items", "rules: [{effect: allow, capabilities: [x], args: {a: {items: {optional: true}}}}]", "args.a.items: optional"},
		{"bad items", "rules: [{effect: allow, capabilities: [x], args: {a: {items: {type: list}}}}]", "args.a.items.type"},
		{"bad url_host", "rules: [{effect: allow, capabilities: [x], args: {a: {url_host: [a/b]}}}]", "args.a.url_host[0]"},
		{"wrong yaml type", "rules: [{effect: allow, capabilities: [x], args: {a: {max_len: many}}}]", `rules[0]: args.a.max_len: want an integer, got the string "many"`},
		{"short form elsewhere", "capabilities: {fs.read: {allowed_commands: [ls]}}", "only shell takes allowed_commands"},
		{"short form twice", "shell: {allowed_commands: [ls]}\ncapabilities: {shell: {allowed_commands: [ls]}}", "already given"},
		{"short form empty", "shell: {allowed_commands: []}", "shell.allowed_commands: empty list"},
		{"short form missing", "shell: {}", "allowed_commands is required"},
		{"policy and top level", "rules: []\npolicy: {rules: []}", "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted:\n%s", p)
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Category != protocol.CategoryConfiguration || !errors.Is(err, protocol.ErrConfiguration) {
				t.Fatalf("error %v (%T) is not a CONFIGURATION_ERROR", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestParseJSON: a JSON document (tabs and all) is the same policy as its
// YAML spelling.
func TestParseJSON(t *testing.T) {
	js := "{\n\t\"version\": 1,\n\t\"default\": \"deny\",\n\t\"groups\": {\"ops\": [\"agent-1\"]},\n\t\"rules\": [\n\t\t{\"id\": \"r\", \"effect\": \"allow\", \"principals\": [\"group:ops\"], \"capabilities\": [\"shell\"],\n\t\t \"args\": {\"bin\": {\"in\": [\"ls\"], \"max_len\": 10}}}\n\t]\n}\n"
	y := "version: 1\ngroups:\n  ops: [agent-1]\nrules:\n  - args:\n      bin: {max_len: 10, in: [ls]}\n    capabilities: shell\n    principals: group:ops\n    effect: allow\n    id: r\n"
	pj, py := mustParse(t, js), mustParse(t, y)
	if pj.Hash() != py.Hash() || pj.String() != py.String() {
		t.Fatalf("JSON and YAML differ:\n%s\n%s", pj, py)
	}
	if _, err := Parse([]byte(`{"rules": [], "rules": []}`)); err == nil {
		t.Fatal("duplicate key in JSON accepted")
	}
}

func TestHash(t *testing.T) {
	a := mustParse(t, "rules: [{id: r, effect: allow, capabilities: [x]}]")
	b := mustParse(t, "# comment\nrules:\n  - capabilities: [x]\n    effect: allow\n    id: r\n")
	c := mustParse(t, "rules: [{id: r, effect: deny, capabilities: [x]}]")
	if a.Hash() != b.Hash() {
		t.Error("layout changed the hash")
	}
	if a.Hash() == c.Hash() {
		t.Error("different effect, same hash")
	}
	g1 := mustParse(t, "groups: {g: [a]}\nrules: [{id: r, effect: allow, principals: [group:g], capabilities: [x]}]")
	g2 := mustParse(t, "groups: {g: [b]}\nrules: [{id: r, effect: allow, principals: [group:g], capabilities: [x]}]")
	if g1.Hash() == g2.Hash() {
		t.Error("group membership is not in the hash")
	}
	if anchorPolicy(t).Hash() != anchorPolicy(t).Hash() {
		t.Error("hash not deterministic")
	}
}

func TestRulesAndString(t *testing.T) {
	p := anchorPolicy(t)
	rs := p.Rules()
	r0 := rs[0]
	if r0.ID != "P1" || r0.Effect != "allow" || r0.Principals[0] != "group:ops" || r0.Capabilities[0] != "shell" {
		t.Fatalf("rule 0: %+v", r0)
	}
	want := []string{
		`args.argv: optional, type array, max_items 16, items {type string, max_len 256}`,
		`args.bin: type string, in ["ls" "cat" "grep" "git" "go"]`,
	}
	if strings.Join(r0.Constraints, "\n") != strings.Join(want, "\n") {
		t.Fatalf("constraints:\n%s\nwant\n%s", strings.Join(r0.Constraints, "\n"), strings.Join(want, "\n"))
	}
	rs[0].Principals[0] = "mutated"
	if p.Rules()[0].Principals[0] != "group:ops" {
		t.Fatal("Rules returned shared slices")
	}
	s := p.String()
	for _, w := range []string{`group "ops" ["agent-1" "agent-2"]`, `rule "F5" deny principals ["*"] capabilities ["shell"]`, `args.argv: contains_item ["push"]`} {
		if !strings.Contains(s, w) {
			t.Errorf("String() lacks %q:\n%s", w, s)
		}
	}
	if rs[19].ID != "F5" || rs[19].Effect != "deny" {
		t.Errorf("rule 19: %+v", rs[19])
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	for _, tc := range []struct {
		principal, capability string
		want                  protocol.Decision
	}{
		{"anyone", "noop", protocol.DecisionAuthorized},
		{"", "echo", protocol.DecisionAuthorized},
		{"anyone", "shell", protocol.DecisionPolicyViolation},
		{"anyone", "fs.read", protocol.DecisionPolicyViolation},
	} {
		d := p.Evaluate(&Input{Principal: tc.principal, Capability: tc.capability, Args: obj(t, `{}`)})
		if d.Code != tc.want {
			t.Errorf("%s/%s: %+v, want %s", tc.principal, tc.capability, d, tc.want)
		}
	}
	if Default().Hash() != p.Hash() {
		t.Error("Default not deterministic")
	}
}

// TestShortForm: the spec's allowed_commands, in its three spellings.
func TestShortForm(t *testing.T) {
	for _, doc := range []string{
		"shell: {allowed_commands: [echo, ls]}",
		`{"capabilities": {"shell": {"enabled": true, "allowed_commands": ["echo", "ls"]}}}`,
		`{"capabilities": {"shell": {"enabled": true}}, "policy": {"shell": {"allowed_commands": ["echo", "ls"]}}}`,
	} {
		p := mustParse(t, doc)
		rs := p.Rules()
		if len(rs) != 1 || rs[0].ID != "shell.allowed_commands" || rs[0].Effect != "allow" {
			t.Fatalf("%s: rules %+v", doc, rs)
		}
		for _, tc := range []struct {
			args string
			want protocol.Decision
		}{
			{`{"bin":"echo","argv":["hi"]}`, protocol.DecisionAuthorized},
			{`{"bin":"ls"}`, protocol.DecisionAuthorized},
			{`{"bin":"rm","argv":["-rf","/"]}`, protocol.DecisionArgumentInvalid},
			{`{"bin":["echo"]}`, protocol.DecisionArgumentInvalid},
			{`{}`, protocol.DecisionArgumentInvalid},
		} {
			d := p.Evaluate(&Input{Principal: "agent-1", Capability: "shell", Args: obj(t, tc.args)})
			if d.Code != tc.want || d.Rule != "shell.allowed_commands" {
				t.Errorf("%s: %s: %+v, want %s", doc, tc.args, d, tc.want)
			}
		}
		if d := p.Evaluate(&Input{Principal: "agent-1", Capability: "echo", Args: obj(t, `{}`)}); d.Code != protocol.DecisionPolicyViolation {
			t.Errorf("%s: echo capability: %+v", doc, d)
		}
	}
	// The short form sits after the explicit rules, and deny rules still win.
	p := mustParse(t, "shell: {allowed_commands: [git]}\nrules: [{id: no-push, effect: deny, capabilities: [shell], args: {argv: {contains_item: [push]}}}]")
	d := p.Evaluate(&Input{Capability: "shell", Args: obj(t, `{"bin":"git","argv":["push"]}`)})
	if d.Code != protocol.DecisionArgumentInvalid || d.Rule != "no-push" {
		t.Errorf("deny over short form: %+v", d)
	}
}

// TestSpecRecommendedFormat: the spec digest's recommended policy (minus
// its `when` rule) parses, with its aliases.
func TestSpecRecommendedFormat(t *testing.T) {
	p := mustParse(t, `
capabilities:
  shell: {enabled: true}
  fs.read: {enabled: true}
policy:
  default: deny
  rules:
    - capability: shell
      effect: allow
      args:
        bin: {in: [echo, ls, cat]}
        argv: {max_items: 16, item_max_len: 256}
    - capability: fs.read
      effect: allow
      args:
        path: {prefix: ["/var/log/", "/tmp/"], deny_pattern: ["\\.\\."]}
`)
	for _, tc := range []struct {
		capability, args string
		want             protocol.Decision
	}{
		{"shell", `{"bin":"ls","argv":["-l"]}`, protocol.DecisionAuthorized},
		{"shell", `{"bin":"ls","argv":["` + strings.Repeat("a", 257) + `"]}`, protocol.DecisionArgumentInvalid},
		{"fs.read", `{"path":"/tmp/x"}`, protocol.DecisionAuthorized},
		{"fs.read", `{"path":"/tmp/../etc/passwd"}`, protocol.DecisionArgumentInvalid},
	} {
		if d := p.Evaluate(&Input{Capability: tc.capability, Args: obj(t, tc.args)}); d.Code != tc.want {
			t.Errorf("%s %s: %+v, want %s", tc.capability, tc.args, d, tc.want)
		}
	}
	same := mustParse(t, `
rules:
  - {capabilities: [shell], effect: allow, args: {bin: {in: [echo, ls, cat]}, argv: {max_items: 16, items: {max_len: 256}}}}
  - {capabilities: [fs.read], effect: allow, args: {path: {prefix: ["/var/log/", "/tmp/"], not_regex: ["\\.\\."]}}}
`)
	if p.Hash() != same.Hash() {
		t.Errorf("aliases compile differently:\n%s\n%s", p, same)
	}
	if _, err := Parse([]byte("rules: [{capability: x, effect: allow, args: {a: {item_max_len: 1, items: {max_len: 2}}}}]")); err == nil {
		t.Error("item_max_len with items.max_len accepted")
	}
	if _, err := Parse(make([]byte, MaxDocumentBytes+1)); err == nil {
		t.Error("oversized document accepted")
	}
	one := mustParse(t, "rules: [{capability: x, effect: allow, args: {a: {in: ls, prefix: l}}}]")
	if d := one.Evaluate(&Input{Capability: "x", Args: obj(t, `{"a":"ls"}`)}); d.Code != protocol.DecisionAuthorized {
		t.Errorf("scalar lists: %+v", d)
	}
}
