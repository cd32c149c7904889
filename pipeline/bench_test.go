package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// benchCall is a ~300-byte shell call (the size the contract names).
const benchCall = `{"tool_call":{"tool":"shell","args":{"bin":"git","argv":["log","--oneline","-n","20","--decorate=short","--no-color","--","src/pipeline/runtime.go","src/journal/writer.go","docs/notes-for-the-release-of-version-one.md"]}}}`

func benchRuntime(b *testing.B, polFile string, mod func(*Config)) *Runtime {
	b.Helper()
	builtins, err := capability.Builtins(capability.BuiltinConfig{Shell: capability.ShellConfig{AllowedBins: []string{"git", "ls"}}})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := capability.NewRegistry(builtins, map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}, "shell": {Enabled: true}, "fs.read": {Enabled: true}, "http.get": {Enabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	var pol *policy.Policy
	if polFile == "" {
		pol = policy.Default()
	} else {
		data, err := os.ReadFile(polFile)
		if err != nil {
			b.Fatal(err)
		}
		if pol, err = policy.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
	cfg := Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := Open(cfg, reg, pol)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Shutdown(context.Background()) })
	return rt
}

// BenchmarkValidate times the validation stage on a miss (decode + registry
// + schema) and on a validation-cache hit.
func BenchmarkValidate(b *testing.B) {
	rt := benchRuntime(b, "", nil)
	msg := []byte(benchCall)
	snap := rt.snap.Load()
	b.Run("cache=miss", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := protocol.Decode(msg, rt.cfg.Limits)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := snap.reg.Validate(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache=hit", func(b *testing.B) {
		m, _ := protocol.Decode(msg, rt.cfg.Limits)
		e, _ := snap.reg.Validate(m)
		for range 100 {
			rt.cachesBuilt().Validation.Put(snap.regEpoch, msg, m, e, nil)
			rt.cachesBuilt().Wait()
		}
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, _, ok := rt.cachesBuilt().Validation.Get(snap.regEpoch, msg); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkAuthorize times the authorization stage for the three anchor
// calls on the anchor policy (20 rules): a decision-cache hit, and a miss
// (the policy evaluated) with the cache off.
func BenchmarkAuthorize(b *testing.B) {
	calls := map[string]string{
		"allow":        `{"tool_call":{"tool":"shell","args":{"bin":"git","argv":["status","-s"]}}}`,
		"deny-arg":     `{"tool_call":{"tool":"shell","args":{"bin":"rm","argv":["-rf","/"]}}}`,
		"default-deny": `{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["-l"]}}}`,
	}
	principals := map[string]string{"allow": "agent-1", "deny-arg": "agent-1", "default-deny": "agent-5"}
	for _, mode := range []string{"hit", "miss"} {
		rt := benchRuntime(b, "../policy/testdata/anchor.yaml", func(c *Config) {
			if mode == "miss" {
				c.Caches.DecisionBytes = -1
			}
		})
		for _, name := range []string{"allow", "deny-arg", "default-deny"} {
			b.Run("cache="+mode+"/case="+name, func(b *testing.B) {
				m, err := protocol.Decode([]byte(calls[name]), protocol.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				snap := rt.snap.Load()
				entry, err := snap.reg.Validate(m)
				if err != nil {
					b.Fatal(err)
				}
				x := &execution{rt: rt, snap: snap, msg: m, entry: entry, cr: snap.caps[m.Tool], req: &Request{Principal: principals[name]}}
				for range 100 {
					x.decide()
					rt.cachesBuilt().Wait()
				}
				b.ReportAllocs()
				for b.Loop() {
					x.hit = false
					d := x.decide()
					if (d.Code == protocol.DecisionAuthorized) != (name == "allow") || x.hit != (mode == "hit") {
						b.Fatalf("decision %+v hit %v", d, x.hit)
					}
				}
			})
		}
	}
}

// BenchmarkExecute times the whole in-process cycle of noop (no journal):
// validate, authorize, admit, execute inline, answer, stats and telemetry.
// It reports the runtime's own per-execution latency percentiles.
func BenchmarkExecute(b *testing.B) {
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	run := func(b *testing.B, rt *Runtime, parallel bool) {
		ctx := context.Background()
		req := Request{Message: msg, Principal: "agent-1", Transport: "inproc"}
		lat := newLatencies(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				r := req
				local := make([]int64, 0, 1<<16) // per goroutine: no shared lock in the loop
				for pb.Next() {
					a := rt.Execute(ctx, &r)
					if a.Error != nil {
						b.Error(a.Error)
						return
					}
					if len(local) < cap(local) {
						local = append(local, a.Timings.Total)
					}
				}
				lat.addAll(local)
			})
		} else {
			for i := 0; i < b.N; i++ {
				a := rt.Execute(ctx, &req)
				if a.Error != nil {
					b.Fatal(a.Error)
				}
				lat.add(a.Timings.Total)
			}
		}
		b.StopTimer()
		lat.report(b)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exec/s")
	}
	b.Run("cap=noop/journal=none/mode=serial", func(b *testing.B) { run(b, benchRuntime(b, "", nil), false) })
	b.Run("cap=noop/journal=none/mode=parallel", func(b *testing.B) { run(b, benchRuntime(b, "", nil), true) })
	for _, mode := range []journal.Durability{journal.DurabilityInterval, journal.DurabilityAlways} {
		for _, par := range []int{1, 64} {
			name := fmt.Sprintf("cap=noop/journal=%s/goroutines=%d", mode, par*runtime.GOMAXPROCS(0))
			b.Run(name, func(b *testing.B) {
				j, err := journal.Open(journal.Config{Dir: b.TempDir(), Durability: mode, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				rt := benchRuntime(b, "", func(c *Config) { c.Journal = j; c.Durable = mode == journal.DurabilityAlways })
				b.Cleanup(func() { rt.Shutdown(context.Background()); j.Close() })
				b.SetParallelism(par)
				run(b, rt, true)
			})
		}
	}
}

// latencies collects per-execution samples for exact percentiles.
type latencies struct {
	mu sync.Mutex
	v  []int64
}

func newLatencies(n int) *latencies { return &latencies{v: make([]int64, 0, min(n, 1<<22))} }

func (l *latencies) addAll(v []int64) {
	l.mu.Lock()
	l.v = append(l.v, v...)
	l.mu.Unlock()
}

func (l *latencies) add(ns int64) {
	l.mu.Lock()
	if len(l.v) < cap(l.v) {
		l.v = append(l.v, ns)
	}
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.v) == 0 {
		return
	}
	slices.Sort(l.v)
	p := func(q float64) float64 { return float64(l.v[int(q*float64(len(l.v)-1))]) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// BenchmarkTelemetry times what an execution spends on telemetry on the
// hot path: one histogram record and one event enqueue (the exporter
// drains concurrently, writing nowhere).
func BenchmarkTelemetry(b *testing.B) {
	rt := benchRuntime(b, "", nil)
	ev := Event{ExecutionID: "exec-0192f7a8-1c2d-7e3f-8a4b-5c6d7e8f9a0b", Principal: "agent-1", Capability: "noop", Transport: "inproc",
		Decision: protocol.DecisionAuthorized, Rule: "default.noop-echo"}
	for _, s := range []protocol.State{protocol.StateInputReceived, protocol.StateProtocolValidating, protocol.StateAuthorizationEvaluating,
		protocol.StateCapabilityExecuting, protocol.StateMemoryCommitting, protocol.StateCompleted} {
		ev.transition(s, 100)
	}
	b.Run("mode=serial", func(b *testing.B) {
		b.ReportAllocs()
		d0 := rt.m.eventsDropped.Load()
		for b.Loop() {
			rt.m.total.Record(1234)
			rt.sink.emit(&ev)
		}
		b.ReportMetric(float64(rt.m.eventsDropped.Load()-d0)/float64(b.N), "drops/op")
	})
	b.Run("mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		d0 := rt.m.eventsDropped.Load()
		defer func() { b.ReportMetric(float64(rt.m.eventsDropped.Load()-d0)/float64(b.N), "drops/op") }()
		b.RunParallel(func(pb *testing.PB) {
			e := ev
			for pb.Next() {
				rt.m.total.Record(1234)
				rt.sink.emit(&e)
			}
		})
	})
}

// BenchmarkExecuteTelemetryCost runs the noop cycle with stats and
// telemetry on and off: the difference is their whole per-execution cost.
func BenchmarkExecuteTelemetryCost(b *testing.B) {
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	for _, tc := range []struct {
		name   string
		off    bool
		sample float64
	}{{"telemetry=on/events=all", false, 1}, {"telemetry=on/events=1pct", false, 0.01}, {"telemetry=off", true, 1}} {
		name, off, sample := tc.name, tc.off, tc.sample
		b.Run("cap=noop/"+name, func(b *testing.B) {
			rt := benchRuntime(b, "", func(c *Config) { c.DisableTelemetry = off; c.Telemetry.TransitionSample = sample })
			req := &Request{Message: msg, Principal: "agent-1", Transport: "inproc"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if a := rt.Execute(ctx, req); a.Error != nil {
					b.Fatal(a.Error)
				}
			}
		})
	}
}
