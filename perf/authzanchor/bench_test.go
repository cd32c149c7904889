package authzanchor

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

var sink bool

var benchCases = []struct {
	name string
	call *Call
	want bool
}{
	{"allow", &BenchAllow, true},
	{"deny-arg", &BenchDenyArg, false},
	{"default-deny", &BenchDenyDefault, false},
}

// engineOrder: femtoclaw = policy.Evaluate on args already decoded (the
// runtime's validation stage decodes the message once); femtoclaw-decode =
// protocol.ParseValue of the args JSON + Evaluate; cedar = the request
// adapter + IsAuthorized; cedar-only = IsAuthorized on a prebuilt request;
// opa = prepared query, Eval with the Go input map; opa-parsed = Eval on a
// prebuilt ast.Value; go = the hand-written floor.
var engineOrder = []string{"femtoclaw", "femtoclaw-decode", "cedar", "cedar-only", "opa", "opa-parsed", "go"}

func deciders(b *testing.B, c *Call) map[string]func() bool {
	es := engines(b)
	o, cd, fc := es["opa"].(*OPA), es["cedar"].(*Cedar), es["femtoclaw"].(*FemtoClaw)
	in, err := ast.InterfaceToValue(OPAInput(c))
	if err != nil {
		b.Fatal(err)
	}
	req := cd.Request(c)
	js, err := ArgsJSON(c)
	if err != nil {
		b.Fatal(err)
	}
	fin, err := Input(c.Principal, c.Tool, js)
	if err != nil {
		b.Fatal(err)
	}
	must := func(ok bool, err error) bool {
		if err != nil {
			b.Fatal(err)
		}
		return ok
	}
	return map[string]func() bool{
		"femtoclaw": func() bool { return fc.P.Evaluate(fin).Code.Allowed() },
		"femtoclaw-decode": func() bool {
			in, err := Input(c.Principal, c.Tool, js)
			if err != nil {
				b.Fatal(err)
			}
			return fc.P.Evaluate(in).Code.Allowed()
		},
		"cedar":      func() bool { return must(cd.Decide(c)) },
		"cedar-only": func() bool { return must(cd.DecideRequest(req)) },
		"opa":        func() bool { return must(o.Decide(c)) },
		"opa-parsed": func() bool { return must(o.DecideParsed(in)) },
		"go":         func() bool { return DecideGo(c) },
	}
}

// BenchmarkAuthz: one goroutine, ns and allocs per decision, every engine
// on the same three calls in one run.
func BenchmarkAuthz(b *testing.B) {
	for _, bc := range benchCases {
		ds := deciders(b, bc.call)
		for _, e := range engineOrder {
			b.Run("engine="+e+"/case="+bc.name, func(b *testing.B) {
				d := ds[e]
				if d() != bc.want {
					b.Fatalf("wrong decision")
				}
				b.ReportAllocs()
				for b.Loop() {
					sink = d()
				}
			})
		}
	}
}

// BenchmarkAuthzParallel: GOMAXPROCS goroutines (2 here); ns/op is wall
// time per decision.
func BenchmarkAuthzParallel(b *testing.B) {
	for _, bc := range benchCases {
		ds := deciders(b, bc.call)
		for _, e := range engineOrder {
			b.Run("engine="+e+"/case="+bc.name, func(b *testing.B) {
				d := ds[e]
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					var s bool
					for pb.Next() {
						s = d()
					}
					sink = s
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			})
		}
	}
}
