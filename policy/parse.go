package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
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
	Type            string     `yaml:"type"`
	Optional        bool       `yaml:"optional"`
	In              anyList    `yaml:"in"`
	NotIn           anyList    `yaml:"not_in"`
	MinLen          *int       `yaml:"min_len"`
	MaxLen          *int       `yaml:"max_len"`
	Prefix          strList    `yaml:"prefix"`
	NotPrefix       strList    `yaml:"not_prefix"`
	Suffix          strList    `yaml:"suffix"`
	NotSuffix       strList    `yaml:"not_suffix"`
	Contains        strList    `yaml:"contains"`
	NotContains     strList    `yaml:"not_contains"`
	Regex           strList    `yaml:"regex"`
	NotRegex        strList    `yaml:"not_regex"`
	MinItems        *int       `yaml:"min_items"`
	MaxItems        *int       `yaml:"max_items"`
	Items           *rawCons   `yaml:"items"`
	ContainsItem    anyList    `yaml:"contains_item"`
	NotContainsItem anyList    `yaml:"not_contains_item"`
	Range           *[]float64 `yaml:"range"`
	CIDR            strList    `yaml:"cidr"`
	URLScheme       strList    `yaml:"url_scheme"`
	URLHost         strList    `yaml:"url_host"`

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

// anyList is a list of JSON scalars (string, number, boolean).
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
		l.vals = []any{one}
		return nil
	}
	var v []any
	if err := n.Decode(&v); err != nil {
		return err
	}
	l.vals = v
	return nil
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

func quoteList(list []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(s))
	}
	b.WriteByte(']')
	return b.String()
}

func compileScalars(where, key string, l anyList) (*scalarSet, *protocol.Error) {
	if len(l.vals) == 0 {
		return nil, cfgErr("%s.%s: empty list", where, key)
	}
	s := &scalarSet{}
	parts := make([]string, 0, len(l.vals))
	for i, v := range l.vals {
		switch x := v.(type) {
		case string:
			s.strs = append(s.strs, x)
			parts = append(parts, strconv.Quote(x))
		case int:
			s.nums = append(s.nums, float64(x))
			parts = append(parts, strconv.Itoa(x))
		case int64:
			s.nums = append(s.nums, float64(x))
			parts = append(parts, strconv.FormatInt(x, 10))
		case uint64:
			s.nums = append(s.nums, float64(x))
			parts = append(parts, strconv.FormatUint(x, 10))
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, cfgErr("%s.%s[%d]: not a finite number", where, key, i)
			}
			s.nums = append(s.nums, x)
			parts = append(parts, strconv.FormatFloat(x, 'g', -1, 64))
		case bool:
			if x {
				s.hasTrue = true
			} else {
				s.hasFals = true
			}
			parts = append(parts, strconv.FormatBool(x))
		default:
			return nil, cfgErr("%s.%s[%d]: want a string, number or boolean", where, key, i)
		}
	}
	if len(s.strs) > 8 {
		s.strMap = make(map[string]struct{}, len(s.strs))
		for _, x := range s.strs {
			s.strMap[x] = struct{}{}
		}
	}
	s.text = "[" + strings.Join(parts, " ") + "]"
	return s, nil
}

func nonEmpty(where, key string, l strList) *protocol.Error {
	if len(l.vals) == 0 {
		return cfgErr("%s.%s: empty list", where, key)
	}
	for i, s := range l.vals {
		if s == "" {
			return cfgErr("%s.%s[%d]: empty string", where, key, i)
		}
	}
	return nil
}

func nonNeg(where, key string, n *int) *protocol.Error {
	if *n < 0 {
		return cfgErr("%s.%s: %d is negative", where, key, *n)
	}
	return nil
}

// compileCons compiles one constraint map. Checks are added in a fixed
// order (the canonical order String prints), so two documents that differ
// only in key order compile to the same policy and the same Hash.
func compileCons(where string, orig *rawCons, inItems bool) (constraint, *protocol.Error) {
	var c constraint
	rc := new(rawCons)
	*rc = *orig // resolve aliases on a copy: YAML anchors may share orig
	if rc.DenyPattern.set {
		if rc.NotRegex.set {
			return c, cfgErr("%s: give not_regex or deny_pattern, not both", where)
		}
		rc.NotRegex = rc.DenyPattern
	}
	if rc.ItemMaxLen != nil {
		items := &rawCons{}
		if rc.Items != nil {
			*items = *rc.Items
		}
		if items.MaxLen != nil {
			return c, cfgErr("%s: give items.max_len or item_max_len, not both", where)
		}
		items.MaxLen = rc.ItemMaxLen
		rc.Items = items
	}
	add := func(desc, fail string, fn func(protocol.Value) bool) {
		c.checks = append(c.checks, check{desc: desc, fail: fail, fn: fn})
	}
	if inItems && rc.Optional {
		return c, cfgErr("%s: optional has no meaning inside items", where)
	}
	if rc.Type != "" {
		fn, ok := typeCheck(rc.Type)
		if !ok {
			return c, cfgErr("%s.type: %q is not one of string, number, integer, boolean, array, object, null", where, rc.Type)
		}
		article := "a "
		if rc.Type == "array" || rc.Type == "object" || rc.Type == "integer" {
			article = "an "
		}
		add("type "+rc.Type, "is not "+article+rc.Type, fn)
	}
	if rc.In.set {
		s, err := compileScalars(where, "in", rc.In)
		if err != nil {
			return c, err
		}
		add("in "+s.text, "not in "+s.text, s.has)
	}
	if rc.NotIn.set {
		s, err := compileScalars(where, "not_in", rc.NotIn)
		if err != nil {
			return c, err
		}
		add("not_in "+s.text, "is in "+s.text+" (not_in)", func(v protocol.Value) bool { return isScalar(v) && !s.has(v) })
	}
	if rc.MinLen != nil {
		if err := nonNeg(where, "min_len", rc.MinLen); err != nil {
			return c, err
		}
		n := *rc.MinLen
		add("min_len "+strconv.Itoa(n), "is shorter than "+strconv.Itoa(n)+" characters",
			strCheck(func(s string) bool { return len(s) >= n && charLen(s) >= n }))
	}
	if rc.MaxLen != nil {
		if err := nonNeg(where, "max_len", rc.MaxLen); err != nil {
			return c, err
		}
		n := *rc.MaxLen
		add("max_len "+strconv.Itoa(n), "is longer than "+strconv.Itoa(n)+" characters",
			strCheck(func(s string) bool { return len(s) <= n || charLen(s) <= n }))
	}
	type strCons struct {
		key        string
		l          strList
		fail       string
		neg        bool
		f          func(string, []string) bool
		desc, verb string
	}
	for _, sc := range []strCons{
		{key: "prefix", l: rc.Prefix, fail: "has none of the prefixes ", f: anyPrefix},
		{key: "not_prefix", l: rc.NotPrefix, fail: "starts with one of ", neg: true, f: anyPrefix},
		{key: "suffix", l: rc.Suffix, fail: "has none of the suffixes ", f: anySuffix},
		{key: "not_suffix", l: rc.NotSuffix, fail: "ends with one of ", neg: true, f: anySuffix},
		{key: "contains", l: rc.Contains, fail: "contains none of ", f: anyContains},
		{key: "not_contains", l: rc.NotContains, fail: "contains one of ", neg: true, f: anyContains},
	} {
		if !sc.l.set {
			continue
		}
		if err := nonEmpty(where, sc.key, sc.l); err != nil {
			return c, err
		}
		list, f, neg := sc.l.vals, sc.f, sc.neg
		q := quoteList(list)
		add(sc.key+" "+q, sc.fail+q, strCheck(func(s string) bool { return f(s, list) != neg }))
	}
	for _, rx := range []struct {
		key string
		l   strList
		neg bool
	}{{"regex", rc.Regex, false}, {"not_regex", rc.NotRegex, true}} {
		if !rx.l.set {
			continue
		}
		if err := nonEmpty(where, rx.key, rx.l); err != nil {
			return c, err
		}
		res := make([]*regexp.Regexp, len(rx.l.vals))
		for i, src := range rx.l.vals {
			re, err := regexp.Compile(src)
			if err != nil {
				return c, cfgErr("%s.%s[%d]: %v", where, rx.key, i, err)
			}
			res[i] = re
		}
		q, neg := quoteList(rx.l.vals), rx.neg
		fail := "matches none of " + q
		if neg {
			fail = "matches one of " + q
		}
		add(rx.key+" "+q, fail, strCheck(func(s string) bool { return anyRegex(s, res) != neg }))
	}
	isArr := func(v protocol.Value) bool { return v.Kind() == protocol.KindArray }
	if rc.MinItems != nil {
		if err := nonNeg(where, "min_items", rc.MinItems); err != nil {
			return c, err
		}
		n := *rc.MinItems
		add("min_items "+strconv.Itoa(n), "has fewer than "+strconv.Itoa(n)+" items (or is not an array)",
			func(v protocol.Value) bool { return isArr(v) && v.Len() >= n })
	}
	if rc.MaxItems != nil {
		if err := nonNeg(where, "max_items", rc.MaxItems); err != nil {
			return c, err
		}
		n := *rc.MaxItems
		add("max_items "+strconv.Itoa(n), "has more than "+strconv.Itoa(n)+" items (or is not an array)",
			func(v protocol.Value) bool { return isArr(v) && v.Len() <= n })
	}
	if rc.Items != nil {
		ic, err := compileCons(where+".items", rc.Items, true)
		if err != nil {
			return c, err
		}
		inner := &ic
		desc := "items {" + inner.desc() + "}"
		c.checks = append(c.checks, check{desc: desc, fail: "has an item that fails " + desc[len("items "):], items: inner,
			fn: func(v protocol.Value) bool {
				if v.Kind() != protocol.KindArray {
					return false
				}
				for it := v.First(); it.Exists(); it = it.Next() {
					if !inner.ok(it) {
						return false
					}
				}
				return true
			}})
	}
	for _, ci := range []struct {
		key string
		l   anyList
		neg bool
	}{{"contains_item", rc.ContainsItem, false}, {"not_contains_item", rc.NotContainsItem, true}} {
		if !ci.l.set {
			continue
		}
		s, err := compileScalars(where, ci.key, ci.l)
		if err != nil {
			return c, err
		}
		neg := ci.neg
		fail := "has no item in " + s.text
		if neg {
			fail = "has an item in " + s.text
		}
		add(ci.key+" "+s.text, fail, func(v protocol.Value) bool {
			if v.Kind() != protocol.KindArray {
				return false
			}
			found := false
			for it := v.First(); it.Exists(); it = it.Next() {
				if s.has(it) {
					found = true
					break
				}
			}
			return found != neg
		})
	}
	if rc.Range != nil {
		r := *rc.Range
		if len(r) != 2 || math.IsNaN(r[0]) || math.IsNaN(r[1]) || r[0] > r[1] {
			return c, cfgErr("%s.range: want [min, max] with min <= max", where)
		}
		lo, hi := r[0], r[1]
		text := "[" + strconv.FormatFloat(lo, 'g', -1, 64) + ", " + strconv.FormatFloat(hi, 'g', -1, 64) + "]"
		add("range "+text, "is not a number in "+text, func(v protocol.Value) bool {
			f, ok := v.Float()
			return ok && f >= lo && f <= hi
		})
	}
	if rc.CIDR.set {
		if err := nonEmpty(where, "cidr", rc.CIDR); err != nil {
			return c, err
		}
		var pfx []netip.Prefix
		var texts []string
		for i, s := range rc.CIDR.vals {
			pf, err := netip.ParsePrefix(s)
			if err != nil {
				a, err2 := netip.ParseAddr(s)
				if err2 != nil || a.Zone() != "" {
					return c, cfgErr("%s.cidr[%d]: %q is not a CIDR prefix or IP address", where, i, s)
				}
				pf = netip.PrefixFrom(a, a.BitLen())
			}
			if pf.Addr().Is4In6() {
				pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
			}
			pf = pf.Masked()
			pfx = append(pfx, pf)
			texts = append(texts, pf.String())
		}
		q := quoteList(texts)
		add("cidr "+q, "is not an IP address in "+q, strCheck(func(s string) bool { return inPrefixes(s, pfx) }))
	}
	if rc.URLScheme.set {
		if err := nonEmpty(where, "url_scheme", rc.URLScheme); err != nil {
			return c, err
		}
		list := lowerAll(rc.URLScheme.vals)
		q := quoteList(list)
		add("url_scheme "+q, "is not an absolute URL with a scheme in "+q, strCheck(func(s string) bool {
			scheme, _, ok := parseURL(s)
			return ok && inStrings(scheme, list)
		}))
	}
	if rc.URLHost.set {
		if err := nonEmpty(where, "url_host", rc.URLHost); err != nil {
			return c, err
		}
		list := lowerAll(rc.URLHost.vals)
		for i, h := range list {
			if strings.ContainsAny(h, "/@\\ %*?") {
				return c, cfgErr("%s.url_host[%d]: %q is not a host name (host or host:port)", where, i, h)
			}
		}
		q := quoteList(list)
		add("url_host "+q, "is not a URL without userinfo whose host is one of "+q, strCheck(func(s string) bool {
			_, host, ok := parseURL(s)
			return ok && inStrings(host, list)
		}))
	}
	return c, nil
}

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	return out
}
