package policy

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// DefaultDenyRule is the Rule of a decision that no rule made.
const DefaultDenyRule = "default-deny"

// Input is what a decision is made on: the authenticated principal, the
// capability id and the call's arguments (an object; a missing Value is read
// as an object with no members).
//
// Args is what the capability will act on: the pipeline passes the
// capability's canonical form of the call (capability.Canonicalizer), so
// rules see one spelling of each path, binary and URL. Alt, when it
// exists, is an object of other spellings of some arguments that name
// exactly the same thing (shell: {"bin":"git"} for "/usr/bin/git"): an
// argument's constraints hold when they hold for its value in Args or for
// its value in Alt.
type Input struct {
	Principal  string
	Capability string
	Args       protocol.Value
	Alt        protocol.Value
}

// RuleInfo describes one compiled rule, for `femtoclaw policy check`.
type RuleInfo struct {
	ID           string
	Effect       string   // "allow" or "deny"
	Principals   []string // as written: exact, glob, "group:NAME" or "*"
	Capabilities []string // as written: exact, glob or "*"
	Constraints  []string // one per argument: `args.bin: type string, in ["ls" "cat"]`
}

// Policy is a compiled policy document. It is immutable once built, and
// safe for concurrent use by any number of goroutines; there is nothing to
// close. Build one with Parse or Default.
type Policy struct {
	version int
	groups  []group
	rules   []*rule // file order; a short-form rule comes last

	// The index: for each capability named exactly in some rule, the rules
	// that can apply to it (exact names and matching globs), denies and
	// allows each in file order. Any other capability is decided by
	// fallback, the rules whose capability patterns are globs.
	byCap    map[string]*capRules
	fallback *capRules

	text string
	hash [32]byte
}

type group struct {
	name    string
	members []string
}

type capRules struct {
	denies, allows []*rule
	checkCap       bool // the fallback: match capability globs at evaluation
}

// rule is one compiled rule.
type rule struct {
	id           string
	where        string // `rules[3] (id "P4")`, for messages
	index        int
	allow        bool
	principals   []string // as written
	capabilities []string // as written
	princ        principalSet
	args         []argCheck // sorted by name

	// Decisions made by this rule, built once so returning one costs nothing.
	decided    protocol.Verdict
	ruleSuffix string // " (rule ID)", the end of an argument-denial reason
}

type argCheck struct {
	name     string
	label    string // "args.NAME"
	optional bool
	c        constraint
}

// fill precomputes the rule's decision.
func (r *rule) fill() {
	r.ruleSuffix = " (rule " + r.id + ")"
	switch {
	case r.allow:
		r.decided = protocol.Verdict{Code: protocol.DecisionAuthorized, Rule: r.id, Reason: "allowed by rule " + r.id}
	case len(r.args) == 0:
		r.decided = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: r.id, Reason: "denied by rule " + r.id}
	default:
		parts := make([]string, len(r.args))
		for i := range r.args {
			parts[i] = r.args[i].text()
		}
		r.decided = protocol.Verdict{Code: protocol.DecisionArgumentInvalid, Rule: r.id,
			Reason: "denied by rule " + r.id + ": " + strings.Join(parts, "; ")}
	}
}

func (a *argCheck) text() string {
	d := a.c.desc()
	if a.optional {
		if d == "" {
			return a.label + ": optional"
		}
		return a.label + ": optional, " + d
	}
	if d == "" {
		return a.label + ": present"
	}
	return a.label + ": " + d
}

// failingArg returns the index of the first argument whose constraints do
// not hold, or -1 when all hold.
func (r *rule) failingArg(args, alt protocol.Value) int {
	for i := range r.args {
		a := &r.args[i]
		v := args.Get(a.name)
		if !v.Exists() {
			if a.optional {
				continue
			}
			return i
		}
		if !a.c.ok(v) {
			if w := alt.Get(a.name); !w.Exists() || !a.c.ok(w) {
				return i
			}
		}
	}
	return -1
}

func (r *rule) explain(i int, args protocol.Value) string {
	a := &r.args[i]
	v := args.Get(a.name)
	if !v.Exists() {
		return a.label + " is missing" + r.ruleSuffix
	}
	return a.c.explain(a.label, v, r.ruleSuffix)
}

func (r *rule) matchesCap(name string) bool {
	for _, p := range r.capabilities {
		if globMatch(p, name) {
			return true
		}
	}
	return false
}

// principalSet is a compiled principal matcher: groups are expanded at
// compile time, so matching is a scan of a few strings (or a map lookup).
type principalSet struct {
	any   bool
	exact []string
	set   map[string]struct{} // when exact is long
	globs []string
}

func (s *principalSet) add(pat string) {
	if isGlob(pat) {
		if !slices.Contains(s.globs, pat) {
			s.globs = append(s.globs, pat)
		}
		return
	}
	if !slices.Contains(s.exact, pat) {
		s.exact = append(s.exact, pat)
	}
}

func (s *principalSet) finish() {
	if len(s.exact) > 8 {
		s.set = make(map[string]struct{}, len(s.exact))
		for _, x := range s.exact {
			s.set[x] = struct{}{}
		}
	}
}

func (s *principalSet) match(p string) bool {
	if s.any {
		return true
	}
	if s.set != nil {
		if _, ok := s.set[p]; ok {
			return true
		}
	} else {
		for _, x := range s.exact {
			if x == p {
				return true
			}
		}
	}
	for _, g := range s.globs {
		if globMatch(g, p) {
			return true
		}
	}
	return false
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }

// globMatch reports whether s matches pattern, where '*' matches any run
// of characters (including none, and including '/' and '.') and '?' any one
// character; every other character matches itself. It does not allocate.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) || px < len(pattern) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, n := decodeRuneLen(s[sx:])
					px++
					sx += n
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			starS++
			for starS < len(s) && s[starS]&0xC0 == 0x80 { // stay on rune starts
				starS++
			}
			px, sx = starP+1, starS
			continue
		}
		return false
	}
	return true
}

func decodeRuneLen(s string) (rune, int) {
	if s[0] < 0x80 {
		return rune(s[0]), 1
	}
	n := 1
	for n < len(s) && n < 4 && s[n]&0xC0 == 0x80 {
		n++
	}
	return 0, n
}

// buildIndex groups rules by capability.
func (p *Policy) buildIndex() {
	p.byCap = map[string]*capRules{}
	p.fallback = &capRules{checkCap: true}
	var names []string
	for _, r := range p.rules {
		for _, c := range r.capabilities {
			if !isGlob(c) && !slices.Contains(names, c) {
				names = append(names, c)
			}
		}
	}
	add := func(cr *capRules, r *rule) {
		if r.allow {
			cr.allows = append(cr.allows, r)
		} else {
			cr.denies = append(cr.denies, r)
		}
	}
	for _, name := range names {
		cr := &capRules{}
		for _, r := range p.rules {
			if r.matchesCap(name) {
				add(cr, r)
			}
		}
		p.byCap[name] = cr
	}
	for _, r := range p.rules {
		if slices.ContainsFunc(r.capabilities, isGlob) {
			add(p.fallback, r)
		}
	}
}

var defaultDeny = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: DefaultDenyRule,
	Reason: "no rule allows this principal to use this capability (deny by default)"}

// Evaluate decides in. The verdict's Code is one of AUTHORIZED,
// DENIED_POLICY_VIOLATION and DENIED_ARGUMENT_INVALID; its Rule is the id of
// the deciding rule, or DefaultDenyRule; its Reason says why in words.
// It is deterministic (the same policy and input give
// the same decision), safe for concurrent use, and does not allocate except
// to word the reason of an argument denial (and in url_* checks on URLs
// that need net/url). It fails
// closed: a nil policy or input, or a panic inside a rule, is a denial whose
// Reason names the cause.
//
// The order: (1) the first deny rule, in file order, whose principal,
// capability and argument constraints all match denies — with
// DENIED_ARGUMENT_INVALID if that rule has argument constraints, else
// DENIED_POLICY_VIOLATION; (2) otherwise the first fully matching allow rule
// authorizes; (3) otherwise the first allow rule that matched principal and
// capability but failed an argument constraint denies with
// DENIED_ARGUMENT_INVALID, naming that constraint; (4) otherwise
// DENIED_POLICY_VIOLATION by DefaultDenyRule.
func (p *Policy) Evaluate(in *Input) (d protocol.Verdict) {
	if p == nil || in == nil {
		return protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: DefaultDenyRule, Reason: "no policy or no input (failing closed)"}
	}
	var cur *rule
	defer func() {
		if e := recover(); e != nil {
			id := DefaultDenyRule
			if cur != nil {
				id = cur.id
			}
			d = protocol.Verdict{Code: protocol.DecisionPolicyViolation, Rule: id,
				Reason: fmt.Sprintf("internal error evaluating rule %s: %v (failing closed)", id, e)}
		}
	}()
	cr := p.byCap[in.Capability]
	if cr == nil {
		cr = p.fallback
	}
	for _, r := range cr.denies {
		cur = r
		if cr.checkCap && !r.matchesCap(in.Capability) || !r.princ.match(in.Principal) {
			continue
		}
		if r.failingArg(in.Args, in.Alt) < 0 {
			return r.decided
		}
	}
	var failed *rule
	failedArg := -1
	for _, r := range cr.allows {
		cur = r
		if cr.checkCap && !r.matchesCap(in.Capability) || !r.princ.match(in.Principal) {
			continue
		}
		i := r.failingArg(in.Args, in.Alt)
		if i < 0 {
			return r.decided
		}
		if failed == nil {
			failed, failedArg = r, i
		}
	}
	if failed != nil {
		cur = failed
		return protocol.Verdict{Code: protocol.DecisionArgumentInvalid, Rule: failed.id, Reason: failed.explain(failedArg, in.Args)}
	}
	return defaultDeny
}

// Hash returns the SHA-256 of the policy's canonical compiled form (the
// text String returns). Documents that differ only in layout, comments or
// key order hash the same. Caches use it as the policy epoch.
func (p *Policy) Hash() [32]byte { return p.hash }

// String returns the compiled policy as text, one rule per paragraph in
// evaluation order, with groups listed first.
func (p *Policy) String() string { return p.text }

// Rules describes the compiled rules in file order (a short-form rule
// last). The slices are copies.
func (p *Policy) Rules() []RuleInfo {
	out := make([]RuleInfo, len(p.rules))
	for i, r := range p.rules {
		info := RuleInfo{ID: r.id, Effect: "deny",
			Principals: slices.Clone(r.principals), Capabilities: slices.Clone(r.capabilities)}
		if r.allow {
			info.Effect = "allow"
		}
		for j := range r.args {
			info.Constraints = append(info.Constraints, r.args[j].text())
		}
		out[i] = info
	}
	return out
}

func (p *Policy) render() string {
	var b strings.Builder
	b.WriteString("version " + strconv.Itoa(p.version) + "\ndefault deny\n")
	for _, g := range p.groups {
		b.WriteString("group " + strconv.Quote(g.name) + " " + quoteList(g.members) + "\n")
	}
	for _, info := range p.Rules() {
		b.WriteString("rule " + strconv.Quote(info.ID) + " " + info.Effect +
			" principals " + quoteList(info.Principals) + " capabilities " + quoteList(info.Capabilities) + "\n")
		for _, c := range info.Constraints {
			b.WriteString("  " + c + "\n")
		}
	}
	return b.String()
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// defaultYAML is the embedded default policy.
const defaultYAML = `version: 1
default: deny
rules:
  - id: default.noop-echo
    effect: allow
    principals: ["*"]
    capabilities: [noop, echo]
`

// DefaultDocument returns the text of the embedded default policy, the
// one Default compiles (for `femtoclaw policy check` and `fmt`).
func DefaultDocument() []byte { return []byte(defaultYAML) }

// Default returns the embedded default policy: any principal may run noop
// and echo; everything else is denied by default.
func Default() *Policy {
	p, _, err := parse([]byte(defaultYAML))
	if err != nil {
		panic("policy: embedded default does not compile: " + err.Error())
	}
	return p
}
