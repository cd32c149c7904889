package policy

import (
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TestNumbersExact: in, not_in, contains_item and range compare numbers
// exactly (protocol.Decimal), on both sides: the document's numbers keep
// the digits float64 would round, and so do the call's.
func TestNumbersExact(t *testing.T) {
	for _, tc := range []struct {
		cons string
		pass []string
		fail []string
	}{
		// 2^53 + 1 is not 2^53, whichever side is written.
		{`{in: [9007199254740992]}`, []string{`9007199254740992`, `9007199254740992.0`, `9.007199254740992e15`}, []string{`9007199254740993`, `9007199254740991`}},
		{`{in: [9007199254740993]}`, []string{`9007199254740993`, `90071992547409930e-1`}, []string{`9007199254740992`, `9007199254740994`}},
		{`{in: [9007199254740993.0]}`, []string{`9007199254740993`}, []string{`9007199254740992`}},
		{`{in: [18446744073709551617]}`, []string{`18446744073709551617`}, []string{`18446744073709551616`}},
		{`{not_in: [9007199254740992]}`, []string{`9007199254740993`}, []string{`9007199254740992`}},
		{`{contains_item: [9007199254740992]}`, []string{`[1, 9007199254740992]`}, []string{`[9007199254740993]`}},
		{`{range: [0, 9007199254740992]}`, []string{`9007199254740992`, `0`, `-0`, `9007199254740991.999`}, []string{`9007199254740993`, `9007199254740992.0000001`, `1e400`}},
		{`{range: [9007199254740993, 9007199254740993]}`, []string{`9007199254740993`, `9.007199254740993e15`}, []string{`9007199254740992`, `9007199254740994`}},
		{`{range: [0.1, 0.3]}`, []string{`0.1`, `0.3`, `0.30`}, []string{`0.09999999999999999999`, `0.30000000000000000001`}},
		// Spellings: 1.0 == 1, 1e2 == 100, -0 == 0.
		{`{in: [1, 100, 0]}`, []string{`1.0`, `1e2`, `-0`, `0.0e9`}, []string{`1.0000000000000000001`, `99.99`}},
		// YAML's own number spellings are read as YAML reads them, exactly.
		{`{in: [0x10, +2, .5, 1.]}`, []string{`16`, `2`, `0.5`, `1`}, []string{`10`, `5`}},
		// An infinite bound is no bound on that side.
		{`{range: [-.inf, 10]}`, []string{`-1e400`, `10`}, []string{`10.5`}},
		{`{range: [10, .inf]}`, []string{`1e400`, `10`}, []string{`9.99`}},
		// type integer is exact too: 2^53 + 0.5 is not an integer.
		{`{type: integer}`, []string{`9007199254740993`, `9007199254740993.0`}, []string{`9007199254740993.5`}},
	} {
		p := mustParse(t, "rules: [{id: r, effect: allow, capabilities: [c], args: {a: "+tc.cons+"}}]")
		for _, list := range []struct {
			vals []string
			want protocol.Decision
		}{{tc.pass, protocol.DecisionAuthorized}, {tc.fail, protocol.DecisionArgumentInvalid}} {
			for _, val := range list.vals {
				args := `{"a":` + val + `}`
				if d := p.Evaluate(&Input{Principal: "p", Capability: "c", Args: obj(t, args)}); d.Code != list.want {
					t.Errorf("%s on %s: %+v, want %s", tc.cons, args, d, list.want)
				}
			}
		}
	}
}

// TestNumberText: the canonical text of a number is float64's shortest
// form when that is exactly the number written, else the exact literal, so
// policies that decide differently never print (or hash) the same.
func TestNumberText(t *testing.T) {
	for _, tc := range []struct{ cons, want string }{
		{`{in: [1, 2.50, 1e7]}`, `in [1 2.5 1e+07]`},
		{`{in: [9007199254740993, 9007199254740993.0, 9007199254740992.0]}`, `in [9007199254740993 9007199254740993.0 9.007199254740992e+15]`},
		{`{range: [1, 10000000]}`, `range [1, 1e+07]`},
		{`{range: [0, 9007199254740993]}`, `range [0, 9007199254740993]`},
		{`{range: [-.inf, .5]}`, `range [-Inf, 0.5]`},
	} {
		p := mustParse(t, "rules: [{id: r, effect: allow, capabilities: [c], args: {a: "+tc.cons+"}}]")
		if s := p.String(); !strings.Contains(s, "args.a: "+tc.want) {
			t.Errorf("%s: String() =\n%s\nwant it to contain %q", tc.cons, s, tc.want)
		}
	}
	a := mustParse(t, `rules: [{effect: allow, capabilities: [c], args: {a: {range: [0, 9007199254740992]}}}]`)
	b := mustParse(t, `rules: [{effect: allow, capabilities: [c], args: {a: {range: [0, 9007199254740993]}}}]`)
	if a.Hash() == b.Hash() {
		t.Error("range max 9007199254740992 and 9007199254740993 hash the same")
	}
}

// TestRangeErrors: bounds are ordered exactly.
func TestRangeErrors(t *testing.T) {
	for _, doc := range []string{
		`{range: [9007199254740993, 9007199254740992]}`,
		`{range: [.inf, 1]}`,
		`{range: [.nan, 1]}`,
		`{range: [1]}`,
	} {
		_, err := Parse([]byte("rules: [{effect: allow, capabilities: [c], args: {a: " + doc + "}}]"))
		if err == nil || !strings.Contains(err.Error(), "range: want [min, max] with min <= max") {
			t.Errorf("%s: err %v, want the range error", doc, err)
		}
	}
	if _, err := Parse([]byte(`rules: [{effect: allow, capabilities: [c], args: {a: {range: [9007199254740992, 9007199254740992.0]}}}]`)); err != nil {
		t.Errorf("equal bounds: %v", err)
	}
}

// TestNumberAllocs: numeric in and range decide without allocating.
func TestNumberAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	p := mustParse(t, `rules: [{effect: allow, capabilities: [c], args: {a: {in: [1, 2.5, 9007199254740993]}, b: {range: [0, 1e3]}}}]`)
	in := &Input{Principal: "p", Capability: "c", Args: obj(t, `{"a":9007199254740993,"b":12.5e1}`)}
	if d := p.Evaluate(in); !d.Code.Allowed() {
		t.Fatalf("%+v", d)
	}
	if n := testing.AllocsPerRun(100, func() { sinkDecision = p.Evaluate(in) }); n != 0 {
		t.Errorf("%v allocs per decision, want 0", n)
	}
}
