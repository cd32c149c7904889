package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/policy"
)

func TestCheckValid(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "", "check")
	if code != 0 || out != "valid\n" || errOut != "" {
		t.Fatalf("the defaults: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	f := writeConfig(t, "journal: {durability: interval, sync_interval: 10ms}\n")
	if code, out, _ := runCLI(t, []string{"FEMTOCLAW_LOG_LEVEL=warn"}, "", "check", "--config", f, "--set", "log.format=text"); code != 0 || out != "valid\n" {
		t.Fatalf("a valid file: code %d %q", code, out)
	}
}

func TestCheckListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("rules:\n  - {id: r1, effect: allow, capabilities: [echo]\n"), 0o600) // not valid YAML
	f := writeConfig(t, "journel: {}\ncapabilities:\n  fs.read: {enabled: true}\npolicy: {file: "+pol+"}\n")
	code, out, errOut := runCLI(t, []string{"FEMTOCLAW_JOURNAL_DURABILTY=interval"}, "", "check", "--config", f, "--set", "log.level=verbose")
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != 1 || out != "" || len(lines) != 6 {
		t.Fatalf("code %d stdout %q\n%s", code, out, errOut)
	}
	for i, want := range []string{
		f + `:1: unknown key "journel" (did you mean "journal"?)`,
		`FEMTOCLAW_JOURNAL_DURABILTY: not a configuration variable (did you mean "FEMTOCLAW_JOURNAL_DURABILITY"?)`,
		`--set log.level: want debug, info, warn or error, got "verbose"`,
		pol + ":2:1: did not find expected ',' or '}' (in the { } mapping that starts on this line)",
		f + ":3: capabilities.fs.read: enabled with no root, so every call would be refused: set capabilities.fs.read.root to the directory it may read, or disable it",
		"invalid: 5 problems, 0 warnings",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: %q\nwant %q", i, lines[i], want)
		}
	}
	// Usage mistakes exit 2.
	if code, _, errOut := runCLI(t, nil, "", "check", "extra"); code != 2 || !strings.Contains(errOut, "--config FILE") {
		t.Fatalf("check with an argument: code %d %q", code, errOut)
	}
}

// TestCheckTokenPrincipalNamespace: a bearer token may not authenticate
// a principal of the mTLS namespace, configured or generated.
func TestCheckTokenPrincipalNamespace(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	f := writeConfig(t, "auth:\n  token_principal: mtls:admin\n  tokens:\n    - {principal: mtls:ops, sha256: "+sum+"}\n    - {principal: agent, sha256: "+sum+"}\n")
	code, _, errOut := runCLI(t, nil, "", "check", "--config", f)
	if code != 1 || !strings.Contains(errOut, `auth.token_principal: principal "mtls:admin" starts with "mtls:"`) ||
		!strings.Contains(errOut, `auth.tokens[0].principal: principal "mtls:ops" starts with "mtls:"`) || strings.Contains(errOut, "auth.tokens[1]") {
		t.Fatalf("code %d\n%s", code, errOut)
	}
}

// shellPolicy writes a policy that allows shell to run bins.
func shellPolicy(t *testing.T, rule string, bins ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	body := "rules:\n  - {id: noop-echo, effect: allow, capabilities: [noop, echo]}\n" +
		"  - id: " + rule + "\n    effect: allow\n    capabilities: [shell]\n    args:\n      bin: {type: string, in: [" + strings.Join(bins, ", ") + "]}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCapabilitiesThatCannotWork(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell cannot be enabled on Windows")
	}
	dir := t.TempDir()
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir}
	// Refused, by name, at check and at start (exec opens the same node
	// serve does).
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"capabilities.fs.read.enabled=true"},
			"--set capabilities.fs.read.enabled: capabilities.fs.read: enabled with no root, so every call would be refused: set capabilities.fs.read.root to the directory it may read, or disable it"},
		{[]string{"capabilities.shell.enabled=true"},
			"--set capabilities.shell.enabled: capabilities.shell: enabled with an empty allowed_bins, so every call would be refused: list the binaries it may run in capabilities.shell.allowed_bins, or disable it"},
	} {
		args := []string{"check"}
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		code, _, errOut := runCLI(t, env, "", args...)
		if code != 1 || !strings.Contains(errOut, tc.want+"\n") {
			t.Errorf("check %v: code %d\n%s\nwant %s", tc.sets, code, errOut, tc.want)
		}
		args[0] = "exec"
		code, _, errOut = runCLI(t, env, "", append(args, `{"tool_call":{"tool":"noop","args":{}}}`)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("exec %v: code %d\n%s\nwant %s", tc.sets, code, errOut, tc.want)
		}
	}

	// A policy rule that allows a bin the allowlist lacks: a warning
	// naming the rule and the bin. Both spellings of an allowlisted bin
	// (the name and the resolved path) are fine.
	sh := shellPath(t)
	pol := shellPolicy(t, "ops-tools", "sh", `"`+sh+`"`, "gitt")
	code, out, errOut := runCLI(t, env, "", "check", "--set", "capabilities.shell.enabled=true", "--set", "capabilities.shell.allowed_bins=sh",
		"--set", "policy.file="+pol)
	want := `warning: --set capabilities.shell.allowed_bins: lacks "gitt", which policy rule "ops-tools" allows shell to run: the capability refuses it; add it to allowed_bins, or drop it from the rule` + "\n"
	if code != 0 || out != "valid\n" || errOut != want {
		t.Fatalf("code %d stdout %q\nstderr %q\nwant   %q", code, out, errOut, want)
	}
	// Serve and exec start, and log the warning.
	code, _, errOut = runCLI(t, append(env, "FEMTOCLAW_LOG_LEVEL=warn", "FEMTOCLAW_CAPABILITIES_SHELL_ENABLED=true", "FEMTOCLAW_CAPABILITIES_SHELL_ALLOWED_BINS=sh", "FEMTOCLAW_POLICY_FILE="+pol),
		"", "exec", "--journal", `{"tool_call":{"tool":"noop","args":{}}}`)
	if code != 0 || !strings.Contains(errOut, `lacks \"gitt\", which policy rule \"ops-tools\"`) {
		t.Fatalf("exec: code %d\n%s", code, errOut)
	}

	// Rules that allow a disabled or an unknown capability, and an
	// enabled capability that no rule allows.
	p := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(p, []byte("rules:\n  - {id: r1, effect: allow, capabilities: [noop, http.get, shel]}\n  - {id: r2, effect: allow, capabilities: [\"e*\"]}\n"), 0o600)
	code, _, errOut = runCLI(t, env, "", "check", "--set", "policy.file="+p, "--set", "capabilities.fs.read.enabled=true", "--set", "capabilities.fs.read.root="+t.TempDir())
	got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	wantLines := []string{
		`warning: capabilities.http.get: disabled, but policy rule "r1" allows it: its calls are refused (set capabilities.http.get.enabled: true, or drop it from the rule)`,
		`warning: --set policy.file: rule "r1" allows capability "shel", which does not exist (did you mean "shell"?)`,
		`warning: --set capabilities.fs.read.enabled: capabilities.fs.read: enabled, but no policy rule allows it: every call is denied`,
	}
	if code != 0 || !slices.Equal(got, wantLines) {
		t.Fatalf("code %d\n%s\nwant\n%s", code, errOut, strings.Join(wantLines, "\n"))
	}
}

// shellPath is where the shell capability's default PATH finds sh.
func shellPath(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"/usr/bin", "/bin"} {
		if fi, err := os.Stat(filepath.Join(d, "sh")); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(d, "sh")
		}
	}
	t.Skip("no sh in /usr/bin or /bin")
	return ""
}

func TestRuleIn(t *testing.T) {
	pol := shellPolicy(t, "x", `"a b"`, `'q"uote'`, "1", "true", `"]"`)
	data, _ := os.ReadFile(pol)
	p, err := policy.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	got := ruleIn(p.Rules()[1], "bin")
	if want := []string{"a b", `q"uote`, "]"}; !slices.Equal(got, want) {
		t.Fatalf("ruleIn = %q, want %q (from %q)", got, want, p.Rules()[1].Constraints)
	}
	if got := ruleIn(p.Rules()[1], "argv"); got != nil {
		t.Fatalf("an unconstrained argument: %q", got)
	}
}

func TestConfigCommand(t *testing.T) {
	f := writeConfig(t, "journal:\n  durability: interval\ncapabilities:\n  shell:\n    env: [PATH=/usr/bin, API_TOKEN=s3cret-value]\nauth:\n  tokens:\n    - {principal: ci, sha256: \""+strings.Repeat("ab", 32)+"\"}\n")
	code, out, errOut := runCLI(t, []string{"FEMTOCLAW_JOURNAL_CODEC=zstd"}, "", "config", "--config", f, "--set", "journal.segment_size=1048576")
	if code != 0 || errOut != "" {
		t.Fatalf("code %d %s", code, errOut)
	}
	for _, want := range []string{
		"  durability: interval  ", "# " + f + ":2\n",
		"  codec: zstd  ", "# FEMTOCLAW_JOURNAL_CODEC\n",
		"  segment_size: 1048576  ", "# --set\n",
		"  sync_interval: 5ms  ", "# default\n",
		"    env: [PATH=/usr/bin, API_TOKEN=<redacted>]  ",
		"  tokens:  ", "# " + f + ":7\n", "    - {principal: ci, sha256: " + strings.Repeat("ab", 32) + "}\n",
		"  retention: 24h  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("a secret value is printed:\n%s", out)
	}
	// The output loads back to the same configuration (secrets aside).
	back := writeConfig(t, out)
	want, err := loadConfig(f, []string{"FEMTOCLAW_JOURNAL_CODEC=zstd"}, []string{"journal.segment_size=1048576", "capabilities.shell.env=PATH=/usr/bin,API_TOKEN=<redacted>"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := loadConfig(back, nil, nil)
	if err != nil {
		t.Fatalf("the output does not load: %v\n%s", err, out)
	}
	if got.Hash() != want.Hash() {
		t.Fatalf("the output loads to another configuration:\n%s", out)
	}
	// Problems: after the output, on stderr, status 1.
	code, out, errOut = runCLI(t, []string{"FEMTOCLAW_LOG_LEVEL=infoo"}, "", "config")
	if code != 1 || !strings.Contains(out, "  level: info  ") || errOut != `FEMTOCLAW_LOG_LEVEL: want debug, info, warn or error, got "infoo" (did you mean "info"?)`+"\n" {
		t.Fatalf("code %d\n%s", code, errOut)
	}
}

func TestConfigShellEnvNilOrEmpty(t *testing.T) {
	// nil: the capability's default environment; []: an empty one.
	for body, isNil := range map[string]bool{"capabilities: {shell: {env: ~}}\n": true, "capabilities: {shell: {env: []}}\n": false} {
		cfg, err := loadConfig(writeConfig(t, body), nil, nil)
		if err != nil || (cfg.Capabilities.Shell.Env == nil) != isNil {
			t.Errorf("%q: %v nil=%v", body, err, cfg.Capabilities.Shell.Env == nil)
		}
	}
}

func TestCheckMissingPolicyFile(t *testing.T) {
	f := writeConfig(t, "log: {level: info}\npolicy:\n  file: /nonexistent/policy.yaml\n")
	code, _, errOut := runCLI(t, nil, "", "check", "--config", f)
	want := f + ":3: policy.file: cannot read /nonexistent/policy.yaml: no such file or directory\ninvalid: 1 problem, 0 warnings\n"
	if code != 1 || errOut != want {
		t.Fatalf("code %d\n%q\nwant\n%q", code, errOut, want)
	}
}
