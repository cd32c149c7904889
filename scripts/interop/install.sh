#!/usr/bin/env bash
# Installs the real HTTP/3 clients scripts/interop.sh drives (see
# ../shared/CLIENTS.md): chromium (../install-chromium.sh) +
# puppeteer-core (npm), ngtcp2's
# gtlsclient, libcurl (gnutls, bookworm-backports) + pycurl, and Caddy
# v2.11.9 (go install, cached in $INTEROP_CACHE/bin).
# Idempotent: each step is skipped when its tool is already present.
# Prints "INSTALL-FAIL <client> <why>" for a client whose install failed;
# interop.sh turns that into a SKIP line.
set -euo pipefail

CACHE=${INTEROP_CACHE:-/tmp/femtoclaw-interop}
CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
mkdir -p "$CACHE/bin"

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

have_pycurl_h3() {
	/usr/bin/python3 - <<'PY' 2>/dev/null
import pycurl, sys
v = pycurl.version_info()
# features bit CURL_VERSION_HTTP3 = 1<<25
sys.exit(0 if v[4] & (1 << 25) else 1)
PY
}

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		$SUDO apt-get update -qq >/dev/null
		apt_updated=1
	fi
}

# Caddy first, in the background: go install takes minutes and the apt
# steps can overlap with it.
caddy_bin="$CACHE/bin/caddy"
caddy_pid=
if [ ! -x "$caddy_bin" ] || ! go version -m "$caddy_bin" 2>/dev/null | grep -q "caddyserver/caddy/v2[[:space:]]*${CADDY_VERSION}"; then
	(GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false go install "github.com/caddyserver/caddy/v2/cmd/caddy@${CADDY_VERSION}" \
		>"$CACHE/caddy-install.log" 2>&1) &
	caddy_pid=$!
fi

CHROMIUM_APT_LOG="$CACHE/apt-chromium.log" bash "$(dirname "${BASH_SOURCE[0]}")/../install-chromium.sh" ||
	echo "INSTALL-FAIL chromium apt-get install chromium failed (see $CACHE/apt-chromium.log)"
if ! command -v gtlsclient >/dev/null 2>&1; then
	apt_update
	$SUDO apt-get install -y -qq --no-install-recommends ngtcp2-client >"$CACHE/apt.log" 2>&1 ||
		$SUDO apt-get install -y -qq ngtcp2-client >>"$CACHE/apt.log" 2>&1 || true
fi
command -v gtlsclient >/dev/null 2>&1 || echo "INSTALL-FAIL gtlsclient apt-get install ngtcp2-client failed (see $CACHE/apt.log)"

if ! have_pycurl_h3; then
	if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
		# Copy the main Debian stanza with Suites: bookworm-backports.
		src=/etc/apt/sources.list.d/debian.sources
		if [ -f "$src" ]; then
			awk 'BEGIN{RS="";ORS="\n\n"} /URIs: http[^\n]*debian\/?(\n|$)/ && !/security/ {print; exit}' "$src" |
				sed -E 's/^Suites:.*/Suites: bookworm-backports/' | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
		else
			echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
		fi
		apt_updated=
	fi
	apt_update
	$SUDO apt-get install -y -qq libcurl3-gnutls/bookworm-backports python3-pycurl >"$CACHE/apt-curl.log" 2>&1 || true
	have_pycurl_h3 || echo "INSTALL-FAIL pycurl libcurl3-gnutls/bookworm-backports + python3-pycurl without HTTP/3 (see $CACHE/apt-curl.log)"
fi

# puppeteer-core drives Debian's Chromium (it downloads no browser).
if [ ! -d "$CACHE/node/node_modules/puppeteer-core" ]; then
	mkdir -p "$CACHE/node"
	if ! command -v npm >/dev/null 2>&1; then
		apt_update
		$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >>"$CACHE/apt.log" 2>&1 || true
	fi
	(cd "$CACHE/node" && npm install --silent --no-audit --no-fund puppeteer-core@24 >"$CACHE/npm.log" 2>&1) || true
	[ -d "$CACHE/node/node_modules/puppeteer-core" ] || echo "INSTALL-FAIL chromium npm install puppeteer-core failed (see $CACHE/npm.log)"
fi

if [ -n "$caddy_pid" ]; then
	wait "$caddy_pid" || true
fi
"$caddy_bin" version >/dev/null 2>&1 || echo "INSTALL-FAIL caddy go install caddy@${CADDY_VERSION} failed (see $CACHE/caddy-install.log)"
exit 0
