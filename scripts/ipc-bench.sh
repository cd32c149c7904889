#!/usr/bin/env bash
# The shared-memory ring beside the unix socket and HTTP/3, one run:
# `femtoclaw serve` with the journal in interval and in always mode, the
# client (fcload) in another process, noop. Prints benchstat lines:
#
#   round trip, one request in flight (mode=execute, inflight=1)
#   pipelined throughput (ring and socket: -stream; HTTP/3: -stream too)
#
# over the ring (frames=ring), the same frames over the unix socket
# (frames=socket) and HTTP/3 (target=h3), on one connection and on two
# (INFLIGHT requests in flight in all). COUNT runs of D each.
#   scripts/ipc-bench.sh            COUNT=3 D=3s
#   CEILING=1 scripts/ipc-bench.sh  also the bare ring echo ceiling, if the
#                                   harness is given in CEILINGS_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-3}"; D="${D:-3s}"; INFLIGHT="${INFLIGHT:-512}"
work=$(mktemp -d /tmp/femtoclaw-ipcbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/femtoclaw" ./cmd/femtoclaw
go build -o "$work/fcload" ./cmd/fcload
port=4600
for mode in interval always; do
  FEMTOCLAW_DATA_DIR="$work/$mode" FEMTOCLAW_LISTEN_ADMIN= FEMTOCLAW_LISTEN_HTTP3="127.0.0.1:$port" FEMTOCLAW_TELEMETRY_EVENTS=off \
    "$work/femtoclaw" serve --durability "$mode" >"$work/$mode.log" 2>&1 &
  pids+=($!)
  eval "port_$mode=$port"
  port=$((port + 1))
done
for mode in interval always; do
  for _ in $(seq 100); do [ -S "$work/$mode/femtoclaw.sock" ] && grep -q '"femtoclaw ready"' "$work/$mode.log" && break; sleep 0.1; done
done
echo "# $(date -u +%FT%TZ) loadavg $(cut -d' ' -f1-3 /proc/loadavg) $(nproc) cores"
for mode in interval always; do
  dir="$work/$mode"; p="port_$mode"; url="https://127.0.0.1:${!p}"
  tag() { sed "s|^BenchmarkFcload/|BenchmarkFcload/journal=$mode/|"; }
  for f in ring socket; do
    "$work/fcload" -bench -target ipc -frames "$f" -data-dir "$dir" -workers 1 -count "$COUNT" -d "$D" -warmup 500ms | tag
  done
  "$work/fcload" -bench -target "$url" -data-dir "$dir" -token-file "$dir/token" -workers 1 -count "$COUNT" -d "$D" -warmup 500ms | tag
  for conns in 1 2; do
    for f in ring socket; do
      "$work/fcload" -bench -target ipc -frames "$f" -data-dir "$dir" -stream -conns "$conns" -workers "$INFLIGHT" -count "$COUNT" -d "$D" -warmup 1s | tag
    done
    "$work/fcload" -bench -target "$url" -data-dir "$dir" -token-file "$dir/token" -stream -conns "$conns" -workers "$INFLIGHT" -count "$COUNT" -d "$D" -warmup 1s | tag
  done
done
if [ -n "${CEILING:-}" ] && [ -x "${CEILINGS_DIR:-/nonexistent}/run.sh" ]; then
  echo "# ring echo ceiling ($(cut -d' ' -f1-3 /proc/loadavg))"
  "$CEILINGS_DIR/run.sh" shm
fi
