// Package admin is the runtime's admin listener: a plain HTTP/1.1 server
// on TCP, loopback by default and separate from the data plane, for the
// people and programs that operate the runtime.
//
//	GET /metrics         Prometheus text format 0.0.4 (histograms as real histograms)
//	GET /healthz         {"status":"ok"} while the process serves HTTP at all (liveness);
//	                     the same body as the HTTP/3 listener's (transport.HealthJSON)
//	GET /readyz          200 when every readiness check passes, else 503; the JSON
//	                     body lists the checks and any active performance degradations
//	                     (which are reported but do not fail readiness)
//	GET /v1/stats        JSON (Report): per-stage latency percentiles (since start, and
//	                     over the last 1 s and 10 s), throughput over 1 s / 10 s / 60 s,
//	                     in-flight executions, decisions by code, outcomes, errors by
//	                     category, the degradation state, the journal head, the build,
//	                     per-second series over the last minute, resource use
//	GET /ui              the admin page: a live view of /v1/stats (see "The admin page")
//	GET /debug/pprof/    the standard Go profiles, only when Config.Pprof is set
//
// A Server owns one monitor goroutine that ticks once a second: it
// snapshots every latency histogram to compute interval percentiles, feeds
// the degradation detector, and records throughput and the per-second
// series; resource gauges (goroutines, RSS, CPU seconds, open files) are
// read at scrape time. Start takes the first tick, then begins serving;
// Shutdown (or Close, at once) stops the listener and the monitor and
// waits for both; see Server for the lifecycle convention.
//
// # Metric names
//
// The families are named once, in pipeline/metrics.go, and pinned by
// cmd/femtoclaw/testdata/metrics.golden (name, type, help, label names).
// Ever-growing values are counters ending in _total; gauges are levels.
// A pipeline stage has one name everywhere (pipeline.Stages): its
// timings_ns key in answers, its family femtoclaw_<stage>_seconds, its
// "stage" in /v1/stats, its row in `femtoclaw stats` and on /ui, and the
// stage of its performance_degraded events; the protocol's states
// (MEMORY_COMMITTING for commit) stay the specification's. Renamed from
// earlier releases, old → new (update dashboards and alerts):
//
//	femtoclaw_protocol_validation_seconds   → femtoclaw_validate_seconds
//	femtoclaw_authorization_seconds{cache}  → femtoclaw_authorize_seconds{cache}
//	femtoclaw_admission_wait_seconds        → femtoclaw_admit_seconds
//	femtoclaw_capability_execution_seconds  → femtoclaw_execute_seconds{capability}
//	femtoclaw_memory_commit_seconds         → femtoclaw_commit_seconds
//	femtoclaw_capability_dispatch_seconds   → femtoclaw_dispatch_seconds
//	femtoclaw_execution_overhead_seconds    → femtoclaw_overhead_seconds
//	femtoclaw_journal_bytes_written (gauge) → femtoclaw_journal_written_bytes_total (counter)
//	femtoclaw_journal_records (gauge)       → femtoclaw_journal_appended_records_total (counter)
//
// New: femtoclaw_build_info{version,goversion,revision} 1. Unchanged:
// femtoclaw_execution_duration_seconds (the total figure: the whole
// execution, no stage of its own), femtoclaw_transport_execution_seconds
// and every other family. /healthz on this listener answered
// {"status": "alive"} before; it now answers {"status":"ok"}, as the
// HTTP/3 listener always has.
//
// # Access
//
// The listener is for operators, not for browsers, and guards itself
// against both a DNS-rebinding page and a reachable network:
//
//   - Host: every request's Host must name the listener — the IP address
//     the connection reached with the listener's port (any spelling of
//     the same address, IPv6 in brackets), localhost with that port when
//     the address is loopback, or one of Config.Hosts (case and one
//     trailing dot ignored). Anything else, a missing Host included, is
//     answered 421 Misdirected Request with reason host_not_allowed. A
//     page on attacker.example that rebinds its name to 127.0.0.1 sends
//     Host: attacker.example:9464 and is refused before any handler runs.
//   - Token: with Config.TokenSHA256 set, every request but /healthz and
//     /ui must carry Authorization: Bearer <token> (compared as a SHA-256
//     digest in constant time), else 401 with reason
//     admin_token_required. /ui is exempt because its body is a constant
//     with no runtime data in it (the page's data comes from /v1/stats,
//     which needs the token); see "The admin page". New refuses a listener that is not on a
//     loopback address (an IP literal or "localhost"; a wildcard or any
//     other name counts as not loopback) without a token.
//   - pprof: /debug/pprof/ (heap contents, goroutine stacks, the command
//     line) is served only when Config.Pprof is set.
//
// Guaranteed: no handler runs for a request whose Host fails the check,
// and none but /healthz and the constant /ui page without the token when
// one is set. Not
// guaranteed: confidentiality on the wire. The listener speaks plain
// HTTP, so a token sent over a network can be read there; beyond
// loopback, put it behind TLS (a proxy, listed in Config.Hosts) or a
// network you trust.
//
// # The admin page
//
// GET /ui is one self-contained HTML document, for operators who run the
// runtime offline: inline stylesheet and script, plots drawn as SVG by the
// script, nothing loaded from anywhere. Once a second it reads /v1/stats
// and shows per-stage latency (p50, p90, p99, p99.9 of each one-second
// interval over the last minute), throughput, in-flight executions,
// decisions by code (allow, deny) and errors, the degradation state, and
// the journal head (sequence, hash, segment).
//
// The admin token, when one is configured: open /ui#token=<token>, or
// type it into the form the page shows on a 401. The fragment never
// leaves the browser (it is not part of the request), and the page
// removes it from the address bar at once; the token is kept in the
// tab's sessionStorage and sent only as Authorization: Bearer on the
// page's own requests to /v1/stats. The page never puts it in a URL.
//
// The response forbids everything but itself: Content-Security-Policy
// default-src 'none', script-src and style-src the SHA-256 of the page's
// one inline script and stylesheet (computed from the embedded page at
// start), connect-src 'self', base-uri, form-action and frame-ancestors
// 'none'; plus X-Content-Type-Options nosniff, Referrer-Policy no-referrer
// and Cache-Control no-store. The Host check applies to /ui as to every
// path, so a rebinding page cannot load it either.
//
// # Where things live
//
//	admin.go     Server, Config, New and the lifecycle (Start, Shutdown)
//	guard.go     the Host check and the admin token (see Access)
//	handlers.go  the HTTP handlers (/metrics, /healthz, /readyz, /v1/stats)
//	monitor.go   the monitor goroutine: per-tick histogram snapshots,
//	             per-stage intervals, detector feed, throughput
//	report.go    the /v1/stats body (Report, Series) and how it is computed
//	ui.go        /ui: the embedded page (ui.html) and its Content-Security-Policy
package admin
