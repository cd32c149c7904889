package policy

import (
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// A constraint is the compiled form of one argument's constraint map: an
// ordered list of checks, all of which must hold. Checks are built once, at
// compile time; evaluating one never allocates (url_* checks excepted: they
// run net/url's parser).
type constraint struct {
	checks []check
}

// check is one compiled test. desc is the canonical text of the check
// (`in ["ls" "cat"]`) and is what reasons and String print.
type check struct {
	desc string // canonical text: `in ["ls" "cat"]`
	fail string // why a value fails it: `not in ["ls" "cat"]`
	fn   func(v protocol.Value) bool
	// items is set for the items check, so explanations can name the
	// failing element.
	items *constraint
}

// ok reports whether v satisfies every check.
func (c *constraint) ok(v protocol.Value) bool {
	for i := range c.checks {
		if !c.checks[i].fn(v) {
			return false
		}
	}
	return true
}

// firstFail returns the index of the first failing check, or -1.
func (c *constraint) firstFail(v protocol.Value) int {
	for i := range c.checks {
		if !c.checks[i].fn(v) {
			return i
		}
	}
	return -1
}

// explain describes why v fails c, naming it as name (`args.bin`) and
// ending with suffix. It runs only for denials, and builds the text with
// one allocation (more when an array item fails).
func (c *constraint) explain(name string, v protocol.Value, suffix string) string {
	i := c.firstFail(v)
	if i < 0 {
		return name + " satisfies its constraints" + suffix
	}
	ch := &c.checks[i]
	if ch.items != nil && v.Kind() == protocol.KindArray {
		n := 0
		for it := v.First(); it.Exists(); it = it.Next() {
			if !ch.items.ok(it) {
				return ch.items.explain(name+"["+strconv.Itoa(n)+"]", it, suffix)
			}
			n++
		}
	}
	return name + " " + quoteRaw(v) + " " + ch.fail + suffix
}

// desc returns the canonical text of all checks, ", "-separated.
func (c *constraint) desc() string {
	parts := make([]string, len(c.checks))
	for i := range c.checks {
		parts[i] = c.checks[i].desc
	}
	return strings.Join(parts, ", ")
}

// quoteRaw returns v's JSON text, cut to 64 bytes.
func quoteRaw(v protocol.Value) string {
	if !v.Exists() {
		return "(missing)"
	}
	s := v.Raw()
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// charLen reports the length of s in characters (Unicode code points).
func charLen(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.RuneCountInString(s)
		}
	}
	return len(s)
}

// scalarSet is a compiled `in`/`contains_item` list: JSON strings, numbers
// and booleans, compared by JSON value (numbers exactly, by value:
// protocol.Decimal).
type scalarSet struct {
	strs    []string
	strMap  map[string]struct{} // when there are many strings
	nums    []protocol.Decimal
	hasTrue bool
	hasFals bool
	text    string
}

func (s *scalarSet) has(v protocol.Value) bool {
	switch v.Kind() {
	case protocol.KindString:
		x := v.Str()
		if s.strMap != nil {
			_, ok := s.strMap[x]
			return ok
		}
		for _, y := range s.strs {
			if x == y {
				return true
			}
		}
	case protocol.KindNumber:
		d, ok := protocol.ParseDecimal(v.Number())
		if !ok {
			return false
		}
		for i := range s.nums {
			if d.Cmp(&s.nums[i]) == 0 {
				return true
			}
		}
	case protocol.KindBool:
		if v.Bool() {
			return s.hasTrue
		}
		return s.hasFals
	}
	return false
}

func isScalar(v protocol.Value) bool {
	k := v.Kind()
	return k == protocol.KindString || k == protocol.KindNumber || k == protocol.KindBool
}

// typeCheck returns the check for `type: name`.
func typeCheck(name string) (func(protocol.Value) bool, bool) {
	switch name {
	case "string":
		return func(v protocol.Value) bool { return v.Kind() == protocol.KindString }, true
	case "number":
		return func(v protocol.Value) bool { return v.Kind() == protocol.KindNumber }, true
	case "integer":
		// An integer exactly (9007199254740993.5 is not one), and within
		// float64's range, as policies have always read integers (1e400 is
		// not one).
		return func(v protocol.Value) bool {
			d, ok := protocol.ParseDecimal(v.Number())
			if !ok || !d.IsInteger() {
				return false
			}
			f, ok := v.Float()
			return ok && !math.IsInf(f, 0)
		}, true
	case "boolean":
		return func(v protocol.Value) bool { return v.Kind() == protocol.KindBool }, true
	case "array":
		return func(v protocol.Value) bool { return v.Kind() == protocol.KindArray }, true
	case "object":
		return func(v protocol.Value) bool { return v.Kind() == protocol.KindObject }, true
	case "null":
		return func(v protocol.Value) bool { return v.Kind() == protocol.KindNull }, true
	}
	return nil, false
}

// anyPrefix, anySuffix and anyContains test a string value against a list.
func anyPrefix(s string, list []string) bool {
	for _, p := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func anySuffix(s string, list []string) bool {
	for _, p := range list {
		if strings.HasSuffix(s, p) {
			return true
		}
	}
	return false
}

func anyContains(s string, list []string) bool {
	for _, p := range list {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func anyRegex(s string, list []*regexp.Regexp) bool {
	for _, re := range list {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// strCheck wraps a string test: any other kind fails.
func strCheck(f func(string) bool) func(protocol.Value) bool {
	return func(v protocol.Value) bool {
		return v.Kind() == protocol.KindString && f(v.Str())
	}
}

// hostAddr parses an IP literal, "IP:port" or "[IPv6]:port". Names are not
// resolved (that would make decisions depend on DNS); they fail.
func hostAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, a.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a := ap.Addr()
		return a, a.Zone() == ""
	}
	return netip.Addr{}, false
}

func inPrefixes(s string, pfx []netip.Prefix) bool {
	a, ok := hostAddr(s)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range pfx {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseURL parses an absolute URL strictly enough for host checks: it must
// have a scheme and a host, no userinfo, no backslash, no whitespace or
// control characters and no percent-encoding in the host. It returns the
// lowercased scheme and host (host includes the port, if any).
//
// Common URLs (scheme://name/… with a plain host name, no port, userinfo or
// percent sign) take an allocation-free path that gives exactly what
// net/url gives for them (TestParseURLFast checks this); everything else
// goes through url.Parse.
func parseURL(s string) (scheme, host string, ok bool) {
	if !urlChars(s) {
		return "", "", false
	}
	if scheme, host, ok := parseURLFast(s); ok {
		return scheme, host, true
	}
	return parseURLSlow(s)
}

// urlChars reports whether s has no whitespace, control character or
// backslash (which other parsers read as '/').
func urlChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '\\' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseURLFast handles scheme "://" host [("/" | "?" | "#") rest] where
// scheme and host are lowercase ASCII, the host holds only letters, digits,
// '-' and '.', and rest has no '%'. ok is false when it cannot decide.
func parseURLFast(s string) (scheme, host string, ok bool) {
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
		i++
	}
	if i == 0 || len(s) < i+3 || s[i:i+3] != "://" {
		return "", "", false
	}
	scheme = s[:i]
	j := i + 3
	for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9' || s[j] == '-' || s[j] == '.') {
		j++
	}
	if j == i+3 {
		return "", "", false
	}
	host = s[i+3 : j]
	if j < len(s) {
		if c := s[j]; c != '/' && c != '?' && c != '#' {
			return "", "", false
		}
		if strings.IndexByte(s[j:], '%') >= 0 {
			return "", "", false
		}
	}
	return scheme, host, true
}

func parseURLSlow(s string) (scheme, host string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || u.Scheme == "" {
		return "", "", false
	}
	if strings.ContainsAny(u.Host, "%@") {
		return "", "", false
	}
	return strings.ToLower(u.Scheme), strings.ToLower(u.Host), true
}

func inStrings(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}
