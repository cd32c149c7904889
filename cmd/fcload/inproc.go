package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// slowCapability is the inproc mix entry slow: a capability that waits a
// fixed delay (or until its deadline), effects read, so it runs in a pool
// as a slow real capability would.
type slowCapability struct{ delay time.Duration }

const slowName = "fcload.slow"

func (*slowCapability) Name() string    { return slowName }
func (*slowCapability) Version() string { return "1.0.0" }
func (*slowCapability) Description() string {
	return "Waits a fixed delay and returns {}: fcload's slow capability."
}
func (*slowCapability) Schema() []byte {
	return []byte(`{"type":"object","additionalProperties":false}`)
}
func (*slowCapability) Effects() capability.Effects { return capability.EffectsRead }
func (c *slowCapability) Execute(ctx context.Context, _ *capability.Request) ([]byte, error) {
	t := time.NewTimer(c.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return []byte("{}"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// slowPolicy is the default policy with a rule for the slow capability.
const slowPolicy = `
  - id: fcload.slow
    effect: allow
    principals: ["*"]
    capabilities: [` + slowName + `]
`

// openInproc runs the runtime in this process: the built-in capabilities
// with noop and echo enabled (and fcload.slow when the mix has slow), the
// default policy, a journal in -data-dir or a temporary directory.
func openInproc(o options, stderr io.Writer) (*target, error) {
	slowMsg := []byte(`{"tool_call":{"tool":"` + slowName + `","args":{}}}`)
	calls, err := perf.ParseMix(o.mix, mixOptions(o, slowMsg, ""))
	if err != nil {
		return nil, usageError{err.Error()}
	}
	var closers []func()
	t := &target{close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	fail := func(err error) (*target, error) { t.close(); return nil, err }

	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		return nil, err
	}
	settings := map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}}
	pol := policy.Default()
	for _, c := range calls {
		if c.Name == "slow" {
			caps = append(caps, &slowCapability{delay: o.slowDelay})
			settings[slowName] = capability.Settings{Enabled: true, PoolSize: max(o.workers, capability.DefaultPoolSize)}
			if pol, err = policy.Parse(append(policy.DefaultDocument(), slowPolicy...)); err != nil {
				return nil, err
			}
		}
	}
	reg, err := capability.NewRegistry(caps, settings)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := pipeline.Config{Logger: log, MaxInFlight: max(10000, o.workers)}
	cfg.Metrics = stats.NewRegistry()
	var j *journal.Journal
	if o.journalMode != "none" {
		dir := o.dataDir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "fcload-"); err != nil {
				return nil, err
			}
			closers = append(closers, func() { os.RemoveAll(dir) })
		}
		lock, err := journal.LockDir(dir, "fcload -target inproc")
		if err != nil {
			return fail(fmt.Errorf("data directory: %w", err))
		}
		closers = append(closers, func() { lock.Unlock() })
		t.dataDir = dir
		j, err = journal.Open(journal.Config{Dir: filepath.Join(dir, "journal"), Durability: journal.Durability(o.journalMode), Logger: log})
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() {
			fmt.Fprintf(stderr, "journal: %+v\n", j.Stats())
			j.Close()
		})
		cfg.Journal, cfg.Durable = j, o.journalMode == "always"
	}
	rt, err := pipeline.Open(cfg, reg, pol)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { rt.Shutdown(context.Background()) })
	if o.adminAddr != "" {
		a, err := admin.New(admin.Config{Addr: o.adminAddr, Metrics: cfg.Metrics, Logger: log})
		if err != nil {
			return fail(err)
		}
		if err := a.Start(); err != nil {
			return fail(err)
		}
		closers = append(closers, func() { a.Shutdown(context.Background()) })
		fmt.Fprintf(stderr, "admin listener on %s: femtoclaw stats --admin %s\n", a.Addr(), a.Addr())
	}
	var acked *ackLog
	if o.ackedFile != "" {
		if acked, err = openAckLog(o.ackedFile); err != nil {
			return fail(err)
		}
		closers = append(closers, acked.close)
	}

	journaled := cfg.Journal != nil
	execute := func(ctx context.Context, c *perf.Call, req *pipeline.Request) error {
		a := rt.Execute(ctx, req)
		if err := c.Check(a); err != nil {
			return err
		}
		if a.Error == nil && journaled && a.Journal.Seq == 0 {
			return perf.Fail(perf.CategoryUnexpectedAnswer, errors.New(c.Name+": answer without a journal sequence"))
		}
		if acked != nil && a.Error == nil {
			acked.add(a)
		}
		return nil
	}
	newRequests := func() []*pipeline.Request {
		reqs := make([]*pipeline.Request, len(calls))
		for i := range calls {
			reqs[i] = &pipeline.Request{Message: calls[i].Message, Principal: o.principal, Transport: "inproc"}
		}
		return reqs
	}
	t.name = fmt.Sprintf("Fcload/target=inproc/journal=%s/workers=%d", o.journalMode, o.workers)
	t.calls = calls
	t.workload = perf.Workload{Target: "inproc", Transport: "inproc", Config: map[string]string{"journal": o.journalMode, "principal": o.principal}}
	t.server = &serverProbe{pid: os.Getpid(), version: version, address: "in process", self: true, metrics: cfg.Metrics}
	t.check = func(ctx context.Context, c *perf.Call) error {
		return execute(ctx, c, &pipeline.Request{Message: c.Message, Principal: o.principal, Transport: "inproc"})
	}
	t.run = func(ctx context.Context, pc perf.Config) perf.Result {
		return perf.RunMix(ctx, pc, func(int) perf.MixOp {
			reqs := newRequests()
			return func(ctx context.Context, entry int) error { return execute(ctx, &calls[entry], reqs[entry]) }
		})
	}
	return t, nil
}

// ackLog appends one line per acknowledged execution to a file, with one
// write(2) each: the page cache keeps every line across a SIGKILL of this
// process, so a crash test can check each acknowledged record, by seq,
// execution id and content, against the journal after a restart.
type ackLog struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

func openAckLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &ackLog{f: f}, nil
}

func (l *ackLog) add(a *protocol.Answer) {
	l.mu.Lock()
	l.buf = fmt.Appendf(l.buf[:0], "%d %s %s %s\n", a.Journal.Seq, a.ExecutionID, a.State, a.Status)
	l.f.Write(l.buf)
	l.mu.Unlock()
}

func (l *ackLog) close() { l.f.Close() }
