"""A real browser plays a public recording link: Debian's Chromium, headless, driven by
playwright-core. It seeks to the middle and keeps playing; the test checks the range
requests the browser made and that no media error fired. Dashboards are browsers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")


def _browser_ready() -> str | None:
    if not CHROMIUM.exists():
        return "chromium is not installed (tools/install.sh installs it)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (tools/install.sh runs npm ci in tests/browser)"
    if shutil.which("node") is None:
        return "node is not installed"
    return None


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory) -> bytes:
    # Five minutes of 16 kHz mono WAV (~9.6 MB): large enough that a seek to the middle
    # needs bytes the browser has not fetched yet.
    path = tmp_path_factory.mktemp("audio") / "long.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "synth", "300",
                    "sine", "300-900"], check=True)
    return path.read_bytes()


def test_browser_plays_and_seeks(clean_stack, gateway_factory, long_audio):
    missing = _browser_ready()
    if missing:
        pytest.fail(missing)
    stack = clean_stack
    stack.put_object("browser/long-call.wav", long_audio, content_type="audio/wav")
    stack.insert_call("browser-session", token="browser-token-0123456789", key="browser/long-call.wav")
    gw = gateway_factory()
    url = f"{gw.url}/api/v1/public/recordings/browser-token-0123456789"
    assert requests.head(url, timeout=10).status_code == 200

    proc = subprocess.run(["node", str(BROWSER_DIR / "play.mjs"), f"{gw.url}/healthz", url, "30000"],
                          cwd=BROWSER_DIR, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert result["error"] is None, result
    assert result["playedPastSeek"] is True, result
    assert result["duration"] == pytest.approx(300, abs=1)
    media = [r for r in result["requests"] if r["method"] == "GET"]
    assert media, result
    ranged = [r for r in media if r["range"]]
    assert ranged, f"the browser made no Range request: {media}"
    for r in ranged:
        assert r["status"] == 206, r
        # Chromium revalidates a range it already cached (If-None-Match → 304) and then
        # reports the cached 206 without headers; check the headers it did receive.
        if r["contentRange"] is None:
            continue
        first = int(r["range"].split("=")[1].split("-")[0])
        assert r["contentRange"].startswith(f"bytes {first}-"), r
        assert r["contentRange"].endswith(f"/{len(long_audio)}"), r
    assert any(r["contentRange"] for r in ranged), media
    # The seek to the middle needed a range that starts past the beginning.
    assert any(int(r["range"].split("=")[1].split("-")[0]) > 0 for r in ranged), media
    # And the gateway answered it: a partial 206, or a 304 when Chromium revalidated a range
    # it already had in its cache (then it plays from the cache).
    streams = [line for line in gw.log_lines() if line.get("route") == "public_recording"]
    assert any((line["status"] == 206 and 0 < line["bytes"] < len(long_audio)) or line["status"] == 304
               for line in streams), streams
    # 499: Chromium cancels a range request it no longer needs once it seeks.
    assert all(line["status"] in (200, 206, 304, 499) for line in streams), streams


def test_link_opened_directly_plays_in_the_browsers_media_document(clean_stack, gateway_factory, long_audio):
    # A person clicking a public link gets Chromium's own media document; the recording's
    # Content-Security-Policy must not stop it from playing (`sandbox` or a bare
    # `default-src 'none'` would: the media element stays at readyState 0).
    missing = _browser_ready()
    if missing:
        pytest.fail(missing)
    clean_stack.put_object("browser/direct.wav", long_audio, content_type="audio/wav")
    clean_stack.insert_call("browser-direct", token="browser-direct-0123456789", key="browser/direct.wav")
    gw = gateway_factory()
    url = f"{gw.url}/api/v1/public/recordings/browser-direct-0123456789"
    assert "default-src 'none'" in requests.head(url, timeout=10).headers["Content-Security-Policy"]
    proc = subprocess.run(["node", str(BROWSER_DIR / "navigate.mjs"), url, "20000"],
                          cwd=BROWSER_DIR, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == 200 and result["error"] is None, result
    assert result["element"] == "VIDEO" and result["readyState"] >= 1, result
    assert result["duration"] == pytest.approx(300, abs=1), result
