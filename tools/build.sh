#!/usr/bin/env bash
# tools/build.sh [release|asan|fuzz] — configure and build into build/, build-asan/ or
# build-fuzz/. Jobs: $RECGW_JOBS (default: number of cores).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${RECGW_JOBS:-$(nproc)}"
kind="${1:-release}"
case "$kind" in
  release)
    cmake -S "$REPO" -B "$REPO/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECGW_WERROR=ON >/dev/null
    cmake --build "$REPO/build" -j "$JOBS"
    ;;
  asan)
    cmake -S "$REPO" -B "$REPO/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRECGW_SANITIZE=ON \
      -DRECGW_WERROR=ON -DRECGW_BENCH=OFF >/dev/null
    cmake --build "$REPO/build-asan" -j "$JOBS"
    ;;
  fuzz)
    CC=clang CXX=clang++ cmake -S "$REPO" -B "$REPO/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DRECGW_FUZZ=ON -DRECGW_SANITIZE=ON -DRECGW_BENCH=OFF >/dev/null
    cmake --build "$REPO/build-fuzz" -j "$JOBS"
    ;;
  *) echo "usage: tools/build.sh [release|asan|fuzz]" >&2; exit 2 ;;
esac
