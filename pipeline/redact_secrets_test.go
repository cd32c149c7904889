package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// vault is a capability with secret arguments that leaks them every way a
// careless capability can: its result echoes the args, its error quotes
// the token.
type vault struct{}

func (vault) Name() string                { return "t.vault" }
func (vault) Version() string             { return "1.0.0" }
func (vault) Description() string         { return "test: secret arguments" }
func (vault) Effects() capability.Effects { return capability.EffectsNone }
func (vault) Schema() []byte {
	return []byte(`{"type":"object","properties":{` +
		`"token":{"type":"string","maxLength":200,"x-femtoclaw-secret":true},` +
		`"n":{"type":"integer","x-femtoclaw-secret":true},` +
		`"nested":{"type":"object","properties":{"pin":{"type":"string","x-femtoclaw-secret":true}},"additionalProperties":false},` +
		`"list":{"type":"array","items":{"type":"string","x-femtoclaw-secret":true}},` +
		`"note":{"type":"string"}},"additionalProperties":false}`)
}
func (vault) Execute(_ context.Context, req *capability.Request) ([]byte, error) {
	if req.Args.Get("note").Str() == "fail" {
		tok := req.Args.Get("token").Str()
		if len(tok) > 80 {
			tok = tok[:80] + "…"
		}
		return nil, &capability.Error{Type: capability.ErrExecution, Msg: "bad token " + `"` + tok + `"`}
	}
	return []byte(`{"echo":` + req.Args.Raw() + `}`), nil
}

// TestSecurityRedactionTotal: with secret properties, no secret reaches
// the answer or the journal, in any place or nesting.
func TestSecurityRedactionTotal(t *testing.T) {
	caps, s := basicCaps(vault{})
	long := "L0NG" + strings.Repeat("s", 150)
	secrets := []string{"hunter2-TOKEN", "PIN-7431", "ARRAY-SECRET-1", "123456", "quo\"te-SECRET", long[:80]}
	for _, tc := range []struct{ name, msg string }{
		{"result echoes args", `{"tool_call":{"tool":"t.vault","args":{"token":"hunter2-TOKEN","nested":{"pin":"PIN-7431"},"list":["ARRAY-SECRET-1"],"note":"hi"}}}`},
		{"escaped secret", `{"tool_call":{"tool":"t.vault","args":{"token":"quo\"te-SECRET"}}}`},
		{"capability error quotes it", `{"tool_call":{"tool":"t.vault","args":{"token":"hunter2-TOKEN","note":"fail"}}}`},
		{"capability error cuts a long one", `{"tool_call":{"tool":"t.vault","args":{"token":"` + long + `","note":"fail"}}}`},
		{"bad args", `{"tool_call":{"tool":"t.vault","args":{"token":"hunter2-TOKEN","nested":{"pin":"PIN-7431","x":1},"list":["ARRAY-SECRET-1",7]}}}`},
		{"policy denial", `{"tool_call":{"tool":"t.vault","args":{"token":"hunter2-TOKEN","n":123456}}}`},
		{"undecodable", `{"tool_call":{"tool":"t.vault","args":{"token":"hunter2-TOKEN"}},"x":1,"x":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, caps, s, nil)
			a := e.rt.Execute(context.Background(), &Request{Message: []byte(tc.msg), Principal: "tester", Transport: "test"})
			out := string(a.AppendJSON(nil))
			recs := e.j.records()
			if len(recs) == 0 {
				t.Fatal("nothing journaled")
			}
			r := recs[len(recs)-1]
			stored := string(r.Args) + string(r.Result) + string(r.Error)
			for _, sec := range secrets {
				if strings.Contains(out, sec) {
					t.Errorf("answer carries %q: %s", sec, out)
				}
				if strings.Contains(stored, sec) {
					t.Errorf("journal carries %q: %s", sec, stored)
				}
			}
			if strings.Contains(tc.name, "undecodable") {
				if !strings.Contains(string(r.Args), `"length":`) {
					t.Errorf("undecodable record: %s", r.Args)
				}
				return
			}
			if !strings.Contains(stored, "[secret:hmac-sha256:") {
				t.Errorf("no digest stands for the secret: %s", stored)
			}
			if a.Error != nil && a.Error.Category == protocol.CategoryAuthorization && a.Error.Rule != "no-big-n" {
				t.Errorf("denial lost its rule: %s", out)
			}
		})
	}
}

// TestSecurityRedactionDigestKeyed: the digest is keyed (a different key,
// a different digest) and stable under one key.
func TestSecurityRedactionDigestKeyed(t *testing.T) {
	a, b := newRedactor([]byte("key-a")), newRedactor([]byte("key-b"))
	if a.Digest([]byte("x")) == b.Digest([]byte("x")) || a.Digest([]byte("x")) != newRedactor([]byte("key-a")).Digest([]byte("x")) {
		t.Error("digest not keyed or not stable")
	}
	if d := a.Digest([]byte("x")); !strings.HasPrefix(d, "[secret:hmac-sha256:") || len(d) != len("[secret:hmac-sha256:]")+16 {
		t.Errorf("digest format %q", d)
	}
}

// TestSecurityRedactionAllArgs: with RedactArgs, no argument is journaled
// and none echoed back.
func TestSecurityRedactionAllArgs(t *testing.T) {
	caps, s := basicCaps(vault{})
	st := s["t.vault"]
	st.RedactArgs = true
	s["t.vault"] = st
	e := newEnv(t, caps, s, nil)
	a := e.rt.Execute(context.Background(), &Request{Message: []byte(`{"tool_call":{"tool":"t.vault","args":{"note":"plain-NOTE-text"}}}`), Principal: "tester", Transport: "test"})
	r := e.j.records()[0]
	if len(r.Args) != 0 || strings.Contains(string(a.AppendJSON(nil))+string(r.Result), "plain-NOTE-text") {
		t.Errorf("args %s, answer %s", r.Args, a.AppendJSON(nil))
	}
}
