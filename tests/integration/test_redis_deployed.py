"""Redis as it is deployed (issue 14): a password (requirepass), an ACL user, a database other
than 0 — through the URL and through redis.username / redis.password / redis.database — and
readiness that tells the truth: /readyz `status` ready / degraded / not_ready and the gauge
recgw_ready_state; Redis Sentinel failover (3 sentinels, a master and a replica).

Each test starts its own redis-server (Debian's binary) on a free loopback port in a temp
dir, without persistence; MongoDB (FerretDB) and MinIO come from the shared stack.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Optional

import pytest
import redis
import requests

from helpers import hs256_jwt, metric_sum, metrics_snapshot, wait_for
from stack import Gateway, Stack, free_port

pytestmark = pytest.mark.timeout(120)

JWT_SECRET = "redis-deployed-test-secret-0123456789"
PASSWORD = "Pa55-w0rd:with@odd/chars"   # percent-encoded in URLs below
WRONG_PASSWORD = "not-the-password-4711"


# ---- a private redis-server --------------------------------------------------------------

def redis_server_binary() -> str:
    path = os.environ.get("REDIS_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).exists():
        pytest.skip("redis-server not installed")
    return path


class PrivateRedis:
    """A redis-server on a free loopback port; `admin(db)` is a client that can do anything."""

    def __init__(self, directory: Path, *args: str, password: Optional[str] = None):
        self.port = free_port()
        self.username: Optional[str] = None   # who admin() connects as (None = default user)
        self.password = password
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"
        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(directory), "--save", "", "--appendonly", "no",
                "--logfile", str(self.log), *args]
        if password:
            argv += ["--requirepass", password]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._answers, 10, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {self.log.read_text(errors='replace')}")
        try:
            return self.admin().ping()
        except redis.exceptions.ConnectionError:
            return False

    def admin(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, username=self.username,
                           password=self.password, socket_timeout=5)

    def recgw_keys(self, db: int) -> list:
        return list(self.admin(db).scan_iter(match="recgw:*", count=1000))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def private_redis(tmp_path):
    started = []

    def factory(*args: str, password: Optional[str] = None) -> PrivateRedis:
        r = PrivateRedis(tmp_path / f"redis-{len(started)}", *args, password=password)
        started.append(r)
        return r

    yield factory
    for r in started:
        r.stop()


# ---- helpers -----------------------------------------------------------------------------

def pct(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="")


def gateway_env(ops_port: int, **extra) -> dict:
    return {"RECGW_JWT_HS256_SECRET": JWT_SECRET,
            "RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{ops_port}",
            # No L1: a second lookup must come from Redis, which proves Redis serves hits.
            "RECGW_CACHE_L1_ENTRIES": "0",
            **extra}


def admin_headers() -> dict:
    now = int(time.time())
    return {"Authorization": "Bearer " + hs256_jwt({"sub": "t-admin", "role": "admin", "iat": now,
                                                   "exp": now + 600}, JWT_SECRET)}


def seed(st: Stack) -> tuple[str, bytes]:
    token = f"tok-rd-{uuid.uuid4().hex}"
    session_id = f"sess-rd-{uuid.uuid4().hex[:12]}"
    key = f"rd/{session_id}.ogg"
    data = os.urandom(2048)
    st.put_object(key, data, "audio/ogg")
    st.insert_call(session_id, token=token, key=key, status="ready")
    return token, data


def fetch(gw: Gateway, token: str) -> tuple[requests.Response, Optional[str]]:
    """A public GET; returns the response and the tier its access-log line names."""
    rid = "rd" + uuid.uuid4().hex[:20]
    r = requests.get(f"{gw.url}/api/v1/public/recordings/{token}", headers={"X-Request-Id": rid}, timeout=15)

    def access():
        for rec in gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == rid:
                return rec
        return None
    return r, wait_for(access, 5, f"access line of {rid}").get("source")


def readyz_details(gw: Gateway) -> tuple[int, dict]:
    r = requests.get(gw.ops_url + "/readyz", timeout=15)
    return r.status_code, r.json()


def readyz_public(gw: Gateway) -> tuple[int, dict]:
    r = requests.get(gw.url + "/readyz", timeout=15)
    return r.status_code, r.json()


def ready_state(gw: Gateway) -> float:
    return metric_sum(metrics_snapshot(gw.ops_url), "recgw_ready_state")


def assert_serves_and_caches(st: Stack, gw: Gateway, server: PrivateRedis, db: int) -> None:
    """A lookup goes to MongoDB once, lands in database `db` (and nowhere else), and the
    next lookup is a Redis hit; /readyz says ready."""
    token, data = seed(st)
    r, source = fetch(gw, token)
    assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:200])
    assert source == "mongo", source
    wait_for(lambda: len(server.recgw_keys(db)) >= 1, 5, f"the lookup written to Redis database {db}")
    for other in {0, 2, 3} - {db}:
        assert server.recgw_keys(other) == [], f"keys in database {other}, expected only in {db}"
    r, source = fetch(gw, token)
    assert r.status_code == 200 and r.content == data
    assert source == "redis", source

    status, body = readyz_details(gw)
    assert status == 200 and body["status"] == "ready" and body["ready"] is True, body
    assert body["redis"]["ok"] is True, body
    status, body = readyz_public(gw)
    assert status == 200 and body == {"ready": True, "status": "ready"}, body
    wait_for(lambda: ready_state(gw) == 2, 10, "recgw_ready_state 2 (ready)")


def assert_no_password_in(gw: Gateway, *passwords: str) -> None:
    text = gw.logs()
    for pw in passwords:
        assert pw not in text and pct(pw) not in text, "a Redis password reached the logs"


# ---- 1. authentication and database -------------------------------------------------------

def test_requirepass_in_url_with_database_caches_there(clean_stack: Stack, gateway_factory, private_redis):
    """The issue's reproduction: redis://:PASSWORD@host:port/2 against requirepass. Before the
    fix AUTH and SELECT were dropped, every command failed with NOAUTH, nothing was cached,
    and the second lookup went to MongoDB again."""
    st = clean_stack
    server = private_redis(password=PASSWORD)
    gw = gateway_factory(extra_env=gateway_env(
        free_port(), RECGW_REDIS_URL=f"redis://:{pct(PASSWORD)}@127.0.0.1:{server.port}/2"))
    wait_for(lambda: metric_sum(metrics_snapshot(gw.ops_url), "recgw_redis_connected") == 1, 10,
             "recgw_redis_connected 1")
    assert_serves_and_caches(st, gw, server, db=2)
    assert_no_password_in(gw, PASSWORD)


def test_acl_user_and_database_from_config_keys(clean_stack: Stack, gateway_factory, private_redis):
    """An ACL user (ACL SETUSER) with its password and database 3 in redis.username /
    redis.password / redis.database (env), the URL without credentials; the default user is
    switched off, as managed Redis does."""
    st = clean_stack
    server = private_redis()
    admin = server.admin()
    admin.execute_command("ACL", "SETUSER", "recgw-cache", "on", f">{PASSWORD}", "~recgw:*", "&*",
                          "+@all", "-@dangerous")
    admin.execute_command("ACL", "SETUSER", "root", "on", ">root-pw", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    server.username, server.password = "root", "root-pw"
    with pytest.raises(redis.exceptions.AuthenticationError):   # the default user is really off
        redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5).set("recgw:probe", "1")

    gw = gateway_factory(extra_env=gateway_env(
        free_port(), RECGW_REDIS_URL=f"redis://127.0.0.1:{server.port}",
        RECGW_REDIS_USERNAME="recgw-cache", RECGW_REDIS_PASSWORD=PASSWORD, RECGW_REDIS_DATABASE="3"))
    assert_serves_and_caches(st, gw, server, db=3)
    assert_no_password_in(gw, PASSWORD)


def test_two_gateways_share_an_acl_redis(clean_stack: Stack, gateway_factory, private_redis):
    """Two gateways (two deployments, not two workers of one) on one Redis whose default user
    is off, each logging in as the same ACL user with database 2: what one looks up in
    MongoDB, the other answers from Redis; an admin eviction through one reaches the other's
    next Redis read (its L1 is off here, so nothing but Redis could answer)."""
    st = clean_stack
    server = private_redis()
    admin = server.admin()
    admin.execute_command("ACL", "SETUSER", "recgw-cache", "on", f">{PASSWORD}", "~recgw:*", "&*",
                          "+@all", "-@dangerous")
    admin.execute_command("ACL", "SETUSER", "root", "on", ">root-pw", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    server.username, server.password = "root", "root-pw"
    env = dict(RECGW_REDIS_URL=f"redis://recgw-cache:{pct(PASSWORD)}@127.0.0.1:{server.port}/2",
               RECGW_CACHE_L1_ENTRIES="0", RECGW_CACHE_L1_TTL_S="0")
    a = gateway_factory(extra_env=gateway_env(free_port(), **env))
    b = gateway_factory(extra_env=gateway_env(free_port(), **env))
    token, data = seed(st)
    r, source = fetch(a, token)
    assert r.status_code == 200 and r.content == data and source == "mongo", (r.status_code, source)
    wait_for(lambda: len(server.recgw_keys(2)) >= 1, 5, "gateway a's lookup written to Redis database 2")
    r, source = fetch(b, token)
    assert r.status_code == 200 and r.content == data and source == "redis", (r.status_code, source)
    evicted = requests.delete(f"{b.url}/api/v1/admin/cache/{token}", headers=admin_headers(), timeout=10)
    assert evicted.status_code in (200, 204), (evicted.status_code, evicted.text)
    r, source = fetch(a, token)
    assert r.status_code == 200 and r.content == data and source == "mongo", (r.status_code, source)
    assert_no_password_in(a, PASSWORD)
    assert_no_password_in(b, PASSWORD)


def test_wrong_password_is_degraded_with_reason_and_recovers(clean_stack: Stack, gateway_factory,
                                                              private_redis, recgw_binary):
    """Wrong password: /readyz 200 `degraded` with Redis' reason, recgw_ready_state 1, the
    refusal logged (without the password), lookups served through MongoDB; once Redis accepts
    the password the gateway reconnects by itself (retry with backoff) and is ready."""
    st = clean_stack
    server = private_redis(password=PASSWORD)
    gw = gateway_factory(extra_env=gateway_env(
        free_port(), RECGW_REDIS_URL=f"redis://127.0.0.1:{server.port}/3",
        RECGW_REDIS_PASSWORD=WRONG_PASSWORD))

    def degraded():
        status, body = readyz_details(gw)
        return (status, body) if body.get("status") == "degraded" else None
    status, body = wait_for(degraded, 10, "/readyz degraded")
    assert status == 200 and body["ready"] is True, body
    assert body["redis"]["ok"] is False and "AUTH" in body["redis"]["reason"], body
    assert "WRONGPASS" in body["redis"]["reason"] or "invalid" in body["redis"]["reason"], body
    assert body["mongo"]["ok"] is True and body["storage"]["ok"] is True, body
    status, body = readyz_public(gw)
    assert status == 200 and body == {"ready": True, "status": "degraded"}, body
    wait_for(lambda: ready_state(gw) == 1, 10, "recgw_ready_state 1 (degraded)")

    # lookups still succeed, through MongoDB every time (nothing can be cached)
    token, data = seed(st)
    for _ in range(2):
        r, source = fetch(gw, token)
        assert r.status_code == 200 and r.content == data, r.status_code
        assert source == "mongo", source
    assert server.recgw_keys(3) == [] and server.recgw_keys(0) == []

    # the refusal is logged once with Redis' reason, never with the password
    refusals = [rec for rec in gw.log_lines() if str(rec.get("msg", "")).startswith("redis:")
                and "AUTH refused" in str(rec.get("reason", ""))]
    assert refusals, gw.stderr()[-2000:]
    assert_no_password_in(gw, WRONG_PASSWORD, PASSWORD)

    # diagnose names the refusal
    r = requests.get(f"{gw.url}/api/v1/admin/diagnose/{token}", headers=admin_headers(), timeout=30)
    assert r.status_code == 200, r.text
    cache = [s for s in r.json()["steps"] if s["step"] == "cache"][0]
    assert cache["status"] == "warn" and "credentials" in cache["summary"], cache
    assert "AUTH refused" in cache["details"]["redis"], cache
    assert WRONG_PASSWORD not in r.text

    # Redis now takes the gateway's password: it reconnects by itself (backoff ≤ 5 s)
    server.admin().config_set("requirepass", WRONG_PASSWORD)
    server.password = WRONG_PASSWORD
    wait_for(lambda: readyz_details(gw)[1].get("status") == "ready", 15, "/readyz ready again")
    r, source = fetch(gw, token)
    assert r.status_code == 200 and source == "mongo"
    wait_for(lambda: len(server.recgw_keys(3)) >= 1, 5, "the lookup cached in database 3")


def test_server_wants_a_password_we_do_not_have(clean_stack: Stack, gateway_factory, private_redis):
    """No password configured, Redis requires one: degraded with NOAUTH, not 'connected'."""
    server = private_redis(password=PASSWORD)
    gw = gateway_factory(extra_env=gateway_env(free_port(), RECGW_REDIS_URL=f"redis://127.0.0.1:{server.port}"))

    def degraded():
        status, body = readyz_details(gw)
        return (status, body) if body.get("status") == "degraded" else None
    status, body = wait_for(degraded, 10, "/readyz degraded")
    assert status == 200 and "NOAUTH" in body["redis"]["reason"], body
    assert "password" in body["redis"]["reason"], body
    assert metric_sum(metrics_snapshot(gw.ops_url), "recgw_redis_connected") == 0


def test_database_out_of_range_is_degraded_with_the_select_refusal(clean_stack: Stack, gateway_factory,
                                                                    private_redis):
    """SELECT refused (16 databases, 99 asked): not connected, and never writing to database 0."""
    st = clean_stack
    server = private_redis()
    gw = gateway_factory(extra_env=gateway_env(free_port(), RECGW_REDIS_URL=f"redis://127.0.0.1:{server.port}/99"))

    def degraded():
        status, body = readyz_details(gw)
        return (status, body) if body.get("status") == "degraded" else None
    status, body = wait_for(degraded, 10, "/readyz degraded")
    assert "SELECT refused" in body["redis"]["reason"], body
    token, data = seed(st)
    r, source = fetch(gw, token)
    assert r.status_code == 200 and r.content == data and source == "mongo", (r.status_code, source)
    assert server.recgw_keys(0) == []


# ---- `recgw warm` (the synchronous client) -------------------------------------------------

def run_warm(binary: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "warm", "--since", "2000-01-01"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_warm_authenticates_and_selects_the_database(clean_stack: Stack, private_redis, recgw_binary):
    st = clean_stack
    server = private_redis(password=PASSWORD)
    tokens = [seed(st)[0] for _ in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    env.update(st.env)
    env["RECGW_REDIS_URL"] = f"redis://:{pct(PASSWORD)}@127.0.0.1:{server.port}/3"
    p = run_warm(recgw_binary, env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(server.recgw_keys(3)) == 2 * len(tokens), p.stdout + p.stderr   # token + session id
    assert server.recgw_keys(0) == []
    assert PASSWORD not in p.stdout + p.stderr

    # a wrong password stops before writing anything, with Redis' reason
    env["RECGW_REDIS_PASSWORD"] = WRONG_PASSWORD
    server.admin(3).flushdb()
    p = run_warm(recgw_binary, env)
    assert p.returncode != 0
    assert "AUTH refused" in p.stderr and ("WRONGPASS" in p.stderr or "invalid" in p.stderr), p.stderr
    assert WRONG_PASSWORD not in p.stdout + p.stderr
    assert server.recgw_keys(3) == []


# ---- 2. readiness states ---------------------------------------------------------------------

def test_not_ready_without_storage_and_fleet(clean_stack: Stack, gateway_factory):
    gw = gateway_factory(extra_env=gateway_env(free_port(), RECGW_S3_BUCKET=""))
    status, body = readyz_details(gw)
    assert status == 503 and body["status"] == "not_ready" and body["ready"] is False, body
    assert body["storage"]["ok"] is False and body["fleet_configured"] is False, body
    status, body = readyz_public(gw)
    assert status == 503 and body == {"ready": False, "status": "not_ready"}, body
    wait_for(lambda: ready_state(gw) == 0, 10, "recgw_ready_state 0 (not ready)")


def test_fleet_without_storage_is_ready(clean_stack: Stack, gateway_factory):
    gw = gateway_factory(extra_env=gateway_env(free_port(), RECGW_S3_BUCKET="",
                                               RECGW_FLEET_URLS=f"http://127.0.0.1:{free_port()}",
                                               RECGW_FLEET_SECRET="fleet-secret"))
    status, body = readyz_details(gw)
    assert status == 200 and body["status"] == "ready" and body["fleet_configured"] is True, body


def test_mongo_unreachable_is_not_ready(clean_stack: Stack, gateway_factory):
    gw = gateway_factory(extra_env=gateway_env(
        free_port(), RECGW_MONGO_URI="mongodb://127.0.0.1:1/cxb", RECGW_MONGO_TIMEOUT_MS="300"))
    status, body = readyz_details(gw)
    assert status == 503 and body["status"] == "not_ready" and body["mongo"]["ok"] is False, body
    assert body["redis"]["ok"] is True, body


def test_redis_down_is_degraded_not_unready(clean_stack: Stack, gateway_factory, private_redis):
    server = private_redis()
    gw = gateway_factory(extra_env=gateway_env(free_port(), RECGW_REDIS_URL=f"redis://127.0.0.1:{server.port}"))
    wait_for(lambda: readyz_details(gw)[1].get("status") == "ready", 10, "/readyz ready")
    server.stop()
    status, body = wait_for(lambda: (lambda s, b: (s, b) if b.get("status") == "degraded" else None)(
        *readyz_details(gw)), 10, "/readyz degraded with Redis stopped")
    assert status == 200 and body["ready"] is True and body["redis"]["ok"] is False, body


# ---- 3. Sentinel ------------------------------------------------------------------------------

SENTINEL_PASSWORD = "sentinel-pw-0815"


class SentinelGroup:
    """A master, a replica and three sentinels (`redis-server --sentinel`), all with passwords,
    on free loopback ports; the sentinels fail over after 1 s of silence."""

    def __init__(self, directory: Path, private_redis):
        self.master = private_redis("--masterauth", PASSWORD, password=PASSWORD)
        self.replica = private_redis("--masterauth", PASSWORD, "--replicaof", "127.0.0.1", str(self.master.port),
                                     password=PASSWORD)
        self.ports = [free_port() for _ in range(3)]
        self.procs = []
        for i, port in enumerate(self.ports):
            d = directory / f"sentinel-{i}"
            d.mkdir(parents=True, exist_ok=True)
            conf = d / "sentinel.conf"
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {d}", f"logfile {d / 'sentinel.log'}",
                f"requirepass {SENTINEL_PASSWORD}", f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                f"sentinel monitor mymaster 127.0.0.1 {self.master.port} 2",
                f"sentinel auth-pass mymaster {PASSWORD}",
                "sentinel down-after-milliseconds mymaster 1000",
                "sentinel failover-timeout mymaster 5000",
                "sentinel parallel-syncs mymaster 1", ""]))
            self.procs.append(subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=True))
        # A failover needs the replica in sync and each sentinel aware of the replica and of
        # the two other sentinels (quorum 2, and a majority to elect a leader).
        wait_for(lambda: self.replica.admin().info("replication").get("master_link_status") == "up", 15,
                 "replica in sync")
        for port in self.ports:
            wait_for(lambda port=port: self._knows_everyone(port), 20, f"sentinel {port} sees the group")

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=SENTINEL_PASSWORD, socket_timeout=5)

    def _knows_everyone(self, port: int) -> bool:
        try:
            s = self.sentinel(port)
            return (len(s.execute_command("SENTINEL", "REPLICAS", "mymaster")) >= 1
                    and len(s.execute_command("SENTINEL", "SENTINELS", "mymaster")) >= 2)
        except redis.exceptions.ConnectionError:
            return False

    def named_master_port(self) -> int:
        return int(self.sentinel(self.ports[0]).execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[1])

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_sentinel_failover_keeps_serving_and_moves_to_the_new_master(clean_stack: Stack, gateway_factory,
                                                                     private_redis, tmp_path, recgw_binary):
    """Kill the master under a steady stream of public requests: no 5xx for existing tokens,
    and within 15 s lookups are written to the promoted replica (read there)."""
    import threading

    st = clean_stack
    group = SentinelGroup(tmp_path / "sentinels", private_redis)
    try:
        gw = gateway_factory(extra_env=gateway_env(
            free_port(),
            RECGW_REDIS_URL="redis://127.0.0.1:1",          # the host is the sentinels' to name
            RECGW_REDIS_PASSWORD=PASSWORD,
            RECGW_REDIS_SENTINELS=",".join(f"127.0.0.1:{p}" for p in group.ports),
            RECGW_REDIS_MASTER_NAME="mymaster",
            RECGW_REDIS_SENTINEL_PASSWORD=SENTINEL_PASSWORD,
            RECGW_CACHE_L1_ENTRIES="100000"))             # L1 on, as deployed
        wait_for(lambda: readyz_details(gw)[1].get("status") == "ready", 15, "/readyz ready via sentinel")
        assert f":{group.master.port}" in readyz_details(gw)[1]["redis"]["reason"]

        existing = [seed(st) for _ in range(10)]
        for token, data in existing:
            r, _ = fetch(gw, token)
            assert r.status_code == 200 and r.content == data
        wait_for(lambda: len(group.master.recgw_keys(0)) >= 10, 5, "lookups cached on the first master")

        statuses: list = []
        stop = threading.Event()

        def steady_stream():
            i = 0
            while not stop.is_set():
                token, data = existing[i % len(existing)]
                i += 1
                try:
                    r = requests.get(f"{gw.url}/api/v1/public/recordings/{token}", timeout=10)
                    statuses.append(r.status_code if r.content == data or r.status_code != 200 else "bad body")
                except requests.RequestException as e:
                    statuses.append(repr(e))
                time.sleep(0.02)
        streamer = threading.Thread(target=steady_stream, daemon=True)
        streamer.start()
        time.sleep(0.5)

        old_port, new_port = group.master.port, group.replica.port
        group.master.proc.kill()
        group.master.proc.wait(5)
        killed_at = time.monotonic()

        def written_to_new_master():
            token, data = seed(st)
            r, _ = fetch(gw, token)
            assert r.status_code == 200 and r.content == data, r.status_code
            key = f"recgw:tok:{hashlib.sha256(token.encode()).hexdigest()}"
            return wait_until(lambda: group.replica.admin().exists(key) == 1, 0.5)
        wait_for(written_to_new_master, 15, "a lookup written to the promoted replica", interval=0.2)
        took = time.monotonic() - killed_at
        stop.set()
        streamer.join(15)
        assert group.named_master_port() == new_port != old_port
        assert group.replica.admin().execute_command("ROLE")[0] == b"master"
        print(f"\nsentinel failover: writes on the new master {took:.1f} s after the kill; "
              f"{len(statuses)} requests meanwhile")
        assert len(statuses) > 50, len(statuses)
        assert set(statuses) == {200}, sorted(set(map(str, statuses)))
        status, body = readyz_details(gw)
        assert status == 200 and body["status"] == "ready" and f":{new_port}" in body["redis"]["reason"], body
        assert_no_password_in(gw, PASSWORD, SENTINEL_PASSWORD)

        # recgw warm asks the sentinels too, and writes to the new master
        group.replica.admin().flushall()
        p = run_warm(recgw_binary, gw.env)
        assert p.returncode == 0, p.stdout + p.stderr
        assert len(group.replica.recgw_keys(0)) == 2 * st.db.calls.count_documents({}), p.stdout
    finally:
        group.stop()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
