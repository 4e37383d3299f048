#!/usr/bin/env bash
# tools/stack.sh — the real local stack for recgw: Redis, FerretDB (MongoDB wire
# protocol, SQLite backend) and MinIO (S3), all on 127.0.0.1.
#
#   tools/stack.sh start  [SERVICE...] [--dir DIR]   start (all, or the named services)
#   tools/stack.sh stop   [SERVICE...] [--dir DIR] [--kill]
#                                                    stop (all, or the named services);
#                                                    --kill: SIGKILL at once (a crash)
#   tools/stack.sh status [SERVICE...] [--dir DIR]   exit 0 iff all named services are up
#   tools/stack.sh env    [--dir DIR]                `export RECGW_...` lines to eval
#   tools/stack.sh ports  [--dir DIR]                the state file (KEY=VALUE lines)
#
# SERVICE is one of: redis ferretdb minio.
# DIR defaults to ${RECGW_STACK_DIR:-/tmp/recgw-stack}.  It holds DIR/stack.env
# (ports and credentials, chosen at the first start and reused afterwards so a
# stopped service comes back on the same port), DIR/<service>.pid,
# DIR/<service>.log and the data directories DIR/redis, DIR/ferretdb, DIR/minio.
#
# Ports: free ports are picked at the first start unless REDIS_PORT, MONGO_PORT,
# MINIO_PORT, MINIO_CONSOLE_PORT are set (they override the state file).
# MinIO credentials: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (defaults below).
# Readiness is real and bounded by STACK_TIMEOUT seconds (default 60): Redis
# answers PING, FerretDB answers the `ping` command over the wire protocol,
# MinIO answers 200 on /minio/health/ready.  `start` also creates the bucket.
# Binaries: ${RECGW_CACHE:-$HOME/.cache/recgw}/bin (tools/install.sh), else PATH;
# FERRETDB_BIN, MINIO_BIN, REDIS_BIN override.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECGW_CACHE="${RECGW_CACHE:-$HOME/.cache/recgw}"
ALL_SERVICES=(redis ferretdb minio)
BUCKET="recordings"
REGION="us-east-1"
MONGO_DB="cxb"
TIMEOUT="${STACK_TIMEOUT:-60}"

die() { printf 'stack.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'stack.sh: %s\n' "$*" >&2; }

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- arguments ----------------------------------------------------------------
[ $# -ge 1 ] || usage
CMD="$1"; shift
DIR="${RECGW_STACK_DIR:-/tmp/recgw-stack}"
SERVICES=()
KILL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#--dir=}"; shift ;;
    redis|ferretdb|minio) SERVICES+=("$1"); shift ;;
    mongo) SERVICES+=("ferretdb"); shift ;;
    --kill) KILL=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1 (services: ${ALL_SERVICES[*]})" ;;
  esac
done
[ ${#SERVICES[@]} -gt 0 ] || SERVICES=("${ALL_SERVICES[@]}")
case "$DIR" in /*) ;; *) DIR="$(pwd)/$DIR" ;; esac
STATE="$DIR/stack.env"

# ---- tools --------------------------------------------------------------------
find_bin() {  # find_bin NAME OVERRIDE
  local name="$1" override="$2"
  if [ -n "$override" ]; then printf '%s\n' "$override"; return; fi
  if [ -x "$RECGW_CACHE/bin/$name" ]; then printf '%s\n' "$RECGW_CACHE/bin/$name"; return; fi
  command -v "$name" 2>/dev/null || true
}

# Python: the venv from tools/install.sh (boto3 for the bucket), else python3
# for the stdlib-only helpers.
VENV_PY="$RECGW_CACHE/venv/bin/python"
if [ -x "$VENV_PY" ]; then PY="$VENV_PY"; else PY="$(command -v python3 || true)"; fi
[ -n "$PY" ] || die "python3 not found (run tools/install.sh)"

# Stdlib-only helper: free ports, readiness probes.
read -r -d '' HELPER <<'PYEOF' || true
import os, socket, struct, sys, time, urllib.request

def pick(n):
    socks = []
    for _ in range(n):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks: s.close()

def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk: raise OSError("connection closed")
        buf += chunk
    return buf

def probe_redis(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith(b"+PONG")

def bson_find_ok(doc):
    # Walk a BSON document's top-level elements; return the value of "ok".
    i, end = 4, len(doc) - 1
    while i < end:
        t = doc[i]; i += 1
        j = doc.index(b"\0", i); name = doc[i:j].decode(); i = j + 1
        if t == 0x01: val = struct.unpack_from("<d", doc, i)[0]; i += 8
        elif t == 0x10: val = struct.unpack_from("<i", doc, i)[0]; i += 4
        elif t == 0x12: val = struct.unpack_from("<q", doc, i)[0]; i += 8
        elif t == 0x08: val = doc[i]; i += 1
        elif t in (0x02, 0x0D, 0x0E): n = struct.unpack_from("<i", doc, i)[0]; val = None; i += 4 + n
        elif t in (0x03, 0x04): n = struct.unpack_from("<i", doc, i)[0]; val = None; i += n
        elif t == 0x05: n = struct.unpack_from("<i", doc, i)[0]; val = None; i += 5 + n
        elif t == 0x07: val = None; i += 12
        elif t in (0x09, 0x11): val = None; i += 8
        elif t == 0x13: val = None; i += 16
        elif t in (0x0A, 0x06, 0x7F, 0xFF): val = None
        else: return None
        if name == "ok": return val
    return None

def probe_mongo(port):
    # OP_MSG {ping: 1, $db: "admin"} — the same command drivers use.
    def el_int(k, v): return b"\x10" + k.encode() + b"\0" + struct.pack("<i", v)
    def el_str(k, v):
        b = v.encode() + b"\0"
        return b"\x02" + k.encode() + b"\0" + struct.pack("<i", len(b)) + b
    body = el_int("ping", 1) + el_str("$db", "admin")
    doc = struct.pack("<i", len(body) + 5) + body + b"\0"
    payload = struct.pack("<I", 0) + b"\0" + doc
    msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        s.sendall(msg)
        hdr = recv_exact(s, 16)
        length, _, _, opcode = struct.unpack("<iiii", hdr)
        rest = recv_exact(s, length - 16)
        if opcode != 2013 or rest[4] != 0: return False
        return bson_find_ok(rest[5:]) in (1, 1.0, True)

def probe_http(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False

PROBES = {"redis": probe_redis, "ferretdb": probe_mongo,
          "minio": lambda p: probe_http(p, "/minio/health/ready")}

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False

def probe(kind, port):
    try: return bool(PROBES[kind](port))
    except Exception: return False

def wait(kind, port, pid, timeout):
    deadline = time.monotonic() + timeout
    while True:
        if pid and not alive(pid):
            print(f"{kind} (pid {pid}) exited before it was ready", file=sys.stderr); return 1
        if probe(kind, port): return 0
        if time.monotonic() > deadline:
            print(f"{kind} not ready on 127.0.0.1:{port} after {timeout}s", file=sys.stderr); return 1
        time.sleep(0.1)

cmd = sys.argv[1]
if cmd == "pick": pick(int(sys.argv[2]))
elif cmd == "listening": sys.exit(0 if listening(int(sys.argv[2])) else 1)
elif cmd == "probe": sys.exit(0 if probe(sys.argv[2], int(sys.argv[3])) else 1)
elif cmd == "wait": sys.exit(wait(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
elif cmd == "alive": sys.exit(0 if alive(int(sys.argv[2])) else 1)
else: sys.exit(f"unknown helper command {cmd}")
PYEOF
helper() { "$PY" -c "$HELPER" "$@"; }

# ---- state (ports, credentials) ---------------------------------------------------
load_state() {
  [ -f "$STATE" ] || return 1
  # shellcheck disable=SC1090
  . "$STATE"
}

init_state() {
  mkdir -p "$DIR"
  local f_redis="" f_mongo="" f_minio="" f_console=""
  if [ -f "$STATE" ]; then
    f_redis="$(sed -n 's/^REDIS_PORT=//p' "$STATE")"
    f_mongo="$(sed -n 's/^MONGO_PORT=//p' "$STATE")"
    f_minio="$(sed -n 's/^MINIO_PORT=//p' "$STATE")"
    f_console="$(sed -n 's/^MINIO_CONSOLE_PORT=//p' "$STATE")"
    S_USER="$(sed -n 's/^MINIO_ROOT_USER=//p' "$STATE")"
    S_PASS="$(sed -n 's/^MINIO_ROOT_PASSWORD=//p' "$STATE")"
  fi
  # environment > state file > freshly picked
  local picked; picked=($(helper pick 4))
  REDIS_PORT="${REDIS_PORT:-${f_redis:-${picked[0]}}}"
  MONGO_PORT="${MONGO_PORT:-${f_mongo:-${picked[1]}}}"
  MINIO_PORT="${MINIO_PORT:-${f_minio:-${picked[2]}}}"
  MINIO_CONSOLE_PORT="${MINIO_CONSOLE_PORT:-${f_console:-${picked[3]}}}"
  MINIO_ROOT_USER="${MINIO_ROOT_USER:-${S_USER:-recgwadmin}}"
  MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-${S_PASS:-recgwadmin-secret}}"
  local p
  for p in "$REDIS_PORT" "$MONGO_PORT" "$MINIO_PORT" "$MINIO_CONSOLE_PORT"; do
    [[ "$p" =~ ^[0-9]+$ ]] || die "bad port: $p"
  done
  cat > "$STATE.tmp" <<EOF
REDIS_PORT=$REDIS_PORT
MONGO_PORT=$MONGO_PORT
MINIO_PORT=$MINIO_PORT
MINIO_CONSOLE_PORT=$MINIO_CONSOLE_PORT
MINIO_ROOT_USER=$MINIO_ROOT_USER
MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD
EOF
  mv -f "$STATE.tmp" "$STATE"
}

port_of() {
  case "$1" in
    redis) echo "$REDIS_PORT" ;;
    ferretdb) echo "$MONGO_PORT" ;;
    minio) echo "$MINIO_PORT" ;;
  esac
}

# ---- processes ----------------------------------------------------------------
pid_of() {  # prints the pid when the service's recorded process is alive
  local f="$DIR/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  helper alive "$pid" || return 1
  # guard against a reused pid: the command line must name our binary
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(bin_name "$1")" || return 1
  echo "$pid"
}

bin_name() {
  case "$1" in redis) echo redis-server ;; ferretdb) echo ferretdb ;; minio) echo minio ;; esac
}

# The exact command line of each service: the one source of truth (the pytest
# fixtures in tests/integration call this script).
service_cmd() {
  local svc="$1" bin
  case "$svc" in
    redis)
      bin="$(find_bin redis-server "${REDIS_BIN:-}")"
      [ -n "$bin" ] || die "redis-server not found (apt-get install redis-server)"
      mkdir -p "$DIR/redis"
      CMDLINE=("$bin" --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis"
               --save "" --appendonly no --daemonize no --protected-mode yes
               --logfile "" --loglevel notice)
      ;;
    ferretdb)
      bin="$(find_bin ferretdb "${FERRETDB_BIN:-}")"
      [ -n "$bin" ] || die "ferretdb not found (run tools/install.sh)"
      mkdir -p "$DIR/ferretdb/data" "$DIR/ferretdb/state"
      CMDLINE=("$bin" --handler=sqlite --sqlite-url="file:$DIR/ferretdb/data/"
               --state-dir="$DIR/ferretdb/state" --listen-addr="127.0.0.1:$MONGO_PORT"
               --debug-addr=- --telemetry=disable --log-level=INFO --log-format=console)
      ;;
    minio)
      bin="$(find_bin minio "${MINIO_BIN:-}")"
      [ -n "$bin" ] || die "minio not found (run tools/install.sh)"
      mkdir -p "$DIR/minio"
      CMDLINE=("$bin" server "$DIR/minio" --address "127.0.0.1:$MINIO_PORT"
               --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --quiet --anonymous)
      ;;
  esac
}

start_one() {
  local svc="$1" port pid
  port="$(port_of "$svc")"
  if pid="$(pid_of "$svc")"; then
    say "$svc already running (pid $pid, port $port)"
  else
    if helper listening "$port"; then
      die "$svc: port 127.0.0.1:$port is already in use by another process"
    fi
    if [ "$svc" = minio ] && helper listening "$MINIO_CONSOLE_PORT"; then
      die "minio: console port 127.0.0.1:$MINIO_CONSOLE_PORT is already in use"
    fi
    service_cmd "$svc"
    printf '%s %s\n' "--- $(date -Is) start:" "${CMDLINE[*]}" >> "$DIR/$svc.log"
    # setsid: its own session, so a Ctrl-C in the caller's terminal does not
    # reach it (the caller stops it explicitly).  setsid execs (no fork) because
    # a background job of a non-interactive shell is not a group leader.
    MINIO_ROOT_USER="$MINIO_ROOT_USER" MINIO_ROOT_PASSWORD="$MINIO_ROOT_PASSWORD" \
    MINIO_UPDATE=off MINIO_BROWSER=off MINIO_PROMETHEUS_AUTH_TYPE=public \
    FERRETDB_TELEMETRY=disable DO_NOT_TRACK=1 \
      setsid "${CMDLINE[@]}" >> "$DIR/$svc.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$DIR/$svc.pid"
    say "$svc starting (pid $pid, 127.0.0.1:$port)"
  fi
  if ! helper wait "$svc" "$port" "$pid" "$TIMEOUT"; then
    say "last lines of $DIR/$svc.log:"
    tail -n 20 "$DIR/$svc.log" >&2 || true
    stop_one "$svc" >/dev/null 2>&1 || true
    die "$svc failed to become ready"
  fi
  say "$svc ready"
}

stop_one() {
  local svc="$1" pid i
  if ! pid="$(pid_of "$svc")"; then
    rm -f "$DIR/$svc.pid"
    say "$svc not running"
    return 0
  fi
  # FerretDB waits up to 3 s for idle client connections before it exits
  if [ "$KILL" = 1 ]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
  for ((i = 0; i < 100; i++)); do            # up to 10 s for a clean exit
    helper alive "$pid" || break
    sleep 0.1
  done
  if helper alive "$pid"; then
    say "$svc (pid $pid) ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do helper alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$DIR/$svc.pid"
  say "$svc stopped"
}

ensure_bucket() {
  [ -x "$VENV_PY" ] || die "boto3 needed to create the bucket: run tools/install.sh (venv $RECGW_CACHE/venv)"
  S3_ENDPOINT="http://127.0.0.1:$MINIO_PORT" "$VENV_PY" - "$BUCKET" <<'PYEOF'
import os, sys, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["MINIO_ROOT_USER"],
                  aws_secret_access_key=os.environ["MINIO_ROOT_PASSWORD"],
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
try:
    s3.head_bucket(Bucket=sys.argv[1])
except ClientError:
    s3.create_bucket(Bucket=sys.argv[1])
    print(f"stack.sh: bucket {sys.argv[1]} created", file=sys.stderr)
PYEOF
}

print_env() {
  local q="'"
  printf 'export RECGW_MONGO_URI=%s\n' "${q}mongodb://127.0.0.1:$MONGO_PORT/$MONGO_DB?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000${q}"
  printf 'export RECGW_REDIS_URL=%s\n' "redis://127.0.0.1:$REDIS_PORT"
  printf 'export RECGW_S3_ENDPOINT=%s\n' "http://127.0.0.1:$MINIO_PORT"
  printf 'export RECGW_S3_ACCESS_KEY=%s\n' "${q}$MINIO_ROOT_USER${q}"
  printf 'export RECGW_S3_SECRET_KEY=%s\n' "${q}$MINIO_ROOT_PASSWORD${q}"
  printf 'export RECGW_S3_BUCKET=%s\n' "$BUCKET"
  printf 'export RECGW_S3_REGION=%s\n' "$REGION"
}

# ---- commands -------------------------------------------------------------------
case "$CMD" in
  start)
    init_state
    export MINIO_ROOT_USER MINIO_ROOT_PASSWORD
    for s in "${SERVICES[@]}"; do start_one "$s"; done
    for s in "${SERVICES[@]}"; do [ "$s" = minio ] && ensure_bucket; done
    say "stack up in $DIR (eval \"\$($0 env --dir $DIR)\")"
    ;;
  stop)
    if ! load_state; then say "no stack in $DIR"; exit 0; fi
    for s in "${SERVICES[@]}"; do stop_one "$s"; done
    ;;
  status)
    load_state || { say "no stack in $DIR"; exit 3; }
    rc=0
    for s in "${SERVICES[@]}"; do
      port="$(port_of "$s")"
      if pid="$(pid_of "$s")" && helper probe "$s" "$port"; then
        printf '%-9s up    pid %-7s 127.0.0.1:%s\n' "$s" "$pid" "$port"
      elif pid="$(pid_of "$s")"; then
        printf '%-9s alive pid %-7s 127.0.0.1:%s (not answering)\n' "$s" "$pid" "$port"; rc=3
      else
        printf '%-9s down            127.0.0.1:%s\n' "$s" "$port"; rc=3
      fi
    done
    exit $rc
    ;;
  env)
    load_state || die "no stack in $DIR (run: $0 start --dir $DIR)"
    print_env
    ;;
  ports)
    load_state || die "no stack in $DIR"
    cat "$STATE"
    ;;
  *) usage ;;
esac
