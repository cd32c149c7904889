package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Metric family names the runtime registers in Config.Metrics. They are
// part of the runtime's operating interface (dashboards and alerts key on
// them) and are spelled here once: the admin listener, the CLI and tests
// use these constants. Histograms are in seconds; counters end in _total.
const (
	// MetricProtocolValidationSeconds is protocol validation latency,
	// including the argument schema check and the validation cache.
	MetricProtocolValidationSeconds = "femtoclaw_protocol_validation_seconds"
	// MetricAuthorizationSeconds is authorization decision latency, by
	// LabelCache (hit, miss).
	MetricAuthorizationSeconds = "femtoclaw_authorization_seconds"
	// MetricAdmissionWaitSeconds is time in admission control and waiting
	// for a capability pool worker.
	MetricAdmissionWaitSeconds = "femtoclaw_admission_wait_seconds"
	// MetricCapabilityDispatchSeconds is capability invocation overhead.
	MetricCapabilityDispatchSeconds = "femtoclaw_capability_dispatch_seconds"
	// MetricMemoryCommitSeconds is journal commit latency, including the
	// fsync wait.
	MetricMemoryCommitSeconds = "femtoclaw_memory_commit_seconds"
	// MetricExecutionOverheadSeconds is the runtime's own time per
	// execution (everything but the capability and the commit wait).
	MetricExecutionOverheadSeconds = "femtoclaw_execution_overhead_seconds"
	// MetricExecutionDurationSeconds is end-to-end execution latency
	// inside the runtime.
	MetricExecutionDurationSeconds = "femtoclaw_execution_duration_seconds"
	// MetricTransportExecutionSeconds is end-to-end execution latency by
	// LabelTransport (the ingress).
	MetricTransportExecutionSeconds = "femtoclaw_transport_execution_seconds"
	// MetricCapabilityExecutionSeconds is capability execution time by
	// LabelCapability.
	MetricCapabilityExecutionSeconds = "femtoclaw_capability_execution_seconds"
	// MetricExecutionsTotal counts finished executions by LabelOutcome.
	MetricExecutionsTotal = "femtoclaw_executions_total"
	// MetricAuthorizationDecisionsTotal counts decisions by LabelDecision.
	MetricAuthorizationDecisionsTotal = "femtoclaw_authorization_decisions_total"
	// MetricErrorsTotal counts errors reported in answers by LabelCategory.
	MetricErrorsTotal = "femtoclaw_errors_total"
	// MetricExecutionsInFlight is the gauge of admitted, unanswered
	// executions.
	MetricExecutionsInFlight = "femtoclaw_executions_in_flight"
	// MetricTelemetryDroppedTotal counts telemetry events dropped on a
	// full queue.
	MetricTelemetryDroppedTotal = "femtoclaw_telemetry_dropped_total"
	// MetricTelemetryExportedTotal counts telemetry events written.
	MetricTelemetryExportedTotal = "femtoclaw_telemetry_exported_total"
	// MetricTelemetryExportErrorsTotal counts telemetry write failures.
	MetricTelemetryExportErrorsTotal = "femtoclaw_telemetry_export_errors_total"
	// MetricOverloadRejectionsTotal counts executions refused at the
	// in-flight bound.
	MetricOverloadRejectionsTotal = "femtoclaw_overload_rejections_total"
	// MetricIdempotencyConflictsTotal counts keys reused for another call.
	MetricIdempotencyConflictsTotal = "femtoclaw_idempotency_conflicts_total"
	// MetricIdempotencyKeys is the number of idempotency keys remembered.
	MetricIdempotencyKeys = "femtoclaw_idempotency_keys"
	// MetricPoolRunning, MetricPoolWaiting and MetricPoolCapacity are
	// gauges of each pooled capability's bulkhead (label LabelCapability):
	// workers busy, calls queued, and the pool size.
	MetricPoolRunning  = "femtoclaw_pool_running"
	MetricPoolWaiting  = "femtoclaw_pool_waiting"
	MetricPoolCapacity = "femtoclaw_pool_capacity"
	// MetricCacheLimitBytes is the configured bound of the validation and
	// decision caches together, in bytes.
	MetricCacheLimitBytes = "femtoclaw_cache_entries_limit_bytes"
	// MetricPolicyShadowEvaluationsTotal counts the calls a shadow
	// candidate policy decided beside the active one (cached verdicts
	// included).
	MetricPolicyShadowEvaluationsTotal = "femtoclaw_policy_shadow_evaluations_total"
	// MetricPolicyShadowDifferencesTotal counts the calls on which the
	// candidate's verdict (decision or rule) differed from the active
	// one's, by LabelShadowActive and LabelShadowCandidate (allow, deny).
	// The runtime acted on the active verdict.
	MetricPolicyShadowDifferencesTotal = "femtoclaw_policy_shadow_differences_total"
	// MetricPolicyShadowLoaded is 1 while a shadow candidate is loaded.
	MetricPolicyShadowLoaded = "femtoclaw_policy_shadow_loaded"
)

// Label names of the runtime's metric families.
const (
	LabelOutcome    = "outcome"    // MetricExecutionsTotal: success, capability_error, rejected, …
	LabelCache      = "cache"      // MetricAuthorizationSeconds: hit, miss
	LabelTransport  = "transport"  // MetricTransportExecutionSeconds: http3, inproc, …
	LabelCapability = "capability" // MetricCapabilityExecutionSeconds: the capability name
	LabelDecision   = "decision"   // MetricAuthorizationDecisionsTotal: a protocol.Decision
	LabelCategory   = "category"   // MetricErrorsTotal: a protocol.Category
	// MetricPolicyShadowDifferencesTotal: the active and the candidate
	// policy's verdicts, each "allow" or "deny" (a difference of rule only
	// has equal values).
	LabelShadowActive    = "active"
	LabelShadowCandidate = "candidate"
)

// outcome classifies a finished execution for MetricExecutionsTotal.
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
	outReplayed                    // answered again for a repeated idempotency key
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"success", "capability_error", "rejected", "denied", "overloaded", "message", "memory_error", "shutting_down", "replayed"}

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

	inFlight             *stats.Gauge
	eventsDropped        *stats.Counter
	eventsExported       *stats.Counter
	exportErrors         *stats.Counter
	overloadRejects      *stats.Counter
	idempotencyConflicts *stats.Counter
	shadowEvaluations    *stats.Counter
	shadowDifferences    [2][2]*stats.Counter // [active allowed][candidate allowed]
	reg                  *stats.Registry

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
	h := m.reg.Histogram(MetricTransportExecutionSeconds, "End-to-end execution latency inside the runtime, per ingress transport.", stats.Label{Name: LabelTransport, Value: name})
	next[name] = h
	m.transports.Store(&next)
	return h
}

func newMetrics(reg *stats.Registry) *metrics {
	m := &metrics{
		reg:                  reg,
		validate:             reg.Histogram(MetricProtocolValidationSeconds, "Protocol validation latency, including the argument schema check and the validation cache."),
		authorizeHit:         reg.Histogram(MetricAuthorizationSeconds, "Authorization decision latency (registry, decision cache, policy).", stats.Label{Name: LabelCache, Value: "hit"}),
		authorizeMiss:        reg.Histogram(MetricAuthorizationSeconds, "Authorization decision latency (registry, decision cache, policy).", stats.Label{Name: LabelCache, Value: "miss"}),
		admit:                reg.Histogram(MetricAdmissionWaitSeconds, "Time spent in admission control and waiting for a capability pool worker."),
		dispatch:             reg.Histogram(MetricCapabilityDispatchSeconds, "Capability invocation overhead: from admission to the capability starting, and back."),
		commit:               reg.Histogram(MetricMemoryCommitSeconds, "Journal commit latency, including the fsync wait."),
		overhead:             reg.Histogram(MetricExecutionOverheadSeconds, "Runtime overhead per execution: everything except capability execution and the journal commit wait."),
		total:                reg.Histogram(MetricExecutionDurationSeconds, "End-to-end execution latency inside the runtime."),
		decisions:            map[protocol.Decision]*stats.Counter{},
		errors:               map[protocol.Category]*stats.Counter{},
		inFlight:             reg.Gauge(MetricExecutionsInFlight, "Executions admitted and not yet answered."),
		eventsDropped:        reg.Counter(MetricTelemetryDroppedTotal, "Telemetry events dropped because the event queue was full."),
		eventsExported:       reg.Counter(MetricTelemetryExportedTotal, "Telemetry events written by the exporter."),
		exportErrors:         reg.Counter(MetricTelemetryExportErrorsTotal, "Telemetry exporter write failures (OBSERVABILITY_ERROR)."),
		overloadRejects:      reg.Counter(MetricOverloadRejectionsTotal, "Executions refused at once because the in-flight bound was reached."),
		idempotencyConflicts: reg.Counter(MetricIdempotencyConflictsTotal, "Requests refused because their Idempotency-Key was used for a different call."),
		shadowEvaluations:    reg.Counter(MetricPolicyShadowEvaluationsTotal, "Calls a shadow candidate policy decided beside the active policy."),
	}
	verdicts := [2]string{"deny", "allow"}
	for a := range 2 {
		for c := range 2 {
			m.shadowDifferences[a][c] = reg.Counter(MetricPolicyShadowDifferencesTotal, "Calls on which the shadow candidate's verdict (decision or rule) differed from the active policy's, which was acted on.",
				stats.Label{Name: LabelShadowActive, Value: verdicts[a]}, stats.Label{Name: LabelShadowCandidate, Value: verdicts[c]})
		}
	}
	for i := range m.outcomes {
		m.outcomes[i] = reg.Counter(MetricExecutionsTotal, "Executions finished, by outcome.", stats.Label{Name: LabelOutcome, Value: outcomeNames[i]})
	}
	for _, d := range protocol.Decisions() {
		m.decisions[d] = reg.Counter(MetricAuthorizationDecisionsTotal, "Authorization decisions, by decision code.", stats.Label{Name: LabelDecision, Value: string(d)})
	}
	for _, c := range protocol.Categories() {
		m.errors[c] = reg.Counter(MetricErrorsTotal, "Errors reported in answers, by category.", stats.Label{Name: LabelCategory, Value: string(c)})
	}
	return m
}

// capHistogram returns the execution-time histogram of one capability.
func (m *metrics) capHistogram(name string) *stats.Histogram {
	return m.reg.Histogram(MetricCapabilityExecutionSeconds, "Capability execution time, per capability.", stats.Label{Name: LabelCapability, Value: name})
}
