package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// cmdCheck is `femtoclaw check [--config F] [--set k=v]`: it loads the
// configuration as serve would (defaults, file, FEMTOCLAW_* variables,
// --set), compiles the policy, builds the capabilities and checks them
// against each other, then lists every problem with where it is (on
// stderr) and exits 1, or prints "valid" (on stdout, after any warnings
// on stderr) and exits 0. It touches nothing in the data directory.
func cmdCheck(_ context.Context, inv *invocation, args []string) error {
	stdout, stderr, environ := inv.stdout, inv.stderr, inv.environ
	var c commonFlags
	flags := inv.flags(&c)
	pos, err := inv.parse(flags, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("check takes no arguments, got %q (name the file with --config FILE)", pos[0])
	}
	cfg, ps := resolveConfig(c.config, environ, c.sets)
	// What fails to build is added unless the configuration's own checks
	// already refused the same key (a negative pool_size is refused by
	// both).
	refused := map[string]bool{}
	for _, p := range ps {
		refused[p.key] = !p.warn
	}
	addErr := func(err error) {
		var ce *configError
		if !errors.As(err, &ce) {
			ps = append(ps, problem{msg: err.Error()})
			return
		}
		for _, p := range ce.problems {
			if p.key == "" || !refused[p.key] {
				ps = append(ps, p)
			}
		}
	}
	pol, _, err := loadPolicy(cfg)
	if err != nil {
		addErr(err)
	}
	if _, err := loadShadowPolicy(cfg); err != nil {
		addErr(err)
	}
	reg, err := loadRegistry(cfg)
	if err != nil {
		addErr(err)
	}
	ps = append(ps, capabilityProblems(cfg, reg, pol)...)
	errs, warns := 0, 0
	for _, p := range ps {
		fmt.Fprintln(stderr, p.String())
		if p.warn {
			warns++
		} else {
			errs++
		}
	}
	if errs > 0 {
		fmt.Fprintf(stderr, "invalid: %s, %s\n", plural(errs, "problem"), plural(warns, "warning"))
		return exitError(1)
	}
	fmt.Fprintln(stdout, "valid")
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// cmdConfig is `femtoclaw config [--config F] [--set k=v] [--schema]`:
// it prints the effective configuration as YAML, each key followed by
// where its value came from (# default, # FILE:LINE, # FEMTOCLAW_X,
// # --set). Secret values are not printed. Problems go to stderr after
// it, and make the exit status 1. --schema prints the configuration's
// JSON Schema instead (schema/config.schema.json).
func cmdConfig(_ context.Context, inv *invocation, args []string) error {
	stdout, stderr, environ := inv.stdout, inv.stderr, inv.environ
	var c commonFlags
	flags := inv.flags(&c)
	schema := flags.Bool("schema", false, "print the configuration's JSON Schema and exit")
	pos, err := inv.parse(flags, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("config takes no arguments, got %q (name the file with --config FILE)", pos[0])
	}
	if *schema {
		if c.config != "" || len(c.sets) > 0 {
			return usagef("--schema prints the schema of every configuration: --config and --set do not apply to it")
		}
		_, err := stdout.Write(configSchema())
		return err
	}
	cfg, ps := resolveConfig(c.config, environ, c.sets)
	if _, err := stdout.Write(annotatedYAML(cfg)); err != nil {
		return err
	}
	for _, p := range ps {
		fmt.Fprintln(stderr, p.String())
	}
	if len(errorsOf(ps)) > 0 {
		return exitError(1)
	}
	return nil
}

// redacted stands for a secret value in `femtoclaw config`.
const redacted = "<redacted>"

// annotatedYAML renders cfg as YAML that loads back to the same
// configuration (secret values aside), a comment after each key naming
// its source.
func annotatedYAML(cfg *Config) []byte {
	var lines [][2]string // text, comment
	var walk func(k *configKey, v reflect.Value, indent string)
	walk = func(k *configKey, v reflect.Value, indent string) {
		for _, c := range k.children {
			f := c.field(v)
			label := cfg.origin.of(c.path).label()
			if label == "" {
				label = "default" // a zero value no layer set
			}
			switch c.kind {
			case keySection:
				lines = append(lines, [2]string{indent + yamlKey(c.name) + ":", ""})
				walk(c, f, indent+"  ")
			case keyRecords:
				if f.Len() == 0 {
					lines = append(lines, [2]string{indent + yamlKey(c.name) + ": []", label})
					continue
				}
				lines = append(lines, [2]string{indent + yamlKey(c.name) + ":", label})
				for i := range f.Len() {
					lines = append(lines, [2]string{indent + "  - " + recordYAML(c, f.Index(i)), ""})
				}
			case keyLeaf:
				lines = append(lines, [2]string{indent + yamlKey(c.name) + ": " + leafYAML(c, f), label})
			}
		}
	}
	walk(keyTable().root, reflect.ValueOf(cfg).Elem(), "")
	width := 0
	for _, l := range lines {
		if n := utf8.RuneCountInString(l[0]); l[1] != "" && n <= 56 {
			width = max(width, n)
		}
	}
	var b bytes.Buffer
	b.WriteString("# The effective configuration: the embedded defaults < the file < FEMTOCLAW_*\n")
	b.WriteString("# variables < --set. After each key, where its value came from.\n")
	if slices.ContainsFunc(lines, func(l [2]string) bool { return strings.Contains(l[0], redacted) }) {
		b.WriteString("# Secret values are shown as " + redacted + ".\n")
	}
	for _, l := range lines {
		b.WriteString(l[0])
		if l[1] != "" {
			b.WriteString(strings.Repeat(" ", max(width-utf8.RuneCountInString(l[0]), 0)+2))
			b.WriteString("# " + l[1])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// yamlKey writes a key name ("fs.read" needs no quotes).
func yamlKey(name string) string { return flowYAML(strNode(name)) }

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// flowYAML encodes one node on one line.
func flowYAML(n *yaml.Node) string {
	out, err := yaml.Marshal(n)
	if err != nil {
		panic("config: " + err.Error())
	}
	return strings.TrimSuffix(string(out), "\n")
}

// leafNode is the YAML node of leaf k's value f.
func leafNode(k *configKey, f reflect.Value) *yaml.Node {
	switch {
	case f.Type() == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatDuration(time.Duration(f.Int()))}
	case f.Kind() == reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range f.Len() {
			s := f.Index(i).String()
			if k.secret != "" {
				s = redactEntry(s)
			} else if containsBearerToken(s) {
				s = redacted
			}
			seq.Content = append(seq.Content, strNode(s))
		}
		return seq
	case f.Kind() == reflect.String:
		s := f.String()
		if s != "" && (k.secret != "" && !(k.secret == "unless-sha256" && isSHA256Hex(s)) || containsBearerToken(s)) {
			s = redacted
		}
		return strNode(s)
	case f.Kind() == reflect.Pointer:
		if f.IsNil() {
			return nil
		}
		return leafNode(k, f.Elem())
	}
	var n yaml.Node
	if err := n.Encode(f.Interface()); err != nil {
		panic("config: " + err.Error())
	}
	return &n
}

func leafYAML(k *configKey, f reflect.Value) string { return flowYAML(leafNode(k, f)) }

// isSHA256Hex reports whether s is a SHA-256 in hex (64 digits).
func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// isBearerToken reports whether s is a bearer token as serve and
// `femtoclaw token create` make them ("fct_" and 64 hex digits), which
// `femtoclaw config` never prints, whatever key holds it.
func isBearerToken(s string) bool {
	rest, ok := strings.CutPrefix(s, bearerTokenPrefix)
	return ok && isSHA256Hex(rest)
}

// containsBearerToken reports whether a bearer token appears in s.
func containsBearerToken(s string) bool {
	for i := strings.Index(s, bearerTokenPrefix); i >= 0; {
		if rest := s[i+len(bearerTokenPrefix):]; len(rest) >= 64 && isSHA256Hex(rest[:64]) {
			return true
		}
		j := strings.Index(s[i+1:], bearerTokenPrefix)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// redactEntry hides the value of a KEY=value entry, unless the
// variable is one that holds no secret (PATH, LANG, LC_*, TZ…).
func redactEntry(s string) string {
	name, _, ok := strings.Cut(s, "=")
	switch {
	case !ok:
		return redacted
	case (plainEnv[name] || strings.HasPrefix(name, "LC_")) && !strings.Contains(s, bearerTokenPrefix):
		return s
	}
	return name + "=" + redacted
}

// plainEnv are environment variables shown as they are.
var plainEnv = map[string]bool{"PATH": true, "LANG": true, "LANGUAGE": true, "TZ": true, "HOME": true, "TMPDIR": true, "TERM": true, "USER": true, "LOGNAME": true}

// recordYAML writes one record of list k as a flow mapping.
func recordYAML(k *configKey, v reflect.Value) string {
	m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for _, c := range k.children {
		if n := leafNode(c, c.field(v)); n != nil {
			m.Content = append(m.Content, strNode(c.name), n)
		}
	}
	return flowYAML(m)
}

// formatDuration writes d as a duration the configuration reads back,
// without zero units: 24h, 1m, 1h30m, 5ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
