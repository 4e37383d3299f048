"""The indexes recgw needs on CXB's `calls` collection (issue 21, item 4): a unique index on
recording_access_token, one on session_id, one on created_at (`warm --since`). recgw never
creates them on its own (the collection is CXB's); /readyz says `degraded` and names what
is missing, `recgw ensure-indexes --check` lists it, and `recgw ensure-indexes` creates it.
Against real FerretDB."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests

from helpers import wait_for
from stack import Gateway, Stack, free_port, gateway_env

pytestmark = pytest.mark.timeout(180)

MISSING_ALL = ("recording_access_token (unique; public links)", "session_id (admin lookups by session id)",
               "created_at (warm --since)")


def ops_readyz(gw: Gateway) -> tuple[int, dict]:
    r = requests.get(gw.ops_url + "/readyz", timeout=15)
    return r.status_code, r.json()


def ensure_indexes(binary, st: Stack, *args: str, extra_env=None) -> subprocess.CompletedProcess:
    env = gateway_env(st, free_port(), extra_env=extra_env)
    return subprocess.run([str(binary), "ensure-indexes", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def seed_unindexed_call(st: Stack) -> tuple[str, bytes]:
    token = "tok-idx-" + uuid.uuid4().hex
    key = f"idx/{uuid.uuid4().hex}.ogg"
    data = b"indexed? " * 100
    st.put_object(key, data, "audio/ogg")
    st.insert_call("sess-" + uuid.uuid4().hex[:12], token=token, key=key, status="ready", cxb_indexes=False)
    return token, data


def test_missing_indexes_degrade_readiness_until_ensure_indexes_creates_them(clean_stack, gateway_factory,
                                                                               recgw_binary):
    st = clean_stack
    token, data = seed_unindexed_call(st)
    gw = gateway_factory(extra_env={"RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{free_port()}"})

    status, body = ops_readyz(gw)
    assert status == 200 and body["status"] == "degraded" and body["ready"] is True, body
    assert body["call_indexes"]["ok"] is False, body
    for missing in MISSING_ALL:
        assert missing in body["call_indexes"]["reason"], body
    assert "ensure-indexes" in body["call_indexes"]["reason"]
    public = requests.get(gw.url + "/readyz", timeout=15)
    assert public.status_code == 200 and public.json() == {"ready": True, "status": "degraded"}
    # Degraded still serves.
    r = requests.get(f"{gw.url}/api/v1/public/recordings/{token}", timeout=15)
    assert r.status_code == 200 and r.content == data
    logged = [json.loads(line) for line in gw.stderr().splitlines() if "mongo_indexes_missing" in line]
    assert logged and "recording_access_token" in logged[0]["detail"], gw.stderr()[-2000:]

    check = ensure_indexes(recgw_binary, st, "--check")
    assert check.returncode == 1, (check.returncode, check.stdout, check.stderr)
    assert "recording_access_token (unique; public links)" in check.stdout

    made = ensure_indexes(recgw_binary, st)
    assert made.returncode == 0, (made.stdout, made.stderr)
    assert made.stdout.count(": created ") == 3, made.stdout
    info = st.db.calls.index_information()
    token_index = [v for v in info.values() if v["key"][0][0] == "recording_access_token"]
    assert token_index and token_index[0].get("unique") is True, info

    check = ensure_indexes(recgw_binary, st, "--check")
    assert check.returncode == 0 and "every index" in check.stdout, (check.stdout, check.stderr)
    # A bad answer is reused for 5 s at most: /readyz turns ready by itself.
    wait_for(lambda: ops_readyz(gw)[1]["status"] == "ready", 15, "/readyz ready after ensure-indexes")
    assert ops_readyz(gw)[1]["call_indexes"] == {"ok": True, "reason": "present"}


def test_indexes_of_other_names_serve_and_only_the_rest_is_created(clean_stack, recgw_binary):
    st = clean_stack
    seed_unindexed_call(st)
    calls = st.db.calls
    calls.create_index("recording_access_token", unique=True, sparse=True, name="cxb_token")
    calls.create_index([("session_id", -1), ("account_id", 1)], name="cxb_session_account")

    check = ensure_indexes(recgw_binary, st, "--check")
    assert check.returncode == 1
    assert "created_at (warm --since)" in check.stdout
    assert "recording_access_token" not in check.stdout and "session_id" not in check.stdout, check.stdout

    made = ensure_indexes(recgw_binary, st)
    assert made.returncode == 0, made.stderr
    assert "created recgw_created_at" in made.stdout
    assert "recording_access_token already indexed" in made.stdout
    assert "session_id already indexed" in made.stdout
    assert "recgw_session_id" not in calls.index_information()


def test_a_token_index_that_is_not_unique_is_reported(clean_stack, recgw_binary):
    st = clean_stack
    seed_unindexed_call(st)
    st.db.calls.create_index("recording_access_token", name="plain_token")
    check = ensure_indexes(recgw_binary, st, "--check")
    assert check.returncode == 1
    assert "recording_access_token (unique; public links)" in check.stdout, check.stdout


def test_no_collection_yet_is_not_a_missing_index(clean_stack, gateway_factory, recgw_binary):
    st = clean_stack
    gw = gateway_factory(extra_env={"RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{free_port()}"})
    status, body = ops_readyz(gw)
    assert status == 200 and body["status"] == "ready", body
    assert "does not exist yet" in body["call_indexes"]["reason"], body
    check = ensure_indexes(recgw_binary, st, "--check")
    assert check.returncode == 0 and "does not exist yet" in check.stdout, (check.stdout, check.stderr)


def test_unreachable_mongodb_is_one_line_exit_1_without_the_password(clean_stack, recgw_binary):
    st = clean_stack
    p = ensure_indexes(recgw_binary, st, extra_env={
        "RECGW_MONGO_URI": "mongodb://admin:s3cr3t-pw@127.0.0.1:1/cxb", "RECGW_MONGO_TIMEOUT_MS": "300"})
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("recgw: MongoDB:"), p.stderr
    assert "s3cr3t-pw" not in p.stderr + p.stdout
