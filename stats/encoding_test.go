package stats

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestEncodingRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []*Snapshot{
		nil,
		NewHistogram(HistogramConfig{}).Snapshot(),
		NewHistogram(HistogramConfig{SigFigs: 3, MaxValue: 1}).Snapshot(),
	}
	for i := range 30 {
		cases = append(cases, randomSnapshot(r, HistogramConfig{SigFigs: 1 + i%3, MaxValue: int64(time.Minute) << (i % 5)}, r.IntN(3000)))
	}
	h := NewHistogram(HistogramConfig{MaxValue: 1000})
	h.Record(-1)
	h.Record(5000)
	cases = append(cases, h.Snapshot())
	for i, s := range cases {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Snapshot
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !got.Equal(s) || got.Count() != s.Count() || got.SigFigs() != s.SigFigs() {
			t.Fatalf("case %d: round trip changed the snapshot", i)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
	}
}

func TestEncodingIsCompact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := randomSnapshot(r, HistogramConfig{}, 100_000)
	b, _ := s.MarshalBinary()
	// 100k samples over 25 e-folds: a few thousand buckets, ~2-3 bytes each.
	if len(b) > 4*len(s.counts) {
		t.Errorf("%d bytes for %d buckets", len(b), len(s.counts))
	}
	t.Logf("%d samples, %d buckets: %d bytes", s.Count(), len(s.counts), len(b))
}

func TestUnmarshalRejects(t *testing.T) {
	good, _ := NewHistogram(HistogramConfig{}).Snapshot().MarshalBinary()
	for name, in := range map[string][]byte{
		"empty":         {},
		"bad magic":     {0x00, 1, 2, 1, 0, 0},
		"bad version":   {0xFC, 2, 2, 1, 0, 0},
		"bad sigfigs":   {0xFC, 1, 4, 1, 0, 0},
		"zero maxValue": {0xFC, 1, 2, 0, 0, 0},
		"truncated":     good[:len(good)-1],
		"base, no data": {0xFC, 1, 2, 10, 0, 3},
		"zero count":    {0xFC, 1, 2, 10, 0, 0, 0},
		"leading skip":  {0xFC, 1, 2, 10, 0, 0, 1, 2},
		"trailing skip": {0xFC, 1, 2, 10, 0, 0, 2, 1},
		"two skips":     {0xFC, 1, 2, 100, 0, 0, 2, 1, 1, 2},
		"past max":      {0xFC, 1, 2, 10, 0, 10, 2, 2},
		"non-minimal":   {0xFC, 1, 2, 0x8A, 0x00, 0, 0},
		"overflow":      {0xFC, 1, 2, 10, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 4},
	} {
		var s Snapshot
		if err := s.UnmarshalBinary(in); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: err = %v, want ErrBadEncoding", name, err)
		}
	}
}

func FuzzSnapshotUnmarshal(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 8 {
		b, _ := randomSnapshot(r, HistogramConfig{SigFigs: 1 + i%3}, 10+i*100).MarshalBinary()
		f.Add(b)
	}
	b, _ := (*Snapshot)(nil).MarshalBinary()
	f.Add(b)
	f.Add([]byte{0xFC, 1, 2, 10, 0, 3, 2, 1, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Snapshot
		if err := s.UnmarshalBinary(in); err != nil {
			return
		}
		// Accepted input: bounded allocation, re-encodes identically, and
		// every accessor works.
		if len(s.counts) > bucketIndex(uint64(s.maxValue), s.k)+1 {
			t.Fatalf("decoded %d buckets beyond the histogram's range", len(s.counts))
		}
		out, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", in, out)
		}
		_ = s.Percentile(99.9) + s.Min() + s.Max() + s.Sum()
		_ = s.Mean()
		s.Buckets(func(int64, uint64) {})
		if s.Count() <= 1<<62 && s.Clamped() <= 1<<62 && !s.Merge(&s).Sub(&s).Equal(&s) {
			t.Fatal("(s+s)-s != s")
		}
	})
}
