package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

func TestFsyncBuckets(t *testing.T) {
	var st journal.Stats
	st.SyncHistogram[0] = 1  // under 1 µs
	st.SyncHistogram[10] = 3 // [512 µs, 1024 µs)
	st.SyncHistogram[23] = 2 // open-ended
	st.Syncs, st.SyncNanos = 6, int64(1500*time.Millisecond)
	b := fsyncBuckets(st)
	if len(b.Upper) != 23 || len(b.Counts) != 24 || b.Upper[0] != 1e-6 || b.Upper[10] != 1024e-6 || b.Upper[22] != 4.194304 {
		t.Fatalf("bounds %v", b.Upper)
	}
	if b.Counts[0] != 1 || b.Counts[10] != 3 || b.Counts[23] != 2 || b.Sum != 1.5 {
		t.Fatalf("buckets %+v", b)
	}
	reg := stats.NewRegistry()
	reg.HistogramFunc(pipeline.MetricJournalFsyncSeconds, "Journal fdatasync latency.", func() stats.Buckets { return b })
	var out bytes.Buffer
	if err := reg.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`femtoclaw_journal_fsync_seconds_bucket{le="1e-06"} 1`,
		`femtoclaw_journal_fsync_seconds_bucket{le="0.000512"} 1`,
		`femtoclaw_journal_fsync_seconds_bucket{le="0.001024"} 4`,
		`femtoclaw_journal_fsync_seconds_bucket{le="4.194304"} 4`,
		`femtoclaw_journal_fsync_seconds_bucket{le="+Inf"} 6`,
		`femtoclaw_journal_fsync_seconds_sum 1.5`,
		`femtoclaw_journal_fsync_seconds_count 6`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("missing %q in\n%s", want, out.String())
		}
	}
}
