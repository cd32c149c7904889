// Package admin is the runtime's admin listener: a plain HTTP/1.1 server
// on TCP, loopback by default and separate from the data plane, for the
// people and programs that operate the runtime.
//
//	GET /metrics         Prometheus text format 0.0.4 (histograms as real histograms)
//	GET /healthz         200 while the process serves HTTP at all (liveness)
//	GET /readyz          200 when every readiness check passes, else 503; the JSON
//	                     body lists the checks and any active performance degradations
//	                     (which are reported but do not fail readiness)
//	GET /v1/stats        JSON: per-stage latency percentiles (since start, and over
//	                     the last 1 s and 10 s), throughput over 1 s / 10 s / 60 s,
//	                     in-flight executions, resource use
//	GET /debug/pprof/    the standard Go profiles, only when Config.Pprof is set
//
// A Server owns one monitor goroutine that ticks once a second: it
// refreshes resource gauges (goroutines, RSS, CPU seconds, open files),
// snapshots every latency histogram to compute interval percentiles, feeds
// the degradation detector, and records throughput. Start begins serving;
// Shutdown (or Close, at once) stops the listener and the monitor and
// waits for both; see Server for the lifecycle convention.
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
//   - Token: with Config.TokenSHA256 set, every request but GET /healthz
//     must carry Authorization: Bearer <token> (compared as a SHA-256
//     digest in constant time), else 401 with reason
//     admin_token_required. New refuses a listener that is not on a
//     loopback address (an IP literal or "localhost"; a wildcard or any
//     other name counts as not loopback) without a token.
//   - pprof: /debug/pprof/ (heap contents, goroutine stacks, the command
//     line) is served only when Config.Pprof is set.
//
// Guaranteed: no handler runs for a request whose Host fails the check,
// and none but /healthz without the token when one is set. Not
// guaranteed: confidentiality on the wire. The listener speaks plain
// HTTP, so a token sent over a network can be read there; beyond
// loopback, put it behind TLS (a proxy, listed in Config.Hosts) or a
// network you trust.
//
// # Where things live
//
//	admin.go     Server, Config, New and the lifecycle (Start, Shutdown)
//	guard.go     the Host check and the admin token (see Access)
//	handlers.go  the HTTP handlers (/metrics, /readyz, /v1/stats)
//	monitor.go   the monitor goroutine: per-tick histogram snapshots,
//	             detector feed, throughput
//	report.go    the /v1/stats body (Report) and how it is computed
package admin
