#!/usr/bin/env bash
# bench/build_clean.sh [REV] — build recgw and recgw_bench from a clean export of a commit
# (default HEAD) into ${RECGW_BENCH_BUILD:-/tmp/recgw-bench-build}/<rev>/, so a benchmark
# measures exactly one commit and not whatever uncommitted files sit in the work tree.
# Prints the build directory; then:
#   RECGW_BINARY=<dir>/recgw RECGW_REV=<rev> ~/.cache/recgw/venv/bin/python bench/run.py
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REV="$(git -C "$REPO" rev-parse "${1:-HEAD}")"
ROOT="${RECGW_BENCH_BUILD:-/tmp/recgw-bench-build}/${REV:0:12}"
if [ ! -d "$ROOT/src" ]; then
  mkdir -p "$ROOT/src.tmp"
  git -C "$REPO" archive "$REV" | tar -x -C "$ROOT/src.tmp"
  mv "$ROOT/src.tmp" "$ROOT/src"
fi
cmake -S "$ROOT/src" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build" -j "${RECGW_JOBS:-2}" --target recgw recgw_bench >&2
echo "$ROOT/build"
