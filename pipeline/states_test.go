package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TestEveryPathIsALegalStateMachineWalk runs one execution of every kind
// and checks that the transitions it reports, from IDLE back to IDLE,
// follow the state machine of specification document 10.
func TestEveryPathIsALegalStateMachineWalk(t *testing.T) {
	fails := &testCap{name: "t.fail", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
		return nil, &capability.Error{Type: capability.ErrExecution, Msg: "no"}
	}}
	write := &testCap{name: "t.write", effects: capability.EffectsWrite, fn: func(context.Context, *capability.Request) ([]byte, error) { return nil, nil }}
	caps, settings := basicCaps(fails, write)
	var out syncBuffer
	e := newEnv(t, caps, settings, func(c *Config) { c.Telemetry.Output = &out })
	for _, m := range []struct{ principal, msg string }{
		{"p", `{"tool_call":{"tool":"noop","args":{}}}`},
		{"p", `{"message":{"content":"hi"}}`},
		{"p", `not json`},
		{"stranger", `{"tool_call":{"tool":"t.fail","args":{}}}`},
		{"tester", `{"tool_call":{"tool":"t.fail","args":{}}}`},
		{"tester", `{"tool_call":{"tool":"t.write","args":{}}}`},
	} {
		e.exec(m.principal, m.msg)
	}
	e.rt.RecordSecurityRejection(protocol.ReasonMissingCredentials, "127.0.0.1:1", "test")
	e.rt.Shutdown(context.Background())

	paths := map[string][]protocol.State{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev struct {
			Type string `json:"event_type"`
			ID   string `json:"execution_id"`
			Prev string `json:"previous_state"`
			New  string `json:"new_state"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "state_transition" {
			continue
		}
		if _, ok := paths[ev.ID]; !ok {
			order = append(order, ev.ID)
		}
		paths[ev.ID] = append(paths[ev.ID], protocol.State(ev.New))
	}
	if len(order) != 7 {
		t.Fatalf("%d executions reported, want 7", len(order))
	}
	for _, id := range order {
		walk := append(append([]protocol.State{protocol.StateIdle}, paths[id]...), protocol.StateIdle)
		for i := 1; i < len(walk); i++ {
			if !protocol.CanTransition(walk[i-1], walk[i]) {
				t.Errorf("%s: illegal %s -> %s in %v", id, walk[i-1], walk[i], walk)
			}
		}
	}
}

// TestCloseDrainsAndRefuses checks Close waits for admitted work and that
// later executions are refused with shutting_down.
func TestCloseDrainsAndRefuses(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	slow := &testCap{name: "t.slow", effects: capability.EffectsRead, fn: func(context.Context, *capability.Request) ([]byte, error) {
		close(started)
		<-release
		return []byte(`{"done":true}`), nil
	}}
	caps, settings := basicCaps(slow)
	e := newEnv(t, caps, settings, nil)
	answered := make(chan *protocol.Answer)
	go func() { answered <- e.exec("tester", `{"tool_call":{"tool":"t.slow","args":{}}}`) }()
	<-started
	closed := make(chan error)
	closing := make(chan struct{})
	e.rt.onClosing = func() { close(closing) }
	go func() { closed <- e.rt.Shutdown(context.Background()) }()
	<-closing
	if a := e.exec("tester", `{"tool_call":{"tool":"noop","args":{}}}`); a.Error == nil || a.Error.Reason != protocol.ReasonShuttingDown {
		t.Fatalf("during shutdown: %+v", a.Error)
	}
	select {
	case <-closed:
		t.Fatal("Close returned with an execution in flight")
	default:
	}
	close(release)
	if a := <-answered; a.Error != nil || !bytes.Contains(a.Result, []byte("done")) {
		t.Fatalf("in-flight execution: %+v", a.Error)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Shutdown(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Shutdown = %v, want ErrClosed", err)
	}
	if err := e.rt.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after Shutdown = %v, want ErrClosed", err)
	}
	if err := e.rt.Reload(nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Shutdown = %v, want ErrClosed", err)
	}
}

// TestCloseIsImmediate checks Close refuses new work at once without
// waiting for an execution in flight, which still completes.
func TestCloseIsImmediate(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	slow := &testCap{name: "t.slow", effects: capability.EffectsRead, fn: func(context.Context, *capability.Request) ([]byte, error) {
		close(started)
		<-release
		return []byte(`{"done":true}`), nil
	}}
	caps, settings := basicCaps(slow)
	e := newEnv(t, caps, settings, nil)
	answered := make(chan *protocol.Answer)
	go func() { answered <- e.exec("tester", `{"tool_call":{"tool":"t.slow","args":{}}}`) }()
	<-started
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	if a := e.exec("tester", `{"tool_call":{"tool":"noop","args":{}}}`); a.Error == nil || a.Error.Reason != protocol.ReasonShuttingDown {
		t.Fatalf("after Close: %+v", a.Error)
	}
	close(release)
	if a := <-answered; a.Error != nil || !bytes.Contains(a.Result, []byte("done")) {
		t.Fatalf("in-flight execution: %+v", a.Error)
	}
	if err := e.rt.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}
