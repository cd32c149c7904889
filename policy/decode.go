package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/internal/yamlerr"
)

// This file decodes a policy document into the raw structs of parse.go,
// walking yaml.v3's node tree itself so that every problem of shape is
// reported at its line and column, all of them at once: unknown keys
// (with the nearest known one), duplicate keys, and values of the wrong
// type (`want an integer, got the string "ten"`). The keys a mapping may
// hold are the yaml tags of its raw struct, so the structs stay the one
// list of keys. Leaf values (strings, numbers, strList, anyList, ...) are
// decoded by yaml.v3 itself, so what a document means is what it meant
// when yaml.v3 decoded the whole of it.

// nodeHolder is implemented by the raw structs that remember where their
// keys were written.
type nodeHolder interface{ nodes() *docNodes }

// docNodes remembers where the keys of one mapping were written.
type docNodes struct {
	self *yaml.Node            // the mapping
	keys map[string]*yaml.Node // key -> key node
	vals map[string]*yaml.Node // key -> value node
}

// key returns the node of key k, else the mapping's, else nil.
func (d *docNodes) key(k string) *yaml.Node {
	if n := d.keys[k]; n != nil {
		return n
	}
	return d.self
}

// val returns the node of k's value, else the mapping's, else nil.
func (d *docNodes) val(k string) *yaml.Node {
	if n := d.vals[k]; n != nil {
		return n
	}
	return d.self
}

// mapKey returns the key node of name in the mapping that is the value of
// k (a map-typed field: groups, args, capabilities), else that value's
// node.
func (d *docNodes) mapKey(k, name string) *yaml.Node {
	m := resolve(d.vals[k])
	if m == nil {
		return d.self
	}
	if m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if c := resolve(m.Content[i]); c.Kind == yaml.ScalarNode && c.Value == name {
				return m.Content[i]
			}
		}
	}
	return m
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// decoder walks one document.
type decoder struct {
	errs   []*docErr
	budget int                         // nodes the walk may still visit: aliases can repeat a subtree
	fields map[reflect.Type]*fieldInfo // the keys of each raw struct
}

func (d *decoder) fail(n *yaml.Node, where, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	d.errs = append(d.errs, &docErr{n: n, msg: msg})
}

// join names key inside the place where: "args" + "bin" is "args.bin",
// and a rule `rules[0] (id "r")` + "args" is `rules[0] (id "r"): args`.
func join(where, key string) string {
	switch {
	case where == "":
		return key
	case strings.HasSuffix(where, "]") || strings.HasSuffix(where, ")"):
		// A rule: the only mappings inside a list are rules.
		return where + ": " + key
	}
	return where + "." + key
}

// decodeDoc reads data (one YAML document) into a rawDoc. errs are the
// problems of shape, each at its node; the document's root node is
// returned for problems that have no better place.
func decodeDoc(data []byte) (raw *rawDoc, root *yaml.Node, errs []*docErr) {
	top := &yaml.Node{Kind: yaml.DocumentNode, Line: 1, Column: 1}
	if len(data) > MaxDocumentBytes {
		return nil, top, []*docErr{errAt(top, "document of %d bytes is over the limit of %d", len(data), MaxDocumentBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, top, []*docErr{errAt(top, "empty document")}
		}
		return nil, top, []*docErr{syntaxErr(data, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		at := &extra
		if err != nil {
			return nil, top, []*docErr{syntaxErr(data, err)}
		}
		if len(extra.Content) > 0 {
			at = extra.Content[0]
		}
		return nil, top, []*docErr{errAt(at, "more than one YAML document")}
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) { // "", a comment, "---", "~": all empty
		return nil, top, []*docErr{errAt(top, "empty document")}
	}
	root = doc.Content[0]
	// A value takes at least two bytes unless an alias repeats it.
	d := &decoder{budget: len(data) + 10000, fields: map[reflect.Type]*fieldInfo{}}
	raw = &rawDoc{}
	d.value(root, reflect.ValueOf(raw).Elem(), "")
	return raw, root, d.errs
}

// syntaxErr turns a yaml.v3 syntax error in data into a docErr at the
// line it concerns (yamlerr.Locate; yaml.v3 gives no column for syntax
// errors).
func syntaxErr(data []byte, err error) *docErr {
	line, msg := yamlerr.Locate(data, err)
	return &docErr{n: &yaml.Node{Line: line, Column: 1}, msg: msg}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// isRaw reports whether t is one of the raw structs the walker decodes
// key by key (the others are decoded by yaml.v3 as leaves).
func isRaw(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType)
}

// value decodes n into v, which names the place where.
func (d *decoder) value(n *yaml.Node, v reflect.Value, where string) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, where, "the document expands too much through aliases")
		}
		return
	}
	n = resolve(n)
	if n == nil {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && isRaw(t.Elem()):
		if isNull(n) {
			v.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		d.value(n, p.Elem(), where)
		v.Set(p)
	case isRaw(t):
		d.mapping(n, v, where)
	case t.Kind() == reflect.Map:
		d.mapOf(n, v, where)
	case t.Kind() == reflect.Slice && isRaw(t.Elem()):
		d.seqOf(n, v, where)
	default:
		d.leaf(n, v, where)
	}
}

// leaf decodes a value yaml.v3 decodes whole, wording its errors. A
// count (min_len, max_items, ...) must be a whole number: yaml.v3 alone
// would read 1.5 as 1.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, where string) {
	if t := v.Type(); (t.Kind() == reflect.Int || t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Int) && n.ShortTag() == "!!float" {
		if f, err := strconv.ParseFloat(n.Value, 64); err != nil || f != math.Trunc(f) {
			d.fail(n, where, "want an integer, got %s", describe(n))
			return
		}
	}
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var de *docErr
	if errors.As(err, &de) {
		if strings.HasPrefix(de.msg, "[") { // an element's: args.bin.prefix[0]: …
			d.fail(de.n, "", "%s%s", where, de.msg)
			return
		}
		d.fail(de.n, where, "%s", de.msg)
		return
	}
	d.fail(n, where, "want %s, got %s", want(v.Type()), describe(n))
}

// fieldInfo is the keys of a raw struct: its yaml tags in declaration
// order, and the field of each.
type fieldInfo struct {
	names []string
	index map[string]int
}

// keysOf returns the keys of raw struct t.
func (d *decoder) keysOf(t reflect.Type) *fieldInfo {
	if fi := d.fields[t]; fi != nil {
		return fi
	}
	names := yamlKeys(t)
	fi := &fieldInfo{names: names, index: map[string]int{}}
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			fi.index[tag] = i
		}
	}
	d.fields[t] = fi
	return fi
}

// yamlKeys returns the yaml tags of struct t, in declaration order.
func yamlKeys(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}

// pair is one key and its value in a mapping.
type pair struct{ k, v *yaml.Node }

// pairs returns the entries of mapping n: its own keys, then those merged
// in with "<<" that it does not set itself. Duplicate keys and keys that
// are not scalars are reported.
func (d *decoder) pairs(n *yaml.Node, where string) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeOf(v, where)...)
			continue
		}
		rk := resolve(k)
		if rk == nil || rk.Kind != yaml.ScalarNode {
			d.fail(k, where, "want a string key, got %s", describe(rk))
			continue
		}
		if first, dup := seen[rk.Value]; dup {
			d.fail(k, where, "key %q already defined at line %d, column %d", rk.Value, first.Line, first.Column)
			continue
		}
		seen[rk.Value] = k
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if k := resolve(p.k).Value; seen[k] == nil {
			seen[k] = p.k
			own = append(own, p)
		}
	}
	return own
}

// mergeOf returns the entries a "<<" value merges in: a mapping, or a
// list of mappings where earlier ones win.
func (d *decoder) mergeOf(v *yaml.Node, where string) []pair {
	v = resolve(v)
	switch {
	case v.Kind == yaml.MappingNode:
		return d.pairs(v, where)
	case v.Kind == yaml.SequenceNode:
		var out []pair
		for _, m := range v.Content {
			if m = resolve(m); m.Kind != yaml.MappingNode {
				d.fail(m, where, "<<: want a mapping, got %s", describe(m))
				continue
			}
			out = append(out, d.pairs(m, where)...)
		}
		return out
	}
	d.fail(v, where, "<<: want a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// mapping decodes mapping n into raw struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, where string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, where, "want %s, got %s", want(v.Type()), describe(n))
		return
	}
	fi := d.keysOf(v.Type())
	var at *docNodes
	if h, ok := v.Addr().Interface().(nodeHolder); ok {
		at = h.nodes()
		*at = docNodes{self: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	}
	for _, p := range d.pairs(n, where) {
		name := resolve(p.k).Value
		i, ok := fi.index[name]
		if !ok {
			d.fail(p.k, where, "unknown key %q%s", name, suggest.Hint(name, fi.names))
			continue
		}
		if at != nil {
			at.keys[name], at.vals[name] = p.k, p.v
		}
		d.value(p.v, v.Field(i), join(where, name))
	}
}

// mapOf decodes mapping n into map v (string keys).
func (d *decoder) mapOf(n *yaml.Node, v reflect.Value, where string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, where, "want a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, where) {
		name := resolve(p.k).Value
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(p.v, e, join(where, name))
		m.SetMapIndex(reflect.ValueOf(name), e)
	}
	v.Set(m)
}

// brokenMarker is implemented by rawRule: a rule with a problem of shape
// is not compiled (its problems are already reported).
type brokenMarker interface{ markBroken() }

// seqOf decodes sequence n into a slice of raw structs (the rules).
func (d *decoder) seqOf(n *yaml.Node, v reflect.Value, where string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, where, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		label := where + "[" + strconv.Itoa(i) + "]"
		if id := idOf(c); id != "" {
			label += " (id " + strconv.Quote(id) + ")"
		}
		before := len(d.errs)
		e := s.Index(i)
		d.value(c, e, label)
		if len(d.errs) > before {
			if b, ok := e.Addr().Interface().(brokenMarker); ok {
				b.markBroken()
				for _, err := range d.errs[before:] {
					err.inRule = true
				}
			}
		}
	}
	v.Set(s)
}

// idOf returns the scalar value of key "id" in mapping n, or "".
func idOf(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := resolve(n.Content[i]), resolve(n.Content[i+1]); k.Value == "id" && v.Kind == yaml.ScalarNode && !isNull(v) {
			return v.Value
		}
	}
	return ""
}

// describe words what n is: `the string "ten"`, `the integer 5`, `a list`.
func describe(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int":
		return "the integer " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!str":
		s := n.Value
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return "the string " + strconv.Quote(s)
	}
	return "a value tagged " + n.ShortTag()
}

// want words what a value of type t must be.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[strList]():
		return "a string or a list of strings"
	case reflect.TypeFor[anyList]():
		return "a string, number or boolean, or a list of them"
	case reflect.TypeFor[[]number]():
		return "[min, max]"
	case reflect.TypeFor[number]():
		return "a number"
	case reflect.TypeFor[rawCons]():
		return "a mapping of constraints"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	}
	return "a mapping"
}
