package perf

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func TestParseMix(t *testing.T) {
	calls, err := ParseMix("noop=8, echo-1k=1,denied,malformed=2,slow=1,msg=3", MixOptions{Message: []byte(`{"message":{"content":"hi"}}`), Slow: []byte(`{"tool_call":{"tool":"s","args":{}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := []MixEntry{{"noop", 8, 39, ExpectAllow}, {"echo-1k", 1, 1024 + 48, ExpectAllow}, {"denied", 1, len(DeniedMessage), ExpectDeny},
		{"malformed", 2, len(MalformedMessage), ExpectProtocolError}, {"slow", 1, 36, ExpectAllow}, {"msg", 3, 28, ExpectAllow}}
	if len(calls) != len(want) {
		t.Fatalf("%d calls", len(calls))
	}
	for i, c := range calls {
		if c.MixEntry != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, c.MixEntry, want[i])
		}
		if c.Name != "malformed" && !json.Valid(c.Message) {
			t.Errorf("%s: message %s is not JSON", c.Name, c.Message)
		}
	}
	if json.Valid(calls[3].Message) {
		t.Errorf("malformed message %s is valid JSON", calls[3].Message)
	}
	var echo struct {
		ToolCall struct {
			Args struct{ Text string }
		} `json:"tool_call"`
	}
	if err := json.Unmarshal(calls[1].Message, &echo); err != nil || len(echo.ToolCall.Args.Text) != 1024 || string(calls[1].Result) != `{"text":"`+echo.ToolCall.Args.Text+`"}` {
		t.Fatalf("echo-1k: %v %d %.40s", err, len(echo.ToolCall.Args.Text), calls[1].Result)
	}
	if MixSpec(calls) != "noop=8,echo-1k=1,denied=1,malformed=2,slow=1,msg=3" {
		t.Fatalf("spec %q", MixSpec(calls))
	}

	for spec, want := range map[string]string{
		"":            "empty mix",
		"nop":         `unknown mix entry "nop" (did you mean "noop"?)`,
		"noop,noop":   "named twice",
		"noop=0":      "positive integer",
		"noop=x":      "positive integer",
		"echo-17k":    "from 0 to 16k",
		"echo-":       "from 0 to 16k",
		"echo--1":     "from 0 to 16k",
		"slow":        "mix entry slow: not here",
		"noop=70000":  "add up to more than",
		"msg=1,noop=": "positive integer",
	} {
		_, err := ParseMix(spec, MixOptions{SlowUnavailable: "not here", Message: []byte("{}")})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMix(%q) = %v, want an error with %q", spec, err, want)
		}
	}
	if _, err := ParseMix("msg", MixOptions{Message: []byte("{}"), Expect: "maybe"}); err == nil {
		t.Errorf("expectation maybe accepted")
	}
}

func TestCheck(t *testing.T) {
	calls, err := ParseMix("noop,echo-64,denied,malformed", MixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noop, echo, denied, malformed := &calls[0], &calls[1], &calls[2], &calls[3]
	success := &protocol.Answer{State: protocol.StateCompleted, Decision: protocol.DecisionAuthorized, Status: protocol.StatusSuccess, Result: []byte("{}")}
	echoed := *success
	echoed.Result = echo.Result
	wrongEcho := *success
	wrongEcho.Result = []byte(`{"text":"x"}`)
	fail := func(cat protocol.Category, reason protocol.Reason, d protocol.Decision) *protocol.Answer {
		return &protocol.Answer{State: protocol.StateError, Decision: d, Status: protocol.StatusError,
			Error: &protocol.Error{Category: cat, Reason: reason, Message: "m"}}
	}
	deny := fail(protocol.CategoryAuthorization, "", protocol.DecisionPolicyViolation)
	bad := fail(protocol.CategoryProtocol, protocol.ReasonInvalidJSON, "")
	overloaded := fail(protocol.CategoryRuntime, protocol.ReasonOverloaded, "")
	capFail := fail(protocol.CategoryCapability, protocol.ReasonExecutionError, protocol.DecisionAuthorized)
	journal := fail(protocol.CategoryMemory, protocol.ReasonJournalFailed, protocol.DecisionAuthorized)
	for _, c := range []struct {
		call *Call
		a    *protocol.Answer
		want string
	}{
		{noop, success, ""},
		{echo, &echoed, ""},
		{echo, &wrongEcho, CategoryUnexpectedAnswer},
		{denied, deny, ""},
		{malformed, bad, ""},
		{noop, deny, CategoryUnexpectedAnswer},
		{noop, bad, CategoryUnexpectedAnswer},
		{denied, success, CategoryUnexpectedAnswer},
		{malformed, success, CategoryUnexpectedAnswer},
		{malformed, deny, CategoryUnexpectedAnswer},
		{noop, overloaded, "RUNTIME_ERROR/overloaded"},
		{denied, overloaded, "RUNTIME_ERROR/overloaded"},
		{noop, journal, "MEMORY_ERROR/journal_failed"},
		{noop, capFail, "CAPABILITY_ERROR/ExecutionError"},
		{denied, capFail, CategoryUnexpectedAnswer}, // it ran: it was not denied
		{noop, fail(protocol.CategorySecurity, protocol.ReasonInvalidToken, ""), "SECURITY_ERROR/invalid_token"},
	} {
		err := c.call.Check(c.a)
		if got := CategoryOf(err); got != c.want {
			t.Errorf("%s given %s: category %q (%v), want %q", c.call.Name, describeAnswer(c.a), got, err, c.want)
		}
	}
	if err := noop.CheckBytes(success.AppendJSON(nil)); err != nil {
		t.Errorf("encoded success: %v", err)
	}
	for body, want := range map[string]string{"": CategoryEmptyAnswer, "{}": CategoryMalformedAnswer, "not json": CategoryMalformedAnswer,
		`{"status":"success"}`: CategoryMalformedAnswer} {
		if got := CategoryOf(noop.CheckBytes([]byte(body))); got != want {
			t.Errorf("body %q: %q, want %q", body, got, want)
		}
	}
}
