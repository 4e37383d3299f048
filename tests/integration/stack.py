"""The real local stack (Redis, FerretDB, MinIO) and the recgw gateway, for tests.

Every service command line lives in tools/stack.sh (the one source of truth);
this module drives it with `tools/stack.sh start|stop|status|env --dir DIR`
and reads back the ports and credentials it chose.

    st = Stack(tmpdir).start()        # all three, ready, bucket created
    st.mongo_uri, st.redis_url, st.s3_endpoint, st.env   # RECGW_* dict
    st.db.calls.insert_one(...)       # pymongo Database "cxb"
    st.s3.put_object(Bucket=st.bucket, Key="k", Body=b"...")
    st.redis.ping()
    st.stop_service("ferretdb"); st.start_service("ferretdb")   # same port + data
    gw = start_gateway(st, extra_env={...}, args=[...])
    requests.get(gw.url + "/healthz"); gw.stop()
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "tools" / "stack.sh"
SERVICES = ("redis", "ferretdb", "minio")
SERVICE_ALIASES = {"mongo": "ferretdb", "mongodb": "ferretdb", "s3": "minio"}


_PORTS_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that no earlier call returned:
    two calls before anything binds (an ops port, then the gateway's own) could otherwise
    get the same port from the kernel, and the gateway refuses to start with both on it."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_HANDED_OUT:
            _PORTS_HANDED_OUT.add(port)
            return port
    raise RuntimeError("free_port: the kernel kept offering ports this run already handed out")


def _service(name: str) -> str:
    name = SERVICE_ALIASES.get(name, name)
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of {SERVICES}")
    return name


class StackError(RuntimeError):
    pass


class Stack:
    """Redis + FerretDB + MinIO in one directory, driven through tools/stack.sh."""

    db_name = "cxb"

    def __init__(self, directory: os.PathLike | str, timeout: float = 60.0,
                 env: Optional[Mapping[str, str]] = None):
        """env: variables for stack.sh, e.g. other MINIO_ROOT_USER/MINIO_ROOT_PASSWORD for a
        second, independent MinIO (Stack(dir2, env=...).start("minio"))."""
        self.dir = Path(directory).resolve()
        self.timeout = timeout
        self.env_overrides = dict(env or {})
        self._mongo = None
        self._redis = None
        self._s3 = None
        self.env: dict[str, str] = {}
        self.ports: dict[str, str] = {}

    # ---- driving stack.sh --------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env["STACK_TIMEOUT"] = str(int(self.timeout))
        # ports come from DIR/stack.env, never from a caller's environment
        for k in ("REDIS_PORT", "MONGO_PORT", "MINIO_PORT", "MINIO_CONSOLE_PORT"):
            env.pop(k, None)
        env.update(self.env_overrides)
        cmd = [str(STACK_SH), *args, "--dir", str(self.dir)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=self.timeout * 3 + 30)
        if check and p.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
        return p

    def _load(self) -> None:
        self.ports = {}
        for line in (self.dir / "stack.env").read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                self.ports[k] = v
        self.env = {}
        for line in self._run("env").stdout.splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                k, v = words[1].split("=", 1)
                self.env[k] = v

    def start(self, *services: str) -> "Stack":
        """Start all services (or the named ones) and wait until they answer."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._run("start", *[_service(s) for s in services])
        self._load()
        return self

    def stop(self, *services: str) -> None:
        """Stop all services (or the named ones). Data stays in self.dir."""
        if not services:
            self.close_clients()   # FerretDB would wait for our idle connections
        if (self.dir / "stack.env").exists():
            self._run("stop", *[_service(s) for s in services], check=False)

    def start_service(self, name: str) -> None:
        """Start one service again, on the same port and data directory."""
        self.start(name)

    def stop_service(self, name: str, kill: bool = False) -> None:
        """Stop one service: SIGTERM (then SIGKILL after 10 s), or with kill=True
        SIGKILL at once, like a crash.  FerretDB's graceful stop takes up to 3 s
        (it waits for idle client connections)."""
        name = _service(name)
        if name == "ferretdb" and self._mongo is not None:
            self._mongo.close()    # ours only; a fresh client is made on next use
            self._mongo = None
        self._run("stop", name, *(["--kill"] if kill else []))

    def restart_service(self, name: str) -> None:
        self.stop_service(name)
        self.start_service(name)

    def is_running(self, name: str) -> bool:
        """True when the service's process is alive and answers its probe."""
        return self._run("status", _service(name), check=False).returncode == 0

    def pid(self, name: str) -> Optional[int]:
        f = self.dir / f"{_service(name)}.pid"
        try:
            return int(f.read_text().strip())
        except (OSError, ValueError):
            return None

    def log_path(self, name: str) -> Path:
        return self.dir / f"{_service(name)}.log"

    # ---- addresses ---------------------------------------------------------
    @property
    def redis_port(self) -> int:
        return int(self.ports["REDIS_PORT"])

    @property
    def mongo_port(self) -> int:
        return int(self.ports["MONGO_PORT"])

    @property
    def minio_port(self) -> int:
        return int(self.ports["MINIO_PORT"])

    @property
    def minio_console_port(self) -> int:
        return int(self.ports["MINIO_CONSOLE_PORT"])

    def port(self, name: str) -> int:
        return {"redis": self.redis_port, "ferretdb": self.mongo_port,
                "minio": self.minio_port}[_service(name)]

    @property
    def mongo_uri(self) -> str:
        return self.env["RECGW_MONGO_URI"]

    @property
    def redis_url(self) -> str:
        return self.env["RECGW_REDIS_URL"]

    @property
    def s3_endpoint(self) -> str:
        return self.env["RECGW_S3_ENDPOINT"]

    @property
    def s3_access_key(self) -> str:
        return self.env["RECGW_S3_ACCESS_KEY"]

    @property
    def s3_secret_key(self) -> str:
        return self.env["RECGW_S3_SECRET_KEY"]

    @property
    def bucket(self) -> str:
        return self.env["RECGW_S3_BUCKET"]

    @property
    def region(self) -> str:
        return self.env["RECGW_S3_REGION"]

    # ---- clients (lazy; they reconnect by themselves after a restart) -------
    @property
    def mongo(self):
        """pymongo.MongoClient on FerretDB (2 s server selection timeout)."""
        if self._mongo is None:
            import pymongo
            self._mongo = pymongo.MongoClient(self.mongo_uri, tz_aware=True)
        return self._mongo

    @property
    def db(self):
        """pymongo Database `cxb` (the one named in RECGW_MONGO_URI)."""
        return self.mongo[self.db_name]

    @property
    def redis(self):
        """redis.Redis client (bytes responses)."""
        if self._redis is None:
            import redis
            self._redis = redis.Redis(host="127.0.0.1", port=self.redis_port,
                                      socket_timeout=2, socket_connect_timeout=2)
        return self._redis

    @property
    def s3(self):
        """boto3 S3 client on MinIO (path style, SigV4)."""
        if self._s3 is None:
            import boto3
            from botocore.config import Config
            self._s3 = boto3.client(
                "s3", endpoint_url=self.s3_endpoint, region_name=self.region,
                aws_access_key_id=self.s3_access_key,
                aws_secret_access_key=self.s3_secret_key,
                config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                              retries={"max_attempts": 2},
                              connect_timeout=2, read_timeout=10))
        return self._s3

    def close_clients(self) -> None:
        if self._mongo is not None:
            self._mongo.close()
        if self._redis is not None:
            self._redis.close()
        self._mongo = self._redis = self._s3 = None

    # ---- data helpers --------------------------------------------------------
    def put_object(self, key: str, data: bytes, content_type: Optional[str] = None,
                   bucket: Optional[str] = None) -> dict:
        extra = {"ContentType": content_type} if content_type else {}
        return self.s3.put_object(Bucket=bucket or self.bucket, Key=key, Body=data, **extra)

    def insert_call(self, session_id: str, *, token: Optional[str] = None,
                    key: Optional[str] = None, url: Optional[str] = None,
                    status: Optional[str] = None, account_id: str = "acct-test",
                    collection: str = "calls", cxb_indexes: bool = True, **more) -> dict:
        """Insert a `calls` document; fields left None are omitted. The collection gets the
        indexes CXB keeps on it (recgw's /readyz reports `degraded` without them) unless
        cxb_indexes is False."""
        if cxb_indexes:
            self.add_cxb_indexes(collection)
        doc = {"session_id": session_id, "account_id": account_id,
               "created_at": _dt.datetime.now(_dt.timezone.utc)}
        for k, v in (("recording_access_token", token), ("recording_key", key),
                     ("recording_url", url), ("recording_status", status)):
            if v is not None:
                doc[k] = v
        doc.update(more)
        self.db[collection].insert_one(doc)
        return doc

    def add_cxb_indexes(self, collection: str = "calls") -> None:
        """The indexes CXB keeps on `calls`, once per collection: recgw needs them
        (storage/call_indexes.h) but never creates them itself."""
        c = self.db[collection]
        if len(c.index_information()) > 1:   # more than _id: already indexed
            return
        c.create_index("recording_access_token", unique=True, sparse=True)
        c.create_index("session_id")
        c.create_index([("created_at", -1)])

    def ensure_indexes(self, collection: str = "calls") -> None:
        """Unique session ids as well (replaces add_cxb_indexes' session_id index)."""
        c = self.db[collection]
        for name in c.index_information():
            if name != "_id_":
                c.drop_index(name)
        c.create_index([("created_at", -1)])
        c.create_index("session_id", unique=True)
        c.create_index("recording_access_token", unique=True, sparse=True)

    def reset(self) -> None:
        """Empty Redis, drop every collection of `cxb`, delete every object in the bucket."""
        self.redis.flushall()
        for name in self.db.list_collection_names():
            self.db.drop_collection(name)
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objs})


# ---- the gateway ---------------------------------------------------------------

def resolve_recgw_binary() -> Path:
    """$RECGW_BINARY, else <repo>/build/recgw (may not exist yet)."""
    env = os.environ.get("RECGW_BINARY")
    return Path(env).resolve() if env else REPO / "build" / "recgw"


class GatewayError(RuntimeError):
    pass


class Gateway:
    """A running `recgw serve` process.

    url          http://127.0.0.1:<port>
    port, proc   (subprocess.Popen; own process group)
    dir          temp dir holding stdout.log and stderr.log
    env          the environment it was started with
    """

    def __init__(self, proc: subprocess.Popen, port: int, directory: Path,
                 env: dict, argv: list):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.dir = directory
        self.stdout_path = directory / "stdout.log"
        self.stderr_path = directory / "stderr.log"
        self.env = env
        self.argv = argv

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ops_url(self) -> Optional[str]:
        """http://<server.ops_listen> when the gateway runs an ops listener, else None."""
        ops = self.env.get("RECGW_SERVER_OPS_LISTEN")
        return f"http://{ops}" if ops else None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def logs(self) -> str:
        return f"--- stdout ---\n{self.stdout()}--- stderr ---\n{self.stderr()}"

    def log_lines(self) -> list:
        """Every line of stdout and stderr that parses as a JSON object (access log etc.)."""
        out = []
        for text in (self.stdout(), self.stderr()):
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("{"):
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        out.append(obj)
        return out

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll GET /healthz until 200; raise with the logs if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise GatewayError(f"recgw exited with {self.proc.returncode} before /healthz "
                                   f"answered 200 ({' '.join(self.argv)})\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
                    last = f"status {r.status}"
            except urllib.error.HTTPError as e:
                last = f"status {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                self.kill()
                raise GatewayError(f"recgw /healthz not 200 after {timeout}s ({last})\n{self.logs()}")
            time.sleep(0.05)

    def send_signal(self, sig: int) -> None:
        """Send a signal to the main process (e.g. signal.SIGHUP to reload)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> Optional[int]:
        """SIGTERM (graceful drain), then SIGKILL to the whole process group. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._killpg()
        return self.proc.returncode

    def kill(self) -> None:
        self._killpg()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def _killpg(self) -> None:
        # workers forked by the supervisor share its process group
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def gateway_env(stack: Optional[Stack], port: int, workers: int = 1,
                extra_env: Optional[Mapping[str, Optional[str]]] = None) -> dict:
    """The environment for `recgw serve`: ours minus any inherited RECGW_*, plus
    the stack's RECGW_* and RECGW_SERVER_LISTEN/WORKERS; extra_env wins, and a
    value of None removes the variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    if stack is not None:
        env.update(stack.env)
    env["RECGW_SERVER_LISTEN"] = f"127.0.0.1:{port}"
    env["RECGW_SERVER_WORKERS"] = str(workers)
    for k, v in (extra_env or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def start_gateway(stack: Optional[Stack], extra_env: Optional[Mapping[str, Optional[str]]] = None,
                  args: Sequence[str] = (), *, binary: Optional[os.PathLike | str] = None,
                  workers: int = 1, port: Optional[int] = None, timeout: float = 30.0,
                  log_dir: Optional[os.PathLike | str] = None, wait: bool = True) -> Gateway:
    """Run `recgw serve [args]` against the stack and wait until GET /healthz is 200.

    extra_env overrides (or, with None, removes) variables, e.g.
    {"RECGW_S3_ENDPOINT": None} or {"RECGW_SERVER_WORKERS": "2"}.
    stack=None starts it with no stack variables at all.
    """
    binary = Path(binary) if binary else resolve_recgw_binary()
    if not binary.exists():
        raise FileNotFoundError(f"recgw binary not found: {binary} (build it, or set RECGW_BINARY)")
    port = port or free_port()
    env = gateway_env(stack, port, workers, extra_env)
    directory = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="recgw-gw-"))
    directory.mkdir(parents=True, exist_ok=True)
    argv = [str(binary), "serve", *args]
    with open(directory / "stdout.log", "wb") as out, open(directory / "stderr.log", "wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    gw = Gateway(proc, port, directory, env, argv)
    if wait:
        try:
            gw.wait_healthy(timeout)
        except BaseException:
            gw.kill()
            raise
    return gw


def stop_all(gateways: Iterable[Gateway]) -> None:
    for gw in gateways:
        try:
            gw.stop()
        except Exception:  # noqa: BLE001 — teardown must go on
            gw.kill()
