package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "fc.yaml")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// problemLines is what loadConfig reports, one problem per line.
func problemLines(t *testing.T, file string, env, sets []string) []string {
	t.Helper()
	_, err := loadConfig(file, env, sets)
	if err == nil {
		return nil
	}
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("error is not a *configError: %T %v", err, err)
	}
	return strings.Split(err.Error(), "\n")
}

// goInternals are fragments of the decoder's and strconv's own errors,
// which a configuration error must never show.
var goInternals = []string{"main.", "not found in type", "cannot unmarshal", "!!int", "!!str", "strconv.", "time.Duration", "ParseBool", "invalid syntax", "reflect"}

func assertNoInternals(t *testing.T, lines []string) {
	t.Helper()
	for _, l := range lines {
		for _, g := range goInternals {
			if strings.Contains(l, g) {
				t.Errorf("message shows Go internals (%q): %s", g, l)
			}
		}
	}
}

func TestConfigMessagesNameThePlaceAndTheFix(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      string // "" for none; FILE in want is the file's path
		env, sets []string
		want      string
	}{
		{"unknown key", "journel: {durability: always}\n", nil, nil,
			`FILE:1: unknown key "journel" (did you mean "journal"?)`},
		{"unknown nested key", "capabilities:\n  shell:\n    timout: 10s\n", nil, nil,
			`FILE:3: unknown key "timout" in capabilities.shell (did you mean "timeout"?)`},
		{"key at the wrong level", "durability: always\n", nil, nil,
			`FILE:1: unknown key "durability" (did you mean "journal.durability"?)`},
		{"dotted key", "journal.durability: always\n", nil, nil,
			`FILE:1: unknown key "journal.durability" (write it nested: journal: {durability: …})`},
		{"duration as a number", "capabilities:\n  shell: {timeout: 10}\n", nil, nil,
			"FILE:2: capabilities.shell.timeout: want a duration such as 10s, got the number 10"},
		{"duration as words", "journal: {sync_interval: five ms}\n", nil, nil,
			`FILE:1: journal.sync_interval: want a duration such as 10s, got "five ms"`},
		{"bool", "listen: {admin_pprof: maybe}\n", nil, nil,
			`FILE:1: listen.admin_pprof: want true or false, got "maybe"`},
		{"int from a string", "execution: {max_depth: lots}\n", nil, nil,
			`FILE:1: execution.max_depth: want an integer, got "lots"`},
		{"int from a fraction", "execution: {max_depth: 1.5}\n", nil, nil,
			"FILE:1: execution.max_depth: want an integer, got the number 1.5"},
		{"list from a string", "listen: {http3: 127.0.0.1:4433}\n", nil, nil,
			`FILE:1: listen.http3: want a list such as [a, b], got "127.0.0.1:4433"`},
		{"section from a scalar", "journal: always\n", nil, nil,
			`FILE:1: journal: want a mapping of keys (durability, sync_interval, codec, segment_size, retention), got "always"`},
		{"string with no value", "listen:\n  admin:\n", nil, nil,
			`FILE:2: listen.admin: want a string, got no value (write "" for an empty string, or leave the key out to keep the default)`},
		{"duplicate key", "log: {level: info}\nlog: {level: warn}\n", nil, nil,
			`FILE:2: key "log" is given twice in the top level (first at line 1): keep one`},
		{"uid out of range", "ipc:\n  peers:\n    - {uid: -1, principal: p}\n", nil, nil,
			"FILE:3: ipc.peers[0].uid: want an integer from 0 to 4294967295, got the number -1"},
		{"not YAML", "journal: {durability: [}\n", nil, nil,
			"FILE:1: not valid YAML: did not find expected node content"},
		{"not YAML, further down", "log: {level: info}\n\njournal: {durability: [}\n", nil, nil,
			"FILE:3: not valid YAML: did not find expected node content"},
		{"not YAML, a scanner error", "log: {level: info}\njournal:\n\tdurability: always\n", nil, nil,
			"FILE:3: not valid YAML: found character that cannot start any token"},
		{"not YAML, a block mapping", "log:\n  level: info\n  - x\n", nil, nil,
			"FILE:2: not valid YAML: did not find expected key (in the mapping that starts on this line)"},
		{"two documents", "log: {level: info}\n---\nlog: {level: warn}\n", nil, nil,
			"FILE:2: a second YAML document: a configuration is one document (remove the ---)"},
		{"enum in the file", "journal: {durability: intervl}\n", nil, nil,
			`FILE:1: journal.durability: want always, interval or off, got "intervl" (did you mean "interval"?)`},
		{"enum codec", "journal: {codec: zstandard}\n", nil, nil,
			`FILE:1: journal.codec: want s2, zstd or none, got "zstandard"`},
		{"enum mode", "runtime: {mode: prodution}\n", nil, nil,
			`FILE:1: runtime.mode: want production or development, got "prodution" (did you mean "production"?)`},

		{"env enum", "", []string{"FEMTOCLAW_JOURNAL_DURABILITY=sometimes"}, nil,
			`FEMTOCLAW_JOURNAL_DURABILITY: want always, interval or off, got "sometimes"`},
		{"env enum near miss", "", []string{"FEMTOCLAW_LOG_LEVEL=wran"}, nil,
			`FEMTOCLAW_LOG_LEVEL: want debug, info, warn or error, got "wran" (did you mean "warn"?)`},
		{"env bool", "", []string{"FEMTOCLAW_LISTEN_ADMIN_PPROF=maybe"}, nil,
			`FEMTOCLAW_LISTEN_ADMIN_PPROF: want true or false, got "maybe"`},
		{"env int", "", []string{"FEMTOCLAW_EXECUTION_MAX_IN_FLIGHT=lots"}, nil,
			`FEMTOCLAW_EXECUTION_MAX_IN_FLIGHT: want an integer, got "lots"`},
		{"env duration", "", []string{"FEMTOCLAW_CAPABILITIES_SHELL_TIMEOUT=10"}, nil,
			`FEMTOCLAW_CAPABILITIES_SHELL_TIMEOUT: want a duration such as 10s, got "10"`},
		{"env misspelled", "", []string{"FEMTOCLAW_JOURNAL_DURABILTY=interval"}, nil,
			`FEMTOCLAW_JOURNAL_DURABILTY: not a configuration variable (did you mean "FEMTOCLAW_JOURNAL_DURABILITY"?)`},
		{"env records", "", []string{"FEMTOCLAW_AUTH_TOKENS=x"}, nil,
			"FEMTOCLAW_AUTH_TOKENS: auth.tokens is a list of records (principal, sha256): give it in the configuration file"},
		{"env section", "", []string{"FEMTOCLAW_JOURNAL=x"}, nil,
			"FEMTOCLAW_JOURNAL: journal is a section: set its keys, such as FEMTOCLAW_JOURNAL_DURABILITY"},

		{"set enum", "", nil, []string{"log.level=verbose"},
			`--set log.level: want debug, info, warn or error, got "verbose"`},
		{"set codec near miss", "", nil, []string{"journal.codec=zstdd"},
			`--set journal.codec: want s2, zstd or none, got "zstdd" (did you mean "zstd"?)`},
		{"set bool", "", nil, []string{"ipc.enabled=maybe"},
			`--set ipc.enabled: want true or false, got "maybe"`},
		{"set unknown", "", nil, []string{"jornal.durability=always"},
			`--set jornal.durability: unknown key (did you mean "journal.durability"?)`},
		{"set no value", "", nil, []string{"journal.durability"},
			"--set journal.durability: want --set journal.durability=VALUE"},
		{"set records", "", nil, []string{"ipc.peers=x"},
			"--set ipc.peers: a list of records (uid, gid, principal): give it in the configuration file"},

		{"range from the file", "execution: {max_depth: 0}\n", nil, nil,
			"FILE:1: execution.max_depth: want 1..1000, got 0"},
		{"range from the env", "", []string{"FEMTOCLAW_EXECUTION_MAX_DEPTH=0"}, nil,
			"FEMTOCLAW_EXECUTION_MAX_DEPTH: want 1..1000, got 0"},
		{"range from --set", "", nil, []string{"telemetry.queue=-1"},
			"--set telemetry.queue: want 0..16777216, got -1"},
		{"record's line", "auth:\n  tokens:\n    - {principal: ci, sha256: abc}\n", nil, nil,
			"FILE:3: auth.tokens[0]: want a principal and a sha256 of 64 hex digits (sha256sum of the token)"},
		{"missing file", "", []string{"FEMTOCLAW_CONFIG=/nonexistent/fc.yaml"}, nil,
			"/nonexistent/fc.yaml: cannot read the configuration file (named by FEMTOCLAW_CONFIG): no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ""
			if tc.file != "" {
				f = writeConfig(t, tc.file)
			}
			lines := problemLines(t, f, tc.env, tc.sets)
			want := strings.ReplaceAll(tc.want, "FILE", f)
			if len(lines) != 1 || lines[0] != want {
				t.Fatalf("got %q\nwant %q", lines, want)
			}
			assertNoInternals(t, lines)
		})
	}
}

func TestConfigListsEveryProblem(t *testing.T) {
	f := writeConfig(t, `journel: {}
journal:
  durability: sometimes
  sync_interval: 10
capabilities:
  shell: {timeout: 10, enabled: maybe}
log: {level: verbose}
execution: {max_depth: 0}
`)
	lines := problemLines(t, f, []string{"FEMTOCLAW_JOURNAL_DURABILTY=interval", "FEMTOCLAW_LOG_FORMAT=xml"},
		[]string{"log.level=loud", "no.such=1"})
	want := []string{
		f + `:1: unknown key "journel" (did you mean "journal"?)`,
		f + `:3: journal.durability: want always, interval or off, got "sometimes"`,
		f + ":4: journal.sync_interval: want a duration such as 10s, got the number 10",
		f + ":6: capabilities.shell.timeout: want a duration such as 10s, got the number 10",
		f + `:6: capabilities.shell.enabled: want true or false, got "maybe"`,
		f + `:7: log.level: want debug, info, warn or error, got "verbose"`,
		`FEMTOCLAW_JOURNAL_DURABILTY: not a configuration variable (did you mean "FEMTOCLAW_JOURNAL_DURABILITY"?)`,
		`FEMTOCLAW_LOG_FORMAT: want json or text, got "xml"`,
		`--set log.level: want debug, info, warn or error, got "loud"`,
		`--set no.such: unknown key`,
		f + ":8: execution.max_depth: want 1..1000, got 0",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	assertNoInternals(t, lines)
}

func TestConfigEnvironmentVariables(t *testing.T) {
	// Not configuration: the file's name, the harness's variables, others.
	env := []string{"FEMTOCLAW_CONFIG=", "FEMTOCLAW_TEST_UPDATE_GOLDEN=1", "FEMTOCLAW_BENCH_DIR=/tmp", "HOME=/root", "femtoclaw_log_level=x",
		"FEMTOCLAW_LOG_LEVEL=warn", "FEMTOCLAW_LOG_LEVEL=error"} // the last of two wins
	cfg, err := loadConfig("", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "error" {
		t.Fatalf("log.level %q", cfg.Log.Level)
	}
	if got := cfg.origin.of("log.level"); got != (source{kind: srcEnv, name: "FEMTOCLAW_LOG_LEVEL"}) {
		t.Fatalf("origin %+v", got)
	}
	// Every other FEMTOCLAW_* variable is refused, even one close to the
	// harness's prefixes.
	for _, v := range []string{"FEMTOCLAW_TESTS_X=1", "FEMTOCLAW_CONFIGFILE=x", "FEMTOCLAW_=1", "FEMTOCLAW_BENCHDIR=x"} {
		if lines := problemLines(t, "", []string{v}, nil); len(lines) != 1 || !strings.Contains(lines[0], "not a configuration variable") {
			t.Errorf("%s: %q", v, lines)
		}
	}
	// A list from a variable is comma-separated.
	cfg, err = loadConfig("", []string{"FEMTOCLAW_LISTEN_ADMIN_HOSTS=a.example, b.example,"}, nil)
	if err != nil || !slices.Equal(cfg.Listen.AdminHosts, []string{"a.example", "b.example"}) {
		t.Fatalf("%v %q", err, cfg.Listen.AdminHosts)
	}
}

func TestConfigKeyTable(t *testing.T) {
	kt := keyTable()
	// One variable per leaf, and no two leaves share one.
	seen := map[string]string{}
	for _, k := range kt.leaves {
		if prev, dup := seen[k.env]; dup {
			t.Errorf("%s and %s both map to %s", prev, k.path, k.env)
		}
		seen[k.env] = k.path
		if kt.byEnv[k.env] != k || kt.byPath[k.path] != k {
			t.Errorf("%s: not indexed", k.path)
		}
	}
	// Every scalar field of Config is a leaf (the struct and the table
	// cannot disagree): count them independently.
	var count func(reflect.Type) int
	count = func(t reflect.Type) int {
		n := 0
		for i := range t.NumField() {
			f := t.Field(i)
			switch {
			case !f.IsExported():
			case f.Type.Kind() == reflect.Struct:
				n += count(f.Type)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			default:
				n++
			}
		}
		return n
	}
	if n := count(reflect.TypeFor[Config]()); n != len(kt.leaves) {
		t.Fatalf("Config has %d scalar fields, the key table %d leaves", n, len(kt.leaves))
	}
	// Every leaf can be set from a variable and from --set with the text
	// `femtoclaw config` prints for it, and reads back the same value.
	def, err := loadConfig("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kt.leaves {
		text := envText(k, k.value(def))
		for _, how := range []string{"env", "set"} {
			var cfg *Config
			if how == "env" {
				cfg, err = loadConfig("", []string{k.env + "=" + text}, nil)
			} else {
				cfg, err = loadConfig("", nil, []string{k.path + "=" + text})
			}
			if err != nil {
				t.Errorf("%s %s=%q: %v", how, k.path, text, err)
				continue
			}
			got, want := k.value(cfg), k.value(def)
			if got.Kind() == reflect.Slice && got.Len() == 0 && want.Len() == 0 {
				// "" reads as nil, as before; default.yaml's [] is
				// empty too. For shell.env the two differ (nil: the
				// default environment), and default.yaml leaves it nil.
				if k.path == "capabilities.shell.env" && (!got.IsNil() || !want.IsNil()) {
					t.Errorf("%s %s=%q: nil %v, want nil %v", how, k.path, text, got.IsNil(), want.IsNil())
				}
				continue
			}
			if !reflect.DeepEqual(got.Interface(), want.Interface()) {
				t.Errorf("%s %s=%q: read back %v, want %v", how, k.path, text, got, want)
			}
		}
	}
}

// envText is a leaf's value as a variable spells it.
func envText(k *configKey, v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return formatDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.Slice:
		return strings.Join(v.Interface().([]string), ",")
	}
	return strings.TrimSpace(strings.Trim(leafYAML(k, v), `"'`))
}

func TestConfigOrigins(t *testing.T) {
	f := writeConfig(t, "journal:\n  durability: interval\n  sync_interval: 20ms\nauth:\n  tokens:\n    - {principal: ci, sha256: \""+strings.Repeat("ab", 32)+"\"}\n")
	cfg, err := loadConfig(f, []string{"FEMTOCLAW_JOURNAL_CODEC=zstd"}, []string{"journal.segment_size=1048576"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]source{
		"journal.durability":    {kind: srcFile, name: f, line: 2},
		"journal.sync_interval": {kind: srcFile, name: f, line: 3},
		"journal.codec":         {kind: srcEnv, name: "FEMTOCLAW_JOURNAL_CODEC"},
		"journal.segment_size":  {kind: srcFlag, name: "journal.segment_size"},
		"auth.tokens":           {kind: srcFile, name: f, line: 5},
		"auth.tokens[0].sha256": {kind: srcFile, name: f, line: 6},
	} {
		if got := cfg.origin.of(path); got != want {
			t.Errorf("%s: origin %+v, want %+v", path, got, want)
		}
	}
	if got := cfg.origin.of("log.level"); got.kind != srcDefault || got.label() != "default" {
		t.Errorf("log.level: origin %+v", got)
	}
}

func TestConfigYAMLAnchorsAndMerges(t *testing.T) {
	f := writeConfig(t, `x-cap: &cap {enabled: true, timeout: 2s}
capabilities:
  echo: *cap
  noop:
    <<: *cap
    timeout: 3s
`)
	lines := problemLines(t, f, nil, nil)
	if len(lines) != 1 || !strings.Contains(lines[0], `unknown key "x-cap"`) {
		t.Fatalf("an unknown top-level key used as an anchor: %q", lines)
	}
	f = writeConfig(t, `capabilities:
  echo: &cap {enabled: true, timeout: 2s}
  noop:
    <<: *cap
    timeout: 3s
`)
	cfg, err := loadConfig(f, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Capabilities; c.Echo.Timeout != 2*time.Second || c.Noop.Timeout != 3*time.Second || !c.Noop.Enabled {
		t.Fatalf("echo %+v noop %+v", c.Echo, c.Noop)
	}
}
