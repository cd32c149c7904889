package policy

import (
	"errors"
	"maps"
	"math"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// typeNames are the values of the type constraint.
var typeNames = []string{"string", "number", "integer", "boolean", "array", "object", "null"}

// This file compiles one argument's constraint map (a rawCons) into a
// constraint: compileCons resolves the aliases, then hands the map to one
// small compiler per constraint family, in the fixed order of families
// below. Each family compiler validates its keys, reports its first
// problem at the node it was written at, naming the place (`rules[0]:
// args.bin.in: empty list`), and appends its checks.

// consBuilder collects the checks of one constraint map.
type consBuilder struct {
	where string // `rules[3] (id "P4"): args.bin`, for messages
	c     constraint
}

// add appends a check: desc is its canonical text, fail what a failing
// value is said to do.
func (b *consBuilder) add(desc, fail string, fn func(protocol.Value) bool) {
	b.c.checks = append(b.c.checks, check{desc: desc, fail: fail, fn: fn})
}

// A familyCompiler compiles the keys of one constraint family from rc.
type familyCompiler func(b *consBuilder, rc *rawCons) *docErr

// compileCons compiles one constraint map. Checks are added in a fixed
// order (the canonical order String prints), so two documents that differ
// only in key order compile to the same policy and the same Hash. Every
// family's first problem is reported; errors without a node belong to the
// map as a whole.
func compileCons(where string, orig *rawCons, inItems bool) (constraint, []*docErr) {
	rc, err := resolveAliases(where, orig)
	if err != nil {
		return constraint{}, []*docErr{err}
	}
	if inItems && rc.Optional {
		return constraint{}, []*docErr{errAt(rc.at.key("optional"), "%s: optional has no meaning inside items", where)}
	}
	// The families in canonical order. (A local table: a package-level
	// one would be an initialization cycle, since items recurses here.)
	families := [...]familyCompiler{
		compileType,         // type
		compileIn,           // in, not_in
		compileLen,          // min_len, max_len
		compileStringLists,  // prefix, not_prefix, suffix, not_suffix, contains, not_contains
		compileRegex,        // regex, not_regex
		compileItemCount,    // min_items, max_items
		compileItems,        // items
		compileContainsItem, // contains_item, not_contains_item
		compileRange,        // range
		compileCIDR,         // cidr
		compileURL,          // url_scheme, url_host
		compilePath,         // path_under, path_not_under (path.go)

		compileArgvOptions,    // argv_options (argv.go)
		compileArgvSubcommand, // argv_subcommand (argv.go)
	}
	b := &consBuilder{where: where}
	var errs []*docErr
	for _, f := range families {
		if err := f(b, rc); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return constraint{}, place(errs, rc.at.self)
	}
	return b.c, nil
}

// resolveAliases returns a copy of orig with the spec digest's aliases
// (deny_pattern, item_max_len) folded into their canonical keys. It works
// on a copy because YAML anchors may share orig.
func resolveAliases(where string, orig *rawCons) (*rawCons, *docErr) {
	rc := new(rawCons)
	*rc = *orig
	if rc.DenyPattern.set {
		if rc.NotRegex.set {
			return nil, errAt(rc.at.key("deny_pattern"), "%s: give not_regex or deny_pattern, not both", where)
		}
		rc.NotRegex = rc.DenyPattern
	}
	if rc.ItemMaxLen != nil {
		items := &rawCons{}
		if rc.Items != nil {
			*items = *rc.Items
		}
		if items.MaxLen != nil {
			return nil, errAt(rc.at.key("item_max_len"), "%s: give items.max_len or item_max_len, not both", where)
		}
		items.MaxLen = rc.ItemMaxLen
		if items.at.vals == nil {
			items.at = docNodes{self: rc.at.val("item_max_len"), keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
		} else {
			items.at.keys, items.at.vals = maps.Clone(items.at.keys), maps.Clone(items.at.vals)
		}
		items.at.keys["max_len"], items.at.vals["max_len"] = rc.at.key("item_max_len"), rc.at.val("item_max_len")
		rc.Items = items
	}
	return rc, nil
}

// compileType compiles type.
func compileType(b *consBuilder, rc *rawCons) *docErr {
	if rc.Type == "" {
		return nil
	}
	fn, ok := typeCheck(rc.Type)
	if !ok {
		return errAt(rc.at.val("type"), "%s.type: %q is not one of %s%s", b.where, rc.Type, strings.Join(typeNames, ", "), suggest.Hint(rc.Type, typeNames))
	}
	article := "a "
	if rc.Type == "array" || rc.Type == "object" || rc.Type == "integer" {
		article = "an "
	}
	b.add("type "+rc.Type, "is not "+article+rc.Type, fn)
	return nil
}

// compileIn compiles in and not_in.
func compileIn(b *consBuilder, rc *rawCons) *docErr {
	if rc.In.set {
		s, err := compileScalars(b.where, "in", rc.In)
		if err != nil {
			return err
		}
		b.add("in "+s.text, "not in "+s.text, s.has)
	}
	if rc.NotIn.set {
		s, err := compileScalars(b.where, "not_in", rc.NotIn)
		if err != nil {
			return err
		}
		b.add("not_in "+s.text, "is in "+s.text+" (not_in)", func(v protocol.Value) bool { return isScalar(v) && !s.has(v) })
	}
	return nil
}

// compileLen compiles min_len and max_len (in characters).
func compileLen(b *consBuilder, rc *rawCons) *docErr {
	if rc.MinLen != nil {
		if err := nonNeg(b.where, "min_len", rc); err != nil {
			return err
		}
		n := *rc.MinLen
		b.add("min_len "+strconv.Itoa(n), "is shorter than "+strconv.Itoa(n)+" characters",
			strCheck(func(s string) bool { return len(s) >= n && charLen(s) >= n }))
	}
	if rc.MaxLen != nil {
		if err := nonNeg(b.where, "max_len", rc); err != nil {
			return err
		}
		n := *rc.MaxLen
		b.add("max_len "+strconv.Itoa(n), "is longer than "+strconv.Itoa(n)+" characters",
			strCheck(func(s string) bool { return len(s) <= n || charLen(s) <= n }))
	}
	return nil
}

// compileStringLists compiles prefix, suffix and contains, and their not_
// forms.
func compileStringLists(b *consBuilder, rc *rawCons) *docErr {
	for _, sc := range []struct {
		key  string
		l    strList
		fail string
		neg  bool
		f    func(string, []string) bool
	}{
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
		if err := nonEmpty(b.where, sc.key, sc.l); err != nil {
			return err
		}
		list, f, neg := sc.l.vals, sc.f, sc.neg
		q := quoteList(list)
		b.add(sc.key+" "+q, sc.fail+q, strCheck(func(s string) bool { return f(s, list) != neg }))
	}
	return nil
}

// compileRegex compiles regex and not_regex (RE2, unanchored).
func compileRegex(b *consBuilder, rc *rawCons) *docErr {
	for _, rx := range []struct {
		key string
		l   strList
		neg bool
	}{{"regex", rc.Regex, false}, {"not_regex", rc.NotRegex, true}} {
		if !rx.l.set {
			continue
		}
		if err := nonEmpty(b.where, rx.key, rx.l); err != nil {
			return err
		}
		res := make([]*regexp.Regexp, len(rx.l.vals))
		for i, src := range rx.l.vals {
			re, err := regexp.Compile(src)
			if err != nil {
				return errAt(rx.l.elem(i), "%s.%s[%d]: %s", b.where, rx.key, i, RegexpProblem(err))
			}
			res[i] = re
		}
		q, neg := quoteList(rx.l.vals), rx.neg
		fail := "matches none of " + q
		if neg {
			fail = "matches one of " + q
		}
		b.add(rx.key+" "+q, fail, strCheck(func(s string) bool { return anyRegex(s, res) != neg }))
	}
	return nil
}

func isArr(v protocol.Value) bool { return v.Kind() == protocol.KindArray }

// compileItemCount compiles min_items and max_items.
func compileItemCount(b *consBuilder, rc *rawCons) *docErr {
	if rc.MinItems != nil {
		if err := nonNeg(b.where, "min_items", rc); err != nil {
			return err
		}
		n := *rc.MinItems
		b.add("min_items "+strconv.Itoa(n), "has fewer than "+strconv.Itoa(n)+" items (or is not an array)",
			func(v protocol.Value) bool { return isArr(v) && v.Len() >= n })
	}
	if rc.MaxItems != nil {
		if err := nonNeg(b.where, "max_items", rc); err != nil {
			return err
		}
		n := *rc.MaxItems
		b.add("max_items "+strconv.Itoa(n), "has more than "+strconv.Itoa(n)+" items (or is not an array)",
			func(v protocol.Value) bool { return isArr(v) && v.Len() <= n })
	}
	return nil
}

// compileItems compiles items: a constraint map every element must satisfy.
func compileItems(b *consBuilder, rc *rawCons) *docErr {
	if rc.Items == nil {
		return nil
	}
	ic, errs := compileCons(b.where+".items", rc.Items, true)
	if len(errs) > 0 {
		return place(errs, rc.at.val("items"))[0]
	}
	inner := &ic
	desc := "items {" + inner.desc() + "}"
	b.c.checks = append(b.c.checks, check{desc: desc, fail: "has an item that fails " + desc[len("items "):], items: inner,
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
	return nil
}

// compileContainsItem compiles contains_item and not_contains_item.
func compileContainsItem(b *consBuilder, rc *rawCons) *docErr {
	for _, ci := range []struct {
		key string
		l   anyList
		neg bool
	}{{"contains_item", rc.ContainsItem, false}, {"not_contains_item", rc.NotContainsItem, true}} {
		if !ci.l.set {
			continue
		}
		s, err := compileScalars(b.where, ci.key, ci.l)
		if err != nil {
			return err
		}
		neg := ci.neg
		fail := "has no item in " + s.text
		if neg {
			fail = "has an item in " + s.text
		}
		b.add(ci.key+" "+s.text, fail, func(v protocol.Value) bool {
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
	return nil
}

// compileRange compiles range: [min, max], inclusive, compared exactly
// (an infinite bound is no bound on that side).
func compileRange(b *consBuilder, rc *rawCons) *docErr {
	if rc.Range == nil {
		return nil
	}
	r := *rc.Range
	if len(r) != 2 || math.IsNaN(r[0].f) || math.IsNaN(r[1].f) {
		return errAt(rc.at.val("range"), "%s.range: want [min, max] with min <= max", b.where)
	}
	if r[0].cmp(&r[1]) > 0 {
		return errAt(rc.at.val("range"), "%s.range: want [min, max] with min <= max (%s > %s: no number is in it)", b.where, r[0].text(), r[1].text())
	}
	lo, hi := r[0], r[1]
	loInf, hiInf := lo.inf(), hi.inf()
	text := "[" + lo.text() + ", " + hi.text() + "]"
	b.add("range "+text, "is not a number in "+text, func(v protocol.Value) bool {
		d, ok := protocol.ParseDecimal(v.Number())
		return ok &&
			(loInf < 0 || loInf == 0 && lo.d.Cmp(&d) <= 0) &&
			(hiInf > 0 || hiInf == 0 && d.Cmp(&hi.d) <= 0)
	})
	return nil
}

// compileCIDR compiles cidr: prefixes or single addresses, IPv4-mapped
// IPv6 folded to IPv4.
func compileCIDR(b *consBuilder, rc *rawCons) *docErr {
	if !rc.CIDR.set {
		return nil
	}
	if err := nonEmpty(b.where, "cidr", rc.CIDR); err != nil {
		return err
	}
	var pfx []netip.Prefix
	var texts []string
	for i, s := range rc.CIDR.vals {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil || a.Zone() != "" {
				return errAt(rc.CIDR.elem(i), "%s.cidr[%d]: %q is not a CIDR prefix or IP address", b.where, i, s)
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
	b.add("cidr "+q, "is not an IP address in "+q, strCheck(func(s string) bool { return inPrefixes(s, pfx) }))
	return nil
}

// compileURL compiles url_scheme and url_host (both lower-cased).
func compileURL(b *consBuilder, rc *rawCons) *docErr {
	if rc.URLScheme.set {
		if err := nonEmpty(b.where, "url_scheme", rc.URLScheme); err != nil {
			return err
		}
		list := lowerAll(rc.URLScheme.vals)
		q := quoteList(list)
		b.add("url_scheme "+q, "is not an absolute URL with a scheme in "+q, strCheck(func(s string) bool {
			scheme, _, ok := parseURL(s)
			return ok && inStrings(scheme, list)
		}))
	}
	if rc.URLHost.set {
		if err := nonEmpty(b.where, "url_host", rc.URLHost); err != nil {
			return err
		}
		list := lowerAll(rc.URLHost.vals)
		for i, h := range list {
			if strings.ContainsAny(h, "/@\\ %*?") {
				return errAt(rc.URLHost.elem(i), "%s.url_host[%d]: %q is not a host name (host or host:port)", b.where, i, h)
			}
		}
		q := quoteList(list)
		b.add("url_host "+q, "is not a URL without userinfo whose host is one of "+q, strCheck(func(s string) bool {
			_, host, ok := parseURL(s)
			return ok && inStrings(host, list)
		}))
	}
	return nil
}

// compileScalars compiles the list of an in-style key (in, not_in,
// contains_item, not_contains_item).
func compileScalars(where, key string, l anyList) (*scalarSet, *docErr) {
	if len(l.vals) == 0 {
		return nil, errAt(l.node, "%s.%s: empty list", where, key)
	}
	s := &scalarSet{}
	parts := make([]string, 0, len(l.vals))
	for i, v := range l.vals {
		switch x := v.(type) {
		case string:
			s.strs = append(s.strs, x)
			parts = append(parts, strconv.Quote(x))
		case number:
			s.nums = append(s.nums, x.d)
			if x.isInt {
				parts = append(parts, x.lit)
			} else {
				parts = append(parts, x.text())
			}
		case float64: // NaN or an infinity: exactNumber keeps finite numbers as number
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, errAt(l.elem(i), "%s.%s[%d]: not a finite number", where, key, i)
			}
			return nil, errAt(l.elem(i), "%s.%s[%d]: want a string, number or boolean", where, key, i)
		case bool:
			if x {
				s.hasTrue = true
			} else {
				s.hasFals = true
			}
			parts = append(parts, strconv.FormatBool(x))
		default:
			return nil, errAt(l.elem(i), "%s.%s[%d]: want a string, number or boolean, got %s", where, key, i, describe(l.elem(i)))
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

// nonEmpty rejects an empty list and empty strings in it.
func nonEmpty(where, key string, l strList) *docErr {
	if len(l.vals) == 0 {
		return errAt(l.node, "%s.%s: empty list", where, key)
	}
	for i, s := range l.vals {
		if s == "" {
			return errAt(l.elem(i), "%s.%s[%d]: empty string", where, key, i)
		}
	}
	return nil
}

// nonNeg rejects a negative count: the value of key in rc, an *int.
func nonNeg(where, key string, rc *rawCons) *docErr {
	var n int
	switch key {
	case "min_len":
		n = *rc.MinLen
	case "max_len":
		n = *rc.MaxLen
	case "min_items":
		n = *rc.MinItems
	case "max_items":
		n = *rc.MaxItems
	}
	if n < 0 {
		return errAt(rc.at.val(key), "%s.%s: %d is negative", where, key, n)
	}
	return nil
}

// quoteList renders list as `["a" "b"]`, the canonical text of a list.
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

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	return out
}

// RegexpProblem words an error of regexp.Compile for a message: "not a
// valid RE2 regular expression: missing closing ): `(`" (Go's own says
// "error parsing regexp: …").
func RegexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return "not a valid RE2 regular expression: " + se.Code.String() + ": `" + se.Expr + "`"
	}
	return "not a valid RE2 regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}
