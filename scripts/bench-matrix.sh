#!/usr/bin/env bash
# The standard performance matrix, each cell beside the ceiling it is held
# against, measured in the same run and alternating (runtime, ceiling,
# runtime, ceiling, …) so a noisy neighbour lands on both sides alike:
#
#   inproc (fcload -target inproc)        vs the bare group-commit loop at equal writers
#   h3 execute (fcload -target h3)        vs the bare quic-go HTTP/3 echo, same fcload
#   h3 stream  (fcload -target h3 -stream) vs the same echo's /v1/stream
#   ipc ring   (fcload -target ipc -stream) vs the bare two-ring shared-memory echo
#   journal alone (durable appends)       vs the bare loop and Pebble (perf/durableanchor)
#
# over concurrency (requests in flight, writers) and journal durability.
# Prints the ratio table (runtime ÷ ceiling for throughput, runtime −
# ceiling for p50, p99 and server CPU per request) and writes into DIR:
#
#   matrix.md      date, machine, versions, the table and the commands (for PERFORMANCE.md)
#   *.json         each cell's runtime and references, merged (fcload compare OLD NEW; fcload report)
#   runs/*.json    one report per invocation; cells.tsv maps them to cells
#   scenarios/     fcload scenario all: every FC-PERF-0001 metric beside its target
#                  and hard bound (scenarios.md; -quick with --quick; not in --smoke)
#   report.html    fcload report of all of the above (self-contained)
#
# Usage: scripts/bench-matrix.sh [--quick | --smoke] [--out DIR] [--soak DURATION]
#   (default)  concurrency 1, 16, 256 × durability always, interval; 5 pairs × 5 s
#   --quick    concurrency 1, 256 × always; 2 pairs × 2 s (a few minutes)
#   --soak D   the stability scenario's length in a full run (default 2m; --quick: 20 s)
#   --smoke    concurrency 1 × always; 1 pair × 300 ms, no Pebble (checks the
#              script works; scripts/test.sh runs it)
#
# Every server it starts it stops (by its pid, on any exit); every port is
# chosen by the kernel and read from run.json. A run with an error, or with
# no success, fails the script (non-zero). Scratch data goes under
# $FEMTOCLAW_BENCH_DIR (default $TMPDIR or /tmp): put it on the disk to
# measure (matrix.md records its file system; tmpfs makes fdatasync free).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

mode=full out="" soak=2m
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    --soak) shift; soak=$1 ;;
    --out) out="${2:?--out DIR}"; shift ;;
    --out=*) out="${1#--out=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-matrix: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$mode" in
  full)  CONC="1 16 256"; MODES="always interval"; PAIRS=5; D=5s;    WARM=1s ;;
  quick) CONC="1 256";    MODES="always";          PAIRS=2; D=2s;    WARM=500ms ;;
  smoke) CONC="1";        MODES="always";          PAIRS=1; D=300ms; WARM=100ms ;;
esac
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="${out:-${TMPDIR:-/tmp}/femtoclaw-matrix-$stamp}"
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)
: >"$out/cells.tsv"
: >"$out/commands.txt"

scratch_root="${FEMTOCLAW_BENCH_DIR:-${TMPDIR:-/tmp}}"
work=$(mktemp -d "$scratch_root/femtoclaw-matrix.XXXXXX")
bin="$work/bin"
log="$out/log.txt"
: >"$log"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  if [ "$rc" -ne 0 ]; then echo "bench-matrix: FAILED (exit $rc); log: $log" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { echo "== $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

note "build ($mode) into $work"
t0=$SECONDS
go build -o "$bin/" ./cmd/fcload ./cmd/femtoclaw ./perf/cmd/ceiling
anchor=1
[ "$mode" = smoke ] && anchor=0 # the Pebble build is most of a smoke run's time
[ "$anchor" = 1 ] && (cd perf/durableanchor && CGO_ENABLED=0 go build -o "$bin/durableanchor" .)
note "built in $((SECONDS - t0)) s"

# What this fcload can do: -json (a report per run) and -max-error-rate
# (a non-zero exit on errors) when it has them; otherwise its benchstat
# lines are turned into a report (ceiling benchlines) and the table step
# refuses any run with errors.
fcload_help=$("$bin/fcload" -h 2>&1 || true)
has_flag() { grep -Eq -- "^ *-$1( |$)" <<<"$fcload_help"; }
fcload_json=0; has_flag json && fcload_json=1
fcload_extra=(); has_flag max-error-rate && fcload_extra+=(-max-error-rate 0)

# logcmd records a command for matrix.md, with the scratch paths shortened.
logcmd() { local IFS=' '; echo "$*" | sed "s|$bin/||g; s|$work|\$WORK|g; s|$out/|\$OUT/|g" >>"$out/commands.txt"; }

# fcload_run FILE ARGS…: one fcload invocation (one repetition), its
# report in FILE. The one place fcload's flags are spelled.
fcload_run() {
  local file=$1; shift
  local args=("$@" -count 1 -d "$D" -warmup "$WARM" "${fcload_extra[@]}")
  if [ "$fcload_json" = 1 ]; then
    logcmd fcload "${args[@]}" -json "$file"
    "$bin/fcload" "${args[@]}" -json "$file" >>"$log" 2>&1
  else
    logcmd fcload "${args[@]}"
    # shellcheck disable=SC2094 # fcload and tee both only append to the log
    "$bin/fcload" "${args[@]}" 2>>"$log" | tee -a "$log" | "$bin/ceiling" benchlines -json "$file"
  fi
}

# ceiling_run FILE ARGS…: one ceiling (or anchor) invocation.
ceiling_run() {
  local file=$1; shift
  local cmd=$1; shift
  local args=("$@" -count 1 -d "$D" -warmup "$WARM" -json "$file")
  logcmd "$cmd" "${args[@]}"
  "$bin/$cmd" "${args[@]}" >>"$log" 2>&1
}

# record CELL SIDE FILE: the manifest line for one repetition.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "${3#"$out/"}" >>"$out/cells.tsv"; }

# wait_ready PID DIR [socket]: until DIR/run.json names the server (and
# its ring socket exists), or fail if the process died.
wait_ready() {
  local pid=$1 dir=$2 want=${3:-}
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || { echo "bench-matrix: server $pid on $dir exited; see $log" >&2; return 1; }
    if [ -s "$dir/run.json" ] && { [ -z "$want" ] || [ -S "$dir/femtoclaw.sock" ]; }; then return 0; fi
    sleep 0.05
  done
  echo "bench-matrix: server $pid on $dir not ready after 10 s" >&2
  return 1
}

start_server() { # start_server DURABILITY
  local dir="$work/serve-$1"
  mkdir -p "$dir"
  logcmd femtoclaw serve --data-dir "$dir" --listen 127.0.0.1:0 --admin off --durability "$1"
  FEMTOCLAW_TELEMETRY_EVENTS=off "$bin/femtoclaw" serve --data-dir "$dir" --listen 127.0.0.1:0 --admin off --durability "$1" >>"$work/serve-$1.log" 2>&1 &
  pids+=($!)
  wait_ready "$!" "$dir" socket
}

note "servers: femtoclaw serve (${MODES// /, }), h3echo"
for m in $MODES; do start_server "$m"; done
echo_dir="$work/h3echo"
logcmd ceiling h3echo -data-dir "$echo_dir"
"$bin/ceiling" h3echo -data-dir "$echo_dir" >>"$log" 2>&1 &
pids+=($!)
wait_ready "$!" "$echo_dir"

load_start=$(load)
t0=$SECONDS
for m in $MODES; do
  srv="$work/serve-$m"
  for c in $CONC; do
    note "journal=$m inflight=$c (load $(load))"
    for k in $(seq "$PAIRS"); do
      cell="inproc/journal=$m/inflight=$c"
      f="$out/runs/inproc-$m-c$c-runtime-$k.json"
      rm -rf "$work/inproc"; mkdir -p "$work/inproc"
      fcload_run "$f" -target inproc -journal "$m" -data-dir "$work/inproc" -workers "$c"
      record "$cell" runtime "$f"
      f="$out/runs/inproc-$m-c$c-loop-$k.json"
      ceiling_run "$f" ceiling durable -store loop -durability "$m" -writers "$c" -dir "$work"
      record "$cell" loop "$f"
    done
    for op in execute stream; do
      stream=(); [ "$op" = stream ] && stream=(-stream)
      cell="h3-$op/journal=$m/inflight=$c"
      for k in $(seq "$PAIRS"); do
        f="$out/runs/h3$op-$m-c$c-runtime-$k.json"
        fcload_run "$f" -target h3 -data-dir "$srv" "${stream[@]}" -conns 1 -workers "$c"
        record "$cell" runtime "$f"
        f="$out/runs/h3$op-$m-c$c-h3echo-$k.json"
        fcload_run "$f" -target h3 -data-dir "$echo_dir" "${stream[@]}" -conns 1 -workers "$c"
        record "$cell" h3echo "$f"
      done
    done
    cell="ipc-ring/journal=$m/inflight=$c"
    for k in $(seq "$PAIRS"); do
      f="$out/runs/ipc-$m-c$c-runtime-$k.json"
      fcload_run "$f" -target ipc -data-dir "$srv" -stream -conns 1 -workers "$c"
      record "$cell" runtime "$f"
      f="$out/runs/ipc-$m-c$c-ringecho-$k.json"
      ceiling_run "$f" ceiling ring -inflight "$c"
      record "$cell" ringecho "$f"
    done
    if [ "$m" = always ]; then
      cell="journal-only/journal=always/writers=$c"
      for k in $(seq "$PAIRS"); do
        f="$out/runs/journal-c$c-runtime-$k.json"
        ceiling_run "$f" ceiling durable -store journal -durability always -writers "$c" -dir "$work"
        record "$cell" runtime "$f"
        f="$out/runs/journal-c$c-loop-$k.json"
        ceiling_run "$f" ceiling durable -store loop -durability always -writers "$c" -dir "$work"
        record "$cell" loop "$f"
        if [ "$anchor" = 1 ]; then
          f="$out/runs/journal-c$c-pebble-$k.json"
          ceiling_run "$f" durableanchor -writers "$c" -dir "$work"
          record "$cell" pebble "$f"
        fi
      done
    fi
  done
done
measure_s=$((SECONDS - t0))
load_end=$(load)

note "ratios (measured in $measure_s s)"
table_rc=0
"$bin/ceiling" table -merged "$out" "$out/cells.tsv" >"$out/table.md" 2>"$work/table.err" || table_rc=$?
cat "$out/table.md"
if [ "$table_rc" -ne 0 ]; then cat "$work/table.err" >&2; exit "$table_rc"; fi

# The specification's scenarios (every FC-PERF-0001 metric beside its
# target and hard bound), then the report of everything measured.
scen_rc=0
if [ "$mode" != smoke ]; then
  note "FC-PERF scenarios"
  sflag="-soak $soak"; [ "$mode" = quick ] && sflag="-quick"
  mkdir -p "$out/scenarios"
  "$bin/fcload" scenario all $sflag -json "$out/scenarios" -md >"$out/scenarios.md" 2>"$work/scenarios.err" || scen_rc=$?
  cat "$out/scenarios.md"
  [ "$scen_rc" -ne 0 ] && { tail -20 "$work/scenarios.err" >&2; echo "scenarios: exit $scen_rc" >&2; }
fi
"$bin/fcload" report -title "FemtoClaw performance matrix ($mode)" -o "$out/report.html" "$out"/*.json $(ls "$out"/scenarios/*.json 2>/dev/null) >/dev/null

# matrix.md: pasteable into PERFORMANCE.md.
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || rev="$rev (modified)"
fstype=$(stat -f -c %T "$work" 2>/dev/null || echo unknown)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || true)
quic=$(go list -m -f '{{.Version}}' github.com/quic-go/quic-go 2>/dev/null || echo unknown)
pebble="not run"
[ "$anchor" = 1 ] && pebble=$(cd perf/durableanchor && go list -m -f '{{.Version}}' github.com/cockroachdb/pebble/v2 2>/dev/null || echo unknown)
{
  echo "## Performance matrix, $(date -u +%Y-%m-%d) ($mode)"
  echo
  echo "- machine: $(hostname), $(nproc) CPUs${cpu:+ ($cpu)}, ${mem:-? memory}, $(uname -sr); scratch file system: $fstype"
  echo "- load average: $load_start at the start, $load_end at the end"
  echo "- build: revision $rev, $("$bin/femtoclaw" version 2>/dev/null | head -1), $(go version | cut -d' ' -f3), quic-go $quic, Pebble $pebble (CGO off)"
  echo "- plan: concurrency ${CONC// /, } × durability ${MODES// /, }; $PAIRS alternating pairs per cell, $D measured after $WARM warm-up each; $measure_s s of measuring"
  echo "- ratio = runtime ÷ reference throughput (median of the runs); +p50, +p99, +CPU/req = runtime − reference; CPU is the server process's (in-process stores: the whole process's)"
  echo
  cat "$out/table.md"
  echo
  if [ -s "$out/scenarios.md" ]; then
    echo "### FC-PERF-0001 scenarios"
    echo
    cat "$out/scenarios.md"
    echo
  fi
  echo "Commands (bin/ is the build of this revision; \$WORK the scratch directory):"
  echo
  echo '```sh'
  flag=""; [ "$mode" != full ] && flag=" --$mode"
  echo "scripts/bench-matrix.sh$flag"
  sed 's/ -json [^ ]*//' "$out/commands.txt" | awk '!seen[$0]++'
  echo '```'
} >"$out/matrix.md"
rm -f "$out/table.md"
note "wrote $out/matrix.md, $out/report.html and the reports in $out (fcload compare OLD_DIR $out)"
exit "$scen_rc"
