"""examples/warm_recent.py: windows, splitting full windows, retries on 429/503, summary."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import ACCOUNT, World

from recgw_client import RecgwClient

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "warm_recent.py"
SRC = Path(__file__).resolve().parents[1] / "src"


def load_example():
    spec = importlib.util.spec_from_file_location("warm_recent", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader
    sys.modules["warm_recent"] = module   # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_warms_every_call_of_the_period_splitting_full_windows(world: World):
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=2)
    tokens = []
    for k in range(1, 7):
        token = uuid.uuid4().hex + uuid.uuid4().hex[:11]
        tokens.append(token)
        world.st.insert_call(f"sess-warm-{uuid.uuid4().hex[:8]}", token=token, key=f"rec/w{k}.ogg",
                             status="ready", account_id=ACCOUNT, created_at=base - dt.timedelta(minutes=10 * k))
    env = {**os.environ, "RECGW_URL": world.gw.url, "RECGW_API_KEY": world.admin_jwt,
           "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, str(EXAMPLE), "--hours", "1.5", "--end", base.isoformat(),
                        "--window-minutes", "30", "--batch-limit", "4", "--no-progress"],
                       env=env, capture_output=True, text=True, timeout=100)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "lookups written:    12" in p.stdout, p.stdout      # 6 calls, by token and by session id
    assert "failed windows:     0" in p.stdout
    splits = int(p.stdout.split("(")[1].split(" split")[0])
    assert splits >= 1, p.stdout
    for token in tokens:
        assert world.st.redis.get("recgw:tok:" + hashlib.sha256(token.encode()).hexdigest()), token


def test_retries_429_and_503_with_backoff_then_reports_what_still_fails():
    module = load_example()
    answers = iter([(503, {"Retry-After": "1"}), (429, {}), (200, {})] + [(503, {})] * 10)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        status, headers = next(answers)
        seen.append(status)
        if status != 200:
            return httpx.Response(status, headers={"X-Request-Id": "r1", **headers},
                                  json={"error": "busy", "message": "try later"})
        return httpx.Response(200, json={"warmed": 2, "missing": 0, "without_recording": 0, "redis_failed": 0})

    slept = []
    client = RecgwClient("http://gw.test", "jwt", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    end = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    summary = module.warm_recent(client, hours=1, window_minutes=30, limit=100, max_retries=3, now=end,
                                 show_progress=False, sleep=slept.append)
    assert seen[:3] == [503, 429, 200]
    assert summary.windows == 1 and summary.warmed == 2
    assert summary.retries == 2 + 3 and len(summary.failed) == 1     # the second window never got through
    assert "busy" in summary.failed[0] or "try later" in summary.failed[0]
    assert 1.0 <= slept[0] <= 1.25          # Retry-After honoured (plus jitter)
    assert slept[2] < slept[3] < slept[4]   # exponential without Retry-After
    assert any("failed windows:     1" == line for line in summary.lines())
