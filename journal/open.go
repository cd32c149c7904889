package journal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Open, recovery hand-off and the writer's first position.

// Open opens (creating if needed) the journal in cfg.Dir, runs recovery and
// starts the flusher. Damage before the tail returns an error wrapping
// ErrCorrupt (a *BlockError naming the segment, offset and block); a torn
// tail is truncated, copied aside and reported in Recovery.
func Open(cfg Config) (*Journal, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	codec, _ := cfg.Codec.id()
	if err, ok := failedDirs.Load(failedKey(&cfg)); ok {
		return nil, fmt.Errorf("journal: open %s: a write or sync of this journal failed earlier in this process, so "+
			"its files may hold pages the kernel dropped or never wrote; restart the process to reopen it: %w", cfg.Dir, err.(error))
	}
	if err := cfg.fs.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// One writer (see lock.go): the directory's lock is taken before
	// anything in it is read or written, and held until Close. (The
	// in-memory file system of the tests has no other process to exclude.)
	var lock *DirLock
	if _, ok := cfg.fs.(osFS); ok {
		l, err := LockDir(cfg.Dir, strings.Join(os.Args, " "))
		if err != nil {
			return nil, fmt.Errorf("journal: open %s: %w", cfg.Dir, err)
		}
		lock = l
	}
	j, err := openLocked(cfg, codec)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	j.lock = lock
	return j, nil
}

// openLocked is Open once the directory's lock is held.
func openLocked(cfg Config, codec uint8) (*Journal, error) {
	_ = cfg.fs.Remove(filepath.Join(cfg.Dir, checkpointTmp))
	_ = cfg.fs.Remove(filepath.Join(cfg.Dir, quickSegName))
	_ = cfg.fs.Remove(filepath.Join(cfg.Dir, manifestTmp))
	res, tracker, rep, err := recoverDir(&cfg)
	if err != nil {
		var be *BlockError
		if errors.As(err, &be) {
			return nil, err
		}
		return nil, fmt.Errorf("journal: open %s: %w", cfg.Dir, err)
	}
	j := &Journal{
		cfg:      cfg,
		codec:    codec,
		opened:   time.Now(),
		kick:     make(chan struct{}, 1),
		stopc:    make(chan struct{}),
		donec:    make(chan struct{}),
		recovery: rep,
		intents:  tracker,
		hasher:   sha256.New(),
		prep:     make(chan prepared, 1),
		prepStop: make(chan struct{}),
		syncStop: make(chan struct{}),
		syncDone: make(chan struct{}),
	}
	if cfg.Retention.enabled() {
		j.retainReq = make(chan chan retentionFloor)
	}
	j.mu.cur = newBatch()
	j.mu.room.L = &j.mu.Mutex
	j.index.seed = maphash.MakeSeed()
	if j.comp, err = newCompressor(codec); err != nil {
		return nil, err
	}
	if err := j.openTail(&res); err != nil {
		j.comp.close()
		return nil, fmt.Errorf("journal: open %s: %w", cfg.Dir, err)
	}
	if j.recovery.HeadHash == "" || len(res.segs) == 0 {
		j.recovery.HeadHash = fmt.Sprintf("%x", j.head)
		j.recovery.Genesis = fmt.Sprintf("%x", j.genesis)
		j.recovery.Segments = 1
	}
	j.publish()
	j.adoptPrepared()
	if j.off > j.segCap/2 || j.segCap < j.cfg.SegmentSize {
		j.startPrepare()
	}
	cfg.Logger.Info("journal: open", "dir", cfg.Dir, "records", rep.Records, "head_seq", rep.HeadSeq,
		"from_checkpoint", rep.FromCheckpoint, "verified_blocks", rep.VerifiedBlocks,
		"interrupted", len(rep.Interrupted), "duration", rep.Duration)
	go j.flusher()
	if cfg.Durability == DurabilityInterval {
		go j.syncer()
	} else {
		close(j.syncDone)
	}
	if err := j.recordInterrupted(); err != nil {
		j.Close()
		return nil, fmt.Errorf("journal: open %s: recording interrupted executions: %w", cfg.Dir, err)
	}
	if cfg.Retention.enabled() {
		j.retainStop, j.retainDone = make(chan struct{}), make(chan struct{})
		j.startRetainer()
	}
	return j, nil
}

// recordInterrupted journals one KindInterrupted record for each intent
// recovery found without an outcome, durably, so the next Open does not
// report it again.
func (j *Journal) recordInterrupted() error {
	in := j.recovery.Interrupted
	if len(in) == 0 {
		return nil
	}
	recs := make([]*Record, len(in))
	for i := range in {
		recs[i] = &Record{Kind: KindInterrupted, ExecutionID: in[i].ExecutionID, Principal: "journal",
			State: "INTERRUPTED", Status: "error",
			Error: fmt.Appendf(nil, `{"category":"MEMORY_ERROR","reason":"interrupted","message":"the intent (seq %d) was journaled but the runtime stopped before its outcome; the execution will not be re-run","intent_seq":%d}`, in[i].Seq, in[i].Seq)}
	}
	b, err := j.enqueueBatch(recs)
	if err != nil {
		return err
	}
	<-b.done
	if b.err != nil {
		return b.err
	}
	if err := j.Sync(); err != nil {
		return err
	}
	for i := range in {
		in[i].RecordSeq = b.firstSeq + uint64(i)
	}
	j.cfg.Logger.Info("journal: recorded interrupted executions", "count", len(in), "first_seq", b.firstSeq)
	return nil
}

// enqueueBatch queues recs as one batch, past the queue bound (Open's own
// records).
func (j *Journal) enqueueBatch(recs []*Record) (*batch, error) {
	j.mu.Lock()
	if err := j.Err(); err != nil {
		j.mu.Unlock()
		return nil, err
	}
	b := j.mu.cur
	b.recs = append(b.recs, recs...)
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return b, nil
}

// failedDirs holds, for the life of the process, the journals whose write
// or sync failed (key: failedKey): Open refuses them. After a failed
// fdatasync the page cache may still hold the failed pages, marked clean:
// a journal reopened in the same process would read them back as
// committed. A new process recovers them properly (see
// RecoveryReport.UnconfirmedFromSeq).
var failedDirs sync.Map

type failedDirKey struct {
	fs  fileSystem
	dir string
}

func failedKey(cfg *Config) failedDirKey {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		dir = filepath.Clean(cfg.Dir)
	}
	return failedDirKey{fs: cfg.fs, dir: dir}
}

// openTail positions the writer at the end of the recovered journal,
// creating segment 0 for a new journal.
func (j *Journal) openTail(res *walkResult) error {
	j.ckptSeg = ^uint64(0)
	j.keptSeq.Store(1)
	if len(res.segs) == 0 {
		g, err := newGenesis(&j.cfg)
		if err != nil {
			return err
		}
		j.genesis, j.head, j.firstSeq, j.nextSeq = g, g, 1, 1
		return j.createSegment(0, nil)
	}
	if res.checkpoint != nil {
		j.ckptSeg = res.checkpoint.seg
	}
	if m := res.manifest; m != nil {
		j.base.Store(m.first)
		j.keptSeq.Store(m.firstSeq)
		j.ret.m = m
	}
	last := res.segs[len(res.segs)-1]
	j.genesis, j.head, j.firstSeq, j.nextSeq = res.genesis, res.head, res.firstSeq, res.nextSeq
	j.lastTime, j.blocks, j.records = res.lastTime, res.blocks, res.records
	f, err := j.cfg.fs.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	j.f = f
	j.segIdx = last.index
	j.off = res.tailOff
	j.segCap = last.size
	if j.segCap < minSegmentSize { // truncated by hand: let it grow
		j.segCap = j.cfg.SegmentSize
	}
	j.lastBlockOff = res.lastBlockOff
	j.blockIndex = res.blockIndex
	// Recovery synced everything up to the tail.
	j.writtenOff.Store(j.off)
	j.syncedOff.Store(j.off)
	if j.nextSeq > 0 {
		j.writtenSeq.Store(j.nextSeq - 1)
		j.syncedSeq.Store(j.nextSeq - 1)
	}
	return nil
}
