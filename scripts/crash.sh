#!/usr/bin/env bash
# Kill -9 the runtime while it commits durable executions under load, then
# restart it on the same data directory: recovery must report what it
# truncated, every acknowledged execution must still be in the journal,
# and `femtoclaw journal verify` must pass. Repeated ROUNDS times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
work=$(mktemp -d /tmp/femtoclaw-crash.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/femtoclaw" ./cmd/femtoclaw
go build -o "$work/fcload" ./cmd/fcload
data="$work/data"
mkdir -p "$data"
for round in $(seq 1 "$ROUNDS"); do
  # Load: 64 workers, journal "always"; every acknowledged answer had its
  # record fsynced before fcload saw it.
  "$work/fcload" -target inproc -journal always -data-dir "$data" -workers 64 -d 60s -warmup -1s -acked-file "$work/acked" \
      >"$work/load.out" 2>"$work/load.err" &
  pid=$!
  # Let it run a random 300-1500 ms, then SIGKILL.
  sleep "0.$(( (RANDOM % 12) + 3 ))"
  [ -s "$work/acked" ] || sleep 1
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Restart: serve opens (recovers) the journal, journals its startup, stops.
  timeout -s INT 3 "$work/femtoclaw" serve --data-dir "$data" --admin off --listen 127.0.0.1:0 \
      >"$work/serve.out" 2>"$work/serve.err" || true
  grep -q '"msg":"journal open"' "$work/serve.err" || { echo "crash round $round: restart did not open the journal"; cat "$work/serve.err"; exit 1; }
  grep '"msg":"journal open"' "$work/serve.err" | sed 's/^/  /' | cut -c1-400
  "$work/femtoclaw" journal verify --dir "$data/journal" | sed 's/^/  /'
  # Every acknowledged execution, by seq, execution id, state and status,
  # must be in the journal: fcload logged one line per acknowledgement.
  "$work/femtoclaw" journal export --dir "$data/journal" | awk '
    function field(name,   m) {
      if (match($0, "\"" name "\":(\"[^\"]*\"|[0-9]+)")) { m = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3); gsub(/"/, "", m); return m }
      return "-"
    }
    { print field("seq"), field("execution_id"), field("state"), field("status") }' | sort > "$work/journal.txt"
  cat "$work/acked" >> "$work/acked.all" # every round's acknowledgements, checked again each round
  sort "$work/acked.all" > "$work/acked.sorted"
  n_acked=$(wc -l < "$work/acked.sorted")
  missing=$(comm -23 "$work/acked.sorted" "$work/journal.txt" | head -5)
  if [ -n "$missing" ]; then
    echo "crash round $round: LOST acknowledged executions (seq id state status), first ones:"
    echo "$missing" | sed 's/^/  /'
    exit 1
  fi
  if [ "$n_acked" -eq 0 ]; then echo "crash round $round: no execution was acknowledged before the kill"; exit 1; fi
  head=$(grep -o '"head_seq":[0-9]*' "$work/serve.err" | head -1 | cut -d: -f2)
  echo "crash round $round: ok (all $n_acked acknowledged executions present with their content; recovered head $head)"
done

# The same through the network: `femtoclaw serve` under HTTP/3 load is
# SIGKILLed, restarted, and must recover a verifiable journal.
port=$(( 20000 + RANDOM % 20000 ))
sdata="$work/sdata"
"$work/femtoclaw" serve --data-dir "$sdata" --admin off --listen "127.0.0.1:$port" >"$work/s1.out" 2>"$work/s1.err" &
spid=$!
for _ in $(seq 1 100); do grep -q '"msg":"femtoclaw ready"' "$work/s1.err" 2>/dev/null && break; sleep 0.1; done
grep -q '"msg":"femtoclaw ready"' "$work/s1.err" || { echo "serve did not start"; cat "$work/s1.err"; exit 1; }
"$work/fcload" -target "https://127.0.0.1:$port" -data-dir "$sdata" -token-file "$sdata/token" -workers 128 -d 30s -warmup -1s \
    >"$work/l2.out" 2>"$work/l2.err" &
lpid=$!
sleep 1
kill -9 "$spid"; wait "$spid" 2>/dev/null || true
kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true
timeout -s INT 3 "$work/femtoclaw" serve --data-dir "$sdata" --admin off --listen "127.0.0.1:$port" >"$work/s2.out" 2>"$work/s2.err" || true
grep '"msg":"journal open"' "$work/s2.err" | sed 's/^/  /' | cut -c1-400
"$work/femtoclaw" journal verify --dir "$sdata/journal" | sed 's/^/  /'
echo "crash over HTTP/3: ok"
