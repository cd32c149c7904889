package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// parseErr parses doc, which must fail, and returns its problems as
// `policy check` prints them for a file named p.yaml.
func parseErr(t *testing.T, doc string) string {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err == nil {
		t.Fatalf("accepted:\n%s", p)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is a %T, not a *ParseError", err, err)
	}
	if !errors.Is(err, protocol.ErrConfiguration) {
		t.Fatalf("error %v is not a CONFIGURATION_ERROR", err)
	}
	return pe.Format("p.yaml")
}

// TestParseErrorPositions: each problem is reported at its line and
// column, with its place in the document, as `policy check` prints it.
func TestParseErrorPositions(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key with suggestion", "version: 1\nrules:\n  - id: r\n    effect: allow\n    capabilites: [shell]\n",
			`p.yaml:5:5: rules[0] (id "r"): unknown key "capabilites" (did you mean "capabilities"?)` + "\n"},
		{"unknown top-level key", "versoin: 1\n",
			`p.yaml:1:1: unknown key "versoin" (did you mean "version"?)` + "\n"},
		{"unknown constraint with suggestion", "rules:\n  - id: r\n    effect: allow\n    capabilities: [fs.read]\n    args:\n      path: {type: string, path_undr: [/srv]}\n",
			`p.yaml:6:28: rules[0] (id "r"): args.path: unknown key "path_undr" (did you mean "path_under"?)` + "\n"},
		{"unknown constraint far from any", "rules: [{effect: allow, capabilities: [x], args: {a: {frobnicate: 1}}}]",
			`p.yaml:1:55: rules[0]: args.a: unknown key "frobnicate"` + "\n"},
		{"wrong type", "rules:\n  - id: r\n    effect: allow\n    capabilities: [shell]\n    args:\n      bin: {max_len: ten}\n",
			`p.yaml:6:22: rules[0] (id "r"): args.bin.max_len: want an integer, got the string "ten"` + "\n"},
		{"fraction for a count", "rules: [{effect: allow, capabilities: [x], args: {a: {max_items: 1.5}}}]",
			`p.yaml:1:66: rules[0]: args.a.max_items: want an integer, got the number 1.5` + "\n"},
		{"list of lists", "rules: [{effect: allow, capabilities: [x], args: {a: {prefix: [/a, [/b]]}}}]",
			`p.yaml:1:68: rules[0]: args.a.prefix[1]: want a string, got a list` + "\n"},
		{"rules not a list", "rules: {id: r}\n",
			`p.yaml:1:8: rules: want a list, got a mapping` + "\n"},
		{"bad effect with suggestion", "rules:\n  - {id: r, effect: alow, capabilities: [x]}\n",
			`p.yaml:2:21: rules[0] (id "r"): effect: "alow" is not allow or deny (did you mean "allow"?)` + "\n"},
		{"unknown group with suggestion", "groups: {ops: [a]}\nrules:\n  - {effect: allow, principals: [group:opz], capabilities: [x]}\n",
			`p.yaml:3:34: rules[0]: principals: unknown group "group:opz" (did you mean "group:ops"?)` + "\n"},
		{"bad type name", "rules: [{effect: allow, capabilities: [x], args: {a: {type: strng}}}]",
			`p.yaml:1:61: rules[0]: args.a.type: "strng" is not one of string, number, integer, boolean, array, object, null (did you mean "string"?)` + "\n"},
		{"duplicate key", "rules:\n  - effect: allow\n    capabilities: [x]\n    effect: deny\n",
			`p.yaml:4:5: rules[0]: key "effect" already defined at line 2, column 5` + "\n"},
		{"missing effect", "rules:\n  - id: r\n    capabilities: [x]\n",
			`p.yaml:2:5: rules[0] (id "r"): effect is required (allow or deny)` + "\n"},
		{"duplicate id", "rules:\n  - {id: a, effect: allow, capabilities: [x]}\n  - {id: a, effect: deny, capabilities: [y]}\n",
			`p.yaml:3:10: rules[1] (id "a"): duplicate rule id` + "\n"},
		{"bad regex element", "rules: [{effect: allow, capabilities: [x], args: {a: {regex: ['^a', '(']}}}]",
			"p.yaml:1:69: rules[0]: args.a.regex[1]: not a valid RE2 regular expression: missing closing ): `(`\n"},
		{"range upside down", "rules: [{effect: allow, capabilities: [x], args: {a: {range: [5, 1]}}}]",
			`p.yaml:1:62: rules[0]: args.a.range: want [min, max] with min <= max (5 > 1: no number is in it)` + "\n"},
		{"range of words", "rules: [{effect: allow, capabilities: [x], args: {a: {range: [1, ten]}}}]",
			`p.yaml:1:66: rules[0]: args.a.range: want a number, got the string "ten"` + "\n"},
		{"under policy", "policy:\n  rules: [{effect: allow, capabilities: [x], args: {a: {typ: string}}}]\n",
			`p.yaml:2:57: policy.rules[0]: args.a: unknown key "typ" (did you mean "type"?)` + "\n"},
		{"syntax error (yaml.v3 names the line only)", "rules:\n\t- x\n",
			"p.yaml:2:1: found character that cannot start any token\n"},
		// yaml.v3 says "line 2" for these: the line above the mistake.
		{"syntax error in a block list", "version: 1\nrules:\n  - id: r\n    effect: allow\n   capabilities: [echo]\n",
			"p.yaml:3:1: did not find expected '-' indicator (in the list that starts on this line)\n"},
		{"syntax error in a flow mapping", "version: 1\nrules:\n  - {id: r, effect: allow,\n     capabilities: [echo]\n  - x\n",
			"p.yaml:3:1: did not find expected ',' or '}' (in the { } mapping that starts on this line)\n"},
		{"syntax error after the first line's mapping", "version: 1\n- rules\n",
			"p.yaml:2:1: did not find expected key (in the mapping that starts on line 1)\n"},
		{"syntax error at the end", "rules: [\n", "p.yaml:1:1: did not find expected node content at the end of the input\n"},
		{"second document", "version: 1\n---\nversion: 1\n",
			"p.yaml:3:1: more than one YAML document\n"},
		{"empty", "", "p.yaml:1:1: empty document\n"},
		// These were a valid policy of no rules, unlike "" and a comment.
		{"empty but for ---", "---\n", "p.yaml:1:1: empty document\n"},
		{"empty but for null", "~\n", "p.yaml:1:1: empty document\n"},
		{"short form", "shell: {allowed_commands: []}\n", "p.yaml:1:27: shell.allowed_commands: empty list\n"},
		{"two problems in one rule, both reported", "rules: [{effect: allow, capabilities: [x], args: {a: {regex: ['('], cidr: [1.2.3.4/40]}}}]",
			"p.yaml:1:63: rules[0]: args.a.regex[0]: not a valid RE2 regular expression: missing closing ): `(`\n" +
				`p.yaml:1:76: rules[0]: args.a.cidr[0]: "1.2.3.4/40" is not a CIDR prefix or IP address` + "\n"},
		{"a broken rule does not hide the next one", "rules:\n  - {effect: allow, capabilities: [x], args: {a: {max_len: x}}}\n  - {effect: permit, capabilities: [x]}\n",
			`p.yaml:2:60: rules[0]: args.a.max_len: want an integer, got the string "x"` + "\n" +
				`p.yaml:3:14: rules[1]: effect: "permit" is not allow or deny` + "\n"},
		{"an anchor under an unknown key", "base: &b {effect: allow}\n",
			`p.yaml:1:1: unknown key "base"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseErr(t, tc.doc); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestParseErrorLimit: twelve problems list the first MaxErrors and count
// the rest.
func TestParseErrorLimit(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("rules:\n")
	for i := range 12 {
		fmt.Fprintf(&doc, "  - {id: r%d, effect: allow, capabilities: [x], args: {a: {max_len: many}}}\n", i)
	}
	got := parseErr(t, doc.String())
	var want strings.Builder
	for i := range 10 {
		fmt.Fprintf(&want, "p.yaml:%d:%d: rules[%d] (id \"r%d\"): args.a.max_len: want an integer, got the string \"many\"\n", i+2, 68, i, i)
	}
	want.WriteString("p.yaml: and 2 more\n")
	if got != want.String() {
		t.Errorf("got\n%s\nwant\n%s", got, want.String())
	}
	_, err := Parse([]byte(doc.String()))
	if s := err.Error(); !strings.HasPrefix(s, "CONFIGURATION_ERROR: policy: 2:68: rules[0] (id \"r0\"): args.a.max_len: want an integer") ||
		!strings.HasSuffix(s, " (and 2 more)") || strings.Count(s, "; ") != 9 {
		t.Errorf("Error(): %s", s)
	}
}

// TestMergeKeys: "<<" merges as yaml.v3 merges into structs: the
// mapping's own keys win, and the merged ones are checked too.
func TestMergeKeys(t *testing.T) {
	p := mustParse(t, "rules:\n  - &r {id: one, effect: allow, capabilities: [c], args: {a: {in: [x]}}}\n  - <<: *r\n    id: two\n    effect: deny\n")
	rs := p.Rules()
	if len(rs) != 2 || rs[1].ID != "two" || rs[1].Effect != "deny" || rs[1].Constraints[0] != `args.a: in ["x"]` {
		t.Fatalf("rules: %+v", rs)
	}
	got := parseErr(t, "rules:\n  - &r {effect: allow, capabilities: [c], efect: x}\n  - <<: *r\n    id: two\n")
	// Reported for both rules that hold it, at the place it was written.
	if want := `p.yaml:2:43: rules[0]: unknown key "efect" (did you mean "effect"?)` + "\n" +
		`p.yaml:2:43: rules[1] (id "two"): unknown key "efect" (did you mean "effect"?)` + "\n"; got != want {
		t.Errorf("merged unknown key: %s", got)
	}
}

// TestAliasBomb: aliases that make the walk far longer than the document
// (here a chain of items, each naming the one before) are refused, not
// walked.
func TestAliasBomb(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("rules:\n  - effect: allow\n    capabilities: [x]\n    args:\n      a0: &c0 {type: array}\n")
	for i := 1; i < 2000; i++ {
		fmt.Fprintf(&doc, "      a%d: &c%d {items: *c%d}\n", i, i, i-1)
	}
	if got := parseErr(t, doc.String()); !strings.Contains(got, "the document expands too much through aliases") {
		t.Fatalf("alias bomb: %.500s", got)
	}
}
