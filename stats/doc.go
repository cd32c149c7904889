// Package stats measures the runtime: lock-free latency histograms,
// counters and gauges, a Prometheus text exposition writer, per-second
// throughput windows and a degradation detector. It imports only the
// standard library and holds no package-level state: every metric lives in
// a value the caller creates and passes around.
//
// # What is measured, and in which units
//
// Latencies go in as int64 nanoseconds (Histogram.Record) or time.Duration
// (Histogram.RecordDuration) and come out of a Snapshot in nanoseconds. The
// Prometheus writer converts them to seconds, the unit Prometheus expects:
// histogram families are named femtoclaw_<stage>_seconds, counters end in
// _total. Read the clock once per stage boundary (time.Now costs ~42 ns
// here, ten times a Record) and record the difference.
//
// # Lifecycle, in call order
//
//	reg := stats.NewRegistry()                       // once, in cmd/ or pipeline.Open
//	validate := reg.Histogram("femtoclaw_validate_seconds", "Protocol validation latency.")
//	execs := reg.Counter("femtoclaw_executions_total", "Executions by outcome.",
//		stats.Label{Name: "outcome", Value: "success"})
//	inflight := reg.Gauge("femtoclaw_inflight_executions", "Executions in flight.")
//
//	// hot path, any goroutine:
//	t0 := time.Now()
//	... validate the message ...
//	validate.Record(int64(time.Since(t0)))
//	execs.Inc()
//	inflight.Add(1); defer inflight.Add(-1)
//
//	// admin listener, per scrape:
//	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
//	reg.WritePrometheus(w)
//
//	// owner goroutine, once a second: intervals, rates, degradation
//	cur := validate.Snapshot()
//	interval := cur.Sub(prev) // samples recorded since prev
//	prev = cur
//	detector.Observe("validate", interval)
//	throughput.Tick()
//
// Nothing needs closing: the package starts no goroutines. The periodic
// work (Tick, Observe) belongs to an owner goroutine the caller runs.
//
// # Histograms
//
// A Histogram is HDR-style and log-linear: values below 2^(k+1) ns get a
// bucket each; every power of two above is split into 2^k equal buckets,
// where k follows from the significant figures (SigFigs 1, 2, 3 → k = 4, 7,
// 10). The range is 0 to HistogramConfig.MaxValue (default one hour);
// values outside it are clamped to the nearest end and counted
// (Snapshot.Clamped), never dropped.
//
// Record is one atomic add, lock-free and wait-free, allocation-free, ≤ 10
// ns on this project's machine. Recorders are spread over a few shards
// (copies of the counter array) by a hash of the recording goroutine's
// stack address, so two cores recording the same latency rarely fight over
// a cache line. Count, sum, min and max are not kept on the hot path: they
// are derived from the buckets when a snapshot is read.
//
// # Error bounds
//
// A Snapshot reports every sample as the midpoint of its bucket, so Min,
// Max, Percentile, Mean and Sum are each within ErrorBound() of the exact
// figure, relative: 1/32 (3.1 %) for 1 significant figure, 1/256 (0.39 %)
// for 2, the default, 1/2048 (0.05 %) for 3. Small values (below 32, 256
// or 2048 ns respectively) are exact. Count is exact. Percentile(q) is the
// sample of rank max(1, ⌈q/100 × n⌉) in sorted order, the same definition
// the tests check against an exact sort of the same samples.
//
// # Snapshots and intervals
//
// Histogram.Snapshot copies the counters (about 20–60 µs with the defaults)
// into an immutable *Snapshot, safe to share between goroutines. It does
// not stop recording: samples recorded during the copy may or may not be
// in it, but each sample is counted whole or not at all, and a later
// snapshot of the same histogram always contains an earlier one.
//
// Histograms only grow. For "the last second", subtract:
// cur.Sub(prev) holds the samples recorded between the two snapshots.
// Merge adds snapshots (per-worker histograms into one, or intervals into
// a rolling window); it is commutative and associative, and
// a.Merge(b).Sub(b) equals a. Snapshots of different resolutions merge at
// the coarser one. A nil *Snapshot reads as empty everywhere.
//
// MarshalBinary and UnmarshalBinary give a compact, canonical encoding
// (about one byte per non-empty bucket; see encoding.go for the layout) for
// shipping results from the perf lab. Decoding rejects anything not
// produced by MarshalBinary and allocates at most the histogram's bucket
// count.
//
// # Counters and gauges
//
// A Counter is a uint64 that only goes up, striped over eight cache lines
// the same way histograms are sharded; Load sums the stripes. A Gauge is a
// single atomic int64 (Set cannot be striped). Both are usable as zero
// values and safe for concurrent use.
//
// # Prometheus exposition
//
// Registry.WritePrometheus writes text format 0.0.4 by hand (no
// client_golang): families sorted by name, one HELP and TYPE line each,
// series sorted by label set, label values escaped. A histogram is exposed
// with fixed cumulative buckets from 100 ns to 10 s in a 1-2.5-5 sequence
// (ExpositionBounds) plus +Inf, then _sum and _count in seconds. The fixed
// bounds keep series comparable across processes and restarts; the full
// HDR resolution remains available through Snapshot. A HistogramFunc
// exposes a histogram kept elsewhere in buckets of its own (Buckets: the
// journal's power-of-two fsync buckets) with those bounds. Registry.Each
// walks the same metrics for a JSON endpoint.
//
// # Throughput and degradation
//
// A Throughput counts events with a striped counter and keeps one total per
// second for the last 60 s, so Rate gives events per second over the last
// 1, 10 or 60 s; its clock is injectable.
//
// A Detector is fed interval snapshots per stage. It merges those of the
// last Window, compares the p99 with the stage's Budget (by default the
// FC-PERF-0001 targets, critical at its hard bounds) and emits
// performance_degraded (WARNING or CRITICAL) and performance_recovered
// events on transitions only. Active lists the current degradations (for
// /readyz detail) and Degraded counts them (for a gauge). Its clock is
// injectable, so tests never sleep.
//
// # Concurrency
//
// Every exported type is safe for concurrent use. Recording (Histogram,
// Counter, Gauge, Throughput.Add) never blocks and never allocates.
// Registry registration and Detector/Throughput bookkeeping take a mutex;
// none of them is on the hot path. Snapshot values are immutable.
//
// # Errors
//
// UnmarshalBinary returns errors wrapping ErrBadEncoding. Registering a
// metric under an invalid name, a conflicting kind or help text, or without
// the _seconds/_total suffix panics: names are constants, and the mistake
// should fail the first test that runs the registration, not a scrape.
package stats
