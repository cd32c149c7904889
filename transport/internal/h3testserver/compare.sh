#!/usr/bin/env bash
# compare.sh — the runtime over HTTP/3 against the bare quic-go HTTP/3 echo
# (../shared/ceilings/cmd/netbench), alternately, same shapes, same run:
#
#   netbench 1×256 | fcload 1×256 | netbench 4×64 | fcload 4×64 |
#   netbench 1×1   | fcload 1×1   | fcload stream 1×256            (× ROUNDS)
#
# The runtime side is h3testserver (noop, durable journal in "always" mode)
# in its own process, loaded by cmd/fcload in another; netbench starts its
# own server child. Server CPU per request for the runtime is printed as
# srvCPU ticks (CLK_TCK per second) over the whole run including warm-up.
# Usage: transport/internal/h3testserver/compare.sh  (ROUNDS=3 DUR=3s)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CEIL=${CEILINGS:-$ROOT/../shared/ceilings}
B=$(mktemp -d /tmp/h3compare.XXXXXX)
(cd "$ROOT" && go build -o "$B/fcload" ./cmd/fcload && go build -o "$B/h3testserver" ./transport/internal/h3testserver)
(cd "$CEIL" && go build -o "$B/netbench" ./cmd/netbench)
D=$B/data
"$B/h3testserver" -data-dir "$D" -listen 127.0.0.1:0 -quiet >"$B/srv.out" 2>"$B/srv.err" &
SP=$!
trap 'kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true; rm -rf "$B"' EXIT
for _ in $(seq 100); do grep -q READY "$B/srv.out" && break; sleep 0.1; done
P=$(awk '/^PORT/{print $2}' "$B/srv.out")
cpu() { awk '{print $14+$15}' "/proc/$SP/stat"; }
fc() { # fc conns workers [-stream]
	local c0 c1 out
	c0=$(cpu)
	out=$("$B/fcload" -target "https://127.0.0.1:$P" -data-dir "$D" -token-file "$D/token" -conns "$1" -workers "$2" \
		-d "${DUR:-3s}" -warmup 500ms ${3:-} 2>&1 | grep '^Benchmark' || true)
	c1=$(cpu)
	echo "$out  srvCPUticks=$((c1 - c0)) (CLK_TCK=$(getconf CLK_TCK))"
}
nb() { "$B/netbench" -proto h3 -conns "$1" -n "$2" -d "${DUR:-3s}" -warm 500ms -runs 1; }
for r in $(seq "${ROUNDS:-3}"); do
	echo "--- round $r"
	nb 1 256
	fc 1 256
	nb 4 64
	fc 4 64
	nb 1 1
	fc 1 1
	fc 1 256 -stream
done
