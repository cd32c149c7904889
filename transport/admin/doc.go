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
//	GET /debug/pprof/    the standard Go profiles
//
// A Server owns one monitor goroutine that ticks once a second: it
// refreshes resource gauges (goroutines, RSS, CPU seconds, open files),
// snapshots every latency histogram to compute interval percentiles, feeds
// the degradation detector, and records throughput. Start begins serving;
// Shutdown (or Close, at once) stops the listener and the monitor and
// waits for both; see Server for the lifecycle convention.
//
// # Where things live
//
//	admin.go     Server, Config, New and the lifecycle (Start, Shutdown)
//	handlers.go  the HTTP handlers (/metrics, /readyz, /v1/stats)
//	monitor.go   the monitor goroutine: per-tick histogram snapshots,
//	             detector feed, throughput
//	report.go    the /v1/stats body (Report) and how it is computed
package admin
