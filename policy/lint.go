package policy

import (
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// This file is `femtoclaw policy check --strict`: what a policy that
// compiles may still get wrong. Every finding is sound — it holds for
// every call, under the evaluation order of doc.go — and some mistakes
// go unreported (a shadowing that only reasoning about regular
// expressions could show, say): Lint reports what it can prove.

// CapabilitySchema is what Lint knows of one registered capability: the
// arguments its schema declares and their JSON types.
type CapabilitySchema struct {
	Name string
	// Args maps each declared argument to the JSON types its schema
	// allows ("string", "integer", "array", …); an empty list allows any.
	Args map[string][]string
	// Open is true when the schema accepts arguments it does not declare
	// (additionalProperties is not false).
	Open bool
}

// Lint parses and compiles data as Parse does (returning its *ParseError
// when that fails) and reports, each at its place:
//
//   - with caps (the registry; nil skips these): capabilities a rule names
//     that are not registered, or globs that match none; constraints on
//     arguments no capability the rule covers declares; constraints that
//     need a JSON type the capability's schema does not give the argument
//     (max_len on an array);
//   - constraints no value can satisfy: a type and a constraint for
//     another type, min_len > max_len, min_items > max_items, every value
//     of in excluded by the other constraints (not_in, prefix, …), every
//     prefix (suffix, substring) excluded by not_prefix (not_suffix,
//     not_contains), every path_under inside a path_not_under, every regex
//     also a not_regex, every contains_item also a not_contains_item;
//   - rules that never decide: a deny (allow) rule every call of which an
//     earlier deny (allow) rule matches as well, and an allow rule every
//     call of which a deny rule matches. Matching is compared
//     conservatively: principals and capabilities by name and prefix
//     globs, constraints by what one implies of the other.
//
// The findings are in document order.
func Lint(data []byte, caps []CapabilitySchema) (*Policy, []Diagnostic, error) {
	p, src, perr := parse(data)
	if perr != nil {
		return nil, nil, perr
	}
	l := &linter{p: p, src: src}
	if caps != nil {
		l.registry(caps)
	}
	l.never = make([]bool, len(p.rules))
	for i, r := range p.rules {
		for j := range r.args {
			l.satisfiable(i, &r.args[j])
		}
	}
	l.shadowed()
	d := diagnostics(l.errs)
	slices.SortStableFunc(d, func(a, b Diagnostic) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return p, d, nil
}

type linter struct {
	p     *Policy
	src   *source
	errs  []*docErr
	never []bool // rule i never matches (an argument no value satisfies)
}

func (l *linter) fail(n *yaml.Node, format string, args ...any) {
	l.errs = append(l.errs, errAt(n, format, args...))
}

// rawCons returns rule i's constraint map for arg, aliases resolved.
func (l *linter) rawCons(i int, arg string) *rawCons { return resolved(l.src.raws[i].Args[arg]) }

// resolved returns rc with its aliases resolved (an empty map for nil).
func resolved(rc *rawCons) *rawCons {
	if rc == nil {
		return &rawCons{}
	}
	r, err := resolveAliases("", rc)
	if err != nil {
		return rc // compile accepted it: not reached
	}
	return r
}

// ruleNode is where rule i was written.
func (l *linter) ruleNode(i int) *yaml.Node { return l.src.raws[i].at.self }

// argNode is where rule i names arg.
func (l *linter) argNode(i int, arg string) *yaml.Node {
	return l.src.raws[i].at.mapKey("args", arg)
}

// --- The registry ---

func (l *linter) registry(caps []CapabilitySchema) {
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = c.Name
	}
	for i, r := range l.p.rules {
		rr := l.src.raws[i]
		capList := rr.Capabilities
		if rr.Capability.set {
			capList = rr.Capability
		}
		var covered []*CapabilitySchema
		for k := range caps {
			if r.matchesCap(caps[k].Name) {
				covered = append(covered, &caps[k])
			}
		}
		for j, c := range capList.vals {
			n := capList.elem(j)
			if n == nil {
				n = l.ruleNode(i)
			}
			switch {
			case c == "*":
			case isGlob(c):
				if !slices.ContainsFunc(names, func(name string) bool { return globMatch(c, name) }) {
					l.fail(n, "%s: capabilities: %q matches no registered capability (registered: %s)", r.where, c, strings.Join(names, ", "))
				}
			case !slices.Contains(names, c):
				l.fail(n, "%s: capabilities: %q is not a registered capability%s", r.where, c, suggest.Hint(c, names))
			}
		}
		if len(covered) == 0 {
			continue
		}
		for _, a := range r.args {
			l.argAgainstSchemas(i, r, &a, covered)
		}
	}
}

// argAgainstSchemas checks one argument's constraints against the
// schemas of the capabilities the rule covers.
func (l *linter) argAgainstSchemas(i int, r *rule, a *argCheck, covered []*CapabilitySchema) {
	var declaring []*CapabilitySchema
	var known []string
	open := false
	for _, c := range covered {
		if _, ok := c.Args[a.name]; ok {
			declaring = append(declaring, c)
		}
		for name := range c.Args {
			if !slices.Contains(known, name) {
				known = append(known, name)
			}
		}
		open = open || c.Open
	}
	slices.Sort(known)
	capNames := func(cs []*CapabilitySchema) string {
		s := make([]string, len(cs))
		for k, c := range cs {
			s[k] = c.Name
		}
		return strings.Join(s, ", ")
	}
	if len(declaring) == 0 {
		if open {
			return
		}
		then := "the rule never matches"
		if a.optional {
			then = "its constraints never apply"
		}
		l.fail(l.argNode(i, a.name), "%s: args.%s: %s has no argument %q%s: %s", r.where, a.name, capNames(covered), a.name, suggest.Hint(a.name, known), then)
		return
	}
	need, _ := consKinds(l.rawCons(i, a.name))
	if need == kAny || need == 0 { // 0: unsatisfiable, reported as such
		return
	}
	for _, c := range declaring {
		have := kindsOf(c.Args[a.name])
		if have&need != 0 {
			return // some capability can satisfy it
		}
	}
	types := declaring[0].Args[a.name]
	l.fail(l.argNode(i, a.name), "%s: args.%s: the constraints need %s, but the schema of %s gives %s %s", r.where, a.name,
		need, capNames(declaring), a.name, strings.Join(types, " or "))
}

// --- Kinds of JSON values ---

// kinds is a set of JSON value kinds; kInteger is the integers among the
// numbers, kFraction the rest.
type kinds uint8

const (
	kString kinds = 1 << iota
	kInteger
	kFraction
	kBool
	kArray
	kObject
	kNull

	kNumber = kInteger | kFraction
	kScalar = kString | kNumber | kBool
	kAny    = kString | kNumber | kBool | kArray | kObject | kNull
)

func (k kinds) String() string {
	var parts []string
	for _, n := range []struct {
		k    kinds
		name string
	}{{kString, "a string"}, {kNumber, "a number"}, {kInteger, "an integer"}, {kBool, "a boolean"}, {kArray, "an array"}, {kObject, "an object"}, {kNull, "null"}} {
		if k&n.k == n.k && (n.k != kInteger || k&kFraction == 0) {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " or ")
}

// kindOfType returns the kinds a `type` name (or JSON Schema type) allows.
func kindOfType(t string) kinds {
	switch t {
	case "string":
		return kString
	case "number":
		return kNumber
	case "integer":
		return kInteger
	case "boolean":
		return kBool
	case "array":
		return kArray
	case "object":
		return kObject
	case "null":
		return kNull
	}
	return kAny
}

// kindsOf returns the kinds a schema's type list allows (empty: any).
func kindsOf(types []string) kinds {
	if len(types) == 0 {
		return kAny
	}
	var k kinds
	for _, t := range types {
		k |= kindOfType(t)
	}
	return k
}

// scalarKinds returns the kinds of the values of an in-style list.
func scalarKinds(l anyList) kinds {
	var k kinds
	for _, v := range l.vals {
		switch x := v.(type) {
		case string:
			k |= kString
		case bool:
			k |= kBool
		case number:
			if x.d.IsInteger() {
				k |= kInteger
			} else {
				k |= kFraction
			}
		}
	}
	return k
}

// consKinds returns the kinds of value every constraint of rc allows
// (their intersection), and, when that is empty, the two keys that
// cannot both hold.
func consKinds(rc *rawCons) (kinds, [2]string) {
	need := kAny
	var byKey []struct {
		key string
		k   kinds
	}
	add := func(key string, k kinds) {
		byKey = append(byKey, struct {
			key string
			k   kinds
		}{key, k})
	}
	if rc.Type != "" {
		add("type "+rc.Type, kindOfType(rc.Type))
	}
	if rc.In.set {
		add("in", scalarKinds(rc.In))
	}
	if rc.NotIn.set {
		add("not_in", kScalar)
	}
	for _, s := range []struct {
		key string
		set bool
	}{{"min_len", rc.MinLen != nil}, {"max_len", rc.MaxLen != nil}, {"prefix", rc.Prefix.set}, {"not_prefix", rc.NotPrefix.set},
		{"suffix", rc.Suffix.set}, {"not_suffix", rc.NotSuffix.set}, {"contains", rc.Contains.set}, {"not_contains", rc.NotContains.set},
		{"regex", rc.Regex.set}, {"not_regex", rc.NotRegex.set}, {"cidr", rc.CIDR.set}, {"url_scheme", rc.URLScheme.set},
		{"url_host", rc.URLHost.set}, {"path_under", rc.PathUnder.set}, {"path_not_under", rc.PathNotUnder.set}} {
		if s.set {
			add(s.key, kString)
		}
	}
	for _, s := range []struct {
		key string
		set bool
	}{{"min_items", rc.MinItems != nil}, {"max_items", rc.MaxItems != nil}, {"items", rc.Items != nil},
		{"contains_item", rc.ContainsItem.set}, {"not_contains_item", rc.NotContainsItem.set},
		{"argv_options", rc.ArgvOptions != nil}, {"argv_subcommand", rc.ArgvSubcommand != nil}} {
		if s.set {
			add(s.key, kArray)
		}
	}
	if rc.Range != nil {
		add("range", kNumber)
	}
	for i, b := range byKey {
		if need&b.k == 0 {
			// Name the first earlier key it conflicts with.
			for _, a := range byKey[:i] {
				if a.k&b.k == 0 {
					return 0, [2]string{a.key, b.key}
				}
			}
			return 0, [2]string{byKey[0].key, b.key}
		}
		need &= b.k
	}
	return need, [2]string{}
}

// --- Constraints no value satisfies ---

// satisfiable reports an argument of rule i whose constraints no value
// satisfies.
func (l *linter) satisfiable(i int, a *argCheck) {
	r := l.p.rules[i]
	rc := l.rawCons(i, a.name)
	why := unsatisfiable(rc, &a.c)
	if why == "" {
		if rc.Items != nil {
			if iwhy := unsatisfiable(resolved(rc.Items), itemsOf(&a.c)); iwhy != "" {
				l.fail(l.argNode(i, a.name), "%s: args.%s.items: no item can satisfy them (%s), so only an empty array passes", r.where, a.name, iwhy)
			}
		}
		return
	}
	then := "so the rule never matches"
	if a.optional {
		then = "so the rule matches only calls without " + a.name
	} else {
		l.never[i] = true
	}
	l.fail(l.argNode(i, a.name), "%s: args.%s: no value can satisfy these constraints (%s), %s", r.where, a.name, why, then)
}

// itemsOf returns the compiled constraint of c's items check.
func itemsOf(c *constraint) *constraint {
	for i := range c.checks {
		if c.checks[i].items != nil {
			return c.checks[i].items
		}
	}
	return &constraint{}
}

// unsatisfiable returns why no value satisfies rc (compiled as c), or "".
func unsatisfiable(rc *rawCons, c *constraint) string {
	if k, pair := consKinds(rc); k == 0 {
		return pair[0] + " and " + pair[1] + " need values of different types"
	}
	if rc.MinLen != nil && rc.MaxLen != nil && *rc.MinLen > *rc.MaxLen {
		return "min_len " + strconv.Itoa(*rc.MinLen) + " > max_len " + strconv.Itoa(*rc.MaxLen)
	}
	if rc.MinItems != nil && rc.MaxItems != nil && *rc.MinItems > *rc.MaxItems {
		return "min_items " + strconv.Itoa(*rc.MinItems) + " > max_items " + strconv.Itoa(*rc.MaxItems)
	}
	if rc.In.set {
		// Only the listed values can pass: try each against everything.
		if !slices.ContainsFunc(rc.In.vals, func(v any) bool { val, ok := scalarValue(v); return ok && c.ok(val) }) {
			return "every value of in fails another of them"
		}
	}
	excluded := func(pos, neg strList, covers func(p, q string) bool) bool {
		return pos.set && neg.set && !slices.ContainsFunc(pos.vals, func(p string) bool {
			return !slices.ContainsFunc(neg.vals, func(q string) bool { return covers(p, q) })
		})
	}
	switch {
	case excluded(rc.Prefix, rc.NotPrefix, strings.HasPrefix):
		return "every prefix starts with a not_prefix"
	case excluded(rc.Suffix, rc.NotSuffix, strings.HasSuffix):
		return "every suffix ends with a not_suffix"
	case excluded(rc.Contains, rc.NotContains, strings.Contains):
		return "every contains holds a not_contains"
	case excluded(rc.Regex, rc.NotRegex, func(p, q string) bool { return p == q }):
		return "every regex is also a not_regex"
	case excluded(rc.PathUnder, rc.PathNotUnder, func(p, q string) bool { return pathUnderAny(path.Clean(p), []string{path.Clean(q)}) }):
		return "every path_under is inside a path_not_under"
	}
	if rc.ContainsItem.set && rc.NotContainsItem.set {
		not := scalarTexts(rc.NotContainsItem)
		if !slices.ContainsFunc(scalarTexts(rc.ContainsItem), func(s string) bool { return !slices.Contains(not, s) }) {
			return "every contains_item is also a not_contains_item"
		}
	}
	if rc.Items != nil && (rc.MinItems != nil && *rc.MinItems > 0 || rc.ContainsItem.set) {
		if why := unsatisfiable(resolved(rc.Items), itemsOf(c)); why != "" {
			return "no item satisfies items: " + why + "; and the array may not be empty"
		}
	}
	return ""
}

// scalarValue returns an in-style list value as a protocol.Value.
func scalarValue(v any) (protocol.Value, bool) {
	var js []byte
	switch x := v.(type) {
	case string:
		js = protocol.AppendString(nil, x)
	case bool:
		js = strconv.AppendBool(nil, x)
	case number:
		js = []byte(x.lit)
	default:
		return protocol.Value{}, false
	}
	val, err := protocol.ParseValue(js, protocol.Limits{})
	return val, err == nil
}

// scalarTexts returns the canonical texts of an in-style list's values.
func scalarTexts(l anyList) []string {
	out := make([]string, 0, len(l.vals))
	for _, v := range l.vals {
		switch x := v.(type) {
		case string:
			out = append(out, strconv.Quote(x))
		case bool:
			out = append(out, strconv.FormatBool(x))
		case number:
			out = append(out, "n:"+x.d.String())
		}
	}
	return out
}

// --- Rules that never decide ---

// shadowed reports, for each rule, the first rule that keeps it from ever
// deciding (see Evaluate): an earlier rule of the same effect that
// matches every call it matches, or, for an allow rule, any deny rule
// that does.
func (l *linter) shadowed() {
	rules := l.p.rules
	for i, s := range rules {
		if l.never[i] {
			continue // never matches at all, reported as such
		}
		for j, r := range rules {
			if i == j || !(j < i && r.allow == s.allow || s.allow && !r.allow) {
				continue
			}
			if !l.covers(j, i) {
				continue
			}
			what := "deny"
			if r.allow {
				what = "allow"
			}
			line := "line " + strconv.Itoa(l.line(j))
			if r.allow == s.allow {
				l.fail(l.ruleNode(i), "%s is never reached: %s rule %q (%s) comes first and matches every call this rule matches", s.where, what, r.id, line)
			} else {
				l.fail(l.ruleNode(i), "%s never allows: deny rule %q (%s) matches every call this rule matches, and deny overrides allow", s.where, r.id, line)
			}
			break
		}
	}
}

func (l *linter) line(i int) int {
	if n := l.ruleNode(i); n != nil {
		return n.Line
	}
	return 1
}

// covers reports whether rule j matches every call rule i matches.
func (l *linter) covers(j, i int) bool {
	r, s := l.p.rules[j], l.p.rules[i]
	if !principalsCover(&r.princ, &s.princ) {
		return false
	}
	for _, c := range s.capabilities {
		if !patternsCover(r.capabilities, c) {
			return false
		}
	}
	for k := range r.args {
		ra := &r.args[k]
		sa := s.arg(ra.name)
		if sa == nil {
			if ra.optional && len(ra.c.checks) == 0 {
				continue
			}
			return false
		}
		if sa.optional && !ra.optional {
			return false // s matches calls without it; r does not
		}
		if !implies(l.rawCons(i, sa.name), &sa.c, l.rawCons(j, ra.name), &ra.c) {
			return false
		}
	}
	return true
}

// arg returns the rule's check of argument name, or nil.
func (r *rule) arg(name string) *argCheck {
	for k := range r.args {
		if r.args[k].name == name {
			return &r.args[k]
		}
	}
	return nil
}

// principalsCover reports whether every principal s matches, r matches.
func principalsCover(r, s *principalSet) bool {
	if r.any {
		return true
	}
	if s.any {
		return false
	}
	for _, p := range s.exact {
		if !r.match(p) {
			return false
		}
	}
	for _, g := range s.globs {
		if !slices.ContainsFunc(r.globs, func(h string) bool { return globCovers(h, g) }) {
			return false
		}
	}
	return true
}

// patternsCover reports whether every name pattern c matches is matched
// by one of pats.
func patternsCover(pats []string, c string) bool {
	return slices.ContainsFunc(pats, func(p string) bool {
		if !isGlob(c) {
			return globMatch(p, c)
		}
		return globCovers(p, c)
	})
}

// globCovers reports, conservatively, whether every string glob g
// matches, glob h matches: h is g, "*", or a literal prefix and "*"
// that g's literal prefix starts with.
func globCovers(h, g string) bool {
	if h == g || h == "*" {
		return true
	}
	lit, ok := strings.CutSuffix(h, "*")
	if !ok || isGlob(lit) {
		return false
	}
	gLit := g
	if k := strings.IndexAny(g, "*?"); k >= 0 {
		gLit = g[:k]
	}
	return strings.HasPrefix(gLit, lit)
}

// implies reports, conservatively, whether every value satisfying s (raw
// sr, compiled sc) satisfies r (rr, rc).
func implies(sr *rawCons, sc *constraint, rr *rawCons, rc *constraint) bool {
	if sr.In.set {
		// s passes only its listed values: decide on each exactly.
		for _, v := range sr.In.vals {
			val, ok := scalarValue(v)
			if ok && sc.ok(val) && !rc.ok(val) {
				return false
			}
		}
		return true
	}
	sKinds, _ := consKinds(sr)
	for k := range rc.checks {
		desc := rc.checks[k].desc
		if slices.ContainsFunc(sc.checks, func(c check) bool { return c.desc == desc }) {
			continue
		}
		key, _, _ := strings.Cut(desc, " ")
		if !impliesKey(key, sr, sc, rr, rc, sKinds) {
			return false
		}
	}
	return true
}

// impliesKey reports, conservatively, whether s implies r's constraint key.
func impliesKey(key string, s *rawCons, sc *constraint, r *rawCons, rc *constraint, sKinds kinds) bool {
	subset := func(a, b []string) bool { // every a in b
		return !slices.ContainsFunc(a, func(x string) bool { return !slices.Contains(b, x) })
	}
	// every x of a is covered by some y of b
	each := func(a, b strList, cover func(x, y string) bool) bool {
		return a.set && len(a.vals) > 0 && !slices.ContainsFunc(a.vals, func(x string) bool {
			return !slices.ContainsFunc(b.vals, func(y string) bool { return cover(x, y) })
		})
	}
	atLeast := func(sv, rv *int) bool { return sv != nil && *sv >= *rv }
	atMost := func(sv, rv *int) bool { return sv != nil && *sv <= *rv }
	switch key {
	case "type":
		return sKinds&^kindOfType(r.Type) == 0
	case "not_in":
		return s.NotIn.set && subset(scalarTexts(r.NotIn), scalarTexts(s.NotIn))
	case "min_len":
		return atLeast(s.MinLen, r.MinLen)
	case "max_len":
		return atMost(s.MaxLen, r.MaxLen)
	case "min_items":
		return atLeast(s.MinItems, r.MinItems)
	case "max_items":
		return atMost(s.MaxItems, r.MaxItems)
	case "prefix":
		return each(s.Prefix, r.Prefix, strings.HasPrefix)
	case "suffix":
		return each(s.Suffix, r.Suffix, strings.HasSuffix)
	case "contains":
		return each(s.Contains, r.Contains, strings.Contains)
	case "not_prefix":
		return each(r.NotPrefix, s.NotPrefix, strings.HasPrefix)
	case "not_suffix":
		return each(r.NotSuffix, s.NotSuffix, strings.HasSuffix)
	case "not_contains":
		return each(r.NotContains, s.NotContains, strings.Contains)
	case "regex":
		return s.Regex.set && subset(s.Regex.vals, r.Regex.vals)
	case "not_regex":
		return s.NotRegex.set && subset(r.NotRegex.vals, s.NotRegex.vals)
	case "url_scheme":
		return s.URLScheme.set && subset(lowerAll(s.URLScheme.vals), lowerAll(r.URLScheme.vals))
	case "url_host":
		return s.URLHost.set && subset(lowerAll(s.URLHost.vals), lowerAll(r.URLHost.vals))
	case "path_under":
		return each(s.PathUnder, r.PathUnder, func(x, y string) bool { return pathUnderAny(path.Clean(x), []string{path.Clean(y)}) })
	case "path_not_under":
		return each(r.PathNotUnder, s.PathNotUnder, func(x, y string) bool { return pathUnderAny(path.Clean(x), []string{path.Clean(y)}) })
	case "cidr":
		return each(s.CIDR, r.CIDR, func(x, y string) bool {
			a, b := cidrOf(x), cidrOf(y)
			return a.IsValid() && b.IsValid() && b.Bits() <= a.Bits() && b.Contains(a.Addr())
		})
	case "contains_item":
		return s.ContainsItem.set && subset(scalarTexts(s.ContainsItem), scalarTexts(r.ContainsItem))
	case "not_contains_item":
		return s.NotContainsItem.set && subset(scalarTexts(r.NotContainsItem), scalarTexts(s.NotContainsItem))
	case "range":
		if s.Range == nil {
			return false
		}
		sr, rr := *s.Range, *r.Range
		return rr[0].cmp(&sr[0]) <= 0 && sr[1].cmp(&rr[1]) <= 0
	case "items":
		if s.Items == nil {
			return false
		}
		return implies(resolved(s.Items), itemsOf(sc), resolved(r.Items), itemsOf(rc))
	}
	return false // in (s has none), argv_*: only the same text implies
}

// cidrOf parses a cidr list entry as compile does.
func cidrOf(s string) netip.Prefix {
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}
		}
		pf = netip.PrefixFrom(a, a.BitLen())
	}
	if pf.Addr().Is4In6() {
		pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
	}
	return pf.Masked()
}
