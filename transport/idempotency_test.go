package transport

import (
	"context"
	"strings"
	"testing"
)

// TestIdempotencyOverHTTP3: a retried key gets the original answer with
// the Idempotent-Replayed header; a key reused for another call is 422;
// a keyed stream replays per frame.
func TestIdempotencyOverHTTP3(t *testing.T) {
	e := newEnv(t, envOpts{})
	msg := `{"tool_call":{"tool":"echo","args":{"text":"once"}}}`
	hdr := map[string]string{"Authorization": "Bearer " + testToken, "Idempotency-Key": "retry-1"}
	resp1, body1 := e.raw("POST", "/v1/execute", strings.NewReader(msg), hdr)
	resp2, body2 := e.raw("POST", "/v1/execute", strings.NewReader(msg), hdr)
	a1, a2 := decode(t, body1), decode(t, body2)
	if resp1.StatusCode != 200 || resp2.StatusCode != 200 || a1.Replayed || !a2.Replayed || a1.ExecutionID != a2.ExecutionID {
		t.Fatalf("first %d %s\nretry %d %s", resp1.StatusCode, body1, resp2.StatusCode, body2)
	}
	if resp1.Header.Get(HeaderIdempotentReplayed) != "" || resp2.Header.Get(HeaderIdempotentReplayed) != "true" {
		t.Fatalf("Idempotent-Replayed: first %q, retry %q", resp1.Header.Get(HeaderIdempotentReplayed), resp2.Header.Get(HeaderIdempotentReplayed))
	}
	resp3, body3 := e.raw("POST", "/v1/execute", strings.NewReader(`{"tool_call":{"tool":"echo","args":{"text":"twice"}}}`), hdr)
	if a3 := decode(t, body3); resp3.StatusCode != 422 || a3.Error == nil || a3.Error.Reason != "idempotency_conflict" {
		t.Fatalf("conflict: %d %s", resp3.StatusCode, body3)
	}
	// Another principal's identical key is its own.
	resp4, body4 := e.raw("POST", "/v1/execute", strings.NewReader(msg), map[string]string{"Authorization": "Bearer other-token", "Idempotency-Key": "retry-1"})
	if a4 := decode(t, body4); a4.Replayed || a4.ExecutionID == a1.ExecutionID {
		t.Fatalf("other principal: %d %s", resp4.StatusCode, body4)
	}

	st, err := e.client.KeyedStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range []string{"s-1", "s-1", "", "retry-1"} {
		if err := st.SendKey(k, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	st.CloseSend()
	var got []bool
	var ids []string
	for range 4 {
		b, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		a := decode(t, b)
		got, ids = append(got, a.Replayed), append(ids, a.ExecutionID)
	}
	if got[0] || !got[1] || got[2] || !got[3] || ids[0] != ids[1] || ids[3] != a1.ExecutionID {
		t.Fatalf("keyed stream: replayed %v ids %v", got, ids)
	}
}
