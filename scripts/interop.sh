#!/usr/bin/env bash
# interop.sh — the HTTP/3 conformance cases (scripts/interop/cases.json)
# through four clients nobody on this team wrote, against a real server:
#
#   chromium    headless Chromium, QUIC forced for the origin, the server's
#               SPKI pinned (--ignore-certificate-errors-spki-list); GET by
#               --dump-dom, then every case by fetch() from a same-origin
#               page (puppeteer-core; CDP reports the protocol, "h3")
#   gtlsclient  ngtcp2's example client: the cases needing no credentials
#               (it cannot send headers) and 20 streams on one connection
#   pycurl      libcurl 8.14 (GnuTLS/ngtcp2, bookworm-backports), HTTP/3
#               only, certificate verified against the server's cert.pem
#   caddy       Caddy v2.11.9 reverse-proxying to the server over HTTP/3
#               (versions 3, tls_trust_pool = cert.pem), driven over
#               HTTP/1.1 by libcurl
#
# Proof that the server saw HTTP/3, per case: the X-Femtoclaw-Proto response
# header, which the server sets from r.Proto ("HTTP/3.0"); plus, for the
# test server, its access log (every line proto=HTTP/3.0) and no TCP
# listener on the port.
#
# Server: `femtoclaw serve --data-dir D --listen 127.0.0.1:P --admin …` when
# it answers HTTP/3; otherwise transport/internal/h3testserver (same
# transport, default policy). INTEROP_SERVER=femtoclaw|testserver forces one.
# Installs what it needs (scripts/interop/install.sh; cache in
# INTEROP_CACHE, default /tmp/femtoclaw-interop). A client whose install
# fails is reported SKIP; any FAIL makes the exit status 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/scripts/interop
CASES=$HERE/cases.json
export INTEROP_CACHE=${INTEROP_CACHE:-/tmp/femtoclaw-interop}
WORK=$(mktemp -d /tmp/femtoclaw-interop-run.XXXXXX)
MODE=${INTEROP_SERVER:-auto}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -z "${INTEROP_KEEP:-}" ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK"; fi
}
trap cleanup EXIT

log() { echo "== $*"; }
free_port() { # free_port udp|tcp
	"$PY" -c 'import socket,sys
t = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

t0=$(date +%s)
log "installing clients (background) and building servers"
bash "$HERE/install.sh" >"$WORK/install.out" 2>&1 &
inst=$!
(cd "$ROOT" && go build -o "$WORK/h3testserver" ./transport/internal/h3testserver)
if [ "$MODE" != testserver ]; then
	(cd "$ROOT" && go build -o "$WORK/femtoclaw" ./cmd/femtoclaw) 2>"$WORK/femtoclaw-build.log" || {
		echo "NOTE: cmd/femtoclaw does not build (see below); using the test server"
		tail -5 "$WORK/femtoclaw-build.log"
		[ "$MODE" = femtoclaw ] && exit 1
		MODE=testserver
	}
fi
wait "$inst" || true
cat "$WORK/install.out"
log "install + build: $(($(date +%s) - t0))s"
skipped() { grep -q "^INSTALL-FAIL $1 " "$WORK/install.out"; }

# HTTP/3 probe that needs no installed client: the server's own healthz
# through gtlsclient or pycurl, whichever is installed.
probe() { # probe PORT
	if command -v gtlsclient >/dev/null 2>&1; then
		timeout 10 gtlsclient --exit-on-all-streams-close --no-quic-dump --timeout=3s 127.0.0.1 "$1" "https://127.0.0.1:$1/healthz" 2>&1 | grep -q '\[:status: 200\]'
	else
		"$PY" -c 'import pycurl,sys; c=pycurl.Curl(); c.setopt(pycurl.URL,"https://127.0.0.1:%s/healthz"%sys.argv[1]); c.setopt(pycurl.HTTP_VERSION,31); c.setopt(pycurl.SSL_VERIFYPEER,0); c.setopt(pycurl.SSL_VERIFYHOST,0); c.setopt(pycurl.WRITEFUNCTION,lambda b: None); c.setopt(pycurl.TIMEOUT,5); c.perform(); sys.exit(0 if c.getinfo(pycurl.RESPONSE_CODE)==200 else 1)' "$1" 2>/dev/null
	fi
}

PORT=$(free_port udp)
DATA=$WORK/data
SERVER_LOG=$WORK/server.err
server=""
if [ "$MODE" != testserver ]; then
	APORT=$(free_port tcp)
	log "starting femtoclaw serve on udp 127.0.0.1:$PORT"
	"$WORK/femtoclaw" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$APORT" >"$WORK/server.out" 2>"$SERVER_LOG" &
	spid=$!
	pids+=("$spid")
	ok=""
	for _ in $(seq 60); do
		if [ -s "$DATA/token" ] && [ -s "$DATA/tls/cert.pem" ] && probe "$PORT"; then ok=1; break; fi
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.25
	done
	if [ -n "$ok" ]; then
		server=femtoclaw
		TOKEN=$(tr -d '[:space:]' <"$DATA/token")
	else
		echo "NOTE: femtoclaw serve does not answer HTTP/3 on --listen yet; using transport/internal/h3testserver"
		tail -3 "$SERVER_LOG" | sed 's/^/    /'
		[ "$MODE" = femtoclaw ] && exit 1
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		rm -rf "$DATA"
	fi
fi
if [ -z "$server" ]; then
	log "starting h3testserver on udp 127.0.0.1:$PORT"
	"$WORK/h3testserver" -data-dir "$DATA" -listen "127.0.0.1:$PORT" >"$WORK/server.out" 2>"$SERVER_LOG" &
	pids+=("$!")
	for _ in $(seq 100); do
		grep -q '^READY' "$WORK/server.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '^READY' "$WORK/server.out" || { echo "FAIL: h3testserver did not start"; cat "$SERVER_LOG"; exit 1; }
	server=testserver
	TOKEN=$(awk '/^TOKEN/{print $2}' "$WORK/server.out")
fi
CERT=$DATA/tls/cert.pem
BASE=https://127.0.0.1:$PORT
# The pin, computed from the certificate file exactly as CLIENTS.md does.
PIN=$(openssl x509 -in "$CERT" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
if [ "$server" = testserver ] && [ "$PIN" != "$(awk '/^PIN/{print $2}' "$WORK/server.out")" ]; then
	echo "FAIL: the printed SPKI pin differs from the certificate's"; exit 1
fi
log "server=$server base=$BASE pin=$PIN"

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
declare -A verdict
run_client() { # run_client NAME CMD...
	local name=$1
	shift
	if skipped "$name"; then
		echo "SKIP $name: $(grep "^INSTALL-FAIL $name " "$WORK/install.out" | cut -d' ' -f3-)"
		verdict[$name]=SKIP
		return
	fi
	log "client $name"
	if ! "$@" >>"$RESULTS" 2>"$WORK/$name.err"; then
		echo "FAIL $name: driver exited non-zero"
		tail -5 "$WORK/$name.err" | sed 's/^/    /'
	fi
	if "$PY" "$HERE/check.py" "$CASES" "$RESULTS" "$name"; then verdict[$name]=PASS; else verdict[$name]=FAIL; fi
}

chromium_run() {
	local dom
	dom=$(timeout 60 chromium --headless=new --no-sandbox --disable-gpu --user-data-dir="$WORK/chromium-dump" \
		--disable-background-networking --disable-component-update --disable-sync --no-first-run \
		--origin-to-force-quic-on="127.0.0.1:$PORT" --ignore-certificate-errors-spki-list="$PIN" \
		--dump-dom "$BASE/healthz" 2>"$WORK/chromium-dump.err") || true
	case $dom in
	*'{"status":"ok"}'*) echo "chromium --dump-dom $BASE/healthz: ok" >&2 ;;
	*) echo "chromium --dump-dom failed: $dom" >&2; return 1 ;;
	esac
	INTEROP_NODE_DIR=$INTEROP_CACHE/node timeout 180 node "$HERE/chromium.mjs" "$BASE" "$PIN" "$TOKEN" "$CASES"
}
run_client chromium chromium_run
run_client gtlsclient "$PY" "$HERE/gtls_client.py" 127.0.0.1 "$PORT" "$CASES" "$WORK"
run_client pycurl "$PY" "$HERE/pycurl_client.py" h3 "$BASE" "$CERT" "$TOKEN" "$CASES"

caddy_run() {
	local cport
	cport=$(free_port tcp)
	cat >"$WORK/Caddyfile" <<CADDY
{
	admin off
	auto_https off
	persist_config off
	skip_install_trust
	storage file_system $WORK/caddy-storage
}
http://127.0.0.1:$cport {
	bind 127.0.0.1
	reverse_proxy $BASE {
		transport http {
			versions 3
			tls_trust_pool file $CERT
		}
	}
}
CADDY
	XDG_DATA_HOME=$WORK/caddy-xdg XDG_CONFIG_HOME=$WORK/caddy-xdg \
		"$INTEROP_CACHE/bin/caddy" run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
	local cpid=$!
	pids+=("$cpid")
	for _ in $(seq 100); do
		"$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$cport" 2>/dev/null && break
		sleep 0.1
	done
	"$PY" "$HERE/pycurl_client.py" h1 "http://127.0.0.1:$cport" - "$TOKEN" "$CASES"
	local rc=$?
	kill "$cpid" 2>/dev/null || true
	return $rc
}
run_client caddy caddy_run

log "server-side evidence"
evidence=PASS
if ! command -v ss >/dev/null 2>&1; then
	echo "NOTE: ss (iproute2) not installed: TCP-listener check skipped"
elif ss -ltnH "sport = :$PORT" | grep -q .; then
	echo "FAIL: a TCP listener exists on port $PORT"; evidence=FAIL
else
	echo "PASS no TCP listener on :$PORT (UDP/QUIC only)"
fi
if [ "$server" = testserver ]; then
	n3=$(grep -c 'msg=request proto=HTTP/3.0 ' "$SERVER_LOG" || true)
	nother=$(grep 'msg=request proto=' "$SERVER_LOG" | grep -vc 'proto=HTTP/3.0 ' || true)
	if [ "$n3" -gt 0 ] && [ "$nother" -eq 0 ]; then
		echo "PASS server access log: $n3 requests, all proto=HTTP/3.0"
	else
		echo "FAIL server access log: $n3 HTTP/3.0 requests, $nother other"; evidence=FAIL
	fi
fi

echo
log "summary (server=$server, $(($(date +%s) - t0))s)"
rc=0
for c in chromium gtlsclient pycurl caddy; do
	echo "  $c: ${verdict[$c]:-FAIL}"
	[ "${verdict[$c]:-FAIL}" = FAIL ] && rc=1
done
echo "  server evidence: $evidence"
[ "$evidence" = FAIL ] && rc=1
exit $rc
