package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestFormatRepoPolicies: every policy in the repository is already in
// canonical layout, and formatting is idempotent and keeps the policy
// (its hash) and every comment.
func TestFormatRepoPolicies(t *testing.T) {
	for _, rp := range repoPolicies(t) {
		t.Run(rp.name, func(t *testing.T) {
			p := mustParse(t, string(rp.data))
			out, err := Format(rp.data)
			if err != nil {
				t.Fatal(err)
			}
			if q := mustParse(t, string(out)); q.Hash() != p.Hash() {
				t.Errorf("formatting changed the policy:\n%s\n%s", p, q)
			}
			if !slices.Equal(comments(rp.data), comments(out)) {
				t.Errorf("formatting lost comments:\n%q\n%q", comments(rp.data), comments(out))
			}
			again, err := Format(out)
			if err != nil || string(again) != string(out) {
				t.Errorf("not idempotent (%v):\n%s\n---\n%s", err, out, again)
			}
			if !strings.Contains(rp.name, "(") && string(out) != string(rp.data) {
				t.Errorf("not in canonical layout; run femtoclaw policy fmt -w %s. It would be:\n%s", rp.name, out)
			}
		})
	}
}

// TestFormat: the canonical layout of a document written every which way.
func TestFormat(t *testing.T) {
	in := `{"rules": [{"capabilities": ["shell"], "effect": "allow", "id": "r", "args": {"bin": {"in": ["ls"], "type": "string"}}}], "version": 1}`
	want := `version: 1
rules:
  - id: "r"
    effect: "allow"
    capabilities: ["shell"]
    args:
      bin: {type: "string", in: ["ls"]}
`
	formatIs(t, in, want)

	in = `# A policy.

rules:   # the rules
  - effect: deny
    capabilities: [shell]   # just shell
    id: no-push

    args: {argv: {contains_item: [push]}}

  # Ops may run anything else.
  - {effect: allow, principals: [group:ops, "lab-*"], id: ops, capabilities: ["*"]}
groups:
  ops: [agent-1, agent-2]
default: deny
version: 1
`
	want = `# A policy.

version: 1
default: deny
groups:
  ops: [agent-1, agent-2]
rules: # the rules
  - id: no-push
    effect: deny
    capabilities: [shell] # just shell

    args:
      argv: {contains_item: [push]}

  # Ops may run anything else.
  - {id: ops, effect: allow, principals: [group:ops, "lab-*"], capabilities: ["*"]}
`
	formatIs(t, in, want)

	in = "rules:\n  - {id: r, effect: allow, capabilities: [shell], args: {argv: {items: {not_regex: ['^/', '(^|/)\\.\\.(/|$)', 'aaaaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'ccccccccccccccccccccccccccccc', 'dddddddddddddd']}}}}\n"
	want = "rules:\n  - {id: r, effect: allow, capabilities: [shell], args: {argv: {items: {not_regex: ['^/',\n     '(^|/)\\.\\.(/|$)', 'aaaaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbb',\n     'ccccccccccccccccccccccccccccc', 'dddddddddddddd']}}}}\n"
	formatIs(t, in, want)

	if _, err := Format([]byte("rules: [{effect: permit, capabilities: [x]}]")); !errors.As(err, new(*ParseError)) {
		t.Errorf("a broken policy: %v", err)
	}
}

func formatIs(t *testing.T, in, want string) {
	t.Helper()
	out, err := Format([]byte(in))
	if err != nil {
		t.Fatalf("Format: %v\n%s", err, in)
	}
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	again, err := Format(out)
	if err != nil || string(again) != string(out) {
		t.Errorf("not idempotent (%v):\n%s", err, again)
	}
}

// TestWrapFlow: breaks only after commas inside flow collections, never
// in quotes or comments.
func TestWrapFlow(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"k: [aaaa, bbbb, cccc, dddd]\n", "k: [aaaa, bbbb,\n    cccc, dddd]\n"},
		{"k: ['a, b, c, d, e, f, g', x]\n", "k: ['a, b, c, d, e, f, g',\n    x]\n"},
		{"k: [\"a\\\", b, c, d, e, f\", x]\n", "k: [\"a\\\", b, c, d, e, f\",\n    x]\n"},
		{"k: v # a, b, c, d, e, f, g, h\n", "k: v # a, b, c, d, e, f, g, h\n"},
		{"k: [don't, stop, me, now, ok]\n", "k: [don't, stop,\n    me, now, ok]\n"},
		{"short: [a, b]\n", "short: [a, b]\n"},
	} {
		if got := wrapFlow(tc.in, 18); got != tc.want {
			t.Errorf("wrapFlow(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
