package capability

import "github.com/femtoclaw/femtoclaw-go/protocol"

// secretKeyword marks a schema (usually a property's) as secret: the
// value it describes, whatever its type, never reaches the journal, an
// answer, an event or a log as written; the runtime shows a keyed digest
// instead (package pipeline). Settings.RedactArgs means "every argument
// is secret".
//
//	{"type":"object","properties":{"token":{"type":"string","x-femtoclaw-secret":true}}}
const secretKeyword = "x-femtoclaw-secret"

// secretMark is a schema's secrecy: itself (the keyword) or somewhere
// below (set by markSecrets once the tree is compiled).
type secretMark struct {
	self, below bool
}

func (m *secretMark) compile(kw protocol.Value, p string) string {
	if kw.Kind() != protocol.KindBool {
		return p + ": must be a boolean"
	}
	m.self = kw.Bool()
	return ""
}

// markSecrets fills every schema's below flag; it reports whether s or
// anything under it is secret.
func (s *Schema) markSecrets() bool {
	if s == nil {
		return false
	}
	below := false
	for _, p := range s.props {
		below = p.schema.markSecrets() || below
	}
	below = s.addl.markSecrets() || below
	below = s.items.markSecrets() || below
	s.secret.below = below
	return s.secret.self || below
}

// HasSecrets reports whether any part of the schema is marked secret.
func (s *Schema) HasSecrets() bool { return s != nil && (s.secret.self || s.secret.below) }

// Secrets appends to out the values of v that the schema marks secret
// (whole values: a secret object is one entry), in document order. It
// follows the schema's structure whether or not v is valid, so a call
// refused for bad arguments is redacted too; a member the schema does not
// describe is not secret.
func (s *Schema) Secrets(v protocol.Value, out []protocol.Value) []protocol.Value {
	if s == nil || !v.Exists() {
		return out
	}
	if s.secret.self {
		return append(out, v)
	}
	if !s.secret.below {
		return out
	}
	switch v.Kind() {
	case protocol.KindObject:
		for m := v.First(); m.Exists(); m = m.Next() {
			sub := s.prop(m.Key())
			if sub == nil {
				sub = s.addl
			}
			out = sub.Secrets(m, out)
		}
	case protocol.KindArray:
		for it := v.First(); it.Exists(); it = it.Next() {
			out = s.items.Secrets(it, out)
		}
	}
	return out
}
