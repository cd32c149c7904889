package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var b []byte
	msgs := [][]byte{[]byte(`{"message":{"content":"a"}}`), bytes.Repeat([]byte("x"), 70000), []byte("y")}
	for _, m := range msgs {
		b = appendFrame(b, m)
	}
	r := bytes.NewReader(b)
	for i, m := range msgs {
		got, err := readFrame(r, nil, 1<<20)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if _, err := readFrame(r, nil, 1<<20); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
	// Torn inside the header and inside the body.
	if _, err := readFrame(bytes.NewReader(b[:2]), nil, 1<<20); err != io.ErrUnexpectedEOF {
		t.Fatalf("torn header: %v", err)
	}
	if _, err := readFrame(bytes.NewReader(b[:10]), nil, 1<<20); err != io.ErrUnexpectedEOF {
		t.Fatalf("torn body: %v", err)
	}
	if _, err := readFrame(bytes.NewReader(appendFrame(nil, make([]byte, 100))), nil, 99); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 0, 0, 0}), nil, 99); !errors.Is(err, errEmptyFrame) {
		t.Fatalf("empty: %v", err)
	}
}

// FuzzReadFrame: readFrame never panics, never returns more than the
// limit, and what it accepts re-encodes to the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, []byte(`{"tool_call":{"tool":"noop","args":{}}}`)))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		const limit = 4096
		consumed := 0
		for {
			got, err := readFrame(r, nil, limit)
			if err != nil {
				return
			}
			if len(got) == 0 || len(got) > limit {
				t.Fatalf("frame of %d bytes accepted", len(got))
			}
			enc := appendFrame(nil, got)
			if !bytes.Equal(enc, data[consumed:consumed+len(enc)]) {
				t.Fatal("accepted frame does not re-encode to its input")
			}
			consumed += len(enc)
		}
	})
}

func TestSplitKeyedFrame(t *testing.T) {
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	b := appendKeyedFrame(nil, "k-1", msg)
	key, got, err := splitKeyedFrame(b[frameHeaderLen:])
	if err != nil || key != "k-1" || string(got) != string(msg) {
		t.Fatalf("%q %q %v", key, got, err)
	}
	if key, got, err := splitKeyedFrame(appendKeyedFrame(nil, "", msg)[frameHeaderLen:]); err != nil || key != "" || string(got) != string(msg) {
		t.Fatalf("no key: %q %q %v", key, got, err)
	}
	for name, p := range map[string][]byte{
		"short":          {0},
		"key past end":   {0, 9, 'a', 'b'},
		"no message":     {0, 2, 'a', 'b'},
		"key over limit": append([]byte{0xff, 0xff}, make([]byte, 70000)...),
	} {
		if _, _, err := splitKeyedFrame(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
