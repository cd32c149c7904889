package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// The in-process scenarios run the runtime as fcload -target inproc does:
// pipeline.Open with the builtin capabilities, a policy, and a real
// journal in a temporary directory, driven by perf.Run. The stage figures
// are the runtime's own histograms (pipeline.Stages), read before and
// after the measured phase; the overhead figures are each answer's own
// timings (total minus the capability's execute time).

// Scenario messages and the capabilities only scenarios register.
var (
	noopMsg  = []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	sleepMsg = []byte(`{"tool_call":{"tool":"scenario.sleep","args":{}}}`)
	hangMsg  = []byte(`{"tool_call":{"tool":"scenario.hang","args":{}}}`)
	panicMsg = []byte(`{"tool_call":{"tool":"scenario.panic","args":{}}}`)
)

// scenarioPolicy allows the builtins and the scenario capabilities to
// anyone; everything else is denied.
const scenarioPolicy = `version: 1
default: deny
rules:
  - id: scenario.allow
    effect: allow
    principals: ["*"]
    capabilities: [noop, echo, scenario.sleep, scenario.hang, scenario.panic]
`

// standardWorkers bounds the standard load's requests in flight, and is
// the soak's closed-loop worker count.
const standardWorkers = 64

// echoMessage is an echo call whose text no other call has: the
// validation and decision caches miss on it.
func echoMessage(n uint64) []byte {
	return fmt.Appendf(nil, `{"tool_call":{"tool":"echo","args":{"text":"%064x"}}}`, n)
}

// inprocConfig describes an in-process runtime.
type inprocConfig struct {
	journal     string // always | interval | none
	noTelemetry bool   // pipeline.Config.DisableTelemetry
	events      bool   // write telemetry events, every execution's, to a file
	caps        []capability.Capability
	settings    map[string]capability.Settings
	maxInFlight int
	poolQueue   int
}

// inproc is an open in-process runtime; close releases everything.
type inproc struct {
	rt     *pipeline.Runtime
	j      *journal.Journal
	dir    string
	events *os.File
}

func openScenarioRuntime(c inprocConfig) (p *inproc, err error) {
	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		return nil, err
	}
	caps = append(caps, c.caps...)
	settings := map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}}
	for k, v := range c.settings {
		settings[k] = v
	}
	reg, err := capability.NewRegistry(caps, settings)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Parse([]byte(scenarioPolicy))
	if err != nil {
		return nil, err
	}
	p = &inproc{}
	if p.dir, err = os.MkdirTemp("", "fcload-scenario-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	cfg := pipeline.Config{Logger: slog.New(slog.DiscardHandler), MaxInFlight: c.maxInFlight, PoolQueue: c.poolQueue, DisableTelemetry: c.noTelemetry}
	if c.events {
		if p.events, err = os.Create(filepath.Join(p.dir, "events.jsonl")); err != nil {
			return nil, err
		}
		cfg.Telemetry = pipeline.TelemetryConfig{Output: p.events, TransitionSample: 1}
	}
	if c.journal != "none" {
		p.j, err = journal.Open(journal.Config{Dir: filepath.Join(p.dir, "journal"), Durability: journal.Durability(c.journal)})
		if err != nil {
			return nil, err
		}
		cfg.Journal, cfg.Durable = p.j, c.journal == "always"
	}
	if p.rt, err = pipeline.Open(cfg, reg, pol); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *inproc) close() {
	if p.rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.rt.Shutdown(ctx)
		cancel()
	}
	if p.j != nil {
		p.j.Close()
	}
	if p.events != nil {
		p.events.Close()
	}
	os.RemoveAll(p.dir)
}

// request is a message from the scenario principal.
func request(msg []byte) *pipeline.Request {
	return &pipeline.Request{Message: msg, Principal: "fcload", Transport: "inproc"}
}

// answerOK returns nil for a successful answer (journaled, when the
// runtime has a journal), else what was wrong with it.
func answerOK(a *protocol.Answer, journaled bool) error {
	switch {
	case a.Error != nil:
		return a.Error
	case a.Status != protocol.StatusSuccess:
		return fmt.Errorf("answer status %q", a.Status)
	case journaled && a.Journal.Seq == 0:
		return errors.New("answer without a journal sequence")
	}
	return nil
}

// noopOp is a closed-loop noop worker.
func (p *inproc) noopOp(int) perf.Op {
	req := request(noopMsg)
	return func(ctx context.Context) error { return answerOK(p.rt.Execute(ctx, req), p.j != nil) }
}

// processStats reads this process's resident memory and CPU time, as
// its /metrics would show them (stats.RegisterProcessMetrics).
type processStats struct{ rss, cpu func() float64 }

func selfProcess() processStats {
	reg := stats.NewRegistry()
	stats.RegisterProcessMetrics(reg)
	p := processStats{rss: func() float64 { return 0 }, cpu: func() float64 { return 0 }}
	reg.Each(func(name string, _ []stats.Label, m any) {
		if f, ok := m.(func() float64); ok {
			switch name {
			case "process_resident_memory_bytes":
				p.rss = f
			case "process_cpu_seconds_total":
				p.cpu = f
			}
		}
	})
	return p
}

// stageSnapshots reads the runtime's stage histograms, by stage name
// (labels merged: authorize's cache hit and miss, execute's capabilities),
// and authorize by cache label as "authorize/hit" and "authorize/miss".
func stageSnapshots(reg *stats.Registry) map[string]*stats.Snapshot {
	families := map[string]string{}
	for _, st := range pipeline.Stages() {
		families[pipeline.StageFamily(st)] = st
	}
	out := map[string]*stats.Snapshot{}
	reg.Each(func(name string, labels []stats.Label, m any) {
		h, ok := m.(*stats.Histogram)
		st, isStage := families[name]
		if !ok || !isStage {
			return
		}
		snap := h.Snapshot()
		out[st] = out[st].Merge(snap)
		if st == pipeline.StageAuthorize {
			for _, l := range labels {
				if l.Name == pipeline.LabelCache {
					out[st+"/"+l.Value] = out[st+"/"+l.Value].Merge(snap)
				}
			}
		}
	})
	return out
}

// standardLoad is the outcome of the standard load the stage scenarios
// read: open loop at cfg.Rate, half noop and half echo calls with a text
// no other call has (so validation and the decision cache miss), at most
// standardWorkers in flight, journal durability always, telemetry on.
type standardLoad struct {
	result   perf.Result
	started  time.Time
	stages   map[string]stats.Summary // over the measured phase
	overhead stats.Summary            // answers' total minus execute
	workload perf.Workload
}

func (s *scenarioRun) standard(ctx context.Context) (*standardLoad, error) {
	if s.std == nil && s.stdErr == nil {
		fmt.Fprintf(s.progress, "  the standard load: open loop %g/s, half noop, half echo with a unique text, journal always, in process, %v\n", s.cfg.Rate, s.cfg.Duration)
		s.std, s.stdErr = runStandardLoad(ctx, s.cfg)
	}
	return s.std, s.stdErr
}

func runStandardLoad(ctx context.Context, cfg scenarioConfig) (*standardLoad, error) {
	p, err := openScenarioRuntime(inprocConfig{journal: "always"})
	if err != nil {
		return nil, err
	}
	defer p.close()
	over := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	var n atomic.Uint64
	newOp := func(record bool) func(int) perf.Op {
		return func(int) perf.Op {
			noop := request(noopMsg)
			return func(ctx context.Context) error {
				req := noop
				if i := n.Add(1); i%2 == 1 {
					req = request(echoMessage(i))
				}
				a := p.rt.Execute(ctx, req)
				if err := answerOK(a, true); err != nil {
					return err
				}
				if record {
					over.Record(a.Timings.Total - a.Timings.Execute)
				}
				return nil
			}
		}
	}
	rc := perf.Config{Name: "Scenario/standard", Workers: standardWorkers, Rate: cfg.Rate, Duration: cfg.Warmup, Warmup: -1}
	perf.Run(ctx, rc, newOp(false)) // the warm-up, outside the stage snapshots
	before := stageSnapshots(p.rt.Metrics())
	started := time.Now()
	rc.Duration = cfg.Duration
	r := perf.Run(ctx, rc, newOp(true))
	after := stageSnapshots(p.rt.Metrics())
	if r.Ops == 0 {
		return nil, firstErr(r)
	}
	st := &standardLoad{result: r, started: started, stages: map[string]stats.Summary{}, overhead: over.Snapshot().Summary(),
		workload: perf.Workload{Target: "inproc", Transport: "inproc", Loop: "open", Workers: standardWorkers, Rate: cfg.Rate,
			Duration: cfg.Duration, Warmup: cfg.Warmup,
			Mix:    []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(noopMsg), Expect: "allow"}, {Name: "echo-unique", Weight: 1, Bytes: len(echoMessage(0)), Expect: "allow"}},
			Config: map[string]string{"journal": "always", "telemetry": "on"}}}
	for k, v := range after {
		st.stages[k] = v.Sub(before[k]).Summary()
	}
	return st, nil
}

// firstErr is why a run produced no success.
func firstErr(r perf.Result) error {
	if r.FirstError != nil {
		return fmt.Errorf("%w (%d errors; first: %v)", errNoValue, r.Errors, r.FirstError)
	}
	return errNoValue
}

// stageScenario is the scenario of one standard-load metric.
func stageScenario(metric string) func(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	return func(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
		std, err := s.standard(ctx)
		if err != nil {
			return nil, err
		}
		load := fmt.Sprintf("standard load (open loop %g/s, half noop, half echo with unique text, journal always, in process): %s executions", s.cfg.Rate, groupInt(int(std.result.Ops)))
		var sum stats.Summary
		var what, more string
		switch metric {
		case "validation":
			sum, what = std.stages[pipeline.StageValidate], "the runtime's validate stage"
		case "authorization":
			sum, what = std.stages[pipeline.StageAuthorize], "the runtime's authorize stage"
			more = fmt.Sprintf("; decision cache hit p99 %s, miss p99 %s",
				fmtNs(float64(std.stages["authorize/hit"].P99)), fmtNs(float64(std.stages["authorize/miss"].P99)))
		case "invocation":
			sum, what = std.stages[pipeline.StageDispatch], "the runtime's dispatch stage"
		case "commit":
			sum, what = std.stages[pipeline.StageCommit], "the runtime's commit stage, fdatasync wait included"
		case "overhead":
			sum, what = std.overhead, "each answer's total minus its execute time"
			more = fmt.Sprintf("; the runtime's own overhead figure, which leaves out the commit wait: p99 %s",
				fmtNs(float64(std.stages[pipeline.StageOverhead].P99)))
		}
		if sum.Count == 0 {
			return nil, fmt.Errorf("the runtime recorded no %s figure", metric)
		}
		note := fmt.Sprintf("p99 of %s; p50 %s, max %s%s; %s", what, fmtNs(float64(sum.P50)), fmtNs(float64(sum.Max)), more, load)
		r := measuredRow(metric, metric, float64(sum.P99), note)
		r.workload = std.workload
		r.runs = []perf.Repetition{repetition(std.result, std.started)}
		r.server = &perf.Server{Stages: std.stages}
		return []scenarioResult{r}, nil
	}
}

// scenarioTelemetry compares the same closed loop (one worker, noop, no
// journal: nothing but the runtime's own work in each execution) with the
// runtime's telemetry on (latency histograms, and every execution's
// events written to a file) and off, alternately.
func scenarioTelemetry(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	pairs := 3
	if s.cfg.Quick {
		pairs = 1
	}
	proc := selfProcess()
	var on, off []perf.Result
	var cpuOn, cpuOff float64 // CPU seconds per execution, summed over runs
	for range pairs {
		for _, tel := range []bool{true, false} {
			p, err := openScenarioRuntime(inprocConfig{journal: "none", noTelemetry: !tel, events: tel})
			if err != nil {
				return nil, err
			}
			c0 := proc.cpu()
			r := perf.Run(ctx, perf.Config{Name: "Scenario/telemetry", Workers: 1, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup}, p.noopOp)
			cpu := proc.cpu() - c0
			p.close()
			if r.Ops == 0 {
				return nil, firstErr(r)
			}
			if tel {
				on, cpuOn = append(on, r), cpuOn+cpu/float64(r.Ops)
			} else {
				off, cpuOff = append(off, r), cpuOff+cpu/float64(r.Ops)
			}
		}
	}
	mean := func(rs []perf.Result) float64 {
		var sum float64
		for _, r := range rs {
			sum += r.Latency.Mean
		}
		return sum / float64(len(rs))
	}
	diff := mean(on) - mean(off)
	measured, noise := diff, ""
	if diff < 0 {
		measured, noise = 0, " (a negative difference: within the noise)"
	}
	note := fmt.Sprintf("mean latency on %s, off %s: %s%s; p99 on %s, off %s (first pair); CPU per execution on %s, off %s (the exporter's share included); closed loop, 1 worker, noop, no journal, %d pair(s) of %v runs, in process",
		fmtNs(mean(on)), fmtNs(mean(off)), fmtNs(diff), noise, fmtNs(float64(on[0].Latency.P99)), fmtNs(float64(off[0].Latency.P99)),
		fmtNs(cpuOn/float64(pairs)*1e9), fmtNs(cpuOff/float64(pairs)*1e9), pairs, s.cfg.Duration)
	r := measuredRow("telemetry", "telemetry", measured, note)
	r.workload = perf.Workload{Target: "inproc", Transport: "inproc", Loop: "closed", Workers: 1, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup,
		Mix: []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(noopMsg), Expect: "allow"}}, Config: map[string]string{"journal": "none", "telemetry": "on/off alternately; on: every execution's events written"}}
	for _, rs := range [][]perf.Result{on, off} {
		for _, x := range rs {
			r.runs = append(r.runs, repetition(x, time.Now()))
		}
	}
	return []scenarioResult{r}, nil
}

// sleepCap is scenario.sleep: a slow capability (effects read, so it runs
// on its pool) that counts the calls inside it at once.
type sleepCap struct {
	d             time.Duration
	want          int64
	running, peak atomic.Int64
	fullOnce      sync.Once
	full          chan struct{} // closed when want calls are inside at once
}

func (*sleepCap) Name() string    { return "scenario.sleep" }
func (*sleepCap) Version() string { return "1.0.0" }
func (*sleepCap) Description() string {
	return "Sleeps, then returns {} (fcload's concurrency scenario)."
}
func (*sleepCap) Schema() []byte              { return []byte(`{"type":"object","additionalProperties":false}`) }
func (*sleepCap) Effects() capability.Effects { return capability.EffectsRead }

func (c *sleepCap) Execute(ctx context.Context, _ *capability.Request) ([]byte, error) {
	n := c.running.Add(1)
	defer c.running.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	if n >= c.want {
		c.fullOnce.Do(func() { close(c.full) })
	}
	t := time.NewTimer(c.d)
	defer t.Stop()
	select {
	case <-t.C:
		return []byte("{}"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hangCap is scenario.hang: it returns only when its call's deadline
// passes (a capability stuck on a dead peer).
type hangCap struct{}

func (hangCap) Name() string    { return "scenario.hang" }
func (hangCap) Version() string { return "1.0.0" }
func (hangCap) Description() string {
	return "Never returns before its deadline (fcload's isolation scenario)."
}
func (hangCap) Schema() []byte              { return []byte(`{"type":"object","additionalProperties":false}`) }
func (hangCap) Effects() capability.Effects { return capability.EffectsRead }
func (hangCap) Execute(ctx context.Context, _ *capability.Request) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// panicCap is scenario.panic: every call panics.
type panicCap struct{}

func (panicCap) Name() string                { return "scenario.panic" }
func (panicCap) Version() string             { return "1.0.0" }
func (panicCap) Description() string         { return "Panics (fcload's isolation scenario)." }
func (panicCap) Schema() []byte              { return []byte(`{"type":"object","additionalProperties":false}`) }
func (panicCap) Effects() capability.Effects { return capability.EffectsNone }
func (panicCap) Execute(context.Context, *capability.Request) ([]byte, error) {
	panic("scenario.panic: a deliberate panic")
}

// scenarioConcurrency starts cfg.Concurrency executions of a capability
// that sleeps cfg.SlowFor, all at once, with the pool, its queue and
// max_in_flight set to allow them, and measures how many ran inside the
// capability at once (every one must succeed), each answer's overhead
// (total minus the capability's time: validation, authorization, the wait
// for a pool worker, dispatch, the commit of a burst of records), and
// resident memory at the peak over the idle runtime's.
func scenarioConcurrency(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	n := s.cfg.Concurrency
	slow := &sleepCap{d: s.cfg.SlowFor, want: int64(n), full: make(chan struct{})}
	p, err := openScenarioRuntime(inprocConfig{journal: "always", caps: []capability.Capability{slow},
		settings:    map[string]capability.Settings{"scenario.sleep": {Enabled: true, PoolSize: n, Timeout: s.cfg.SlowFor + time.Minute}},
		maxInFlight: n + standardWorkers, poolQueue: n})
	if err != nil {
		return nil, err
	}
	defer p.close()
	for range 100 { // warm: caches built, first segment in use
		p.rt.Execute(ctx, request(noopMsg))
	}
	proc := selfProcess()
	rss0 := proc.rss()
	over := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	var ok, failed atomic.Int64
	var first atomic.Value
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			a := p.rt.Execute(ctx, request(sleepMsg))
			if err := answerOK(a, true); err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
				return
			}
			ok.Add(1)
			over.Record(a.Timings.Total - a.Timings.Execute)
		})
	}
	done := make(chan struct{})
	var rssPeak atomic.Int64
	go func() { // resident memory, sampled until every call is answered
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		all := make(chan struct{})
		go func() { wg.Wait(); close(all) }()
		full := slow.full
		for {
			if v := int64(proc.rss()); v > rssPeak.Load() {
				rssPeak.Store(v)
			}
			select {
			case <-all:
				return
			case <-full:
				full = nil // sampled again at the moment all are inside
			case <-tick.C:
			}
		}
	}()
	t0 := time.Now()
	close(start)
	<-done
	elapsed := time.Since(t0)
	peak := slow.peak.Load()
	measured := float64(min(peak, ok.Load()))
	var errNote string
	if e, isErr := first.Load().(error); isErr {
		errNote = fmt.Sprintf("; %d failed, first: %v", failed.Load(), e)
	}
	wl := perf.Workload{Target: "inproc", Transport: "inproc", Loop: "closed", Workers: n, Count: int64(n),
		Mix:    []perf.MixEntry{{Name: "slow", Weight: 1, Bytes: len(sleepMsg), Expect: "allow"}},
		Config: map[string]string{"journal": "always", "capability": "scenario.sleep " + s.cfg.SlowFor.String() + " (effects read)", "pool_size": strconv.Itoa(n), "max_in_flight": strconv.Itoa(n + standardWorkers)}}
	launch := fmt.Sprintf("%s executions started at once, each sleeping %v in a capability (pool %s), journal always, in process; all answered in %v",
		groupInt(n), s.cfg.SlowFor, groupInt(n), elapsed.Round(time.Millisecond))
	conc := measuredRow("concurrency-"+shortCount(n), "concurrency", measured,
		fmt.Sprintf("%s ran at once inside the capability, %s answered successfully%s; %s", groupInt(int(peak)), groupInt(int(ok.Load())), errNote, launch))
	results := []scenarioResult{conc}
	sum := over.Snapshot().Summary()
	if sum.Count > 0 {
		results = append(results, measuredRow("concurrency-overhead", "overhead", float64(sum.P99),
			fmt.Sprintf("p99 of answers' total minus execute (p50 %s, max %s) with %s in flight; %s", fmtNs(float64(sum.P50)), fmtNs(float64(sum.Max)), groupInt(n), launch)))
	}
	if rss0 > 0 && rssPeak.Load() > 0 {
		per := (float64(rssPeak.Load()) - rss0) / float64(n)
		results = append(results, measuredRow("concurrency-memory", "memory-per-execution", per,
			fmt.Sprintf("RSS %s idle, %s at the peak (this process: runtime and the waiting callers' goroutines); %s",
				perf.FormatValue(perf.UnitBytes, rss0), perf.FormatValue(perf.UnitBytes, float64(rssPeak.Load())), launch)))
	}
	for i := range results {
		results[i].workload = wl
	}
	return results, nil
}

// throughputInproc is the closed-loop noop throughput of the runtime in
// this process, journal durability always.
func throughputInproc(ctx context.Context, cfg scenarioConfig) (perf.Result, time.Time, error) {
	p, err := openScenarioRuntime(inprocConfig{journal: "always"})
	if err != nil {
		return perf.Result{}, time.Time{}, err
	}
	defer p.close()
	started := time.Now()
	r := perf.Run(ctx, perf.Config{Name: "Scenario/throughput", Workers: cfg.Workers, Duration: cfg.Duration, Warmup: cfg.Warmup}, p.noopOp)
	if r.Ops == 0 {
		return r, started, firstErr(r)
	}
	return r, started, nil
}

func closedNoopWorkload(cfg scenarioConfig, target, transport string, conns int) perf.Workload {
	return perf.Workload{Target: target, Transport: transport, Loop: "closed", Conns: conns, Workers: cfg.Workers, Duration: cfg.Duration, Warmup: cfg.Warmup,
		Mix: []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(noopMsg), Expect: "allow"}}, Config: map[string]string{"journal": "always"}}
}

// scenarioThroughput measures closed-loop noop throughput in process and
// over HTTP/3 against `femtoclaw serve`.
func scenarioThroughput(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	var out []scenarioResult
	r, started, err := throughputInproc(ctx, s.cfg)
	if err != nil {
		out = append(out, notMeasured("throughput-inproc", "throughput", err))
	} else {
		row := measuredRow("throughput-inproc", "throughput", r.Throughput,
			fmt.Sprintf("closed loop, %d workers, noop, journal always (group commit, fdatasync before each answer), in process; p99 %s, %d errors",
				s.cfg.Workers, fmtNs(float64(r.Latency.P99)), r.Errors))
		row.workload = closedNoopWorkload(s.cfg, "inproc", "inproc", 0)
		row.runs = []perf.Repetition{repetition(r, started)}
		out = append(out, row)
	}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	h3, err := throughputH3(ctx, s)
	if err != nil {
		h3 = notMeasured("throughput-h3", "throughput", err)
	}
	return append(out, h3), nil
}

// childResult is what `fcload scenario -child throughput` prints.
type childResult struct {
	Throughput float64 `json:"throughput"`
	P99        int64   `json:"p99_ns"`
	OK         int64   `json:"ok"`
	Errors     int64   `json:"errors"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Error      string  `json:"error,omitempty"`
}

// runScenarioChild runs one measurement for a parent scenario and prints
// it as one JSON line.
func runScenarioChild(ctx context.Context, what string, cfg scenarioConfig, stdout io.Writer) error {
	if what != "throughput" {
		return fmt.Errorf("scenario -child: unknown measurement %q", what)
	}
	r, _, err := throughputInproc(ctx, cfg)
	out := childResult{Throughput: r.Throughput, P99: r.Latency.P99, OK: r.Ops, Errors: r.Errors, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if err != nil {
		out.Error = err.Error()
	}
	return json.NewEncoder(stdout).Encode(out)
}

// scenarioScaling runs the in-process throughput in a child process with
// GOMAXPROCS=1 and with GOMAXPROCS=2 (alternately, twice each at full
// scale) and divides.
func scenarioScaling(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	rounds := 2
	if s.cfg.Quick {
		rounds = 1
	}
	sum := map[int]float64{}
	for range rounds {
		for _, procs := range []int{1, 2} {
			cmd := s.cfg.self("-child", "throughput", "-d", s.cfg.Duration.String(), "-warmup", s.cfg.Warmup.String(), "-workers", strconv.Itoa(s.cfg.Workers))
			cmd.Env = append(cmd.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
			out, err := cmd.Output()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				return nil, fmt.Errorf("GOMAXPROCS=%d child: %w", procs, err)
			}
			lines := slices.DeleteFunc(splitLines(out), func(l string) bool { return l == "" })
			var cr childResult
			if len(lines) == 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &cr) != nil {
				return nil, fmt.Errorf("GOMAXPROCS=%d child: unreadable result %q", procs, out)
			}
			if cr.Error != "" {
				return nil, fmt.Errorf("GOMAXPROCS=%d child: %s", procs, cr.Error)
			}
			if cr.GOMAXPROCS != procs {
				return nil, fmt.Errorf("child ran with GOMAXPROCS=%d, not %d", cr.GOMAXPROCS, procs)
			}
			sum[procs] += cr.Throughput
		}
	}
	t1, t2 := sum[1]/float64(rounds), sum[2]/float64(rounds)
	r := measuredRow("scaling", "scaling", t2/t1,
		fmt.Sprintf("%s exec/s with GOMAXPROCS=1, %s with 2 (%d run(s) each, alternately); the throughput-inproc load in a child process: the runtime and its load generator share the cores; this machine has %d CPUs",
			groupInt(int(t1)), groupInt(int(t2)), rounds, runtime.NumCPU()))
	r.workload = closedNoopWorkload(s.cfg, "inproc", "inproc", 0)
	r.workload.Config["gomaxprocs"] = "1 vs 2"
	return []scenarioResult{r}, nil
}

func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			out = append(out, string(b))
			break
		}
		out, b = append(out, string(b[:i])), b[i+1:]
	}
	return out
}

// scenarioStability is a soak: closed loop, standardWorkers workers,
// noop, journal always, measured interval by interval; drift compares
// the median p99 of the last third of the intervals with the first
// third's, growth the resident memory at the end with that after the
// first third, and variance is the coefficient of variation of the
// intervals' throughput.
func scenarioStability(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	iv := s.cfg.soakInterval()
	k := max(int(s.cfg.Soak/iv), 3)
	fmt.Fprintf(s.progress, "  soak: %d intervals of %v\n", k, iv)
	p, err := openScenarioRuntime(inprocConfig{journal: "always"})
	if err != nil {
		return nil, err
	}
	defer p.close()
	proc := selfProcess()
	rc := perf.Config{Name: "Scenario/soak", Workers: standardWorkers, Duration: s.cfg.Warmup, Warmup: -1}
	perf.Run(ctx, rc, p.noopOp)
	rc.Duration = iv
	thr, p99, rss := make([]float64, 0, k), make([]float64, 0, k), make([]float64, 0, k)
	var runs []perf.Repetition
	var errs int64
	for range k {
		started := time.Now()
		r := perf.Run(ctx, rc, p.noopOp)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if r.Ops == 0 {
			return nil, firstErr(r)
		}
		errs += r.Errors
		thr, p99, rss = append(thr, r.Throughput), append(p99, float64(r.Latency.P99)), append(rss, proc.rss())
		runs = append(runs, repetition(r, started))
	}
	third := k / 3
	drift := median(p99[k-third:]) / median(p99[:third])
	mean, sd := meanStddev(thr)
	soak := fmt.Sprintf("soak of %v: %d intervals of %v, closed loop, %d workers, noop, journal always, in process, %d errors", time.Duration(k)*iv, k, iv, standardWorkers, errs)
	out := []scenarioResult{
		measuredRow("stability-p99-drift", "p99-drift", drift,
			fmt.Sprintf("median interval p99 %s in the first third, %s in the last; %s", fmtNs(median(p99[:third])), fmtNs(median(p99[k-third:])), soak)),
		measuredRow("stability-variance", "variance", sd/mean,
			fmt.Sprintf("standard deviation over mean of the intervals' throughput: %s ± %s exec/s (min %s, max %s); %s", groupInt(int(mean)), groupInt(int(sd)), groupInt(int(slices.Min(thr))), groupInt(int(slices.Max(thr))), soak)),
	}
	if base := rss[third-1]; base > 0 {
		out = append(out, measuredRow("stability-rss-growth", "rss-growth", rss[k-1]/base,
			fmt.Sprintf("RSS %s after the first third, %s at the end (peak %s); %s", perf.FormatValue(perf.UnitBytes, base), perf.FormatValue(perf.UnitBytes, rss[k-1]), perf.FormatValue(perf.UnitBytes, slices.Max(rss)), soak)))
	}
	for i := range out {
		out[i].workload = perf.Workload{Target: "inproc", Transport: "inproc", Loop: "closed", Workers: standardWorkers, Duration: time.Duration(k) * iv, Warmup: s.cfg.Warmup,
			Mix: []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(noopMsg), Expect: "allow"}}, Config: map[string]string{"journal": "always", "interval": iv.String()}}
		out[i].runs = runs
	}
	return out, nil
}

func median(v []float64) float64 {
	c := slices.Clone(v)
	slices.Sort(c)
	if len(c) == 0 {
		return math.NaN()
	}
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func meanStddev(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)))
}

// Isolation load: hangWorkers calls of scenario.hang at a time (its whole
// pool, each held until its hangTimeout deadline) and panicRate calls of
// scenario.panic per second, beside isolationWorkers closed-loop noop
// workers.
const (
	isolationWorkers = 32
	hangWorkers      = 16
	hangTimeout      = time.Second
	panicRate        = 200
)

// scenarioIsolation measures noop alone and noop beside a hanging and a
// panicking capability in one runtime, alternately (twice each at full
// scale), and divides.
func scenarioIsolation(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	p, err := openScenarioRuntime(inprocConfig{journal: "always", caps: []capability.Capability{hangCap{}, panicCap{}},
		settings: map[string]capability.Settings{"scenario.hang": {Enabled: true, PoolSize: hangWorkers, Timeout: hangTimeout}, "scenario.panic": {Enabled: true}}})
	if err != nil {
		return nil, err
	}
	defer p.close()
	rounds := 2
	if s.cfg.Quick {
		rounds = 1
	}
	rc := perf.Config{Name: "Scenario/isolation", Workers: isolationWorkers, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup}
	// failing expects an answer that failed for the reason the capability
	// causes; anything else is an error of the neighbour load.
	failing := func(msg []byte, reason protocol.Reason) func(int) perf.Op {
		return func(int) perf.Op {
			req := request(msg)
			return func(ctx context.Context) error {
				a := p.rt.Execute(ctx, req)
				if a.Error == nil || a.Error.Reason != reason {
					return fmt.Errorf("want a %s answer, got %v", reason, a.Error)
				}
				return nil
			}
		}
	}
	var alone, beside []perf.Result
	var hangs, panics perf.Result
	for range rounds {
		alone = append(alone, perf.Run(ctx, rc, p.noopOp))
		nctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		long := perf.Config{Duration: time.Hour, Warmup: -1}
		wg.Go(func() {
			c := long
			c.Name, c.Workers = "Scenario/hang", hangWorkers
			hangs = perf.Run(nctx, c, failing(hangMsg, protocol.ReasonTimeout))
		})
		wg.Go(func() {
			c := long
			c.Name, c.Workers, c.Rate = "Scenario/panic", 8, panicRate
			panics = perf.Run(nctx, c, failing(panicMsg, protocol.ReasonPanic))
		})
		beside = append(beside, perf.Run(ctx, rc, p.noopOp))
		stop()
		wg.Wait()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	sumOf := func(rs []perf.Result, f func(perf.Result) float64) (v float64) {
		for _, r := range rs {
			if r.Ops == 0 {
				return math.NaN()
			}
			v += f(r)
		}
		return v / float64(len(rs))
	}
	thr := func(r perf.Result) float64 { return r.Throughput }
	p99 := func(r perf.Result) float64 { return float64(r.Latency.P99) }
	ta, tb, pa, pb := sumOf(alone, thr), sumOf(beside, thr), sumOf(alone, p99), sumOf(beside, p99)
	if math.IsNaN(ta + tb) {
		return nil, firstErr(slices.MinFunc(append(alone, beside...), func(a, b perf.Result) int { return int(a.Ops - b.Ops) }))
	}
	neighbours := fmt.Sprintf("beside %d calls of scenario.hang held until their %v deadline (its whole pool; %d answered timeout, %d other) and %d/s of scenario.panic (%d answered panic, %d other); noop closed loop, %d workers, journal always, in process, %d round(s) of %v",
		hangWorkers, hangTimeout, hangs.Ops, hangs.Errors, panicRate, panics.Ops, panics.Errors, isolationWorkers, rounds, s.cfg.Duration)
	out := []scenarioResult{
		measuredRow("isolation-throughput", "isolation-throughput", tb/ta,
			fmt.Sprintf("noop %s exec/s alone, %s %s", groupInt(int(ta)), groupInt(int(tb)), neighbours)),
		measuredRow("isolation-p99", "isolation-p99", pb/pa,
			fmt.Sprintf("noop p99 %s alone, %s %s", fmtNs(pa), fmtNs(pb), neighbours)),
	}
	for i := range out {
		out[i].workload = perf.Workload{Target: "inproc", Transport: "inproc", Loop: "closed", Workers: isolationWorkers, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup,
			Mix:    []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(noopMsg), Expect: "allow"}, {Name: "hang", Bytes: len(hangMsg), Expect: "timeout"}, {Name: "panic", Bytes: len(panicMsg), Expect: "panic"}},
			Config: map[string]string{"journal": "always", "hang": fmt.Sprintf("%d in flight, deadline %v", hangWorkers, hangTimeout), "panic": fmt.Sprintf("%d/s", panicRate)}}
		for j := range alone {
			out[i].runs = append(out[i].runs, repetition(alone[j], time.Now()), repetition(beside[j], time.Now()))
		}
	}
	return out, nil
}
