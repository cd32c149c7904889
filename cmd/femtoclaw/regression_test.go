package main

// Regression tests for defects found in review of the configuration,
// policy tooling and CLI (each failed before its fix).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/transport"
)

// problemsOf is the problems loadConfig reports for a file body, the
// environment, --set and a command's own flags.
func problemsOf(t *testing.T, body string, env, sets []string, flags ...flagValue) (string, []string) {
	t.Helper()
	f := ""
	if body != "" {
		f = writeConfig(t, body)
	}
	_, err := loadConfig(f, env, sets, flags...)
	if err == nil {
		return f, nil
	}
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("error is not a *configError: %T %v", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	assertNoInternals(t, lines)
	return f, lines
}

// A mapping merged into itself (journal: &x {<<: *x}) recursed until the
// stack overflowed: the process crashed with "fatal error: stack
// overflow".
func TestRegressionConfigMergeIntoItself(t *testing.T) {
	f, lines := problemsOf(t, "journal: &x\n  <<: *x\n", nil, nil)
	want := []string{f + ":1: journal: a merge key (<<) merges this mapping into itself: remove it"}
	if !slices.Equal(lines, want) {
		t.Fatalf("got %q\nwant %q", lines, want)
	}
}

// Merge keys of merge keys of one anchor repeat a mapping 9^9 times: the
// loader ran for minutes (a billion laughs through <<).
func TestRegressionConfigMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("capabilities:\n  echo: &a0 {enabled: true}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  x%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), ", "))
	}
	b.WriteString("log: {<<: *a9}\n")
	_, lines := problemsOf(t, b.String(), nil, nil)
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasSuffix(l, "the document repeats mappings too often through merge keys (<<) and aliases: write the keys out")
	}) {
		t.Fatalf("no problem for the merge bomb: %q", lines)
	}
}

// .nan passed `v < 0 || v > 1` and was accepted as a sampling rate,
// from the file and from the environment.
func TestRegressionConfigNaN(t *testing.T) {
	f, lines := problemsOf(t, "telemetry: {transition_sample: .nan}\n", nil, nil)
	if want := []string{f + ":1: telemetry.transition_sample: want a number, got .nan (not a number)"}; !slices.Equal(lines, want) {
		t.Errorf("got %q\nwant %q", lines, want)
	}
	_, lines = problemsOf(t, "", []string{"FEMTOCLAW_TELEMETRY_TRANSITION_SAMPLE=NaN"}, nil)
	if want := []string{`FEMTOCLAW_TELEMETRY_TRANSITION_SAMPLE: want a number, got "NaN"`}; !slices.Equal(lines, want) {
		t.Errorf("got %q\nwant %q", lines, want)
	}
	cfg := &Config{Telemetry: TelemetryConfig{TransitionSample: 0}}
	cfg.Telemetry.TransitionSample = cfg.Telemetry.TransitionSample / cfg.Telemetry.TransitionSample // NaN however it arrives
	if !slices.ContainsFunc(cfg.problems(), func(p problem) bool { return p.key == "telemetry.transition_sample" }) {
		t.Error("problems() accepts a NaN transition_sample")
	}
}

// yaml.v3 reports a parser's problem at the 0-based line of the
// collection it is in, or, when that is line 1, at the 0-based line of
// the problem: the messages named the line above the mistake.
func TestRegressionConfigYAMLSyntaxLines(t *testing.T) {
	for body, want := range map[string]string{
		// The mapping starts on line 1; the stray key is on line 3 (was FILE:2).
		"journal:\n  durability: always\n sync_interval: 1s\n": "FILE:3: not valid YAML: did not find expected key (in the mapping that starts on line 1)",
		// The mapping under http3 starts on line 3 (was FILE:2).
		"log: {level: info}\nlisten:\n  http3:\n    - 127.0.0.1:4433\n   admin: x\n": "FILE:3: not valid YAML: did not find expected key (in the mapping that starts on this line)",
		// The flow mapping is never closed (was FILE:2, "the mapping or list that starts on this line").
		"journal: {durability: always\n": "FILE:1: not valid YAML: did not find expected ',' or '}' at the end of the input (in the { } mapping that starts on this line)",
		// A broken second document was not reported at all.
		"log: {level: info}\n---\nlog: [\n": "FILE:3: not valid YAML: did not find expected node content at the end of the input",
	} {
		f, lines := problemsOf(t, body, nil, nil)
		if w := strings.ReplaceAll(want, "FILE", f); !slices.Equal(lines, []string{w}) {
			t.Errorf("%q:\n got %q\nwant %q", body, lines, w)
		}
	}
}

// The section hints named another section ("such as
// FEMTOCLAW_CAPABILITIES_NOOP", itself refused), and --set mistakes were
// answered "unknown key" with nothing to write instead, or with a
// did-you-mean naming the very key given (" journal.durability").
func TestRegressionConfigSetAndEnvHints(t *testing.T) {
	for _, tc := range []struct {
		env, sets []string
		want      string
	}{
		{[]string{"FEMTOCLAW_CAPABILITIES=x"}, nil, "FEMTOCLAW_CAPABILITIES: capabilities is a section: set its keys, such as FEMTOCLAW_CAPABILITIES_NOOP_ENABLED"},
		{nil, []string{"capabilities.noop=x"}, "--set capabilities.noop: a section: set its keys, such as capabilities.noop.enabled"},
		{nil, []string{"=x"}, "--set =x: want --set key.path=value: the key is missing before the ="},
		{nil, []string{"journal.durability = always"}, "--set journal.durability: write it with no space around the key: --set journal.durability=always"},
		{nil, []string{"FEMTOCLAW_JOURNAL_DURABILITY=always"}, "--set FEMTOCLAW_JOURNAL_DURABILITY: unknown key: --set takes the key, journal.durability (FEMTOCLAW_JOURNAL_DURABILITY is its environment variable)"},
		{nil, []string{"auth.tokens[0].principal=ci"}, "--set auth.tokens[0].principal: auth.tokens is a list of records (principal, sha256): give it in the configuration file"},
		{nil, []string{"durability=always"}, `--set durability: unknown key (did you mean "journal.durability"?)`},
	} {
		_, lines := problemsOf(t, "", tc.env, tc.sets)
		if !slices.Equal(lines, []string{tc.want}) {
			t.Errorf("%v %v:\n got %q\nwant %q", tc.env, tc.sets, lines, tc.want)
		}
	}
}

// serve's shorthand flags (--durability, --listen, --admin, --policy)
// and --data-dir were applied as --set, so their problems and `femtoclaw
// config` named a --set the user never typed; an empty --data-dir or
// --durability was silently ignored.
func TestRegressionConfigFlagsNameThemselves(t *testing.T) {
	_, lines := problemsOf(t, "", nil, nil, flagValue{"--durability", "journal.durability", "sometimes"}, flagValue{"--data-dir", "data_dir", ""})
	want := []string{`--durability: want always, interval or off, got "sometimes"`, "--data-dir: is empty: want a directory for the journal, keys and token"}
	if !slices.Equal(lines, want) {
		t.Fatalf("got %q\nwant %q", lines, want)
	}
	dir := t.TempDir()
	cfg, err := loadConfig("", nil, []string{"data_dir=/elsewhere"}, flagValue{"--data-dir", "data_dir", dir})
	if err != nil || cfg.DataDir != dir || cfg.origin.of("data_dir").label() != "--data-dir" {
		t.Fatalf("%v %q %q", err, cfg.DataDir, cfg.origin.of("data_dir").label())
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"serve", "--data-dir", dir, "--durability", "sometimes"}},
		{[]string{"serve", "--data-dir", dir, "--listen", "nowhere"}},
		{[]string{"serve", "--data-dir", "", "--admin", "off"}},
	} {
		code, _, errOut := runCLI(t, nil, "", tc.args...)
		flag := tc.args[len(tc.args)-2]
		if tc.args[2] == "" {
			flag = "--data-dir"
		}
		if code != 1 || !strings.HasPrefix(errOut, "femtoclaw serve: "+flag+": ") || strings.Contains(errOut, "--set") {
			t.Errorf("%q: exit %d\n%s", tc.args, code, errOut)
		}
	}
}

// A bearer token pasted into auth.tokens[].sha256 (or anywhere) was
// printed by `femtoclaw config`, and check called it only "not 64 hex
// digits".
func TestRegressionConfigTokenNotPrinted(t *testing.T) {
	tok := newBearerToken()
	f := writeConfig(t, "auth:\n  tokens:\n    - {principal: ci, sha256: "+tok+"}\n    - {principal: ops, sha256: my-plain-token}\n  admin_principals: ["+tok+"]\n")
	code, out, errOut := runCLI(t, nil, "", "config", "--config", f)
	if code != 1 || strings.Contains(out, tok) || strings.Contains(out, "my-plain-token") || !strings.Contains(out, "# Secret values are shown as <redacted>.") {
		t.Fatalf("exit %d: a token is printed:\n%s", code, out)
	}
	want := f + ":3: auth.tokens[0].sha256: is a bearer token, not its hash: write sha256: " + transport.HashToken(tok) +
		" (the token's SHA-256) and keep the token itself out of the configuration"
	if !strings.Contains(errOut, want+"\n") || strings.Contains(errOut, "my-plain-token") {
		t.Fatalf("stderr:\n%s\nwant %s", errOut, want)
	}
	// Nor does a problem quote one, whatever key it was given for.
	_, lines := problemsOf(t, "", []string{"FEMTOCLAW_LISTEN_ADMIN_PPROF=" + tok}, nil)
	if want := []string{"FEMTOCLAW_LISTEN_ADMIN_PPROF: want true or false, got a bearer token (not shown)"}; !slices.Equal(lines, want) {
		t.Fatalf("got %q\nwant %q", lines, want)
	}
}

// What a capability's constructor refused was reported without its key
// or source and with the error's category and Go's own words
// ("capabilities: CONFIGURATION_ERROR: fs.read: root … is not a
// directory", `netip.ParsePrefix("10.0.0.0/33"): prefix length out of
// range`), only the first of them, and twice when the configuration's
// checks had already refused the key.
func TestRegressionCapabilityProblemsAtTheirKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell cannot be enabled on Windows")
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	f := writeConfig(t, "data_dir: "+filepath.Join(dir, "data")+"\ncapabilities:\n  fs.read:\n    root: "+missing+"\n  shell:\n    allowed_bins: [nosuchbin-x, /nonexistent/bin]\n    dir: "+missing+"\n  http.get:\n    allowed_cidrs: [10.0.0.0/33]\n  noop: {pool_size: -1}\n")
	code, _, errOut := runCLI(t, nil, "", "check", "--config", f)
	want := []string{
		f + ":10: capabilities.noop.pool_size: want 0..100000, got -1",
		f + `:9: capabilities.http.get.allowed_cidrs: want CIDR prefixes such as 10.0.0.0/8, got "10.0.0.0/33"`,
		f + `:7: capabilities.shell.dir: working directory "` + missing + `" is not a directory: want an existing directory, as an absolute path`,
		f + `:6: capabilities.shell.allowed_bins: allowed binary "nosuchbin-x": not found in /usr/bin:/bin: give the binary's absolute path, or a name found in the PATH of capabilities.shell.env`,
		f + `:6: capabilities.shell.allowed_bins: allowed binary "/nonexistent/bin": not an executable regular file`,
		f + `:4: capabilities.fs.read.root: root "` + missing + `" is not a directory: want an existing directory, as an absolute path`,
		"invalid: 6 problems, 0 warnings",
	}
	if got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n"); code != 1 || !slices.Equal(got, want) {
		t.Fatalf("exit %d\n%s\nwant\n%s", code, errOut, strings.Join(want, "\n"))
	}
	// serve and exec say the same, and every problem of the registry and
	// of the policy at once.
	pol := writeFile(t, dir, "policy.yaml", "rules:\n  - {id: a, effect: alow, capabilities: [echo]}\n")
	code, _, errOut = runCLI(t, nil, "", "serve", "--data-dir", filepath.Join(dir, "data"), "--policy", pol, "--set", "capabilities.fs.read.root="+missing)
	want = []string{
		`femtoclaw serve: --set capabilities.fs.read.root: root "` + missing + `" is not a directory: want an existing directory, as an absolute path`,
		pol + `:2:21: rules[0] (id "a"): effect: "alow" is not allow or deny (did you mean "allow"?)`,
	}
	if got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n"); code != 1 || !slices.Equal(got[len(got)-2:], want) {
		t.Fatalf("serve: exit %d\n%s\nwant\n%s", code, errOut, strings.Join(want, "\n"))
	}
}

// check compiled policy.file only: a policy.shadow_file that serve
// refuses was "valid"; and policy errors were one line,
// "policy FILE: CONFIGURATION_ERROR: policy: 2:21: …; 3:13: …".
func TestRegressionCheckPolicies(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "rules:\n  - {id: a, effect: alow, capabilities: [echo]}\n  - {id: b, efect: allow, capabilities: [echo]}\n")
	code, _, errOut := runCLI(t, nil, "", "check", "--set", "policy.file="+bad, "--set", "policy.shadow_file="+filepath.Join(dir, "missing.yaml"))
	want := []string{
		bad + `:2:21: rules[0] (id "a"): effect: "alow" is not allow or deny (did you mean "allow"?)`,
		bad + `:3:13: rules[1] (id "b"): unknown key "efect" (did you mean "effect"?)`,
		"--set policy.shadow_file: cannot read " + filepath.Join(dir, "missing.yaml") + ": no such file or directory",
		"invalid: 3 problems, 0 warnings",
	}
	if got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n"); code != 1 || !slices.Equal(got, want) {
		t.Fatalf("exit %d\n%s\nwant\n%s", code, errOut, strings.Join(want, "\n"))
	}
	code, _, errOut = runCLI(t, nil, "", "check", "--set", "policy.shadow_file="+bad)
	if code != 1 || !strings.Contains(errOut, bad+`:2:21: policy.shadow_file: rules[0] (id "a"): effect:`) {
		t.Fatalf("a broken shadow policy: exit %d\n%s", code, errOut)
	}
}

// A device or a huge file named as the configuration or the policy was
// read whole (--config /dev/zero ran out of memory).
func TestRegressionHugeFilesRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	code, _, errOut := runCLI(t, nil, "", "check", "--config", "/dev/zero")
	if code != 1 || !strings.Contains(errOut, "/dev/zero: cannot read the configuration file (named by --config): it is larger than 4 MiB") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "", "check", "--set", "policy.file=/dev/zero")
	if code != 1 || !strings.Contains(errOut, "--set policy.file: cannot read /dev/zero: it is larger than 4 MiB") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	code, out, _ := runCLI(t, nil, "", "policy", "check", "/dev/zero")
	if code != 1 || !strings.HasPrefix(out, "/dev/zero:1:1: cannot read: it is larger than 4 MiB") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// policy test placed a malformed test file's syntax error at 1:1 with
// yaml.v3's "line N" inside the message, and an alias-repeated message
// expanded without bound.
func TestRegressionPolicyTestFileErrors(t *testing.T) {
	dir := t.TempDir()
	pol := writeFile(t, dir, "p.yaml", "rules:\n  - {id: ok, effect: allow, capabilities: [echo]}\n")
	f := writeFile(t, dir, "t.yaml", "cases:\n  - name: a\n    principal: p\n    message: {tool_call: {tool: echo, args: {text: hi}}\n")
	code, out, _ := runCLI(t, nil, "", "policy", "test", "--policy", pol, f)
	want := f + ":4:1: did not find expected ',' or '}' (in the { } mapping that starts on this line)\n0 passed, 1 failed\n"
	if code != 1 || out != want {
		t.Fatalf("exit %d\n%q\nwant\n%q", code, out, want)
	}
	var b strings.Builder
	b.WriteString("cases:\n  - name: bomb\n    principal: p\n    want: {decision: AUTHORIZED}\n    message:\n      tool_call:\n        tool: echo\n        args:\n          x0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "          x%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), ", "))
	}
	g := writeFile(t, dir, "bomb.yaml", b.String())
	code, out, _ = runCLI(t, nil, "", "policy", "test", "--policy", pol, g)
	if code != 1 || !strings.Contains(out, "cases[0].message: expands to more than 16 MiB of JSON") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "", "policy", "test", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.HasPrefix(out, filepath.Join(dir, "missing.yaml")+": cannot read: no such file or directory\n") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// policy diff parsed its flags with Go's defaults: --help went to
// standard error as "Usage of policy diff:", and an unknown flag exited 1
// with the whole flag list; the other policy subcommands said "flag
// provided but not defined: -x".
func TestRegressionPolicySubcommandUsage(t *testing.T) {
	for _, sub := range []string{"check", "test", "fmt", "eval", "diff"} {
		code, out, errOut := runCLI(t, nil, "", "policy", sub, "--help")
		if code != 0 || !strings.HasPrefix(out, "usage: femtoclaw policy "+sub) || errOut != "" {
			t.Errorf("policy %s --help: exit %d\nstdout:\n%s\nstderr:\n%s", sub, code, out, errOut)
		}
		code, out, errOut = runCLI(t, nil, "", "policy", sub, "--jsn")
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "femtoclaw policy "+sub+": unknown flag --jsn") || strings.Contains(errOut, "provided but not defined") {
			t.Errorf("policy %s --jsn: exit %d\nstdout:\n%s\nstderr:\n%s", sub, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, nil, "", "policy", "diff", "--json"+"x"); code != 2 || !strings.Contains(errOut, "(did you mean --json?)") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

// A flag's bad value was Go's "invalid value "x" for flag -n: parse
// error"; a flag that does not apply beside another was ignored.
func TestRegressionFlagValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"journal", "tail", "-n", "many"}, `flag -n: want an integer, got "many"`},
		{[]string{"stats", "--every", "often"}, `flag --every: want a duration such as 10s, got "often"`},
		{[]string{"exec", "--compact=maybe", "{}"}, `flag --compact: want true or false, got "maybe"`},
		{[]string{"check", "--set"}, "flag --set needs a value"},
		// Go's regexp wording ("error parsing regexp: …").
		{[]string{"policy", "test", "--run", "(", "t.yaml"}, "--run: not a valid RE2 regular expression: missing closing ): `(`"},
		// --set was ignored beside config --schema, --data-dir beside --dir.
		{[]string{"config", "--schema", "--set", "log.level=debug"}, "--schema prints the schema of every configuration: --config and --set do not apply to it"},
		{[]string{"journal", "tail", "--dir", "j", "--data-dir", "d"}, "give --dir (the journal directory) or --data-dir (the data directory holding it), not both"},
	} {
		code, _, errOut := runCLI(t, nil, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, ": "+tc.want+"\n") || strings.Contains(errOut, "parse error") {
			t.Errorf("%q: exit %d\n%s", tc.args, code, errOut)
		}
	}
}

// `femtoclaw config` aligned its comments by bytes: a value with µ
// pushed its comment one column left of the others.
func TestRegressionConfigCommentsAligned(t *testing.T) {
	_, out, _ := runCLI(t, nil, "", "config")
	col := -1
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, "  # ")
		if i < 0 || strings.HasPrefix(l, "#") || len([]rune(l[:i])) > 56 {
			continue
		}
		c := len([]rune(l[:i]))
		if col >= 0 && c != col && strings.Contains(l, "µ") {
			t.Fatalf("comment at column %d, the others at %d: %q", c, col, l)
		}
		if col < 0 {
			col = c
		}
	}
}

// A misspelled FEMTOCLAW_* variable was ignored by the commands that
// did not need the configuration for what they were given: journal * with
// --dir, policy check FILE, policy fmt.
func TestRegressionUnknownVariableRefusedEverywhere(t *testing.T) {
	dir := t.TempDir()
	pol := writeFile(t, dir, "p.yaml", "rules:\n  - {id: ok, effect: allow, capabilities: [echo]}\n")
	tests := writeFile(t, dir, "t.yaml", "cases:\n  - {principal: p, message: {tool_call: {tool: echo, args: {}}}, want: {decision: AUTHORIZED}}\n")
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_JOURNAL_DURABILTY=interval"}
	want := `FEMTOCLAW_JOURNAL_DURABILTY: not a configuration variable (did you mean "FEMTOCLAW_JOURNAL_DURABILITY"?)`
	msg := `{"tool_call":{"tool":"noop","args":{}}}`
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--admin", "off"}, {"exec", msg}, {"exec", "--server", msg}, {"check"}, {"config"}, {"capabilities"},
		{"journal", "verify"}, {"journal", "verify", "--dir", dir}, {"journal", "inspect", "--dir", dir}, {"journal", "tail", "--dir", dir},
		{"journal", "get", "--dir", dir, "exec-1"}, {"journal", "export", "--dir", dir}, {"journal", "repair", "--dir", dir},
		{"stats", "--once"}, {"policy", "check"}, {"policy", "check", pol}, {"policy", "test", "--policy", pol, tests},
		{"policy", "fmt", pol}, {"policy", "eval", "--principal", "p", msg}, {"policy", "diff"},
	} {
		code, _, errOut := runCLI(t, env, "", args...)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%q: exit %d\n%s", args, code, errOut)
		}
	}
}

// A quoted value ("true", "5") was refused as `got "true"`, which reads
// as what was wanted; and a negative journal.segment_size was accepted
// (the journal clamps it to 4 KiB segments).
func TestRegressionConfigQuotedValuesAndSegmentSize(t *testing.T) {
	f, lines := problemsOf(t, "listen: {allow_non_loopback: \"true\"}\nipc:\n  peers:\n    - {uid: '1001', principal: a}\njournal: {segment_size: -1, sync_interval: \"5\"}\n", nil, nil)
	want := []string{
		f + `:1: listen.allow_non_loopback: want true or false, got "true" (a string: write it without quotes)`,
		f + `:4: ipc.peers[0].uid: want an integer from 0 to 4294967295, got "1001" (a string: write it without quotes)`,
		f + `:5: journal.sync_interval: want a duration such as 10s, got "5"`,
		f + ":5: journal.segment_size: want 0 (the default, 64 MiB) or at least 4096 bytes, got -1",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// With no server on the data directory, stats and exec --server showed
// the runfile package's prefix: "no server to show: runfile: no server is
// running on …".
func TestRegressionNoServerMessage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"stats", "--once", "--data-dir", dir}, {"exec", "--server", "--data-dir", dir, "{}"}} {
		code, _, errOut := runCLI(t, nil, "", args...)
		if code != 1 || strings.Contains(errOut, "runfile:") || !strings.Contains(errOut, "no server is running on "+dir+" (no run.json)") {
			t.Errorf("%q: exit %d\n%s", args, code, errOut)
		}
	}
}

// A missing journal directory, --policy file or certificate was Go's
// "open /x: no such file or directory".
func TestRegressionMissingFilesNamed(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"journal", "verify", "--dir", missing}, "--dir: no journal directory " + missing + " (is it the right directory?)"},
		{[]string{"journal", "tail", "--data-dir", missing}, "the journal of data_dir " + missing + ": no journal directory " + filepath.Join(missing, "journal")},
		{[]string{"policy", "eval", "--principal", "p", "--policy", missing, "{}"}, "--policy " + missing + ": cannot read: no such file or directory"},
		{[]string{"exec", "--data-dir", dir, "--server", "https://127.0.0.1:1", "{}"}, "tls/cert.pem is unreadable: no such file or directory"},
	} {
		code, _, errOut := runCLI(t, nil, "", tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "open ") || strings.Contains(errOut, "runfile:") {
			t.Errorf("%q: exit %d\n%s\nwant %s", tc.args, code, errOut, tc.want)
		}
	}
}

// http.get enabled with settings that reach what its defaults refuse
// (allow_private, an allowed prefix admitting everything or the cloud
// metadata address) passed check and serve without a word.
func TestRegressionHTTPGetReachWarned(t *testing.T) {
	pol := writeFile(t, t.TempDir(), "p.yaml", "rules:\n  - {id: web, effect: allow, capabilities: [http.get, noop, echo]}\n")
	code, out, errOut := runCLI(t, nil, "", "check", "--set", "policy.file="+pol, "--set", "capabilities.http.get.enabled=true",
		"--set", "capabilities.http.get.allowed_cidrs=0.0.0.0/0,169.254.0.0/16,10.0.0.0/8")
	want := "warning: --set capabilities.http.get.allowed_cidrs: 0.0.0.0/0 admits every IPv4 address, the cloud metadata address 169.254.169.254 included: list the networks http.get needs\n" +
		"warning: --set capabilities.http.get.allowed_cidrs: 169.254.0.0/16 admits the cloud metadata address 169.254.169.254 (its credentials): list narrower networks\n"
	if code != 0 || out != "valid\n" || errOut != want {
		t.Fatalf("exit %d %q\n%s\nwant\n%s", code, out, errOut, want)
	}
	code, out, errOut = runCLI(t, nil, "", "check", "--set", "policy.file="+pol, "--set", "capabilities.http.get.enabled=true",
		"--set", "capabilities.http.get.allow_private=true", "--set", "capabilities.http.get.allowed_cidrs=10.0.0.0/8")
	want = "warning: --set capabilities.http.get.allow_private: is true: calls reach loopback, private networks and the cloud metadata address 169.254.169.254 (its credentials); prefer allowed_cidrs for the networks http.get needs\n" +
		"warning: --set capabilities.http.get.allowed_cidrs: has no effect: allow_private admits every address already\n"
	if code != 0 || out != "valid\n" || errOut != want {
		t.Fatalf("exit %d %q\n%s\nwant\n%s", code, out, errOut, want)
	}
	// Disabled, it is not warned about.
	if code, _, errOut := runCLI(t, nil, "", "check", "--set", "capabilities.http.get.allow_private=true"); code != 0 || errOut != "" {
		t.Fatalf("disabled: exit %d\n%s", code, errOut)
	}
}

// A listen.admin that is not host:port showed Go's net error, "address
// nope: missing port in address".
func TestRegressionAdminAddressMessage(t *testing.T) {
	_, lines := problemsOf(t, "", nil, []string{"listen.admin=nope"})
	want := []string{`--set listen.admin: want host:port such as 127.0.0.1:9464 ("": off), got "nope": missing port in address`}
	if !slices.Equal(lines, want) {
		t.Fatalf("got %q\nwant %q", lines, want)
	}
}

// policy diff gave a candidate's problems on one line with the error
// category ("candidate: c.yaml: CONFIGURATION_ERROR: policy: 2:21: …"),
// and Go's words for a missing file or journal.
func TestRegressionPolicyDiffMessages(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "c.yaml", "rules:\n  - {id: a, effect: alow, capabilities: [echo]}\n")
	if err := os.MkdirAll(filepath.Join(dir, "journal"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--candidate", bad}, bad + `:2:21: rules[0] (id "a"): effect: "alow" is not allow or deny (did you mean "allow"?)` + "\n"},
		{[]string{"--candidate", filepath.Join(dir, "none.yaml")}, "--candidate " + filepath.Join(dir, "none.yaml") + ": cannot read: no such file or directory\n"},
		{[]string{"--data-dir", filepath.Join(dir, "none")}, "no journal directory " + filepath.Join(dir, "none", "journal")},
	} {
		args := append([]string{"policy", "diff", "--data-dir", dir}, tc.args...)
		code, _, errOut := runCLI(t, nil, "", args...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "CONFIGURATION_ERROR") {
			t.Errorf("%q: exit %d\n%s\nwant %s", tc.args, code, errOut, tc.want)
		}
	}
}

// A shell.env entry that is not KEY=value was quoted whole in the
// problem ("AWS_SECRET_ACCESS_KEY s3cret"): a credential on the terminal
// and in logs.
func TestRegressionShellEnvEntryNotShown(t *testing.T) {
	f := writeConfig(t, "capabilities:\n  shell:\n    env: [PATH=/usr/bin, \"AWS_SECRET_ACCESS_KEY s3cret\"]\n")
	for _, cmd := range []string{"check", "capabilities"} {
		code, out, errOut := runCLI(t, nil, "", cmd, "--config", f)
		want := f + ":3: capabilities.shell.env: entry 1 is not KEY=value (it is not shown: it may hold a credential): write each entry as KEY=value"
		if code != 1 || strings.Contains(out+errOut, "s3cret") || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d\n%s%s\nwant %s", cmd, code, out, errOut, want)
		}
	}
}
