package main

import (
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// registerJournalMetrics exposes the journal's families (names in
// pipeline/metrics.go), read from journal.Stats at scrape time:
//
//	femtoclaw_journal_fsync_seconds           histogram  fdatasync latency (power-of-two µs buckets)
//	femtoclaw_journal_written_bytes_total     counter    block bytes written since open
//	femtoclaw_journal_appended_records_total  counter    records appended since open
//	femtoclaw_journal_ready                   gauge      1 while the journal accepts writes
//	femtoclaw_journal_retention_segments_total{action}   counter  sealed segments removed / archived by retention
//	femtoclaw_journal_retention_reclaimed_bytes_total    counter  bytes those segments held
//	femtoclaw_journal_retention_failed                   gauge    1 once retention stopped on a manifest failure
func registerJournalMetrics(reg *stats.Registry, j *journal.Journal) {
	reg.HistogramFunc(pipeline.MetricJournalFsyncSeconds, "Journal fdatasync latency.", func() stats.Buckets {
		return fsyncBuckets(j.Stats())
	})
	reg.CounterFunc(pipeline.MetricJournalWrittenBytesTotal, "Bytes the journal has written since open (block headers and compressed bodies).",
		func() float64 { return float64(j.Stats().BytesWritten) })
	reg.CounterFunc(pipeline.MetricJournalAppendedRecordsTotal, "Records the journal has appended since open.",
		func() float64 { return float64(j.Stats().Appends) })
	reg.CounterFunc(pipeline.MetricJournalRetentionSegmentsTotal, "Sealed journal segments retention removed or archived since open.",
		func() float64 { return float64(j.Stats().SegmentsRemoved) }, stats.Label{Name: pipeline.LabelAction, Value: "removed"})
	reg.CounterFunc(pipeline.MetricJournalRetentionSegmentsTotal, "Sealed journal segments retention removed or archived since open.",
		func() float64 { return float64(j.Stats().SegmentsArchived) }, stats.Label{Name: pipeline.LabelAction, Value: "archived"})
	reg.CounterFunc(pipeline.MetricJournalRetentionBytesTotal, "Bytes of the journal segments retention removed or archived since open.",
		func() float64 { return float64(j.Stats().BytesReclaimed) })
	reg.GaugeFunc(pipeline.MetricJournalRetentionFailed, "1 once a retention manifest write failed and retention stopped for the life of the process, else 0.", func() float64 {
		if j.Stats().RetentionFailed {
			return 1
		}
		return 0
	})
	reg.GaugeFunc(pipeline.MetricJournalReady, "1 while the journal accepts writes, 0 after a sticky write or sync error.", func() float64 {
		if j.Ready() {
			return 1
		}
		return 0
	})
}

// journalHead is the admin listener's view of the journal's head
// (admin.Config.JournalHead).
func journalHead(j *journal.Journal) func() admin.JournalHead {
	return func() admin.JournalHead {
		seq, hash := j.Head()
		return admin.JournalHead{Seq: seq, Hash: hash, Segment: j.HeadSegment()}
	}
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
