#!/usr/bin/env bash
# The project's test entry point: installs what the tests need, then runs
# every test under the race detector. CI runs this on a fresh machine.
#
#   scripts/test.sh            all tests (race), fuzz seeds, vet, gofmt,
#                              cross-builds (linux/arm64, darwin/arm64, windows/amd64),
#                              journal mutations (scripts/mutate-journal.sh), crash,
#                              a smoke run of scripts/bench-matrix.sh
#   FEMTOCLAW_TEST_SHORT=1 scripts/test.sh   skip the long crash/soak variants
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}") \
      >/tmp/femtoclaw-apt.log 2>&1 || echo "WARN: apt-get install ${need_apt[*]} failed (see /tmp/femtoclaw-apt.log); tests that need them will say so"
  fi
fi

# The browser tests (the admin page, transport/admin TestUIInChromium; the
# HTML report, perf TestReportInChromium) need Chromium; with
# FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1 a missing one fails them instead of
# skipping them, so CI cannot pass without running them.
echo "== chromium (the browser tests)"
scripts/install-chromium.sh || echo "WARN: chromium could not be installed (see ${CHROMIUM_APT_LOG:-/tmp/femtoclaw-chromium-apt.log}); TestUIInChromium and TestReportInChromium will fail"
export FEMTOCLAW_TEST_REQUIRE_CHROMIUM=${FEMTOCLAW_TEST_REQUIRE_CHROMIUM:-1}

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './perf/*'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...

# Cross-builds: the main module builds, vets and links its test binaries
# for every platform the README lists (tests run only on the host, below:
# -exec true runs none of them).
echo "== cross-build"
for target in linux/amd64 linux/arm64 darwin/arm64 windows/amd64; do
  echo "-- $target"
  GOOS=${target%/*} GOARCH=${target#*/} go build ./...
  GOOS=${target%/*} GOARCH=${target#*/} go vet ./...
  GOOS=${target%/*} GOARCH=${target#*/} go test -count=1 -run '^$' -exec true ./... >/dev/null
done

short=()
[ -n "${FEMTOCLAW_TEST_SHORT:-}" ] && short=(-short)

if ! command -v cc >/dev/null 2>&1; then
  echo "NOTE: no C compiler (cc): the C shared-memory ring client (ipc/cclient) is not built or tested"
fi

echo "== go test -race"
go test -race -count=1 -timeout 20m "${short[@]}" ./...

echo "== idle CPU of the shared-memory ring (normal build: the race detector inflates it)"
go test -count=1 "${short[@]}" -run '^TestIdleCPU$' ./ipc

echo "== journal mutations"
scripts/mutate-journal.sh

echo "== crash: kill -9 under durable load, restart, verify"
scripts/crash.sh

echo "== bench-matrix smoke (servers, ceilings, reports and the ratio table; the figures mean nothing)"
smoke_out=$(mktemp -d /tmp/femtoclaw-matrix-smoke.XXXXXX)
scripts/bench-matrix.sh --smoke --out "$smoke_out" >/dev/null
rm -rf "$smoke_out"

if [ -x scripts/interop.sh ] && [ -z "${FEMTOCLAW_TEST_SKIP_INTEROP:-}" ]; then
  echo "== interop (real HTTP/3 clients)"
  scripts/interop.sh
fi
echo "== all tests passed"
