"""The local stack itself works: Redis, FerretDB, MinIO, restarts, seeding, and
the gateway launcher (against a stand-in binary, so these run before recgw exists)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time

import pymongo
import pytest
import requests
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

from stack import REPO, Stack, free_port, gateway_env, start_gateway

pytestmark = pytest.mark.timeout(120)


def test_env_shape(stack: Stack):
    e = stack.env
    assert e["RECGW_MONGO_URI"] == (f"mongodb://127.0.0.1:{stack.mongo_port}/cxb"
                                    "?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000")
    assert e["RECGW_REDIS_URL"] == f"redis://127.0.0.1:{stack.redis_port}"
    assert e["RECGW_S3_ENDPOINT"] == f"http://127.0.0.1:{stack.minio_port}"
    assert e["RECGW_S3_BUCKET"] == "recordings"
    assert e["RECGW_S3_REGION"] == "us-east-1"
    assert e["RECGW_S3_ACCESS_KEY"] and e["RECGW_S3_SECRET_KEY"]
    assert len({stack.redis_port, stack.mongo_port, stack.minio_port, stack.minio_console_port}) == 4
    for name in ("redis", "ferretdb", "minio"):
        assert stack.is_running(name)


def test_redis_ping_and_round_trip(stack: Stack):
    assert stack.redis.ping() is True
    stack.redis.set("recgw:test:k", b"v", ex=30)
    assert stack.redis.get("recgw:test:k") == b"v"
    assert 0 < stack.redis.ttl("recgw:test:k") <= 30


def test_mongo_round_trip(clean_stack: Stack):
    st = clean_stack
    assert st.mongo.admin.command("ping")["ok"] == 1.0
    doc = st.insert_call("sess-1", token="tok-1", key="a/b.ogg", status="ready")
    got = st.db.calls.find_one({"recording_access_token": "tok-1"},
                               {"_id": 0, "recording_key": 1, "recording_status": 1})
    assert got == {"recording_key": "a/b.ogg", "recording_status": "ready"}
    found = st.db.calls.find_one({"session_id": "sess-1"})
    assert found["account_id"] == doc["account_id"]
    assert isinstance(found["created_at"], dt.datetime)


def test_mongo_indexes_unique_and_sparse(clean_stack: Stack):
    st = clean_stack
    st.ensure_indexes()
    st.insert_call("s1")                     # no token
    st.insert_call("s2")                     # no token either: sparse, so allowed
    st.insert_call("s3", token="t")
    with pytest.raises(DuplicateKeyError):
        st.insert_call("s4", token="t")
    with pytest.raises(DuplicateKeyError):
        st.insert_call("s1")


def test_minio_put_get_range(clean_stack: Stack):
    st = clean_stack
    body = os.urandom(300_000)
    st.put_object("t/obj.ogg", body, "audio/ogg")
    r = st.s3.get_object(Bucket=st.bucket, Key="t/obj.ogg")
    assert r["Body"].read() == body
    assert r["ContentType"] == "audio/ogg"
    r = st.s3.get_object(Bucket=st.bucket, Key="t/obj.ogg", Range="bytes=100-199")
    assert r["Body"].read() == body[100:200]
    assert r["ContentRange"] == f"bytes 100-199/{len(body)}"
    # the health endpoint stack.sh waits on
    assert requests.get(f"{st.s3_endpoint}/minio/health/ready", timeout=5).status_code == 200
    # unsigned requests are refused (the gateway must sign)
    assert requests.get(f"{st.s3_endpoint}/{st.bucket}/t/obj.ogg", timeout=5).status_code == 403


def test_ferretdb_stop_start_same_port_keeps_data(clean_stack: Stack):
    st = clean_stack
    st.insert_call("persist-1", token="persist-tok", key="p.ogg")
    port = st.mongo_port
    st.stop_service("ferretdb")
    assert not st.is_running("ferretdb")
    fast = pymongo.MongoClient(st.mongo_uri, serverSelectionTimeoutMS=300)
    with pytest.raises(ServerSelectionTimeoutError):
        fast.admin.command("ping")
    fast.close()
    st.start_service("ferretdb")
    assert st.mongo_port == port
    assert st.is_running("ferretdb")
    # the long-lived client reconnects on its own
    assert st.db.calls.find_one({"session_id": "persist-1"})["recording_key"] == "p.ogg"


def test_ferretdb_killed_comes_back_with_data(clean_stack: Stack):
    st = clean_stack
    st.insert_call("crash-1", key="c.ogg")
    t0 = time.monotonic()
    st.stop_service("ferretdb", kill=True)
    assert time.monotonic() - t0 < 2.5
    assert not st.is_running("ferretdb")
    st.start_service("ferretdb")
    assert st.db.calls.find_one({"session_id": "crash-1"})["recording_key"] == "c.ogg"


def test_redis_stop_start(stack: Stack):
    port = stack.redis_port
    stack.stop_service("redis")
    assert not stack.is_running("redis")
    stack.start_service("redis")
    assert stack.redis_port == port
    assert stack.redis.ping() is True


def test_minio_stop_start_keeps_objects(clean_stack: Stack):
    st = clean_stack
    st.put_object("keep/me.ogg", b"x" * 1000)
    st.stop_service("minio")
    assert not st.is_running("minio")
    st.start_service("minio")
    assert st.s3.get_object(Bucket=st.bucket, Key="keep/me.ogg")["Body"].read() == b"x" * 1000


# Part 1 leaves Redis stopped; the autouse fixture in conftest.py must start it again
# before part 2 (the next test in this file) runs.
_left_stopped: dict[str, int] = {}


def test_stopped_service_is_restarted_after_the_test_part1(stack: Stack):
    pid = stack.pid("redis")
    assert pid is not None and stack.is_running("redis")
    stack.stop_service("redis")  # left stopped on purpose
    assert not stack.is_running("redis")
    # What the restoring fixture checks: no pid file, or one naming no process.
    left = stack.pid("redis")
    assert left is None or not os.path.exists(f"/proc/{left}")
    _left_stopped["redis"] = pid


def test_stopped_service_is_restarted_after_the_test_part2(stack: Stack):
    if "redis" not in _left_stopped:
        pytest.skip("part 1 did not run before this test")
    assert stack.is_running("redis")
    assert stack.pid("redis") != _left_stopped["redis"]  # a new process, not the old one
    assert stack.redis.ping() is True


def test_demo_seed(clean_stack: Stack):
    st = clean_stack
    env = {**os.environ, **st.env}
    out = subprocess.run([sys.executable, str(REPO / "tools" / "demo_seed.py")], env=env,
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("demo-token-")
    call = st.db.calls.find_one({"recording_access_token": token})
    assert call["session_id"] == "demo-session-0001"
    assert call["recording_key"] == "demo/call-demo-0001.ogg"
    assert call["recording_status"] == "ready"
    head = st.s3.head_object(Bucket=st.bucket, Key="demo/call-demo-0001.ogg")
    assert head["ContentType"] == "audio/ogg"
    assert head["ContentLength"] > 50_000
    data = st.s3.get_object(Bucket=st.bucket, Key="demo/call-demo-0001.ogg", Range="bytes=0-3")
    assert data["Body"].read() == b"OggS"
    names = {ix["name"] for ix in st.db.calls.list_indexes()}
    assert {"session_id_1", "recording_access_token_1"} <= names


# ---- the gateway launcher, exercised with a stand-in for recgw ----------------

FAKE_RECGW = textwrap.dedent("""\
    #!{python}
    import http.server, json, os, signal, sys
    assert sys.argv[1] == "serve", sys.argv
    host, port = os.environ["RECGW_SERVER_LISTEN"].rsplit(":", 1)
    seen = {{k: v for k, v in os.environ.items() if k.startswith("RECGW_")}}
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({{"path": self.path, "env": seen, "argv": sys.argv}}).encode()
            self.send_response(200 if self.path in ("/healthz", "/env") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body)
        def log_message(self, *a):
            print(json.dumps({{"route": self.path}}), flush=True)
    srv = http.server.HTTPServer((host, int(port)), H)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("fake recgw listening", file=sys.stderr, flush=True)
    srv.serve_forever()
""")


@pytest.fixture
def fake_recgw(tmp_path):
    p = tmp_path / "recgw"
    p.write_text(FAKE_RECGW.format(python=sys.executable))
    p.chmod(0o755)
    return p


def test_start_gateway_with_stand_in(stack: Stack, fake_recgw, tmp_path, monkeypatch):
    monkeypatch.setenv("RECGW_SOMETHING_INHERITED", "x")  # must not leak into the child
    gw = start_gateway(stack, {"RECGW_FLEET_URLS": "http://127.0.0.1:1", "RECGW_S3_REGION": None},
                       ["--flag"], binary=fake_recgw, log_dir=tmp_path / "gw")
    try:
        assert gw.url == f"http://127.0.0.1:{gw.port}"
        info = requests.get(gw.url + "/env", timeout=5).json()
        env = info["env"]
        assert info["argv"][1:] == ["serve", "--flag"]
        assert env["RECGW_SERVER_LISTEN"] == f"127.0.0.1:{gw.port}"
        assert env["RECGW_SERVER_WORKERS"] == "1"
        assert env["RECGW_MONGO_URI"] == stack.mongo_uri
        assert env["RECGW_REDIS_URL"] == stack.redis_url
        assert env["RECGW_S3_BUCKET"] == "recordings"
        assert env["RECGW_FLEET_URLS"] == "http://127.0.0.1:1"
        assert "RECGW_S3_REGION" not in env
        assert "RECGW_SOMETHING_INHERITED" not in env
        assert {"route": "/env"} in gw.log_lines()
        assert "fake recgw listening" in gw.stderr()
    finally:
        rc = gw.stop()
    assert rc == 0
    assert not gw.alive()


def test_start_gateway_reports_early_exit(stack: Stack, tmp_path):
    bad = tmp_path / "recgw"
    bad.write_text("#!/bin/sh\necho 'config error: RECGW_X bad' >&2\nexit 2\n")
    bad.chmod(0o755)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="(?s)exited with 2.*config error"):
        start_gateway(stack, binary=bad, log_dir=tmp_path / "gw", timeout=20)
    assert time.monotonic() - t0 < 10


def test_gateway_env_workers_override(stack: Stack):
    env = gateway_env(stack, free_port(), workers=3, extra_env={"RECGW_SERVER_WORKERS": "2"})
    assert env["RECGW_SERVER_WORKERS"] == "2"
