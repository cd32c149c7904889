package capability

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// typeMask is a set of JSON Schema types.
type typeMask uint8

const (
	tNull typeMask = 1 << iota
	tBoolean
	tInteger
	tNumber
	tString
	tArray
	tObject
)

var typeNames = [...]struct {
	m    typeMask
	name string
}{
	{tObject, "object"}, {tArray, "array"}, {tString, "string"}, {tNumber, "number"},
	{tInteger, "integer"}, {tBoolean, "boolean"}, {tNull, "null"},
}

func (m typeMask) String() string {
	var b strings.Builder
	for _, t := range typeNames {
		if m&t.m != 0 {
			if b.Len() > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(t.name)
		}
	}
	return b.String()
}

// additionalProperties modes.
const (
	addlForbid = iota // absent or false: the default
	addlAny           // true
	addlSchema        // a schema
)

// Schema is a compiled argument schema. It is immutable and safe for
// concurrent use; Validate does not allocate when the value is valid.
type Schema struct {
	never    bool     // the boolean schema false
	any      bool     // the boolean schema true
	types    typeMask // 0: any type
	props    []property
	required []string
	addlMode int
	addl     *Schema
	enum     []protocol.Value
	minLen   int // -1 when absent
	maxLen   int
	minItems int
	maxItems int
	items    *Schema
	pattern  *regexp.Regexp
	bounds   []bound
	secret   secretMark // schema_secret.go
}

type property struct {
	name   string
	schema *Schema
}

type bound struct {
	kw  string // minimum, maximum, exclusiveMinimum, exclusiveMaximum
	lit string
	d   protocol.Decimal
}

// ok reports whether n satisfies the bound.
func (b *bound) ok(n *protocol.Decimal) bool {
	c := n.Cmp(&b.d)
	switch b.kw {
	case "minimum":
		return c >= 0
	case "maximum":
		return c <= 0
	case "exclusiveMinimum":
		return c > 0
	default:
		return c < 0
	}
}

// schemaLimits bound what CompileSchema parses.
var schemaLimits = protocol.Limits{MaxBytes: 1 << 20, MaxDepth: 64, MaxArgs: 1 << 20, MaxValues: 100000}

// CompileSchema compiles an argument schema written in the JSON Schema
// subset described in the package documentation. Unknown keywords, wrong
// keyword types and invalid patterns are errors (*protocol.Error of
// category CONFIGURATION_ERROR naming the keyword's path).
func CompileSchema(schema []byte) (*Schema, error) {
	v, err := protocol.ParseValue(schema, schemaLimits)
	if err != nil {
		return nil, cfgErr("schema: " + err.Error())
	}
	s, msg := compile(v, "schema")
	if msg != "" {
		return nil, cfgErr(msg)
	}
	s.markSecrets()
	return s, nil
}

func cfgErr(msg string) *protocol.Error {
	return protocol.NewError(protocol.CategoryConfiguration, "capability", msg)
}

// isAnnotation reports keywords that are accepted and ignored.
func isAnnotation(k string) bool {
	switch k {
	case "description", "title", "$comment", "$schema", "examples", "default":
		return true
	}
	return false
}

func compile(v protocol.Value, path string) (*Schema, string) {
	s := &Schema{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1}
	switch v.Kind() {
	case protocol.KindBool:
		if v.Bool() {
			s.any = true
		} else {
			s.never = true
		}
		return s, ""
	case protocol.KindObject:
	default:
		return nil, path + ": a schema must be an object or a boolean, not " + v.Kind().String()
	}
	for kw := v.First(); kw.Exists(); kw = kw.Next() {
		p := path + "." + kw.Key()
		var msg string
		switch k := kw.Key(); k {
		case secretKeyword:
			msg = s.secret.compile(kw, p)
		case "type":
			s.types, msg = compileType(kw, p)
		case "properties":
			if kw.Kind() != protocol.KindObject {
				return nil, p + ": must be an object"
			}
			for m := kw.First(); m.Exists(); m = m.Next() {
				sub, msg := compile(m, p+"."+m.Key())
				if msg != "" {
					return nil, msg
				}
				s.props = append(s.props, property{m.Key(), sub})
			}
			slices.SortFunc(s.props, func(a, b property) int { return strings.Compare(a.name, b.name) })
		case "required":
			if kw.Kind() != protocol.KindArray {
				return nil, p + ": must be an array of strings"
			}
			for m := kw.First(); m.Exists(); m = m.Next() {
				if m.Kind() != protocol.KindString {
					return nil, p + ": must be an array of strings"
				}
				if slices.Contains(s.required, m.Str()) {
					return nil, p + ": " + strconv.Quote(m.Str()) + " listed twice"
				}
				s.required = append(s.required, m.Str())
			}
		case "additionalProperties":
			switch kw.Kind() {
			case protocol.KindBool:
				if kw.Bool() {
					s.addlMode = addlAny
				}
			case protocol.KindObject:
				s.addl, msg = compile(kw, p)
				s.addlMode = addlSchema
			default:
				return nil, p + ": must be a boolean or a schema"
			}
		case "enum":
			if kw.Kind() != protocol.KindArray || kw.Len() == 0 {
				return nil, p + ": must be a non-empty array"
			}
			for m := kw.First(); m.Exists(); m = m.Next() {
				s.enum = append(s.enum, m)
			}
		case "minLength":
			s.minLen, msg = compileCount(kw, p)
		case "maxLength":
			s.maxLen, msg = compileCount(kw, p)
		case "minItems":
			s.minItems, msg = compileCount(kw, p)
		case "maxItems":
			s.maxItems, msg = compileCount(kw, p)
		case "items":
			if kw.Kind() != protocol.KindObject && kw.Kind() != protocol.KindBool {
				return nil, p + ": must be a schema (the tuple form is not supported)"
			}
			s.items, msg = compile(kw, p)
		case "pattern":
			if kw.Kind() != protocol.KindString {
				return nil, p + ": must be a string"
			}
			re, err := regexp.Compile(kw.Str())
			if err != nil {
				return nil, p + ": invalid RE2 pattern: " + err.Error()
			}
			s.pattern = re
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			if kw.Kind() != protocol.KindNumber {
				return nil, p + ": must be a number"
			}
			d, ok := protocol.ParseDecimal(kw.Number())
			if !ok {
				return nil, p + ": invalid number"
			}
			s.bounds = append(s.bounds, bound{kw: k, lit: kw.Number(), d: d})
		default:
			if !isAnnotation(k) {
				return nil, p + ": unknown or unsupported keyword " + strconv.Quote(k)
			}
		}
		if msg != "" {
			return nil, msg
		}
	}
	if s.addlMode == addlForbid {
		for _, r := range s.required {
			if s.prop(r) == nil {
				return nil, path + ".required: " + strconv.Quote(r) + " is not in properties and additionalProperties is false, so no object can satisfy the schema"
			}
		}
	}
	switch {
	case s.minLen >= 0 && s.maxLen >= 0 && s.minLen > s.maxLen:
		return nil, path + ": minLength is above maxLength"
	case s.minItems >= 0 && s.maxItems >= 0 && s.minItems > s.maxItems:
		return nil, path + ": minItems is above maxItems"
	}
	return s, ""
}

func compileType(v protocol.Value, p string) (typeMask, string) {
	one := func(name string) typeMask {
		for _, t := range typeNames {
			if t.name == name {
				return t.m
			}
		}
		return 0
	}
	switch v.Kind() {
	case protocol.KindString:
		m := one(v.Str())
		if m == 0 {
			return 0, p + ": unknown type " + strconv.Quote(v.Str())
		}
		return m, ""
	case protocol.KindArray:
		var mask typeMask
		if v.Len() == 0 {
			return 0, p + ": empty type list"
		}
		for it := v.First(); it.Exists(); it = it.Next() {
			m := one(it.Str())
			if it.Kind() != protocol.KindString || m == 0 {
				return 0, p + ": unknown type " + it.Raw()
			}
			if mask&m != 0 {
				return 0, p + ": type " + it.Raw() + " listed twice"
			}
			mask |= m
		}
		return mask, ""
	}
	return 0, p + ": must be a string or an array of strings"
}

func compileCount(v protocol.Value, p string) (int, string) {
	n, ok := v.Int()
	if !ok || n < 0 || n > 1<<31 {
		return -1, p + ": must be a non-negative integer"
	}
	return int(n), ""
}

// failure is a validation failure under construction: the path segments
// are collected innermost first while the recursion unwinds. It is only
// allocated when validation fails.
type failure struct {
	segs []string
	msg  string
}

func fail(msg string) *failure { return &failure{msg: msg} }

func (f *failure) under(seg string) *failure {
	f.segs = append(f.segs, seg)
	return f
}

func (f *failure) err(root string) *protocol.Error {
	var b strings.Builder
	b.WriteString(root)
	for i := len(f.segs) - 1; i >= 0; i-- {
		b.WriteString(f.segs[i])
	}
	b.WriteString(": ")
	b.WriteString(f.msg)
	e := protocol.NewError(protocol.CategoryProtocol, "capability", b.String())
	e.Reason = protocol.ReasonInvalidArguments
	return e
}

// Validate checks v against the schema. It returns nil, or a
// *protocol.Error of category PROTOCOL_ERROR and reason
// invalid_arguments whose message names the JSON path and the rule, for
// example `args.argv[2]: expected string, got number`. It does not
// allocate when v is valid.
func (s *Schema) Validate(v protocol.Value) error {
	if f := s.check(v); f != nil {
		return f.err("args")
	}
	return nil
}

func (s *Schema) check(v protocol.Value) *failure {
	if s.any {
		return nil
	}
	if s.never {
		return fail("no value is allowed here")
	}
	k := v.Kind()
	var num protocol.Decimal
	if k == protocol.KindNumber {
		var ok bool
		if num, ok = protocol.ParseDecimal(v.Number()); !ok {
			return fail("invalid number")
		}
	}
	if s.types != 0 && !s.typeOK(k, &num) {
		return fail("expected " + s.types.String() + ", got " + gotName(k))
	}
	if s.enum != nil {
		found := false
		for _, e := range s.enum {
			if equalValues(e, v) {
				found = true
				break
			}
		}
		if !found {
			return fail("value is not one of the enum values " + enumList(s.enum))
		}
	}
	switch k {
	case protocol.KindString:
		return s.checkString(v.Str())
	case protocol.KindNumber:
		for i := range s.bounds {
			b := &s.bounds[i]
			if !b.ok(&num) {
				return fail(v.Number() + " violates " + b.kw + " " + b.lit)
			}
		}
	case protocol.KindArray:
		return s.checkArray(v)
	case protocol.KindObject:
		return s.checkObject(v)
	}
	return nil
}

func (s *Schema) typeOK(k protocol.Kind, num *protocol.Decimal) bool {
	switch k {
	case protocol.KindNull:
		return s.types&tNull != 0
	case protocol.KindBool:
		return s.types&tBoolean != 0
	case protocol.KindString:
		return s.types&tString != 0
	case protocol.KindArray:
		return s.types&tArray != 0
	case protocol.KindObject:
		return s.types&tObject != 0
	case protocol.KindNumber:
		return s.types&tNumber != 0 || s.types&tInteger != 0 && num.IsInteger()
	}
	return false
}

func gotName(k protocol.Kind) string {
	if k == protocol.KindInvalid {
		return "nothing"
	}
	return k.String()
}

func enumList(vals []protocol.Value) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		if b.Len() > 200 {
			b.WriteString("…")
			break
		}
		b.WriteString(e.Raw())
	}
	b.WriteByte(']')
	return b.String()
}

func (s *Schema) checkString(str string) *failure {
	// Characters never outnumber bytes: count only when the byte length
	// cannot settle the question.
	if s.minLen > 1 || s.minLen == 1 && str == "" || s.maxLen >= 0 && len(str) > s.maxLen {
		n := utf8.RuneCountInString(str)
		if s.minLen >= 0 && n < s.minLen {
			return fail("string of " + strconv.Itoa(n) + " characters is shorter than minLength " + strconv.Itoa(s.minLen))
		}
		if s.maxLen >= 0 && n > s.maxLen {
			return fail("string of " + strconv.Itoa(n) + " characters is longer than maxLength " + strconv.Itoa(s.maxLen))
		}
	}
	if s.pattern != nil && !s.pattern.MatchString(str) {
		return fail("string does not match pattern " + strconv.Quote(s.pattern.String()))
	}
	return nil
}

func (s *Schema) checkArray(v protocol.Value) *failure {
	n := v.Len()
	if s.minItems >= 0 && n < s.minItems {
		return fail("array of " + strconv.Itoa(n) + " items has fewer than minItems " + strconv.Itoa(s.minItems))
	}
	if s.maxItems >= 0 && n > s.maxItems {
		return fail("array of " + strconv.Itoa(n) + " items has more than maxItems " + strconv.Itoa(s.maxItems))
	}
	if s.items != nil {
		i := 0
		for it := v.First(); it.Exists(); it = it.Next() {
			if f := s.items.check(it); f != nil {
				return f.under("[" + strconv.Itoa(i) + "]")
			}
			i++
		}
	}
	return nil
}

func (s *Schema) checkObject(v protocol.Value) *failure {
	for it := v.First(); it.Exists(); it = it.Next() {
		key := it.Key()
		sub := s.prop(key)
		if sub == nil {
			switch s.addlMode {
			case addlAny:
				continue
			case addlSchema:
				sub = s.addl
			default:
				return fail("unknown property " + strconv.Quote(key) + " (additionalProperties is false)")
			}
		}
		if f := sub.check(it); f != nil {
			return f.under(keySeg(key))
		}
	}
	for _, r := range s.required {
		if !v.Get(r).Exists() {
			return fail("missing required property " + strconv.Quote(r))
		}
	}
	return nil
}

func (s *Schema) prop(key string) *Schema {
	if len(s.props) <= 8 {
		for i := range s.props {
			if s.props[i].name == key {
				return s.props[i].schema
			}
		}
		return nil
	}
	i, ok := slices.BinarySearchFunc(s.props, key, func(p property, k string) int { return strings.Compare(p.name, k) })
	if !ok {
		return nil
	}
	return s.props[i].schema
}

// keySeg renders a member name as a path segment: .name for identifiers,
// ["name"] otherwise.
func keySeg(key string) string {
	ident := key != ""
	for i := 0; i < len(key) && ident; i++ {
		c := key[i]
		ident = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
	}
	if ident {
		return "." + key
	}
	return "[" + strconv.Quote(key) + "]"
}

// equalValues is JSON equality: numbers compare by value, objects by
// member set regardless of order.
func equalValues(a, b protocol.Value) bool {
	ka, kb := a.Kind(), b.Kind()
	if ka != kb {
		return false
	}
	switch ka {
	case protocol.KindNull:
		return true
	case protocol.KindBool:
		return a.Bool() == b.Bool()
	case protocol.KindString:
		return a.Str() == b.Str()
	case protocol.KindNumber:
		c, ok := protocol.CompareDecimal(a.Number(), b.Number())
		return ok && c == 0
	case protocol.KindArray:
		if a.Len() != b.Len() {
			return false
		}
		x, y := a.First(), b.First()
		for x.Exists() && y.Exists() {
			if !equalValues(x, y) {
				return false
			}
			x, y = x.Next(), y.Next()
		}
		return true
	case protocol.KindObject:
		if a.Len() != b.Len() {
			return false
		}
		for x := a.First(); x.Exists(); x = x.Next() {
			if !equalValues(x, b.Get(x.Key())) {
				return false
			}
		}
		return true
	}
	return false
}
