package policy

import (
	"slices"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// This file compiles the option-grammar families, argv_options and
// argv_subcommand: constraints on an argument vector (an array of
// strings) that read it the way a GNU or POSIX command-line parser does,
// so that "--outp=FILE", "--ou FILE" and "-uoFILE" are all seen as the
// option --output / -o they are.

// rawOptions is argv_options as written.
type rawOptions struct {
	TakesValue strList `yaml:"takes_value"`
	Long       strList `yaml:"long"`
	Any        strList `yaml:"any"`
	None       strList `yaml:"none"`
	Only       strList `yaml:"only"`
}

// rawSubcommand is argv_subcommand as written.
type rawSubcommand struct {
	TakesValue strList `yaml:"takes_value"`
	In         strList `yaml:"in"`
	NotIn      strList `yaml:"not_in"`
}

// optGrammar is the compiled option grammar of one tool: which options
// take a value, and (optionally) the complete list of its long options,
// against which abbreviations are resolved.
type optGrammar struct {
	shortVal map[byte]bool   // short options that take a value: 'o' for -o
	longVal  map[string]bool // long options that take a value: "output"
	long     []string        // every long option ("" list: not declared)
}

// resolve returns the long option the GNU parser reads name as: name
// itself if declared, else the one declared option it is a prefix of. ok
// is false without a declared list, or when name is unknown or ambiguous.
func (g *optGrammar) resolve(name string) (string, bool) {
	if len(g.long) == 0 || name == "" {
		return "", false
	}
	if slices.Contains(g.long, name) {
		return name, true
	}
	found := ""
	for _, l := range g.long {
		if strings.HasPrefix(l, name) {
			if found != "" {
				return "", false
			}
			found = l
		}
	}
	return found, found != ""
}

// takesValue reports whether long option name (as written, without "--")
// certainly takes a value: it is declared to, exactly, or (with the long
// list declared) it abbreviates one that does. When unsure the next
// argument is not skipped, so it is still read as a possible option.
func (g *optGrammar) takesValue(name string) bool {
	if g.longVal[name] {
		return true
	}
	if r, ok := g.resolve(name); ok {
		return g.longVal[r]
	}
	return false
}

// option is one option occurrence: a short option (short != 0) or a long
// one (name, as written, without "--", without "=value").
type option struct {
	short byte
	long  string
}

// scanOptions calls fn for every option in argv, in order, until fn
// returns false; it returns false if fn did, or if argv is not an array of
// strings. Grammar (GNU getopt_long, with argument permutation):
// "--" ends the options; "-" and arguments not starting with '-' are
// operands (options may follow them); "--name=value" and "--name" are long
// options, the latter taking the next argument as its value when it takes
// one; "-abc" is a cluster of short options, and the first that takes a
// value takes the rest of the cluster ("-uoFILE": -u, then -o with value
// FILE) or, at the end of the cluster, the next argument.
func (g *optGrammar) scanOptions(argv protocol.Value, fn func(option) bool) bool {
	if argv.Kind() != protocol.KindArray {
		return false
	}
	skip, end := false, false
	for it := argv.First(); it.Exists(); it = it.Next() {
		if it.Kind() != protocol.KindString {
			return false
		}
		if skip {
			skip = false
			continue
		}
		a := it.Str()
		switch {
		case end || a == "-" || !strings.HasPrefix(a, "-"):
			continue
		case a == "--":
			end = true
		case strings.HasPrefix(a, "--"):
			name, _, eq := strings.Cut(a[2:], "=")
			if !fn(option{long: name}) {
				return false
			}
			skip = !eq && g.takesValue(name)
		default:
			for j := 1; j < len(a); j++ {
				if !fn(option{short: a[j]}) {
					return false
				}
				if g.shortVal[a[j]] {
					skip = j == len(a)-1
					break
				}
			}
		}
	}
	return true
}

// optSet is a compiled list of options ("-o", "--output").
type optSet struct {
	short []byte
	long  []string
}

func (s *optSet) hasShort(c byte) bool { return slices.Contains(s.short, c) }

// mayBe reports whether long option name (as written) may be read as one
// in the set by some GNU parser: it equals one, or abbreviates one
// (is a non-empty prefix of it; an empty name is taken to match all).
func (s *optSet) mayBe(name string) bool {
	for _, l := range s.long {
		if strings.HasPrefix(l, name) {
			return true
		}
	}
	return false
}

// surelyIn reports whether long option name (as written) is certainly one
// in the set: it equals one, or the grammar's declared long list resolves
// it to one.
func (s *optSet) surelyIn(g *optGrammar, name string) bool {
	if name != "" && slices.Contains(s.long, name) {
		return true
	}
	r, ok := g.resolve(name)
	return ok && slices.Contains(s.long, r)
}

// parseOptList compiles a list of option names: "-x" (one ASCII
// character) or "--name" (at least one character, no '=').
func parseOptList(where, key string, l strList) (optSet, *docErr) {
	var s optSet
	if err := nonEmpty(where, key, l); err != nil {
		return s, err
	}
	for i, o := range l.vals {
		switch {
		case strings.HasPrefix(o, "--") && len(o) > 2 && !strings.ContainsAny(o, "= "):
			s.long = append(s.long, o[2:])
		case len(o) == 2 && o[0] == '-' && o[1] != '-' && o[1] > ' ' && o[1] < 0x7f:
			s.short = append(s.short, o[1])
		default:
			return s, errAt(l.elem(i), "%s.%s[%d]: %q is not an option name (-x or --name)", where, key, i, o)
		}
	}
	return s, nil
}

// compileArgvOptions compiles argv_options.
func compileArgvOptions(b *consBuilder, rc *rawCons) *docErr {
	ro := rc.ArgvOptions
	if ro == nil {
		return nil
	}
	where := b.where + ".argv_options"
	g := &optGrammar{shortVal: map[byte]bool{}, longVal: map[string]bool{}}
	var tvText, longText string
	if ro.TakesValue.set {
		tv, err := parseOptList(where, "takes_value", ro.TakesValue)
		if err != nil {
			return err
		}
		for _, c := range tv.short {
			g.shortVal[c] = true
		}
		for _, l := range tv.long {
			g.longVal[l] = true
		}
		tvText = " takes_value " + quoteList(ro.TakesValue.vals)
	}
	if ro.Long.set {
		ls, err := parseOptList(where, "long", ro.Long)
		if err != nil {
			return err
		}
		if len(ls.short) > 0 {
			return errAt(ro.Long.node, "%s.long: lists long options only (--name)", where)
		}
		g.long = ls.long
		longText = " long " + quoteList(ro.Long.vals)
	}
	n := 0
	for _, fam := range []struct {
		key string
		l   strList
	}{{"any", ro.Any}, {"none", ro.None}, {"only", ro.Only}} {
		if !fam.l.set {
			continue
		}
		n++
		set, err := parseOptList(where, fam.key, fam.l)
		if err != nil {
			return err
		}
		q := quoteList(fam.l.vals)
		desc := "argv_options {" + fam.key + " " + q + tvText + longText + "}"
		switch fam.key {
		case "any":
			b.add(desc, "has no option in "+q, func(v protocol.Value) bool {
				found := false
				ok := g.scanOptions(v, func(o option) bool {
					found = o.short != 0 && set.hasShort(o.short) || o.short == 0 && set.mayBe(o.long)
					return !found
				})
				return ok && found || found && allStrings(v)
			})
		case "none":
			b.add(desc, "has an option in "+q+" (argv_options none)", func(v protocol.Value) bool {
				return g.scanOptions(v, func(o option) bool {
					return !(o.short != 0 && set.hasShort(o.short) || o.short == 0 && set.mayBe(o.long))
				})
			})
		case "only":
			b.add(desc, "has an option not in "+q+" (argv_options only)", func(v protocol.Value) bool {
				return g.scanOptions(v, func(o option) bool {
					if o.short != 0 {
						return set.hasShort(o.short)
					}
					return set.surelyIn(g, o.long)
				})
			})
		}
	}
	if n == 0 {
		return errAt(rc.at.val("argv_options"), "%s: give at least one of any, none, only", where)
	}
	return nil
}

// allStrings reports whether every item of array v is a string.
func allStrings(v protocol.Value) bool {
	for it := v.First(); it.Exists(); it = it.Next() {
		if it.Kind() != protocol.KindString {
			return false
		}
	}
	return true
}

// subcommand returns argv's subcommand: the first operand after the
// global options, where the options in g that take a value skip the next
// argument ("git -C dir -c a=b log": "log"). ok is false when there is
// none or argv is not an array of strings.
func (g *optGrammar) subcommand(argv protocol.Value) (string, bool) {
	if argv.Kind() != protocol.KindArray {
		return "", false
	}
	skip, end := false, false
	for it := argv.First(); it.Exists(); it = it.Next() {
		if it.Kind() != protocol.KindString {
			return "", false
		}
		if skip {
			skip = false
			continue
		}
		a := it.Str()
		switch {
		case end || a == "-" || !strings.HasPrefix(a, "-"):
			return a, allStrings(argv)
		case a == "--":
			end = true
		case strings.HasPrefix(a, "--"):
			name, _, eq := strings.Cut(a[2:], "=")
			skip = !eq && g.longVal[name]
		default:
			for j := 1; j < len(a); j++ {
				if g.shortVal[a[j]] {
					skip = j == len(a)-1
					break
				}
			}
		}
	}
	return "", false
}

// compileArgvSubcommand compiles argv_subcommand.
func compileArgvSubcommand(b *consBuilder, rc *rawCons) *docErr {
	rs := rc.ArgvSubcommand
	if rs == nil {
		return nil
	}
	where := b.where + ".argv_subcommand"
	g := &optGrammar{shortVal: map[byte]bool{}, longVal: map[string]bool{}}
	tvText := ""
	if rs.TakesValue.set {
		tv, err := parseOptList(where, "takes_value", rs.TakesValue)
		if err != nil {
			return err
		}
		for _, c := range tv.short {
			g.shortVal[c] = true
		}
		for _, l := range tv.long {
			g.longVal[l] = true
		}
		tvText = " takes_value " + quoteList(rs.TakesValue.vals)
	}
	if !rs.In.set && !rs.NotIn.set {
		return errAt(rc.at.val("argv_subcommand"), "%s: give in or not_in", where)
	}
	if rs.In.set {
		if err := nonEmpty(where, "in", rs.In); err != nil {
			return err
		}
		list, q := rs.In.vals, quoteList(rs.In.vals)
		b.add("argv_subcommand {in "+q+tvText+"}", "has no subcommand in "+q, func(v protocol.Value) bool {
			s, ok := g.subcommand(v)
			return ok && slices.Contains(list, s)
		})
	}
	if rs.NotIn.set {
		if err := nonEmpty(where, "not_in", rs.NotIn); err != nil {
			return err
		}
		list, q := rs.NotIn.vals, quoteList(rs.NotIn.vals)
		b.add("argv_subcommand {not_in "+q+tvText+"}", "has a subcommand in "+q+" (argv_subcommand not_in)", func(v protocol.Value) bool {
			if v.Kind() != protocol.KindArray || !allStrings(v) {
				return false
			}
			s, ok := g.subcommand(v)
			return !ok || !slices.Contains(list, s)
		})
	}
	return nil
}
