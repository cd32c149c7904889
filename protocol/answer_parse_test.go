package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// answerCases are answers of every shape AppendJSON writes.
func answerCases() map[string]*Answer {
	ts := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	return map[string]*Answer{
		"success": {ExecutionID: "exec-1", State: StateCompleted, Decision: DecisionAuthorized, Rule: "allow-echo", Status: StatusSuccess,
			Result: []byte(`{"text":"héllo \"q\"","n":[1,2.5e3,null,true],"A":1,"a":2}`), Journal: JournalInfo{Seq: 1042, Durable: true},
			Timings: Timings{Validate: 812, Authorize: 95, Admit: 3, Execute: 1430, Commit: 212000, Total: 215300}},
		"no result, no seq": {ExecutionID: "exec-2", State: StateCompleted, Decision: DecisionAuthorized, Status: StatusSuccess},
		"protocol error": {State: StateError, Status: StatusError, Error: &Error{ID: "err-1", Category: CategoryProtocol,
			Severity: SeverityError, Message: "duplicate key \"a\"", Subsystem: "protocol_validator", Timestamp: ts,
			Reason: ReasonDuplicateKey, Origin: StateProtocolValidating}},
		"denied": {ExecutionID: "exec-3", State: StateError, Decision: DecisionPolicyViolation, Rule: "default-deny", Status: StatusError,
			Error: &Error{ID: "err-2", Category: CategoryAuthorization, Severity: SeverityError, Message: "denied", Subsystem: "policy",
				Timestamp: ts, ExecutionID: "exec-3", Origin: StateAuthorizationEvaluating, Capability: "shell",
				Decision: DecisionPolicyViolation, Rule: "default-deny"}, Journal: JournalInfo{Seq: 7}},
		"error without timestamp": {State: StateError, Status: StatusError, Error: &Error{ID: "err-3", Category: CategoryRuntime,
			Severity: SeverityCritical, Message: "x", Subsystem: "runtime"}, Timings: Timings{Total: -1}},
		"string result": {ExecutionID: "e", State: StateCompleted, Status: StatusSuccess, Result: []byte(`"just a string"`)},
		"number result": {ExecutionID: "e\u00e9\t\"", State: StateCompleted, Status: StatusSuccess, Result: []byte(`-12.5e3`)},
	}
}

func TestParseAnswerRoundTrip(t *testing.T) {
	for name, a := range answerCases() {
		enc := a.AppendJSON(nil)
		got, err := ParseAnswer(enc)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, enc)
		}
		if again := got.AppendJSON(nil); !bytes.Equal(again, enc) {
			t.Fatalf("%s: round trip\n got %s\nwant %s", name, again, enc)
		}
		if got.ExecutionID != a.ExecutionID || got.Decision != a.Decision || got.Rule != a.Rule || !bytes.Equal(got.Result, a.Result) ||
			got.Journal != a.Journal || got.Timings != a.Timings || (got.Error == nil) != (a.Error == nil) {
			t.Fatalf("%s: fields\n got %+v\nwant %+v", name, got, a)
		}
		if a.Error != nil {
			g, w := *got.Error, *a.Error
			if !g.Timestamp.Equal(w.Timestamp) {
				t.Fatalf("%s: timestamp %v, want %v", name, g.Timestamp, w.Timestamp)
			}
			g.Timestamp, w.Timestamp = time.Time{}, time.Time{}
			if g != w {
				t.Fatalf("%s: error\n got %+v\nwant %+v", name, g, w)
			}
		}
	}
}

// TestParseAnswerOrderIndependent reorders every member and whitespace.
func TestParseAnswerOrderIndependent(t *testing.T) {
	in := `{ "timings_ns":{"total":9,"commit":0,"execute":0,"admit":0,"authorize":0,"validate":1},
		"journal":{"durable":false,"seq":null}, "error":{"reason":"invalid_token","timestamp":null,"subsystem":"transport",
		"message":"m","severity":"ERROR","category":"SECURITY_ERROR","error_id":"err-9"},
		"result" : null, "status":"error", "rule":"r", "decision":null, "state":"ERROR", "execution_id":"" }`
	a, err := ParseAnswer([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != StatusError || a.Rule != "r" || a.Error == nil || a.Error.Reason != "invalid_token" || a.Timings.Total != 9 ||
		a.Timings.Validate != 1 || a.Result != nil || a.Journal.Seq != 0 {
		t.Fatalf("%+v %+v", a, a.Error)
	}
}

func TestParseAnswerRejects(t *testing.T) {
	good := string((&Answer{ExecutionID: "e", State: StateCompleted, Status: StatusSuccess}).AppendJSON(nil))
	errObj := `{"error_id":"x","category":"C","severity":"S","message":"m","subsystem":"s","timestamp":null}`
	for name, in := range map[string]string{
		"empty":             ``,
		"not json":          `garbage`,
		"array":             `[]`,
		"empty object":      `{}`,
		"trailing":          good + ` {}`,
		"trailing garbage":  good + `x`,
		"truncated":         good[:len(good)-1],
		"repeated member":   `{"status":"success",` + good[1:],
		"missing status":    `{"execution_id":"e","state":"S","decision":null,"result":null,"error":null,"journal":{"seq":null,"durable":false},"timings_ns":{"validate":0,"authorize":0,"admit":0,"execute":0,"commit":0,"total":0}}`,
		"status number":     replace(good, `"status":"success"`, `"status":1`),
		"state null":        replace(good, `"state":"COMPLETED"`, `"state":null`),
		"seq negative":      replace(good, `"seq":null`, `"seq":-1`),
		"seq string":        replace(good, `"seq":null`, `"seq":"1"`),
		"durable string":    replace(good, `"durable":false`, `"durable":"no"`),
		"timing float":      replace(good, `"total":0`, `"total":1.5`),
		"timing zero-led":   replace(good, `"total":0`, `"total":01`),
		"bad escape":        replace(good, `"execution_id":"e"`, `"execution_id":"\q"`),
		"control char":      replace(good, `"execution_id":"e"`, "\"execution_id\":\"\x01\""),
		"bad utf8":          replace(good, `"execution_id":"e"`, "\"execution_id\":\"\xff\""),
		"nullx":             replace(good, `"error":null`, `"error":nullx`),
		"timing missing":    replace(good, `,"total":0`, ``),
		"error string":      replace(good, `"error":null`, `"error":"bad"`),
		"error incomplete":  replace(good, `"error":null`, `"error":{"error_id":"x"}`),
		"error bad time":    replace(good, `"error":null`, `"error":`+replace(errObj, `"timestamp":null`, `"timestamp":"yesterday"`)),
		"error reason null": replace(good, `"error":null`, `"error":`+errObj[:len(errObj)-1]+`,"reason":null}`),
		"result missing":    replace(good, `"result":null,`, ``),
		"result broken":     replace(good, `"result":null`, `"result":{"a":}`),
	} {
		if _, err := ParseAnswer([]byte(in)); !errors.Is(err, ErrMalformedAnswer) {
			t.Errorf("%s: err %v for %s", name, err, in)
		}
	}
	if _, err := ParseAnswer([]byte(good)); err != nil {
		t.Fatalf("the good answer: %v", err)
	}
}

func replace(s, old, new string) string {
	out := bytes.Replace([]byte(s), []byte(old), []byte(new), 1)
	if bytes.Equal(out, []byte(s)) {
		panic("replace: " + old + " not in " + s)
	}
	return string(out)
}

// FuzzParseAnswer: ParseAnswer never panics, and what it accepts
// re-encodes to a fixed point: AppendJSON(ParseAnswer(AppendJSON(a))) ==
// AppendJSON(a) for every a it returns.
func FuzzParseAnswer(f *testing.F) {
	for _, a := range answerCases() {
		f.Add(a.AppendJSON(nil))
	}
	f.Add([]byte(`{"execution_id":"e","state":"S","decision":"","status":"s","result":  [1, {"b" : 2}] ,"error":null,` +
		`"journal":{"seq":0,"durable":true},"timings_ns":{"validate":0,"authorize":0,"admit":0,"execute":0,"commit":0,"total":0},"rule":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnswer(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedAnswer) {
				t.Fatalf("error %v does not wrap ErrMalformedAnswer", err)
			}
			return
		}
		enc := a.AppendJSON(nil)
		a2, err := ParseAnswer(enc)
		if err != nil {
			t.Fatalf("re-encoded answer rejected: %v\n%s\nfrom %q", err, enc, b)
		}
		if again := a2.AppendJSON(nil); !bytes.Equal(again, enc) {
			t.Fatalf("not a fixed point\n got %s\nwant %s", again, enc)
		}
	})
}

func BenchmarkParseAnswer(b *testing.B) {
	enc := answerCases()["success"].AppendJSON(nil)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAnswer(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseAnswerSkipsUnknownMembers: a newer runtime may add members;
// an older client skips them (their values must still be valid JSON).
func TestParseAnswerSkipsUnknownMembers(t *testing.T) {
	good := string((&Answer{ExecutionID: "e", State: StateCompleted, Status: StatusSuccess}).AppendJSON(nil))
	errObj := `{"error_id":"x","category":"C","severity":"S","message":"m","subsystem":"s","timestamp":null}`
	for name, in := range map[string]string{
		"top level":      good[:len(good)-1] + `,"replayed":true,"extra":{"a":[1,"}"]}}`,
		"timings":        replace(good, `"total":0`, `"total":0,"other":1`),
		"journal":        replace(good, `"durable":false`, `"durable":false,"segment":"x"`),
		"error":          replace(good, `"error":null`, `"error":`+errObj[:len(errObj)-1]+`,"zz":["1"]}`),
		"before a known": `{"new":1,` + good[1:],
	} {
		a, err := ParseAnswer([]byte(in))
		if err != nil || a.ExecutionID != "e" || a.Status != StatusSuccess {
			t.Errorf("%s: %v %+v", name, err, a)
		}
	}
	for name, in := range map[string]string{
		"invalid unknown value": good[:len(good)-1] + `,"extra":tru}`,
		"unterminated unknown":  good[:len(good)-1] + `,"extra":"x}`,
	} {
		if _, err := ParseAnswer([]byte(in)); !errors.Is(err, ErrMalformedAnswer) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestParseErrorAndReplayedRoundTrip(t *testing.T) {
	e := &Error{ID: "err-1", Category: CategoryProtocol, Severity: SeverityError, Message: "m \"q\"", Subsystem: "s",
		Reason: ReasonIdempotencyConflict, Capability: "shell", Timestamp: time.Date(2026, 12, 1, 0, 0, 0, 5, time.UTC)}
	got, err := ParseError(e.AppendJSON(nil))
	if err != nil || string(got.AppendJSON(nil)) != string(e.AppendJSON(nil)) {
		t.Fatalf("ParseError: %v\n%s\n%s", err, got.AppendJSON(nil), e.AppendJSON(nil))
	}
	a := &Answer{ExecutionID: "exec-1", State: StateCompleted, Status: StatusSuccess, Replayed: true, Error: e}
	enc := a.AppendJSON(nil)
	if !strings.Contains(string(enc), `"replayed":true`) {
		t.Fatalf("no replayed member: %s", enc)
	}
	p, err := ParseAnswer(enc)
	if err != nil || !p.Replayed || string(p.AppendJSON(nil)) != string(enc) {
		t.Fatalf("replayed answer round trip: %v %s", err, enc)
	}
	if s := string((&Answer{ExecutionID: "e"}).AppendJSON(nil)); strings.Contains(s, "replayed") {
		t.Fatalf("replayed member on a first answer: %s", s)
	}
}
