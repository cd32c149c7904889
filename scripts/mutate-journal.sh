#!/usr/bin/env bash
# Mutation test of the journal's durability code: each line marked
# `// mutate:NAME` in journal/*.go (a sync, a directory sync or a sticky-
# error check, written as `X = CALL // mutate:NAME` or `X := CALL ...`) is,
# one at a time, replaced by `X = error(nil)` in a copy of the tree; the
# journal's power-loss and failure tests must then fail. The script fails
# if any mutation survives (no test caught it) or if a marker is not of
# that form.
#
#   scripts/mutate-journal.sh            every mutation
#   scripts/mutate-journal.sh NAME...    only these
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
TESTS='^(TestPowerLoss.*|TestMemFSCrash|TestSyncAfterFailedSync|TestFailedBatchQueuedBehind|TestStickyError|TestUnconfirmedTailRewritten)$'
work=$(mktemp -d /tmp/femtoclaw-mutate.XXXXXX)
trap 'rm -rf "$work"' EXIT
git ls-files -z | xargs -0 -I{} cp --parents {} "$work/" 2>/dev/null || cp -r . "$work/"
cd "$work"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <(grep -ho '// mutate:[a-z0-9-]*' journal/*.go | sed 's|// mutate:||' | sort -u)
fi
echo "== baseline: the selected tests pass unmutated"
go test -count=1 -run "$TESTS" ./journal >/dev/null
survived=()
for name in "${names[@]}"; do
  files=$(grep -l "// mutate:$name\$" journal/*.go || true)
  if [ -z "$files" ]; then echo "mutation $name: no such marker"; exit 2; fi
  for f in $files; do cp "$f" "$f.orig"; done
  # Replace the right-hand side of the marked assignment with error(nil).
  perl -pi -e 's/^(\s*\S+(?:, \S+)*\s*:?=)\s*.*?\s*\/\/ mutate:'"$name"'$/$1 error(nil) \/\/ mutated:'"$name"'/' $files
  if ! grep -q "// mutated:$name\$" $files; then echo "mutation $name: marker not of the form 'X = CALL // mutate:$name'"; exit 2; fi
  # A mutation may make a test wait forever (a sync that never comes):
  # the timeout turns that into a failure, which counts as caught.
  out=$(go test -count=1 -timeout 90s -run "$TESTS" ./journal 2>&1) && rc=0 || rc=$?
  if [ $rc -eq 0 ]; then
    echo "mutation $name: SURVIVED (no test failed)"
    survived+=("$name")
  elif echo "$out" | grep -q '^--- FAIL'; then
    caught=$(echo "$out" | grep '^--- FAIL' | sed 's/^--- FAIL: \([^ ]*\).*/\1/' | sort -u | tr '\n' ' ')
    echo "mutation $name: caught by $caught"
  elif echo "$out" | grep -q '^panic: test timed out'; then
    echo "mutation $name: caught (a test hung: $(echo "$out" | grep -A2 'running tests:' | tail -1 | tr -s ' \t' ' '))"
  else
    echo "mutation $name: build or run failed, not a test failure:"; echo "$out" | head -20; exit 2
  fi
  for f in $files; do mv "$f.orig" "$f"; done
done
if [ ${#survived[@]} -gt 0 ]; then
  echo "FAIL: mutations no test caught: ${survived[*]}"
  exit 1
fi
echo "ok: ${#names[@]} mutations, each caught"
