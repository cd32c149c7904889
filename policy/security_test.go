package policy

import (
	_ "embed"
	"testing"
)

//go:embed testdata/hardened.yaml
var hardenedYAML []byte

func hardenedPolicy(tb testing.TB) *Policy {
	tb.Helper()
	p, err := Parse(hardenedYAML)
	if err != nil {
		tb.Fatalf("hardened.yaml: %v", err)
	}
	return p
}

type secCase struct {
	name, principal, capability, args, alt string
	allow                                  bool
}

func runSecCases(t *testing.T, p *Policy, cases []secCase) {
	t.Helper()
	for _, tc := range cases {
		in := &Input{Principal: tc.principal, Capability: tc.capability, Args: obj(t, tc.args)}
		if tc.alt != "" {
			in.Alt = obj(t, tc.alt)
		}
		d := p.Evaluate(in)
		if d.Code.Allowed() != tc.allow {
			t.Errorf("%s: %s %s → %s by %s (%s), want allow=%v", tc.name, tc.capability, tc.args, d.Code, d.Rule, d.Reason, tc.allow)
		}
	}
}

// TestSecurityOptionsSort: the sort rule refuses --output however it is
// spelled (issue examples and variants), and allows what it lists.
func TestSecurityOptionsSort(t *testing.T) {
	p := hardenedPolicy(t)
	sort := func(name, argv string, allow bool) secCase {
		return secCase{name: name, principal: "agent-1", capability: "shell", args: `{"bin":"/usr/bin/sort","argv":` + argv + `}`, alt: `{"bin":"sort"}`, allow: allow}
	}
	runSecCases(t, p, []secCase{
		sort("plain", `["-n","-k","2","data.txt"]`, true),
		sort("key attached", `["-k2,2n","-t,","data.txt"]`, true),
		sort("long abbreviation of an allowed option", `["--numeric","--uniq","data.txt"]`, true),
		sort("key value that looks like an option", `["-k","-o","data.txt"]`, true),
		sort("-o", `["-o","out","data.txt"]`, false),
		sort("--output", `["--output","out","data.txt"]`, false),
		sort("--outp=FILE", `["--outp=out","data.txt"]`, false),
		sort("--ou FILE", `["--ou","out","data.txt"]`, false),
		sort("-uoFILE", `["-uoout","data.txt"]`, false),
		sort("-nuo FILE", `["-nuo","out","data.txt"]`, false),
		sort("-o after an operand", `["data.txt","-o","out"]`, false),
		sort("--o", `["--o=out","data.txt"]`, false),
		sort("--compress-program", `["--compress-prog=sh","data.txt"]`, false),
		sort("-T", `["-T","/tmp","data.txt"]`, false),
		sort("ambiguous abbreviation", `["--s","data.txt"]`, false),
		sort("absolute operand", `["/etc/shadow"]`, false),
		sort("dot-dot operand", `["../x"]`, false),
		sort("-- ends options", `["--","-o"]`, true),
	})
}

// TestSecurityOptionsGit: git's global options and aliases cannot smuggle
// a push or a command past the rules.
func TestSecurityOptionsGit(t *testing.T) {
	p := hardenedPolicy(t)
	git := func(name, argv string, allow bool) secCase {
		return secCase{name: name, principal: "agent-2", capability: "shell", args: `{"bin":"/usr/bin/git","argv":` + argv + `}`, alt: `{"bin":"git"}`, allow: allow}
	}
	runSecCases(t, p, []secCase{
		git("status", `["status","-s"]`, true),
		git("log", `["log","--oneline","-n","20","--no-color","--","README.md"]`, true),
		git("alias push", `["-c","alias.x=push","x"]`, false),
		git("autocorrect", `["-c","help.autocorrect=immediate","psuh"]`, false),
		git("-c attached", `["-calias.x=!sh","x"]`, false),
		git("config-env", `["--config-env=alias.x=E","x"]`, false),
		git("ext transport", `["clone","ext::sh -c id% >&2","d"]`, false),
		git("ls-remote ext", `["ls-remote","ext::sh -c id"]`, false),
		git("push", `["push","origin","main"]`, false),
		git("push after -C", `["-C","sub","push"]`, false),
		git("push after --git-dir", `["--git-dir","x","push"]`, false),
		git("log --output", `["log","--output=/tmp/x"]`, false),
		git("diff --ext-diff", `["diff","--ext-diff"]`, false),
		git("exec-path", `["--exec-path=/tmp","status"]`, false),
		git("upload-pack", `["log","--upload-pack=sh"]`, false),
		git("no subcommand", `["-s"]`, false),
	})
}

// TestSecurityCanonicalPolicyPaths: on canonical paths (what the pipeline
// hands the policy), whole-component rules hold.
func TestSecurityCanonicalPolicyPaths(t *testing.T) {
	p := hardenedPolicy(t)
	read := func(name, path string, allow bool) secCase {
		return secCase{name: name, principal: "agent-1", capability: "fs.read", args: `{"path":"` + path + `"}`, allow: allow}
	}
	runSecCases(t, p, []secCase{
		read("project file", "/project/src/main.go", true),
		read("project root", "/project", true),
		read("secrets", "/project/secrets/db.txt", false),
		read("secrets dir", "/project/secrets", false),
		read("uncleaned secrets", "/project/./secrets/db.txt", false),
		read("uncleaned dotdot", "/project/x/../secrets/db.txt", false),
		read("prefix is not a component", "/project/secrets-public/a.txt", true),
		read("sibling of root", "/projects/a.txt", false),
		read("key", "/project/server.key", false),
		read("escape", "/project/../etc/passwd", false),
		read("relative", "project/a.txt", false),
		read(".git", "/project/.git/config", false),
	})
	runSecCases(t, p, []secCase{
		{name: "normalized admin", principal: "agent-3", capability: "http.get", args: `{"url":"https://api.github.com/admin"}`},
		{name: "ADMIN", principal: "agent-3", capability: "http.get", args: `{"url":"https://api.github.com/ADMIN/x"}`},
		{name: "api", principal: "agent-3", capability: "http.get", args: `{"url":"https://api.github.com/repos"}`, allow: true},
		{name: "admins is another path", principal: "agent-3", capability: "http.get", args: `{"url":"https://api.github.com/admins"}`, allow: true},
	})
}

// TestSecurityCanonicalAltSpelling: a rule written with the bare name and
// one written with the absolute path both match either spelling.
func TestSecurityCanonicalAltSpelling(t *testing.T) {
	p, err := Parse([]byte(`
rules:
  - {id: any-shell, effect: allow, capabilities: [shell]}
  - {id: no-git, effect: deny, capabilities: [shell], args: {bin: {in: [git]}}}
  - {id: no-abs-sh, effect: deny, capabilities: [shell], args: {bin: {in: [/bin/sh]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	runSecCases(t, p, []secCase{
		{name: "git canonical", capability: "shell", args: `{"bin":"/usr/bin/git"}`, alt: `{"bin":"git"}`},
		{name: "sh canonical", capability: "shell", args: `{"bin":"/bin/sh"}`, alt: `{"bin":"sh"}`},
		{name: "ls", capability: "shell", args: `{"bin":"/bin/ls"}`, alt: `{"bin":"ls"}`, allow: true},
	})
}

func TestOptionGrammarConfigErrors(t *testing.T) {
	for _, doc := range []string{
		`{rules: [{effect: allow, capabilities: [shell], args: {argv: {argv_options: {takes_value: [-o]}}}}]}`,
		`{rules: [{effect: allow, capabilities: [shell], args: {argv: {argv_options: {only: [o]}}}}]}`,
		`{rules: [{effect: allow, capabilities: [shell], args: {argv: {argv_options: {only: ["--a=b"]}}}}]}`,
		`{rules: [{effect: allow, capabilities: [shell], args: {argv: {argv_options: {long: [-o], only: [-o]}}}}]}`,
		`{rules: [{effect: allow, capabilities: [shell], args: {argv: {argv_subcommand: {takes_value: [-c]}}}}]}`,
		`{rules: [{effect: allow, capabilities: [fs.read], args: {path: {path_under: [relative]}}}]}`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%s) accepted", doc)
		}
	}
}
