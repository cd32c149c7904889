package pipeline

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Idempotent retries (see doc.go, "Idempotency keys"). The key index maps
// (principal, key) to the execution that first used the key:
//
//	keyID  = SHA-256(principal ‖ 0 ‖ key)[:16]
//	callID = SHA-256(capability ‖ 0 ‖ args digest)[:16]   (the journal's Capability and ArgsDigest)
//
// An entry is pending while its execution runs (later arrivals wait on
// done) and complete once answered. A complete entry keeps the answer
// itself while the answer budget allows; otherwise the answer is read back
// from the journal by execution id. Entries leave in arrival order: when
// older than Retention, or when more than MaxKeys are held.
//
// All of it is guarded by one mutex: only keyed requests touch it, and
// each holds it for a map operation.

// IdempotencyConfig bounds the key index. The zero value is usable.
type IdempotencyConfig struct {
	// Retention is how long a key is remembered after its first use. If
	// zero, defaults to 24h.
	Retention time.Duration
	// MaxKeys bounds the keys remembered; past it the oldest are
	// forgotten first. Each costs about 200 bytes plus its answer while
	// the answer is kept (see AnswerBytes). If zero, defaults to 1<<20
	// (about 200 MiB at the bound).
	MaxKeys int
	// AnswerBytes bounds the memory of answers kept for replay; a replay
	// whose answer was not kept reads it from the journal. If zero,
	// defaults to 64 MiB; negative keeps none (every replay reads the
	// journal). Without a journal, answers are always kept.
	AnswerBytes int64
	// Disabled turns replay off: keys are journaled, never replayed.
	Disabled bool
	// SnapshotFile, if set, is where the index is saved (every
	// SnapshotEvery and at shutdown) so that a restart reads only the
	// journal records after the snapshot instead of the whole retention
	// window (see idemsnap.go). If empty, the rebuild reads the window.
	SnapshotFile string
	// SnapshotEvery is how often the snapshot is rewritten. If zero,
	// defaults to 1 minute: after a crash the rebuild reads about that
	// much traffic from the journal.
	SnapshotEvery time.Duration
}

func (c IdempotencyConfig) withDefaults() IdempotencyConfig {
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 1 << 20
	}
	if c.AnswerBytes == 0 {
		c.AnswerBytes = 64 << 20
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = time.Minute
	}
	return c
}

// JournalReader is what the key index needs to rebuild itself and to
// read back answers it did not keep; *journal.Journal implements it. A
// Config.Journal that does not implement it gets an index that starts
// empty and keeps every answer.
type JournalReader interface {
	Scan(q journal.Query, fn func(*journal.Record) bool) error
	Get(executionID string) ([]journal.Record, error)
}

type keyID [16]byte
type callID [16]byte

func newKeyID(principal, key string) keyID {
	h := sha256.New()
	h.Write([]byte(principal))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var id keyID
	copy(id[:], h.Sum(nil))
	return id
}

func newCallID(capability string, argsDigest [32]byte) callID {
	h := sha256.New()
	h.Write([]byte(capability))
	h.Write([]byte{0})
	h.Write(argsDigest[:])
	var id callID
	copy(id[:], h.Sum(nil))
	return id
}

// keyEntry is one remembered key.
type keyEntry struct {
	id       keyID
	call     callID
	at       int64 // wall ns of first use
	execID   string
	done     chan struct{}    // closed when complete; nil for entries rebuilt from the journal
	waiters  []func()         // Submit callers waiting for completion
	ans      *protocol.Answer // the answer, while kept; nil: read the journal
	ansBytes int64
}

func (e *keyEntry) complete() bool {
	if e.done == nil {
		return true
	}
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

type keyIndex struct {
	cfg     IdempotencyConfig
	jr      JournalReader // nil: answers are always kept
	now     func() time.Time
	loaded  chan struct{} // closed when the rebuild is over
	loadErr error         // set before loaded closes
	snapErr error         // the snapshot could not be used (set before loaded closes)
	stop    atomic.Bool   // ends the rebuild early (shutdown)
	whole   bool          // set before loaded closes: the rebuild read the whole window
	scanned int           // journal records the rebuild read (set before loaded closes)

	genesis    [32]byte // the journal's identity, for snapshots
	hasGenesis bool

	mu       sync.Mutex
	keys     map[keyID]*keyEntry
	order    []keyID // arrival order (a queue: head at order[head])
	head     int
	ansBytes int64
	onLoad   []func() // Submit callers waiting for the rebuild
}

func newKeyIndex(cfg IdempotencyConfig, jr JournalReader, now func() time.Time) *keyIndex {
	return &keyIndex{cfg: cfg.withDefaults(), jr: jr, now: now, loaded: make(chan struct{}), keys: map[keyID]*keyEntry{}}
}

// size is the number of keys remembered.
func (ix *keyIndex) size() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.keys)
}

// isLoaded reports whether the rebuild is over.
func (ix *keyIndex) isLoaded() bool {
	select {
	case <-ix.loaded:
		return true
	default:
		return false
	}
}

// rebuild fills the index from the journal's records within the
// retention window, then opens it. It runs on its own goroutine, owned by
// the Runtime (Shutdown waits for it).
func (ix *keyIndex) rebuild() {
	defer func() {
		ix.mu.Lock()
		close(ix.loaded)
		waiters := ix.onLoad
		ix.onLoad = nil
		ix.mu.Unlock()
		for _, f := range waiters {
			f()
		}
	}()
	if ix.jr == nil {
		ix.whole = true
		return
	}
	from := ix.now().Add(-ix.cfg.Retention)
	q := journal.Query{From: from}
	if ix.cfg.SnapshotFile != "" && ix.hasGenesis {
		covered, err := ix.readSnapshot(ix.cfg.SnapshotFile, ix.genesis, from.UnixNano())
		if err != nil {
			ix.snapErr = err // the whole window is read instead
		} else if covered > 0 {
			q.FromSeq = covered + 1
		}
	}
	err := ix.jr.Scan(q, func(r *journal.Record) bool {
		if ix.stop.Load() {
			return false
		}
		ix.scanned++
		if r.IdempotencyKey == "" || r.Kind == journal.KindReplay || r.Kind == journal.KindSystem {
			return true
		}
		// The first record of a key names its execution (an intent, for a
		// write-effect call); which answer to replay is read back from the
		// journal by that execution id when a retry comes.
		id := newKeyID(r.Principal, r.IdempotencyKey)
		ix.mu.Lock()
		if ix.keys[id] == nil {
			ix.insertLocked(id, &keyEntry{id: id, call: newCallID(r.Capability, r.ArgsDigest), at: r.TimeUnixNs, execID: r.ExecutionID})
		}
		ix.mu.Unlock()
		return true
	})
	switch {
	case err != nil:
		ix.loadErr = err
	case !ix.stop.Load():
		ix.whole = true
	}
}

// insertLocked adds e under id and forgets what is past the bounds.
func (ix *keyIndex) insertLocked(id keyID, e *keyEntry) {
	ix.keys[id] = e
	ix.order = append(ix.order, id)
	ix.expireLocked()
}

// expireLocked forgets complete entries older than the retention window
// and the oldest complete entries past MaxKeys. A pending entry stops the
// sweep: it is forgotten after it completes.
func (ix *keyIndex) expireLocked() {
	cutoff := ix.now().Add(-ix.cfg.Retention).UnixNano()
	for ix.head < len(ix.order) {
		id := ix.order[ix.head]
		e := ix.keys[id]
		if e != nil && e.at >= cutoff && len(ix.keys) <= ix.cfg.MaxKeys {
			break
		}
		if e != nil && !e.complete() {
			break
		}
		if e != nil && e.id == id {
			ix.ansBytes -= e.ansBytes
			delete(ix.keys, id)
		}
		ix.order[ix.head] = keyID{}
		ix.head++
	}
	if ix.head > 1024 && ix.head*2 > len(ix.order) { // compact the queue
		n := copy(ix.order, ix.order[ix.head:])
		ix.order = ix.order[:n]
		ix.head = 0
	}
}

// claimResult says what a keyed request must do.
type claimResult uint8

const (
	claimRun         claimResult = iota // first use: execute, then complete the entry
	claimReplay                         // same call, answered: replay e
	claimWait                           // same call, still running: wait for e.done
	claimConflict                       // the key was used for another call
	claimLoading                        // the index is still being rebuilt
	claimUnavailable                    // the rebuild failed or was stopped: no key can be trusted to be new
)

// claim looks the key up and, on first use, enters a pending entry for it.
func (ix *keyIndex) claim(id keyID, call callID, execID string) (claimResult, *keyEntry) {
	if !ix.isLoaded() {
		return claimLoading, nil
	}
	if !ix.whole {
		return claimUnavailable, nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e := ix.keys[id]; e != nil {
		switch {
		case e.call != call:
			return claimConflict, e
		case !e.complete():
			return claimWait, e
		default:
			return claimReplay, e
		}
	}
	e := &keyEntry{id: id, call: call, at: ix.now().UnixNano(), execID: execID, done: make(chan struct{})}
	ix.insertLocked(id, e)
	return claimRun, e
}

// whenLoaded runs f once the rebuild is over (at once if it is).
func (ix *keyIndex) whenLoaded(f func()) {
	ix.mu.Lock()
	if !ix.isLoaded() {
		ix.onLoad = append(ix.onLoad, f)
		ix.mu.Unlock()
		return
	}
	ix.mu.Unlock()
	f()
}

// whenComplete runs f once e is complete (at once if it is).
func (ix *keyIndex) whenComplete(e *keyEntry, f func()) {
	ix.mu.Lock()
	if !e.complete() {
		e.waiters = append(e.waiters, f)
		ix.mu.Unlock()
		return
	}
	ix.mu.Unlock()
	f()
}

// finish completes e with its answer and wakes everyone waiting on it.
// An answer that settles nothing (settled false: refused before the call
// ran, such as overloaded or shutting down) forgets the key instead, so
// that a retry runs; waiters claim the key again.
func (ix *keyIndex) finish(e *keyEntry, a *protocol.Answer, settled bool) {
	cp := *a
	size := int64(len(cp.Result)) + 512
	if cp.Error != nil {
		ec := *cp.Error
		cp.Error = &ec
		size += int64(len(ec.Message))
	}
	ix.mu.Lock()
	switch {
	case !settled:
		if ix.keys[e.id] == e {
			delete(ix.keys, e.id)
		}
	case ix.jr == nil || (ix.cfg.AnswerBytes > 0 && ix.ansBytes+size <= ix.cfg.AnswerBytes):
		e.ans, e.ansBytes = &cp, size
		ix.ansBytes += size
	}
	close(e.done)
	waiters := e.waiters
	e.waiters = nil
	ix.expireLocked()
	ix.mu.Unlock()
	for _, f := range waiters {
		// Each waiter replays and journals its replay record: not on this
		// goroutine, which may be the journal's own. The waiter's
		// execution holds the shutdown gate until it is done.
		go f()
	}
}

// waitCtx waits for ch or ctx.
func waitCtx(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}
