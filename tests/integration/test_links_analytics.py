"""Per-link analytics and the leaked-link signal (issue 17, items 5 and 6).

Three clients, told apart by X-Forwarded-For from a trusted proxy (the gateway's peer,
127.0.0.1, is listed in server.trusted_proxies), open and range a link; the counts are kept
per worker and flushed to Redis every analytics.flush_ms. GET /api/v1/admin/recordings/
{session_id}/stats and `recgw stats` report them under the token's hash only."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from helpers import metric_sum, metrics_snapshot, wait_for
from links_support import admin_headers, public_get, seed_call, start_links_gateway
from stack import Stack

pytestmark = pytest.mark.timeout(120)

SIZE = 4096


def stats(gw, session_id: str) -> dict:
    r = requests.get(f"{gw.url}/api/v1/admin/recordings/{session_id}/stats", headers=admin_headers(), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def only_link(doc: dict) -> dict:
    assert len(doc["links"]) == 1, doc
    return doc["links"][0]


def client(address: str, **headers) -> dict:
    return {"X-Forwarded-For": address, **headers}


def test_three_clients_opens_ranges_bytes_and_furthest(clean_stack: Stack, gateway_factory, recgw_binary):
    st = clean_stack
    token, session_id, _, data = seed_call(st, size=SIZE)
    partial, partial_session, _, _ = seed_call(st, size=SIZE)
    gw = start_links_gateway(gateway_factory, RECGW_SERVER_TRUSTED_PROXIES="127.0.0.1",
                             RECGW_ANALYTICS_FLUSH_MS="200")
    assert public_get(gw, token, headers=client("203.0.113.1")).content == data                 # open
    r = public_get(gw, token, headers=client("203.0.113.2", Range="bytes=0-99"))               # open
    assert r.status_code == 206 and r.content == data[:100]
    r = public_get(gw, token, headers=client("203.0.113.2", Range="bytes=1000-1999"))          # not an open
    assert r.status_code == 206
    r = public_get(gw, token, headers=client("10.9.8.7, 203.0.113.3", Range="bytes=-96"))      # not an open
    assert r.status_code == 206 and r.content == data[-96:]
    assert requests.head(gw.url + "/api/v1/public/recordings/" + token, headers=client("203.0.113.4"),
                         timeout=10).status_code == 200                                        # not counted
    r = public_get(gw, partial, headers=client("203.0.113.9", Range="bytes=0-1023"))
    assert r.status_code == 206

    want_bytes = SIZE + 100 + 1000 + 96
    link = wait_for(lambda: (l := stats(gw, session_id)["links"]) and l[0]["bytes_sent"] == want_bytes and l[0],
                    10, "the flushed stats")
    print(f"\nstats: {json.dumps(link)}")
    assert link["opens"] == 2
    assert link["unique_clients"] == 3          # HyperLogLog: exact at this size
    assert link["furthest_byte"] == SIZE and link["object_size"] == SIZE
    assert link["played_fraction"] == 1.0
    assert link["first_access"] <= link["last_access"]
    assert link["suspected_leak"] == {"warnings": 0}
    import hashlib
    assert link["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()

    other = wait_for(lambda: stats(gw, partial_session)["links"], 10, "the partial link's stats")[0]
    assert (other["opens"], other["furthest_byte"], other["played_fraction"]) == (1, 1024, 0.25)

    # nothing in Redis names the raw token
    for key in st.redis.scan_iter(match="recgw:stats:*"):
        assert token.encode() not in key and partial.encode() not in key, key
        if st.redis.type(key) == b"hash":
            assert token.encode() not in b"".join(st.redis.hgetall(key).values())
    # /metrics has aggregates only
    text = requests.get(gw.ops_url + "/metrics", timeout=10).text
    assert link["token_sha256"] not in text and token not in text
    snap = metrics_snapshot(gw.ops_url)
    assert metric_sum(snap, "recgw_link_opens_total") == 3
    assert metric_sum(snap, "recgw_link_bytes_total") == want_bytes + 1024

    # the CLI: the same document with --json, a table without
    env = dict(gw.env)
    out = subprocess.run([str(recgw_binary), "stats", session_id, "--json"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == stats(gw, session_id)
    out = subprocess.run([str(recgw_binary), "stats", session_id], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"stats of {session_id}: 1 link(s)", out.stdout
    assert lines[1].split()[:3] == ["token", "(sha256)", "opens"], out.stdout
    assert "100 %" in lines[2] and link["token_sha256"][:12] in lines[2], out.stdout
    assert token not in out.stdout

    # an unknown session has no links; no admin JWT: 401
    assert stats(gw, "sess-links-never-played") == {"session_id": "sess-links-never-played", "links": []}
    assert requests.get(f"{gw.url}/api/v1/admin/recordings/{session_id}/stats", timeout=10).status_code == 401


def test_forwarded_for_is_ignored_without_a_trusted_proxy(clean_stack: Stack, gateway_factory):
    token, session_id, _, _ = seed_call(clean_stack, size=SIZE)
    gw = start_links_gateway(gateway_factory, RECGW_ANALYTICS_FLUSH_MS="200")
    for i in range(3):
        assert public_get(gw, token, headers=client(f"203.0.113.{i + 1}")).status_code == 200
    link = wait_for(lambda: (l := stats(gw, session_id)["links"]) and l[0]["opens"] == 3 and l[0], 10,
                    "the flushed stats")
    assert link["unique_clients"] == 1     # every request came from 127.0.0.1


def test_a_leaked_link_warns_once_an_hour(clean_stack: Stack, gateway_factory):
    token, session_id, _, _ = seed_call(clean_stack, size=SIZE)
    limit = 5
    gw = start_links_gateway(gateway_factory, RECGW_SERVER_TRUSTED_PROXIES="127.0.0.1",
                             RECGW_ANALYTICS_FLUSH_MS="200", RECGW_ANALYTICS_LEAK_CLIENTS_PER_HOUR=str(limit))
    for i in range(limit):
        assert public_get(gw, token, headers=client(f"198.51.100.{i + 1}")).status_code == 200
    wait_for(lambda: (l := stats(gw, session_id)["links"]) and l[0]["unique_clients"] == limit, 10, "5 clients")
    assert only_link(stats(gw, session_id))["suspected_leak"] == {"warnings": 0}     # at the limit, not over
    for i in range(limit, limit + 3):
        assert public_get(gw, token, headers=client(f"198.51.100.{i + 1}")).status_code == 200
    leak = wait_for(lambda: only_link(stats(gw, session_id))["suspected_leak"]["warnings"] == 1 and
                    only_link(stats(gw, session_id))["suspected_leak"], 10, "the leak flagged")
    assert leak["clients_in_hour"] > limit and leak["at"]
    assert metric_sum(metrics_snapshot(gw.ops_url), "recgw_links_suspected_leaked_total") == 1
    warnings = [l for l in gw.log_lines() if "suspected leaked" in l.get("msg", l.get("message", ""))]
    assert len(warnings) == 1 and warnings[0]["session_id"] == session_id, warnings
    # more clients in the same hour: no second warning
    for i in range(limit + 3, limit + 6):
        public_get(gw, token, headers=client(f"198.51.100.{i + 1}"))
    wait_for(lambda: only_link(stats(gw, session_id))["unique_clients"] == limit + 6, 10, "the later clients")
    assert only_link(stats(gw, session_id))["suspected_leak"]["warnings"] == 1
    assert metric_sum(metrics_snapshot(gw.ops_url), "recgw_links_suspected_leaked_total") == 1
    assert token not in gw.logs()
