#!/usr/bin/env bash
# tools/test.sh — README command (b) and what CI runs: install everything, build, run the
# unit tests (ctest), the integration tests against a real Redis, FerretDB and MinIO
# (pytest; the tests start the stack themselves), the Python and Node client libraries'
# tests (also against the real stack) and tsc --noEmit, the unit tests again under
# ASan+UBSan, and each fuzz target briefly.
#   RECGW_SKIP_INSTALL=1   skip tools/install.sh
#   RECGW_FUZZ_SECONDS     seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECGW_CACHE="${RECGW_CACHE:-$HOME/.cache/recgw}"
FUZZ_SECONDS="${RECGW_FUZZ_SECONDS:-20}"
cd "$REPO"

section() { printf '\n==== %s ====\n' "$*"; }

[ "${RECGW_SKIP_INSTALL:-0}" = 1 ] || { section install; bash tools/install.sh; }

section "build (release, and ASan+UBSan for the hostile-input tests)"
bash tools/build.sh release
bash tools/build.sh asan

section "unit tests (ctest)"
ctest --test-dir build --output-on-failure -j "$(nproc)"

section "integration tests (pytest, real Redis/FerretDB/MinIO)"
RECGW_BINARY="$REPO/build/recgw" "$RECGW_CACHE/venv/bin/python" -m pytest tests/integration -q -p no:cacheprovider

section "client libraries (clients/python, clients/node) against the real stack"
RECGW_BINARY="$REPO/build/recgw" "$RECGW_CACHE/venv/bin/python" -m pytest clients/python/tests -q -p no:cacheprovider
(cd clients/node && npx --no-install tsc --noEmit && npm run --silent build \
  && RECGW_BINARY="$REPO/build/recgw" RECGW_PYTHON="$RECGW_CACHE/venv/bin/python" node --test test/)

section "unit tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"

if [ "$FUZZ_SECONDS" != 0 ]; then
  section "fuzz targets (${FUZZ_SECONDS}s each)"
  bash tools/build.sh fuzz
  for target in build-fuzz/*_fuzz; do
    name="$(basename "$target" _fuzz)"
    corpus="$REPO/tests/fuzz/corpus/$name"
    work="$(mktemp -d)"
    [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
    echo "-- $name"
    "$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$work" 2>&1 | tail -2
    rm -rf "$work"
  done
fi
section "all tests passed"
