// Package perf is the load-generation library behind cmd/fcload and the
// perf lab. It drives requests at a runtime, closed loop or open loop,
// records every answer's latency in HDR histograms (package stats), counts
// every failure by category, and reports the run in one format
// (Report, schema "femtoclaw.fcload/v1") printed as a table, written as
// JSON, and as benchstat lines:
//
//	BenchmarkFcload/target=inproc/journal=always/workers=256  1520000  3289 ns/op  304000 exec/s  812000 p50-ns  1630000 p99-ns ...
//
// # Lifecycle
//
// One call runs one repetition: warm-up, the measured phase, a grace for
// the requests in flight at its end, then a bounded drain.
//
//	r := perf.RunMix(ctx, perf.Config{Name: "Fcload/x=1", Workers: 64, Duration: 5 * time.Second,
//		Mix: []perf.MixEntry{{Name: "noop", Weight: 8}, {Name: "denied", Weight: 1}}},
//		func(worker int) perf.MixOp {
//			return func(ctx context.Context, entry int) error { ... } // one request of Mix[entry]
//		})
//	rep := r.Repetition() // for a Report
//
// Run is RunMix for a single kind of request; RunPipelined drives
// connections that keep many requests in flight from one goroutine each
// (an HTTP/3 stream, the ring's Submit), through the Pipe interface.
//
// The clock starts once: warm-up and measured phase are one continuous
// run, so the load does not pause between them. A request belongs to the
// phase in which it was sent (open loop: in which it was due); warm-up
// requests are counted nowhere, whenever they finish. The measured phase
// lasts Config.Duration or, with Config.Count, until Count measured
// requests have finished (Duration still bounds it). Nothing is sent
// after it; the requests still in flight then have Config.Grace (1 s by
// default) to be answered, and count like any other when they are. At
// the grace's end their context is cancelled: the request deadline.
//
// # Closed loop and open loop
//
// Closed loop (Config.Rate 0): Workers workers each send a request, wait
// for its answer and send the next. Latency is from send to answer. A
// closed loop slows down with the server, so it measures capacity, not
// the latency a client at a fixed rate would see.
//
// Open loop (Config.Rate > 0): arrival i is due at start + i/Rate, on a
// schedule nothing can delay. Workers (at most Workers requests are
// outstanding) take arrivals in order; a worker that is free waits for its
// arrival's due time, a worker that is late sends at once. Latency is
// from the due time, not from the send: when every worker is stuck behind
// a stalled server, the arrivals that could not be sent accumulate
// waiting time, and when the stall ends each reports it. This is wrk2's
// rule against coordinated omission: a stall of S seconds at rate R shows
// up as about R×S slow samples, not as the one or Workers requests that
// happened to be in flight. Sending late never shifts the schedule. The
// arrivals due before the end that are still waiting for a worker then
// may be sent in the grace, like the requests in flight; those still
// unsent after it are not_sent.
//
// # What counts
//
// Every measured request ends as exactly one of:
//
//   - ok: the answer is what its mix entry expects (MixEntry.Expect: a
//     noop allowed, a "denied" entry denied, a "malformed" entry refused
//     with a protocol error); its latency goes into the histograms;
//   - an error of one category (Failure, CategoryOf), among them
//     "timeout": no answer by the request deadline (a request still in
//     flight when the grace is over is a timeout, never dropped), or
//     within Config.Timeout of its send;
//   - open loop only, "not_sent": an arrival due before the end that no
//     worker could send by the request deadline. From the caller's side
//     it was never answered, so it counts as a timeout and an error; it
//     is not "sent".
//
// So, for every repetition, OK + Errors = Sent + NotSent, Timeouts counts
// the "timeout" and "not_sent" errors, and latency figures describe the
// OK requests only. Throughput is OK divided by the Window: from the start
// of the measured phase to the last OK answer (which may fall in the
// grace), so a server that died halfway is not credited with the time it
// was dead. With no OK request the throughput is 0 and reports print
// none.
//
// Requests answered after the deadline are timeouts whatever the answer.
// Run waits up to Config.Drain for the cancelled requests to return; any
// still out then (an Op that ignores its context, a server that never
// answers a pipelined request) are counted as timeouts and abandoned:
// their late results are ignored. A run interrupted through its ctx has
// no grace: its requests in flight are timeouts.
//
// # Error categories
//
// Lower-case categories are what the client saw: "timeout", "not_sent",
// "refused" (connection refused), "reset" (reset, broken pipe, the peer
// aborted), "closed" (the connection or client was closed, the ring's
// peer is gone), "unreachable", "transport" (any other transport error),
// "http_4xx" and "http_5xx" (an HTTP status without an answer in the
// body), "malformed_answer" and "empty_answer" (a body that is no
// answer), and "unexpected_answer": a valid answer that is not what the
// mix entry expects — a success where a denial was expected, a denial of
// a noop, a protocol error for a well-formed call, an echo with another
// text. Upper-case categories are failures the server reported in its
// answer that say nothing about the request being right or wrong: the
// error's category and reason, "RUNTIME_ERROR/overloaded",
// "MEMORY_ERROR/journal_failed", "CAPABILITY_ERROR/timeout",
// "SECURITY_ERROR/invalid_token". See Check.
//
// # Testing the load generator
//
// The engine reads the clock with time.Now and waits with timers only, so
// its tests run it inside a testing/synctest bubble: the fake clock makes
// every latency exact and every assertion a count, never a wall-clock
// threshold. The accuracy test feeds a known distribution of delays and
// compares every percentile with an exact sort of the same delays, within
// the histogram's error bound; the coordinated-omission test stalls a
// fake server once for S at rate R and asserts that at least R×S/2
// samples are at least S/2 (and that a closed loop, which hides the stall,
// would not pass that check).
//
// # Concurrency
//
// Run, RunMix and RunPipelined may be called from several goroutines; each
// call owns its workers and returns once they are done (or abandoned, see
// above). Config.Tick and Config.OnPhase are called from the calling
// goroutine. A Result is plain data.
package perf
