package protocol

import (
	"strconv"
	"unsafe"
)

// Form is which of the two protocol forms a message has.
type Form uint8

// The two forms.
const (
	FormMessage  Form = 1 // {"message":{"content":…}}: recorded, never executed
	FormToolCall Form = 2 // {"tool_call":{"tool":…,"args":{…}}}: execution intent
)

func (f Form) String() string {
	switch f {
	case FormMessage:
		return "message"
	case FormToolCall:
		return "tool_call"
	}
	return "invalid"
}

// Message is a decoded, structurally valid protocol message. It is
// immutable and safe to share between goroutines (the validation cache
// hands the same *Message to every identical input).
type Message struct {
	Form    Form
	Content string // FormMessage: message.content (non-empty)
	Tool    string // FormToolCall: tool_call.tool (non-empty)
	Args    Value  // FormToolCall: tool_call.args (an object)
	src     string
}

// Footprint is the memory a decoded message keeps alive, in bytes: its
// copy of the input, its node tree and its unescaped strings. Caches
// charge it as an entry's cost.
func (m *Message) Footprint() int {
	n := len(m.src) + 128
	if d := m.Args.d; d != nil {
		n += cap(d.nodes)*int(unsafe.Sizeof(node{})) + cap(d.esc)
	}
	return n
}

// Raw returns the message bytes as received.
func (m *Message) Raw() string { return m.src }

// Decode checks data against the FemtoClaw protocol's two forms and
// returns the message, or a *Error of category PROTOCOL_ERROR whose Reason
// names the broken rule. The rules, in order:
//
//  1. at most lim.MaxBytes bytes, valid UTF-8, valid JSON with nothing after it;
//  2. no duplicate keys and no keys differing only in case, at any depth;
//     at most lim.MaxDepth levels and lim.MaxValues values;
//  3. the top level is an object with exactly one of "message" and
//     "tool_call" and no other key;
//  4. "message" is an object with exactly the key "content", a non-empty string;
//  5. "tool_call" is an object with exactly the keys "tool", a non-empty
//     string, and "args", an object of at most lim.MaxArgs members.
//
// Whether the tool is registered and the args fit its schema is the
// capability registry's job (capability.Registry.Validate).
func Decode(data []byte, lim Limits) (*Message, error) {
	m, err := decode(data, lim.WithDefaults())
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decode(data []byte, lim Limits) (*Message, *Error) {
	d, err := parse(data, lim)
	if err != nil {
		return nil, err
	}
	root := Value{d, 0}
	if root.Kind() != KindObject {
		return nil, protoErr(ReasonNotObject, "top level is a JSON "+root.Kind().String()+", not an object")
	}
	var msg, call Value
	for it := root.First(); it.Exists(); it = it.Next() {
		switch it.Key() {
		case "message":
			msg = it
		case "tool_call":
			call = it
		default:
			return nil, unknownKey("top level", it.Key(), "message", "tool_call")
		}
	}
	switch {
	case msg.Exists() && call.Exists():
		return nil, protoErr(ReasonAmbiguous, "both \"message\" and \"tool_call\" present: a message has exactly one form")
	case !msg.Exists() && !call.Exists():
		return nil, protoErr(ReasonNoForm, "neither \"message\" nor \"tool_call\" present")
	case msg.Exists():
		if msg.Kind() != KindObject {
			return nil, protoErr(ReasonWrongType, "\"message\" is a JSON "+msg.Kind().String()+", not an object")
		}
		var content Value
		for it := msg.First(); it.Exists(); it = it.Next() {
			if it.Key() != "content" {
				return nil, unknownKey("\"message\"", it.Key(), "content")
			}
			content = it
		}
		switch {
		case !content.Exists():
			return nil, protoErr(ReasonMissingField, "\"message.content\" is missing")
		case content.Kind() != KindString:
			return nil, protoErr(ReasonWrongType, "\"message.content\" is a JSON "+content.Kind().String()+", not a string")
		case content.Str() == "":
			return nil, protoErr(ReasonEmptyContent, "\"message.content\" is empty")
		}
		return &Message{Form: FormMessage, Content: content.Str(), src: d.src}, nil
	}
	if call.Kind() != KindObject {
		return nil, protoErr(ReasonWrongType, "\"tool_call\" is a JSON "+call.Kind().String()+", not an object")
	}
	var tool, args Value
	for it := call.First(); it.Exists(); it = it.Next() {
		switch it.Key() {
		case "tool":
			tool = it
		case "args":
			args = it
		default:
			return nil, unknownKey("\"tool_call\"", it.Key(), "tool", "args")
		}
	}
	switch {
	case !tool.Exists():
		return nil, protoErr(ReasonMissingField, "\"tool_call.tool\" is missing")
	case tool.Kind() != KindString:
		return nil, protoErr(ReasonWrongType, "\"tool_call.tool\" is a JSON "+tool.Kind().String()+", not a string")
	case tool.Str() == "":
		return nil, protoErr(ReasonEmptyTool, "\"tool_call.tool\" is empty")
	case !args.Exists():
		return nil, protoErr(ReasonMissingField, "\"tool_call.args\" is missing")
	case args.Kind() != KindObject:
		return nil, protoErr(ReasonArgsNotObject, "\"tool_call.args\" is a JSON "+args.Kind().String()+", not an object")
	case args.Len() > lim.MaxArgs:
		return nil, protoErr(ReasonTooManyArgs, "\"tool_call.args\" has "+strconv.Itoa(args.Len())+" members, limit is "+strconv.Itoa(lim.MaxArgs))
	}
	return &Message{Form: FormToolCall, Tool: tool.Str(), Args: args, src: d.src}, nil
}

// unknownKey reports a key the envelope does not define; a key that
// differs from a defined one only in case says so.
func unknownKey(where, key string, known ...string) *Error {
	for _, k := range known {
		if equalFoldASCII(k, key) {
			return protoErr(ReasonCaseConflict, "key "+strconv.Quote(key)+" in "+where+" differs from "+strconv.Quote(k)+" only in case; keys are case-sensitive")
		}
	}
	return protoErr(ReasonUnknownKey, "unknown key "+strconv.Quote(key)+" in "+where)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// AppendJSON re-encodes the message in compact form. Decoding the output
// gives an equivalent message.
func (m *Message) AppendJSON(b []byte) []byte {
	if m.Form == FormMessage {
		b = append(b, `{"message":{"content":`...)
		b = AppendString(b, m.Content)
		return append(b, '}', '}')
	}
	b = append(b, `{"tool_call":{"tool":`...)
	b = AppendString(b, m.Tool)
	b = append(b, `,"args":`...)
	b = m.Args.AppendJSON(b)
	return append(b, '}', '}')
}
