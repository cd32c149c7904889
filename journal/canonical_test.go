package journal

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestRecordCanonicalArgs: the optional CanonicalArgs round-trips, and a
// record without it encodes exactly as before the field existed.
func TestRecordCanonicalArgs(t *testing.T) {
	r := Record{Kind: KindExecution, ExecutionID: "e", Capability: "fs.read", Args: []byte(`{"path":"/p/./s"}`)}
	without := appendRecord(nil, &r)
	var got Record
	if err := decodeRecord(without, &got); err != nil || got.CanonicalArgs != nil {
		t.Fatalf("without: %v %q", err, got.CanonicalArgs)
	}
	// The old layout: the three byte fields end the record.
	if !bytes.HasSuffix(without, []byte{0, 0}) {
		t.Fatalf("a record without CanonicalArgs changed its encoding: % x", without)
	}
	r.CanonicalArgs = []byte(`{"path":"/p/s"}`)
	with := appendRecord(nil, &r)
	if !bytes.Equal(with[:len(without)], without) {
		t.Fatal("CanonicalArgs is not a pure suffix")
	}
	got = Record{}
	if err := decodeRecord(with, &got); err != nil || string(got.CanonicalArgs) != `{"path":"/p/s"}` {
		t.Fatalf("with: %v %q", err, got.CanonicalArgs)
	}
	if err := validateRecord(with); err != nil {
		t.Fatal(err)
	}
	if err := validateRecord(append(with, 1)); err == nil {
		t.Fatal("trailing byte after CanonicalArgs accepted")
	}
	js, _ := json.Marshal(&got)
	if !bytes.Contains(js, []byte(`"canonical_args":{"path":"/p/s"}`)) {
		t.Errorf("JSON %s", js)
	}
	js, _ = json.Marshal(&Record{Kind: KindExecution})
	if bytes.Contains(js, []byte("canonical_args")) {
		t.Errorf("JSON without CanonicalArgs %s", js)
	}
}
