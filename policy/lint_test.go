package policy

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// builtinSchemas are the built-in capabilities' argument schemas, as
// `policy check --strict` reads them from the registry.
var builtinSchemas = []CapabilitySchema{
	{Name: "noop", Args: map[string][]string{}},
	{Name: "echo", Args: map[string][]string{"text": {"string"}}},
	{Name: "shell", Args: map[string][]string{"bin": {"string"}, "argv": {"array"}}},
	{Name: "fs.read", Args: map[string][]string{"path": {"string"}}},
	{Name: "http.get", Args: map[string][]string{"url": {"string"}}},
}

func lintOut(t *testing.T, doc string, caps []CapabilitySchema) string {
	t.Helper()
	_, diags, err := Lint([]byte(doc), caps)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "p.yaml:%s\n", d)
	}
	return b.String()
}

// TestLint: what --strict reports, word for word.
func TestLint(t *testing.T) {
	doc := `rules:
  - {id: a, effect: allow, capabilities: [shell], args: {bin: {in: [ls, cat]}}}
  - {id: b, effect: allow, principals: [agent-1], capabilities: [shell], args: {bin: {in: [ls]}}}
  - {id: c, effect: deny, capabilities: [shel]}
  - {id: d, effect: allow, capabilities: [fs.read], args: {path: {max_items: 3}}}
  - {id: e, effect: allow, capabilities: [fs.read], args: {path: {min_len: 5, max_len: 2}}}
  - {id: f, effect: allow, capabilities: [fs.read], args: {path: {in: [a, b], not_in: [a, b]}}}
  - {id: g, effect: allow, capabilities: [fs.read], args: {path: {path_under: [/a/b], path_not_under: [/a]}}}
  - {id: h, effect: allow, capabilities: [fs.read], args: {path: {type: integer, prefix: [x]}}}
  - {id: i, effect: deny, capabilities: ["fs.*"], args: {path: {prefix: [/etc]}}}
  - {id: j, effect: allow, capabilities: [fs.read], args: {path: {prefix: [/etc/x], max_len: 100}}}
  - {id: k, effect: deny, capabilities: [fs.read], args: {path: {prefix: [/etc/passwd]}}}
  - {id: l, effect: allow, capabilities: [echo], args: {text: {optional: true, min_len: 3, max_len: 1}}}
  - {id: m, effect: allow, capabilities: [shell], args: {bni: {type: string}}}
  - {id: n, effect: allow, capabilities: ["net.*"]}
  - {id: o, effect: allow, capabilities: [shell], args: {argv: {items: {regex: [a], not_regex: [a]}}}}
`
	want := `p.yaml:3:5: rules[1] (id "b") is never reached: allow rule "a" (line 2) comes first and matches every call this rule matches
p.yaml:4:42: rules[2] (id "c"): capabilities: "shel" is not a registered capability (did you mean "shell"?)
p.yaml:5:60: rules[3] (id "d"): args.path: the constraints need an array, but the schema of fs.read gives path string
p.yaml:6:60: rules[4] (id "e"): args.path: no value can satisfy these constraints (min_len 5 > max_len 2), so the rule never matches
p.yaml:7:60: rules[5] (id "f"): args.path: no value can satisfy these constraints (every value of in fails another of them), so the rule never matches
p.yaml:8:60: rules[6] (id "g"): args.path: no value can satisfy these constraints (every path_under is inside a path_not_under), so the rule never matches
p.yaml:9:60: rules[7] (id "h"): args.path: no value can satisfy these constraints (type integer and prefix need values of different types), so the rule never matches
p.yaml:11:5: rules[9] (id "j") never allows: deny rule "i" (line 10) matches every call this rule matches, and deny overrides allow
p.yaml:12:5: rules[10] (id "k") is never reached: deny rule "i" (line 10) comes first and matches every call this rule matches
p.yaml:13:57: rules[11] (id "l"): args.text: no value can satisfy these constraints (min_len 3 > max_len 1), so the rule matches only calls without text
p.yaml:14:58: rules[12] (id "m"): args.bni: shell has no argument "bni" (did you mean "bin"?): the rule never matches
p.yaml:15:43: rules[13] (id "n"): capabilities: "net.*" matches no registered capability (registered: noop, echo, shell, fs.read, http.get)
p.yaml:16:58: rules[14] (id "o"): args.argv.items: no item can satisfy them (every regex is also a not_regex), so only an empty array passes
`
	if got := lintOut(t, doc, builtinSchemas); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Without a registry only the policy's own findings are reported.
	if got := lintOut(t, doc, nil); strings.Contains(got, "registered") || strings.Contains(got, "schema") || !strings.Contains(got, `(id "k") is never reached`) {
		t.Errorf("without a registry:\n%s", got)
	}
	// A policy that does not compile is its ParseError.
	if _, _, err := Lint([]byte("rules: [{effect: permit, capabilities: [x]}]"), nil); err == nil {
		t.Error("a broken policy linted")
	}
}

// TestLintNotShadowed: near misses of shadowing are not reported.
func TestLintNotShadowed(t *testing.T) {
	for _, doc := range []string{
		// The later rule covers principals the earlier one does not.
		"rules:\n  - {effect: allow, principals: [a], capabilities: [x]}\n  - {effect: allow, principals: [a, b], capabilities: [x]}\n",
		// The earlier rule constrains more.
		"rules:\n  - {effect: allow, capabilities: [x], args: {v: {in: [p]}}}\n  - {effect: allow, capabilities: [x]}\n",
		// The later rule takes calls without the argument.
		"rules:\n  - {effect: deny, capabilities: [x], args: {v: {type: string}}}\n  - {effect: deny, capabilities: [x], args: {v: {optional: true, type: string}}}\n",
		// A deny that covers part of an allow.
		"rules:\n  - {effect: allow, capabilities: [x], args: {v: {in: [p, q]}}}\n  - {effect: deny, capabilities: [x], args: {v: {in: [p]}}}\n",
		// Globs that do not nest.
		"rules:\n  - {effect: allow, principals: [\"a*\"], capabilities: [x]}\n  - {effect: allow, principals: [\"*a\"], capabilities: [x]}\n",
	} {
		if got := lintOut(t, doc, nil); got != "" {
			t.Errorf("%s\nreported:\n%s", doc, got)
		}
	}
}

// TestLintRepoPolicies: the shipped policies have no findings beyond the
// doc example's made-up capability.
func TestLintRepoPolicies(t *testing.T) {
	for _, rp := range repoPolicies(t) {
		got := lintOut(t, string(rp.data), builtinSchemas)
		if rp.name == "policy/doc.go (example)" {
			if got != "p.yaml:39:20: rules[4] (id \"lab-network\"): capabilities: \"net.ping\" is not a registered capability\n" {
				t.Errorf("%s:\n%s", rp.name, got)
			}
			continue
		}
		if got != "" {
			t.Errorf("%s:\n%s", rp.name, got)
		}
	}
}

var findingRE = regexp.MustCompile(`^rules\[(\d+)\] \(id "[^"]+"\)(: args\.v)?(.*)$`)

// TestLintSound: on random policies, every finding holds for every call
// of a sample: a rule said never to be reached never decides, one said
// never to allow never allows, one said never to match never matches.
func TestLintSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	principals := []string{`"*"`, "a", "b", "group:g", `"a*"`, `"b?"`}
	caps := []string{"x", "y", `"*"`, `"x*"`}
	cons := []string{"in: [p, q]", "in: [p]", "in: [1, true]", "not_in: [p]", "type: string", "type: integer", "type: number",
		"min_len: 1", "min_len: 3", "max_len: 1", "max_len: 2", "prefix: [p]", "prefix: [pq, q]", "not_prefix: [p]",
		"range: [0, 2]", "range: [1, 5]", "optional: true", "contains: [q]", "not_contains: [q]", "regex: ['^p']", "not_regex: ['^p']",
		"max_items: 1", "contains_item: [p]", "items: {type: string}"}
	principalIn := []string{"a", "b", "b1", "ab", "c", ""}
	values := []string{`{}`, `{"v":"p"}`, `{"v":"pq"}`, `{"v":"q"}`, `{"v":""}`, `{"v":1}`, `{"v":3}`, `{"v":1.5}`, `{"v":true}`, `{"v":["p"]}`, `{"v":[]}`, `{"v":[1]}`}
	inputs := make([]protocol.Value, len(values))
	for i, v := range values {
		inputs[i] = obj(t, v)
	}
	findings := 0
	for range 3000 {
		var doc strings.Builder
		doc.WriteString("groups: {g: [a, b1]}\nrules:\n")
		n := 2 + rng.IntN(3)
		for i := range n {
			effect := "allow"
			if rng.IntN(2) == 0 {
				effect = "deny"
			}
			fmt.Fprintf(&doc, "  - {id: r%d, effect: %s, principals: [%s], capabilities: [%s]", i, effect, pick(principals), pick(caps))
			if k := rng.IntN(3); k > 0 {
				var parts []string
				for range k {
					c := pick(cons)
					if !strings.Contains(strings.Join(parts, ","), strings.SplitN(c, ":", 2)[0]+":") {
						parts = append(parts, c)
					}
				}
				fmt.Fprintf(&doc, ", args: {v: {%s}}", strings.Join(parts, ", "))
			}
			doc.WriteString("}\n")
		}
		p, diags, err := Lint([]byte(doc.String()), nil)
		if err != nil {
			continue // a combination the parser refuses
		}
		for _, d := range diags {
			m := findingRE.FindStringSubmatch(d.Msg)
			if m == nil {
				t.Fatalf("unexpected finding %q", d.Msg)
			}
			findings++
			idx, _ := strconv.Atoi(m[1])
			id := "r" + m[1]
			allow := p.rules[idx].allow
			for _, pr := range principalIn {
				for _, c := range []string{"x", "y", "xz"} {
					for vi, args := range inputs {
						dec := p.Evaluate(&Input{Principal: pr, Capability: c, Args: args})
						matched := dec.Rule == id && (!allow || dec.Code == protocol.DecisionAuthorized)
						bad := false
						switch msg := m[3]; {
						case strings.Contains(msg, "is never reached"):
							bad = dec.Rule == id
						case strings.Contains(msg, "never allows"):
							bad = dec.Rule == id && dec.Code == protocol.DecisionAuthorized
						case strings.Contains(msg, "so the rule never matches"):
							bad = matched
						case strings.Contains(msg, "matches only calls without v"):
							bad = matched && values[vi] != `{}`
						case strings.Contains(msg, "only an empty array passes"):
							bad = matched && strings.Contains(values[vi], `["p"]`) && strings.Contains(msg, "never")
						default:
							t.Fatalf("unexpected finding %q", d.Msg)
						}
						if bad {
							t.Fatalf("unsound: %s\n%s\nprincipal %q capability %q args %s decided %+v", d.Msg, doc.String(), pr, c, values[vi], dec)
						}
					}
				}
			}
		}
	}
	if findings < 500 {
		t.Fatalf("only %d findings: the sample does not exercise Lint", findings)
	}
}
