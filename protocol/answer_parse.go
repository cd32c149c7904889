package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrMalformedAnswer is wrapped by every error ParseAnswer returns.
var ErrMalformedAnswer = errors.New("protocol: malformed answer")

// ParseAnswer decodes an answer in the shape Answer.AppendJSON writes: the
// one parser of answers for clients, load generators and tests (the
// runtime itself only encodes them). Members may come in any order. It is
// strict where it matters and tolerant where a newer runtime may add to
// the shape: every member AppendJSON always writes is required, members it
// does not know are skipped (their values must still be valid JSON), and a
// repeated member, a value of the wrong type, a number out of
// range, a malformed timestamp, invalid JSON (Result is checked with
// json.Valid) or data after the object is an error wrapping
// ErrMalformedAnswer. Result is kept as the raw JSON received (a copy;
// null becomes nil), Decision null becomes "", a null journal seq becomes
// 0 and a null error timestamp the zero time, so that for every answer a
// it accepts, AppendJSON(ParseAnswer(AppendJSON(a))) equals AppendJSON(a).
//
// It is a small scanner over the answer's fixed shape, not encoding/json:
// load generators parse every answer they receive, and a token-by-token
// encoding/json walk cost about 17 µs and 230 allocations per answer,
// more than the HTTP/3 round trip it measures. This scanner costs about a
// tenth of that.
func ParseAnswer(b []byte) (*Answer, error) {
	p := &answerParser{b: b}
	a := &Answer{}
	err := p.object("answer", []string{"execution_id", "state", "decision", "status", "result", "error", "journal", "timings_ns"}, func(key string) error {
		var err error
		var s string
		switch key {
		case "execution_id":
			a.ExecutionID, err = p.str(key, false)
		case "state":
			s, err = p.str(key, false)
			a.State = State(s)
		case "decision":
			s, err = p.str(key, true)
			a.Decision = Decision(s)
		case "rule":
			a.Rule, err = p.str(key, false)
		case "replayed":
			a.Replayed, err = p.boolean(key)
		case "status":
			s, err = p.str(key, false)
			a.Status = Status(s)
		case "result":
			var raw []byte
			if raw, err = p.raw(key); err == nil && string(raw) != "null" {
				a.Result = append([]byte(nil), raw...)
			}
		case "error":
			if p.null() {
				return nil
			}
			a.Error, err = p.errorObject()
		case "journal":
			err = p.object("journal", []string{"seq", "durable"}, func(key string) error {
				switch key {
				case "seq":
					if p.null() {
						return nil
					}
					n, err := p.number("journal.seq")
					if err != nil {
						return err
					}
					if a.Journal.Seq, err = strconv.ParseUint(n, 10, 64); err != nil {
						return p.fail("journal.seq " + n + ": want an unsigned integer")
					}
					return nil
				case "durable":
					var err error
					a.Journal.Durable, err = p.boolean("journal.durable")
					return err
				}
				return p.skip("journal." + key)
			})
		case "timings_ns":
			err = p.object("timings_ns", []string{"validate", "authorize", "admit", "execute", "commit", "total"}, func(key string) error {
				var dst *int64
				switch key {
				case "validate":
					dst = &a.Timings.Validate
				case "authorize":
					dst = &a.Timings.Authorize
				case "admit":
					dst = &a.Timings.Admit
				case "execute":
					dst = &a.Timings.Execute
				case "commit":
					dst = &a.Timings.Commit
				case "total":
					dst = &a.Timings.Total
				default:
					return p.skip("timings_ns." + key)
				}
				n, err := p.number("timings_ns." + key)
				if err != nil {
					return err
				}
				if *dst, err = strconv.ParseInt(n, 10, 64); err != nil {
					return p.fail("timings_ns." + key + " " + n + ": want an integer")
				}
				return nil
			})
		default:
			return p.skip(key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(p.b) {
		return nil, p.fail("data after the answer object")
	}
	return a, nil
}

// errorObject reads the error member's object.
func (p *answerParser) errorObject() (*Error, error) {
	e := &Error{}
	err := p.object("error", []string{"error_id", "category", "severity", "message", "subsystem", "timestamp"}, func(key string) error {
		if key == "timestamp" {
			s, err := p.str("error.timestamp", true)
			if err != nil || s == "" {
				return err
			}
			if e.Timestamp, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return p.fail("error.timestamp: " + err.Error())
			}
			return nil
		}
		switch key {
		case "error_id", "category", "severity", "message", "subsystem", "execution_id", "reason", "origin", "capability", "decision", "rule":
		default:
			return p.skip("error." + key)
		}
		s, err := p.str("error."+key, false)
		if err != nil {
			return err
		}
		switch key {
		case "error_id":
			e.ID = s
		case "category":
			e.Category = Category(s)
		case "severity":
			e.Severity = Severity(s)
		case "message":
			e.Message = s
		case "subsystem":
			e.Subsystem = s
		case "execution_id":
			e.ExecutionID = s
		case "reason":
			e.Reason = Reason(s)
		case "origin":
			e.Origin = State(s)
		case "capability":
			e.Capability = s
		case "decision":
			e.Decision = Decision(s)
		case "rule":
			e.Rule = s
		}
		return nil
	})
	return e, err
}

// answerParser scans one answer. Values it does not interpret (the
// result) are skipped by structure and then checked with json.Valid.
type answerParser struct {
	b []byte
	i int
}

func (p *answerParser) fail(msg string) error {
	return fmt.Errorf("%w: %s (at byte %d)", ErrMalformedAnswer, msg, p.i)
}

func (p *answerParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips space and reports whether c is the next byte, consuming it.
func (p *answerParser) next(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// null consumes a null literal if one comes next.
func (p *answerParser) null() bool {
	p.space()
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// object reads {"key": value, …}, calling member for each key with the
// parser before its value. Repeated keys, and missing required ones, are
// errors.
func (p *answerParser) object(what string, required []string, member func(key string) error) error {
	if !p.next('{') {
		return p.fail(what + " is not an object")
	}
	var seen [16]string
	n := 0
	if !p.next('}') {
		for {
			p.space()
			key, err := p.str(what+" key", false)
			if err != nil {
				return err
			}
			for _, k := range seen[:n] {
				if k == key {
					return p.fail(what + ": member " + strconv.Quote(key) + " repeated")
				}
			}
			if n == len(seen) {
				return p.fail(what + ": too many members")
			}
			seen[n] = key
			n++
			if !p.next(':') {
				return p.fail(what + ": want ':' after " + strconv.Quote(key))
			}
			if err := member(key); err != nil {
				return err
			}
			if p.next(',') {
				continue
			}
			if p.next('}') {
				break
			}
			return p.fail(what + ": want ',' or '}'")
		}
	}
next:
	for _, r := range required {
		for _, k := range seen[:n] {
			if k == r {
				continue next
			}
		}
		return p.fail(what + ": member " + strconv.Quote(r) + " missing")
	}
	return nil
}

// str reads a string (or, when nullable, null as ""). Strings without
// escapes are sliced directly; others are decoded by encoding/json.
func (p *answerParser) str(what string, nullable bool) (string, error) {
	if nullable && p.null() {
		return "", nil
	}
	if !p.next('"') {
		return "", p.fail(what + ": want a string")
	}
	start, escaped := p.i, false
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			raw := p.b[start:p.i]
			p.i++
			if !utf8.Valid(raw) {
				return "", p.fail(what + ": invalid UTF-8")
			}
			if !escaped {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(p.b[start-1:p.i], &s); err != nil {
				return "", p.fail(what + ": " + err.Error())
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.i++ // the escaped byte; json.Unmarshal checks the escape
		case c < 0x20:
			return "", p.fail(what + ": control character in a string")
		}
	}
	return "", p.fail(what + ": unterminated string")
}

// number reads the literal text of a number (checked by the caller's
// strconv parse).
func (p *answerParser) number(what string) (string, error) {
	p.space()
	start := p.i
	for p.i < len(p.b) && (p.b[p.i] == '-' || p.b[p.i] >= '0' && p.b[p.i] <= '9') {
		p.i++
	}
	if p.i == start {
		return "", p.fail(what + ": want a number")
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return "", p.fail(what + ": want an integer")
	}
	if lit := p.b[start:p.i]; len(lit) > 1 && lit[0] == '0' || len(lit) > 2 && lit[0] == '-' && lit[1] == '0' {
		return "", p.fail(what + ": leading zero")
	}
	return string(p.b[start:p.i]), nil
}

func (p *answerParser) boolean(what string) (bool, error) {
	p.space()
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		return true, nil
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
		return false, nil
	}
	return false, p.fail(what + ": want true or false")
}

// skip passes over the value of a member this parser does not know.
func (p *answerParser) skip(what string) error {
	_, err := p.raw(what)
	return err
}

// raw skips one JSON value and returns its bytes, checked by json.Valid.
func (p *answerParser) raw(what string) ([]byte, error) {
	p.space()
	start, depth := p.i, 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			p.i++
			for p.i < len(p.b) && p.b[p.i] != '"' {
				if p.b[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
			p.i++
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				goto end
			}
			depth--
			p.i++
		case ',':
			if depth == 0 {
				goto end
			}
			p.i++
		default:
			p.i++
		}
		if depth == 0 && p.i <= len(p.b) {
			// A scalar ends at the next delimiter; a container just closed.
			if c := p.b[p.i-1]; c == '}' || c == ']' || c == '"' {
				goto end
			}
		}
	}
end:
	if p.i > len(p.b) {
		p.i = len(p.b)
	}
	v := p.b[start:p.i]
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t' || v[len(v)-1] == '\n' || v[len(v)-1] == '\r') {
		v = v[:len(v)-1]
	}
	if len(v) == 0 || !json.Valid(v) {
		return nil, p.fail(what + ": not valid JSON")
	}
	return v, nil
}

// ParseError decodes an error object in the shape Error.AppendJSON writes
// (as journal records store it), with ParseAnswer's rules.
func ParseError(b []byte) (*Error, error) {
	p := &answerParser{b: b}
	e, err := p.errorObject()
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(p.b) {
		return nil, p.fail("data after the error object")
	}
	return e, nil
}
