package policy

import (
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// This file compiles one argument's constraint map (a rawCons) into a
// constraint: compileCons resolves the aliases, then hands the map to one
// small compiler per constraint family, in the fixed order of families
// below. Each family compiler validates its keys, reports problems as
// CONFIGURATION_ERROR naming the place (`rules[0]: args.bin.in: empty
// list`), and appends its checks.

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
type familyCompiler func(b *consBuilder, rc *rawCons) *protocol.Error

// compileCons compiles one constraint map. Checks are added in a fixed
// order (the canonical order String prints), so two documents that differ
// only in key order compile to the same policy and the same Hash.
func compileCons(where string, orig *rawCons, inItems bool) (constraint, *protocol.Error) {
	rc, err := resolveAliases(where, orig)
	if err != nil {
		return constraint{}, err
	}
	if inItems && rc.Optional {
		return constraint{}, cfgErr("%s: optional has no meaning inside items", where)
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
	for _, f := range families {
		if err := f(b, rc); err != nil {
			return constraint{}, err
		}
	}
	return b.c, nil
}

// resolveAliases returns a copy of orig with the spec digest's aliases
// (deny_pattern, item_max_len) folded into their canonical keys. It works
// on a copy because YAML anchors may share orig.
func resolveAliases(where string, orig *rawCons) (*rawCons, *protocol.Error) {
	rc := new(rawCons)
	*rc = *orig
	if rc.DenyPattern.set {
		if rc.NotRegex.set {
			return nil, cfgErr("%s: give not_regex or deny_pattern, not both", where)
		}
		rc.NotRegex = rc.DenyPattern
	}
	if rc.ItemMaxLen != nil {
		items := &rawCons{}
		if rc.Items != nil {
			*items = *rc.Items
		}
		if items.MaxLen != nil {
			return nil, cfgErr("%s: give items.max_len or item_max_len, not both", where)
		}
		items.MaxLen = rc.ItemMaxLen
		rc.Items = items
	}
	return rc, nil
}

// compileType compiles type.
func compileType(b *consBuilder, rc *rawCons) *protocol.Error {
	if rc.Type == "" {
		return nil
	}
	fn, ok := typeCheck(rc.Type)
	if !ok {
		return cfgErr("%s.type: %q is not one of string, number, integer, boolean, array, object, null", b.where, rc.Type)
	}
	article := "a "
	if rc.Type == "array" || rc.Type == "object" || rc.Type == "integer" {
		article = "an "
	}
	b.add("type "+rc.Type, "is not "+article+rc.Type, fn)
	return nil
}

// compileIn compiles in and not_in.
func compileIn(b *consBuilder, rc *rawCons) *protocol.Error {
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
func compileLen(b *consBuilder, rc *rawCons) *protocol.Error {
	if rc.MinLen != nil {
		if err := nonNeg(b.where, "min_len", rc.MinLen); err != nil {
			return err
		}
		n := *rc.MinLen
		b.add("min_len "+strconv.Itoa(n), "is shorter than "+strconv.Itoa(n)+" characters",
			strCheck(func(s string) bool { return len(s) >= n && charLen(s) >= n }))
	}
	if rc.MaxLen != nil {
		if err := nonNeg(b.where, "max_len", rc.MaxLen); err != nil {
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
func compileStringLists(b *consBuilder, rc *rawCons) *protocol.Error {
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
func compileRegex(b *consBuilder, rc *rawCons) *protocol.Error {
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
				return cfgErr("%s.%s[%d]: %v", b.where, rx.key, i, err)
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
func compileItemCount(b *consBuilder, rc *rawCons) *protocol.Error {
	if rc.MinItems != nil {
		if err := nonNeg(b.where, "min_items", rc.MinItems); err != nil {
			return err
		}
		n := *rc.MinItems
		b.add("min_items "+strconv.Itoa(n), "has fewer than "+strconv.Itoa(n)+" items (or is not an array)",
			func(v protocol.Value) bool { return isArr(v) && v.Len() >= n })
	}
	if rc.MaxItems != nil {
		if err := nonNeg(b.where, "max_items", rc.MaxItems); err != nil {
			return err
		}
		n := *rc.MaxItems
		b.add("max_items "+strconv.Itoa(n), "has more than "+strconv.Itoa(n)+" items (or is not an array)",
			func(v protocol.Value) bool { return isArr(v) && v.Len() <= n })
	}
	return nil
}

// compileItems compiles items: a constraint map every element must satisfy.
func compileItems(b *consBuilder, rc *rawCons) *protocol.Error {
	if rc.Items == nil {
		return nil
	}
	ic, err := compileCons(b.where+".items", rc.Items, true)
	if err != nil {
		return err
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
func compileContainsItem(b *consBuilder, rc *rawCons) *protocol.Error {
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
func compileRange(b *consBuilder, rc *rawCons) *protocol.Error {
	if rc.Range == nil {
		return nil
	}
	r := *rc.Range
	if len(r) != 2 || math.IsNaN(r[0].f) || math.IsNaN(r[1].f) || r[0].cmp(&r[1]) > 0 {
		return cfgErr("%s.range: want [min, max] with min <= max", b.where)
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
func compileCIDR(b *consBuilder, rc *rawCons) *protocol.Error {
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
				return cfgErr("%s.cidr[%d]: %q is not a CIDR prefix or IP address", b.where, i, s)
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
func compileURL(b *consBuilder, rc *rawCons) *protocol.Error {
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
				return cfgErr("%s.url_host[%d]: %q is not a host name (host or host:port)", b.where, i, h)
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
		case number:
			s.nums = append(s.nums, x.d)
			if x.isInt {
				parts = append(parts, x.lit)
			} else {
				parts = append(parts, x.text())
			}
		case float64: // NaN or an infinity: exactNumber keeps finite numbers as number
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, cfgErr("%s.%s[%d]: not a finite number", where, key, i)
			}
			return nil, cfgErr("%s.%s[%d]: want a string, number or boolean", where, key, i)
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

// nonEmpty rejects an empty list and empty strings in it.
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

// nonNeg rejects a negative count.
func nonNeg(where, key string, n *int) *protocol.Error {
	if *n < 0 {
		return cfgErr("%s.%s: %d is negative", where, key, *n)
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
