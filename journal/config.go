package journal

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"
)

// Durability selects when Append returns.
type Durability string

const (
	// DurabilityAlways acknowledges a record only after the block holding
	// it has been written and fdatasync'ed. The default.
	DurabilityAlways Durability = "always"
	// DurabilityInterval acknowledges a record once its block is written to
	// the file (the OS page cache); a background fdatasync runs every
	// SyncInterval. A process crash loses nothing; a machine crash or power
	// loss can lose the records acknowledged in the last SyncInterval (plus
	// the duration of one fdatasync).
	DurabilityInterval Durability = "interval"
)

// Codec selects the block body compression.
type Codec string

const (
	// CodecS2 is klauspost/compress/s2: ~2-3 GB/s, ratio ~3 on records. The default.
	CodecS2 Codec = "s2"
	// CodecZstd is zstd at its fastest level: ~0.5-0.8 GB/s, ratio ~5-7.
	CodecZstd Codec = "zstd"
	// CodecNone stores bodies uncompressed (tests, debugging).
	CodecNone Codec = "none"
)

// Config configures Open. The zero value of every field except Dir is
// usable; Open never modifies the caller's Config.
type Config struct {
	// Dir is the journal directory; it is created if missing. Required.
	Dir string

	// Durability is DurabilityAlways or DurabilityInterval.
	// If zero, defaults to DurabilityAlways.
	Durability Durability

	// SyncInterval is the fdatasync period in DurabilityInterval mode, and
	// the bound on how long an acknowledged record may stay unsynced.
	// If zero, defaults to 10ms. Clamped to [100µs, 10s].
	SyncInterval time.Duration

	// Codec compresses new blocks; existing blocks keep the codec they were
	// written with. If zero, defaults to CodecS2.
	Codec Codec

	// SegmentSize is the preallocated size of a segment file in bytes. A
	// block that does not fit in the rest of the current segment starts a
	// new one; a single block larger than a segment gets a segment of its
	// own. If zero, defaults to 64 MiB. Clamped to at least 4 KiB.
	SegmentSize int64

	// MaxBatchRecords bounds the records in one block. If zero, defaults to
	// 4096. Clamped to [1, 1<<20].
	MaxBatchRecords int

	// MaxBatchBytes bounds the uncompressed body of one block. A record
	// larger than this still gets a block of its own, up to 64 MiB.
	// If zero, defaults to 4 MiB. Clamped to [4 KiB, 64 MiB].
	MaxBatchBytes int

	// MaxQueuedRecords bounds the records queued for the flusher and not
	// yet taken by it (the flusher takes everything queued at once, so at
	// most about twice this many records are in memory). Past it Append
	// waits for room (backpressure) and AppendAsync fails at once with
	// ErrOverloaded. The bound keeps a burst from becoming one huge batch
	// behind one fdatasync and from growing memory without limit; it
	// should exceed the number of writers that may be waiting at once (the
	// pipeline's MaxInFlight, 10000 by default). If zero, defaults to
	// 65536. Clamped to [1, 1<<22].
	MaxQueuedRecords int

	// CheckpointEvery is the number of blocks between checkpoints (a small
	// sidecar file that lets Open skip verifying what was verified before).
	// A checkpoint is also written by Close. Negative disables periodic
	// checkpoints. If zero, defaults to 1024.
	CheckpointEvery int

	// SlowSync is the fdatasync duration above which a warning is logged.
	// If zero, defaults to 100ms.
	SlowSync time.Duration

	// Logger receives recovery reports, slow syncs and failures.
	// If nil, defaults to a logger that discards everything.
	Logger *slog.Logger

	// Now is the clock for record timestamps and for retention's ages. If
	// nil, defaults to time.Now.
	Now func() time.Time

	// Retention removes (or archives) old sealed segments; see
	// RetentionConfig. The zero value keeps every record forever.
	Retention RetentionConfig

	// test hooks
	rand      io.Reader  // genesis randomness; nil: crypto/rand
	fs        fileSystem // the file system; if nil, the operating system's
	afterTick func(d time.Duration) <-chan time.Time
	retained  func(retentionResult, error) // called after each pass of the retention goroutine
}

// RetentionConfig bounds the journal on disk by removing, or moving to
// ArchiveDir, whole sealed segments, oldest first, while Verify still
// proves the chain of what remains (see the package documentation,
// "Retention"). A segment is eligible when MaxAge or MaxBytes says so, and
// never when it is the active segment (the one being appended to: it was
// not necessarily synced), holds an intent whose outcome is not journaled
// yet, holds or follows the last checkpoint's position, or holds a record
// younger than MinAge. Retention is off when MaxAge and MaxBytes are both
// zero.
type RetentionConfig struct {
	// MaxAge makes a sealed segment eligible once its newest record is
	// older than MaxAge. If zero, age makes nothing eligible. Clamped to
	// at least MinAge.
	MaxAge time.Duration

	// MaxBytes bounds the total size of the segment files (each
	// preallocated to SegmentSize; the next segment, prepared in advance,
	// is not counted): while they exceed it the oldest sealed segments are
	// eligible. The active segment is kept even when it alone exceeds it.
	// If zero, size makes nothing eligible.
	MaxBytes int64

	// MinAge protects the newest records whatever MaxAge and MaxBytes say:
	// a segment holding a record younger than MinAge is kept. The runtime
	// sets it to the idempotency retention window, whose records its key
	// index reads back at start. If zero, nothing is kept for its age.
	MinAge time.Duration

	// ArchiveDir, if set, receives the segments instead of their removal:
	// each is moved there (a rename on the same file system, else a copy
	// synced before the original is removed), and both directories are
	// synced. It must not be Dir. If empty, segments are removed.
	ArchiveDir string

	// Every is the period of the retention pass of an open journal (one
	// also runs right after Open). If zero, defaults to 1 minute. Clamped
	// to at least 1 second.
	Every time.Duration
}

func (r RetentionConfig) enabled() bool { return r.MaxAge > 0 || r.MaxBytes > 0 }

const (
	defaultRetentionEvery  = time.Minute
	defaultSegmentSize     = 64 << 20
	minSegmentSize         = 4 << 10
	defaultMaxBatchRecords = 4096
	defaultMaxBatchBytes   = 4 << 20
	defaultCheckpointEvery = 1024
	defaultMaxQueued       = 65536
	defaultSyncInterval    = 10 * time.Millisecond
	defaultSlowSync        = 100 * time.Millisecond
)

// withDefaults returns a copy of c with zero fields filled and clamps applied.
func (c Config) withDefaults() Config {
	if c.Durability == "" {
		c.Durability = DurabilityAlways
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = defaultSyncInterval
	}
	c.SyncInterval = min(max(c.SyncInterval, 100*time.Microsecond), 10*time.Second)
	if c.Codec == "" {
		c.Codec = CodecS2
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = defaultSegmentSize
	}
	c.SegmentSize = max(c.SegmentSize, minSegmentSize)
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = defaultMaxBatchRecords
	}
	c.MaxBatchRecords = min(max(c.MaxBatchRecords, 1), maxBlockRecords)
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = defaultMaxBatchBytes
	}
	c.MaxBatchBytes = min(max(c.MaxBatchBytes, 4<<10), maxBlockBody)
	if c.MaxQueuedRecords == 0 {
		c.MaxQueuedRecords = defaultMaxQueued
	}
	c.MaxQueuedRecords = min(max(c.MaxQueuedRecords, 1), 1<<22)
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = defaultCheckpointEvery
	}
	if c.SlowSync == 0 {
		c.SlowSync = defaultSlowSync
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.fs == nil {
		c.fs = osFS{}
	}
	if c.Retention.Every == 0 {
		c.Retention.Every = defaultRetentionEvery
	}
	c.Retention.Every = max(c.Retention.Every, time.Second)
	if c.Retention.MaxAge > 0 {
		c.Retention.MaxAge = max(c.Retention.MaxAge, c.Retention.MinAge)
	}
	if c.afterTick == nil {
		c.afterTick = time.After
	}
	return c
}

// validate rejects impossible settings (after withDefaults).
func (c *Config) validate() error {
	if c.Dir == "" {
		return fmt.Errorf("journal: config: Dir is required")
	}
	switch c.Durability {
	case DurabilityAlways, DurabilityInterval:
	default:
		return fmt.Errorf("journal: config: unknown durability %q (want always or interval)", c.Durability)
	}
	if _, err := c.Codec.id(); err != nil {
		return err
	}
	r := &c.Retention
	switch {
	case r.MaxAge < 0 || r.MaxBytes < 0 || r.MinAge < 0:
		return fmt.Errorf("journal: config: negative retention (max age %v, max bytes %d, min age %v)", r.MaxAge, r.MaxBytes, r.MinAge)
	case r.ArchiveDir != "" && filepath.Clean(r.ArchiveDir) == filepath.Clean(c.Dir):
		return fmt.Errorf("journal: config: the retention archive directory %s is the journal directory", r.ArchiveDir)
	case len(r.ArchiveDir) > maxArchiveDir:
		return fmt.Errorf("journal: config: the retention archive directory is longer than %d bytes", maxArchiveDir)
	}
	return nil
}

func (c Codec) id() (byte, error) {
	switch c {
	case CodecS2:
		return codecS2, nil
	case CodecZstd:
		return codecZstd, nil
	case CodecNone:
		return codecNone, nil
	}
	return 0, fmt.Errorf("journal: config: unknown codec %q (want s2, zstd or none)", c)
}
