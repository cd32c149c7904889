package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// target is what a load run drives: the runtime in process, an HTTP/3
// server or a ring. open* builds one; close releases it.
type target struct {
	name     string        // the benchmark name, before the load's own keys
	workload perf.Workload // Target, Transport, Conns and Config; the driver fills the rest
	calls    []perf.Call
	// run performs one repetition.
	run func(ctx context.Context, cfg perf.Config) perf.Result
	// check sends one request of calls[i] and checks its answer.
	check   func(ctx context.Context, c *perf.Call) error
	server  *serverProbe
	dataDir string // the journal's data directory, when this host can see it
	close   func()
}

// checkHint says what a server needs for a standard mix entry whose
// check failed.
func checkHint(name string, inproc bool) string {
	switch {
	case name == "slow" && !inproc:
		return "; the server must allow shell to run sleep: capabilities.shell {enabled: true, allowed_bins: [sleep]} and a policy rule such as " +
			"{id: fcload-slow, effect: allow, capabilities: [shell], args: {bin: {in: [sleep]}}} for this principal"
	case name == "denied":
		return "; the server must deny fs.read of \"fcload-denied\" to this principal (fs.read is disabled by default)"
	case name == "noop" || strings.HasPrefix(name, "echo-"):
		return "; the server must enable and allow " + strings.SplitN(name, "-", 2)[0] + " for this principal (the default policy does)"
	}
	return ""
}

// load runs o against its target and reports.
func load(ctx context.Context, o options, stdout, stderr io.Writer) error {
	var t *target
	var err error
	switch o.target {
	case "inproc":
		t, err = openInproc(o, stderr)
	case "ipc":
		t, err = openIPC(ctx, o)
	default:
		t, err = openRemote(o)
	}
	if err != nil {
		return err
	}
	defer t.close()
	if o.check {
		for i := range t.calls {
			c := &t.calls[i]
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second+o.slowDelay)
			err := t.check(cctx, c)
			cancel()
			if err != nil {
				return fmt.Errorf("-check: mix entry %s (%s): %v%s; not measuring", c.Name, perf.Clip(c.Message), err, checkHint(c.Name, o.target == "inproc"))
			}
		}
	}

	rep := &perf.Report{Schema: perf.ResultSchema, Name: benchName(t.name, o, t.calls), Started: time.Now().UTC()}
	rep.Environment = perf.CollectEnvironment(version, t.dataDir)
	wl := t.workload
	wl.Loop, wl.Workers, wl.Rate, wl.Duration, wl.Count, wl.Timeout = "closed", o.workers, o.rate, o.duration, o.requests, o.timeout
	if o.rate > 0 {
		wl.Loop = "open"
	}
	if o.warmup > 0 {
		wl.Warmup = o.warmup
	}
	wl.Mix = perf.Entries(t.calls)
	wl.MaxErrorRate, wl.Grace = o.maxErrorRate, o.grace
	rep.Workload = wl

	mon := newMonitor(t.server)
	prog := newProgress(stderr, o.progress || isTerminal(stderr))
	warmup := o.warmup
	if warmup == 0 {
		warmup = -1 // 0 means none here (perf.Config's zero is its default)
	}
	grace := o.grace
	if grace == 0 {
		grace = -1
	}
	cfg := perf.Config{Name: rep.Name, Workers: o.workers, Duration: o.duration, Warmup: warmup, Rate: o.rate, Grace: grace,
		Count: o.requests, Timeout: o.timeout, Mix: wl.Mix,
		OnPhase: mon.phase,
		Tick: func(iv perf.Interval) {
			mon.sample()
			prog.tick(iv)
		}}
	for range o.count {
		prog.start()
		r := t.run(ctx, cfg)
		prog.done()
		run := r.Repetition()
		mon.endRun(&run)
		rep.Runs = append(rep.Runs, run)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Server = mon.report(rep.Runs)
	rep.Failure = verdict(rep, ctx.Err() != nil)

	if o.jsonFile != "" {
		if err := writeJSON(o.jsonFile, rep, stdout); err != nil {
			return err
		}
	}
	if o.jsonFile != "-" {
		rep.WriteTable(stdout)
	}
	if o.bench {
		rep.WriteBench(stdout)
	}
	if rep.Failure != "" {
		return runFailed{rep.Failure}
	}
	return nil
}

// verdict is why the run failed, or "": a run without any OK request,
// or a run whose error rate is above the maximum.
func verdict(rep *perf.Report, interrupted bool) string {
	max := rep.Workload.MaxErrorRate
	for i := range rep.Runs {
		r := &rep.Runs[i]
		which := ""
		if len(rep.Runs) > 1 {
			which = fmt.Sprintf("run %d: ", i+1)
		}
		if r.OK == 0 {
			return fmt.Sprintf("%sno request succeeded (%d sent, %d errors%s)", which, r.Sent, r.Errors, topCategories(r.ByCategory))
		}
		if rate := r.ErrorRate(); rate > max {
			return fmt.Sprintf("%serror rate %.4g%% (%d errors of %d requests%s) is above -max-error-rate %g", which, rate*100, r.Errors, r.OK+r.Errors, topCategories(r.ByCategory), max)
		}
	}
	if len(rep.Runs) == 0 {
		if interrupted {
			return "interrupted before any run was measured"
		}
		return "no run was measured"
	}
	return ""
}

func topCategories(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for c, n := range m {
		parts = append(parts, fmt.Sprintf("%s %d", c, n))
	}
	slices.Sort(parts)
	if len(parts) > 4 {
		parts = append(parts[:4], "…")
	}
	return ": " + strings.Join(parts, ", ")
}

func writeJSON(path string, rep *perf.Report, stdout io.Writer) error {
	if path == "-" {
		return rep.WriteJSON(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("-json: %w", err)
	}
	return f.Close()
}

// benchName is the target's name with the load's keys that old result
// files lack only when they apply: rate= for an open loop, mix= for a
// mix other than the default.
func benchName(base string, o options, calls []perf.Call) string {
	if o.rate > 0 {
		base += fmt.Sprintf("/rate=%g", o.rate)
	}
	if o.mixGiven {
		parts := make([]string, len(calls))
		for i, c := range calls {
			parts[i] = fmt.Sprintf("%s:%d", c.Name, c.Weight)
		}
		base += "/mix=" + strings.Join(parts, "+")
	}
	return base
}

// mixOptions are the target-dependent parts of the mix.
func mixOptions(o options, slow []byte, slowWhy string) perf.MixOptions {
	return perf.MixOptions{Message: []byte(o.msg), Expect: o.expect, Slow: slow, SlowUnavailable: slowWhy}
}

// remoteSlowMessage is the slow entry on a server: shell running sleep
// for d (see checkHint for what the server needs).
func remoteSlowMessage(d time.Duration) []byte {
	return fmt.Appendf(nil, `{"tool_call":{"tool":"shell","args":{"bin":"sleep","argv":["%.3f"]}}}`, d.Seconds())
}

// progress is the live line on standard error.
type progress struct {
	w    io.Writer
	on   bool
	tty  bool
	errs int64
	any  bool
}

func newProgress(w io.Writer, on bool) *progress {
	return &progress{w: w, on: on, tty: isTerminal(w)}
}

func (p *progress) start() { p.errs, p.any = 0, false }

func (p *progress) tick(iv perf.Interval) {
	if !p.on {
		return
	}
	p.errs += iv.Errors
	line := perf.FormatProgress(iv, p.errs)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.any = true
}

func (p *progress) done() {
	if p.on && p.tty && p.any {
		fmt.Fprintln(p.w)
	}
}
