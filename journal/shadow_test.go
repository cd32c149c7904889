package journal

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestRecordShadow: the optional Shadow round-trips with and without
// CanonicalArgs before it, is a pure suffix of the record's encoding (a
// record without it encodes as before the field existed), and a damaged
// one is refused.
func TestRecordShadow(t *testing.T) {
	sh := &Shadow{Decision: "AUTHORIZED", Rule: "allow-rm", PolicyHash: [32]byte{1, 2, 3, 31: 0xff}}
	for _, canon := range [][]byte{nil, []byte(`{"path":"/p/s"}`)} {
		r := Record{Kind: KindRejection, ExecutionID: "e", Capability: "fs.read", Args: []byte(`{"path":"/p/./s"}`),
			Decision: "DENIED_POLICY_VIOLATION", Rule: "default-deny", CanonicalArgs: canon}
		without := appendRecord(nil, &r)
		r.Shadow = sh
		with := appendRecord(nil, &r)
		if !bytes.Equal(with[:len(without)], without) {
			t.Fatalf("canonical %q: Shadow is not a pure suffix", canon)
		}
		if n := encodedRecordSize(&r); n < len(with)+1 {
			t.Fatalf("encodedRecordSize %d under the encoding's %d", n, len(with))
		}
		var got Record
		if err := decodeRecord(with, &got); err != nil || got.Shadow == nil || *got.Shadow != *sh || !bytes.Equal(got.CanonicalArgs, canon) || (got.CanonicalArgs == nil) != (canon == nil) {
			t.Fatalf("canonical %q: %v %+v %q", canon, err, got.Shadow, got.CanonicalArgs)
		}
		if !bytes.Equal(appendRecord(nil, &got), with) {
			t.Fatalf("canonical %q: re-encoding differs", canon)
		}
		// Decoding a record without Shadow into a Record that had one clears it.
		if err := decodeRecord(without, &got); err != nil || got.Shadow != nil {
			t.Fatalf("canonical %q: without: %v %+v", canon, err, got.Shadow)
		}
		if err := validateRecord(with); err != nil {
			t.Fatal(err)
		}
		// A Shadow whose decision runs past the end of the record.
		overrun := append(bytes.Clone(without), 9, 'A')
		if canon == nil {
			overrun = append(bytes.Clone(without), 0, 9, 'A')
		}
		for name, bad := range map[string][]byte{
			"trailing byte":   append(bytes.Clone(with), 1),
			"short hash":      with[:len(with)-1],
			"no hash":         with[:len(with)-32],
			"string past end": overrun,
		} {
			if validateRecord(bad) == nil || decodeRecord(bad, &Record{}) == nil {
				t.Errorf("canonical %q: %s accepted", canon, name)
			}
		}
	}
	js, _ := json.Marshal(&Record{Kind: KindRejection, Shadow: sh})
	if !bytes.Contains(js, []byte(`"shadow":{"decision":"AUTHORIZED","rule":"allow-rm","policy_sha256":"01020300000000000000000000000000000000000000000000000000000000ff"}`)) {
		t.Errorf("JSON %s", js)
	}
	js, _ = json.Marshal(&Record{Kind: KindExecution})
	if bytes.Contains(js, []byte("shadow")) {
		t.Errorf("JSON without Shadow %s", js)
	}
}
