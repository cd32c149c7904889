// Package ceiling holds the baselines the runtime is measured against in
// the same run (scripts/bench-matrix.sh): what its building blocks reach
// when nothing of the runtime is in the way. A figure of the runtime alone
// says little on a shared machine; its ratio to a ceiling measured beside
// it, alternating, says how much the runtime costs.
//
//   - EchoServer: a bare quic-go HTTP/3 server that answers /v1/execute
//     and /v1/stream with a fixed, valid answer (NoopAnswer) and nothing
//     else. It writes DATA_DIR/run.json and DATA_DIR/token like `femtoclaw
//     serve`, so `fcload -target h3 -data-dir DIR` drives it unchanged:
//     the same client, TLS (TLS 1.3, a self-signed ECDSA P-256 certificate
//     checked by its SPKI pin), QUIC settings, concurrency and answer
//     check. fcload's figures against it are the ceiling of the runtime's
//     HTTP/3 figures; the difference is the runtime's transport and
//     pipeline.
//   - Loop: the bare group-commit loop (W writers append 200-byte records
//     to one file and wait; one flusher writes each accumulated batch and
//     fdatasyncs it), the ceiling of the journal's durable appends at equal
//     writer counts. RunDurable drives it, the journal (JournalStore) and
//     the Pebble anchor (the separate module perf/durableanchor) alike.
//   - RunRing: two single-producer single-consumer rings in a shared
//     memory region (a memfd) between this process and an echo child,
//     spin-then-futex waiting, one or many requests in flight: the ceiling
//     of the ipc ring transport (fcload -target ipc -stream). Linux only.
//
// Each measurement returns perf.Repetition values and NewReport wraps them
// in the one result format (perf.Report), so `fcload compare` and `fcload
// report` read ceilings like any fcload run.
//
// None of this is for production: these are measuring instruments, kept
// as small as the thing they measure allows. Nothing here is safe for
// concurrent use unless its comment says so.
package ceiling
