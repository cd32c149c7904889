package policy

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func TestEngineBasics(t *testing.T) {
	e := NewEngine(nil)
	if e.Current().Hash() != Default().Hash() {
		t.Fatal("NewEngine(nil) does not serve Default()")
	}
	old := e.Current()
	err := e.Reload([]byte("default: allow"))
	if !errors.Is(err, protocol.ErrConfiguration) {
		t.Fatalf("invalid reload: %v", err)
	}
	if e.Current() != old {
		t.Fatal("invalid reload replaced the policy")
	}
	if err := e.Reload(anchorYAML); err != nil {
		t.Fatal(err)
	}
	if e.Current().Hash() != anchorPolicy(t).Hash() {
		t.Fatal("reload did not take")
	}
	if prev := e.Swap(old); prev.Hash() != anchorPolicy(t).Hash() || e.Current() != old {
		t.Fatal("Swap")
	}
	if e.Swap(nil) != old || e.Current() != old {
		t.Fatal("Swap(nil) changed the policy")
	}
}

// TestReloadUnderLoad: goroutines evaluate while another reloads between
// two policies (and tries invalid ones). Every decision must be the one
// policy A or policy B gives for that input; invalid reloads change nothing.
func TestReloadUnderLoad(t *testing.T) {
	docA := anchorYAML
	docB := []byte(`
groups: {ops: [agent-1]}
rules:
  - {id: B-shell, effect: allow, principals: [agent-5], capabilities: [shell], args: {bin: {in: [ls]}}}
  - {id: B-noop, effect: allow, capabilities: [noop]}
  - {id: B-deny, effect: deny, principals: [group:ops], capabilities: ["*"]}
`)
	pa, pb := mustParse(t, string(docA)), mustParse(t, string(docB))
	var inputs []*Input
	for _, tc := range Cases {
		inputs = append(inputs, anchorInput(t, tc.Call))
	}
	wantA := make([]protocol.Verdict, len(inputs))
	wantB := make([]protocol.Verdict, len(inputs))
	differ := 0
	for i, in := range inputs {
		wantA[i], wantB[i] = pa.Evaluate(in), pb.Evaluate(in)
		if wantA[i] != wantB[i] {
			differ++
		}
	}
	if differ < len(inputs)/2 {
		t.Fatalf("only %d of %d inputs tell the policies apart", differ, len(inputs))
	}

	e := NewEngine(pa)
	var stop atomic.Bool
	var evals atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for n := 0; !stop.Load() || n == 0; n++ {
				for i, in := range inputs {
					d := e.Evaluate(in)
					if d != wantA[i] && d != wantB[i] {
						t.Errorf("input %d: %+v is neither policy's answer (%+v / %+v)", i, d, wantA[i], wantB[i])
						return
					}
					evals.Add(1)
				}
			}
		})
	}
	for i := range 40 {
		doc := docA
		if i%2 == 0 {
			doc = docB
		}
		if err := e.Reload(doc); err != nil {
			t.Fatal(err)
		}
		cur := e.Current()
		if err := e.Reload([]byte("rules: [{effect: allow}]")); err == nil {
			t.Fatal("invalid policy accepted")
		}
		if e.Current() != cur {
			t.Fatal("invalid reload replaced the policy")
		}
	}
	stop.Store(true)
	wg.Wait()
	if evals.Load() == 0 {
		t.Fatal("no evaluations ran")
	}
	t.Logf("%d decisions during 40 reloads", evals.Load())
}
