"""Shared by the tests/integration/test_links_*.py files: a Redis with an ACL user that can
be restarted on its port, gateways sharing it, admin calls and public fetches."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Optional
from urllib.parse import quote

import pytest
import redis
import requests

from helpers import hs256_jwt, metric_sum, metrics_snapshot, wait_for
from stack import Gateway, Stack, free_port

JWT_SECRET = "links-test-secret-0123456789abcdef"
ACL_USER = "recgw-links"
ACL_PASSWORD = "L1nks:pa55@odd/chars"
PUBLIC = "/api/v1/public/recordings/"


class AclRedis:
    """A redis-server on a free loopback port whose default user is off: recgw logs in as
    an ACL user with a password (database 2), tests as `root`. The users are given on the
    command line, so a restart on the same port (stop + start) keeps them."""

    def __init__(self, directory: Path):
        binary = os.environ.get("REDIS_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.skip("redis-server not installed")
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"
        self.argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
                     "--save", "", "--appendonly", "no", "--logfile", str(self.log),
                     "--user", ACL_USER, "on", f">{ACL_PASSWORD}", "~recgw:*", "&recgw:*", "+@all", "-@dangerous",
                     "--user", "root", "on", ">root-pw", "~*", "&*", "+@all",
                     "--user", "default", "off"]
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._answers, 10, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {self.log.read_text(errors='replace')}")
        try:
            return self.admin().ping()
        except redis.exceptions.ConnectionError:
            return False

    def admin(self, db: int = 2) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, username="root", password="root-pw",
                           socket_timeout=5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def env(self) -> dict:
        """The gateway's Redis settings: ACL user and password from the config keys, database 2."""
        return {"RECGW_REDIS_URL": f"redis://127.0.0.1:{self.port}", "RECGW_REDIS_USERNAME": ACL_USER,
                "RECGW_REDIS_PASSWORD": ACL_PASSWORD, "RECGW_REDIS_DATABASE": "2"}


@pytest.fixture
def acl_redis(tmp_path):
    server = AclRedis(tmp_path / "redis")
    yield server
    server.stop()


def start_links_gateway(gateway_factory, **env) -> Gateway:
    base = {"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{free_port()}",
            "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "0"}
    base.update({k: str(v) for k, v in env.items()})
    return gateway_factory(extra_env=base)


def admin_headers() -> dict:
    now = int(time.time())
    return {"Authorization": "Bearer " + hs256_jwt({"sub": "t-admin", "role": "admin", "iat": now,
                                                   "exp": now + 600}, JWT_SECRET)}


def seed_call(st: Stack, *, status: Optional[str] = "ready", size: int = 4096, key: Optional[str] = None,
              put: bool = True, **more) -> tuple[str, str, str, bytes]:
    """A call with a fresh token and a stored object: (token, session_id, key, data)."""
    token = f"tok-links-{uuid.uuid4().hex}"
    session_id = f"sess-links-{uuid.uuid4().hex[:12]}"
    key = key or f"links/{session_id}.ogg"
    data = os.urandom(size)
    if put:
        st.put_object(key, data, "audio/ogg")
    st.insert_call(session_id, token=token, key=key, status=status, **more)
    return token, session_id, key, data


def public_get(gw: Gateway, token: str, headers: Optional[dict] = None, **params) -> requests.Response:
    return requests.get(gw.url + PUBLIC + quote(token, safe=""), headers=headers or {}, params=params or None,
                        timeout=15, allow_redirects=False)


def fetch_with_tier(gw: Gateway, token: str) -> tuple[requests.Response, Optional[str]]:
    """A public GET and the lookup tier its access-log line names."""
    rid = "lk" + uuid.uuid4().hex[:20]
    r = public_get(gw, token, headers={"X-Request-Id": rid})

    def access():
        for rec in gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == rid:
                return rec
        return None
    return r, wait_for(access, 5, f"access line of {rid}").get("source")


def metric(gw: Gateway, name: str, **labels) -> float:
    return metric_sum(metrics_snapshot(gw.ops_url), name, **labels)


def error_of(r: requests.Response) -> Optional[str]:
    try:
        return r.json().get("error")
    except ValueError:
        return None
