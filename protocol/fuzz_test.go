package protocol

import (
	"encoding/json"
	"testing"
)

// FuzzDecode: the decoder never panics; whatever it accepts is valid JSON
// to encoding/json too, re-encodes to a message that decodes to the same
// re-encoding (a fixed point), and whatever it rejects is a protocol error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		benchCall,
		`{"message":{"content":"hi"}}`,
		`{"tool_call":{"tool":"noop","args":{}}}`,
		`{"tool_call":{"tool":"x","args":{"a":[1,2.5e3,-0,true,false,null,{"b":"\u00e9"}]}}}`,
		`{"message":{"content":"a"},"tool_call":{"tool":"b","args":{}}}`,
		`{"a":1,"a":2}`, `[`, `{"message":{"content":"\ud83d\ude00"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, Limits{MaxBytes: 1 << 16})
		if err != nil {
			if pe, ok := err.(*Error); !ok || pe.Category != CategoryProtocol || pe.Reason == "" {
				t.Fatalf("rejection is not a protocol error: %#v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		enc := m.AppendJSON(nil)
		m2, err := Decode(enc, Limits{MaxBytes: 1 << 17})
		if err != nil {
			t.Fatalf("re-encoding %q rejected: %v", enc, err)
		}
		if enc2 := m2.AppendJSON(nil); string(enc2) != string(enc) {
			t.Fatalf("re-encoding not stable:\n%s\n%s", enc, enc2)
		}
		if m2.Form != m.Form || m2.Tool != m.Tool || m2.Content != m.Content {
			t.Fatal("re-decoded message differs")
		}
	})
}
