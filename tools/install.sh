#!/usr/bin/env bash
# tools/install.sh — install everything recgw needs to build and to run its
# integration tests on a fresh Debian 12 machine.  Idempotent: a second run
# skips every step whose result is already present.
#
#   1. apt packages (skipped when all are installed, checked with dpkg-query)
#   2. Go (preinstalled at /usr/local/go/bin; fallback: apt golang-go)
#   3. FerretDB (pinned) and MinIO (pinned) built with Go into $RECGW_CACHE/bin,
#      each with a <name>.version stamp next to the binary
#   4. a Python venv at $RECGW_CACHE/venv with tools/requirements.txt
#      (skipped when the requirements hash is unchanged)
#   5. the browser test's npm packages
#   6. the client libraries' tools: clients/python/requirements-dev.txt into the venv,
#      and clients/node's devDependencies (npm ci); each skipped when its hash is unchanged
#
# Environment:
#   RECGW_CACHE      cache dir (default $HOME/.cache/recgw)
#   FERRETDB_VERSION override the pinned FerretDB tag   (default v1.24.2)
#   MINIO_VERSION    override the pinned MinIO version  (default below)
#   GO_BUILD_JOBS    go build -p value (default: number of CPUs)
set -euo pipefail

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"

APT_PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config clang libclang-rt-14-dev
  libevent-dev libcurl4-openssl-dev libssl-dev libhiredis-dev
  libmongoc-dev libbson-dev libsimdjson-dev libtoml11-dev libexpected-dev
  libmimalloc-dev libgtest-dev libgmock-dev libbenchmark-dev
  redis-server sox espeak-ng nginx-light wrk valgrind gdb
  python3 python3-venv ca-certificates chromium
  # tools/package.sh and its test: dpkg-shlibdeps; systemd-analyze to verify the unit
  # (installing systemd in a container only adds its tools; it does not become init);
  # strace to check the unit's system call filter against a serving gateway.
  dpkg-dev systemd strace
)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECGW_CACHE="${RECGW_CACHE:-$HOME/.cache/recgw}"
BIN="$RECGW_CACHE/bin"
VENV="$RECGW_CACHE/venv"
REQS="$REPO/tools/requirements.txt"

step() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die()  { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || printf "install.sh: FAILED (exit %d) while running: %s\n" "$rc" "$BASH_COMMAND" >&2' EXIT

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed"
  SUDO=(sudo)
fi

mkdir -p "$BIN"

# --- 1. apt -------------------------------------------------------------------
step "apt packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  st="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
  [ "$st" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  info "all ${#APT_PACKAGES[@]} packages installed, skipping apt"
else
  info "missing: ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
    || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}" \
    || die "apt-get install failed"
fi

# --- 2. Go --------------------------------------------------------------------
step "Go"
export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null 2>&1; then
  info "go not found in PATH or /usr/local/go/bin: installing Debian's golang-go as a fallback"
  info "(Debian 12's Go is 1.19: it may be too old for FerretDB/MinIO, which need Go >= 1.24;"
  info " install an official Go into /usr/local/go if the builds below fail)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q golang-go \
    || die "apt-get install golang-go failed"
fi
GO="$(command -v go)"
info "$("$GO" version) ($GO)"
GOJOBS=(); [ -n "${GO_BUILD_JOBS:-}" ] && GOJOBS=(-p "$GO_BUILD_JOBS")

# --- 3a. FerretDB ---------------------------------------------------------------
# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@vX` builds a binary that
# panics at start-up: the module zip lacks build/version/version.txt, which
# FerretDB embeds and checks.  So: download the pinned module with the Go
# module proxy, copy it, write the version files, and `go build` from there.
step "FerretDB $FERRETDB_VERSION"
ferret_ok() {
  [ -x "$BIN/ferretdb" ] && [ "$(cat "$BIN/ferretdb.version" 2>/dev/null)" = "$FERRETDB_VERSION" ] \
    && "$BIN/ferretdb" --version 2>/dev/null | grep -qx "version: $FERRETDB_VERSION"
}
if ferret_ok; then
  info "already built: $BIN/ferretdb, skipping"
else
  t0=$SECONDS
  moddir="$(GOFLAGS=-mod=mod "$GO" mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
            | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$moddir" ] || die "go mod download github.com/FerretDB/FerretDB@$FERRETDB_VERSION failed"
  src="$(mktemp -d "${TMPDIR:-/tmp}/recgw-ferretdb-src.XXXXXX")"
  cp -r "$moddir/." "$src/"
  chmod -R u+w "$src"
  printf '%s\n' "$FERRETDB_VERSION" > "$src/build/version/version.txt"
  printf 'unknown\n'  > "$src/build/version/commit.txt"
  printf 'unknown\n'  > "$src/build/version/branch.txt"
  printf 'unknown\n'  > "$src/build/version/package.txt"
  info "building from $src (takes a minute or two)"
  (cd "$src" && "$GO" build "${GOJOBS[@]}" -buildvcs=false -trimpath -o "$BIN/ferretdb.tmp" ./cmd/ferretdb) \
    || { rm -rf "$src"; die "FerretDB build failed"; }
  rm -rf "$src"
  mv -f "$BIN/ferretdb.tmp" "$BIN/ferretdb"
  printf '%s\n' "$FERRETDB_VERSION" > "$BIN/ferretdb.version"
  ferret_ok || die "built $BIN/ferretdb does not report version $FERRETDB_VERSION"
  info "built $BIN/ferretdb in $((SECONDS - t0)) s"
fi

# --- 3b. MinIO ----------------------------------------------------------------
# MinIO's own --version says DEVELOPMENT.GOGET for go-installed builds, so the
# pinned version is checked from the module info embedded in the binary.
step "MinIO $MINIO_VERSION"
minio_ok() {
  [ -x "$BIN/minio" ] && [ "$(cat "$BIN/minio.version" 2>/dev/null)" = "$MINIO_VERSION" ] \
    && "$GO" version -m "$BIN/minio" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/minio/minio[[:space:]]+$MINIO_VERSION([[:space:]]|\$)"
}
if minio_ok; then
  info "already built: $BIN/minio, skipping"
else
  t0=$SECONDS
  info "go install github.com/minio/minio@$MINIO_VERSION (takes a few minutes)"
  GOBIN="$BIN" "$GO" install "${GOJOBS[@]}" "github.com/minio/minio@$MINIO_VERSION" \
    || die "go install github.com/minio/minio@$MINIO_VERSION failed"
  printf '%s\n' "$MINIO_VERSION" > "$BIN/minio.version"
  minio_ok || die "built $BIN/minio does not carry module version $MINIO_VERSION"
  info "built $BIN/minio in $((SECONDS - t0)) s"
fi

# --- 4. Python venv -----------------------------------------------------------
step "Python venv $VENV"
[ -f "$REQS" ] || die "missing $REQS"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
have="$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)"
if [ -x "$VENV/bin/python" ] && [ "$want" = "$have" ]; then
  info "requirements unchanged, skipping pip"
else
  PY="$(command -v python3 || true)"
  [ -n "$PY" ] || die "python3 not found"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS" \
    || die "pip install -r $REQS failed"
  printf '%s\n' "$want" > "$VENV/.requirements.sha256"
  info "installed $(grep -c '^[A-Za-z]' "$REQS") requirements"
fi

# --- 5. browser test driver ------------------------------------------------------
step "playwright-core for the browser test (tests/browser)"
if ! command -v npm >/dev/null 2>&1; then
  info "npm missing: installing Debian's nodejs and npm"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm \
    || die "apt-get install nodejs npm failed"
fi
lock_hash="$(sha256sum "$REPO/tests/browser/package-lock.json" | cut -d' ' -f1)"
stamp="$REPO/tests/browser/node_modules/.recgw-lock.sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  info "node_modules up to date, skipping npm ci"
else
  (cd "$REPO/tests/browser" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in tests/browser failed"
  echo "$lock_hash" > "$stamp"
fi

# --- 6. client libraries (clients/python, clients/node) -----------------------------
step "Python client tools into $VENV (clients/python/requirements-dev.txt)"
client_reqs="$REPO/clients/python/requirements-dev.txt"
client_want="$(sha256sum "$client_reqs" | cut -d' ' -f1)"
client_stamp="$VENV/.clients-requirements.sha256"
if [ -f "$client_stamp" ] && [ "$(cat "$client_stamp")" = "$client_want" ]; then
  info "client requirements unchanged, skipping pip"
else
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --cache-dir "$RECGW_CACHE/pip" -r "$client_reqs" \
    || die "pip install -r $client_reqs failed"
  printf '%s\n' "$client_want" > "$client_stamp"
fi
step "TypeScript for the Node client (clients/node, devDependencies only)"
lock_hash="$(sha256sum "$REPO/clients/node/package-lock.json" | cut -d' ' -f1)"
stamp="$REPO/clients/node/node_modules/.recgw-lock.sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  info "node_modules up to date, skipping npm ci"
else
  (cd "$REPO/clients/node" && npm ci --no-audit --no-fund --loglevel=error --cache "$RECGW_CACHE/npm") \
    || die "npm ci in clients/node failed"
  echo "$lock_hash" > "$stamp"
fi

step "done"
info "binaries: $BIN/ferretdb, $BIN/minio; venv: $VENV"
info "next: tools/stack.sh start && eval \"\$(tools/stack.sh env)\""
