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
//		// journal.IsCorruption(err): damage that durable metadata vouches
//		// for; the error is a *BlockError naming segment, offset and block.
//		// Refuse to start (MEMORY_ERROR); `femtoclaw journal verify` shows
//		// the details, `femtoclaw journal repair` accepts the loss.
//	}
//	rep := j.Recovery()     // what Open found: head seq and hash, torn tail
//	                        // truncated, unconfirmed tail synced, intents
//	                        // interrupted by a crash (journaled as INTERRUPTED)
//	seq, err := j.Append(&rec) // blocks until durable; many goroutines at once
//	j.AppendAsync(&rec, func(seq uint64, err error) { … }) // never blocks on I/O;
//	                        // ErrOverloaded past Config.MaxQueuedRecords
//	err = j.Sync()          // interval mode: everything appended so far, durable now
//	seq, hash := j.Head()   // record these elsewhere; verify --expect-head later
//	recs, err := j.Get("exec-01JD…")                        // every record of an execution
//	                        // (in-memory Bloom index per block, built on first use)
//	err = j.Scan(journal.Query{Capability: "shell"}, func(r *journal.Record) bool { … })
//	err = j.Close() // commits and syncs everything queued, writes a checkpoint
//
// With Config.Retention set, Open also starts a retention goroutine that
// removes or archives old sealed segments (see Retention below); Stats
// counts what it removed and Journal.Retention says where the journal
// now starts.
//
// Offline tools (no Journal open): Verify and VerifyAnchored (full CRC,
// chain, sequence, time and record check, held to the checkpoint and, if
// given, to a head recorded elsewhere), Inspect (segments, blocks,
// compression), Scan and ExportJSONL (one JSON object per record, see
// Record.MarshalJSON) only read; Repair cuts a damaged journal at a valid
// block after copying it aside, holding the directory's lock as a writer
// (it refuses a journal a running server has open). They back `femtoclaw journal
// verify|inspect|tail|get|export|repair`.
//
// # Files
//
// A journal is a directory:
//
//	00000000000000000000.seg   segment 0 (the first)
//	00000000000000000001.seg   segment 1 …  numbered without gaps
//	next.seg.tmp               the next segment, preallocated in advance
//	checkpoint                 the last synced, verified point (binding; see Recovery contract)
//	retention                  where the journal starts once retention removed segments, and
//	                           the chain hash it continues from (binding; see Retention)
//	<segment>.<offset>.broken  bytes of a torn tail that Open removed (never overwritten:
//	                           a second copy for the same offset gets a .N suffix)
//	LOCK                       the one-writer lock (lock.go): pid, command and listeners of
//	                           the process holding it
//
// One writer. Open takes an exclusive lock on the directory's LOCK file
// (flock on unix, LockFileEx on windows) before it reads or writes
// anything, and Close releases it; a second Open — in this process or
// another — fails at once with a *LockedError naming the holder
// (errors.Is(err, ErrLocked)). The kernel drops the lock when its holder
// dies, SIGKILL included, so a lock is never stale. The CLI also takes the
// same lock on the whole data directory (journal, token, TLS material)
// with LockDir before touching any of it. Readers (Scan, Verify, Inspect,
// Export) take no lock and may run beside the writer.
//
// The byte layout of segments, blocks and records is drawn at the top of
// format.go. A segment starts with a 64-byte header (segment index, first
// seq, and the chain hash before its first block — in segment 0 the
// journal's random genesis value). Then come blocks, one per group commit:
// an 80-byte header (magic, version, codec, first seq, commit time, record
// count, body lengths, CRC-32C, the previous block's chain hash and, since
// format version 2, how far the segment was synced) and the
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
// # Retention
//
// The journal keeps every record until Config.Retention says otherwise.
// Retention works on whole sealed segments, oldest first: a segment is
// eligible once its newest record is older than MaxAge, or while the
// segment files exceed MaxBytes; it is removed, or moved to ArchiveDir
// (rename, or copy across file systems, with both directories synced).
// It never takes the active segment (not necessarily synced yet), a
// segment holding an intent whose outcome is not journaled, the last
// checkpoint's segment or anything after those, nor a segment holding a
// record younger than MinAge (the runtime sets it to its idempotency
// window, whose records the key index reads back at start). A pass runs
// right after Open and then every Retention.Every, on one goroutine that
// Close stops and waits for.
//
// Before it removes anything a pass writes the retention manifest
// (retention.go has its layout) — temp file, sync, rename, directory
// sync — naming the first segment kept, its first seq and the chain hash
// it continues from (the anchor, which is that segment's header's prev
// hash), and the genesis value. From then on the journal starts there:
// Verify proves the chain from the anchor to the head and reports it
// (VerifyReport.Retention: "chain anchored at seq N hash H"), and so do
// Open, Inspect and Scan. Without a manifest the journal starts at
// segment 0 as before, so a segment deleted by hand is damage either
// way: the first segment present must be the manifest's (or segment 0),
// and must continue from its anchor. Segments before the manifest's first
// one that are still present — a crash between the manifest and the
// removals, or in the middle of them — are not part of the journal: Open
// finishes removing or archiving them as the manifest says (and so does
// the next pass). A failed manifest write or sync stops retention for the
// life of the process (sticky; Stats.RetentionFailed), never the journal;
// a failed removal or rename (on Windows, a segment a reader holds open)
// is tried again by the next pass.
//
// Readers: Get answers "not found" for a record retention removed, also
// when the segment disappears during the lookup; Scan, which may have
// listed a segment just removed, goes on from the next one. The archived
// segments, put back beside the journal's without the manifest, verify as
// one journal from the genesis.
//
// # Recovery contract
//
// Open reads the checkpoint (written every CheckpointEvery blocks after a
// sync, and, synced, by Close), checks it against the block it names, and
// verifies CRC, chain link, sequence numbers and record framing from there
// to the end; without a usable checkpoint it verifies from the genesis.
// Blocks before the checkpoint are not reread (that is what keeps Open
// fast on a large journal; Verify reads everything). Then:
//
//   - The end of the data is the first place where a block should start
//     and every byte after it, to the end of the segment, is zero.
//     Zero-filled segments make this exact, and Verify and Open agree on it.
//   - The journal never ends before what durable metadata vouches for. A
//     checkpoint that decodes is a promise — the data it names was synced
//     before it was written — bound to the chain: its genesis, the chain
//     hash and next seq at its position, and the open intents there. A
//     journal that ends before it (a deleted, truncated, zeroed or emptied
//     segment), or disagrees with it, is corruption, never a silent
//     truncation, and new appends never reuse a seq it covers. (A
//     checkpoint that does not decode — a power loss during its unsynced
//     periodic write — promises nothing and is ignored.) Segments are
//     numbered from 0 without gaps, and segment 0 starts at seq 1: a
//     missing segment, leading ones included, is corruption. A segment is
//     renamed into place only after its header is synced, so an empty
//     or all-zero segment is damage, not a crash.
//   - Each block records how far its segment was known synced when it was
//     written (format version 2). Damage (a bad block, or zeros with
//     non-zero bytes after them) is a torn tail — bytes never synced, cut
//     off by a crash or a power loss that kept some unsynced pages and not
//     others — unless something durable vouches for its offset: a later
//     segment (the roll synced this one before creating it), the
//     checkpoint, or a later valid block whose synced offset is past it.
//     A torn tail is copied aside (<segment>.<offset>.broken, synced),
//     zeroed in the segment, synced, logged and reported in
//     RecoveryReport; in DurabilityAlways mode it holds no acknowledged
//     record. Vouched-for damage is corruption: Open returns a *BlockError
//     wrapping ErrCorrupt that names the first bad block and what vouched
//     for it, and does not start. Callers report MEMORY_ERROR; an operator
//     inspects the journal with Verify, restores a copy, or accepts the
//     loss with Repair (`femtoclaw journal repair`: copies the journal
//     aside, cuts at a valid block, says what it dropped, rewrites and
//     re-chains nothing).
//   - The blocks after the last point durable metadata confirms (the
//     checkpoint, or the last block's synced offset) were written, but
//     nothing says they were synced: Open writes them again and syncs them
//     (after a failed fdatasync the kernel may keep such pages cached and
//     marked clean, which a plain sync would not write), and reports them
//     as RecoveryReport.UnconfirmedFromSeq: they are durable now, but were
//     never confirmed to their writers as durable (see below).
//   - Intent records (KindIntent) with no later record of the same
//     execution id are listed in RecoveryReport.Interrupted, and Open
//     journals one KindInterrupted record for each (State INTERRUPTED),
//     synced before Open returns, so the verdict is in the journal (`femtoclaw
//     journal get EXEC_ID` shows it after the intent) and the next Open
//     does not report it again. The journal never re-executes anything.
//   - An operator can anchor the head outside the journal: record the head
//     seq and hash (Journal.Head, Verify, `femtoclaw journal
//     verify|inspect`) and check later with VerifyAnchored (`femtoclaw
//     journal verify --expect-head SEQ|HASH`): truncations and rewrites
//     that leave a valid, shorter journal are only detectable that way.
//
// Damage cases and what Open does (each row is a test):
//
//	damage                                   Open (and Verify)                               test
//	deleted last segment (after Close)       refuses: names it missing, checkpoint vouches   TestDamageDeletedLastSegment
//	truncated at a block boundary            refuses: segment ends before the checkpoint     TestDamageTruncatedAtBlockBoundary
//	truncated mid-block                      refuses (checkpoint); without one a torn tail   TestDamageTruncatedMidBlock, TestTornWrites
//	zeroed last blocks                       refuses: segment ends before the checkpoint     TestDamageZeroedLastBlocks
//	zeroed middle block                      refuses: a later block vouches for it           TestDamageZeroedMiddleBlock
//	empty or all-zero segment                refuses: names the segment header               TestDamageEmptySegment, TestZeroSegmentHeader
//	missing segment 0                        refuses: names segment 0 missing                TestDamageMissingSegment0
//	leading segments gone                    refuses: "segments 0..N are gone"               TestDamageLeadingSegmentsGone
//	gap in the segment numbers               refuses: names the missing segment              TestMissingSegment
//	bit flip in an acknowledged block        refuses: names the block (Open: if after the    TestCorruptionBeforeTail
//	                                         checkpoint; Verify: always)
//	block rewritten with a valid CRC         refuses: chain broken at the next block         TestChainTamper
//	torn unsynced tail (crash, power loss)   recovers: truncated, copied aside, nothing      TestTornWrites, TestPowerLoss,
//	                                         acknowledged lost                               TestPowerLossEveryOp
//	zero run >= 4 MiB, then valid data       refuses when the later data vouches for it;     TestDamageZeroRunThenValidData
//	                                         Verify names the same offset
//	checkpoint ahead of the data             refuses: names the checkpoint's position        TestDamageCheckpointAheadOfData
//	checkpoint of another journal            refuses: genesis differs                        TestDamageCheckpointOfAnotherJournal
//	segment of another journal               refuses: chain broken at its header             TestSegmentFromAnotherJournal
//	failed fdatasync                         the process stops writing; the next process     TestSyncAfterFailedSync, TestStickyError,
//	                                         recovers, rewrites and syncs the unconfirmed    TestFailedBatchQueuedBehind,
//	                                         tail                                            TestUnconfirmedTailRewritten
//	power loss right after a torn repair     recovers: the repair was durable                TestPowerLossAfterTornRepair
//	first segment deleted by hand after      refuses: names it missing, "not by retention"   TestDamageOldestSegmentDeletedByHand
//	 retention (manifest not updated)
//	retention manifest deleted               refuses: "segments 0..N are gone"               TestDamageRetentionManifestDeleted
//	retention manifest damaged               refuses: the manifest does not decode           TestDamageRetentionManifestCorrupt
//	retention anchor not the first           refuses: chain broken at the first segment      TestDamageRetentionAnchor
//	 segment's prev hash
//	power loss during a retention pass       recovers: Open finishes the pass the manifest    TestPowerLossRetentionEveryOp
//	 (any operation; also during the Open     records; nothing kept is lost, archived
//	 that finishes it)                        segments chain into the journal
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
// writer waits for a sync. Sync makes everything appended so far durable
// at once (the pipeline calls it after an intent record). A process crash
// (kill -9) loses nothing acknowledged — the data is in the page cache. A
// kernel crash or power loss can lose the records acknowledged since the
// last completed sync: at most SyncInterval plus the duration of one
// fdatasync (the loss window; Stats reports the largest one observed as
// MaxUnsyncedNanos/Records — 33-43 ms at ~1M records/s on the project's
// shared disk, where single fdatasyncs stall for tens of ms). Such a loss
// is a torn tail (the pages kept and lost in any order are told apart by
// the blocks' synced offsets), never a refusal to open; the seqs of lost
// records are given to new records after recovery. Use it where the client
// can resubmit.
//
// # After a failed write or fdatasync
//
// A failed write or fdatasync is final for the life of the process. The
// error is sticky: it is set before the lock of the failed sync is
// released, so the batch that hit it, every Append and Sync after it (in
// any goroutine, whoever ran the sync), and every record queued behind it
// fail with an error wrapping ErrFailed (callers: MEMORY_ERROR); Ready
// turns false (the runtime goes unready), and nothing is retried — after a
// failed fdatasync the kernel may have dropped the dirty pages or marked
// them clean, so a retry that succeeds would claim durability that does
// not exist. Open refuses the same directory again in this process. What
// is known:
//
//   - DurabilityAlways: every record whose Append returned a seq is
//     durable. The records of the failed batch were not acknowledged: they
//     may or may not be on disk.
//   - DurabilityInterval: the records up to the seq named in the error
//     ("records after seq N are not known to be durable", also logged)
//     are durable; the records after it
//     were acknowledged as written but may be lost, in whole or in part.
//
// Restart the process to continue. The new process's Open treats what it
// finds like after a crash: records after the last confirmed sync that are
// still readable are kept, written again and synced, and reported as
// RecoveryReport.UnconfirmedFromSeq..HeadSeq — present, durable from now
// on, but never confirmed to their writers (who got an error or, in
// interval mode, an acknowledgement without durability); the journal does
// not report them as acknowledged. An intent among them without an outcome
// is journaled as INTERRUPTED.
//
// # Platforms
//
// The durability statements above are for Linux, where the journal was
// measured and is tested; the tests also run the journal on an in-memory
// file system that simulates power loss (keeping only what was synced, and
// a seeded random part of the rest) and failed syncs, and
// scripts/mutate-journal.sh checks that removing any one sync or sticky
// check makes a test fail. (For the directory syncs of retention the
// in-memory file system also loses or keeps, at random, each directory
// operation not yet synced.) The operations that differ by OS sit behind small
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
// when they started. At most Config.MaxQueuedRecords records wait for the
// flusher: past that Append waits and AppendAsync returns ErrOverloaded, so
// memory and the size of one batch stay bounded. The owner calls Close
// once, after which Append, the readers and Close itself return
// ErrClosed. See the Journal type for the numbered invariants.
//
// Record timestamps are assigned by the flusher, one clock reading per
// block, and never decrease: a clock that steps back is clamped to the
// previous block's time (counted in Stats.ClampedTimes).
package journal
