package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicyHelp: the policy command and each subcommand have help, and
// usage mistakes exit 2.
func TestPolicyHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "", "policy", "--help")
	if code != 0 {
		t.Fatalf("policy --help: exit %d", code)
	}
	for _, sub := range []string{"check", "test", "fmt", "eval"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("policy --help does not list %s:\n%s", sub, out)
		}
		code, out, errOut := runCLI(t, nil, "", "policy", sub, "--help")
		if code != 0 || !strings.HasPrefix(out, "usage: femtoclaw policy "+sub) || !strings.Contains(out, "examples:\n  femtoclaw policy "+sub) || errOut != "" {
			t.Errorf("policy %s --help: exit %d\n%s\n%s", sub, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		{"policy"},
		{"policy", "chek"},
		{"policy", "check", "--frobnicate"},
		{"policy", "test"},
		{"policy", "eval", `{}`},
		{"policy", "fmt", "-w"},
	} {
		code, _, errOut := runCLI(t, nil, "", args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want a usage error (2)", args, code, errOut)
		}
	}
	if _, _, errOut := runCLI(t, nil, "", "policy", "chek"); !strings.Contains(errOut, `(did you mean "check"?)`) {
		t.Errorf("no suggestion: %s", errOut)
	}
}

// TestPolicyCheck: positioned errors per file, several files, JSON, the
// configured policy, and --strict.
func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "rules:\n  - {id: r, effect: allow, capabilities: [echo]}\n")
	bad := writeFile(t, dir, "bad.yaml", "rules:\n  - id: r\n    effect: allow\n    capabilites: [shell]\n    args:\n      bin: {max_len: ten}\n")
	code, out, errOut := runCLI(t, nil, "", "policy", "check", good, bad)
	want := good + ": ok: 1 rules, sha256 "
	if code != 1 || !strings.HasPrefix(out, want) || errOut != "" ||
		!strings.HasSuffix(out, bad+`:4:5: rules[0] (id "r"): unknown key "capabilites" (did you mean "capabilities"?)`+"\n"+
			bad+`:6:22: rules[0] (id "r"): args.bin.max_len: want an integer, got the string "ten"`+"\n") {
		t.Fatalf("check: exit %d\n%s\nstderr %s", code, out, errOut)
	}

	var many strings.Builder
	many.WriteString("rules:\n")
	for i := range 12 {
		fmt.Fprintf(&many, "  - {effect: alow, capabilities: [x%d]}\n", i)
	}
	manyFile := writeFile(t, dir, "many.yaml", many.String())
	code, out, _ = runCLI(t, nil, "", "policy", "check", manyFile)
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); code != 1 || len(lines) != 11 || lines[10] != manyFile+": and 2 more" ||
		lines[0] != manyFile+`:2:14: rules[0]: effect: "alow" is not allow or deny (did you mean "allow"?)` {
		t.Fatalf("12 errors: exit %d\n%s", code, out)
	}

	code, out, _ = runCLI(t, nil, "", "policy", "check", "--json", good, manyFile, filepath.Join(dir, "missing.yaml"))
	var res []struct {
		File   string
		OK     bool
		Rules  int
		Errors []struct {
			Line, Col int
			Message   string
		}
		More int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || len(res) != 3 {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	if !res[0].OK || res[0].Rules != 1 || res[1].OK || len(res[1].Errors) != 10 || res[1].More != 2 || res[1].Errors[0].Line != 2 || res[1].Errors[0].Col != 14 ||
		res[2].OK || !strings.Contains(res[2].Errors[0].Message, "no such file") {
		t.Fatalf("--json: %+v", res)
	}

	// No FILE: the configured policy.
	code, out, _ = runCLI(t, nil, "", "policy", "check")
	if code != 0 || !strings.HasPrefix(out, embeddedPolicyName+": ok: 1 rules") {
		t.Fatalf("configured policy: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, []string{"FEMTOCLAW_POLICY_FILE=" + bad}, "", "policy", "check")
	if code != 1 || !strings.HasPrefix(out, bad+":4:5: ") {
		t.Fatalf("configured policy file: exit %d %s", code, out)
	}

	// --strict: against the registry, and rules that never decide.
	strict := writeFile(t, dir, "strict.yaml", "rules:\n  - {id: a, effect: allow, capabilities: [echo]}\n  - {id: b, effect: allow, capabilities: [ecko]}\n"+
		"  - {id: c, effect: allow, principals: [agent-1], capabilities: [echo], args: {txt: {max_len: 5}}}\n")
	if code, out, _ := runCLI(t, nil, "", "policy", "check", strict); code != 0 {
		t.Fatalf("without --strict: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, nil, "", "policy", "check", "--strict", strict)
	wantStrict := strict + `:3:43: rules[1] (id "b"): capabilities: "ecko" is not a registered capability (did you mean "echo"?)` + "\n" +
		strict + `:4:5: rules[2] (id "c") is never reached: allow rule "a" (line 2) comes first and matches every call this rule matches` + "\n" +
		strict + `:4:80: rules[2] (id "c"): args.txt: echo has no argument "txt" (did you mean "text"?): the rule never matches` + "\n"
	if code != 1 || out != wantStrict {
		t.Fatalf("--strict: exit %d\n%s\nwant\n%s", code, out, wantStrict)
	}
}

// TestPolicyTestExamples: the example test files pass — the model
// policy's (policy/testdata/hardened_test.yaml) with its capabilities
// enabled, and the default policy's with the default configuration.
func TestPolicyTestExamples(t *testing.T) {
	env := []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}
	code, out, errOut := runCLI(t, env, "", "policy", "test",
		"--set", "capabilities.shell.enabled=true", "--set", "capabilities.shell.allowed_bins=sort,git",
		"--set", "capabilities.fs.read.enabled=true", "--set", "capabilities.fs.read.root="+t.TempDir(),
		"--set", "capabilities.http.get.enabled=true", "../../policy/testdata/hardened_test.yaml")
	if code != 0 || !strings.HasSuffix(out, "\n23 passed, 0 failed\n") || strings.Contains(out, "FAIL") {
		t.Fatalf("hardened_test.yaml: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, env, "", "policy", "test", "testdata/default_policy_test.yaml")
	if code != 0 || !strings.HasSuffix(out, "\n7 passed, 0 failed\n") {
		t.Fatalf("default_policy_test.yaml: exit %d\n%s\n%s", code, out, errOut)
	}
	// The same cases fail against a policy that decides otherwise.
	pol := writeFile(t, t.TempDir(), "echo-only.yaml", "rules:\n  - {id: echo-only, effect: allow, capabilities: [echo]}\n")
	code, out, _ = runCLI(t, env, "", "policy", "test", "--policy", pol, "testdata/default_policy_test.yaml")
	if code != 1 || !strings.Contains(out, "FAIL testdata/default_policy_test.yaml:8: anyone may run noop\n"+
		"     got  DENIED_POLICY_VIOLATION by rule default-deny (no rule allows this principal to use this capability (deny by default))\n"+
		"     want AUTHORIZED by rule default.noop-echo\n") || !strings.HasSuffix(out, "\n5 passed, 2 failed\n") {
		t.Fatalf("--policy: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "", "policy", "test", "--run", "shell", "testdata/default_policy_test.yaml")
	if code != 0 || out != "PASS testdata/default_policy_test.yaml:16: shell is disabled\n1 passed, 0 failed\n" {
		t.Fatalf("--run: exit %d\n%s", code, out)
	}
}

// TestPolicyTestFileErrors: a test file's own mistakes are reported at
// their place, and count as failures.
func TestPolicyTestFileErrors(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "t.yaml", "cases:\n  - principal: a\n    mesage: {}\n    want: {decision: AUTHORISED}\n")
	code, out, _ := runCLI(t, nil, "", "policy", "test", f)
	want := f + `:3:5: unknown key "mesage" (did you mean "message"?)` + "\n" +
		f + `:4:22: cases[0].want.decision: "AUTHORISED" is not a decision (did you mean "AUTHORIZED"?) (AUTHORIZED, DENIED_POLICY_VIOLATION, DENIED_ARGUMENT_INVALID, DENIED_CAPABILITY_DISABLED, DENIED_CAPABILITY_NOT_FOUND, PROTOCOL_ERROR)` + "\n" +
		f + `:2:5: cases[0]: message is required` + "\n0 passed, 1 failed\n"
	if code != 1 || out != want {
		t.Fatalf("exit %d\n%s\nwant\n%s", code, out, want)
	}
	g := writeFile(t, dir, "g.yaml", "policy: missing.yaml\ncases:\n  - {principal: a, message: '{}', want: {decision: AUTHORIZED}}\n")
	if code, out, _ := runCLI(t, nil, "", "policy", "test", g); code != 1 || !strings.Contains(out, "missing.yaml") {
		t.Fatalf("missing policy: exit %d\n%s", code, out)
	}
}

// TestPolicyFmt: -l lists what differs and fails, -w rewrites, standard
// input is formatted to standard output, and a broken policy is an error.
func TestPolicyFmt(t *testing.T) {
	dir := t.TempDir()
	canonical := "rules:\n  - id: r\n    effect: allow\n    capabilities: [echo]\n"
	ok := writeFile(t, dir, "ok.yaml", canonical)
	messy := writeFile(t, dir, "messy.yaml", "rules:\n  - capabilities: [echo]\n    effect: allow\n    id: r\n")
	if code, out, _ := runCLI(t, nil, "", "policy", "fmt", "-l", ok, messy); code != 1 || out != messy+"\n" {
		t.Fatalf("-l: exit %d %q", code, out)
	}
	if code, out, _ := runCLI(t, nil, "", "policy", "fmt", "--check", ok); code != 0 || out != "" {
		t.Fatalf("--check on a formatted file: exit %d %q", code, out)
	}
	if code, out, _ := runCLI(t, nil, "", "policy", "fmt", messy); code != 0 || out != canonical {
		t.Fatalf("to stdout: exit %d %q", code, out)
	}
	if code, _, _ := runCLI(t, nil, "", "policy", "fmt", "-w", messy); code != 0 {
		t.Fatalf("-w: exit %d", code)
	}
	if data, _ := os.ReadFile(messy); string(data) != canonical {
		t.Fatalf("-w wrote %q", data)
	}
	if code, out, _ := runCLI(t, nil, "", "policy", "fmt", "-l", messy); code != 0 || out != "" {
		t.Fatalf("after -w: exit %d %q", code, out)
	}
	if code, out, _ := runCLI(t, nil, "rules: [{capabilities: [echo], id: r, effect: allow}]\n", "policy", "fmt"); code != 0 || out != "rules:\n  - {id: r, effect: allow, capabilities: [echo]}\n" {
		t.Fatalf("stdin: exit %d %q", code, out)
	}
	js := writeFile(t, dir, "p.json", `{"rules": [{"id": "r", "effect": "allow", "capabilities": ["echo"]}]}`)
	if code, _, errOut := runCLI(t, nil, "", "policy", "fmt", "-w", js); code != 1 || !strings.Contains(errOut, "not formatted") {
		t.Fatalf("json: exit %d %s", code, errOut)
	}
	broken := writeFile(t, dir, "broken.yaml", "rules:\n  - {effect: permit, capabilities: [echo]}\n")
	if code, _, errOut := runCLI(t, nil, "", "policy", "fmt", "-w", broken); code != 1 || !strings.Contains(errOut, broken+`:2:14: rules[0]: effect: "permit" is not allow or deny`) {
		t.Fatalf("broken: exit %d %s", code, errOut)
	}
}

// TestPolicyEvalCanonical: eval decides on the canonical form, as serve
// does: a symbolic link into the secrets directory is denied though its
// path as sent is not under it.
func TestPolicyEvalCanonical(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "secrets/db.txt", "x")
	if err := os.Symlink("secrets", filepath.Join(root, "pub")); err != nil {
		t.Fatal(err)
	}
	pol := writeFile(t, t.TempDir(), "p.yaml", "rules:\n  - {id: files, effect: allow, capabilities: [fs.read], args: {path: {path_under: ["+root+"]}}}\n"+
		"  - {id: no-secrets, effect: deny, capabilities: [fs.read], args: {path: {path_under: ["+root+"/secrets]}}}\n")
	env := []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}
	code, out, errOut := runCLI(t, env, "", "policy", "eval", "--set", "capabilities.fs.read.enabled=true", "--set", "capabilities.fs.read.root="+root,
		"--policy", pol, "--principal", "a", `{"tool_call":{"tool":"fs.read","args":{"path":"`+root+`/pub/db.txt"}}}`)
	var d struct {
		Decision, Rule string
		Canonical      struct{ Path string } `json:"canonical_args"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 || d.Decision != "DENIED_ARGUMENT_INVALID" || d.Rule != "no-secrets" || d.Canonical.Path != root+"/secrets/db.txt" {
		t.Fatalf("eval: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	// The registry speaks first, as in serve.
	code, out, _ = runCLI(t, env, "", "policy", "eval", "--policy", pol, "--principal", "a", `{"tool_call":{"tool":"fs.read","args":{"path":"/x"}}}`)
	if code != 1 || !strings.Contains(out, `"decision": "DENIED_CAPABILITY_DISABLED"`) {
		t.Fatalf("disabled: exit %d %s", code, out)
	}
}
