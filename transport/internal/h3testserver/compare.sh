#!/usr/bin/env bash
# compare.sh — `femtoclaw serve` (journal "always", its defaults otherwise)
# over HTTP/3 against the bare quic-go HTTP/3 echo (perf/ceiling, run as
# `ceiling h3echo`), driven by the same client (cmd/fcload), alternating
# within each pair, in one run:
#
#   for each shape (1×256, 4×64, 1×1, stream 1×256):
#     PAIRS × (echo, runtime) — the order flips every pair — and, for
#     the execute shapes, the runtime without a journal as a control
#
# and prints one row per shape: the medians of req/s, the ratio runtime ÷
# echo, p50 and p99 of each, and the server CPU per request of each (the
# server process's utime+stime from /proc/PID/stat over the fcload run,
# warm-up included, over the requests of that run, warm-up included). At
# N=1 it also prints the runtime's journal commit p50 (the answers'
# timings_ns.commit, read from the runtime's metrics) and the targets.
#
# With PROFILE=DIR it also takes, during the runtime's first run of each
# shape, a PROFSECS (default 2) s CPU profile from the admin listener's /debug/pprof/profile
# and, at N=1, a 1 s runtime/trace; the echo side then runs in
# h3testserver -echo (the same perf/ceiling echo) with -cpuprofile, one
# process per shape, and, at N=1, -trace. Read them with
# `go tool pprof -top DIR/runtime-1x256.pprof` and `go tool trace`.
#
# Usage: transport/internal/h3testserver/compare.sh
#   PAIRS=3 DUR=3s WARM=500ms PREWARM=10s SHAPES="1x256 4x64 1x1 s1x256" PROFILE= PROFSECS=2
# A shape CxN is C connections with N requests in flight on each (C×N in
# all); sN×M is the same on /v1/stream.
# The machine should be otherwise quiet; when it is not, the ratios (same
# run, alternating) are what to read, not the absolute numbers.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
PAIRS=${PAIRS:-3}
DUR=${DUR:-3s}
WARM=${WARM:-500ms}
PREWARM=${PREWARM:-10s}
SHAPES=${SHAPES:-1x256 4x64 1x1 s1x256}
PROFILE=${PROFILE:-}
B=$(mktemp -d "${TMPDIR:-/tmp}/h3compare.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
(cd "$ROOT" && go build -o "$B/" ./cmd/fcload ./cmd/femtoclaw ./perf/cmd/ceiling ./transport/internal/h3testserver)
[ -n "$PROFILE" ] && mkdir -p "$PROFILE"

wait_ready() { # wait_ready PID DIR
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || { echo "compare: server $1 exited" >&2; cat "$B"/*.log >&2; return 1; }
		[ -s "$2/run.json" ] && return 0
		sleep 0.05
	done
	echo "compare: server on $2 not ready" >&2
	return 1
}
json_field() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",]*\).*/\1/p" "$1/run.json" | head -1; }

# The runtime: femtoclaw serve, defaults but for the ports (and pprof on
# the admin listener when profiling).
SD=$B/serve
mkdir -p "$SD"
admin=(--admin 127.0.0.1:0)
[ -n "$PROFILE" ] && admin+=(--set listen.admin_pprof=true)
"$B/femtoclaw" serve --data-dir "$SD" --listen 127.0.0.1:0 "${admin[@]}" --durability always >"$B/serve.log" 2>&1 &
pids+=($!)
wait_ready "$!" "$SD"
SPID=$(json_field "$SD" pid)
ADMIN=$(json_field "$SD" admin)
# The control: the same serve with no journal (durability off), run
# after each execute pair: what everything but the journal costs over
# the echo (the rows "… no journal").
ND=$B/serve-nojournal
mkdir -p "$ND"
"$B/femtoclaw" serve --data-dir "$ND" --listen 127.0.0.1:0 --admin off --durability off >"$B/serve-nojournal.log" 2>&1 &
pids+=($!)
wait_ready "$!" "$ND"
NPID=$(json_field "$ND" pid)

# The echo: ceiling h3echo (PROFILE: h3testserver -echo, one per shape).
ED=$B/echo
start_echo() { # start_echo [h3testserver flags…]
	rm -rf "$ED"
	mkdir -p "$ED"
	if [ $# -gt 0 ]; then
		"$B/h3testserver" -echo -data-dir "$ED" "$@" >"$B/echo.log" 2>&1 &
	else
		"$B/ceiling" h3echo -data-dir "$ED" >"$B/echo.log" 2>&1 &
	fi
	EPIDX=$!
	pids+=($EPIDX)
	wait_ready "$EPIDX" "$ED"
	EPID=$(json_field "$ED" pid)
}
stop_echo() { kill -TERM "$EPIDX" 2>/dev/null || true; wait "$EPIDX" 2>/dev/null || true; }
[ -z "$PROFILE" ] && start_echo

# Warm-up, not measured (PREWARM, default 10 s, at 1×256): connections,
# the server's heap and GC pacing, the first segment's roll (it is
# 1 MiB) and the preallocation of the next 64 MiB segment, which the
# journal zero-fills and syncs in the background after each roll
# (measured in the first seconds of a fresh data directory: 7 % of the
# server's CPU; in steady state ~1 µs a record, amortized).
"$B/fcload" -target h3 -data-dir "$SD" -conns 1 -workers 256 -d "$PREWARM" -warmup 0s >/dev/null 2>>"$B/fcload.err" || true
for _ in $(seq 150); do # until the next segment is prepared (its size is the segment size), at most 15 s
	[ "$(stat -c %s "$SD/journal/next.seg.tmp" 2>/dev/null || echo 0)" -ge 67108864 ] && break
	sleep 0.1
done
sleep 1 # its fdatasync

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
secs() { awk -v d="$1" 'BEGIN{ if (d ~ /ms$/) { sub(/ms$/,"",d); print d/1000 } else { sub(/s$/,"",d); print d } }'; }
TOTAL_S=$(awk -v a="$(secs "$DUR")" -v b="$(secs "$WARM")" 'BEGIN{print a+b}')

# run SIDE SHAPE PAIR: one fcload run; appends "side shape reqs p50 p99 cpu_us_per_req" to $B/rows.
run() {
	local side=$1 shape=$2 k=$3 dir pid conns workers stream=()
	case "$side" in
	echo) dir=$ED pid=$EPID ;;
	nojournal) dir=$ND pid=$NPID ;;
	*) dir=$SD pid=$SPID ;;
	esac
	case "$shape" in
	s*) stream=(-stream); conns=${shape#s}; conns=${conns%x*}; workers=${shape#*x} ;;
	*) conns=${shape%x*}; workers=${shape#*x} ;;
	esac
	workers=$((conns * workers)) # CxN is C connections × N in flight each; fcload's -workers is the total
	local prof=()
	if [ -n "$PROFILE" ] && [ "$k" = 1 ] && [ "$side" = runtime ]; then
		(sleep "$(secs "$WARM")"; curl -s -o "$PROFILE/runtime-$shape.pprof" "http://$ADMIN/debug/pprof/profile?seconds=${PROFSECS:-2}") &
		prof+=($!)
		if [ "$shape" = 1x1 ]; then
			(sleep "$(awk -v w="$(secs "$WARM")" 'BEGIN{print w+0.2}')"; curl -s -o "$PROFILE/runtime-$shape.trace" "http://$ADMIN/debug/pprof/trace?seconds=0.5") &
			prof+=($!)
		fi
	fi
	local c0 c1 out
	c0=$(cpu_ticks "$pid")
	out=$("$B/fcload" -target h3 -data-dir "$dir" -conns "$conns" -workers "$workers" "${stream[@]}" -d "$DUR" -warmup "$WARM" -bench 2>>"$B/fcload.err" | grep '^Benchmark' || true)
	c1=$(cpu_ticks "$pid")
	for p in "${prof[@]}"; do wait "$p" || true; done
	[ -n "$out" ] || { echo "compare: fcload $side $shape failed:" >&2; tail -5 "$B/fcload.err" >&2; return 1; }
	# exec/s, p50-ns, p99-ns from fcload's benchstat line.
	awk -v side="$side" -v shape="$shape" -v cpu=$((c1 - c0)) -v tck="$TCK" -v tot="$TOTAL_S" '{
		for (i = 1; i < NF; i++) { if ($(i+1) == "exec/s") r = $i; if ($(i+1) == "p50-ns") p50 = $i; if ($(i+1) == "p99-ns") p99 = $i; if ($(i+1) == "errors") e = $i }
		printf "%s %s %.0f %.0f %.0f %.1f %d\n", side, shape, r, p50/1000, p99/1000, cpu / tck * 1e6 / (r * tot), e
	}' <<<"$out" >>"$B/rows"
	tail -1 "$B/rows" >&2
	if [ "$side" = runtime ] && [ "$shape" = 1x1 ]; then commit_p50; fi
}

# commit_p50: the runtime's own commit stage (the journal append and its
# wait, as the answers' timings_ns.commit count it) over the run just
# made: the median of the last few per-second p50s of the admin
# listener's /v1/stats.
commit_p50() {
	local k
	k=$(secs "$DUR" | awk '{printf "%d", $1 < 1 ? 1 : $1}')
	curl -s "http://$ADMIN/v1/stats" | awk -v k="$k" '
		/"commit": \{/ && !done { in_c = 1; done = 1; next }
		in_c && /"p50_ns": \[/ { in_p = 1; next }
		in_p && /\]/ { in_p = 0; in_c = 0; next }
		in_p { v = $1; sub(/,/, "", v); if (v > 0) p[++n] = v }
		END {
			m = 0; for (i = n - k + 1; i <= n; i++) if (i > 0) t[++m] = p[i]
			for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
			printf "commit 1x1 0 %.0f 0 0 0\n", m ? (m % 2 ? t[(m + 1) / 2] : (t[m / 2] + t[m / 2 + 1]) / 2) / 1000 : 0
		}' >>"$B/rows"
	tail -1 "$B/rows" >&2
}

# journal_p50: one durable writer appending to the journal alone (ceiling
# durable -store journal -writers 1), on the file system the runtime's
# journal is on: the "journal commit p50" of the N=1 target.
journal_p50() {
	local out
	out=$("$B/ceiling" durable -store journal -durability always -writers 1 -d "$DUR" -warmup "$WARM" -dir "$B" 2>>"$B/fcload.err" | grep '^Benchmark' || true)
	awk '{ for (i = 1; i < NF; i++) { if ($(i+1) == "exec/s") r = $i; if ($(i+1) == "p50-ns") p50 = $i; if ($(i+1) == "p99-ns") p99 = $i }
		printf "journal 1x1 %.0f %.0f %.0f 0 0\n", r, p50/1000, p99/1000 }' <<<"$out" >>"$B/rows"
	tail -1 "$B/rows" >&2
}
: >"$B/rows"
for shape in $SHAPES; do
	if [ -n "$PROFILE" ]; then
		tr=()
		[ "$shape" = 1x1 ] && tr=(-trace "$PROFILE/echo-$shape.trace" -trace-after "$WARM" -trace-for 500ms)
		start_echo -cpuprofile "$PROFILE/echo-$shape.pprof" "${tr[@]}"
	fi
	for k in $(seq "$PAIRS"); do
		if [ $((k % 2)) = 1 ]; then run echo "$shape" "$k"; run runtime "$shape" "$k"; else run runtime "$shape" "$k"; run echo "$shape" "$k"; fi
		case "$shape" in s*) ;; *) run nojournal "$shape" "$k" ;; esac
		if [ "$shape" = 1x1 ]; then journal_p50; fi
	done
	if [ -n "$PROFILE" ]; then stop_echo; fi
done

echo
echo "femtoclaw serve (journal always) vs the bare quic-go HTTP/3 echo: medians of $PAIRS alternating pairs, $DUR each after $WARM warm-up; load $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1 SUBSEP $2; n[k]++; R[k, n[k]] = $3; P50[k, n[k]] = $4; P99[k, n[k]] = $5; C[k, n[k]] = $6; E[k] += $7; if (!($2 in seen)) { seen[$2] = 1; order[++ns] = $2 } }
function m(arr, k,   i, t) { delete t; for (i = 1; i <= n[k]; i++) t[i] = arr[k, i]; return med(t, n[k]) }
END {
	printf "| %-7s | %9s | %9s | %5s | %-15s | %-15s | %-16s | %s |\n", "load", "runtime/s", "echo/s", "ratio", "p50 rt / echo", "p99 rt / echo", "CPU/req rt/echo", "errors"
	printf "|---------|-----------|-----------|-------|-----------------|-----------------|------------------|--------|\n"
	for (i = 1; i <= ns; i++) {
		s = order[i]; a = "runtime" SUBSEP s; b = "echo" SUBSEP s
		name = s; sub(/^s/, "stream ", name)
		printf "| %-7s | %9.0f | %9.0f | %5.2f | %6.0f / %4.0f µs | %6.0f / %4.0f µs | %5.1f / %4.1f µs | %d/%d |\n", name, m(R, a), m(R, b), m(R, a) / m(R, b), m(P50, a), m(P50, b), m(P99, a), m(P99, b), m(C, a), m(C, b), E[a], E[b]
		if (n["nojournal" SUBSEP s] > 0) {
			c = "nojournal" SUBSEP s
			printf "| %-7s | %9.0f | %9.0f | %5.2f | %6.0f / %4.0f µs | %6.0f / %4.0f µs | %5.1f / %4.1f µs | %d/%d |\n", s " no journal", m(R, c), m(R, b), m(R, c) / m(R, b), m(P50, c), m(P50, b), m(P99, c), m(P99, b), m(C, c), m(C, b), E[c], E[b]
		}
		if (s == "1x1" && n["commit" SUBSEP s] > 0) {
			cm = m(P50, "commit" SUBSEP s); j = m(P50, "journal" SUBSEP s)
			n1 = sprintf("N=1: commit stage p50 of the runtime %.0f µs (the journal alone, 1 durable writer: %.0f µs); p50 target <= %.0f + %.0f + 50 = %.0f µs, measured %.0f; CPU/req target <= %.1f µs, measured %.1f", cm, j, m(P50, b), cm, m(P50, b) + cm + 50, m(P50, a), m(C, b) + 25, m(C, a))
		}
	}
	if (n1 != "") print n1
	if (n["runtime" SUBSEP "s1x256"] > 0 && n["echo" SUBSEP "1x256"] > 0)
		printf "stream 1x256: /v1/stream of the runtime %.0f req/s = %.2f × /v1/execute of the echo at 1x256 (%.0f)\n", m(R, "runtime" SUBSEP "s1x256"), m(R, "runtime" SUBSEP "s1x256") / m(R, "echo" SUBSEP "1x256"), m(R, "echo" SUBSEP "1x256")
}' "$B/rows"
echo "targets: 1x256, 4x64 ratio >= 0.85; 1x1 p50 <= echo p50 + commit p50 + 50 µs and CPU/req <= echo + 25 µs; stream 1x256 >= 3 × the echo's 1x256 execute"
if [ -n "$PROFILE" ]; then
	cp "$B/rows" "$PROFILE/rows.txt"
	echo "profiles in $PROFILE"
fi
