package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// The raw document, as decoded. Unknown keys are rejected by the decoder
// (KnownFields), duplicate keys by YAML itself.
type rawDoc struct {
	Version      *int                  `yaml:"version"`
	Default      *string               `yaml:"default"`
	Groups       map[string]strList    `yaml:"groups"`
	Rules        []rawRule             `yaml:"rules"`
	Shell        *rawShort             `yaml:"shell"`
	Capabilities map[string]rawCapConf `yaml:"capabilities"`
	Policy       *rawDoc               `yaml:"policy"`
}

type rawShort struct {
	AllowedCommands strList `yaml:"allowed_commands"`
}

// rawCapConf is one entry of the spec's `capabilities` map (05 §10).
// enabled belongs to the capability registry and is ignored here.
type rawCapConf struct {
	Enabled         *bool   `yaml:"enabled"`
	AllowedCommands strList `yaml:"allowed_commands"`
}

type rawRule struct {
	ID           string              `yaml:"id"`
	Effect       string              `yaml:"effect"`
	Principals   strList             `yaml:"principals"`
	Principal    strList             `yaml:"principal"`
	Capabilities strList             `yaml:"capabilities"`
	Capability   strList             `yaml:"capability"`
	Args         map[string]*rawCons `yaml:"args"`
}

type rawCons struct {
	Type            string    `yaml:"type"`
	Optional        bool      `yaml:"optional"`
	In              anyList   `yaml:"in"`
	NotIn           anyList   `yaml:"not_in"`
	MinLen          *int      `yaml:"min_len"`
	MaxLen          *int      `yaml:"max_len"`
	Prefix          strList   `yaml:"prefix"`
	NotPrefix       strList   `yaml:"not_prefix"`
	Suffix          strList   `yaml:"suffix"`
	NotSuffix       strList   `yaml:"not_suffix"`
	Contains        strList   `yaml:"contains"`
	NotContains     strList   `yaml:"not_contains"`
	Regex           strList   `yaml:"regex"`
	NotRegex        strList   `yaml:"not_regex"`
	MinItems        *int      `yaml:"min_items"`
	MaxItems        *int      `yaml:"max_items"`
	Items           *rawCons  `yaml:"items"`
	ContainsItem    anyList   `yaml:"contains_item"`
	NotContainsItem anyList   `yaml:"not_contains_item"`
	Range           *[]number `yaml:"range"`
	CIDR            strList   `yaml:"cidr"`
	URLScheme       strList   `yaml:"url_scheme"`
	URLHost         strList   `yaml:"url_host"`
	PathUnder       strList   `yaml:"path_under"`
	PathNotUnder    strList   `yaml:"path_not_under"`

	// The option grammar (argv.go).
	ArgvOptions    *rawOptions    `yaml:"argv_options"`
	ArgvSubcommand *rawSubcommand `yaml:"argv_subcommand"`

	// Aliases from the spec digest's recommended format.
	ItemMaxLen  *int    `yaml:"item_max_len"` // = items: {max_len: N}
	DenyPattern strList `yaml:"deny_pattern"` // = not_regex
}

// strList is a list of strings that may also be written as one string.
type strList struct {
	vals []string
	set  bool
}

func (l *strList) UnmarshalYAML(n *yaml.Node) error {
	l.set = true
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return fmt.Errorf("line %d: want a string or a list of strings, got null", n.Line)
		}
		l.vals = []string{n.Value}
		return nil
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return fmt.Errorf("line %d: want a string", c.Line)
			}
			l.vals = append(l.vals, c.Value)
		}
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// anyList is a list of JSON scalars (string, number, boolean). Numbers
// are held as number, exactly as written.
type anyList struct {
	vals []any
	set  bool
}

func (l *anyList) UnmarshalYAML(n *yaml.Node) error {
	l.set = true
	if n.Kind == yaml.ScalarNode {
		var one any
		if err := n.Decode(&one); err != nil {
			return err
		}
		l.vals = []any{exactNumber(n, one)}
		return nil
	}
	var v []any
	if err := n.Decode(&v); err != nil {
		return err
	}
	var elems []scalarNode // again, now keeping each number's text
	if err := n.Decode(&elems); err != nil {
		return err
	}
	l.vals = make([]any, len(elems))
	for i, e := range elems {
		l.vals[i] = e.v
	}
	return nil
}

// scalarNode is one element of an anyList.
type scalarNode struct{ v any }

func (s *scalarNode) UnmarshalYAML(n *yaml.Node) error {
	if err := n.Decode(&s.v); err != nil {
		return err
	}
	s.v = exactNumber(n, s.v)
	return nil
}

// number is a number written in the policy document, kept exactly.
type number struct {
	f     float64          // as float64: for the NaN and infinity checks
	d     protocol.Decimal // the exact value (0 when f is NaN or infinite)
	lit   string           // the exact value as a JSON literal ("" when f is NaN or infinite)
	isInt bool             // a YAML integer (42, 0x2a, 0o52)
}

// exactNumber returns v, the value YAML decoded from the scalar n, as a
// number when it is a finite one, else v unchanged. YAML integers are
// exact as decoded (0x10 and 010 are YAML integers); a float is read from
// its text, so 9007199254740993.0 keeps the digits float64 would round.
func exactNumber(n *yaml.Node, v any) any {
	x := number{isInt: true}
	switch y := v.(type) {
	case int:
		x.f, x.lit = float64(y), strconv.Itoa(y)
	case int64:
		x.f, x.lit = float64(y), strconv.FormatInt(y, 10)
	case uint64:
		x.f, x.lit = float64(y), strconv.FormatUint(y, 10)
	case float64:
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return v
		}
		x.f, x.isInt = y, false
		lit, ok := jsonNumber(n.Value)
		if !ok {
			lit = strconv.FormatFloat(y, 'g', -1, 64)
		}
		x.lit = lit
	default:
		return v
	}
	x.d, _ = protocol.ParseDecimal(x.lit)
	return x
}

// jsonNumber rewrites a YAML float's text ("+1.5", ".5", "1.", "00.5e3")
// as a JSON number literal. ok is false when the result is not one.
func jsonNumber(s string) (string, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	lit := intPart
	if frac != "" {
		lit += "." + frac
	}
	lit += exp
	if neg {
		lit = "-" + lit
	}
	_, ok := protocol.ParseDecimal(lit)
	return lit, ok
}

// text is the number's canonical text: float64's shortest form when that
// is exactly the value written (so 1.50 prints 1.5 and 1e7 prints 1e+07),
// else the exact literal.
func (x *number) text() string {
	if x.lit == "" {
		return strconv.FormatFloat(x.f, 'g', -1, 64)
	}
	fs := strconv.FormatFloat(x.f, 'g', -1, 64)
	if c, ok := protocol.CompareDecimal(fs, x.lit); ok && c == 0 {
		return fs
	}
	return x.lit
}

// UnmarshalYAML reads a range bound: anything YAML decodes as a float64
// (with the same errors), kept exactly.
func (x *number) UnmarshalYAML(n *yaml.Node) error {
	var f float64
	if err := n.Decode(&f); err != nil {
		return err
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	if num, ok := exactNumber(n, v).(number); ok {
		*x = num
		return nil
	}
	*x = number{f: f} // NaN, an infinity, or null (0)
	if !math.IsNaN(f) && !math.IsInf(f, 0) {
		x.lit = strconv.FormatFloat(f, 'g', -1, 64)
		x.d, _ = protocol.ParseDecimal(x.lit)
	}
	return nil
}

// inf is -1 or +1 for an infinite bound, 0 for a finite one.
func (x *number) inf() int {
	switch {
	case math.IsInf(x.f, 1):
		return 1
	case math.IsInf(x.f, -1):
		return -1
	}
	return 0
}

// cmp compares two non-NaN numbers exactly, infinities included.
func (x *number) cmp(y *number) int {
	if a, b := x.inf(), y.inf(); a != 0 || b != 0 {
		return a - b // both in -1..1: equal infinities give 0
	}
	return x.d.Cmp(&y.d)
}

var errNotKnown = regexp.MustCompile(`field (\S+) not found in type policy\.\w+`)

func cfgErr(format string, args ...any) *protocol.Error {
	return protocol.NewError(protocol.CategoryConfiguration, "policy", "policy: "+fmt.Sprintf(format, args...))
}

// Parse decodes a policy document (YAML, or JSON, which is read as YAML),
// validates it and compiles it. Every problem is reported as a
// *protocol.Error of category CONFIGURATION_ERROR whose message names the
// place (`rules[2] (id "P3"): args.bin.regex: …`): unknown or duplicate
// keys, a second document, `default: allow`, unknown groups, bad globs,
// regexes, CIDRs, ranges, empty lists, duplicate rule ids.
func Parse(data []byte) (*Policy, error) {
	p, err := parse(data)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// MaxDocumentBytes is the largest policy document Parse accepts.
const MaxDocumentBytes = 4 << 20

func parse(data []byte) (*Policy, *protocol.Error) {
	if len(data) > MaxDocumentBytes {
		return nil, cfgErr("document of %d bytes is over the limit of %d", len(data), MaxDocumentBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var raw rawDoc
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, cfgErr("empty document")
		}
		return nil, cfgErr("%s", cleanYAMLErr(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, cfgErr("more than one YAML document")
	}
	return compile(&raw)
}

func cleanYAMLErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.ReplaceAll(s, "unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	return errNotKnown.ReplaceAllString(s, "unknown key $1")
}

func compile(raw *rawDoc) (*Policy, *protocol.Error) {
	p := &Policy{version: 1}
	if in := raw.Policy; in != nil {
		// The spec's config layout (11 §21): the policy sits under "policy",
		// beside the registry's "capabilities" map.
		if raw.Version != nil || raw.Default != nil || raw.Groups != nil || raw.Rules != nil || raw.Shell != nil {
			return nil, cfgErr("policy: give the policy either at the top level or under \"policy\", not both")
		}
		if in.Policy != nil {
			return nil, cfgErr("policy.policy: nested policy")
		}
		if in.Capabilities != nil && raw.Capabilities != nil {
			return nil, cfgErr("policy.capabilities: capabilities is also given at the top level")
		}
		if in.Capabilities == nil {
			in.Capabilities = raw.Capabilities
		}
		raw = in
	}
	if raw.Version != nil && *raw.Version != 1 {
		return nil, cfgErr("version: %d is not supported (want 1)", *raw.Version)
	}
	if raw.Default != nil && *raw.Default != "deny" {
		return nil, cfgErr("default: %q is not accepted: the only default is deny", *raw.Default)
	}

	// Groups, sorted by name.
	groups := map[string][]string{}
	for name, members := range raw.Groups {
		if name == "" || strings.ContainsAny(name, "*?") {
			return nil, cfgErr("groups: invalid group name %q", name)
		}
		if !members.set || len(members.vals) == 0 {
			return nil, cfgErr("groups.%s: no members", name)
		}
		for _, m := range members.vals {
			if m == "" || strings.HasPrefix(m, "group:") {
				return nil, cfgErr("groups.%s: invalid member %q (groups hold principals, not groups)", name, m)
			}
		}
		groups[name] = members.vals
		p.groups = append(p.groups, group{name, members.vals})
	}
	slices.SortFunc(p.groups, func(a, b group) int { return strings.Compare(a.name, b.name) })

	ids := map[string]bool{}
	for i := range raw.Rules {
		r, err := compileRule(i, &raw.Rules[i], groups)
		if err != nil {
			return nil, err
		}
		if ids[r.id] {
			return nil, cfgErr("%s: duplicate rule id", r.where)
		}
		ids[r.id] = true
		p.rules = append(p.rules, r)
	}

	// The spec's short forms: shell.allowed_commands, and
	// capabilities.shell.allowed_commands.
	var cmds []string
	var from string
	if raw.Shell != nil {
		if !raw.Shell.AllowedCommands.set {
			return nil, cfgErr("shell: allowed_commands is required")
		}
		cmds, from = raw.Shell.AllowedCommands.vals, "shell.allowed_commands"
	}
	capNames := make([]string, 0, len(raw.Capabilities))
	for name := range raw.Capabilities {
		capNames = append(capNames, name)
	}
	slices.Sort(capNames)
	for _, name := range capNames {
		c := raw.Capabilities[name]
		if !c.AllowedCommands.set {
			continue
		}
		if name != "shell" {
			return nil, cfgErr("capabilities.%s.allowed_commands: only shell takes allowed_commands", name)
		}
		if from != "" {
			return nil, cfgErr("capabilities.shell.allowed_commands: allowed_commands is already given in %s", from)
		}
		cmds, from = c.AllowedCommands.vals, "capabilities.shell.allowed_commands"
	}
	if from != "" {
		if len(cmds) == 0 {
			return nil, cfgErr("%s: empty list", from)
		}
		const id = "shell.allowed_commands"
		if ids[id] {
			return nil, cfgErr("%s: rule id %q is already used", from, id)
		}
		rr := rawRule{ID: id, Effect: "allow",
			Capabilities: strList{[]string{"shell"}, true},
			Args:         map[string]*rawCons{"bin": {Type: "string", In: anyList{toAny(cmds), true}}}}
		r, err := compileRule(len(p.rules), &rr, groups)
		if err != nil {
			return nil, cfgErr("%s: %s", from, strings.TrimPrefix(err.Message, "policy: "))
		}
		r.where = from
		p.rules = append(p.rules, r)
	}

	p.buildIndex()
	p.text = p.render()
	p.hash = sha256Sum(p.text)
	return p, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func compileRule(i int, rr *rawRule, groups map[string][]string) (*rule, *protocol.Error) {
	r := &rule{index: i, id: rr.ID}
	if r.id == "" {
		r.id = "rules[" + strconv.Itoa(i) + "]"
		r.where = r.id
	} else {
		r.where = fmt.Sprintf("rules[%d] (id %q)", i, rr.ID)
		if r.id == DefaultDenyRule {
			return nil, cfgErr("%s: id %q is reserved", r.where, DefaultDenyRule)
		}
	}
	switch rr.Effect {
	case "allow":
		r.allow = true
	case "deny":
	case "":
		return nil, cfgErr("%s: effect is required (allow or deny)", r.where)
	default:
		return nil, cfgErr("%s: effect: %q is not allow or deny", r.where, rr.Effect)
	}

	// Principals.
	princ := rr.Principals
	if rr.Principal.set {
		if princ.set {
			return nil, cfgErr("%s: give principals or principal, not both", r.where)
		}
		princ = rr.Principal
	}
	if !princ.set {
		princ = strList{[]string{"*"}, true}
	}
	if len(princ.vals) == 0 {
		return nil, cfgErr("%s: principals: empty list matches nobody (omit it for \"*\")", r.where)
	}
	r.principals = princ.vals
	for _, pat := range princ.vals {
		switch {
		case pat == "":
			return nil, cfgErr("%s: principals: empty pattern", r.where)
		case pat == "*":
			r.princ.any = true
		case strings.HasPrefix(pat, "group:"):
			members, ok := groups[pat[len("group:"):]]
			if !ok {
				return nil, cfgErr("%s: principals: unknown group %q", r.where, pat)
			}
			for _, m := range members {
				r.princ.add(m)
			}
		default:
			r.princ.add(pat)
		}
	}
	r.princ.finish()

	// Capabilities.
	caps := rr.Capabilities
	if rr.Capability.set {
		if caps.set {
			return nil, cfgErr("%s: give capabilities or capability, not both", r.where)
		}
		caps = rr.Capability
	}
	if !caps.set || len(caps.vals) == 0 {
		return nil, cfgErr("%s: capabilities is required (use [\"*\"] for every capability)", r.where)
	}
	for _, c := range caps.vals {
		if c == "" {
			return nil, cfgErr("%s: capabilities: empty pattern", r.where)
		}
		if !slices.Contains(r.capabilities, c) {
			r.capabilities = append(r.capabilities, c)
		}
	}

	// Argument constraints, sorted by argument name.
	names := make([]string, 0, len(rr.Args))
	for name := range rr.Args {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		where := r.where + ": args." + name
		if name == "" {
			return nil, cfgErr("%s: empty argument name", r.where)
		}
		rc := rr.Args[name]
		if rc == nil {
			rc = &rawCons{}
		}
		c, err := compileCons(where, rc, false)
		if err != nil {
			return nil, err
		}
		a := argCheck{name: name, label: "args." + name, optional: rc.Optional, c: c}
		r.args = append(r.args, a)
	}

	r.fill()
	return r, nil
}
