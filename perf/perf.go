package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Op performs one request and reports whether it succeeded: nil, or an
// error whose category CategoryOf tells (return a *Failure to name it).
// It is called from one worker goroutine at a time per worker, and must
// return promptly once ctx is done.
type Op func(ctx context.Context) error

// MixOp is an Op for a mix: it performs one request of Config.Mix[entry].
type MixOp func(ctx context.Context, entry int) error

// Pipe is one connection that keeps many requests in flight from a single
// sending goroutine (an HTTP/3 stream, the ring's Submit). Send starts one
// request of Config.Mix[entry] and arranges for done to be called exactly
// once with its outcome — possibly before Send returns, and from any
// goroutine; done never blocks. When the request cannot be sent because
// the pipe is broken, Send instead returns the error and never calls
// done: the request counts as failed, and the pipe is closed and a new
// one opened in its place. Send is called from one goroutine. Close is
// called once, after the last Send; requests already sent must still get
// their done (with an error when the pipe's context has ended).
type Pipe interface {
	Send(entry int, done func(err error)) error
	Close()
}

// Config describes a run. The caller's struct is never modified.
type Config struct {
	// Name is the benchmark name, "Fcload/key=value/…". If empty, "Fcload".
	Name string
	// Workers is the number of requests in flight (closed loop) or the
	// bound on outstanding requests (open loop). If zero, defaults to 1.
	Workers int
	// Duration of the measured phase. If zero, defaults to 5 s. With
	// Count it bounds the phase.
	Duration time.Duration
	// Warmup runs before measuring; its requests are counted nowhere. If
	// zero, defaults to 1 s; negative means none.
	Warmup time.Duration
	// Rate, if positive, makes the run open-loop at that many arrivals per
	// second.
	Rate float64
	// Count, if positive, ends the measured phase once this many measured
	// requests have finished (answered or failed) instead of at Duration.
	Count int64
	// MaxOps is the former name of Count.
	//
	// Deprecated: use Count.
	MaxOps int64
	// Timeout, if positive, fails (as "timeout") a request not answered
	// within it of its send. Zero: only the end of the phase cuts a
	// request off. Run and RunMix only.
	Timeout time.Duration
	// Grace is how long the requests in flight when the measured phase
	// ends may still be answered: no request is sent after the end, an
	// answer within the grace counts as any other, and a request still
	// out after it is a timeout (its context is cancelled then). If zero,
	// defaults to 1 s; negative means none: every request in flight at
	// the end is a timeout. An interrupted run (ctx done) has none.
	Grace time.Duration
	// Drain is how long Run waits, after the grace, for the cancelled
	// requests to return; any still out after it are counted as timeouts
	// and abandoned. If zero, defaults to 2 s.
	Drain time.Duration
	// Mix names the kinds of request and their weights: each request is
	// of one entry, in a fixed interleaved order in which entry i has
	// Weight i shares (see schedule). If empty, every request is of one
	// unnamed kind and Result.PerMix is nil.
	Mix []MixEntry
	// OnPhase, if set, is called with true when the measured phase starts
	// (before the first request when there is no warm-up, else while the
	// warm-up's requests keep running) and with false when it is over
	// (after the grace, before the drain), from Run's goroutine: the place
	// to sample the server.
	OnPhase func(measuring bool)
	// Tick, if set, is called once per second of the measured phase with
	// that second's figures, from Run's goroutine (a progress line).
	Tick func(Interval)
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "Fcload"
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Count <= 0 && c.MaxOps > 0 {
		c.Count = c.MaxOps
	}
	if c.Grace == 0 {
		c.Grace = time.Second
	}
	if c.Grace < 0 {
		c.Grace = 0
	}
	if c.Drain <= 0 {
		c.Drain = 2 * time.Second
	}
	return c
}

// Result is one run's outcome (see the package doc, "What counts").
type Result struct {
	Name       string
	Ops        int64         // OK: requests answered as their mix entry expects
	Errors     int64         // every failed request, timeouts and not-sent arrivals included
	Elapsed    time.Duration // the measured phase (the grace excluded)
	Throughput float64       // Ops / Window; 0 without an OK request
	Latency    stats.Summary // of the OK requests only
	FirstError error

	Started   time.Time     // when the measured phase started
	Window    time.Duration // from the phase's start to the last OK answer (at most Elapsed + Grace)
	Sent      int64         // measured requests sent
	Timeouts  int64         // errors of category "timeout" or "not_sent"
	NotSent   int64         // open loop: arrivals due in the phase that could not be sent before its end
	Abandoned int64         // requests still out Drain after the end (counted as timeouts)
	// ByCategory counts the errors by category; Examples holds the first
	// error message seen in each.
	ByCategory map[string]int64
	Examples   map[string]string
	Histogram  *stats.Snapshot // the OK requests' latencies
	Intervals  []Interval
	PerMix     map[string]MixResult // by mix entry name; nil without a Config.Mix
}

// ticket is one claimed request.
type ticket struct {
	l        *lane
	entry    int
	at       time.Time // latency origin: the send (closed loop) or the due time (open loop)
	sentAt   time.Time
	measured bool
}

// lane is one worker's (or one pipe's) counters, kept apart so that
// workers do not share cache lines on the hot path. Errors are the slow
// path and take mu.
type lane struct {
	id     int
	seq    int            // closed loop: next schedule position (the lane's goroutine only)
	timer  *time.Timer    // open loop: waits for due times (the lane's goroutine only)
	sentBy []atomic.Int64 // measured requests sent, by mix entry
	errs   atomic.Int64   // measured requests failed
	lastOK atomic.Int64   // ns from the phase's start to the lane's last OK answer
	mu     sync.Mutex
	cats   map[string]int64
	ex     map[string]string
	errBy  []int64 // failed, by mix entry
	_      [64]byte
}

func (l *lane) fail(entry int, cat string, n int64, msg string) {
	l.mu.Lock()
	l.cats[cat] += n
	if _, ok := l.ex[cat]; !ok {
		l.ex[cat] = msg
	}
	l.errBy[entry] += n
	l.mu.Unlock()
	l.errs.Add(n)
}

// errLate is the timeout of a request answered after the phase's end.
var errLate = errors.New("no answer by the request deadline (the end of the measured phase and its grace)")

// engine is one run's shared state; see the package doc for the rules it
// implements.
//
// Concurrency. The hot path — claim, sent, and finish of an OK answer —
// touches the lane's own atomics, the mix entry's histogram (sharded by
// recording goroutine) and engine fields that are written once a phase
// (stopped, lateNs, closed); next is shared only in open loop (the
// arrival schedule) and with Count, done only with Count. A failure
// takes its lane's mutex. Run's own goroutine times the phases, ticks
// and calls the hooks. Invariants:
//
//  1. A measured request is counted exactly once: as OK (in its entry's
//     histogram), as failed (in its lane's categories), or, when close
//     finds it still out, as abandoned (sent − OK − failed, by entry).
//  2. An answer after lateNs is a timeout, whatever it says.
//  3. Once closed is set (under late), finish counts nothing: late
//     finishes take late and test closed, so none races close. (A
//     finish that passed its closed test before close and is still
//     recording when close runs — possible only for an abandoned
//     request, Drain after the deadline — could count twice; none of
//     the targets' requests outlives its context that long.)
//  4. Not-sent arrivals are computed at close from the schedule: due in
//     [warmIdx, the first due at or after the end) minus those sent.
type engine struct {
	cfg      Config
	sched    []int
	hist     []*stats.Histogram // OK latencies, by mix entry
	lanes    []*lane
	start    time.Time     // the first request may go (the warm-up's start)
	measure  time.Time     // the measured phase's start
	deadline time.Time     // measure + Duration: nothing is sent from then on
	lateNs   atomic.Int64  // answers later than this (ns since measure) are timeouts: the end plus the grace
	stopped  atomic.Bool   // the measured phase is over: no more requests are claimed (closed loop)
	sendEnd  atomic.Bool   // the grace is over: no more overdue arrivals are sent (open loop)
	next     atomic.Int64  // open loop: the next arrival; closed loop with Count: measured claims
	done     atomic.Int64  // with Count: measured requests finished
	endC     chan struct{} // closed when Count requests have finished
	endOnce  sync.Once
	drainC   chan struct{} // closed when the drain is over
	interval float64       // open loop: ns between arrivals
	warmIdx  int64         // open loop: the first measured arrival
	closed   atomic.Bool
	late     sync.Mutex // serializes late finishes with close
	first    atomic.Pointer[error]

	endNs     time.Duration // the measured phase's length, once over
	prev      *stats.Snapshot
	prevErrs  int64
	intervals []Interval
}

func newEngine(cfg Config, lanes int) *engine {
	cfg = cfg.withDefaults()
	entries := max(len(cfg.Mix), 1)
	e := &engine{cfg: cfg, sched: schedule(cfg.Mix), drainC: make(chan struct{}), endC: make(chan struct{})}
	for range entries {
		e.hist = append(e.hist, stats.NewHistogram(stats.HistogramConfig{SigFigs: 3}))
	}
	for i := range lanes {
		e.lanes = append(e.lanes, &lane{id: i, sentBy: make([]atomic.Int64, entries), errBy: make([]int64, entries),
			cats: map[string]int64{}, ex: map[string]string{}})
	}
	if cfg.Rate > 0 {
		e.interval = 1e9 / cfg.Rate
	}
	return e
}

// due is arrival i's due time (open loop).
func (e *engine) due(i int64) time.Time {
	return e.start.Add(time.Duration(float64(i) * e.interval))
}

// firstDue returns the first arrival due at or after t.
func (e *engine) firstDue(t time.Time) int64 {
	d := float64(t.Sub(e.start))
	if d <= 0 {
		return 0
	}
	i := int64(math.Ceil(d / e.interval))
	for i > 0 && !e.due(i-1).Before(t) {
		i--
	}
	for e.due(i).Before(t) {
		i++
	}
	return i
}

// claim returns the lane's next request, waiting for its due time in open
// loop; false when the lane should stop.
func (e *engine) claim(ctx context.Context, l *lane) (ticket, bool) {
	if e.interval == 0 {
		now := time.Now()
		if e.stopped.Load() || !now.Before(e.deadline) {
			return ticket{}, false
		}
		measured := !now.Before(e.measure)
		pos := l.id + l.seq // each lane walks the schedule from its own offset
		if measured && e.cfg.Count > 0 {
			n := e.next.Add(1)
			if n > e.cfg.Count {
				return ticket{}, false
			}
			pos = int(n - 1) // one walk for all: exact proportions over Count
		} else {
			l.seq++
		}
		entry := e.sched[pos%len(e.sched)]
		return ticket{l: l, entry: entry, at: now, sentAt: now, measured: measured}, true
	}
	if e.sendEnd.Load() {
		return ticket{}, false
	}
	i := e.next.Add(1) - 1
	if e.cfg.Count > 0 && i >= e.warmIdx+e.cfg.Count {
		return ticket{}, false
	}
	due := e.due(i)
	if !due.Before(e.deadline) {
		return ticket{}, false
	}
	if d := time.Until(due); d > 0 {
		if l.timer == nil {
			l.timer = time.NewTimer(d)
		} else {
			l.timer.Reset(d)
		}
		select {
		case <-l.timer.C:
		case <-ctx.Done():
			l.timer.Stop()
			return ticket{}, false
		}
	}
	// An arrival due before the end may still go in the grace (late, its
	// latency counting from its due time); after it, it is not_sent.
	if e.sendEnd.Load() {
		return ticket{}, false
	}
	now := time.Now()
	return ticket{l: l, entry: e.sched[i%int64(len(e.sched))], at: due, sentAt: now, measured: i >= e.warmIdx}, true
}

// sent counts t as sent, just before it goes.
func (e *engine) sent(t ticket) {
	if t.measured {
		t.l.sentBy[t.entry].Add(1)
	}
}

// finish records t's outcome.
func (e *engine) finish(t ticket, err error) {
	if !t.measured {
		return
	}
	now := time.Now()
	since := now.Sub(e.measure)
	if since > time.Duration(e.lateNs.Load()) || e.closed.Load() {
		e.finishLate(t)
		return
	}
	if err == nil && e.cfg.Timeout > 0 && now.Sub(t.sentAt) > e.cfg.Timeout {
		err = Fail(CategoryTimeout, fmt.Errorf("answered %v after its send, past the timeout of %v", now.Sub(t.sentAt), e.cfg.Timeout))
	}
	l := t.l
	if err == nil {
		e.hist[t.entry].Record(int64(now.Sub(t.at)))
		for {
			v := l.lastOK.Load()
			if int64(since) <= v || l.lastOK.CompareAndSwap(v, int64(since)) {
				break
			}
		}
	} else {
		e.setFirst(err)
		l.fail(t.entry, CategoryOf(err), 1, err.Error())
	}
	e.counted()
}

// finishLate records a request answered after the end as a timeout,
// unless close has already counted it (abandoned).
func (e *engine) finishLate(t ticket) {
	e.late.Lock()
	defer e.late.Unlock()
	if e.closed.Load() {
		return
	}
	e.setFirst(errLate)
	t.l.fail(t.entry, CategoryTimeout, 1, errLate.Error())
	e.counted()
}

func (e *engine) setFirst(err error) { e.first.CompareAndSwap(nil, &err) }

// counted ends a Count-bounded phase at its last request.
func (e *engine) counted() {
	if e.cfg.Count > 0 && e.done.Add(1) == e.cfg.Count {
		e.stopped.Store(true)
		e.endOnce.Do(func() { close(e.endC) })
	}
}

// snapshot merges the mix entries' histograms.
func (e *engine) snapshot() *stats.Snapshot {
	var s *stats.Snapshot
	for _, h := range e.hist {
		s = s.Merge(h.Snapshot())
	}
	return s
}

func (e *engine) errors() int64 {
	var n int64
	for _, l := range e.lanes {
		n += l.errs.Load()
	}
	return n
}

// tick closes the interval that started at `at` (since the phase's start).
func (e *engine) tick(at time.Duration, report bool) {
	s := e.snapshot()
	d := s.Sub(e.prev)
	errs := e.errors()
	iv := Interval{At: at, OK: int64(d.Count()), Errors: errs - e.prevErrs, P50: d.Percentile(50), P99: d.Percentile(99)}
	e.prev, e.prevErrs = s, errs
	e.intervals = append(e.intervals, iv)
	if report && e.cfg.Tick != nil {
		e.cfg.Tick(iv)
	}
}

// run starts the lanes (launch, each goroutine in wg), times the phases
// — warm-up, measured phase, grace, drain — and builds the result.
func (e *engine) run(ctx context.Context, launch func(ctx context.Context, wg *sync.WaitGroup)) Result {
	cfg := e.cfg
	// Without a warm-up the phase starts with the first request: sample
	// before it, not while the first requests are already running.
	early := cfg.Warmup == 0 && cfg.OnPhase != nil && ctx.Err() == nil
	if early {
		cfg.OnPhase(true)
	}
	e.start = time.Now()
	e.measure = e.start.Add(cfg.Warmup)
	e.deadline = e.measure.Add(cfg.Duration)
	e.lateNs.Store(int64(cfg.Duration + cfg.Grace))
	if e.interval > 0 {
		e.warmIdx = e.firstDue(e.measure)
	}
	octx, cancel := context.WithCancel(ctx) // the requests' context: cancelled after the grace
	defer cancel()
	var wg sync.WaitGroup
	launch(octx, &wg)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()

	measuring, interrupted := true, false
	if cfg.Warmup > 0 {
		t := time.NewTimer(cfg.Warmup)
		select {
		case <-t.C:
		case <-ctx.Done():
			measuring, interrupted = false, true
		}
		t.Stop()
	}
	if measuring {
		ticker := time.NewTicker(time.Second)
		phase := time.NewTimer(cfg.Duration)
		if cfg.OnPhase != nil && !early {
			cfg.OnPhase(true)
		}
		sec := time.Duration(0)
	loop:
		for {
			select {
			case <-ticker.C:
				e.tick(sec, true)
				sec += time.Second
			case <-phase.C:
				break loop
			case <-e.endC:
				break loop
			case <-ctx.Done():
				interrupted = true
				break loop
			}
		}
		ticker.Stop()
		phase.Stop()
	}
	e.stopped.Store(true)
	endNs := min(max(time.Since(e.measure), 0), cfg.Duration)
	e.endNs = endNs
	if interrupted {
		e.lateNs.Store(int64(endNs))
		e.sendEnd.Store(true)
	} else {
		e.lateNs.Store(int64(endNs + cfg.Grace))
		grace := time.NewTimer(cfg.Grace)
		select {
		case <-all:
		case <-grace.C:
		case <-ctx.Done():
		}
		grace.Stop()
		e.sendEnd.Store(true)
	}
	if measuring && cfg.OnPhase != nil {
		cfg.OnPhase(false)
	}
	cancel()
	drain := time.NewTimer(cfg.Drain)
	select {
	case <-all:
	case <-drain.C:
		close(e.drainC)
	}
	drain.Stop()
	return e.result()
}

// result closes the run (late answers are ignored from here on), counts
// the abandoned and the not-sent requests, and assembles the Result.
func (e *engine) result() Result {
	e.late.Lock()
	e.closed.Store(true)
	e.late.Unlock()
	cfg := e.cfg
	elapsed := e.endNs
	n := len(e.hist)
	sentBy, errBy, okBy := make([]int64, n), make([]int64, n), make([]int64, n)
	for _, l := range e.lanes {
		l.mu.Lock()
		for i := range n {
			sentBy[i] += l.sentBy[i].Load()
			errBy[i] += l.errBy[i]
		}
		l.mu.Unlock()
	}
	for i, h := range e.hist {
		okBy[i] = int64(h.Snapshot().Count())
	}
	// Requests still out are timeouts (abandoned); open loop, arrivals due
	// in the phase and never sent are not_sent. Both are put on lane 0.
	l0 := e.lanes[0]
	var abandoned, notSent int64
	for i := range n {
		if a := sentBy[i] - okBy[i] - errBy[i]; a > 0 {
			abandoned += a
			errBy[i] += a
			l0.fail(i, CategoryTimeout, a, fmt.Sprintf("no answer by the request deadline, nor %v after it (abandoned)", cfg.Drain))
		}
	}
	if e.interval > 0 && elapsed > 0 {
		hi := e.firstDue(e.measure.Add(elapsed))
		if cfg.Count > 0 {
			hi = min(hi, e.warmIdx+cfg.Count)
		}
		dueBy := e.dueByEntry(e.warmIdx, hi)
		for i := range n {
			if u := dueBy[i] - sentBy[i]; u > 0 {
				notSent += u
				errBy[i] += u
				l0.fail(i, CategoryNotSent, u, "due before the end of the measured phase; no worker was free to send it in time")
			}
		}
	}
	if elapsed > 0 {
		e.tick(time.Duration(len(e.intervals))*time.Second, false)
		if last := e.intervals[len(e.intervals)-1]; last.At >= elapsed && last.OK == 0 && last.Errors == 0 {
			e.intervals = e.intervals[:len(e.intervals)-1] // the phase ended on a whole second
		}
	}

	r := Result{Name: cfg.Name, Elapsed: elapsed, Started: e.measure.Round(0), NotSent: notSent, Abandoned: abandoned,
		ByCategory: map[string]int64{}, Examples: map[string]string{}, Intervals: e.intervals}
	for _, l := range e.lanes {
		l.mu.Lock()
		for c, k := range l.cats {
			r.ByCategory[c] += k
			if IsTimeout(c) {
				r.Timeouts += k
			}
			r.Errors += k
		}
		for c, m := range l.ex {
			if _, ok := r.Examples[c]; !ok {
				r.Examples[c] = m
			}
		}
		l.mu.Unlock()
		r.Window = max(r.Window, time.Duration(l.lastOK.Load()))
	}
	for i := range n {
		r.Sent += sentBy[i]
		r.Ops += okBy[i]
	}
	r.Histogram = e.snapshot()
	r.Latency = r.Histogram.Summary()
	if r.Ops > 0 && r.Window > 0 {
		r.Throughput = float64(r.Ops) / r.Window.Seconds()
	}
	if f := e.first.Load(); f != nil {
		r.FirstError = *f
	} else if r.Errors > 0 {
		r.FirstError = errors.New(r.Examples[firstKey(r.ByCategory)])
	}
	if len(cfg.Mix) > 0 {
		r.PerMix = map[string]MixResult{}
		for i, m := range cfg.Mix {
			r.PerMix[m.Name] = MixResult{OK: okBy[i], Errors: errBy[i], Latency: e.hist[i].Snapshot().Summary()}
		}
	}
	return r
}

// dueByEntry counts, by mix entry, the arrivals in [lo, hi).
func (e *engine) dueByEntry(lo, hi int64) []int64 {
	out := make([]int64, len(e.hist))
	if hi <= lo {
		return out
	}
	L := int64(len(e.sched))
	cycles := (hi - lo) / L
	for _, en := range e.sched {
		out[en] += cycles
	}
	for i := lo + cycles*L; i < hi; i++ {
		out[e.sched[i%L]]++
	}
	return out
}

func firstKey(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// Run executes cfg with one Op per worker (newOp is called once per
// worker, so each can own a connection). It stops when ctx is done, the
// duration passes or Count requests have finished.
func Run(ctx context.Context, cfg Config, newOp func(worker int) Op) Result {
	return RunMix(ctx, cfg, func(w int) MixOp {
		op := newOp(w)
		return func(ctx context.Context, _ int) error { return op(ctx) }
	})
}

// RunMix is Run for a mix: each request is of one Config.Mix entry.
func RunMix(ctx context.Context, cfg Config, newOp func(worker int) MixOp) Result {
	e := newEngine(cfg, max(cfg.Workers, 1))
	ops := make([]MixOp, len(e.lanes))
	for i := range ops {
		ops[i] = newOp(i)
	}
	return e.run(ctx, func(ctx context.Context, wg *sync.WaitGroup) {
		for i, l := range e.lanes {
			wg.Go(func() { e.syncLane(ctx, l, ops[i]) })
		}
	})
}

func (e *engine) syncLane(ctx context.Context, l *lane, op MixOp) {
	for {
		t, ok := e.claim(ctx, l)
		if !ok {
			return
		}
		e.sent(t)
		var err error
		if e.cfg.Timeout > 0 {
			rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
			err = op(rctx, t.entry)
			cancel()
		} else {
			err = op(ctx, t.entry)
		}
		e.finish(t, err)
	}
}

// RunPipelined drives conns pipes, each keeping Workers/conns requests in
// flight (at least one). newPipe is called from the connection's
// goroutine, with the requests' context (cancelled at the request
// deadline), once at the start and again after each pipe that broke; a
// pipe that cannot be opened counts as one failed measured request and
// ends that connection's share of the load. Config.Timeout does not
// apply.
func RunPipelined(ctx context.Context, cfg Config, conns int, newPipe func(ctx context.Context, conn int) (Pipe, error)) Result {
	conns = max(conns, 1)
	window := max(max(cfg.Workers, 1)/conns, 1)
	cfg.Timeout = 0
	e := newEngine(cfg, conns)
	return e.run(ctx, func(ctx context.Context, wg *sync.WaitGroup) {
		for i, l := range e.lanes {
			wg.Go(func() { e.pipeLane(ctx, l, i, window, newPipe) })
		}
	})
}

func (e *engine) pipeLane(ctx context.Context, l *lane, i, window int, newPipe func(context.Context, int) (Pipe, error)) {
	var p Pipe
	open := func() bool {
		np, err := newPipe(ctx, i)
		if err != nil {
			l.sentBy[0].Add(1)
			e.setFirst(err)
			l.fail(0, CategoryOf(err), 1, err.Error())
			return false
		}
		p = np
		return true
	}
	if !open() {
		return
	}
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	openLoop := e.interval > 0
loop:
	for {
		if !openLoop {
			select {
			case <-credits:
			case <-ctx.Done():
				break loop
			}
		}
		t, ok := e.claim(ctx, l)
		if !ok {
			if !openLoop {
				credits <- struct{}{}
			}
			break
		}
		if openLoop {
			select {
			case <-credits:
			case <-ctx.Done():
				break loop // never sent: counted as not_sent
			}
		}
		e.sent(t)
		err := p.Send(t.entry, func(err error) {
			e.finish(t, err)
			credits <- struct{}{}
		})
		if err != nil { // the pipe is broken: a new one, or the lane ends
			e.finish(t, err)
			credits <- struct{}{}
			p.Close()
			if p = nil; !open() {
				break
			}
		}
	}
	if p != nil {
		p.Close()
	}
	for range window {
		select {
		case <-credits:
		case <-e.drainC:
			return
		}
	}
}

// WriteBench prints r as one benchstat line:
//
//	Benchmark<Name>  <ok>  <ns/op> ns/op  <exec/s> exec/s  <p50> p50-ns  <p99> p99-ns  <p99.9> p99.9-ns  <p99.99> p99.99-ns  <max> max-ns  <errors> errors
//
// ns/op is Window/ok: the inverse of the throughput. A run without an OK
// request has no result to compare: it prints a comment line saying so,
// which benchstat ignores.
func (r Result) WriteBench(w io.Writer) {
	rep := r.Repetition()
	benchLine(w, r.Name, &rep)
}

// Repetition returns r in the report's form.
func (r Result) Repetition() Repetition {
	rep := Repetition{Started: r.Started, Elapsed: r.Elapsed, Window: r.Window, Sent: r.Sent, OK: r.Ops,
		Errors: r.Errors, Timeouts: r.Timeouts, NotSent: r.NotSent, Abandoned: r.Abandoned,
		ByCategory: r.ByCategory, ErrorExamples: r.Examples, Throughput: r.Throughput, Latency: r.Latency,
		Intervals: r.Intervals, PerMix: r.PerMix}
	if len(rep.ByCategory) == 0 {
		rep.ByCategory, rep.ErrorExamples = nil, nil
	}
	if r.FirstError != nil {
		rep.FirstError = r.FirstError.Error()
	}
	if r.Histogram != nil {
		rep.Histogram, _ = r.Histogram.MarshalBinary()
	}
	return rep
}
