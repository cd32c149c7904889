package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Stage names. Every operator surface names a stage of the cycle, and the
// figures derived from it, the same way: the answer's timings_ns keys, the
// histogram family femtoclaw_<stage>_seconds on /metrics (StageFamily),
// the "stage" member of the admin listener's /v1/stats, `femtoclaw stats`,
// the admin page /ui, and the stage of a performance_degraded event
// (stats.DefaultBudgets). The protocol's states (PROTOCOL_VALIDATING …
// MEMORY_COMMITTING) are the specification's names of the same steps; they
// appear as states, in answers and state_transition events, never as stage
// names.
const (
	StageValidate  = "validate"  // PROTOCOL_VALIDATING: decode, schema, canonical form
	StageAuthorize = "authorize" // AUTHORIZATION_EVALUATING: registry, decision cache, policy
	StageAdmit     = "admit"     // admission control and the wait for a pool worker
	StageExecute   = "execute"   // CAPABILITY_EXECUTING, per capability
	StageCommit    = "commit"    // MEMORY_COMMITTING: the journal append, fsync wait included
	StageDispatch  = "dispatch"  // derived: capability invocation overhead
	StageOverhead  = "overhead"  // derived: the runtime's own time per execution
	StageTotal     = "total"     // the whole execution inside the runtime
)

// Stages lists the stage names in cycle order, derived figures last.
func Stages() []string {
	return []string{StageValidate, StageAuthorize, StageAdmit, StageExecute, StageCommit, StageDispatch, StageOverhead, StageTotal}
}

// StageFamily returns the histogram family a stage's latency is recorded
// in ("" for a name that is no stage). Every stage's family is
// femtoclaw_<stage>_seconds but the whole execution's, which keeps its
// name, femtoclaw_execution_duration_seconds ("total" is no stage of its
// own).
func StageFamily(stage string) string {
	switch stage {
	case StageValidate:
		return MetricValidateSeconds
	case StageAuthorize:
		return MetricAuthorizeSeconds
	case StageAdmit:
		return MetricAdmitSeconds
	case StageExecute:
		return MetricExecuteSeconds
	case StageCommit:
		return MetricCommitSeconds
	case StageDispatch:
		return MetricDispatchSeconds
	case StageOverhead:
		return MetricOverheadSeconds
	case StageTotal:
		return MetricExecutionDurationSeconds
	}
	return ""
}

// Metric family names. They are part of the runtime's operating interface
// (dashboards and alerts key on them) and are spelled here once, for every
// family the runtime exposes: the pipeline's own, and those the admin
// listener and `femtoclaw serve` register for the journal, the ring and
// the build. Histograms are in seconds; ever-growing values are counters
// ending in _total; gauges are levels (in flight, queue depth, degradation
// state, configured bounds). The admin listener's doc (transport/admin)
// lists the renames from earlier releases.
const (
	// MetricValidateSeconds is the validate stage's latency: protocol
	// validation, the argument schema check and the validation cache.
	MetricValidateSeconds = "femtoclaw_validate_seconds"
	// MetricAuthorizeSeconds is the authorize stage's latency, by
	// LabelCache (hit, miss).
	MetricAuthorizeSeconds = "femtoclaw_authorize_seconds"
	// MetricAdmitSeconds is the admit stage's latency: admission control
	// and the wait for a capability pool worker.
	MetricAdmitSeconds = "femtoclaw_admit_seconds"
	// MetricExecuteSeconds is the execute stage's latency, capability
	// execution time, by LabelCapability.
	MetricExecuteSeconds = "femtoclaw_execute_seconds"
	// MetricCommitSeconds is the commit stage's latency: the journal
	// append, including the fsync wait.
	MetricCommitSeconds = "femtoclaw_commit_seconds"
	// MetricDispatchSeconds is capability invocation overhead (the
	// dispatch figure).
	MetricDispatchSeconds = "femtoclaw_dispatch_seconds"
	// MetricOverheadSeconds is the runtime's own time per execution
	// (everything but the capability and the commit wait).
	MetricOverheadSeconds = "femtoclaw_overhead_seconds"
	// MetricExecutionDurationSeconds is end-to-end execution latency
	// inside the runtime (the total figure).
	MetricExecutionDurationSeconds = "femtoclaw_execution_duration_seconds"
	// MetricTransportExecutionSeconds is end-to-end execution latency by
	// LabelTransport (the ingress).
	MetricTransportExecutionSeconds = "femtoclaw_transport_execution_seconds"
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

	// MetricPerformanceDegradedStages is the gauge of the stages whose
	// rolling p99 is over budget (the admin listener's detector).
	MetricPerformanceDegradedStages = "femtoclaw_performance_degraded_stages"
	// MetricBuildInfo is 1, with the build in its labels (LabelVersion,
	// LabelGoVersion, LabelRevision).
	MetricBuildInfo = "femtoclaw_build_info"

	// The journal's families (`femtoclaw serve`): MetricJournalFsyncSeconds
	// is fdatasync latency; MetricJournalWrittenBytesTotal the block bytes
	// written and MetricJournalAppendedRecordsTotal the records appended
	// since open; MetricJournalReady is 1 while the journal accepts writes.
	MetricJournalFsyncSeconds         = "femtoclaw_journal_fsync_seconds"
	MetricJournalWrittenBytesTotal    = "femtoclaw_journal_written_bytes_total"
	MetricJournalAppendedRecordsTotal = "femtoclaw_journal_appended_records_total"
	MetricJournalReady                = "femtoclaw_journal_ready"
	// Retention (journal.RetentionConfig): sealed segments removed and
	// archived, and the bytes they held, since open;
	// MetricJournalRetentionFailed is 1 once a manifest write failed and
	// retention stopped for the life of the process.
	MetricJournalRetentionSegmentsTotal = "femtoclaw_journal_retention_segments_total"
	MetricJournalRetentionBytesTotal    = "femtoclaw_journal_retention_reclaimed_bytes_total"
	MetricJournalRetentionFailed        = "femtoclaw_journal_retention_failed"

	// The shared-memory ring's families (`femtoclaw serve`, package ipc):
	// clients connected; handshakes by LabelResult (accepted, refused);
	// poller parks; clients disconnected for protocol violations.
	MetricIPCClients         = "femtoclaw_ipc_clients"
	MetricIPCHandshakesTotal = "femtoclaw_ipc_handshakes_total"
	MetricIPCParksTotal      = "femtoclaw_ipc_parks_total"
	MetricIPCViolationsTotal = "femtoclaw_ipc_violations_total"
)

// Label names of the runtime's metric families.
const (
	LabelOutcome    = "outcome"    // MetricExecutionsTotal: success, capability_error, rejected, …
	LabelCache      = "cache"      // MetricAuthorizeSeconds: hit, miss
	LabelTransport  = "transport"  // MetricTransportExecutionSeconds: http3, inproc, …
	LabelCapability = "capability" // MetricExecuteSeconds and the pool gauges: the capability name
	LabelDecision   = "decision"   // MetricAuthorizationDecisionsTotal: a protocol.Decision
	LabelCategory   = "category"   // MetricErrorsTotal: a protocol.Category
	// MetricPolicyShadowDifferencesTotal: the active and the candidate
	// policy's verdicts, each "allow" or "deny" (a difference of rule only
	// has equal values).
	LabelShadowActive    = "active"
	LabelShadowCandidate = "candidate"
	LabelResult          = "result"    // MetricIPCHandshakesTotal: accepted, refused
	LabelAction          = "action"    // MetricJournalRetentionSegmentsTotal: removed, archived
	LabelVersion         = "version"   // MetricBuildInfo: the release version
	LabelGoVersion       = "goversion" // MetricBuildInfo: the Go toolchain
	LabelRevision        = "revision"  // MetricBuildInfo: the VCS revision ("unknown" without one)
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

const authorizeHelp = "Authorize stage latency: registry, decision cache, policy."

func newMetrics(reg *stats.Registry) *metrics {
	m := &metrics{
		reg:                  reg,
		validate:             reg.Histogram(MetricValidateSeconds, "Validate stage latency: protocol validation, including the argument schema check and the validation cache."),
		authorizeHit:         reg.Histogram(MetricAuthorizeSeconds, authorizeHelp, stats.Label{Name: LabelCache, Value: "hit"}),
		authorizeMiss:        reg.Histogram(MetricAuthorizeSeconds, authorizeHelp, stats.Label{Name: LabelCache, Value: "miss"}),
		admit:                reg.Histogram(MetricAdmitSeconds, "Admit stage latency: admission control and the wait for a capability pool worker."),
		dispatch:             reg.Histogram(MetricDispatchSeconds, "Capability invocation overhead (dispatch): from admission to the capability starting, and back."),
		commit:               reg.Histogram(MetricCommitSeconds, "Commit stage latency: the journal append, including the fsync wait."),
		overhead:             reg.Histogram(MetricOverheadSeconds, "Runtime overhead per execution: everything except capability execution and the journal commit wait."),
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
	return m.reg.Histogram(MetricExecuteSeconds, "Execute stage latency: capability execution time, per capability.", stats.Label{Name: LabelCapability, Value: name})
}
