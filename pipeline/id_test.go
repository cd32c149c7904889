package pipeline

import (
	"encoding/hex"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// idRandom returns the 74 random bits of an id as two words (rand_a in
// the low 12 bits of hi, rand_b in lo's low 62 bits), and its ms.
func idParts(t testing.TB, id string) (ms uint64, hi, lo uint64) {
	t.Helper()
	if len(id) != 41 || !strings.HasPrefix(id, "exec-") {
		t.Fatalf("not an execution id: %q", id)
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(id[5:], "-", ""))
	if err != nil || len(raw) != 16 {
		t.Fatalf("not a UUID: %q", id)
	}
	if raw[6]>>4 != 7 || raw[8]>>6 != 2 {
		t.Fatalf("not a UUIDv7 (RFC 9562 variant): %q", id)
	}
	for _, b := range raw[:6] {
		ms = ms<<8 | uint64(b)
	}
	hi = uint64(raw[6]&0x0f)<<8 | uint64(raw[7])
	lo = uint64(raw[8] & 0x3f)
	for _, b := range raw[9:] {
		lo = lo<<8 | uint64(b)
	}
	return ms, hi, lo
}

// TestSecurityOwnershipIDs: execution ids are unique under concurrency,
// sortable by their millisecond, and carry 74 random bits that no other
// id shares or predicts.
func TestSecurityOwnershipIDs(t *testing.T) {
	t.Run("unique under concurrency, ordered by time", func(t *testing.T) {
		var clock struct {
			sync.Mutex
			t time.Time
		}
		clock.t = time.UnixMilli(1_700_000_000_000)
		g := newIDGen(func() time.Time {
			clock.Lock()
			defer clock.Unlock()
			clock.t = clock.t.Add(7 * time.Microsecond) // many ids per ms, and ms advancing
			return clock.t
		})
		const workers, per = 8, 12_500
		out := make([][]string, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range per {
					out[w] = append(out[w], g.next())
				}
			})
		}
		wg.Wait()
		seen := make(map[string]bool, workers*per)
		for w := range workers {
			prevMs := uint64(0)
			for _, id := range out[w] {
				if seen[id] {
					t.Fatalf("duplicate id %s", id)
				}
				seen[id] = true
				ms, _, _ := idParts(t, id)
				if ms < prevMs {
					t.Fatalf("worker %d: id %s (ms %d) after ms %d", w, id, ms, prevMs)
				}
				prevMs = ms
			}
		}
		// Sorting the strings sorts by millisecond.
		all := make([]string, 0, len(seen))
		for id := range seen {
			all = append(all, id)
		}
		slices.Sort(all)
		prev := uint64(0)
		for _, id := range all {
			ms, _, _ := idParts(t, id)
			if ms < prev {
				t.Fatalf("string order is not time order at %s", id)
			}
			prev = ms
		}
	})
	t.Run("clock stepping back", func(t *testing.T) {
		t0 := time.UnixMilli(1_700_000_000_000)
		steps := []time.Time{t0, t0.Add(-time.Hour), t0.Add(-time.Second), t0.Add(time.Millisecond)}
		i := 0
		g := newIDGen(func() time.Time { i++; return steps[min(i-1, len(steps)-1)] })
		var prev uint64
		for range len(steps) + 2 {
			ms, _, _ := idParts(t, g.next())
			if ms < prev {
				t.Fatalf("ms %d after %d", ms, prev)
			}
			prev = ms
		}
		if prev != uint64(t0.UnixMilli()+1) {
			t.Fatalf("last ms %d, want %d", prev, t0.UnixMilli()+1)
		}
	})
	t.Run("74 random bits, none shared, none predictable", func(t *testing.T) {
		fixed := time.UnixMilli(1_700_000_000_000)
		g := newIDGen(func() time.Time { return fixed }) // one millisecond: only randomness tells ids apart
		const n = 100_000
		randParts := make(map[[2]uint64]bool, n)
		var ones [74]int
		var prevHi, prevLo uint64
		var diffBits int
		for i := range n {
			ms, hi, lo := idParts(t, g.next())
			if ms != uint64(fixed.UnixMilli()) {
				t.Fatalf("ms %d", ms)
			}
			k := [2]uint64{hi, lo}
			if randParts[k] {
				t.Fatalf("two ids share their random part %x/%x", hi, lo)
			}
			randParts[k] = true
			for b := range 62 {
				ones[b] += int(lo >> b & 1)
			}
			for b := range 12 {
				ones[62+b] += int(hi >> b & 1)
			}
			if i > 0 {
				diffBits += bits.OnesCount64(hi^prevHi) + bits.OnesCount64(lo^prevLo)
			}
			prevHi, prevLo = hi, lo
		}
		// Every one of the 74 bits is set in about half the ids (binomial,
		// σ ≈ 158 for n = 1e5: ±1% is more than 6σ).
		for b, c := range ones {
			if c < n*49/100 || c > n*51/100 {
				t.Errorf("random bit %d set in %d of %d ids", b, c, n)
			}
		}
		// Consecutive ids differ in about half of their 74 random bits.
		if avg := float64(diffBits) / float64(n-1); avg < 36 || avg > 38 {
			t.Errorf("consecutive ids differ in %.2f random bits on average, want ≈ 37", avg)
		}
	})
}

func BenchmarkID(b *testing.B) {
	g := newIDGen(time.Now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = g.next()
		}
	})
}
