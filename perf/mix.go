package perf

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// What a mix entry's answer must be to count as a success
// (MixEntry.Expect).
const (
	ExpectAllow         = "allow"          // executed successfully: status success, no error
	ExpectDeny          = "deny"           // refused by the capability gate: AUTHORIZATION_ERROR with a DENIED_* decision
	ExpectProtocolError = "protocol_error" // refused by validation: PROTOCOL_ERROR
)

// NoopMessage is the noop call, fcload's default message.
const NoopMessage = `{"tool_call":{"tool":"noop","args":{}}}`

// The standard mix entries' messages that do not depend on the target.
const (
	// DeniedMessage asks fs.read for a file. fs.read is registered
	// everywhere and disabled by default (DENIED_CAPABILITY_DISABLED);
	// where it is enabled, a deny-by-default policy refuses it
	// (DENIED_POLICY_VIOLATION) unless a rule allows this principal.
	DeniedMessage = `{"tool_call":{"tool":"fs.read","args":{"path":"fcload-denied"}}}`
	// MalformedMessage is a noop call cut short: invalid JSON.
	MalformedMessage = `{"tool_call":{"tool":"noop","args":{}}`
)

// Call is one kind of request of a mix: its entry in the report, the
// message sent, and what a correct answer holds. A Call is immutable once
// built and safe for concurrent use.
type Call struct {
	MixEntry
	Message []byte
	// Result, when set, is the exact result a success must carry (echo's
	// text back).
	Result []byte
}

// MixOptions are the target-dependent parts of ParseMix.
type MixOptions struct {
	// Message is the "msg" entry's message (fcload -msg) and Expect what
	// it must get (default ExpectAllow).
	Message []byte
	Expect  string
	// Slow is the "slow" entry's message: a call to a capability that
	// takes a known time on this target. If nil, the target has none and
	// a mix naming "slow" is refused with SlowUnavailable as the reason.
	Slow            []byte
	SlowUnavailable string
}

// mixNames lists the mix entry names ParseMix knows; "echo-SIZE" stands
// for echo-0 … echo-16k (SIZE in bytes, k = 1024).
var mixNames = []string{"noop", "echo-64", "echo-1k", "echo-16k", "denied", "malformed", "slow", "msg"}

// maxMixWeight bounds the sum of a mix's weights (the schedule's length).
const maxMixWeight = 1 << 16

// ParseMix parses a mix: comma-separated NAME or NAME=WEIGHT (a positive
// integer, default 1), for example "noop=8,echo-1k=1,denied=1,malformed=1,slow=1".
//
//	noop        the noop call; expects allow
//	echo-SIZE   echo with a text of SIZE bytes (0 to 16k); expects allow and the same text back
//	denied      DeniedMessage; expects deny
//	malformed   MalformedMessage; expects protocol_error
//	slow        MixOptions.Slow; expects allow
//	msg         MixOptions.Message; expects MixOptions.Expect
func ParseMix(spec string, o MixOptions) ([]Call, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("empty mix: want NAME[=WEIGHT],… (names: %s)", strings.Join(mixNames, ", "))
	}
	var calls []Call
	seen := map[string]bool{}
	total := 0
	for _, part := range strings.Split(spec, ",") {
		name, w, hasW := strings.Cut(strings.TrimSpace(part), "=")
		weight := 1
		if hasW {
			n, err := strconv.Atoi(w)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("mix entry %q: weight %q: want a positive integer", part, w)
			}
			weight = n
		}
		if seen[name] {
			return nil, fmt.Errorf("mix entry %q named twice", name)
		}
		seen[name] = true
		c, err := mixCall(name, o)
		if err != nil {
			return nil, err
		}
		c.Weight = weight
		c.Bytes = len(c.Message)
		total += weight
		if total > maxMixWeight {
			return nil, fmt.Errorf("mix weights add up to more than %d", maxMixWeight)
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func mixCall(name string, o MixOptions) (Call, error) {
	c := Call{MixEntry: MixEntry{Name: name, Expect: ExpectAllow}}
	switch {
	case name == "noop":
		c.Message = []byte(NoopMessage)
	case strings.HasPrefix(name, "echo-"):
		n, err := parseSize(strings.TrimPrefix(name, "echo-"))
		if err != nil || n > capability.EchoMaxText {
			return c, fmt.Errorf("mix entry %q: want echo-SIZE with SIZE from 0 to 16k (%d bytes), e.g. echo-1k", name, capability.EchoMaxText)
		}
		text := make([]byte, n)
		for i := range text {
			text[i] = 'a' + byte(i%26)
		}
		c.Message = protocol.AppendString([]byte(`{"tool_call":{"tool":"echo","args":{"text":`), string(text))
		c.Message = append(c.Message, "}}}"...)
		c.Result = append(protocol.AppendString([]byte(`{"text":`), string(text)), '}')
	case name == "denied":
		c.Message, c.Expect = []byte(DeniedMessage), ExpectDeny
	case name == "malformed":
		c.Message, c.Expect = []byte(MalformedMessage), ExpectProtocolError
	case name == "slow":
		if o.Slow == nil {
			return c, fmt.Errorf("mix entry slow: %s", o.SlowUnavailable)
		}
		c.Message = o.Slow
	case name == "msg":
		if len(o.Message) == 0 {
			return c, fmt.Errorf("mix entry msg: no message given")
		}
		c.Message = o.Message
		if o.Expect != "" {
			if err := checkExpect(o.Expect); err != nil {
				return c, err
			}
			c.Expect = o.Expect
		}
	default:
		return c, fmt.Errorf("unknown mix entry %q%s: want one of %s", name, suggest.Hint(name, mixNames), strings.Join(mixNames, ", "))
	}
	return c, nil
}

func checkExpect(e string) error {
	switch e {
	case ExpectAllow, ExpectDeny, ExpectProtocolError:
		return nil
	}
	return fmt.Errorf("expectation %q: want %s, %s or %s", e, ExpectAllow, ExpectDeny, ExpectProtocolError)
}

// parseSize reads 123 or 16k (×1024).
func parseSize(s string) (int, error) {
	mul := 1
	if t, ok := strings.CutSuffix(s, "k"); ok {
		s, mul = t, 1024
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * mul, nil
}

// MixSpec is calls written back as ParseMix reads them ("noop=8,denied=1").
func MixSpec(calls []Call) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = c.Name + "=" + strconv.Itoa(c.Weight)
	}
	return strings.Join(parts, ",")
}

// Entries returns the calls' report entries.
func Entries(calls []Call) []MixEntry {
	out := make([]MixEntry, len(calls))
	for i, c := range calls {
		out[i] = c.MixEntry
	}
	return out
}

// schedule returns the order in which entries are sent: each entry i
// appears weights[i] times, spread evenly (smooth weighted round robin),
// so that any window of the schedule holds the mix's proportions as
// closely as whole requests allow.
func schedule(entries []MixEntry) []int {
	if len(entries) <= 1 {
		return []int{0}
	}
	total := 0
	for _, e := range entries {
		total += max(e.Weight, 1)
	}
	cur := make([]int, len(entries))
	out := make([]int, 0, total)
	for range total {
		best := 0
		for i, e := range entries {
			cur[i] += max(e.Weight, 1)
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

// Check returns nil when a is the answer c expects, else a *Failure: the
// server's error category and reason ("RUNTIME_ERROR/overloaded") when the
// runtime could not do the work (an overload, a journal failure, a
// capability that failed while running a call that should run, a refused
// token), "unexpected_answer" for any other answer that is not the one
// expected.
func (c *Call) Check(a *protocol.Answer) error {
	e := a.Error
	switch c.Expect {
	case ExpectAllow:
		if e == nil && a.Status == protocol.StatusSuccess {
			if c.Result != nil && !bytes.Equal(a.Result, c.Result) {
				return Fail(CategoryUnexpectedAnswer, fmt.Errorf("%s: the result is not the text sent (%d bytes, want %d)", c.Name, len(a.Result), len(c.Result)))
			}
			return nil
		}
	case ExpectDeny:
		if e != nil && e.Category == protocol.CategoryAuthorization && a.Decision != "" && !a.Decision.Allowed() {
			return nil
		}
	case ExpectProtocolError:
		if e != nil && e.Category == protocol.CategoryProtocol {
			return nil
		}
	}
	if e != nil && runtimeFailure(e, c.Expect) {
		cat := string(e.Category)
		if e.Reason != "" {
			cat += "/" + string(e.Reason)
		}
		return Fail(cat, fmt.Errorf("%s: %s", c.Name, e.Message))
	}
	return Fail(CategoryUnexpectedAnswer, fmt.Errorf("%s: want %s, got %s", c.Name, c.Expect, describeAnswer(a)))
}

// runtimeFailure reports whether e says the runtime could not do the work
// rather than passing a verdict on the request: every category but
// PROTOCOL_ERROR and AUTHORIZATION_ERROR, and CAPABILITY_ERROR only for a
// call that was meant to run (for one meant to be refused, running at all
// is the wrong answer). A runtime refusal with a request verdict's reason
// (overloaded before validation...) is a runtime failure whatever its
// category.
func runtimeFailure(e *protocol.Error, expect string) bool {
	switch e.Reason {
	case protocol.ReasonOverloaded, protocol.ReasonShuttingDown, protocol.ReasonJournalFailed,
		protocol.ReasonIdempotencyLoading, protocol.ReasonReadTimeout, protocol.ReasonPanic:
		return true
	}
	switch e.Category {
	case protocol.CategoryProtocol, protocol.CategoryAuthorization:
		return false
	case protocol.CategoryCapability:
		return expect == ExpectAllow
	}
	return true
}

func describeAnswer(a *protocol.Answer) string {
	if a.Error == nil {
		return "status " + string(a.Status) + " (" + string(a.State) + ")"
	}
	s := string(a.Error.Category)
	if a.Error.Reason != "" {
		s += "(" + string(a.Error.Reason) + ")"
	}
	if a.Decision != "" {
		s += " " + string(a.Decision)
	}
	if a.Rule != "" {
		s += " rule " + a.Rule
	}
	return s + ": " + a.Error.Message
}

// CheckBytes parses an answer received over a transport and checks it:
// "empty_answer" for nothing, "malformed_answer" for what is not an
// answer, else Check.
func (c *Call) CheckBytes(b []byte) error {
	if len(b) == 0 {
		return Fail(CategoryEmptyAnswer, fmt.Errorf("%s: empty answer", c.Name))
	}
	a, err := protocol.ParseAnswer(b)
	if err != nil {
		return Fail(CategoryMalformedAnswer, fmt.Errorf("%s: %w: %s", c.Name, err, Clip(b)))
	}
	return c.Check(a)
}

// Clip bounds an answer quoted in an error message.
func Clip(b []byte) string {
	const n = 512
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
