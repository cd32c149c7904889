package policy

import (
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

var sinkDecision protocol.Verdict

// BenchmarkEvaluate: one decision on the 20-rule anchor policy (a decision
// cache miss), for the three calls the anchors time.
func BenchmarkEvaluate(b *testing.B) {
	p := anchorPolicy(b)
	for _, bc := range []struct {
		name  string
		call  Call
		allow bool
	}{
		{"allow", BenchAllow, true},
		{"deny-arg", BenchDenyArg, false},
		{"default-deny", BenchDenyDefault, false},
		{"fs-allow", Call{"agent-1", "fs.read", map[string]any{"path": "/project/src/main.go"}}, true},
		{"url-allow", Call{"agent-3", "http.get", map[string]any{"url": "https://api.github.com/repos/x/y"}}, true},
	} {
		b.Run("case="+bc.name, func(b *testing.B) {
			in := anchorInput(b, bc.call)
			if p.Evaluate(in).Code.Allowed() != bc.allow {
				b.Fatal("wrong decision")
			}
			b.ReportAllocs()
			for b.Loop() {
				sinkDecision = p.Evaluate(in)
			}
		})
	}
}

// BenchmarkEvaluateParallel: GOMAXPROCS goroutines deciding through one
// Engine; ns/op is wall time per decision.
func BenchmarkEvaluateParallel(b *testing.B) {
	e := NewEngine(anchorPolicy(b))
	for _, bc := range []struct {
		name string
		call Call
	}{{"allow", BenchAllow}, {"deny-arg", BenchDenyArg}, {"default-deny", BenchDenyDefault}} {
		b.Run("case="+bc.name, func(b *testing.B) {
			in := anchorInput(b, bc.call)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var d protocol.Verdict
				for pb.Next() {
					d = e.Evaluate(in)
				}
				_ = d
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}
