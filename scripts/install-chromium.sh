#!/usr/bin/env bash
# Installs Debian's Chromium (apt-get install chromium) unless a chromium
# is already on PATH. Two users: scripts/interop.sh (through
# scripts/interop/install.sh) drives it over HTTP/3, and scripts/test.sh
# needs it for the browser tests (transport/admin TestUIInChromium, perf
# TestReportInChromium, run with FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1).
# Idempotent. Exits 0 when chromium is on PATH afterwards, else 1; apt's
# output goes to $CHROMIUM_APT_LOG (default /tmp/femtoclaw-chromium-apt.log).
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0
LOG=${CHROMIUM_APT_LOG:-/tmp/femtoclaw-chromium-apt.log}
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
{
	$SUDO apt-get update -qq &&
		{ $SUDO apt-get install -y -qq --no-install-recommends chromium || $SUDO apt-get install -y -qq chromium; }
} >"$LOG" 2>&1 || true
command -v chromium >/dev/null 2>&1
