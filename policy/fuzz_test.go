package policy

import (
	"errors"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// FuzzEvaluate: any principal, capability and args JSON against the anchor
// policy never panics, always gets one of the policy's three codes with a
// rule and a reason, and gets the same decision twice.
func FuzzEvaluate(f *testing.F) {
	p := anchorPolicy(f)
	for _, tc := range Cases {
		js := anchorInput(f, tc.Call).Args.Raw()
		f.Add(tc.Call.Principal, tc.Call.Tool, []byte(js))
	}
	for _, x := range extraInputs {
		f.Add(x.principal, x.capability, []byte(x.args))
	}
	f.Add("agent-1", "shell", []byte(`{"bin":"git","argv":["push",1,null,{"a":[]}]}`))
	f.Add("agent-3", "http.get", []byte(`{"url":"https://[::1]:80/\u0000"}`))
	f.Fuzz(func(t *testing.T, principal, capability string, args []byte) {
		v, err := protocol.ParseValue(args, protocol.Limits{})
		if err != nil {
			return
		}
		in := &Input{Principal: principal, Capability: capability, Args: v}
		d := p.Evaluate(in)
		switch d.Code {
		case protocol.DecisionAuthorized, protocol.DecisionPolicyViolation, protocol.DecisionArgumentInvalid:
		default:
			t.Fatalf("code %q", d.Code)
		}
		if d.Rule == "" || d.Reason == "" {
			t.Fatalf("decision without rule or reason: %+v", d)
		}
		if d2 := p.Evaluate(in); d2 != d {
			t.Fatalf("not deterministic: %+v then %+v", d, d2)
		}
	})
}

// FuzzParse: Parse never panics; what it refuses has every problem at a
// place; what it accepts compiles to the same hash again, evaluates
// without panicking, and formats (Format) to the same policy,
// idempotently. Run it with -fuzzminimizetime 1s: minimizing the 3 KB anchor seed otherwise stalls the fuzzer for a minute
// each time a new input is found interesting.
func FuzzParse(f *testing.F) {
	f.Add(anchorYAML)
	f.Add([]byte(defaultYAML))
	f.Add([]byte(`{"capabilities": {"shell": {"enabled": true, "allowed_commands": ["echo", "ls"]}}}`))
	f.Add([]byte("rules: [{effect: allow, capabilities: ['*'], args: {a: {cidr: [10.0.0.0/8], range: [1, 2], regex: ['^a'], items: {type: string}}}}]"))
	f.Add([]byte("groups: {g: [a*]}\nrules: [{effect: deny, principals: [group:g], capabilities: [x?], args: {u: {url_host: [h], url_scheme: [https]}}}]"))
	args, err := protocol.ParseValue([]byte(`{"a":"x","argv":["1"],"u":"https://h/","bin":"ls"}`), protocol.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, protocol.ErrConfiguration) || len(pe.Errors) == 0 || len(pe.Errors) > MaxErrors {
				t.Fatalf("error %v of type %T", err, err)
			}
			for _, d := range pe.Errors {
				if d.Line < 1 || d.Col < 1 || d.Msg == "" {
					t.Fatalf("diagnostic without a place: %+v", d)
				}
			}
			return
		}
		p2, err := Parse(data)
		if err != nil || p2.Hash() != p.Hash() {
			t.Fatalf("second parse: %v", err)
		}
		_ = p.Rules()
		// Format keeps the policy and is idempotent (or refuses).
		if out, err := Format(data); err == nil {
			q, err := Parse(out)
			if err != nil || q.Hash() != p.Hash() {
				t.Fatalf("formatted document: %v\n%s", err, out)
			}
			if again, err := Format(out); err != nil || string(again) != string(out) {
				t.Fatalf("Format not idempotent: %v\n%s\n---\n%s", err, out, again)
			}
		}
		for _, c := range []string{"shell", "x", "noop"} {
			d := p.Evaluate(&Input{Principal: "a", Capability: c, Args: args})
			if d.Code == "" || d.Rule == "" {
				t.Fatalf("bad decision %+v", d)
			}
		}
	})
}
