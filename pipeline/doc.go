// Package pipeline is the execution engine: the Runtime that carries every
// protocol message from bytes to a committed, answered execution.
//
// # The cycle
//
//		ingress ─> validate ─> authorize ─> admit ─> execute ─> commit ─> answer
//		            cache        cache       bound    inline │ pool   journal
//
//	 1. INPUT_RECEIVED: the transport hands a Request (message bytes, the
//	    authenticated principal, an optional idempotency key). The runtime
//	    assigns a UUIDv7 execution id ("exec-…"): a 48-bit millisecond
//	    timestamp and 74 fresh random bits (crypto/rand) — time-sortable
//	    across milliseconds, unguessable, and nothing about one id predicts
//	    another (id.go).
//	 2. PROTOCOL_VALIDATING: protocol.Decode (strict JSON, exactly one form,
//	    limits), then the registry: the tool must be registered and its args
//	    must satisfy the capability's compiled schema; then, for a
//	    capability.Canonicalizer, the canonical form of the args (clean
//	    resolved paths, the binary's path, normalized URLs). Outcomes —
//	    accepted (with the canonical form) or rejected — are cached by
//	    (registry epoch, exact bytes), so a cached call pays nothing for
//	    canonicalization.
//	 3. AUTHORIZATION_EVALUATING: the registry says enabled, then the policy
//	    decides for (principal, capability, canonical args). Decisions are
//	    cached by (registry+policy epoch, principal, capability, canonical
//	    arg bytes, or the exact arg bytes without a canonical form); any
//	    failure on this path (a panic in a rule, an empty decision) denies.
//	 4. Admission: at most Config.MaxInFlight executions are admitted; past
//	    that, the answer is an immediate RUNTIME_ERROR, reason "overloaded"
//	    (HTTP 503 with Retry-After). Nothing queues without bound.
//	 5. CAPABILITY_EXECUTING: effects "none" run inline on the caller's
//	    goroutine; "read" and "write" run on the capability's own ants pool
//	    (a bulkhead: a slow or stuck capability exhausts only its own pool,
//	    whose wait queue is bounded too). Every call gets a deadline (the
//	    capability's Timeout, or the request's, clamped to MaxTimeout);
//	    panics become CAPABILITY_ERROR, reason "panic". A write-effect
//	    capability first commits an intent record and waits until it is
//	    durable; if that fails, the capability does not run.
//	 6. MEMORY_COMMITTING: the execution record — allowed, denied, rejected,
//	    overloaded or message form alike — goes to the journal. The answer
//	    says "durable":true only when the journal is in "always" mode and
//	    the append returned; with no journal it says false, and Open logs
//	    that nothing is persisted.
//	 7. COMPLETED or ERROR: the answer (protocol.Answer, the same shape on
//	    every transport), per-stage histograms, and one telemetry event.
//
// # Where each stage lives
//
// Each stage of DESIGN §3 has a file, and a method named after it:
//
//	stage                     file           function
//	lifecycle                 lifecycle.go   Open, Reload, Shutdown, Close (install, freeResources)
//	the per-execution carrier execution.go   execution, newExecution, mark, fail, setError
//	ingress                   ingress.go     Request, Runtime.Execute, Runtime.Submit, RecordSecurityRejection
//	unauthenticated traffic   rejections.go  RejectionLog (aggregate records per source and window), Runtime.NewRejectionLog
//	canonical arguments       canonical.go   canonicalize (once, on a validation miss), policyArgs, authorizeForm
//	redaction                 redact.go,     SecretKey, RedactAttr (logs); the keyed digest of secret values in
//	                          redact_secrets.go  journal records, errors and results
//	admission                 admission.go   Runtime.enter (shutdown gate), Runtime.admit, Runtime.release
//	validate                  validate.go    execution.validate
//	canonical arguments       canonical.go   canonicalize, validated, policyArgs, authorizeForm (Request.Authorize), request
//	authorize                 authorize.go   execution.authorize, execution.decide (fails closed), evaluate
//	shadow mode               authorize.go   execution.decideShadow (candidate loaded: Config.Shadow,
//	                                         Runtime.ReloadShadow in lifecycle.go)
//	offline decisions         decide.go      Decide (a call decided as a runtime would, without one)
//	execute (inline)          execute.go     execution.execute, executeBody, invoke, capabilityOutcome
//	execute (pooled)          bulkhead.go    bulkhead, Runtime.startBulkhead, execution.executePooled
//	commit (intent, record)   commit.go      execution.commitIntent, journalRecord, commit, commitAsync
//	idempotency (keyed only)  replay.go      execution.claimKey, claimKeyAsync, replay (index: idempotency.go,
//	                                         answers read back: idemanswer.go, snapshots: idemsnap.go)
//	respond                   respond.go     execution.respond
//	telemetry                 telemetry.go   Event, sink (exporter goroutine)
//	metrics                   metrics.go     metrics (histograms, counters), outcome; the stage names
//	                                         (Stages, StageFamily) and every metric family's name
//	configuration             config.go      Config, Journal
//
// Execute runs them in that order on the caller's goroutine; Submit runs
// the same methods, handing off to a pool worker (execute, pooled) and to
// the journal's goroutine (commitAsync → respond). "Record" means a
// journal record only; latency samples are observed (Runtime.observe).
//
// # Idempotency keys
//
// A request may carry an idempotency key (HTTP/3: the Idempotency-Key
// header; /v1/stream/keyed: one per frame; the shared-memory ring: a frame
// with FlagKeyed; in process: Request.IdempotencyKey). The rules, in the manner of Stripe's API:
//
//   - A key is scoped to its principal: two principals' equal keys are
//     unrelated.
//   - The first request with a key runs as usual. A later request with the
//     same key and the same call — the same capability and the same
//     arguments digest (the journal's ArgsDigest: for a tool call the
//     SHA-256 of its args; for a message, of the message; for input that
//     does not decode, of the bytes) — gets the original answer: the same
//     execution id, state, decision, result or error and journal position,
//     with "replayed":true (HTTP/3 adds Idempotent-Replayed: true). It is
//     not authorized or executed again; it is validated only to learn
//     what call it is. It is journaled as a replay record (kind replay)
//     whose execution id is the original's, so `femtoclaw journal get ID`
//     shows the original and each replay.
//   - The same key with a different call is refused: PROTOCOL_ERROR,
//     reason idempotency_conflict, HTTP 422 (the request is well formed
//     but cannot be processed with that key — the IETF Idempotency-Key
//     draft's choice; 409 is not used for in-flight keys because those
//     wait).
//   - A request that arrives while the first with its key still runs waits
//     for that answer (Execute: until its ctx ends, then RUNTIME_ERROR
//     reason timeout; Submit: until the first completes) and never runs in
//     parallel.
//   - Denials and protocol errors are answers too: a key that was denied
//     replays the denial after a policy change (a new key gets the new
//     policy). Refusals that happen before the call could run — overloaded,
//     shutting_down, an intent that could not be committed — settle
//     nothing: the key is forgotten and a retry runs.
//   - Across restarts the index is rebuilt from the journal in the
//     background (Open does not wait for it; keyed requests do): a key
//     whose execution completed replays; a key whose write-effect execution
//     has a durable intent and no outcome answers INTERRUPTED (MEMORY_ERROR,
//     reason interrupted, HTTP 409) and is never run again — an operator
//     decides. If the rebuild fails, keyed requests are refused (reason
//     idempotency_loading) rather than risk running a used key.
//   - Bounds (IdempotencyConfig): keys are remembered for Retention
//     (default 24 h) and at most MaxKeys (default 1,048,576, about 210 bytes
//     each on the heap, measured); answers are kept in memory up to
//     AnswerBytes (default 64 MiB) and otherwise read back from the journal
//     (then the replay's timings are the journaled ones, commit 0). With
//     SnapshotFile set (serve sets DATA_DIR/idempotency.snap) the index is
//     saved every SnapshotEvery (default 1 min) and at shutdown, and a
//     restart reads only the journal records after the snapshot.
//
// A request without a key pays one string comparison for all of this.
//
// # Shadow mode
//
// A candidate policy can run beside the active one before it replaces
// it (Config.Shadow at Open; Runtime.ReloadShadow to replace or remove
// it; Reload keeps it). The rules:
//
//   - The runtime acts on the active policy's verdict only, always: the
//     answer, the journal record's decision and rule, the decision
//     counters and the telemetry event are the active policy's. A call
//     the candidate would allow and the active policy denies is denied
//     and never runs; one the candidate would deny runs if the active
//     policy allows it.
//   - Every tool call that reaches the policy (registered and enabled
//     capabilities) is decided by both, on the same principal and
//     canonical arguments, and counted in
//     MetricPolicyShadowEvaluationsTotal. The verdicts differ when the
//     decision code or the deciding rule differs; such a call is counted
//     in MetricPolicyShadowDifferencesTotal by LabelShadowActive and
//     LabelShadowCandidate (allow or deny: four series, whatever the
//     policies say) and its execution record carries the candidate's
//     verdict and policy hash (journal.Record.Shadow). Calls on which
//     they agree add nothing to the journal. MetricPolicyShadowLoaded
//     says whether a candidate is loaded.
//   - Not shadowed, because no policy decides them: registry refusals
//     (unknown or disabled capability), protocol errors, message-form
//     requests and idempotent replays. A capability's own re-check of
//     another form of its call (Request.Authorize: a redirect hop) is the
//     active policy's alone.
//   - A candidate that panics or returns no decision yields a fail-closed
//     denial (rule "fail-closed"), which shows as a difference; it never
//     touches the answer.
//   - The decision cache keeps both verdicts in one entry, keyed by an
//     epoch covering the registry and both policies: a shadowed call costs
//     one lookup on a hit and one more policy evaluation on a miss, plus
//     one small allocation for a call whose verdicts differ. Replacing the
//     candidate starts a cold decision cache. Without a candidate, shadow
//     mode costs one nil test per call.
//   - The registry, the active policy and the candidate are swapped in one
//     snapshot, so no execution sees a new active policy beside an old
//     candidate. The runtime takes parsed policies: refusing a candidate
//     that does not parse is the loader's job (femtoclaw serve does not
//     start; a SIGHUP reload keeps the previous pair).
//   - Before a candidate is loaded at all, Decide replays journaled
//     calls against it offline (femtoclaw policy diff --candidate).
//
// # Telemetry
//
// Each execution records its stage latencies in stats histograms (a few
// ns each) and enqueues one Event — every state transition with its time,
// the decision and any error — on a bounded lock-free queue
// (xsync.MPMCQueue). A full queue drops and counts; it never blocks. One
// exporter goroutine, owned by the Runtime, expands events into JSON Lines
// (state_transition, authorization_decision, error) on
// TelemetryConfig.Output. Successful executions can be sampled; failures
// are always exported.
//
// # Redaction
//
// Secret arguments (a schema's "x-femtoclaw-secret", or every argument of
// a capability with Settings.RedactArgs) never reach the journal, the
// answer or an event as written: commit replaces them, wherever they
// appear (args, the error message — validation, denial reason, capability
// error — and the result), with [secret:hmac-sha256:<16 hex>], keyed by
// Config.RedactionKey; a message that cannot be decoded is journaled as
// its length and keyed digest only. Not guaranteed: secrets shorter than
// 4 bytes are not searched in free text, a capability that transforms a
// secret before echoing it defeats the search, and message-form content
// (no schema) is journaled as sent. The full list is in redact_secrets.go.
//
// # Concurrency and lifecycle
//
// Open → Execute / Submit from any number of goroutines → Reload at any
// time (an atomic snapshot swap: in-flight executions finish under the
// snapshot they started with) → Shutdown(ctx) or Close(). Shutdown refuses
// new work, drains admitted executions within its context, stops the
// pools, drains the telemetry queue and closes the caches; Close refuses
// new work at once and waits for nothing (the last execution still running
// releases what it used). A second Shutdown or Close, and Reload after
// either, returns ErrClosed. A nil Config.Logger means slog.Default(). The
// journal is the caller's: close it after the runtime.
package pipeline
