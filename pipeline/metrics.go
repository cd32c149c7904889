package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// outcome classifies a finished execution for femtoclaw_executions_total.
type outcome uint8

const (
	outSuccess      outcome = iota // capability ran and succeeded
	outCapError                    // capability ran and failed (or timed out, or panicked)
	outRejected                    // protocol error
	outDenied                      // authorization denial
	outOverloaded                  // admission refused
	outMessage                     // message form, recorded
	outMemoryError                 // journal failed after execution
	outShuttingDown                // refused during shutdown
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"success", "capability_error", "rejected", "denied", "overloaded", "message", "memory_error", "shutting_down"}

// metrics are the runtime's instruments, registered once in a
// stats.Registry; recording never touches the registry.
type metrics struct {
	validate      *stats.Histogram
	authorizeHit  *stats.Histogram
	authorizeMiss *stats.Histogram
	admit         *stats.Histogram
	dispatch      *stats.Histogram
	commit        *stats.Histogram
	overhead      *stats.Histogram
	total         *stats.Histogram

	outcomes  [numOutcomes]*stats.Counter
	decisions map[protocol.Decision]*stats.Counter
	errors    map[protocol.Category]*stats.Counter

	inFlight        *stats.Gauge
	eventsDropped   *stats.Counter
	eventsExported  *stats.Counter
	exportErrors    *stats.Counter
	overloadRejects *stats.Counter
	reg             *stats.Registry

	transportsMu sync.Mutex
	transports   atomic.Pointer[map[string]*stats.Histogram] // copy on write
}

// transport returns the end-to-end histogram of one ingress. Lookups are a
// plain map read; a new transport name copies the map once.
func (m *metrics) transport(name string) *stats.Histogram {
	if name == "" {
		name = "unknown"
	}
	if p := m.transports.Load(); p != nil {
		if h, ok := (*p)[name]; ok {
			return h
		}
	}
	m.transportsMu.Lock()
	defer m.transportsMu.Unlock()
	old := map[string]*stats.Histogram{}
	if p := m.transports.Load(); p != nil {
		if h, ok := (*p)[name]; ok {
			return h
		}
		old = *p
	}
	next := make(map[string]*stats.Histogram, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	h := m.reg.Histogram("femtoclaw_transport_execution_seconds", "End-to-end execution latency inside the runtime, per ingress transport.", stats.Label{Name: "transport", Value: name})
	next[name] = h
	m.transports.Store(&next)
	return h
}

func newMetrics(reg *stats.Registry) *metrics {
	m := &metrics{
		reg:             reg,
		validate:        reg.Histogram("femtoclaw_protocol_validation_seconds", "Protocol validation latency, including the argument schema check and the validation cache."),
		authorizeHit:    reg.Histogram("femtoclaw_authorization_seconds", "Authorization decision latency (registry, decision cache, policy).", stats.Label{Name: "cache", Value: "hit"}),
		authorizeMiss:   reg.Histogram("femtoclaw_authorization_seconds", "Authorization decision latency (registry, decision cache, policy).", stats.Label{Name: "cache", Value: "miss"}),
		admit:           reg.Histogram("femtoclaw_admission_wait_seconds", "Time spent in admission control and waiting for a capability pool worker."),
		dispatch:        reg.Histogram("femtoclaw_capability_dispatch_seconds", "Capability invocation overhead: from admission to the capability starting, and back."),
		commit:          reg.Histogram("femtoclaw_memory_commit_seconds", "Journal commit latency, including the fsync wait."),
		overhead:        reg.Histogram("femtoclaw_execution_overhead_seconds", "Runtime overhead per execution: everything except capability execution and the journal commit wait."),
		total:           reg.Histogram("femtoclaw_execution_duration_seconds", "End-to-end execution latency inside the runtime."),
		decisions:       map[protocol.Decision]*stats.Counter{},
		errors:          map[protocol.Category]*stats.Counter{},
		inFlight:        reg.Gauge("femtoclaw_executions_in_flight", "Executions admitted and not yet answered."),
		eventsDropped:   reg.Counter("femtoclaw_telemetry_dropped_total", "Telemetry events dropped because the event queue was full."),
		eventsExported:  reg.Counter("femtoclaw_telemetry_exported_total", "Telemetry events written by the exporter."),
		exportErrors:    reg.Counter("femtoclaw_telemetry_export_errors_total", "Telemetry exporter write failures (OBSERVABILITY_ERROR)."),
		overloadRejects: reg.Counter("femtoclaw_overload_rejections_total", "Executions refused at once because the in-flight bound was reached."),
	}
	for i := range m.outcomes {
		m.outcomes[i] = reg.Counter("femtoclaw_executions_total", "Executions finished, by outcome.", stats.Label{Name: "outcome", Value: outcomeNames[i]})
	}
	for _, d := range protocol.Decisions() {
		m.decisions[d] = reg.Counter("femtoclaw_authorization_decisions_total", "Authorization decisions, by decision code.", stats.Label{Name: "decision", Value: string(d)})
	}
	for _, c := range protocol.Categories() {
		m.errors[c] = reg.Counter("femtoclaw_errors_total", "Errors reported in answers, by category.", stats.Label{Name: "category", Value: string(c)})
	}
	return m
}

// capHistogram returns the execution-time histogram of one capability.
func (m *metrics) capHistogram(name string) *stats.Histogram {
	return m.reg.Histogram("femtoclaw_capability_execution_seconds", "Capability execution time, per capability.", stats.Label{Name: "capability", Value: name})
}
