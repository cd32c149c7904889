package ipc

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TestIdempotencyKeys: a key per request on the ring, over the region and
// over socket framing alike — the same key and call replays the first
// answer, another call with it is a conflict, and a bad key prefix is a
// transport refusal that never reaches the pipeline.
func TestIdempotencyKeys(t *testing.T) {
	if maxKeyLen != protocol.MaxIdempotencyKeyLen {
		t.Fatalf("maxKeyLen %d, protocol.MaxIdempotencyKeyLen %d", maxKeyLen, protocol.MaxIdempotencyKeyLen)
	}
	s := startServer(t, ServerConfig{})
	for _, socket := range []bool{false, true} {
		c, err := Dial(context.Background(), s.path, ClientConfig{SocketFrames: socket})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		key := "order-42"
		if socket {
			key = "order-43"
		}
		first, err := c.ExecuteKey(ctx, key, echoMsg("once"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.ExecuteKey(ctx, key, echoMsg("once"))
		if err != nil {
			t.Fatal(err)
		}
		a1, a2 := answerOf(t, first), answerOf(t, again)
		if a1["replayed"] != nil || a2["replayed"] != true || a1["execution_id"] != a2["execution_id"] {
			t.Fatalf("socket=%v: first %s\nretry %s", socket, first, again)
		}
		done := make(chan []byte, 1)
		if err := c.SubmitKey(key, echoMsg("twice"), func(b []byte, err error) { done <- b }); err != nil {
			t.Fatal(err)
		}
		if b := <-done; !strings.Contains(string(b), `"reason":"idempotency_conflict"`) {
			t.Fatalf("socket=%v: same key, other call: %s", socket, b)
		}
		if plain, err := c.Execute(ctx, echoMsg("once")); err != nil || answerOf(t, plain)["replayed"] != nil {
			t.Fatalf("socket=%v: no key: %s %v", socket, plain, err)
		}
		if _, err := c.ExecuteKey(ctx, strings.Repeat("k", maxKeyLen+1), echoMsg("x")); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("socket=%v: a key over the bound: %v", socket, err)
		}
	}
}

func TestRequestOf(t *testing.T) {
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	if k, m, err := requestOf(FlagKeyed, appendKeyed(nil, "k", msg)); err != nil || k != "k" || string(m) != string(msg) {
		t.Fatalf("%q %q %v", k, m, err)
	}
	if k, m, err := requestOf(0, msg); err != nil || k != "" || string(m) != string(msg) {
		t.Fatalf("no key: %q %q %v", k, m, err)
	}
	for name, c := range map[string]struct {
		flags uint32
		p     []byte
	}{
		"unknown flag":   {1 << 5, msg},
		"transport flag": {FlagTransport, msg},
		"short":          {FlagKeyed, []byte{0}},
		"zero key":       {FlagKeyed, append([]byte{0, 0}, msg...)},
		"key past end":   {FlagKeyed, []byte{0, 9, 'a'}},
		"no message":     {FlagKeyed, []byte{0, 1, 'a'}},
		"key over bound": {FlagKeyed, append([]byte{0x01, 0x01}, make([]byte, 300)...)},
	} {
		if _, _, err := requestOf(c.flags, c.p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
