package journal

import (
	"encoding/binary"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Journal is an open journal directory. It is safe for concurrent use by
// many goroutines. The goroutine that calls Open must arrange for Close to
// be called; Close flushes and syncs everything queued.
//
// Concurrency design (group commit):
//
//  1. Writers (Append, AppendAsync) take mu, append the record pointer to the
//     open batch mu.cur, release mu and kick the flusher through a
//     capacity-1 channel (a kick that finds the channel full is dropped: the
//     flusher is already due to look). The critical section is a slice
//     append; nothing under mu does I/O or allocates per record beyond the
//     slice growth.
//  2. One flusher goroutine owns the segment file and every field in the
//     "flusher-owned" group below. Woken, it swaps mu.cur for an empty batch
//     (taking everything queued), encodes it into one block per
//     MaxBatchRecords/MaxBatchBytes, compresses, chains, writes, and in
//     DurabilityAlways mode fdatasyncs once for the whole batch. Then it
//     writes Seq and TimeUnixNs into every record, closes the batch's done
//     channel (every Append waiting on that batch wakes at once; each knows
//     its index, so its seq is batch.firstSeq+index) and calls the
//     AppendAsync callbacks in order.
//  3. While the flusher writes and syncs batch N, batch N+1 fills: the
//     batch size adapts to the fsync latency with no timer.
//  4. Sequence numbers are assigned in batch order by the single flusher,
//     so file order = seq order = commit order.
//  5. The first write or sync error is sticky (err): the batch that hit it,
//     every batch queued behind it and every later Append and Sync fail
//     with it; nothing is retried (a failed fdatasync may have dropped
//     dirty pages, so retrying could report durability that does not
//     exist). A failed sync sets it in syncLocked, before fileMu is
//     released, and syncLocked refuses to sync once it is set: no Sync can
//     succeed after a failed one. Open refuses the directory for the rest
//     of the process (failedDirs).
//     Every block records syncedOff, how far its segment was known
//     durable when it was written (recovery's torn-versus-corrupt rule).
//     The flusher stores writtenOff then writtenSeq after each write; a
//     sync loads them in the other order before fdatasync and publishes
//     them as syncedOff/syncedSeq after it succeeds, all under fileMu, so
//     syncedOff never passes what was written before the sync began.
//     At most MaxQueuedRecords records wait in mu.cur; Append waits on
//     mu.room (signalled when the flusher takes mu.cur, on a failure and
//     at Close), AppendAsync returns ErrOverloaded.
//  6. A helper goroutine preallocates the next segment (zero-filled and
//     synced) while the current one fills; the flusher only writes its
//     header, syncs it, renames it into place and syncs the directory.
//  7. In DurabilityInterval a syncer goroutine fdatasyncs every
//     SyncInterval, so neither writers nor the flusher wait for a sync.
//     fileMu serializes every fdatasync and every replacement of j.f: the
//     syncer holds it for its sync; the flusher for a roll, for the sync
//     before a due checkpoint, and at shutdown. The flusher's writes take no
//     lock (pwrite and fdatasync on one file may overlap).
//  8. Goroutine ownership: Open starts the flusher (and the syncer); Close
//     signals stopc and waits for donec; the flusher's shutdown stops the
//     syncer, syncs, checkpoints, and stops the preallocation goroutine.
//  9. Retention (retainer.go) has its own goroutine, started by Open when
//     enabled and stopped first by Close (retainStop, retainDone), before
//     the flusher. It never touches flusher-owned fields: it asks the
//     flusher (retainReq, answered between batches) for the active
//     segment, the checkpoint's segment and the oldest open intent, and
//     does its file work beside the flusher. The one shared resource is
//     the journal directory's sync: dirMu (lock order fileMu, then dirMu;
//     the retainer takes dirMu alone).
//
// Considered and not built: an atomic linked-list (Treiber) queue. It would
// need a reversal to restore arrival order, and the mutex section here is
// one slice append per record: in CPU profiles of the interval-mode
// benchmark (the case with the most flusher passes) lock2/unlock2 are ~5%
// of samples, against ~40% in write(2). A channel per record was rejected
// too: it costs a wake-up per writer instead of one per batch.
type Journal struct {
	lock   *DirLock // the directory's writer lock; nil on the tests' in-memory file system
	cfg    Config
	codec  byte
	opened time.Time // monotonic base for loss-window measurements

	mu struct {
		sync.Mutex
		cur     *batch
		closed  bool
		room    sync.Cond // signalled when the flusher takes mu.cur; L is &mu.Mutex
		waiting int       // Appends waiting in room for the queue to drain
	}
	kick  chan struct{}
	stopc chan struct{}
	donec chan struct{}

	err       atomic.Pointer[error] // sticky error, wraps ErrFailed
	visible   atomic.Pointer[position]
	closeOnce sync.Once

	recovery RecoveryReport
	stats    statCounters
	index    execIndex // for Get; has its own mutex

	// flusher-owned
	f            file
	segIdx       uint64
	off          int64
	segCap       int64 // size of the current segment file: roll beyond it
	lastBlockOff int64
	blockIndex   int64
	firstSeq     uint64
	nextSeq      uint64
	head         [hashSize]byte
	genesis      [hashSize]byte
	lastTime     int64
	blocks       int64
	records      int64
	intents      *intentTracker
	comp         *compressor
	hasher       hash.Hash
	raw, out     []byte
	recBuf       []byte

	// Sync state. fileMu is held by whoever fdatasyncs or replaces j.f
	// (the flusher at a roll, a due checkpoint and shutdown; the interval
	// syncer on its ticks); the flusher's own writes need no lock.
	fileMu        sync.Mutex
	written       atomic.Int64  // records written (flusher adds)
	writtenOff    atomic.Int64  // end of the written blocks in the current segment (flusher stores, then writtenSeq)
	writtenSeq    atomic.Uint64 // seq of the last record written
	syncedOff     atomic.Int64  // offset of the current segment known durable (under fileMu)
	syncedSeq     atomic.Uint64 // seq of the last record known durable (under fileMu)
	syncedRecs    atomic.Int64  // records known synced (under fileMu)
	unsyncedSince atomic.Int64  // ns since opened of the first write after the last sync start; 0: none
	syncStop      chan struct{} // interval mode: stops the syncer
	syncDone      chan struct{}
	sinceCkpt     int
	prep          chan prepared // result of the preallocation goroutine; cap 1
	prepStop      chan struct{} // closed by shutdown: abandon a zero fill
	prepWG        sync.WaitGroup
	prepPending   bool // a prepared segment is (or will be) in prep

	// Retention (retainer.go). base and keptSeq are where the journal
	// starts (the manifest's first segment and seq; 0 and 1 before any
	// retention): stored by the retainer, read by Get and Stats. dirMu is
	// held by every sync of the journal directory from the flusher and by
	// the retainer from an archive rename to the archive directory's sync,
	// so no sync of the journal directory makes a segment's removal from
	// it durable before its arrival in the archive is. ckptSeg is the
	// segment of the last checkpoint written (flusher-owned; ^0: none).
	base       atomic.Uint64
	keptSeq    atomic.Uint64
	dirMu      sync.Mutex
	ckptSeg    uint64
	retainReq  chan chan retentionFloor // the retainer's questions; nil when retention is off
	retainStop chan struct{}
	retainDone chan struct{}
	ret        struct {
		sync.Mutex                    // one pass at a time; guards the fields below
		m          *manifest          // the manifest as last written or read
		spans      map[uint64]segSpan // sealed segments' spans, read once each
		err        error              // sticky: retention failed (write side)
	}
}

// firstSegmentSize caps the first segment of a new journal, which Open
// creates synchronously.
const firstSegmentSize = 1 << 20

type prepared struct {
	f   file
	err error
}

// batch is the unit of group commit: every record queued between two
// flusher swaps.
type batch struct {
	recs     []*Record
	cbs      []asyncCall
	done     chan struct{}
	firstSeq uint64
	err      error
}

type asyncCall struct {
	idx int
	fn  func(uint64, error)
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// createSegment makes segment index the current one. f is a preallocated
// temp file, or nil to preallocate one now.
func (j *Journal) createSegment(index uint64, f file) error {
	if f == nil {
		var err error
		// The first segment of a new journal is small so that Open stays
		// fast, and zero-filled so that fdatasync stays cheap; the next one
		// (full size) is prepared in the background right away.
		if f, err = prepareSegment(j.cfg.fs, filepath.Join(j.cfg.Dir, preparedSegName), min(j.cfg.SegmentSize, firstSegmentSize), true, nil); err != nil {
			return err
		}
	}
	return j.installSegment(index, f, true)
}

// installSegment writes the segment header into f, syncs it and (when
// rename) renames the temp file into place and syncs the directory.
func (j *Journal) installSegment(index uint64, f file, rename bool) error {
	var hdr [segHeaderSize]byte
	(&segHeader{Index: index, FirstSeq: j.nextSeq, Prev: j.head}).encode(hdr[:])
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Close()
		return err
	}
	err := f.Datasync() // mutate:sync-segment-header
	if err != nil {
		f.Close()
		return err
	}
	if rename {
		nf, err := j.cfg.fs.RenameOpen(f, filepath.Join(j.cfg.Dir, segmentName(index)))
		if err != nil {
			f.Close()
			return err
		}
		f = nf
	}
	j.dirMu.Lock()
	err = j.cfg.fs.SyncDir(j.cfg.Dir) // mutate:syncdir-segment
	j.dirMu.Unlock()
	if err != nil {
		f.Close()
		return err
	}
	j.f = f
	j.segIdx = index
	j.off = segHeaderSize
	j.writtenOff.Store(segHeaderSize)
	j.syncedOff.Store(segHeaderSize) // the header was synced above
	j.segCap = j.cfg.SegmentSize
	if size, err := f.Size(); err == nil {
		j.segCap = size
	}
	j.lastBlockOff = 0
	j.blockIndex = 0
	j.stats.segments.Add(1)
	return nil
}

// adoptPrepared reuses a segment prepared before the last shutdown. Such a
// file holds nothing but zeros (and at most a segment header written just
// before a crash, which installSegment overwrites): blocks are only ever
// written after the rename.
func (j *Journal) adoptPrepared() {
	path := filepath.Join(j.cfg.Dir, preparedSegName)
	size, err := j.cfg.fs.Stat(path)
	if err != nil {
		return
	}
	if size == j.cfg.SegmentSize {
		if f, err := j.cfg.fs.OpenFile(path, os.O_RDWR, 0); err == nil {
			j.prep <- prepared{f: f}
			j.prepPending = true
			return
		}
	}
	_ = j.cfg.fs.Remove(path)
}

// startPrepare starts zero-filling the next segment in the background (once
// the current one is half full, or at a roll).
func (j *Journal) startPrepare() {
	if j.prepPending {
		return
	}
	j.prepPending = true
	j.prepWG.Add(1)
	go func() {
		defer j.prepWG.Done()
		f, err := prepareSegment(j.cfg.fs, filepath.Join(j.cfg.Dir, preparedSegName), j.cfg.SegmentSize, true, j.prepStop)
		j.prep <- prepared{f, err}
	}()
}

// Recovery returns what Open found and did.
func (j *Journal) Recovery() RecoveryReport { return j.recovery }

// Err returns the sticky error (wrapping ErrFailed) once a write or sync
// has failed, nil while the journal is healthy.
func (j *Journal) Err() error {
	if p := j.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Sync makes every record appended so far durable, now. It is for the few
// records a caller must have on stable storage before it acts — the
// pipeline's intent records for write-effect capabilities — when the
// journal runs in interval mode. In always mode every Append is durable
// when it returns, and Sync only reports the sticky error. After a failed
// write or sync, from any goroutine, Sync returns that error, always: the
// sticky error is set before the failed sync's lock is released, so no
// Sync can slip in between and succeed. Safe for concurrent use; after
// Close it returns ErrClosed (or the sticky error).
func (j *Journal) Sync() error {
	if !j.isOpen() {
		if err := j.Err(); err != nil {
			return err
		}
		return ErrClosed
	}
	if j.cfg.Durability == DurabilityAlways {
		return j.Err()
	}
	j.fileMu.Lock()
	err := j.syncLocked() // mutate:fdatasync-sync
	j.fileMu.Unlock()
	return err
}

// Ready reports whether the journal accepts writes: open and healthy.
func (j *Journal) Ready() bool {
	j.mu.Lock()
	closed := j.mu.closed
	j.mu.Unlock()
	return !closed && j.err.Load() == nil
}

// fail makes err the sticky error (if none is set yet) and returns the
// sticky error. Callers that synced hold fileMu, so the error is in place
// before anyone else can sync or return from a sync.
func (j *Journal) fail(err error) error {
	e := fmt.Errorf("%w: %w (records after seq %d are not known to be durable)", ErrFailed, err, j.syncedSeq.Load())
	if j.err.CompareAndSwap(nil, &e) {
		failedDirs.Store(failedKey(&j.cfg), e)
		j.cfg.Logger.Error("journal: failed; refusing further writes for the life of the process", "dir", j.cfg.Dir,
			"err", err, "synced_seq", j.syncedSeq.Load(), "written_seq", j.writtenSeq.Load())
		j.mu.Lock()
		j.mu.room.Broadcast()
		j.mu.Unlock()
		return e
	}
	return *j.err.Load()
}

// enqueue adds r to the open batch.
func (j *Journal) enqueue(r *Record, fn func(uint64, error)) (*batch, int, error) {
	if encodedRecordSize(r) > maxBlockBody-blockHeaderSize {
		return nil, 0, ErrTooLarge
	}
	j.mu.Lock()
	for {
		if j.mu.closed {
			j.mu.Unlock()
			return nil, 0, ErrClosed
		}
		err := j.Err() // mutate:sticky-enqueue
		if err != nil {
			j.mu.Unlock()
			return nil, 0, err
		}
		if len(j.mu.cur.recs) < j.cfg.MaxQueuedRecords {
			break
		}
		if fn != nil { // AppendAsync never waits
			j.mu.Unlock()
			return nil, 0, ErrOverloaded
		}
		j.mu.waiting++
		j.mu.room.Wait()
		j.mu.waiting--
	}
	b := j.mu.cur
	idx := len(b.recs)
	b.recs = append(b.recs, r)
	if fn != nil {
		b.cbs = append(b.cbs, asyncCall{idx: idx, fn: fn})
	}
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return b, idx, nil
}

// Append commits r and returns its sequence number once the record is
// durable (DurabilityAlways: written and fdatasync'ed; DurabilityInterval:
// written). When Config.MaxQueuedRecords records are queued already, it
// waits for the flusher to take them (backpressure). It also stores the seq and commit time in r.Seq and
// r.TimeUnixNs. Safe for concurrent use; r must not be modified until
// Append returns. Errors: ErrClosed, ErrTooLarge, or the sticky error
// wrapping ErrFailed.
func (j *Journal) Append(r *Record) (uint64, error) {
	b, idx, err := j.enqueue(r, nil)
	if err != nil {
		return 0, err
	}
	<-b.done
	if b.err != nil {
		return 0, b.err
	}
	return b.firstSeq + uint64(idx), nil
}

// AppendAsync queues r and returns at once; done is called exactly once,
// with the same meaning as Append's results, from the flusher goroutine
// (or, when the record is refused before queueing, from the caller's
// goroutine before AppendAsync returns: ErrClosed, ErrTooLarge, the sticky
// error, or ErrOverloaded when Config.MaxQueuedRecords records are already
// queued). done must not block: it delays every later commit. r must not
// be modified until done is called.
func (j *Journal) AppendAsync(r *Record, done func(seq uint64, err error)) {
	if done == nil {
		done = func(uint64, error) {}
	}
	if _, _, err := j.enqueue(r, done); err != nil {
		done(0, err)
	}
}

// Close stops accepting records, commits and syncs everything queued,
// writes a checkpoint, stops the goroutines and closes the files. It
// returns nil, or the error that kept data from being made durable. Every
// later call (including one concurrent with the first, which waits for it)
// does nothing and returns ErrClosed.
func (j *Journal) Close() error {
	err := ErrClosed
	j.closeOnce.Do(func() {
		j.mu.Lock()
		j.mu.closed = true
		j.mu.room.Broadcast()
		j.mu.Unlock()
		j.stopRetainer() // before the flusher, which answers its questions
		close(j.stopc)
		<-j.donec
		err = j.Err()
		if uerr := j.lock.Unlock(); err == nil && uerr != nil {
			err = uerr
		}
	})
	return err
}

// flusher is the single goroutine that writes. See the Journal comment.
func (j *Journal) flusher() {
	defer close(j.donec)
	for {
		select {
		case <-j.kick:
			j.flushOnce()
		case req := <-j.retainReq:
			req <- j.retentionFloor()
		case <-j.stopc:
			j.flushOnce() // mu.closed is set: this is the last batch
			j.shutdown()
			return
		}
	}
}

// flushOnce takes everything queued and commits it.
func (j *Journal) flushOnce() {
	// Yield once before taking the batch: writers that are runnable get to
	// queue, so a block carries more records for the same write(2). Costs
	// ~100 ns when nobody else is runnable; in interval mode (no fdatasync
	// to batch behind) it cut the writes per record severalfold.
	runtime.Gosched()
	j.mu.Lock()
	b := j.mu.cur
	if len(b.recs) == 0 {
		j.mu.Unlock()
		return
	}
	j.mu.cur = newBatch()
	if j.mu.waiting > 0 {
		j.mu.room.Broadcast()
	}
	j.mu.Unlock()
	j.commit(b)
}

// commit writes a batch as one or more blocks, syncs (always mode) and
// releases its waiters.
func (j *Journal) commit(b *batch) {
	err := j.Err() // mutate:sticky-commit
	if err == nil {
		b.firstSeq = j.nextSeq
		err = j.writeBatch(b)
		if err == nil && j.cfg.Durability == DurabilityAlways {
			err = j.syncNow() // mutate:fdatasync-batch
		} else if err == nil && j.cfg.CheckpointEvery > 0 && j.sinceCkpt >= j.cfg.CheckpointEvery {
			// Interval mode syncs here only when a checkpoint is due (a
			// checkpoint may only cover synced data); the syncer does the rest.
			err = j.syncNow()
		}
		if err != nil {
			err = j.fail(err)
		}
	}
	b.err = err
	if err != nil {
		b.firstSeq = 0
	}
	close(b.done)
	for _, c := range b.cbs {
		if err != nil {
			c.fn(0, err)
		} else {
			c.fn(b.firstSeq+uint64(c.idx), nil)
		}
	}
}

// writeBatch encodes and writes the batch's records.
func (j *Journal) writeBatch(b *batch) error {
	now := j.cfg.Now().UnixNano()
	if now < j.lastTime {
		now = j.lastTime
		j.stats.clampedTimes.Add(1)
	}
	start := 0
	for start < len(b.recs) {
		j.raw = j.raw[:0]
		n := 0
		for i := start; i < len(b.recs) && n < j.cfg.MaxBatchRecords; i++ {
			r := b.recs[i]
			if n > 0 && len(j.raw)+encodedRecordSize(r) > j.cfg.MaxBatchBytes {
				break
			}
			j.recBuf = appendRecord(j.recBuf[:0], r)
			j.raw = binary.AppendUvarint(j.raw, uint64(len(j.recBuf)))
			j.raw = append(j.raw, j.recBuf...)
			seq := j.nextSeq + uint64(n)
			r.Seq = seq
			r.TimeUnixNs = now
			if r.ExecutionID != "" {
				j.intents.observe(r.Kind, []byte(r.ExecutionID), seq)
			}
			n++
		}
		if err := j.writeBlock(b.recs[start:start+n], now); err != nil {
			return err
		}
		start += n
	}
	j.stats.lastBatch.Store(int64(len(b.recs)))
	j.stats.appends.Add(int64(len(b.recs)))
	j.stats.batches.Add(1)
	j.written.Add(int64(len(b.recs)))
	j.unsyncedSince.CompareAndSwap(0, int64(time.Since(j.opened)))
	if j.cfg.Durability == DurabilityInterval {
		j.publish()
	}
	return nil
}

// publish makes what the flusher has committed visible to readers and to
// Head (flusher only).
func (j *Journal) publish() {
	j.visible.Store(&position{seg: j.segIdx, off: j.off, head: j.head, headSeq: j.nextSeq - 1})
}

// Head returns the seq of the last committed record (durable in always
// mode, written in interval mode; 0 for an empty journal) and the chain
// hash after its block (the genesis value when empty), in hex: the values
// to record outside the journal and check later with
// `femtoclaw journal verify --expect-head`. Safe for concurrent use.
func (j *Journal) Head() (seq uint64, hash string) {
	p := j.visible.Load()
	return p.headSeq, fmt.Sprintf("%x", p.head)
}

// HeadSegment returns the file name of the segment Head is in (the one
// being written: 00000000000000000003.seg). Safe for concurrent use.
func (j *Journal) HeadSegment() string { return segmentName(j.visible.Load().seg) }

// writeBlock compresses j.raw into one block and writes it.
func (j *Journal) writeBlock(recs []*Record, now int64) error {
	codec := j.codec
	out := j.comp.compress(growTo(j.out[:0], blockHeaderSize)[:blockHeaderSize], j.raw)
	body := len(out) - blockHeaderSize
	if codec != codecNone && (body >= len(j.raw) || uint64(len(j.raw)) > maxRatio*uint64(body)+maxRatioSlack) {
		codec = codecNone
		out = append(out[:blockHeaderSize], j.raw...)
		body = len(j.raw)
	}
	j.out = out
	if j.off > segHeaderSize && j.off+int64(len(out)) > j.segCap {
		if err := j.roll(); err != nil {
			return err
		}
	}
	h := blockHeader{Codec: codec, FirstSeq: j.nextSeq, TimeNs: now, Count: uint32(len(recs)),
		BodyLen: uint32(body), RawLen: uint32(len(j.raw)), Prev: j.head, Synced: min(j.syncedOff.Load(), j.off)}
	h.encode(out)
	sealBlock(out)
	if _, err := j.f.WriteAt(out, j.off); err != nil {
		return err
	}
	j.hasher.Reset()
	j.hasher.Write(j.head[:])
	j.hasher.Write(out)
	j.hasher.Sum(j.head[:0])
	j.lastBlockOff = j.off
	j.off += int64(len(out))
	j.blockIndex++
	j.nextSeq += uint64(len(recs))
	j.writtenOff.Store(j.off) // before writtenSeq: see syncLocked
	j.writtenSeq.Store(j.nextSeq - 1)
	j.lastTime = now
	j.blocks++
	j.records += int64(len(recs))
	j.sinceCkpt++
	if !j.prepPending && j.off > j.segCap/2 {
		j.startPrepare()
	}
	j.stats.blocks.Add(1)
	j.stats.bytesWritten.Add(int64(len(out)))
	j.stats.bytesRaw.Add(int64(len(j.raw)))
	return nil
}

// roll finishes the current segment and installs the preallocated next one.
func (j *Journal) roll() error {
	j.fileMu.Lock()
	defer j.fileMu.Unlock()
	err := j.syncLocked() // mutate:fdatasync-roll
	if err != nil {
		return err
	}
	if err := j.f.Close(); err != nil {
		return err
	}
	j.startPrepare() // no-op when already started
	var p prepared
	select {
	case p = <-j.prep:
		j.prepPending = false
	default:
		// The zero fill is still running: do not stall commits behind it.
		// Fallocate this segment now (metadata only, fast) and leave the
		// zero-filled one for the next roll.
		p.f, p.err = prepareSegment(j.cfg.fs, filepath.Join(j.cfg.Dir, quickSegName), j.cfg.SegmentSize, false, nil)
		j.stats.quickSegments.Add(1)
	}
	if p.err != nil {
		return p.err
	}
	if err := j.installSegment(j.segIdx+1, p.f, true); err != nil {
		return err
	}
	j.startPrepare()
	return nil
}

// syncLocked fdatasyncs the current segment; fileMu must be held. In
// interval mode it also measures the loss window: how long acknowledged
// records stayed unsynced, and how many.
//
// Once a sync has failed it syncs nothing and returns the sticky error: a
// second fdatasync could succeed (the kernel reports a writeback error
// once) without the lost pages being on disk. A failure becomes the sticky
// error here, before fileMu is released.
func (j *Journal) syncLocked() error {
	err := j.Err() // mutate:sticky-sync
	if err != nil {
		return err
	}
	w := j.written.Load()
	seq := j.writtenSeq.Load() // before writtenOff: the flusher stores them in the other order
	off := j.writtenOff.Load()
	since := j.unsyncedSince.Swap(0)
	t := time.Now()
	err = j.f.Datasync() // mutate:fdatasync-core
	d := time.Since(t)
	j.stats.observeSync(d)
	if d > j.cfg.SlowSync {
		j.cfg.Logger.Warn("journal: slow fdatasync", "duration", d, "segment", segmentName(j.segIdx))
	}
	if err != nil {
		return j.fail(err)
	}
	j.syncedOff.Store(off)
	j.syncedSeq.Store(seq)
	if since != 0 && j.cfg.Durability == DurabilityInterval {
		j.stats.observeUnsynced(int64(time.Since(j.opened))-since, w-j.syncedRecs.Load())
	}
	j.syncedRecs.Store(w)
	return nil
}

// syncer is the interval-mode goroutine that fdatasyncs every
// SyncInterval, so writers never wait for a sync.
func (j *Journal) syncer() {
	defer close(j.syncDone)
	t := time.NewTicker(j.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if j.written.Load() == j.syncedRecs.Load() || j.Err() != nil {
				continue
			}
			j.fileMu.Lock()
			_ = j.syncLocked() // mutate:fdatasync-syncer
			j.fileMu.Unlock()
		case <-j.syncStop:
			return
		}
	}
}

// syncNow fdatasyncs the current segment (on the flusher), then publishes
// the new durable end and writes a checkpoint when one is due.
func (j *Journal) syncNow() error {
	j.fileMu.Lock()
	err := j.syncLocked()
	j.fileMu.Unlock()
	if err != nil {
		return err
	}
	j.publish()
	if j.cfg.CheckpointEvery > 0 && j.sinceCkpt >= j.cfg.CheckpointEvery {
		j.writeCheckpoint(false)
	}
	return nil
}

// writeCheckpoint records the synced state. A checkpoint is a promise
// (Open refuses a journal whose data ends before the checkpoint's
// position) and a shortcut (Open verifies from it); writing one is not:
// a failure is logged, not sticky. Periodic checkpoints are not synced (a
// power loss may take the newest, or leave it unreadable, which costs the
// next Open a longer verification); Close's is (durable), so that after a
// clean Close the checkpoint vouches for everything.
func (j *Journal) writeCheckpoint(durable bool) {
	j.sinceCkpt = 0
	if j.blocks == 0 || j.lastBlockOff == 0 {
		return
	}
	cp := checkpoint{seg: j.segIdx, off: j.off, blockIndex: j.blockIndex, lastBlockOff: j.lastBlockOff,
		firstSeq: j.firstSeq, nextSeq: j.nextSeq, lastTime: j.lastTime, blocks: j.blocks, records: j.records,
		genesis: j.genesis, head: j.head, intents: j.intents.list()}
	tmp := filepath.Join(j.cfg.Dir, checkpointTmp)
	f, err := j.cfg.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = f.Write(cp.encode())
		if err == nil && durable {
			err = f.Sync() // mutate:sync-checkpoint-close
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = j.cfg.fs.Rename(tmp, filepath.Join(j.cfg.Dir, checkpointName))
	}
	if err != nil {
		j.cfg.Logger.Warn("journal: checkpoint failed", "err", err)
		return
	}
	j.ckptSeg = cp.seg
	j.stats.checkpoints.Add(1)
}

// shutdown runs on the flusher goroutine after the last batch.
func (j *Journal) shutdown() {
	if j.cfg.Durability == DurabilityInterval {
		close(j.syncStop)
	}
	<-j.syncDone
	if j.Err() == nil {
		if err := j.syncNow(); err == nil {
			j.writeCheckpoint(true)
			j.dirMu.Lock()
			_ = j.cfg.fs.SyncDir(j.cfg.Dir) // mutate:syncdir-close
			j.dirMu.Unlock()
		}
	}
	if err := j.f.Close(); err != nil && j.Err() == nil {
		j.fail(err)
	}
	j.comp.close()
	// A finished preparation is kept for the next Open; one in progress is
	// abandoned (and removed) rather than delaying Close.
	close(j.prepStop)
	j.prepWG.Wait()
	if j.prepPending {
		if p := <-j.prep; p.f != nil {
			p.f.Close()
		}
	}
}
