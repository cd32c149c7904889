// Package journal is FemtoClaw's execution and audit journal: an
// append-only, group-committed, compressed, hash-chained log of every
// execution record, with crash recovery, lookups, full verification and
// export.
//
// Every request the runtime sees — allowed, denied, malformed, overloaded —
// becomes one Record. The pipeline's commit stage appends it and answers
// the client only once the journal says the record is durable. The journal
// imports nothing from the rest of the project: the standard library,
// klauspost/compress and x/sys only.
//
// # Lifecycle
//
//	j, err := journal.Open(journal.Config{Dir: "femtoclaw-data/journal"})
//	if err != nil {
//		// errors.Is(err, journal.ErrCorrupt): damage before the tail; the
//		// error is a *BlockError naming segment, offset and block. Refuse to
//		// start (MEMORY_ERROR); `femtoclaw journal verify` shows the details.
//	}
//	rep := j.Recovery()     // what Open found: head seq and hash, torn tail
//	                        // truncated, intents interrupted by a crash
//	for _, in := range rep.Interrupted {
//		// record each as INTERRUPTED; never re-execute it
//	}
//	seq, err := j.Append(&rec) // blocks until durable; many goroutines at once
//	j.AppendAsync(&rec, func(seq uint64, err error) { … }) // never blocks on I/O
//	recs, err := j.Get("exec-01JD…")                        // every record of an execution
//	                        // (in-memory Bloom index per block, built on first use)
//	err = j.Scan(journal.Query{Capability: "shell"}, func(r *journal.Record) bool { … })
//	err = j.Close() // commits and syncs everything queued, writes a checkpoint
//
// Offline tools (no Journal open; they only read): Verify (full CRC, chain,
// sequence, time and record check), Inspect (segments, blocks, compression),
// Scan and ExportJSONL (one JSON object per record, see Record.MarshalJSON).
// They back `femtoclaw journal verify|inspect|tail|get|export`.
//
// # Files
//
// A journal is a directory:
//
//	00000000000000000000.seg   segment 0 (the first)
//	00000000000000000001.seg   segment 1 …  numbered without gaps
//	next.seg.tmp               the next segment, preallocated in advance
//	checkpoint                 the last verified point (advisory)
//	<segment>.<offset>.broken  bytes of a torn tail that Open removed (never overwritten:
//	                           a second copy for the same offset gets a .N suffix)
//
// The byte layout of segments, blocks and records is drawn at the top of
// format.go. A segment starts with a 64-byte header (segment index, first
// seq, and the chain hash before its first block — in segment 0 the
// journal's random genesis value). Then come blocks, one per group commit:
// an 80-byte header (magic, version, codec, first seq, commit time, record
// count, body lengths, CRC-32C, the previous block's chain hash) and the
// body, the records compressed with s2 (default) or zstd. The chain is
// hash(n) = SHA-256(hash(n-1) ‖ block n); Verify reports the head hash so it
// can be stored elsewhere and compared (truncation and wholesale rewrites
// are only detectable against such an external copy).
//
// # Segment rule
//
// Segments are created at SegmentSize (64 MiB), zero-filled and synced by a
// background goroutine once the current segment is half full, so block
// writes never change a file's size and fdatasync has no metadata to flush.
// (If that zero fill is not done when the segment fills — the small first
// segment of a new journal, or a burst — the next segment is fallocated on
// the spot instead of waiting: slightly dearer fdatasyncs, no stall.)
// A block that does not fit in the rest of the current segment goes to the
// next one: the flusher syncs the old segment, writes and syncs the new
// segment's header into the preallocated temp file, renames it to its
// final name and syncs the directory (temp + rename + directory sync: a
// segment either exists completely, header included, or not at all). A block
// larger than a segment gets a segment of its own.
//
// # Recovery contract
//
// Open reads the checkpoint (written every CheckpointEvery blocks after a
// sync, and by Close), checks it against the block it names, and verifies
// CRC, chain link, sequence numbers and record framing from there to the
// end; without a usable checkpoint it verifies from the genesis. Blocks
// before the checkpoint are not reread (that is what keeps Open fast on a
// large journal; Verify reads everything). Then:
//
//   - The end of the data is the first place where a block should start and
//     the bytes are zero. Zero-filled segments make this exact.
//   - A bad block in the last segment with no valid block after it is a torn
//     tail: the trace of a crash during a write. Open copies the bytes aside
//     (<segment>.<offset>.broken, synced), zeroes them in the segment,
//     syncs, logs the number of bytes and records dropped, and reports them
//     in RecoveryReport. Only unacknowledged records can be in a torn tail
//     in DurabilityAlways mode.
//   - Anything else — a bad block with a valid block after it, a bad block
//     in an earlier segment, a bad segment header, a broken chain link, a
//     sequence gap, a block the checkpoint records as synced — is
//     corruption: Open returns a *BlockError wrapping ErrCorrupt and does
//     not start. Callers report MEMORY_ERROR; an operator inspects it with
//     Verify and restores from a copy or archives the journal.
//   - Intent records (KindIntent) with no later record of the same
//     execution id are listed in RecoveryReport.Interrupted. The journal
//     never re-executes anything; the pipeline records each as INTERRUPTED
//     (any later record with the same execution id, e.g. a KindOutcome with
//     State INTERRUPTED), after which it is no longer reported.
//
// # Durability modes
//
// DurabilityAlways (default): Append returns after the block holding the
// record has been written and fdatasync'ed. An acknowledged record survives
// a process crash, a kernel crash and a power loss (given a disk that
// honours flushes).
//
// DurabilityInterval: Append returns after write(2) of the block; a
// separate syncer goroutine fdatasyncs every SyncInterval (10 ms), so no
// writer waits for a sync. A process crash (kill -9)
// loses nothing acknowledged — the data is in the page cache. A kernel crash
// or power loss can lose the records acknowledged during the last
// SyncInterval plus the duration of one fdatasync (the loss window; Stats
// reports the largest one observed as MaxUnsyncedNanos/Records — 33-43 ms
// at ~1M records/s on the project's shared disk, where single fdatasyncs
// stall for tens of ms), and the
// tail of such a crash may hold unsynced pages in any order, which recovery
// may then refuse as corruption rather than truncate. Use it where the
// client can resubmit.
//
// A failed write or fdatasync is sticky: the batch that hit it and every
// later Append return an error wrapping ErrFailed (callers: MEMORY_ERROR),
// Ready turns false, and nothing is retried — after a failed fdatasync the
// kernel may have dropped the dirty pages, so a retry that succeeds would
// claim durability that does not exist. Records acknowledged before the
// failure are not affected. Reopen the journal to continue.
//
// # Platforms
//
// The durability statements above are for Linux, where the journal was
// measured and is tested. The operations that differ by OS sit behind small
// functions in sys_<os>.go; the file format and the recovery contract are
// the same everywhere.
//
//	          data sync ("fdatasync" above)   preallocation         directory sync  reads
//	linux     fdatasync(2)                     fallocate(2)          fsync(2)        mmap
//	darwin    fcntl(F_FULLFSYNC)               ftruncate(2)          F_FULLFSYNC     mmap
//	other     fsync(2)                         ftruncate(2)          fsync(2)        mmap
//	 unix
//	windows   FlushFileBuffers                 SetEndOfFile          none            read
//
// Linux: as described above. A filesystem without fallocate gets the file
// extended with ftruncate (sparse; fdatasync then also flushes the block
// allocations).
//
// macOS: fsync(2) only moves data to the drive, which may hold it in a
// volatile cache across a power loss, so every sync is F_FULLFSYNC, which
// also flushes the drive's cache (slower than fdatasync on Linux: budget for
// it in DurabilityAlways mode). A filesystem that refuses F_FULLFSYNC
// (ENOTSUP or EINVAL, e.g. some network mounts) gets fsync(2) instead, the
// strongest flush it offers; an acknowledged record then survives a process
// or kernel crash but not necessarily a power loss. The standard library's
// os.File.Sync, used for directories, temp files and repairs, does the same.
//
// Other Unix systems: fsync(2) (data and metadata) in place of fdatasync.
//
// Windows: FlushFileBuffers (data and metadata, and a drive cache flush).
// A directory cannot be flushed, so the directory sync is a no-op; the one
// rename that must be durable before an acknowledgement — a new segment
// taking its final name — uses MoveFileEx with MOVEFILE_WRITE_THROUGH,
// which returns once the rename is on disk (and since an open file cannot
// be renamed there, the segment is closed, renamed and reopened). Other
// file creations and renames (checkpoint, .broken copies) become durable
// when NTFS commits its metadata log: after a power loss the checkpoint may
// be older than the last one written or unusable, which costs Open a longer
// verification, not data. Segments are read into memory instead of mapped.
//
// On every platform a preallocated tail reads back as zeros — fallocate,
// ftruncate and SetEndOfFile all guarantee it, and the background
// preparation writes the zeros explicitly — which is what recovery relies
// on to find the end of the data.
//
// # Concurrency
//
// A Journal is safe for concurrent use. Append and AppendAsync may be
// called from any number of goroutines; they queue the record under a short
// mutex and one flusher goroutine commits everything queued as one block
// with one fdatasync (group commit): the batch grows with the load and with
// the fsync latency, with no timer. Sequence numbers follow the order in
// which records were queued. A Record passed to Append must not be modified
// until Append returns (the journal writes Seq and TimeUnixNs into it); an
// AppendAsync callback runs on the flusher goroutine and must not block.
// Scan and Get may run concurrently with appends; they see what was durable
// when they started. The owner calls Close once, after which Append, the
// readers and Close itself return ErrClosed. See the Journal type for the numbered invariants.
//
// Record timestamps are assigned by the flusher, one clock reading per
// block, and never decrease: a clock that steps back is clamped to the
// previous block's time (counted in Stats.ClampedTimes).
package journal
