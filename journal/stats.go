package journal

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Journal's counters since Open.
type Stats struct {
	Appends          int64 // records committed
	Batches          int64 // group commits (one flusher pass each)
	Blocks           int64 // blocks written (a batch over the limits makes more than one)
	BytesWritten     int64 // block bytes written (headers and compressed bodies)
	BytesRaw         int64 // uncompressed record bytes
	Syncs            int64 // fdatasync calls
	SyncNanos        int64 // total time in fdatasync
	LastBatchRecords int64 // records in the most recent batch
	Segments         int64 // segments created
	QuickSegments    int64 // of which fallocated at the roll because the zero fill was not done
	Checkpoints      int64 // checkpoints written
	ClampedTimes     int64 // batches whose clock reading went backwards and was clamped
	// SyncHistogram[i] counts fdatasyncs that took [2^(i-1), 2^i) µs
	// (index 0: under 1 µs; the last bucket is open-ended).
	SyncHistogram [24]int64
	Failed        bool // the sticky error is set
	// MaxUnsyncedNanos and MaxUnsyncedRecords measure the interval-mode
	// loss window: the longest time acknowledged records waited for their
	// fdatasync (write of the first one to the end of the sync), and the
	// most records acknowledged but unsynced at once. Zero in always mode.
	MaxUnsyncedNanos   int64
	MaxUnsyncedRecords int64
	// Retention (counters since Open; RetentionInfo has the totals):
	// passes run, segments removed and archived, their bytes, and passes
	// that failed. RetentionFailed is set once a write-side failure
	// stopped retention for the life of the process. FirstSeq is the
	// first record the journal holds (1 unless retention removed some).
	RetentionPasses  int64
	SegmentsRemoved  int64
	SegmentsArchived int64
	BytesReclaimed   int64
	RetentionErrors  int64
	RetentionFailed  bool
	FirstSeq         uint64
}

// SyncHistogramBound returns the upper bound of SyncHistogram[i]: every
// fdatasync counted there took less (2^i µs). The last bucket is
// open-ended and has no bound (0), nor has an index out of range.
func SyncHistogramBound(i int) time.Duration {
	if i < 0 || i >= len(Stats{}.SyncHistogram)-1 {
		return 0
	}
	return time.Duration(1<<i) * time.Microsecond
}

// CompressionRatio is BytesRaw / BytesWritten (0 before the first block).
func (s Stats) CompressionRatio() float64 {
	if s.BytesWritten == 0 {
		return 0
	}
	return float64(s.BytesRaw) / float64(s.BytesWritten)
}

type statCounters struct {
	appends, batches, blocks, bytesWritten, bytesRaw atomic.Int64
	syncs, syncNanos, lastBatch, segments            atomic.Int64
	checkpoints, clampedTimes, quickSegments         atomic.Int64
	syncHist                                         [24]atomic.Int64
	maxUnsyncedNs, maxUnsyncedRecs                   atomic.Int64
	retentionPasses, retentionErrors                 atomic.Int64
	segmentsRemoved, segmentsArchived                atomic.Int64
	bytesReclaimed                                   atomic.Int64
	retentionFailed                                  atomic.Bool
}

// observeUnsynced is called with the journal's fileMu held (one caller at a time).
func (s *statCounters) observeUnsynced(ns, recs int64) {
	if ns > s.maxUnsyncedNs.Load() {
		s.maxUnsyncedNs.Store(ns)
	}
	if recs > s.maxUnsyncedRecs.Load() {
		s.maxUnsyncedRecs.Store(recs)
	}
}

func (s *statCounters) observeSync(d time.Duration) {
	s.syncs.Add(1)
	s.syncNanos.Add(int64(d))
	us := uint64(d / time.Microsecond)
	i := min(bits.Len64(us), len(s.syncHist)-1)
	s.syncHist[i].Add(1)
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (j *Journal) Stats() Stats {
	s := &j.stats
	out := Stats{
		Appends: s.appends.Load(), Batches: s.batches.Load(), Blocks: s.blocks.Load(),
		BytesWritten: s.bytesWritten.Load(), BytesRaw: s.bytesRaw.Load(), Syncs: s.syncs.Load(),
		SyncNanos: s.syncNanos.Load(), LastBatchRecords: s.lastBatch.Load(), Segments: s.segments.Load(), QuickSegments: s.quickSegments.Load(),
		Checkpoints: s.checkpoints.Load(), ClampedTimes: s.clampedTimes.Load(), Failed: j.err.Load() != nil,
		MaxUnsyncedNanos: s.maxUnsyncedNs.Load(), MaxUnsyncedRecords: s.maxUnsyncedRecs.Load(),
		RetentionPasses: s.retentionPasses.Load(), SegmentsRemoved: s.segmentsRemoved.Load(),
		SegmentsArchived: s.segmentsArchived.Load(), BytesReclaimed: s.bytesReclaimed.Load(),
		RetentionErrors: s.retentionErrors.Load(), RetentionFailed: s.retentionFailed.Load(),
		FirstSeq: j.keptSeq.Load(),
	}
	for i := range s.syncHist {
		out.SyncHistogram[i] = s.syncHist[i].Load()
	}
	return out
}
