#!/usr/bin/env bash
# Times every engine on the anchor policy, interleaved: ROUNDS rounds of one
# pass over all engines and cases (-count 1 each), so a noisy neighbour hits
# every engine alike. Raw output in $OUT (benchstat-compatible), then a
# median (min–max) table. Usage: ./bench.sh [ROUNDS] [BENCH-REGEX]
set -eu
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
ROUNDS=${1:-10}; BENCH=${2:-BenchmarkAuthz$}; OUT=${OUT:-/tmp/authzanchor.txt}
BIN=$(mktemp /tmp/authzanchor.XXXXXX.test)
trap 'rm -f "$BIN"' EXIT
go test -c -o "$BIN" .
note() { echo "# $(date -u +%FT%TZ) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"; }
{ note
  for _ in $(seq "$ROUNDS"); do
    "$BIN" -test.run '^$' -test.bench "$BENCH" -test.count 1 -test.benchtime "${BENCHTIME:-1s}"
  done
  note; } 2>&1 | tee "$OUT"
go run ./cmd/benchsum < "$OUT"
