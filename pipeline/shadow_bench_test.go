package pipeline

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// anchorCandidate is the anchor policy (20 rules) without git in P1: a
// candidate of the same size that denies what the active policy allows
// for `git`, and agrees on `ls`.
func anchorCandidate(b *testing.B) *policy.Policy {
	b.Helper()
	data, err := os.ReadFile("../policy/testdata/anchor.yaml")
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Replace(string(data), "in: [ls, cat, grep, git, go]", "in: [ls, cat, grep, go]", 1)
	if text == string(data) {
		b.Fatal("anchor.yaml changed: P1's binaries not found")
	}
	p, err := policy.Parse([]byte(text))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkShadowAuthorize times the authorization stage on the anchor
// policy without and with a shadow candidate, on a decision-cache hit and
// on a miss (both policies evaluated), for a call on which the policies
// agree and one on which they differ (counted, and a journal Shadow
// allocated).
func BenchmarkShadowAuthorize(b *testing.B) {
	calls := map[string]string{
		"agree":  `{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["-l"]}}}`,
		"differ": `{"tool_call":{"tool":"shell","args":{"bin":"git","argv":["status","-s"]}}}`,
	}
	cand := anchorCandidate(b)
	for _, mode := range []string{"hit", "miss"} {
		for _, shadow := range []string{"off", "on"} {
			rt := benchRuntime(b, "../policy/testdata/anchor.yaml", func(c *Config) {
				if mode == "miss" {
					c.Caches.DecisionBytes = -1
				}
				if shadow == "on" {
					c.Shadow = cand
				}
			})
			for _, name := range []string{"agree", "differ"} {
				b.Run("cache="+mode+"/shadow="+shadow+"/case="+name, func(b *testing.B) {
					m, err := protocol.Decode([]byte(calls[name]), protocol.Limits{})
					if err != nil {
						b.Fatal(err)
					}
					snap := rt.snap.Load()
					entry, err := snap.reg.Validate(m)
					if err != nil {
						b.Fatal(err)
					}
					x := &execution{rt: rt, snap: snap, msg: m, entry: entry, cr: snap.caps[m.Tool], req: &Request{Principal: "agent-1"}}
					for range 100 {
						x.decide()
						rt.cachesBuilt().Wait()
					}
					b.ReportAllocs()
					for b.Loop() {
						x.hit, x.rec.Shadow = false, nil
						d := x.decide()
						if !d.Code.Allowed() || x.hit != (mode == "hit") || (x.rec.Shadow != nil) != (shadow == "on" && name == "differ") {
							b.Fatalf("decision %+v hit %v shadow %+v", d, x.hit, x.rec.Shadow)
						}
					}
				})
			}
		}
	}
}

// BenchmarkShadowExecute is BenchmarkExecute's serial noop cycle (no
// journal) without and with a shadow candidate that agrees on noop: the
// whole-cycle cost of shadow mode on the common, cached path.
func BenchmarkShadowExecute(b *testing.B) {
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	cand, err := policy.Parse([]byte("version: 1\ndefault: deny\nrules:\n  - {id: default.noop-echo, effect: allow, capabilities: [noop]}\n"))
	if err != nil {
		b.Fatal(err)
	}
	for _, shadow := range []string{"off", "on"} {
		b.Run("cap=noop/journal=none/mode=serial/shadow="+shadow, func(b *testing.B) {
			rt := benchRuntime(b, "", func(c *Config) {
				if shadow == "on" {
					c.Shadow = cand
				}
			})
			req := &Request{Message: msg, Principal: "agent-1", Transport: "inproc"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if a := rt.Execute(ctx, req); a.Error != nil {
					b.Fatal(a.Error)
				}
			}
			if shadow == "on" && (rt.m.shadowEvaluations.Load() == 0 || rt.m.shadowDifferences[1][1].Load() != 0) {
				b.Fatal("the candidate was never consulted, or disagreed")
			}
		})
	}
}
