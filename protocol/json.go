package protocol

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file holds the strict JSON reader behind Decode and ParseValue.
//
// Why not encoding/json: it matches struct fields case-insensitively,
// silently replaces invalid UTF-8, lets the last of two duplicate keys win,
// turns big integers into float64 and costs ~2.8 µs for a 300-byte call
// here. This reader rejects all of that and builds a read-only tree in a
// single node slice: one copy of the input (so every unescaped string is a
// substring of it, not a fresh allocation) and one slice of nodes.
//
// Nodes are laid out in document order. An object or array node links to
// its first child; each child links to its next sibling.

var (
	decodeRune = utf8.DecodeRuneInString
	runeError  = utf8.RuneError
)

// A node holds no pointers, so the node slice is allocated as plain
// memory the garbage collector never scans: member names and string values
// are spans of the input, or — when they contained escapes — of the
// document's side buffer of unescaped bytes.
type node struct {
	kind   Kind
	esc    uint8 // escKey, escStr: the span is in doc.esc, not doc.src
	keyOff int32 // member name, when the parent is an object
	keyLen int32
	strOff int32 // string value (unescaped), or the literal of a number, true, false, null
	strLen int32
	start  int32 // byte span of the value in the input
	end    int32
	child  int32 // first child, -1 if none
	next   int32 // next sibling, -1 if none
	n      int32 // number of children
}

const (
	escKey uint8 = 1 << iota
	escStr
)

type doc struct {
	src   string
	esc   []byte // unescaped strings; never modified once parsing ends
	nodes []node
}

// span is a string's location: in the input, or in the escape buffer.
type span struct {
	off, n int32
	esc    bool
}

func (d *doc) span(off, n int32, esc bool) string {
	if n == 0 {
		return ""
	}
	if esc {
		return unsafe.String(&d.esc[off], int(n))
	}
	return d.src[off : off+n]
}

func (d *doc) key(n *node) string { return d.span(n.keyOff, n.keyLen, n.esc&escKey != 0) }
func (d *doc) str(n *node) string { return d.span(n.strOff, n.strLen, n.esc&escStr != 0) }

// Limits bound what the decoder accepts. Each zero field takes its default.
type Limits struct {
	MaxBytes  int // whole message in bytes. If zero, defaults to 1 MiB.
	MaxDepth  int // nesting depth, the envelope object being 1. If zero, defaults to 32.
	MaxArgs   int // members of tool_call.args. If zero, defaults to 64.
	MaxValues int // JSON values in the whole message. If zero, defaults to 10000.
}

// Default limits.
const (
	DefaultMaxBytes  = 1 << 20
	DefaultMaxDepth  = 32
	DefaultMaxArgs   = 64
	DefaultMaxValues = 10000
)

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	return l
}

type parser struct {
	s     string
	pos   int
	nodes []node
	esc   []byte
	lim   Limits
}

func (p *parser) spanString(sp span) string {
	if sp.n == 0 {
		return ""
	}
	if sp.esc {
		return string(p.esc[sp.off : sp.off+sp.n])
	}
	return p.s[sp.off : sp.off+sp.n]
}

func (p *parser) keyOf(n *node) string {
	return p.spanString(span{n.keyOff, n.keyLen, n.esc&escKey != 0})
}

func protoErr(r Reason, msg string) *Error {
	return &Error{Category: CategoryProtocol, Severity: SeverityError, Subsystem: "protocol_validator", Reason: r, Message: msg, Origin: StateProtocolValidating}
}

func (p *parser) fail(r Reason, format string) *Error {
	return protoErr(r, format+" at byte "+strconv.Itoa(p.pos))
}

// parse reads one JSON document from data into a node tree. The root is node 0.
func parse(data []byte, lim Limits) (*doc, *Error) {
	if len(data) > lim.MaxBytes {
		return nil, protoErr(ReasonTooLarge, "message is "+strconv.Itoa(len(data))+" bytes, limit is "+strconv.Itoa(lim.MaxBytes))
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, protoErr(ReasonInvalidUTF8, "invalid UTF-8 at byte "+strconv.Itoa(off))
	}
	est := len(data)/12 + 4
	if est > lim.MaxValues {
		est = lim.MaxValues
	}
	p := parser{s: string(data), nodes: make([]node, 0, est), lim: lim}
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.fail(ReasonInvalidJSON, "empty input")
	}
	if _, err := p.value(span{}, 1); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, p.fail(ReasonTrailingData, "unexpected data after the JSON value")
	}
	return &doc{src: p.s, esc: p.esc, nodes: p.nodes}, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) add(k Kind, key span) (int32, *Error) {
	if len(p.nodes) >= p.lim.MaxValues {
		return -1, p.fail(ReasonTooManyValues, "more than "+strconv.Itoa(p.lim.MaxValues)+" JSON values")
	}
	nd := node{kind: k, keyOff: key.off, keyLen: key.n, start: int32(p.pos), child: -1, next: -1}
	if key.esc {
		nd.esc = escKey
	}
	p.nodes = append(p.nodes, nd)
	return int32(len(p.nodes) - 1), nil
}

func (p *parser) value(key span, depth int) (int32, *Error) {
	if p.pos >= len(p.s) {
		return -1, p.fail(ReasonInvalidJSON, "unexpected end of input")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.object(key, depth)
	case c == '[':
		return p.array(key, depth)
	case c == '"':
		i, err := p.add(KindString, key)
		if err != nil {
			return -1, err
		}
		sp, err := p.str()
		if err != nil {
			return -1, err
		}
		nd := &p.nodes[i]
		nd.strOff, nd.strLen = sp.off, sp.n
		if sp.esc {
			nd.esc |= escStr
		}
		nd.end = int32(p.pos)
		return i, nil
	case c == '-' || (c >= '0' && c <= '9'):
		i, err := p.add(KindNumber, key)
		if err != nil {
			return -1, err
		}
		if err := p.number(); err != nil {
			return -1, err
		}
		nd := &p.nodes[i]
		nd.strOff, nd.strLen = nd.start, int32(p.pos)-nd.start
		nd.end = int32(p.pos)
		return i, nil
	default:
		for _, lit := range [...]struct {
			s string
			k Kind
		}{{"true", KindBool}, {"false", KindBool}, {"null", KindNull}} {
			if strings.HasPrefix(p.s[p.pos:], lit.s) {
				i, err := p.add(lit.k, key)
				if err != nil {
					return -1, err
				}
				nd := &p.nodes[i]
				nd.strOff, nd.strLen = int32(p.pos), int32(len(lit.s))
				p.pos += len(lit.s)
				nd.end = int32(p.pos)
				return i, nil
			}
		}
		if c == '`' {
			return -1, p.fail(ReasonInvalidJSON, "a markdown fence is not JSON")
		}
		return -1, p.fail(ReasonInvalidJSON, "unexpected character "+strconv.QuoteRune(rune(c)))
	}
}

func (p *parser) object(key span, depth int) (int32, *Error) {
	if depth > p.lim.MaxDepth {
		return -1, p.fail(ReasonTooDeep, "nesting deeper than "+strconv.Itoa(p.lim.MaxDepth))
	}
	i, err := p.add(KindObject, key)
	if err != nil {
		return -1, err
	}
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		p.nodes[i].end = int32(p.pos)
		return i, nil
	}
	var last int32 = -1
	var seen map[string]string // folded key → key, only for large objects
	n := int32(0)
	for {
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			return -1, p.fail(ReasonInvalidJSON, "expected a string key")
		}
		keyPos := p.pos
		ksp, err := p.str()
		if err != nil {
			return -1, err
		}
		k := p.spanString(ksp)
		// Duplicate and case-only-different keys are ambiguous: reject both.
		if n < 16 {
			for c := p.nodes[i].child; c >= 0; c = p.nodes[c].next {
				ck := p.keyOf(&p.nodes[c])
				if ok := dupCheck(ck, k); ok != "" {
					p.pos = keyPos
					return -1, p.fail(reasonFor(ok), ok+" "+strconv.Quote(k)+" (also "+strconv.Quote(ck)+")")
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]string, 32)
				for c := p.nodes[i].child; c >= 0; c = p.nodes[c].next {
					ck := p.keyOf(&p.nodes[c])
					seen[foldKey(ck)] = ck
				}
			}
			f := foldKey(k)
			if prev, ok := seen[f]; ok {
				p.pos = keyPos
				what := dupCheck(prev, k)
				if what == "" {
					what = "keys differing only in case"
				}
				return -1, p.fail(reasonFor(what), what+" "+strconv.Quote(k)+" (also "+strconv.Quote(prev)+")")
			}
			seen[f] = k
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return -1, p.fail(ReasonInvalidJSON, "expected ':' after key")
		}
		p.pos++
		p.skipSpace()
		c, err := p.value(ksp, depth+1)
		if err != nil {
			return -1, err
		}
		if last < 0 {
			p.nodes[i].child = c
		} else {
			p.nodes[last].next = c
		}
		last = c
		n++
		p.skipSpace()
		if p.pos >= len(p.s) {
			return -1, p.fail(ReasonInvalidJSON, "unexpected end of input in object")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.nodes[i].n = n
			p.nodes[i].end = int32(p.pos)
			return i, nil
		default:
			return -1, p.fail(ReasonInvalidJSON, "expected ',' or '}' in object")
		}
	}
}

// foldKey maps s to a canonical case-folded form: each rune becomes the
// smallest rune of its Unicode simple-folding orbit. Two keys have the
// same foldKey exactly when strings.EqualFold says they are equal, so
// small objects (pairwise EqualFold) and large ones (a map of foldKeys)
// reject the same case-only twins ("s" and "ſ", "K" and the Kelvin sign).
func foldKey(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		c := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			c = min(c, f)
		}
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}

func dupCheck(a, b string) string {
	if a == b {
		return "duplicate key"
	}
	if strings.EqualFold(a, b) {
		return "keys differing only in case"
	}
	return ""
}

func reasonFor(what string) Reason {
	if what == "duplicate key" {
		return ReasonDuplicateKey
	}
	return ReasonCaseConflict
}

func (p *parser) array(key span, depth int) (int32, *Error) {
	if depth > p.lim.MaxDepth {
		return -1, p.fail(ReasonTooDeep, "nesting deeper than "+strconv.Itoa(p.lim.MaxDepth))
	}
	i, err := p.add(KindArray, key)
	if err != nil {
		return -1, err
	}
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		p.nodes[i].end = int32(p.pos)
		return i, nil
	}
	var last int32 = -1
	n := int32(0)
	for {
		p.skipSpace()
		c, err := p.value(span{}, depth+1)
		if err != nil {
			return -1, err
		}
		if last < 0 {
			p.nodes[i].child = c
		} else {
			p.nodes[last].next = c
		}
		last = c
		n++
		p.skipSpace()
		if p.pos >= len(p.s) {
			return -1, p.fail(ReasonInvalidJSON, "unexpected end of input in array")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.nodes[i].n = n
			p.nodes[i].end = int32(p.pos)
			return i, nil
		default:
			return -1, p.fail(ReasonInvalidJSON, "expected ',' or ']' in array")
		}
	}
}

// str reads a string literal at p.pos (which is '"') and returns where
// its value is: a span of the input when it has no escapes (the common
// case, no copy), else a span of the escape buffer.
func (p *parser) str() (span, *Error) {
	p.pos++
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			sp := span{off: int32(start), n: int32(p.pos - start)}
			p.pos++
			return sp, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return span{}, p.fail(ReasonInvalidJSON, "control character in string")
		}
		p.pos++
	}
	return span{}, p.fail(ReasonInvalidJSON, "unterminated string")
}

func (p *parser) strEscaped(start int) (span, *Error) {
	off := len(p.esc)
	b := append(p.esc, p.s[start:p.pos]...)
	defer func() { p.esc = b }()
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return span{off: int32(off), n: int32(len(b) - off), esc: true}, nil
		case c < 0x20:
			return span{}, p.fail(ReasonInvalidJSON, "control character in string")
		case c != '\\':
			b = append(b, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.s) {
			break
		}
		e := p.s[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return span{}, p.fail(ReasonInvalidJSON, "invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || !strings.HasPrefix(p.s[p.pos:], `\u`) {
					return span{}, p.fail(ReasonInvalidJSON, "lone UTF-16 surrogate in \\u escape")
				}
				p.pos += 2
				r2, ok := p.hex4()
				if !ok || r2 < 0xdc00 || r2 > 0xdfff {
					return span{}, p.fail(ReasonInvalidJSON, "lone UTF-16 surrogate in \\u escape")
				}
				r = utf16.DecodeRune(r, r2)
			}
			b = utf8.AppendRune(b, r)
		default:
			p.pos -= 2
			return span{}, p.fail(ReasonInvalidJSON, "invalid escape character")
		}
	}
	return span{}, p.fail(ReasonInvalidJSON, "unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.pos : p.pos+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// number checks the JSON number grammar; the literal is kept as text so
// that big integers keep their precision.
func (p *parser) number() *Error {
	s := p.s
	if s[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(s) {
		return p.fail(ReasonInvalidJSON, "invalid number")
	}
	switch {
	case s[p.pos] == '0':
		p.pos++
	case s[p.pos] >= '1' && s[p.pos] <= '9':
		for p.pos < len(s) && s[p.pos] >= '0' && s[p.pos] <= '9' {
			p.pos++
		}
	default:
		return p.fail(ReasonInvalidJSON, "invalid number")
	}
	if p.pos < len(s) && s[p.pos] == '.' {
		p.pos++
		d := p.pos
		for p.pos < len(s) && s[p.pos] >= '0' && s[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == d {
			return p.fail(ReasonInvalidJSON, "invalid number: no digits after '.'")
		}
	}
	if p.pos < len(s) && (s[p.pos] == 'e' || s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(s) && (s[p.pos] == '+' || s[p.pos] == '-') {
			p.pos++
		}
		d := p.pos
		for p.pos < len(s) && s[p.pos] >= '0' && s[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == d {
			return p.fail(ReasonInvalidJSON, "invalid number: no digits in exponent")
		}
	}
	return nil
}
