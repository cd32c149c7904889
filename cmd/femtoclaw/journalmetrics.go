package main

import (
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// registerJournalFsync exposes the journal's fdatasync latency histogram
// (journal.Stats.SyncHistogram, power-of-two microsecond buckets) as the
// histogram family femtoclaw_journal_fsync_seconds.
func registerJournalFsync(reg *stats.Registry, j *journal.Journal) {
	reg.HistogramFunc("femtoclaw_journal_fsync_seconds", "Journal fdatasync latency.", func() stats.Buckets {
		return fsyncBuckets(j.Stats())
	})
}

// fsyncBounds are the journal's sync histogram bounds in seconds.
var fsyncBounds = func() []float64 {
	n := len(journal.Stats{}.SyncHistogram) - 1 // the last bucket is open-ended
	b := make([]float64, n)
	for i := range b {
		b[i] = journal.SyncHistogramBound(i).Seconds()
	}
	return b
}()

func fsyncBuckets(st journal.Stats) stats.Buckets {
	counts := make([]uint64, len(st.SyncHistogram))
	for i, c := range st.SyncHistogram {
		counts[i] = uint64(max(c, 0))
	}
	return stats.Buckets{Upper: fsyncBounds, Counts: counts, Sum: float64(st.SyncNanos) / 1e9}
}
