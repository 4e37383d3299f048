#!/usr/bin/env bash
# tools/demo.sh — README command (a): install everything, build, start the local stack
# (Redis, FerretDB, MinIO), seed a demo call with a real recording, start the gateway
# and print a link that plays. Ctrl-C stops the gateway and the stack.
#   RECGW_DEMO_PORT (default 8080), RECGW_STACK_DIR (default /tmp/recgw-stack)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECGW_CACHE="${RECGW_CACHE:-$HOME/.cache/recgw}"
PORT="${RECGW_DEMO_PORT:-8080}"
export RECGW_STACK_DIR="${RECGW_STACK_DIR:-/tmp/recgw-stack}"

bash "$REPO/tools/install.sh"
bash "$REPO/tools/build.sh" release
bash "$REPO/tools/stack.sh" start
eval "$(bash "$REPO/tools/stack.sh" env)"
token="$("$RECGW_CACHE/venv/bin/python" "$REPO/tools/demo_seed.py")"

cleanup() {
  [ -n "${gateway_pid:-}" ] && kill -TERM "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  bash "$REPO/tools/stack.sh" stop || true
}
trap cleanup EXIT INT TERM

RECGW_SERVER_LISTEN="127.0.0.1:$PORT" RECGW_SERVER_PUBLIC_BASE_URL="http://127.0.0.1:$PORT" \
  RECGW_SERVER_WORKERS=1 "$REPO/build/recgw" serve >"$RECGW_STACK_DIR/recgw.access.log" 2>"$RECGW_STACK_DIR/recgw.log" &
gateway_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$RECGW_STACK_DIR/recgw.log" >&2; exit 1; }
  sleep 0.1
done
link="http://127.0.0.1:$PORT/api/v1/public/recordings/$token"
curl -fsS -o /dev/null -w 'demo link answered %{http_code} (%{size_download} bytes)\n' "$link"
curl -sS -w '\n' "http://127.0.0.1:$PORT/readyz" | sed 's/^/readiness: /' 
cat <<MSG

recgw is running on 127.0.0.1:$PORT with the local stack in $RECGW_STACK_DIR.
Open this link in a browser to play the demo recording:

  $link

Logs: $RECGW_STACK_DIR/recgw.log (app) and recgw.access.log (access). Ctrl-C stops everything.
MSG
wait "$gateway_pid"
