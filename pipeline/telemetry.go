package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TelemetryConfig configures the event sink. The zero value is usable:
// events are queued, counted and discarded (no exporter output).
type TelemetryConfig struct {
	// Queue is the capacity of the lock-free event queue, in executions.
	// A full queue drops and counts (femtoclaw_telemetry_dropped_total);
	// it never blocks an execution. If zero, defaults to 16384.
	Queue int
	// Output receives the events as JSON Lines, written through log/slog's
	// JSON handler (with secret-bearing attributes redacted). If nil,
	// events are drained and counted but not written.
	Output io.Writer
	// TransitionSample is the fraction (0..1] of successful executions
	// whose state transitions and decision are exported; failed, denied
	// and rejected executions are always exported. If zero, defaults to 1
	// (every execution).
	TransitionSample float64
	// FlushEvery bounds how long a written event may sit in the
	// exporter's buffer, and how often an idle exporter polls the queue.
	// If zero, defaults to 50 ms.
	FlushEvery time.Duration
}

func (c TelemetryConfig) withDefaults() TelemetryConfig {
	if c.Queue <= 0 {
		c.Queue = 1 << 14
	}
	if c.TransitionSample <= 0 || c.TransitionSample > 1 {
		c.TransitionSample = 1
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = 50 * time.Millisecond
	}
	return c
}

// maxTransitions is the longest state path of one execution.
const maxTransitions = 8

// Event is what the hot path hands to the sink: one per execution,
// carrying every state transition with its time and the decision, so an
// execution costs one enqueue however many events it expands to. System
// events (startup, shutdown, reloads) set Type and Message instead.
type Event struct {
	Type        string // "" for an execution; else e.g. "runtime_startup", "policy_load"
	Message     string
	ExecutionID string
	Principal   string
	Capability  string
	Transport   string
	Decision    protocol.Decision
	Rule        string
	Category    protocol.Category
	Reason      protocol.Reason
	WallNs      int64 // wall clock of INPUT_RECEIVED, Unix ns
	N           uint8
	States      [maxTransitions]protocol.State
	At          [maxTransitions]int64 // ns after WallNs
}

func (e *Event) transition(s protocol.State, at int64) {
	if int(e.N) < maxTransitions {
		e.States[e.N], e.At[e.N] = s, at
		e.N++
	}
}

// sink is the asynchronous, bounded, drop-counted telemetry path. Its one
// goroutine (the exporter) is owned by the Runtime: started by newSink,
// stopped by close, which drains what is queued first.
type sink struct {
	q        *xsync.MPMCQueue[*Event]
	cfg      TelemetryConfig
	sampleLT uint64 // export a success when its hash < sampleLT
	m        *metrics
	log      *slog.Logger
	kick     chan struct{} // cap 1: "the queue is not empty"
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	werr     error // first output error since the last flush (exporter goroutine only)
}

func newSink(cfg TelemetryConfig, m *metrics, log *slog.Logger) *sink {
	cfg = cfg.withDefaults()
	s := &sink{q: xsync.NewMPMCQueue[*Event](cfg.Queue), cfg: cfg, m: m, log: log,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.TransitionSample >= 1 {
		s.sampleLT = ^uint64(0)
	} else {
		s.sampleLT = uint64(cfg.TransitionSample * float64(^uint64(0)))
	}
	go s.run()
	return s
}

// sampled reports whether a successful execution with this id hash is exported.
func (s *sink) sampled(h uint64) bool { return h*0x9e3779b97f4a7c15 <= s.sampleLT }

// emit enqueues e; it never blocks. A full queue counts a drop. e must
// not be modified afterwards: the queue holds the pointer, not a copy (an
// event is part of its execution's one allocation, so this costs nothing).
func (s *sink) emit(e *Event) {
	if !s.q.TryEnqueue(e) {
		s.m.eventsDropped.Inc()
		return
	}
	// Wake the exporter so events (and the executions they belong to) do
	// not wait for the next tick. A full kick channel means it is awake
	// already: the non-blocking send then costs a few ns and no lock.
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// signalStop tells the exporter to drain what is queued and exit; it
// does not wait.
func (s *sink) signalStop() { s.once.Do(func() { close(s.stop) }) }

// close stops the exporter after it drains the queue, or when ctx ends
// (a stalled output must not hold shutdown hostage: the exporter is then
// abandoned, and what it had not written is lost).
func (s *sink) close(ctx context.Context) error {
	s.signalStop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pipeline: telemetry exporter still writing at shutdown; undrained events dropped: %w", ctx.Err())
	}
}

func (s *sink) run() {
	defer close(s.done)
	var w *bufio.Writer
	var h slog.Handler
	if s.cfg.Output != nil {
		w = bufio.NewWriterSize(&errWriter{w: s.cfg.Output, err: &s.werr}, 64<<10)
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: eventAttr})
	}
	tick := time.NewTicker(s.cfg.FlushEvery)
	defer tick.Stop()
	failing := false
	drain := func() {
		for {
			e, ok := s.q.TryDequeue()
			if !ok {
				return
			}
			if h == nil {
				continue
			}
			s.m.eventsExported.Add(uint64(exportEvent(h, e)))
		}
	}
	flush := func() {
		if w == nil {
			return
		}
		if err := w.Flush(); err != nil || s.werr != nil {
			if err == nil {
				err = s.werr
			}
			s.exportFailed(err, &failing)
			s.werr = nil
			w.Reset(&errWriter{w: s.cfg.Output, err: &s.werr})
			return
		}
		failing = false
	}
	for {
		select {
		case <-s.stop:
			drain()
			flush()
			return
		case <-s.kick:
			drain()
		case <-tick.C:
			drain()
			flush()
		}
	}
}

// errWriter remembers the first write error of the exporter's output.
type errWriter struct {
	w   io.Writer
	err *error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && *e.err == nil {
		*e.err = err
	}
	return n, err
}

// eventAttr shapes slog's JSON into the event format: "timestamp" and
// "event_type" instead of "time" and "msg", no level; and it redacts any
// attribute that could carry a secret.
func eventAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			return slog.Time("timestamp", a.Value.Time().UTC())
		case slog.MessageKey:
			a.Key = "event_type"
			return a
		case slog.LevelKey:
			return slog.Attr{}
		}
	}
	return RedactAttr(groups, a)
}

// exportEvent writes e through h: one state_transition record per
// transition, then authorization_decision and error records. Arguments
// and credentials are never part of an event.
func exportEvent(h slog.Handler, e *Event) int {
	ctx := context.Background()
	if e.Type != "" {
		r := slog.NewRecord(time.Unix(0, e.WallNs), slog.LevelInfo, e.Type, 0)
		r.AddAttrs(slog.String("message", e.Message))
		_ = h.Handle(ctx, r)
		return 1
	}
	common := func(r *slog.Record) {
		r.AddAttrs(slog.String("execution_id", e.ExecutionID))
		if e.Principal != "" {
			r.AddAttrs(slog.String("principal", e.Principal))
		}
		if e.Capability != "" {
			r.AddAttrs(slog.String("capability", e.Capability))
		}
		if e.Transport != "" {
			r.AddAttrs(slog.String("transport", e.Transport))
		}
	}
	n := 0
	prev := protocol.StateIdle
	for i := 0; i < int(e.N); i++ {
		r := slog.NewRecord(time.Unix(0, e.WallNs+e.At[i]), slog.LevelInfo, "state_transition", 0)
		common(&r)
		r.AddAttrs(slog.String("previous_state", string(prev)), slog.String("new_state", string(e.States[i])))
		_ = h.Handle(ctx, r)
		prev = e.States[i]
		n++
	}
	if e.Decision != "" {
		r := slog.NewRecord(time.Unix(0, e.WallNs), slog.LevelInfo, "authorization_decision", 0)
		common(&r)
		r.AddAttrs(slog.String("decision", string(e.Decision)), slog.String("rule", e.Rule))
		_ = h.Handle(ctx, r)
		n++
	}
	if e.Category != "" {
		at := e.WallNs
		if e.N > 0 {
			at += e.At[e.N-1]
		}
		r := slog.NewRecord(time.Unix(0, at), slog.LevelInfo, "error", 0)
		common(&r)
		r.AddAttrs(slog.String("category", string(e.Category)), slog.String("reason", string(e.Reason)))
		_ = h.Handle(ctx, r)
		n++
	}
	return n
}

// exportFailed records an OBSERVABILITY_ERROR; execution goes on. It logs
// once per run of failures, not once per event.
func (s *sink) exportFailed(err error, failing *bool) {
	s.m.exportErrors.Inc()
	s.m.errors[protocol.CategoryObservability].Inc()
	if !*failing {
		*failing = true
		s.log.Error("telemetry export failed; events are being dropped until it recovers",
			"category", string(protocol.CategoryObservability), "err", err)
	}
}
