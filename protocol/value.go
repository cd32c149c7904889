package protocol

import (
	"encoding/json"
	"strconv"
	"unsafe"
)

// Kind is the JSON type of a Value.
type Kind uint8

// The JSON kinds. KindInvalid is the kind of a missing Value.
const (
	KindInvalid Kind = iota
	KindNull
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

var kindNames = [...]string{"invalid", "null", "boolean", "number", "string", "array", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a read-only view of one JSON value inside a decoded message.
// It is a small handle (a document pointer and an index): copying it is
// free, and none of its accessors allocate. The zero Value is "missing":
// Kind() is KindInvalid and Exists() is false, so lookups chain safely:
//
//	m.Args.Get("argv").Index(0).Str()
//
// Values are immutable and safe for concurrent use.
type Value struct {
	d *doc
	i int32
}

func (v Value) n() *node { return &v.d.nodes[v.i] }

// Exists reports whether v refers to a value.
func (v Value) Exists() bool { return v.d != nil }

// Kind returns the JSON type.
func (v Value) Kind() Kind {
	if v.d == nil {
		return KindInvalid
	}
	return v.n().kind
}

// Str returns the value of a string, "" for any other kind.
func (v Value) Str() string {
	if v.Kind() != KindString {
		return ""
	}
	return v.d.str(v.n())
}

// Bool returns the value of a boolean, false for any other kind.
func (v Value) Bool() bool { return v.Kind() == KindBool && v.d.str(v.n()) == "true" }

// Number returns the literal text of a number exactly as received (so big
// integers keep their precision), "" for any other kind.
func (v Value) Number() string {
	if v.Kind() != KindNumber {
		return ""
	}
	return v.d.str(v.n())
}

// Float returns a number as float64.
func (v Value) Float() (float64, bool) {
	if v.Kind() != KindNumber {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.d.str(v.n()), 64)
	return f, err == nil
}

// Int returns a number as int64 when it is an integer literal in range.
func (v Value) Int() (int64, bool) {
	if v.Kind() != KindNumber {
		return 0, false
	}
	i, err := strconv.ParseInt(v.d.str(v.n()), 10, 64)
	return i, err == nil
}

// Len returns the number of items of an array or members of an object.
func (v Value) Len() int {
	k := v.Kind()
	if k != KindArray && k != KindObject {
		return 0
	}
	return int(v.n().n)
}

// Key returns the member name of v when v is a member of an object.
func (v Value) Key() string {
	if v.d == nil {
		return ""
	}
	return v.d.key(v.n())
}

// First returns the first item or member of an array or object.
func (v Value) First() Value {
	k := v.Kind()
	if k != KindArray && k != KindObject || v.n().child < 0 {
		return Value{}
	}
	return Value{v.d, v.n().child}
}

// Next returns the next sibling of v inside its array or object.
//
//	for it := v.First(); it.Exists(); it = it.Next() { … it.Key() … }
func (v Value) Next() Value {
	if v.d == nil || v.n().next < 0 {
		return Value{}
	}
	return Value{v.d, v.n().next}
}

// Get returns the member of an object named key (exact, case-sensitive).
func (v Value) Get(key string) Value {
	if v.Kind() != KindObject {
		return Value{}
	}
	for c := v.n().child; c >= 0; c = v.d.nodes[c].next {
		if v.d.key(&v.d.nodes[c]) == key {
			return Value{v.d, c}
		}
	}
	return Value{}
}

// Index returns item i of an array.
func (v Value) Index(i int) Value {
	if v.Kind() != KindArray || i < 0 {
		return Value{}
	}
	c := v.n().child
	for ; c >= 0 && i > 0; i-- {
		c = v.d.nodes[c].next
	}
	if c < 0 {
		return Value{}
	}
	return Value{v.d, c}
}

// Raw returns the exact bytes of v as received.
func (v Value) Raw() string {
	if v.d == nil {
		return ""
	}
	return v.d.src[v.n().start:v.n().end]
}

// RawBytes returns Raw as a byte slice that aliases the decoded message. It
// costs no copy; callers must not modify it.
func (v Value) RawBytes() []byte {
	s := v.Raw()
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// AppendJSON appends v re-encoded as compact JSON (members in the order
// received, strings minimally escaped, numbers as received). Decoding the
// output gives an equal value.
func (v Value) AppendJSON(b []byte) []byte {
	switch v.Kind() {
	case KindNull, KindBool, KindNumber:
		return append(b, v.d.str(v.n())...)
	case KindString:
		return AppendString(b, v.d.str(v.n()))
	case KindArray:
		b = append(b, '[')
		for it := v.First(); it.Exists(); it = it.Next() {
			if it.i != v.n().child {
				b = append(b, ',')
			}
			b = it.AppendJSON(b)
		}
		return append(b, ']')
	case KindObject:
		b = append(b, '{')
		for it := v.First(); it.Exists(); it = it.Next() {
			if it.i != v.n().child {
				b = append(b, ',')
			}
			b = AppendString(b, it.d.key(it.n()))
			b = append(b, ':')
			b = it.AppendJSON(b)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// Interface converts v to the types encoding/json would produce with
// UseNumber: map[string]any, []any, string, json.Number, bool or nil.
func (v Value) Interface() any {
	switch v.Kind() {
	case KindBool:
		return v.Bool()
	case KindNumber:
		return json.Number(v.d.str(v.n()))
	case KindString:
		return v.d.str(v.n())
	case KindArray:
		out := make([]any, 0, v.Len())
		for it := v.First(); it.Exists(); it = it.Next() {
			out = append(out, it.Interface())
		}
		return out
	case KindObject:
		out := make(map[string]any, v.Len())
		for it := v.First(); it.Exists(); it = it.Next() {
			out[it.Key()] = it.Interface()
		}
		return out
	}
	return nil
}

// ParseValue decodes any single JSON value with the same strictness as
// Decode (UTF-8, grammar, duplicate and case-conflicting keys, trailing
// data, limits) but without the envelope rules.
func ParseValue(data []byte, lim Limits) (Value, error) {
	d, err := parse(data, lim.WithDefaults())
	if err != nil {
		return Value{}, err
	}
	return Value{d, 0}, nil
}
