#!/usr/bin/env bash
# tools/package.sh [OUTPUT_DIR] — build the Debian package recgw_<version>_amd64.deb (CPack)
# into OUTPUT_DIR (default: build/package) and print its path on the last line.
#   /usr/bin/recgw, /etc/recgw/recgw.toml (conffile), /lib/systemd/system/recgw.service,
#   /usr/share/doc/recgw/{README.md,docs/}; Depends from dpkg-shlibdeps.
# Reuses the release build in build/ (tools/build.sh release) and brings it up to date; the
# example configuration is checked against the binary first, so it cannot drift.
#   RECGW_BUILD_DIR   the CMake build tree to package (default: build/)
#   RECGW_JOBS        build jobs (default: number of cores)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${RECGW_BUILD_DIR:-$REPO/build}"
OUT="${1:-$BUILD/package}"
JOBS="${RECGW_JOBS:-$(nproc)}"

for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool not found (tools/install.sh installs it)" >&2; exit 1; }
done

if [ -f "$BUILD/CMakeCache.txt" ]; then
  # Re-configure: the install and CPack rules are read at configure time.
  cmake "$BUILD" >/dev/null
else
  cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECGW_WERROR=ON >/dev/null
fi
cmake --build "$BUILD" --target recgw -j "$JOBS"

bash "$REPO/tools/packaging/check_example_config.sh" "$BUILD/recgw" "$REPO/tools/packaging/recgw.toml"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
# cpack installs what is built (it does not build): the binary was brought up to date above.
(cd "$BUILD" && cpack -G DEB -B "$OUT" --config "$BUILD/CPackConfig.cmake" >"$OUT/cpack.log" 2>&1) || {
  cat "$OUT/cpack.log" >&2
  echo "package.sh: cpack failed" >&2
  exit 1
}
version="$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")"
deb="$OUT/recgw_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { cat "$OUT/cpack.log" >&2; echo "package.sh: $deb was not produced" >&2; exit 1; }
rm -rf "$OUT/_CPack_Packages"
echo "$deb"
