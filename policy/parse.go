package policy

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// The raw document, as decoded (decode.go): the yaml tags are the keys a
// document may hold, and at remembers where each was written.
type rawDoc struct {
	Version      *int                  `yaml:"version"`
	Default      *string               `yaml:"default"`
	Groups       map[string]strList    `yaml:"groups"`
	Rules        []rawRule             `yaml:"rules"`
	Shell        *rawShort             `yaml:"shell"`
	Capabilities map[string]rawCapConf `yaml:"capabilities"`
	Policy       *rawDoc               `yaml:"policy"`
	at           docNodes
}

type rawShort struct {
	AllowedCommands strList `yaml:"allowed_commands"`
	at              docNodes
}

// rawCapConf is one entry of the spec's `capabilities` map (05 §10).
// enabled belongs to the capability registry and is ignored here.
type rawCapConf struct {
	Enabled         *bool   `yaml:"enabled"`
	AllowedCommands strList `yaml:"allowed_commands"`
	at              docNodes
}

type rawRule struct {
	ID           string              `yaml:"id"`
	Effect       string              `yaml:"effect"`
	Principals   strList             `yaml:"principals"`
	Principal    strList             `yaml:"principal"`
	Capabilities strList             `yaml:"capabilities"`
	Capability   strList             `yaml:"capability"`
	Args         map[string]*rawCons `yaml:"args"`
	at           docNodes
	broken       bool // a problem of shape was reported inside it: not compiled
}

// rawCons is one argument's constraint map. Its yaml tags (but optional)
// are the constraint names: ConstraintNames lists them, and the JSON
// Schema of the format (schema/policy.schema.json) is generated from them.
type rawCons struct {
	Optional        bool      `yaml:"optional"`
	Type            string    `yaml:"type"`
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

	at docNodes
}

// ConstraintNames returns the names of the argument constraints the
// format knows (type, in, not_in, min_len, …, and the aliases
// item_max_len and deny_pattern), in the order they are documented.
func ConstraintNames() []string {
	return slices.DeleteFunc(yamlKeys(reflect.TypeFor[rawCons]()), func(k string) bool { return k == "optional" })
}

func (r *rawDoc) nodes() *docNodes     { return &r.at }
func (r *rawShort) nodes() *docNodes   { return &r.at }
func (r *rawCapConf) nodes() *docNodes { return &r.at }
func (r *rawRule) nodes() *docNodes    { return &r.at }
func (r *rawCons) nodes() *docNodes    { return &r.at }
func (r *rawRule) markBroken()         { r.broken = true }

// strList is a list of strings that may also be written as one string.
type strList struct {
	vals  []string
	set   bool
	node  *yaml.Node   // the value as written
	elems []*yaml.Node // each string's node (the value itself for one string)
}

// elem returns the node of the i-th string, or of the list.
func (l *strList) elem(i int) *yaml.Node {
	if i < len(l.elems) {
		return l.elems[i]
	}
	return l.node
}

func (l *strList) UnmarshalYAML(n *yaml.Node) error {
	l.set, l.node = true, n
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return errAt(n, "want a string or a list of strings, got null")
		}
		l.vals, l.elems = []string{n.Value}, []*yaml.Node{n}
		return nil
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if c.Kind == yaml.AliasNode {
				c = resolve(c)
			}
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return errAt(n.Content[i], "[%d]: want a string, got %s", i, describe(c))
			}
			l.vals = append(l.vals, c.Value)
		}
		l.elems = n.Content
		return nil
	}
	return errAt(n, "want a string or a list of strings, got %s", describe(n))
}

// anyList is a list of JSON scalars (string, number, boolean). Numbers
// are held as number, exactly as written.
type anyList struct {
	vals  []any
	set   bool
	node  *yaml.Node
	elems []*yaml.Node
}

// elem returns the node of the i-th value, or of the list.
func (l *anyList) elem(i int) *yaml.Node {
	if i < len(l.elems) {
		return l.elems[i]
	}
	return l.node
}

func (l *anyList) UnmarshalYAML(n *yaml.Node) error {
	l.set, l.node = true, n
	if n.Kind == yaml.ScalarNode {
		var one any
		if err := n.Decode(&one); err != nil {
			return err
		}
		l.vals, l.elems = []any{exactNumber(n, one)}, []*yaml.Node{n}
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
	l.elems = n.Content
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
		return errAt(n, "want a number, got %s", describe(n))
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

// Parse decodes a policy document (YAML, or JSON, which is read as YAML),
// validates it and compiles it. A document that does not compile gives a
// *ParseError: every problem found (up to MaxErrors), each at its line and
// column and naming its place (`rules[2] (id "P3"): args.bin.regex[0]:
// …`): syntax errors, unknown keys (with the nearest known key), duplicate
// keys, values of the wrong type, a second document, `default: allow`,
// unknown groups, bad globs, regexes, CIDRs, ranges, empty lists,
// duplicate rule ids. The ParseError unwraps to a CONFIGURATION_ERROR.
func Parse(data []byte) (*Policy, error) {
	p, _, err := parse(data)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// MaxDocumentBytes is the largest policy document Parse accepts.
const MaxDocumentBytes = 4 << 20

// source is what the authoring tools (Lint) need beside the compiled
// policy: each rule's raw form, with the nodes it was written at.
type source struct {
	raws []*rawRule // raws[i] is the raw form of p.rules[i]
}

func parse(data []byte) (*Policy, *source, *ParseError) {
	raw, root, errs := decodeDoc(data)
	if raw == nil {
		return nil, nil, newParseError(diagnostics(errs))
	}
	if slices.ContainsFunc(errs, func(e *docErr) bool { return !e.inRule }) {
		// Groups or the layout are wrong: compiling the rules would
		// report what follows from that again.
		return nil, nil, newParseError(diagnostics(place(errs, root)))
	}
	p, src, cerrs := compile(raw, root)
	errs = append(errs, cerrs...)
	if len(errs) > 0 {
		return nil, nil, newParseError(diagnostics(place(errs, root)))
	}
	return p, src, nil
}

// ruleLabel is how messages name rule i: `rules[3]` or `rules[3] (id "P4")`.
func ruleLabel(i int, rr *rawRule, prefix string) string {
	l := prefix + "rules[" + strconv.Itoa(i) + "]"
	if rr.ID != "" {
		l += " (id " + strconv.Quote(rr.ID) + ")"
	}
	return l
}

func compile(raw *rawDoc, root *yaml.Node) (*Policy, *source, []*docErr) {
	p := &Policy{version: 1}
	src := &source{}
	var errs []*docErr
	fail := func(n *yaml.Node, format string, args ...any) { errs = append(errs, errAt(n, format, args...)) }
	prefix := ""
	if in := raw.Policy; in != nil {
		// The spec's config layout (11 §21): the policy sits under "policy",
		// beside the registry's "capabilities" map.
		if raw.Version != nil || raw.Default != nil || raw.Groups != nil || raw.Rules != nil || raw.Shell != nil {
			return nil, nil, []*docErr{errAt(raw.at.key("policy"), "policy: give the policy either at the top level or under \"policy\", not both")}
		}
		if in.Policy != nil {
			return nil, nil, []*docErr{errAt(in.at.key("policy"), "policy.policy: nested policy")}
		}
		if in.Capabilities != nil && raw.Capabilities != nil {
			return nil, nil, []*docErr{errAt(in.at.key("capabilities"), "policy.capabilities: capabilities is also given at the top level")}
		}
		if in.Capabilities == nil && raw.Capabilities != nil {
			in.Capabilities = raw.Capabilities
			if in.at.vals != nil {
				in.at.vals["capabilities"] = raw.at.vals["capabilities"]
			}
		}
		raw, prefix = in, "policy."
	}
	if raw.Version != nil && *raw.Version != 1 {
		fail(raw.at.val("version"), "%sversion: %d is not supported (want 1)", prefix, *raw.Version)
	}
	if raw.Default != nil && *raw.Default != "deny" {
		fail(raw.at.val("default"), "%sdefault: %q is not accepted: the only default is deny", prefix, *raw.Default)
	}

	// Groups, sorted by name.
	groups := map[string][]string{}
	for name, members := range raw.Groups {
		switch {
		case name == "" || strings.ContainsAny(name, "*?"):
			fail(raw.at.mapKey("groups", name), "%sgroups: invalid group name %q", prefix, name)
			continue
		case !members.set || len(members.vals) == 0:
			n := members.node
			if n == nil {
				n = raw.at.mapKey("groups", name)
			}
			fail(n, "%sgroups.%s: no members", prefix, name)
			continue
		}
		ok := true
		for i, m := range members.vals {
			if m == "" || strings.HasPrefix(m, "group:") {
				fail(members.elem(i), "%sgroups.%s: invalid member %q (groups hold principals, not groups)", prefix, name, m)
				ok = false
			}
		}
		if ok {
			groups[name] = members.vals
			p.groups = append(p.groups, group{name, members.vals})
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs // rules naming these groups would only repeat them
	}
	slices.SortFunc(p.groups, func(a, b group) int { return strings.Compare(a.name, b.name) })

	ids := map[string]bool{}
	for i := range raw.Rules {
		rr := &raw.Rules[i]
		if rr.broken {
			continue
		}
		r, rerrs := compileRule(i, rr, groups, prefix)
		if len(rerrs) > 0 {
			errs = append(errs, place(rerrs, rr.at.self)...)
			continue
		}
		if ids[r.id] {
			fail(rr.at.val("id"), "%s: duplicate rule id", r.where)
			continue
		}
		ids[r.id] = true
		p.rules = append(p.rules, r)
		src.raws = append(src.raws, rr)
	}

	// The spec's short forms: shell.allowed_commands, and
	// capabilities.shell.allowed_commands.
	var cmds strList
	var from string
	if raw.Shell != nil {
		if !raw.Shell.AllowedCommands.set {
			fail(raw.at.key("shell"), "%sshell: allowed_commands is required", prefix)
		}
		cmds, from = raw.Shell.AllowedCommands, prefix+"shell.allowed_commands"
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
			fail(c.at.key("allowed_commands"), "capabilities.%s.allowed_commands: only shell takes allowed_commands", name)
			continue
		}
		if from != "" {
			fail(c.at.key("allowed_commands"), "capabilities.shell.allowed_commands: allowed_commands is already given in %s", from)
			continue
		}
		cmds, from = c.AllowedCommands, "capabilities.shell.allowed_commands"
	}
	if from != "" && cmds.set {
		const id = "shell.allowed_commands"
		switch {
		case len(cmds.vals) == 0:
			fail(cmds.node, "%s: empty list", from)
		case ids[id]:
			fail(cmds.node, "%s: rule id %q is already used", from, id)
		default:
			rr := &rawRule{ID: id, Effect: "allow",
				Capabilities: strList{vals: []string{"shell"}, set: true},
				Args:         map[string]*rawCons{"bin": {Type: "string", In: anyList{vals: toAny(cmds.vals), set: true, node: cmds.node, elems: cmds.elems}}},
				at:           docNodes{self: cmds.node}}
			r, rerrs := compileRule(len(p.rules), rr, groups, "")
			for _, e := range rerrs {
				fail(e.n, "%s: %s", from, e.msg)
			}
			if len(rerrs) == 0 {
				r.where = from
				p.rules = append(p.rules, r)
				src.raws = append(src.raws, rr)
			}
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}

	p.buildIndex()
	p.text = p.render()
	p.hash = sha256Sum(p.text)
	return p, src, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// compileRule compiles rule i; prefix is "policy." for a document under
// "policy". Errors without a node belong to the rule as a whole.
func compileRule(i int, rr *rawRule, groups map[string][]string, prefix string) (*rule, []*docErr) {
	var errs []*docErr
	r := &rule{index: i, id: rr.ID, where: ruleLabel(i, rr, prefix)}
	fail := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, errAt(n, r.where+": "+format, args...))
	}
	if r.id == "" {
		r.id = "rules[" + strconv.Itoa(i) + "]"
	} else if r.id == DefaultDenyRule {
		fail(rr.at.val("id"), "id %q is reserved", DefaultDenyRule)
	}
	switch rr.Effect {
	case "allow":
		r.allow = true
	case "deny":
	case "":
		fail(rr.at.self, "effect is required (allow or deny)")
	default:
		fail(rr.at.val("effect"), "effect: %q is not allow or deny%s", rr.Effect, suggest.Hint(rr.Effect, []string{"allow", "deny"}))
	}

	// Principals.
	princ := rr.Principals
	if rr.Principal.set {
		if princ.set {
			fail(rr.at.key("principal"), "give principals or principal, not both")
		}
		princ = rr.Principal
	}
	if !princ.set {
		princ = strList{vals: []string{"*"}, set: true}
	}
	if len(princ.vals) == 0 {
		fail(princ.node, "principals: empty list matches nobody (omit it for \"*\")")
	}
	r.principals = princ.vals
	for j, pat := range princ.vals {
		switch {
		case pat == "":
			fail(princ.elem(j), "principals: empty pattern")
		case pat == "*":
			r.princ.any = true
		case strings.HasPrefix(pat, "group:"):
			members, ok := groups[pat[len("group:"):]]
			if !ok {
				names := make([]string, 0, len(groups))
				for g := range groups {
					names = append(names, "group:"+g)
				}
				slices.Sort(names)
				fail(princ.elem(j), "principals: unknown group %q%s", pat, suggest.Hint(pat, names))
				continue
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
			fail(rr.at.key("capability"), "give capabilities or capability, not both")
		}
		caps = rr.Capability
	}
	if !caps.set || len(caps.vals) == 0 {
		n := caps.node
		if n == nil {
			n = rr.at.self
		}
		fail(n, "capabilities is required (use [\"*\"] for every capability)")
	}
	for j, c := range caps.vals {
		if c == "" {
			fail(caps.elem(j), "capabilities: empty pattern")
			continue
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
		if name == "" {
			fail(rr.at.mapKey("args", name), "empty argument name")
			continue
		}
		rc := rr.Args[name]
		if rc == nil {
			rc = &rawCons{}
		}
		c, cerrs := compileCons(r.where+": args."+name, rc, false)
		if len(cerrs) > 0 {
			errs = append(errs, place(cerrs, rr.at.mapKey("args", name))...)
			continue
		}
		r.args = append(r.args, argCheck{name: name, label: "args." + name, optional: rc.Optional, c: c})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	r.fill()
	return r, nil
}
