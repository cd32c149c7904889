package pipeline

import (
	"bufio"
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
	// it never blocks an execution. If zero, defaults to 65536.
	Queue int
	// Output receives the events as JSON Lines. If nil, events are
	// drained and counted but not written.
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
		c.Queue = 1 << 16
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
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newSink(cfg TelemetryConfig, m *metrics, log *slog.Logger) *sink {
	cfg = cfg.withDefaults()
	s := &sink{q: xsync.NewMPMCQueue[*Event](cfg.Queue), cfg: cfg, m: m, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
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
	}
}

func (s *sink) close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

func (s *sink) run() {
	defer close(s.done)
	var w *bufio.Writer
	if s.cfg.Output != nil {
		w = bufio.NewWriterSize(s.cfg.Output, 64<<10)
	}
	buf := make([]byte, 0, 4096)
	tick := time.NewTicker(s.cfg.FlushEvery)
	defer tick.Stop()
	failing := false
	drain := func() {
		for {
			e, ok := s.q.TryDequeue()
			if !ok {
				return
			}
			if w == nil {
				continue
			}
			buf = appendEvent(buf[:0], e)
			if _, err := w.Write(buf); err != nil {
				s.exportFailed(err, &failing)
				w.Reset(s.cfg.Output)
				continue
			}
			s.m.eventsExported.Add(uint64(e.lines()))
		}
	}
	flush := func() {
		if w != nil && w.Buffered() > 0 {
			if err := w.Flush(); err != nil {
				s.exportFailed(err, &failing)
				w.Reset(s.cfg.Output)
				return
			}
			failing = false
		}
	}
	for {
		select {
		case <-s.stop:
			drain()
			flush()
			return
		case <-tick.C:
			drain()
			flush()
		}
	}
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

func (e *Event) lines() int {
	if e.Type != "" {
		return 1
	}
	n := int(e.N)
	if e.Decision != "" {
		n++
	}
	if e.Category != "" {
		n++
	}
	return n
}

// appendEvent writes e as JSON Lines: one state_transition line per
// transition, then authorization_decision and error lines. Arguments and
// credentials are never part of an event, so nothing needs redacting.
func appendEvent(b []byte, e *Event) []byte {
	ts := func(b []byte, ns int64) []byte {
		b = append(b, `{"timestamp":"`...)
		b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"', ',')
	}
	common := func(b []byte) []byte {
		b = append(b, `"execution_id":`...)
		b = protocol.AppendString(b, e.ExecutionID)
		if e.Principal != "" {
			b = append(b, `,"principal":`...)
			b = protocol.AppendString(b, e.Principal)
		}
		if e.Capability != "" {
			b = append(b, `,"capability":`...)
			b = protocol.AppendString(b, e.Capability)
		}
		if e.Transport != "" {
			b = append(b, `,"transport":`...)
			b = protocol.AppendString(b, e.Transport)
		}
		return b
	}
	if e.Type != "" {
		b = ts(b, e.WallNs)
		b = append(b, `"event_type":`...)
		b = protocol.AppendString(b, e.Type)
		b = append(b, `,"message":`...)
		b = protocol.AppendString(b, e.Message)
		return append(b, '}', '\n')
	}
	prev := protocol.StateIdle
	for i := 0; i < int(e.N); i++ {
		b = ts(b, e.WallNs+e.At[i])
		b = append(b, `"event_type":"state_transition",`...)
		b = common(b)
		b = append(b, `,"previous_state":"`...)
		b = append(b, prev...)
		b = append(b, `","new_state":"`...)
		b = append(b, e.States[i]...)
		b = append(b, "\"}\n"...)
		prev = e.States[i]
	}
	if e.Decision != "" {
		b = ts(b, e.WallNs)
		b = append(b, `"event_type":"authorization_decision",`...)
		b = common(b)
		b = append(b, `,"decision":"`...)
		b = append(b, e.Decision...)
		b = append(b, `","rule":`...)
		b = protocol.AppendString(b, e.Rule)
		b = append(b, "}\n"...)
	}
	if e.Category != "" {
		at := e.WallNs
		if e.N > 0 {
			at += e.At[e.N-1]
		}
		b = ts(b, at)
		b = append(b, `"event_type":"error",`...)
		b = common(b)
		b = append(b, `,"category":"`...)
		b = append(b, e.Category...)
		b = append(b, `","reason":"`...)
		b = append(b, e.Reason...)
		b = append(b, "\"}\n"...)
	}
	return b
}
