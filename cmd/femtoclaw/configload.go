package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/internal/yamlerr"
)

// Loading a configuration: the embedded defaults, then the file, then
// the FEMTOCLAW_* variables, then --set, each layer decoded through the
// key table (configkeys.go) and recorded, key by key, in the Config's
// origins. Every problem of every layer is collected, not only the
// first, and each names where it is (FILE:LINE, FEMTOCLAW_X or
// --set key), the key, and what to write instead:
//
//	fc.yaml:3: unknown key "journel" (did you mean "journal"?)
//	fc.yaml:9: capabilities.shell.timeout: want a duration such as 10s, got the number 10
//	FEMTOCLAW_JOURNAL_DURABILTY: not a configuration variable (did you mean "FEMTOCLAW_JOURNAL_DURABILITY"?)
//	--set log.level: want debug, info, warn or error, got "verbose"
//
// A value that fails is not applied: the layer below stays.

// srcKind is the layer a value came from.
type srcKind uint8

const (
	srcNone    srcKind = iota // not known (a problem that concerns no one key)
	srcDefault                // the embedded default.yaml
	srcFile                   // the configuration file
	srcEnv                    // a FEMTOCLAW_* variable
	srcFlag                   // --set (or a command's shorthand flag)
)

// source is where a value came from.
type source struct {
	kind srcKind
	name string // the file's name; the variable; the key, for a flag
	line int    // in the file (1-based), 0 if not known
	col  int    // in the file (1-based), 0 if not known (a policy's problems have one)
	flag string // the command's own flag that set the key ("--durability"), "" for --set
}

// String is the source as problems cite it: "fc.yaml:12",
// "policy.yaml:3:7", "FEMTOCLAW_LOG_LEVEL", "--set log.level",
// "--durability"; "" for the defaults.
func (s source) String() string {
	switch s.kind {
	case srcFile, srcDefault:
		switch {
		case s.line > 0 && s.col > 0:
			return s.name + ":" + strconv.Itoa(s.line) + ":" + strconv.Itoa(s.col)
		case s.line > 0:
			return s.name + ":" + strconv.Itoa(s.line)
		}
		return s.name
	case srcEnv:
		return s.name
	case srcFlag:
		if s.flag != "" {
			return s.flag
		}
		return "--set " + s.name
	}
	return ""
}

// label is the source as `femtoclaw config` annotates a key: "default",
// "fc.yaml:12", "FEMTOCLAW_LOG_LEVEL", "--set", "--data-dir".
func (s source) label() string {
	switch s.kind {
	case srcDefault:
		return "default"
	case srcFlag:
		if s.flag != "" {
			return s.flag
		}
		return "--set"
	}
	return s.String()
}

// flagValue is a key set by a command's own flag rather than by --set
// (serve --durability, --data-dir): problems and `femtoclaw config` name
// the flag. Flags are applied after --set, so they win.
type flagValue struct {
	flag  string // as the user types it: "--durability"
	key   string // "journal.durability"
	value string
}

// origins maps a key's path ("journal.durability", "auth.tokens[0]") to
// the source of its value.
type origins map[string]source

// of returns the source of the value at path, or of the nearest key
// above it that has one ("auth.tokens[0].sha256" → "auth.tokens[0]" →
// "auth.tokens").
func (o origins) of(path string) source {
	for path != "" {
		if s, ok := o[path]; ok {
			return s
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return source{}
}

// sourced fills in p's source: where the value of its key (or of p.at)
// came from, none for a default.
func (c *Config) sourced(p problem) problem {
	at := p.at
	if at == "" {
		at = p.key
	}
	p.src = c.origin.of(at)
	if p.src.kind == srcDefault {
		p.src = source{}
	}
	return p
}

// problem is one thing wrong with a configuration (or, with warn, one
// thing that works but probably not as meant).
type problem struct {
	src  source // where the offending value came from
	key  string // the key concerned ("" for none, or when src names it)
	msg  string // what is wrong and what to write instead
	warn bool
	at   string // the key whose source src is, when not key (a section's problem found at its enabled)
}

func (p problem) String() string {
	var b strings.Builder
	if p.warn {
		b.WriteString("warning: ")
	}
	if s := p.src.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	// A variable or --set names its key already.
	if p.key != "" && !((p.src.kind == srcEnv || p.src.kind == srcFlag) && keyOfSource(p.src) == p.key) {
		b.WriteString(p.key)
		b.WriteString(": ")
	}
	b.WriteString(p.msg)
	return b.String()
}

// keyOfSource is the key a variable or --set source sets.
func keyOfSource(s source) string {
	if s.kind == srcFlag {
		return s.name
	}
	if k := keyTable().byEnv[s.name]; k != nil {
		return k.path
	}
	return ""
}

// configError is a configuration that cannot be used: every problem,
// one per line.
type configError struct{ problems []problem }

func (e *configError) Error() string {
	lines := make([]string, len(e.problems))
	for i, p := range e.problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// joinConfigErrors returns one *configError with the problems of every
// *configError among errs, or the first error that is not one; nil when
// all are nil.
func joinConfigErrors(errs ...error) error {
	var ps []problem
	for _, err := range errs {
		var ce *configError
		switch {
		case err == nil:
		case errors.As(err, &ce):
			ps = append(ps, ce.problems...)
		default:
			return err
		}
	}
	if len(ps) > 0 {
		return &configError{ps}
	}
	return nil
}

// errorsOf returns the problems that are not warnings.
func errorsOf(ps []problem) []problem {
	var out []problem
	for _, p := range ps {
		if !p.warn {
			out = append(out, p)
		}
	}
	return out
}

// loadConfig resolves the effective configuration: defaults, then the
// file (if any; else FEMTOCLAW_CONFIG's), then the environment, then the
// --set overrides (already parsed into sets, "key.path=value"), then the
// command's own flags. The error (a *configError) lists every problem.
func loadConfig(file string, environ []string, sets []string, flags ...flagValue) (*Config, error) {
	cfg, problems := resolveConfig(file, environ, sets, flags...)
	if len(problems) > 0 {
		return nil, &configError{problems}
	}
	return cfg, nil
}

// resolveConfig is loadConfig that returns the configuration even when
// it has problems (with each failed value left as the layer below set
// it), for `femtoclaw check` and `femtoclaw config`.
func resolveConfig(file string, environ []string, sets []string, flags ...flagValue) (*Config, []problem) {
	l := &loader{cfg: &Config{origin: origins{}}}
	l.decodeFile(source{kind: srcDefault, name: "default.yaml (embedded)"}, defaultConfigYAML)
	how := "--config"
	if file == "" {
		file, how = lookupEnv(environ, envConfigFile), envConfigFile
	}
	if file != "" {
		src := source{kind: srcFile, name: file}
		data, err := readSmallFile(file, maxConfigBytes)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			l.add(problem{src: src, msg: fmt.Sprintf("cannot read the configuration file (named by %s): %v", how, err)})
		} else {
			l.decodeFile(src, data)
		}
	}
	l.applyEnv(environ)
	for _, s := range sets {
		l.applySet(s)
	}
	for _, f := range flags {
		l.setKey(source{kind: srcFlag, name: f.key, flag: f.flag}, f.value)
	}
	for _, p := range l.cfg.problems() {
		l.add(l.cfg.sourced(p))
	}
	return l.cfg, l.problems
}

// maxConfigBytes bounds a configuration file: a configuration is a few
// kilobytes; 4 MiB holds tens of thousands of auth.tokens entries.
const maxConfigBytes = 4 << 20

// errTooLarge is readSmallFile's error for a file over its limit.
type errTooLarge int

func (e errTooLarge) Error() string {
	return fmt.Sprintf("it is larger than %d MiB, more than a configuration or policy can be (is it the right file?)", int(e)>>20)
}

// readSmallFile reads a file of at most limit bytes: a larger one (or a
// device such as /dev/zero) is refused without reading it all.
func readSmallFile(name string, limit int) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, errTooLarge(limit)
	}
	return data, nil
}

func lookupEnv(environ []string, key string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// loader applies the layers to cfg, collecting problems.
type loader struct {
	cfg      *Config
	problems []problem
	// budget is how many more mappings the document being decoded may
	// apply: a merge key (<<) can repeat a mapping, and a mapping merged
	// into itself, or merges of merges of one anchor, would not end.
	budget  int
	applied map[*yaml.Node]bool // the mappings being applied (section calls on the stack)
}

func (l *loader) add(p problem) { l.problems = append(l.problems, p) }

// set stores v in f and records its source under path.
func (l *loader) set(f reflect.Value, v reflect.Value, path string, src source) {
	f.Set(v)
	for p := range l.cfg.origin { // a replaced list of records replaces its records' origins
		if strings.HasPrefix(p, path+"[") {
			delete(l.cfg.origin, p)
		}
	}
	l.cfg.origin[path] = src
}

// decodeFile applies one YAML document.
func (l *loader) decodeFile(src source, data []byte) {
	l.budget = len(data) + 1000 // a mapping takes at least two bytes, unless an alias repeats it
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) { // an empty file sets nothing
			l.syntaxProblem(src, data, err)
		}
		return
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		at := src
		at.line = extra.Line
		l.add(problem{src: at, msg: "a second YAML document: a configuration is one document (remove the ---)"})
	case !errors.Is(err, io.EOF):
		l.syntaxProblem(src, data, err)
	}
	if len(doc.Content) == 0 {
		return
	}
	l.section(src, doc.Content[0], keyTable().root, reflect.ValueOf(l.cfg).Elem(), "")
}

// syntaxProblem reports a YAML syntax error at its line.
func (l *loader) syntaxProblem(src source, data []byte, err error) {
	line, msg := yamlerr.Locate(data, err)
	src.line = line
	l.add(problem{src: src, msg: "not valid YAML: " + msg})
}

// resolveAlias follows *alias nodes to what they name.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func at(src source, n *yaml.Node) source {
	src.line = n.Line
	return src
}

// section applies mapping n to v, the struct (or record) that k
// describes, at path.
func (l *loader) section(src source, n *yaml.Node, k *configKey, v reflect.Value, path string) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := "a mapping of configuration keys"
		if path != "" {
			what = "a mapping of keys (" + strings.Join(k.childNames(), ", ") + ")"
		}
		l.add(problem{src: at(src, n), key: path, msg: "want " + what + ", got " + describeNode(n)})
		return
	}
	if l.applied[n] {
		l.add(problem{src: at(src, n), key: path, msg: "a merge key (<<) merges this mapping into itself: remove it"})
		return
	}
	if l.budget--; l.budget < 0 {
		if l.budget == -1 {
			l.add(problem{src: at(src, n), msg: "the document repeats mappings too often through merge keys (<<) and aliases: write the keys out"})
		}
		return
	}
	if l.applied == nil {
		l.applied = map[*yaml.Node]bool{}
	}
	l.applied[n] = true
	defer delete(l.applied, n)
	// Merge keys (<<: *anchor) first, so the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if kn := n.Content[i]; kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			m := resolveAlias(n.Content[i+1])
			if m.Kind == yaml.SequenceNode {
				for _, e := range m.Content {
					l.section(src, e, k, v, path)
				}
			} else {
				l.section(src, m, k, v, path)
			}
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolveAlias(n.Content[i]), n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			continue
		}
		if kn.Kind != yaml.ScalarNode {
			l.add(problem{src: at(src, kn), key: path, msg: "a key must be a name, got " + describeNode(kn)})
			continue
		}
		name := kn.Value
		if first, dup := seen[name]; dup {
			l.add(problem{src: at(src, kn), msg: fmt.Sprintf("key %q is given twice in %s (first at line %d): keep one", name, orTop(path), first)})
			continue
		}
		seen[name] = kn.Line
		c := k.child(name)
		if c == nil {
			l.add(problem{src: at(src, kn), msg: unknownKey(name, k, path)})
			continue
		}
		cpath := name
		if path != "" {
			cpath = path + "." + name
		}
		f := c.field(v)
		switch c.kind {
		case keySection:
			l.section(src, vn, c, f, cpath)
		case keyRecords:
			l.records(src, kn, vn, c, f, cpath)
		case keyLeaf:
			val, msg := parseNode(c, vn)
			if msg != "" {
				l.add(problem{src: at(src, kn), key: cpath, msg: msg})
				continue
			}
			l.set(f, val, cpath, at(src, kn))
		}
	}
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// unknownKey is the message for a key k does not have: a close name
// among k's keys, else the place the name belongs when it is a key
// elsewhere ("durability" at the top: journal.durability).
func unknownKey(name string, k *configKey, path string) string {
	msg := fmt.Sprintf("unknown key %q", name)
	if path != "" {
		msg += " in " + path
	}
	if h := suggest.Hint(name, k.childNames()); h != "" {
		return msg + h
	}
	t := keyTable()
	full := name
	if path != "" {
		full = path + "." + name
	}
	if _, ok := t.byPath[full]; ok && strings.Contains(name, ".") { // "journal.durability: x" written flat
		return msg + fmt.Sprintf(" (write it nested: %s)", nestedHint(name))
	}
	var elsewhere []string
	for p, c := range t.byPath {
		if c.name == name && c.parent != k {
			elsewhere = append(elsewhere, p)
		}
	}
	if len(elsewhere) == 1 {
		return msg + fmt.Sprintf(" (did you mean %q?)", elsewhere[0])
	}
	return msg
}

// nestedHint writes a dotted key as YAML flow mappings:
// "journal.durability" → "journal: {durability: …}".
func nestedHint(dotted string) string {
	parts := strings.Split(dotted, ".")
	s := parts[len(parts)-1] + ": …"
	for i := len(parts) - 2; i >= 0; i-- {
		s = parts[i] + ": {" + s + "}"
	}
	return s
}

// records applies a list of records (auth.tokens): the file's list
// replaces the one below it.
func (l *loader) records(src source, kn, n *yaml.Node, k *configKey, f reflect.Value, path string) {
	n = resolveAlias(n)
	list := reflect.MakeSlice(f.Type(), 0, len(n.Content))
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
	case n.Kind != yaml.SequenceNode:
		l.add(problem{src: at(src, kn), key: path, msg: "want a list of mappings (" + strings.Join(k.childNames(), ", ") + "), got " + describeNode(n)})
		return
	}
	before := len(l.problems)
	elems := map[string]source{}
	for i, e := range n.Content {
		ev := reflect.New(f.Type().Elem()).Elem()
		epath := path + "[" + strconv.Itoa(i) + "]"
		l.section(src, e, k, ev, epath)
		list = reflect.Append(list, ev)
		elems[epath] = at(src, resolveAlias(e))
	}
	if len(l.problems) > before {
		return
	}
	l.set(f, list, path, at(src, kn))
	for p, s := range elems {
		l.cfg.origin[p] = s
	}
}

// applyEnv applies every FEMTOCLAW_* variable, in the order given (the
// last of two equal names wins). A variable that names no key is a
// problem.
func (l *loader) applyEnv(environ []string) {
	t := keyTable()
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || name == envConfigFile || ignoredEnv(name) {
			continue
		}
		src := source{kind: srcEnv, name: name}
		k := t.byEnv[name]
		if k == nil {
			l.add(problem{src: src, msg: unknownEnv(name)})
			continue
		}
		v, msg := parseText(k, val)
		if msg != "" {
			l.add(problem{src: src, msg: msg})
			continue
		}
		l.set(k.value(l.cfg), v, k.path, src)
	}
}

func ignoredEnv(name string) bool {
	for _, p := range envIgnoredPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// unknownEnv is the message for a FEMTOCLAW_* variable that sets no key.
func unknownEnv(name string) string {
	t := keyTable()
	for p, k := range t.byPath {
		if k.kind == keyRecords && envName(p) == name {
			return fmt.Sprintf("%s is a list of records (%s): give it in the configuration file", p, strings.Join(k.childNames(), ", "))
		}
		if k.kind == keySection && envName(p) == name {
			return fmt.Sprintf("%s is a section: set its keys, such as %s", p, k.firstLeaf().env)
		}
	}
	if h := suggest.Hint(name, t.envs); h != "" {
		return "not a configuration variable" + h
	}
	return "not a configuration variable: every FEMTOCLAW_* variable sets a key (`femtoclaw config` lists the keys; FEMTOCLAW_CONFIG names the file; FEMTOCLAW_TEST_* and FEMTOCLAW_BENCH_* are left to the test harness)"
}

// applySet applies one --set key.path=value.
func (l *loader) applySet(s string) {
	path, val, ok := strings.Cut(s, "=")
	src := source{kind: srcFlag, name: path}
	switch t := keyTable(); {
	case !ok && t.byPath[s] != nil:
		l.add(problem{src: src, msg: "want --set " + s + "=VALUE"})
	case !ok:
		l.add(problem{src: source{kind: srcFlag, name: s}, msg: "want --set key.path=value"})
	case path == "":
		l.add(problem{src: source{kind: srcFlag, name: s}, msg: "want --set key.path=value: the key is missing before the ="})
	case strings.TrimSpace(path) != path && t.byPath[strings.TrimSpace(path)] != nil:
		src.name = strings.TrimSpace(path)
		l.add(problem{src: src, msg: fmt.Sprintf("write it with no space around the key: --set %s=%s", src.name, strings.TrimSpace(val))})
	default:
		l.setKey(src, val)
	}
}

// setKey applies the text val to the key src names (--set or a flag).
func (l *loader) setKey(src source, val string) {
	t := keyTable()
	path := src.name
	k := t.byPath[path]
	switch {
	case k == nil:
		l.add(problem{src: src, msg: unknownSetKey(path)})
		return
	case k.kind == keyRecords:
		l.add(problem{src: src, msg: fmt.Sprintf("a list of records (%s): give it in the configuration file", strings.Join(k.childNames(), ", "))})
		return
	case k.kind == keySection:
		l.add(problem{src: src, msg: fmt.Sprintf("a section: set its keys, such as %s", k.firstLeaf().path)})
		return
	}
	v, msg := parseText(k, val)
	if msg != "" {
		l.add(problem{src: src, msg: msg})
		return
	}
	l.set(k.value(l.cfg), v, k.path, src)
}

// unknownSetKey is the message for --set with a key that is not one: a
// close key, the key of a variable given instead, the list of records a
// record's key belongs to, or the one key of that name elsewhere.
func unknownSetKey(path string) string {
	t := keyTable()
	paths := make([]string, len(t.leaves))
	for i, c := range t.leaves {
		paths[i] = c.path
	}
	if h := suggest.Hint(path, paths); h != "" {
		return "unknown key" + h
	}
	if k := t.byEnv[path]; k != nil {
		return fmt.Sprintf("unknown key: --set takes the key, %s (%s is its environment variable)", k.path, path)
	}
	if i := strings.IndexByte(path, '['); i > 0 {
		if k := t.byPath[path[:i]]; k != nil && k.kind == keyRecords {
			return fmt.Sprintf("%s is a list of records (%s): give it in the configuration file", k.path, strings.Join(k.childNames(), ", "))
		}
	}
	var elsewhere []string
	for _, c := range t.leaves {
		if c.name == path {
			elsewhere = append(elsewhere, c.path)
		}
	}
	if len(elsewhere) == 1 {
		return fmt.Sprintf("unknown key (did you mean %q?)", elsewhere[0])
	}
	return "unknown key"
}

// What a key of each type wants, as problems say it.
func want(k *configKey) string {
	t := k.typ
	switch {
	case len(k.enum) > 0:
		return orList(k.enum)
	case t == durationType:
		return "a duration such as 10s"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Pointer:
		e := t.Elem()
		return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<e.Bits()-1)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "an integer"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list such as [a, b]"
	}
	return "a string"
}

// orList writes "a, b or c".
func orList(vals []string) string {
	if len(vals) == 1 {
		return vals[0]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

// quoted quotes a value for a message, shortened past 64 bytes; a
// value holding a bearer token is not shown.
func quoted(s string) string {
	if strings.Contains(s, bearerTokenPrefix) && containsBearerToken(s) {
		return "a bearer token (not shown)"
	}
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return strconv.Quote(s)
}

// describeNode says what a YAML node is, for "got …".
func describeNode(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "no value"
	case "!!int", "!!float":
		if strings.EqualFold(n.Value, ".nan") {
			return n.Value + " (not a number)"
		}
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return quoted(n.Value)
}

// badValue is the message for a value that does not fit k.
func badValue(k *configKey, got string) string {
	msg := "want " + want(k) + ", got " + got
	if k.typ.Kind() == reflect.String && len(k.enum) == 0 && got == "no value" {
		msg += ` (write "" for an empty string, or leave the key out to keep the default)`
	}
	return msg
}

// checkEnum refuses a string that is not one of k's values.
func checkEnum(k *configKey, s string) string {
	if len(k.enum) == 0 {
		return ""
	}
	for _, e := range k.enum {
		if s == e {
			return ""
		}
	}
	return "want " + orList(k.enum) + ", got " + quoted(s) + suggest.Hint(s, k.enum)
}

// parseNode decodes a YAML value for leaf k. The message is "" when it fits.
func parseNode(k *configKey, n *yaml.Node) (reflect.Value, string) {
	n = resolveAlias(n)
	t := k.typ
	v := reflect.New(t).Elem()
	if t.Kind() == reflect.Slice { // a list of strings
		switch {
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
			return v, "" // nil: for shell.env, "the default environment"; [] is an empty one
		case n.Kind != yaml.SequenceNode:
			return v, badValue(k, describeNode(n))
		}
		list := make([]string, 0, len(n.Content))
		for i, e := range n.Content {
			e = resolveAlias(e)
			if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" {
				return v, fmt.Sprintf("want a list of strings, got %s at item %d", describeNode(e), i)
			}
			list = append(list, e.Value)
		}
		return reflect.ValueOf(list), ""
	}
	if n.Kind != yaml.ScalarNode {
		return v, badValue(k, describeNode(n))
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		return v, badValue(k, "no value")
	}
	bad := func() (reflect.Value, string) {
		msg := badValue(k, describeNode(n))
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && textFits(k, n.Value) {
			msg += " (a string: write it without quotes)"
		}
		return v, msg
	}
	switch {
	case t == durationType:
		if tag != "!!str" {
			return bad()
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return bad()
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		if msg := checkEnum(k, n.Value); msg != "" {
			return v, msg
		}
		v.SetString(n.Value) // numbers and booleans as written (a uid for run_as)
	case t.Kind() == reflect.Bool:
		var b bool
		if (tag != "!!bool" && tag != "!!str") || n.Decode(&b) != nil { // "yes"/"no" are read as YAML 1.1 booleans
			return bad()
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		x, ok := nodeInt(n)
		if !ok || v.OverflowInt(x) {
			return bad()
		}
		v.SetInt(x)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Uint32:
		x, ok := nodeInt(n)
		if !ok || x < 0 || x > math.MaxUint32 {
			return bad()
		}
		p := reflect.New(t.Elem())
		p.Elem().SetUint(uint64(x))
		v.Set(p)
	case t.Kind() == reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil || math.IsNaN(f) {
			return bad()
		}
		v.SetFloat(f)
	default:
		panic("configuration key " + k.path + ": unsupported type " + t.String())
	}
	return v, ""
}

// textFits reports whether s, as a variable or --set would give it,
// is a value of leaf k.
func textFits(k *configKey, s string) bool {
	if k.typ.Kind() == reflect.Pointer { // ipc.peers[].uid, gid
		_, err := strconv.ParseUint(s, 10, 32)
		return err == nil
	}
	_, msg := parseText(k, s)
	return msg == ""
}

// nodeInt reads an integer scalar (YAML's forms: 1_000, 0x10; a float
// only when it is a whole number, 1e6).
func nodeInt(n *yaml.Node) (int64, bool) {
	switch n.ShortTag() {
	case "!!int":
		var x int64
		return x, n.Decode(&x) == nil
	case "!!float":
		var f float64
		if n.Decode(&f) != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

// parseText decodes a variable's or --set's text for leaf k: lists are
// comma-separated. The message is "" when it fits.
func parseText(k *configKey, s string) (reflect.Value, string) {
	t := k.typ
	v := reflect.New(t).Elem()
	bad := func() (reflect.Value, string) { return v, "want " + want(k) + ", got " + quoted(s) }
	switch {
	case t == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad()
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		if msg := checkEnum(k, s); msg != "" {
			return v, msg
		}
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad()
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return bad()
		}
		v.SetInt(n)
	case t.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) {
			return bad()
		}
		v.SetFloat(x)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		var parts []string // "" is nil, as ~ is in a file
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		panic("configuration key " + k.path + ": unsupported type " + t.String())
	}
	return v, ""
}
