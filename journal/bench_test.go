package journal

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchRecord returns a record whose encoding is 200 bytes, the size the
// ceilings and anchors use.
func benchRecord(w int) *Record {
	r := &Record{
		Kind:        KindExecution,
		ExecutionID: fmt.Sprintf("exec-%04d-000000", w),
		Principal:   "agent-7",
		Capability:  "shell",
		Decision:    "AUTHORIZED",
		Rule:        "allow-shell",
		State:       "COMPLETED",
		Status:      "success",
		Result:      []byte(`{"status":0}`),
		Timings:     Timings{ValidateNs: 812, AuthorizeNs: 95, ExecuteNs: 1430, TotalNs: 2500},
	}
	// Pad with hex of a per-record hash: compresses like real arguments
	// (paths, ids), not like a run of one byte.
	pad := 200 - len(appendRecord(nil, r)) - len(`{"argv":["ls"],"pad":""}`) - 1
	sum := sha256.Sum256([]byte(r.ExecutionID + fmt.Sprint(w)))
	hexpad := fmt.Sprintf("%x", sum)[:max(min(pad, 64), 0)]
	r.Args = []byte(`{"argv":["ls"],"pad":"` + hexpad + `"}`)
	r.ArgsDigest = sha256.Sum256(r.Args)
	return r
}

func TestBenchRecordSize(t *testing.T) {
	if n := len(appendRecord(nil, benchRecord(1))); n < 196 || n > 204 {
		t.Fatalf("bench record encodes to %d bytes, want ~200", n)
	}
}

// benchDir is where benchmarks write: FEMTOCLAW_BENCH_DIR (the project
// disk) or the test's temp dir.
func benchDir(b *testing.B) string {
	if d := os.Getenv("FEMTOCLAW_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "journal-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p/100))]
}

// BenchmarkGroupCommit: W goroutines each append a 200-byte record and wait
// until it is durable (fdatasync). One op = one record. Reports records/s,
// commit latency p50/p99 and records per block.
func BenchmarkGroupCommit(b *testing.B) {
	for _, codec := range []Codec{CodecS2} {
		for _, w := range []int{1, 16, 128, 1024} {
			b.Run(fmt.Sprintf("codec=%s/writers=%d", codec, w), func(b *testing.B) {
				benchAppend(b, Config{Codec: codec}, w)
			})
		}
	}
}

// BenchmarkAppend compares durability modes at a fixed concurrency:
// interval mode's Append returns after write(2), always mode's after
// fdatasync.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []Durability{DurabilityInterval, DurabilityAlways} {
		for _, w := range []int{1, 64} {
			b.Run(fmt.Sprintf("mode=%s/writers=%d", mode, w), func(b *testing.B) {
				benchAppend(b, Config{Durability: mode}, w)
			})
		}
	}
}

func benchAppend(b *testing.B, cfg Config, writers int) {
	cfg.Dir = benchDir(b)
	j, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	// Warm up: preallocation of the first segments, compressor state.
	for i := range 64 {
		j.Append(benchRecord(i))
	}
	st0 := j.Stats()
	lats := make([][]int64, writers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.SetBytes(200)
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	for w := range writers {
		wg.Go(func() {
			r := benchRecord(w)
			l := make([]int64, 0, b.N/writers+1)
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				if _, err := j.Append(r); err != nil {
					b.Error(err)
					return
				}
				l = append(l, int64(time.Since(t)))
			}
			lats[w] = l
		})
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	var all []int64
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	st := j.Stats()
	b.ReportMetric(float64(b.N)/el.Seconds(), "rec/s")
	b.ReportMetric(float64(percentile(all, 50)), "p50-ns")
	b.ReportMetric(float64(percentile(all, 99)), "p99-ns")
	if blocks := st.Blocks - st0.Blocks; blocks > 0 {
		b.ReportMetric(float64(st.Appends-st0.Appends)/float64(blocks), "rec/block")
	}
	if st.MaxUnsyncedNanos > 0 {
		b.ReportMetric(float64(st.MaxUnsyncedNanos), "max-unsynced-ns")
	}
	if syncs := st.Syncs - st0.Syncs; syncs > 0 {
		b.ReportMetric(float64(st.SyncNanos-st0.SyncNanos)/float64(syncs), "sync-ns")
	}
}

// benchBlock is the raw body of n 200-byte records, as the flusher builds it.
func benchBlock(n int) []byte {
	var raw, rec []byte
	for i := range n {
		r := benchBlockRecord(i)
		r.Timings.ExecuteNs += int64(i * 37)
		rec = appendRecord(rec[:0], r)
		raw = appendUvarint(raw, uint64(len(rec)))
		raw = append(raw, rec...)
	}
	return raw
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// BenchmarkCodec compresses and decompresses one block body of N 200-byte
// records. MB/s is over the raw bytes; ratio = raw / compressed.
func BenchmarkCodec(b *testing.B) {
	for _, codec := range []Codec{CodecS2, CodecZstd} {
		for _, n := range []int{16, 256, 4096} {
			raw := benchBlock(n)
			id, _ := codec.id()
			b.Run(fmt.Sprintf("codec=%s/records=%d/op=compress", codec, n), func(b *testing.B) {
				c, _ := newCompressor(id)
				defer c.close()
				var out []byte
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					out = c.compress(out[:0], raw)
				}
				b.ReportMetric(float64(len(raw))/float64(len(out)), "ratio")
			})
			b.Run(fmt.Sprintf("codec=%s/records=%d/op=decompress", codec, n), func(b *testing.B) {
				c, _ := newCompressor(id)
				body := c.compress(nil, raw)
				c.close()
				h := blockHeader{Codec: id, RawLen: uint32(len(raw)), BodyLen: uint32(len(body))}
				var d decompressor
				defer d.close()
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					if _, err := d.decode(&h, body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// buildBigJournal writes n 200-byte records in blocks of 1024 (interval
// mode, no per-block fsync) and closes the journal.
func buildBigJournal(b *testing.B, n int) string {
	dir := benchDir(b)
	j, err := Open(Config{Dir: dir, Durability: DurabilityInterval, SyncInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*Record, 1024)
	for i := range recs {
		recs[i] = benchBlockRecord(i)
	}
	for done := 0; done < n; done += len(recs) {
		for k := range recs {
			r := *recs[k]
			r.ExecutionID = fmt.Sprintf("exec-%08d", done+k)
			recs[k] = &r
		}
		j.mu.Lock()
		bt := j.mu.cur
		bt.recs = append(bt.recs, recs[:min(len(recs), n-done)]...)
		j.mu.Unlock()
		j.kick <- struct{}{}
		<-bt.done
		if bt.err != nil {
			b.Fatal(bt.err)
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func benchBlockRecord(i int) *Record {
	r := benchRecord(i)
	r.ExecutionID = fmt.Sprintf("exec-%04d-%06d", i%1024, i)
	r.ArgsDigest = sha256.Sum256([]byte(r.ExecutionID))
	return r
}

const bigJournalRecords = 1 << 20

// BenchmarkOpen opens (recovers) a journal of 1M records (or
// FEMTOCLAW_BENCH_OPEN_RECORDS) and closes it: with the checkpoint written
// by Close, and without (a full scan).
func BenchmarkOpen(b *testing.B) {
	n := bigJournalRecords
	if v, err := strconv.Atoi(os.Getenv("FEMTOCLAW_BENCH_OPEN_RECORDS")); err == nil && v > 0 {
		n = v
	}
	dir := buildBigJournal(b, n)
	for _, ckpt := range []bool{true, false} {
		b.Run(fmt.Sprintf("records=%d/checkpoint=%v", n, ckpt), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !ckpt {
					os.Remove(filepath.Join(dir, checkpointName))
				}
				j, err := Open(Config{Dir: dir, CheckpointEvery: -1})
				if err != nil {
					b.Fatal(err)
				}
				if r := j.Recovery(); r.Records != int64(n) || r.FromCheckpoint != ckpt {
					b.Fatalf("recovery %+v", r)
				}
				b.StopTimer()
				if ckpt {
					j.Close() // rewrites the checkpoint
				} else {
					j.mu.Lock()
					j.mu.closed = true
					j.mu.Unlock()
					close(j.stopc)
					<-j.donec // no checkpoint
					j.f.Close()
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkVerify runs the full verification (CRC, chain, decode of every
// record) over a journal of 1M records. MB/s is over the block bytes.
func BenchmarkVerify(b *testing.B) {
	dir := buildBigJournal(b, bigJournalRecords)
	rep, err := Verify(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(rep.Bytes)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Verify(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rep.Bytes)*float64(b.N)/(cpuTime()-cpu0).Seconds()/1e6, "MB/cpu-s")
	b.ReportMetric(float64(rep.RawBytes)/float64(rep.Bytes), "ratio")
	b.ReportMetric(float64(rep.Records)*float64(b.N)/b.Elapsed().Seconds(), "rec/s")
}

// BenchmarkOpenEmpty creates a new journal and closes it (startup cost).
func BenchmarkOpenEmpty(b *testing.B) {
	root := benchDir(b)
	b.ReportAllocs()
	var openNs time.Duration
	defer func() { b.ReportMetric(float64(openNs)/float64(b.N), "open-ns") }()
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		j, err := Open(Config{Dir: filepath.Join(root, fmt.Sprint(i))})
		if err != nil {
			b.Fatal(err)
		}
		openNs += time.Since(t0)
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet looks up execution ids in a journal of 1M records; the
// first Get (index build) is reported as build-ns.
func BenchmarkGet(b *testing.B) {
	dir := buildBigJournal(b, bigJournalRecords)
	j, err := Open(Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	t0 := time.Now()
	if _, err := j.Get("warm"); err != nil {
		b.Fatal(err)
	}
	build := time.Since(t0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("exec-%08d", (i*7919)%bigJournalRecords)
		recs, err := j.Get(id)
		if err != nil || len(recs) != 1 {
			b.Fatalf("Get(%s) = %d, %v", id, len(recs), err)
		}
	}
	b.ReportMetric(float64(build), "build-ns")
}
