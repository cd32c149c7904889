package ceiling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// RecordBytes is the size of the records the durable comparisons append:
// the size of a noop execution's journal record.
const RecordBytes = 200

// AppendRecord appends a RecordBytes-byte JSON record for sequence number
// seq to b: the shape the ceilings and anchors have always written, so
// the figures stay comparable with them.
func AppendRecord(b []byte, seq int64) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"tool":"shell","principal":"agent-7","decision":"allow","status":0,"pad":"`...)
	for len(b) < RecordBytes-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// DurableConfig configures RunDurable. The zero value is usable.
type DurableConfig struct {
	// Writers is the number of goroutines appending, each waiting for its
	// record to be durable before the next. If zero, defaults to 1.
	Writers int
	// Duration is the measured phase. If zero, defaults to 2 s.
	Duration time.Duration
	// Warmup runs before it, unmeasured. If zero, defaults to 500 ms;
	// negative means none.
	Warmup time.Duration
	// MaxOps ends the measured phase after this many appends, failed ones
	// included (0: no bound); a smoke test's way to stay short.
	MaxOps int64
}

func (c DurableConfig) withDefaults() DurableConfig {
	if c.Writers <= 0 {
		c.Writers = 1
	}
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 500 * time.Millisecond
	}
	return c
}

// AppendFunc appends one record for writer w (seq is unique across
// writers) and returns once it is durable.
type AppendFunc func(w int, seq int64, rec []byte) error

// RunDurable drives appendFn from cfg.Writers goroutines for the warm-up and
// the measured phase and returns the measured repetition: successful
// appends, their latency (from the call to its return), throughput over
// the window to the last success, errors, the first error, and this
// process's CPU time over the phase as the server's (the store runs in
// this process).
func RunDurable(ctx context.Context, cfg DurableConfig, appendFn AppendFunc) perf.Repetition {
	cfg = cfg.withDefaults()
	h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	var (
		seq, ok, errs atomic.Int64
		measuring     atomic.Bool
		lastOK        atomic.Int64 // ns since start of the measured phase
		first         atomic.Value
		start         time.Time
	)
	phaseCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Go(func() {
			buf := make([]byte, 0, RecordBytes)
			for phaseCtx.Err() == nil {
				s := seq.Add(1)
				rec := AppendRecord(buf[:0], s)
				t := time.Now()
				err := appendFn(w, s, rec)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					if phaseCtx.Err() == nil {
						first.CompareAndSwap(nil, err.Error())
						if n := errs.Add(1); cfg.MaxOps > 0 && n+ok.Load() >= cfg.MaxOps {
							cancel()
						}
					}
					continue
				}
				now := time.Now()
				h.Record(int64(now.Sub(t)))
				lastOK.Store(int64(now.Sub(start)))
				if n := ok.Add(1); cfg.MaxOps > 0 && n+errs.Load() >= cfg.MaxOps {
					cancel()
				}
			}
		})
	}
	if cfg.Warmup > 0 {
		select {
		case <-time.After(cfg.Warmup):
		case <-phaseCtx.Done():
		}
	}
	cpu0 := processCPU()
	start = time.Now()
	measuring.Store(true)
	select {
	case <-time.After(cfg.Duration):
	case <-phaseCtx.Done():
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	cancel()
	wg.Wait()
	return repetition(start, elapsed, time.Duration(lastOK.Load()), ok.Load(), errs.Load(), &first, h, cpu)
}

// repetition assembles a perf.Repetition from a phase's counts.
func repetition(start time.Time, elapsed, window time.Duration, ok, errs int64, first *atomic.Value, h *stats.Histogram, serverCPU time.Duration) perf.Repetition {
	snap := h.Snapshot()
	rep := perf.Repetition{
		Started: start, Elapsed: elapsed, Window: window,
		Sent: ok + errs, OK: ok, Errors: errs,
		Latency: snap.Summary(), ServerCPUSeconds: serverCPU.Seconds(),
	}
	if window > 0 {
		rep.Throughput = float64(ok) / window.Seconds()
	}
	if b, err := snap.MarshalBinary(); err == nil {
		rep.Histogram = b
	}
	if s, okS := first.Load().(string); okS {
		rep.FirstError = s
	}
	return rep
}

// Loop is the bare group-commit loop: appenders add their record to the
// open batch under a mutex and wait for it; one flusher goroutine swaps
// the batch, writes it into one preallocated, zero-filled file (wrapping
// around at its end, so no write changes the file's size, as in the
// journal's preallocated segments) and fdatasyncs it (always), or
// acknowledges it once written and leaves the fdatasync to a second
// goroutine every SyncInterval (interval). Nothing else: no framing,
// checksum, compression, index, segment or recovery, which is what the
// journal adds on top and what a ratio against Loop measures. It is a
// reference, not a bound: the journal overlaps the next batch's write with
// the current sync, which Loop does not, so at many writers the journal
// can pass it. Append is safe for concurrent use; Close must be called
// once.
type Loop struct {
	f        *os.File
	size     int64
	off      int64 // flusher only
	interval time.Duration
	kick     chan struct{}
	stop     chan struct{}
	done     sync.WaitGroup
	mu       struct {
		sync.Mutex
		cur *loopBatch
	}
	err atomic.Value // first write or sync error (sticky)
}

type loopBatch struct {
	buf  []byte
	done chan struct{}
}

func newLoopBatch() *loopBatch {
	return &loopBatch{buf: make([]byte, 0, 64<<10), done: make(chan struct{})}
}

// LoopConfig configures OpenLoop. The zero value is usable.
type LoopConfig struct {
	// SyncInterval, if positive, is interval durability: Append returns
	// once its batch is written and a goroutine fdatasyncs this often.
	// If zero, every batch is fdatasynced before its appenders return
	// (always).
	SyncInterval time.Duration
	// FileBytes is the size of the zero-filled file written into. If
	// zero, defaults to 64 MiB (the journal's segment size order).
	FileBytes int64
}

// OpenLoop creates (truncating) the loop's file at path, zero-fills and
// syncs it, and starts the flusher.
func OpenLoop(path string, cfg LoopConfig) (*Loop, error) {
	if cfg.FileBytes <= 0 {
		cfg.FileBytes = 64 << 20
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, 1<<20)
	for off := int64(0); off < cfg.FileBytes && err == nil; off += int64(len(zero)) {
		_, err = f.WriteAt(zero[:min(int64(len(zero)), cfg.FileBytes-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &Loop{f: f, size: cfg.FileBytes, interval: cfg.SyncInterval, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	l.mu.cur = newLoopBatch()
	l.done.Go(l.flusher)
	if l.interval > 0 {
		l.done.Go(l.syncer)
	}
	return l, nil
}

// Append adds rec to the open batch and returns once that batch is
// written and (always) synced.
func (l *Loop) Append(rec []byte) error {
	l.mu.Lock()
	b := l.mu.cur
	if b == nil {
		l.mu.Unlock()
		return os.ErrClosed
	}
	b.buf = append(b.buf, rec...)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	<-b.done
	if e, ok := l.err.Load().(error); ok {
		return e
	}
	return nil
}

func (l *Loop) flusher() {
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			l.mu.Lock()
			b := l.mu.cur
			l.mu.cur = nil
			l.mu.Unlock()
			l.commit(b)
			return
		}
		l.mu.Lock()
		b := l.mu.cur
		l.mu.cur = newLoopBatch()
		l.mu.Unlock()
		l.commit(b)
	}
}

func (l *Loop) commit(b *loopBatch) {
	if len(b.buf) > 0 && l.err.Load() == nil {
		if l.off+int64(len(b.buf)) > l.size {
			l.off = 0
		}
		_, err := l.f.WriteAt(b.buf, l.off)
		l.off += int64(len(b.buf))
		if err != nil {
			l.err.CompareAndSwap(nil, err)
		} else if l.interval == 0 {
			if err := fdatasync(l.f); err != nil {
				l.err.CompareAndSwap(nil, err)
			}
		}
	}
	close(b.done)
}

func (l *Loop) syncer() {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := fdatasync(l.f); err != nil {
				l.err.CompareAndSwap(nil, err)
			}
		case <-l.stop:
			return
		}
	}
}

// Close commits what is queued, stops the goroutines, syncs and closes
// the file (which stays: the caller removes it).
func (l *Loop) Close() error {
	close(l.stop)
	l.done.Wait()
	err := fdatasync(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if e, ok := l.err.Load().(error); ok {
		return e
	}
	return err
}

// JournalStore is the journal as RunDurable drives it: one record per
// writer, shaped like a noop execution's and encoding to about
// RecordBytes (the size journal's own benchmarks use), appended with
// Append.
type JournalStore struct {
	J    *journal.Journal
	recs []*journal.Record
}

// NewJournalStore wraps j for writers goroutines.
func NewJournalStore(j *journal.Journal, writers int) *JournalStore {
	s := &JournalStore{J: j, recs: make([]*journal.Record, writers)}
	for w := range s.recs {
		id := fmt.Sprintf("exec-%04d-000000", w)
		sum := sha256.Sum256([]byte(id))
		args := []byte(`{"argv":["ls"],"pad":"` + hex.EncodeToString(sum[:])[:45] + `"}`)
		s.recs[w] = &journal.Record{
			Kind: journal.KindExecution, ExecutionID: id, Principal: "agent-7", Capability: "shell",
			Decision: "AUTHORIZED", Rule: "allow-shell", State: "COMPLETED", Status: "success",
			Args: args, ArgsDigest: sha256.Sum256(args), Result: []byte(`{"status":0}`),
			Timings: journal.Timings{ValidateNs: 812, AuthorizeNs: 95, ExecuteNs: 1430, TotalNs: 2500},
		}
	}
	return s
}

// Append is an AppendFunc: writer w's record, durable on return.
func (s *JournalStore) Append(w int, _ int64, _ []byte) error {
	_, err := s.J.Append(s.recs[w])
	return err
}
