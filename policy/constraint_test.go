package policy

import (
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TestConstraints: each constraint, on values that pass and values that
// fail, through a one-rule allow policy. A value of "" means the argument
// is absent.
func TestConstraints(t *testing.T) {
	for _, tc := range []struct {
		cons string   // the constraint map, YAML flow style
		pass []string // JSON values of args.a that satisfy it
		fail []string // and that do not
	}{
		{`{}`, []string{`1`, `null`, `"x"`}, []string{``}},
		{`{optional: true}`, []string{``, `1`}, nil},
		{`{optional: true, type: string}`, []string{``, `"x"`}, []string{`1`, `null`}},
		{`{type: string}`, []string{`""`, `"x"`}, []string{`1`, `true`, `null`, `[]`, `{}`, ``}},
		{`{type: number}`, []string{`1`, `-1.5e3`, `123456789012345678901234567890`}, []string{`"1"`, `true`}},
		{`{type: integer}`, []string{`1`, `-7`, `3.0`, `1e3`}, []string{`1.5`, `"1"`, `1e400`}},
		{`{type: boolean}`, []string{`true`, `false`}, []string{`0`, `"true"`}},
		{`{type: array}`, []string{`[]`, `[1,"a"]`}, []string{`{}`, `"[]"`}},
		{`{type: object}`, []string{`{}`, `{"k":1}`}, []string{`[]`, `null`}},
		{`{type: "null"}`, []string{`null`}, []string{`0`, `""`}},
		{`{in: [ls, cat]}`, []string{`"ls"`, `"cat"`}, []string{`"rm"`, `"LS"`, `["ls"]`, `1`, `null`, ``}},
		{`{in: [1, 2.5, true]}`, []string{`1`, `1.0`, `2.5`, `true`}, []string{`"1"`, `2`, `false`}},
		{`{in: [a, b, c, d, e, f, g, h, i, j]}`, []string{`"a"`, `"j"`}, []string{`"k"`, `1`}}, // map-backed set
		{`{not_in: [rm, dd]}`, []string{`"ls"`, `1`, `false`}, []string{`"rm"`, `"dd"`, `["ls"]`, `{}`, `null`}},
		{`{max_len: 3}`, []string{`""`, `"abc"`, `"éèê"`}, []string{`"abcd"`, `"éèêë"`, `123`, `["a"]`}},
		{`{min_len: 2}`, []string{`"ab"`, `"é€"`}, []string{`"a"`, `"é"`, `12`}},
		{`{prefix: [/a/, /b/]}`, []string{`"/a/x"`, `"/b/"`}, []string{`"/c/a/"`, `"/a"`, `1`}},
		{`{not_prefix: [/etc/]}`, []string{`"/tmp/x"`, `"etc/"`}, []string{`"/etc/passwd"`, `1`}},
		{`{suffix: [.go, .md]}`, []string{`"x.go"`, `".md"`}, []string{`"x.go.txt"`, `7`}},
		{`{not_suffix: [.pem, .key]}`, []string{`"x.pub"`}, []string{`"a.pem"`, `"b.key"`, `[]`}},
		{`{contains: [foo]}`, []string{`"xfoox"`, `"foo"`}, []string{`"fo o"`, `true`}},
		{`{not_contains: [".."]}`, []string{`"/a/b"`, `"a.b"`}, []string{`"/a/../b"`, `"..."`, `1`}},
		{`{regex: ['^[a-z]+$']}`, []string{`"abc"`}, []string{`"abc1"`, `""`, `1`}},
		{`{regex: ['x', 'y']}`, []string{`"ax"`, `"yb"`}, []string{`"ab"`}},
		{`{not_regex: ['(^|/)\.git(/|$)']}`, []string{`"/src/a.go"`, `"/x.github"`}, []string{`"/r/.git/config"`, `".git"`, `1`}},
		{`{max_items: 2}`, []string{`[]`, `[1,2]`}, []string{`[1,2,3]`, `"ab"`, `{}`}},
		{`{min_items: 1}`, []string{`[1]`}, []string{`[]`, `"a"`}},
		{`{items: {type: string, max_len: 3}}`, []string{`[]`, `["a","abc"]`}, []string{`["abcd"]`, `["a",1]`, `"a"`, `[null]`}},
		{`{items: {items: {type: integer}}}`, []string{`[[1,2],[]]`}, []string{`[[1.5]]`, `[1]`}},
		{`{contains_item: [push, "--force"]}`, []string{`["push"]`, `["a","--force"]`}, []string{`[]`, `["pull"]`, `"push"`, `[["push"]]`}},
		{`{not_contains_item: [push]}`, []string{`[]`, `["pull",1]`}, []string{`["origin","push"]`, `"x"`}},
		{`{range: [1, 10]}`, []string{`1`, `10`, `5.5`, `1e1`}, []string{`0`, `10.01`, `-1`, `"5"`, `1e400`, `null`}},
		{`{range: [-1.5, -1.5]}`, []string{`-1.5`, `-15e-1`}, []string{`-1.4`}},
		{`{cidr: [10.0.0.0/8, "fd00::/8", 192.168.1.7]}`,
			[]string{`"10.1.2.3"`, `"10.1.2.3:443"`, `"[fd00::1]:80"`, `"fd12::1"`, `"192.168.1.7"`, `"::ffff:10.0.0.1"`},
			[]string{`"11.0.0.1"`, `"192.168.1.8"`, `"localhost"`, `"10.0.0.1.evil.io"`, `"fe80::1%eth0"`, `"10.0.0.0/8"`, `167772161`, `""`}},
		{`{url_scheme: [https]}`, []string{`"https://x.io/"`, `"HTTPS://x.io"`},
			[]string{`"http://x.io/"`, `"https:x.io"`, `"//x.io/"`, `"https://u@x.io/"`, `"https://x.io/ a"`, `"x"`, `1`}},
		{`{url_host: [api.github.com, "localhost:8443"]}`,
			[]string{`"https://api.github.com"`, `"https://api.github.com/repos?x=1#f"`, `"https://API.GitHub.com/"`, `"http://localhost:8443/x"`},
			[]string{
				`"https://api.github.com.evil.io/"`,   // look-alike host
				`"https://pypi.org@api.github.com/"`,  // userinfo
				`"https://api.github.com@evil.io/"`,   // userinfo trick
				`"https://api.github.com:443/"`,       // port not listed
				`"https://evil.io\\@api.github.com/"`, // backslash
				`"https://evil.io/api.github.com"`,
				`"https://api%2egithub.com/"`,
				`"https://localhost/"`,
				`"api.github.com"`,
				`"https://api.github.com /"`,
				`["https://api.github.com/"]`,
			}},
	} {
		p := mustParse(t, "rules: [{id: r, effect: allow, capabilities: [c], args: {a: "+tc.cons+"}}]")
		for _, list := range []struct {
			vals []string
			want protocol.Decision
		}{{tc.pass, protocol.DecisionAuthorized}, {tc.fail, protocol.DecisionArgumentInvalid}} {
			for _, val := range list.vals {
				args := `{"other":0}`
				if val != "" {
					args = `{"a":` + val + `}`
				}
				d := p.Evaluate(&Input{Principal: "p", Capability: "c", Args: obj(t, args)})
				if d.Code != list.want || d.Rule != "r" {
					t.Errorf("%s on %s: %+v, want %s", tc.cons, args, d, list.want)
				}
				if list.want != protocol.DecisionAuthorized && !strings.HasPrefix(d.Reason, "args.a") {
					t.Errorf("%s on %s: reason %q does not name the argument", tc.cons, args, d.Reason)
				}
			}
		}
	}
}

// TestReasons: an argument denial names the argument, the value and the
// failing constraint.
func TestReasons(t *testing.T) {
	p := mustParse(t, `rules:
  - id: r
    effect: allow
    capabilities: [c]
    args:
      a: {type: string, prefix: [/x/], max_len: 5}
      b: {optional: true, items: {type: string}}
`)
	for _, tc := range []struct{ args, want string }{
		{`{}`, `args.a is missing (rule r)`},
		{`{"a":7}`, `args.a 7 is not a string (rule r)`},
		{`{"a":"/y/"}`, `args.a "/y/" has none of the prefixes ["/x/"] (rule r)`},
		{`{"a":"/x/long"}`, `args.a "/x/long" is longer than 5 characters (rule r)`},
		{`{"a":"/x/","b":["q",false]}`, `args.b[1] false is not a string (rule r)`},
		{`{"a":"/x/","b":"q"}`, `args.b "q" has an item that fails {type string} (rule r)`},
		{`{"a":"` + strings.Repeat("z", 100) + `"}`, `args.a "` + strings.Repeat("z", 63) + `… is longer than 5 characters (rule r)`},
	} {
		d := p.Evaluate(&Input{Capability: "c", Args: obj(t, tc.args)})
		if d.Code != protocol.DecisionArgumentInvalid || d.Reason != tc.want {
			t.Errorf("%s: %+v\n want reason %q", tc.args, d, tc.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "anything/at.all", true},
		{"agent-*", "agent-1", true},
		{"agent-*", "agent-", true},
		{"agent-*", "agent", false},
		{"agent-*", "xagent-1", false},
		{"fs.*", "fs.read", true},
		{"fs.*", "fs", false},
		{"*.read", "fs.read", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a?c", "abc", true},
		{"a?c", "aéc", true},
		{"a?c", "ac", false},
		{"spiffe://*/agent", "spiffe://example.org/ns/agent", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"[a]", "a", false}, // no character classes: '[' is literal
		{"[a]", "[a]", true},
	} {
		if got := globMatch(tc.pat, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pat, tc.s, got)
		}
	}
}

// TestPrincipalsAndCapabilities: exact, glob, group and "*" matching, and
// capability globs (the fallback index).
func TestPrincipalsAndCapabilities(t *testing.T) {
	p := mustParse(t, `
groups: {ops: [agent-1, "ci-*"]}
rules:
  - {id: ops, effect: allow, principals: [group:ops], capabilities: [deploy]}
  - {id: lab, effect: allow, principals: ["lab-?"], capabilities: ["fs.*"]}
  - {id: anyone, effect: allow, capabilities: [noop]}
  - {id: many, effect: allow, principals: [p1, p2, p3, p4, p5, p6, p7, p8, p9, p10], capabilities: [echo]}
  - {id: ro, effect: deny, principals: [lab-9], capabilities: ["*.write"]}
`)
	for _, tc := range []struct {
		principal, capability string
		want                  string // deciding rule
	}{
		{"agent-1", "deploy", "ops"},
		{"ci-42", "deploy", "ops"},
		{"agent-2", "deploy", DefaultDenyRule},
		{"lab-1", "fs.read", "lab"},
		{"lab-9", "fs.write", "ro"},
		{"lab-1", "fs.write", "lab"},
		{"lab-10", "fs.read", DefaultDenyRule},
		{"lab-1", "fsx.read", DefaultDenyRule},
		{"", "noop", "anyone"},
		{"whoever", "noop", "anyone"},
		{"p10", "echo", "many"},
		{"p11", "echo", DefaultDenyRule},
		{"agent-1", "unknown", DefaultDenyRule},
	} {
		d := p.Evaluate(&Input{Principal: tc.principal, Capability: tc.capability})
		if d.Rule != tc.want {
			t.Errorf("%s/%s: %+v, want rule %s", tc.principal, tc.capability, d, tc.want)
		}
	}
}
