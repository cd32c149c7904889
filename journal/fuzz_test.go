package journal

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// seedBlocks returns real encoded blocks (s2, zstd, none) to seed fuzzing.
func seedBlocks(f *testing.F) [][]byte {
	var out [][]byte
	for _, codec := range []Codec{CodecS2, CodecZstd, CodecNone} {
		dir := f.TempDir()
		cfg := testConfig(dir)
		cfg.Codec = codec
		j, err := Open(cfg)
		if err != nil {
			f.Fatal(err)
		}
		j.Append(testRecord(1))
		var batch []*Record
		for i := range 12 {
			batch = append(batch, testRecord(i))
		}
		j.mu.Lock()
		b := j.mu.cur
		b.recs = append(b.recs, batch...)
		j.mu.Unlock()
		j.kick <- struct{}{}
		<-b.done
		j.Close()
		data, _ := os.ReadFile(filepath.Join(dir, segmentName(0)))
		off := int64(segHeaderSize)
		for {
			h, err := checkBlock(data[off:])
			if err != nil {
				break
			}
			out = append(out, data[off:off+int64(h.size())])
			off += int64(h.size())
		}
	}
	return out
}

// allocBound is the most decoding an input of n bytes may allocate: the
// raw body is bounded by maxRatio*n+maxRatioSlack, records copy at most
// that again, plus decoder state.
func allocBound(n int) uint64 { return uint64(4*(maxRatio*n+maxRatioSlack)) + 8<<20 }

func FuzzDecodeBlock(f *testing.F) {
	for _, b := range seedBlocks(f) {
		f.Add(b)
	}
	f.Add(make([]byte, blockHeaderSize))
	var dec decompressor
	var ms runtime.MemStats
	f.Fuzz(func(t *testing.T, data []byte) {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		decodeWhole(&dec, data)
		// Seal a copy so the fuzzer also reaches the body decoders past the CRC.
		if h, err := decodeBlockHeader(data); err == nil && len(data) >= h.size() {
			sealed := append([]byte(nil), data[:h.size()]...)
			sealBlock(sealed)
			decodeWhole(&dec, sealed)
		}
		// Header decoding alone must also be safe on any input.
		_, _ = decodeBlockHeader(data)
		_, _ = decodeSegHeader(data)
		_, _ = decodeCheckpoint(data)
		runtime.ReadMemStats(&ms)
		if got := ms.TotalAlloc - before; got > allocBound(len(data)) {
			t.Fatalf("decoding %d bytes allocated %d (bound %d)", len(data), got, allocBound(len(data)))
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	for i := range 4 {
		f.Add(appendRecord(nil, testRecord(i)))
	}
	f.Add(appendRecord(nil, &Record{Kind: KindSystem}))
	f.Add(appendRecord(nil, &Record{Kind: KindRejection, Decision: "DENIED_POLICY_VIOLATION", Shadow: &Shadow{Decision: "AUTHORIZED", Rule: "r"}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if err := decodeRecord(data, &r); err != nil {
			return
		}
		// Accepted input round-trips: re-encoding and decoding again yields
		// the same record, and the canonical encoding is stable.
		enc := appendRecord(nil, &r)
		var r2 Record
		if err := decodeRecord(enc, &r2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !sameRecord(&r, &r2) || (r.Args == nil) != (r2.Args == nil) {
			t.Fatalf("round trip changed the record")
		}
		if string(appendRecord(nil, &r2)) != string(enc) {
			t.Fatal("encoding not deterministic")
		}
		if len(enc) > len(data) {
			t.Fatalf("canonical encoding (%d bytes) longer than the input (%d)", len(enc), len(data))
		}
		if k, id, err := recordKindID(data); err != nil || k != r.Kind || string(id) != r.ExecutionID {
			t.Fatalf("recordKindID disagrees with decodeRecord: %v", err)
		}
	})
}

// decodeWhole decodes a block completely, as a reader would.
func decodeWhole(dec *decompressor, data []byte) {
	h, err := checkBlock(data)
	if err != nil {
		return
	}
	body, err := dec.decode(&h, data[blockHeaderSize:h.size()])
	if err != nil {
		return
	}
	var r Record
	_ = splitRecords(body, h.Count, func(_ int, rec []byte) error {
		if _, _, err := recordKindID(rec); err != nil {
			return err
		}
		return decodeRecord(rec, &r)
	})
}
