package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// BenchmarkIdempotency compares, in one run, a request without a key, the
// first use of a key (an execution plus an index entry), and a replay,
// for noop with the journal in interval mode (so the fsync wait does not
// hide the difference): key=none is what every request without a key pays.
func BenchmarkIdempotency(b *testing.B) {
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	for _, mode := range []string{"none", "first-use", "replay"} {
		b.Run("key="+mode, func(b *testing.B) {
			j, err := journal.Open(journal.Config{Dir: b.TempDir(), Durability: journal.DurabilityInterval, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			rt := benchRuntime(b, "", func(c *Config) { c.Journal = j })
			b.Cleanup(func() { rt.Shutdown(context.Background()); j.Close() })
			<-rt.keys.loaded
			ctx := context.Background()
			req := Request{Message: msg, Principal: "agent-1", Transport: "inproc"}
			if mode == "replay" {
				req.IdempotencyKey = "the-key"
				rt.Execute(ctx, &req)
			}
			keys := make([]string, 0)
			if mode == "first-use" {
				for i := range b.N {
					keys = append(keys, "k-"+strconv.Itoa(i))
				}
			}
			lat := newLatencies(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "first-use" {
					req.IdempotencyKey = keys[i]
				}
				start := time.Now()
				a := rt.Execute(ctx, &req)
				lat.add(int64(time.Since(start)))
				if a.Error != nil || a.Replayed != (mode == "replay") {
					b.Fatalf("%s: %s", mode, a.AppendJSON(nil))
				}
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}

// BenchmarkIdempotencyRebuild measures the key index rebuilt from a
// journal of keyed executions (FEMTOCLAW_BENCH_KEYS of them, default
// 200000) on open, from the journal alone and from a snapshot that covers
// it: ns/key, journal records read, and the heap the index holds per key.
func BenchmarkIdempotencyRebuild(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("FEMTOCLAW_BENCH_KEYS")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	j, err := journal.Open(journal.Config{Dir: dir, Durability: journal.DurabilityInterval, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	rt := benchRuntime(b, "", func(c *Config) { c.Journal = j; c.Idempotency.MaxKeys = n + 1 })
	done := make(chan struct{}, 1024)
	for i := range n {
		rt.Submit(&Request{Message: []byte(`{"tool_call":{"tool":"noop","args":{}}}`), Principal: "agent-1", IdempotencyKey: "key-" + strconv.Itoa(i)},
			func(*protoAnswer) { done <- struct{}{} })
		if i >= 1000 {
			<-done
		}
	}
	for range min(n, 1000) {
		<-done
	}
	snap := filepath.Join(dir, "idempotency.snap")
	genesis, _ := journalIdentity(j)
	covered, _ := j.Head()
	if _, err := rt.keys.writeSnapshot(snap, genesis, covered); err != nil {
		b.Fatal(err)
	}
	rt.Shutdown(context.Background())
	j.Close()
	for _, from := range []string{"journal", "snapshot"} {
		b.Run("from="+from, func(b *testing.B) {
			cfg := IdempotencyConfig{MaxKeys: n + 1}
			if from == "snapshot" {
				cfg.SnapshotFile = snap
			}
			for b.Loop() {
				b.StopTimer()
				j, err := journal.Open(journal.Config{Dir: dir, Durability: journal.DurabilityInterval, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtimeMemStats
				readMem(&before)
				ix := newKeyIndex(cfg, j, time.Now)
				ix.genesis, ix.hasGenesis = journalIdentity(j)
				b.StartTimer()
				ix.rebuild()
				b.StopTimer()
				readMem(&after)
				if ix.size() != n || !ix.whole {
					b.Fatalf("rebuilt %d keys, want %d (%v)", ix.size(), n, ix.snapErr)
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-B/key")
				b.ReportMetric(float64(ix.scanned), "records-read")
				j.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
		})
	}
}
