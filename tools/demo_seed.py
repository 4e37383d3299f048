#!/usr/bin/env python3
"""Seed the local stack with one demo call and a real recording.

    tools/stack.sh start && eval "$(tools/stack.sh env)"
    TOKEN=$(tools/demo_seed.py)            # prints the public token on stdout
    curl -sI "http://127.0.0.1:8080/api/v1/public/recordings/$TOKEN"

What it does:
  1. makes ~25 s of Ogg Vorbis speech (espeak-ng -> wav -> sox), cached under
     ${RECGW_CACHE:-~/.cache/recgw}/demo/ (made once per text/duration);
  2. uploads it to $RECGW_S3_BUCKET as demo/call-demo-0001.ogg (audio/ogg);
  3. creates the indexes of `calls` that CXB keeps and recgw needs (unique session_id,
     unique sparse recording_access_token, created_at) and upserts the demo call document in the database
     of $RECGW_MONGO_URI (default cxb).

Reads RECGW_MONGO_URI, RECGW_S3_ENDPOINT, RECGW_S3_ACCESS_KEY,
RECGW_S3_SECRET_KEY, RECGW_S3_BUCKET, RECGW_S3_REGION (as printed by
`tools/stack.sh env`).  Runs itself again in the tools venv when boto3/pymongo
are missing from the current interpreter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("RECGW_CACHE") or Path.home() / ".cache" / "recgw")
DEMO_TOKEN = "demo-token-" + hashlib.sha256(b"recgw demo call 0001").hexdigest()[:32]
DEFAULT_TEXT = ("Hello, and thank you for calling. This is the recording gateway demo call. "
                "Your call may be recorded for quality and training purposes. "
                "Please hold while we connect you to the next available agent.")
AUDIO_FORMAT_VERSION = "1"

try:
    import boto3
    import pymongo
    from botocore.config import Config
except ImportError:
    venv_py = CACHE / "venv" / "bin" / "python"
    if venv_py.exists() and Path(sys.prefix).resolve() != (CACHE / "venv").resolve() \
            and not os.environ.get("DEMO_SEED_REEXEC"):
        os.environ["DEMO_SEED_REEXEC"] = "1"
        os.execv(str(venv_py), [str(venv_py), __file__, *sys.argv[1:]])
    sys.exit("demo_seed.py: boto3 and pymongo are needed: run tools/install.sh "
             f"(venv {CACHE / 'venv'})")


def log(msg: str) -> None:
    print(f"demo_seed: {msg}", file=sys.stderr)


def need_env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        sys.exit(f"demo_seed.py: {name} is not set (eval \"$(tools/stack.sh env)\" first)")
    return v


def run(cmd: list) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"demo_seed.py: {cmd[0]} not found (apt-get install espeak-ng sox)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"demo_seed.py: {' '.join(cmd)} failed: {e.stderr.strip()}")


def make_audio(text: str, seconds: float) -> Path:
    """~`seconds` of Ogg Vorbis speech, cached by (text, seconds)."""
    h = hashlib.sha256(f"{AUDIO_FORMAT_VERSION}\0{seconds}\0{text}".encode()).hexdigest()[:16]
    out = CACHE / "demo" / f"call-demo-{h}.ogg"
    if out.exists() and out.stat().st_size > 0:
        log(f"audio cached: {out}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recgw-demo-") as tmp:
        wav = Path(tmp) / "speech.wav"
        run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text])
        speech = float(run(["soxi", "-D", str(wav)]).strip())
        gap = 0.8
        repeats = max(0, math.ceil(seconds / (speech + gap)) - 1)
        tmp_out = Path(tmp) / "out.ogg"
        # speech + a pause, repeated until long enough, cut to `seconds`, 1 s fade out
        run(["sox", str(wav), "-C", "4", str(tmp_out), "pad", "0", str(gap),
             "repeat", str(repeats), "trim", "0", str(seconds), "fade", "t", "0", "-0", "1"])
        shutil.move(str(tmp_out), out)
    log(f"audio made: {out} ({run(['soxi', '-D', str(out)]).strip()} s, {out.stat().st_size} bytes)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--token", default=DEMO_TOKEN, help=f"public token (default {DEMO_TOKEN})")
    ap.add_argument("--session-id", default="demo-session-0001")
    ap.add_argument("--account-id", default="demo-account")
    ap.add_argument("--key", default="demo/call-demo-0001.ogg", help="object key in the bucket")
    ap.add_argument("--text", default=DEFAULT_TEXT, help="what the demo call says")
    ap.add_argument("--seconds", type=float, default=25.0, help="audio length (default 25)")
    ap.add_argument("--collection", default="calls")
    a = ap.parse_args()

    mongo_uri = need_env("RECGW_MONGO_URI")
    endpoint = need_env("RECGW_S3_ENDPOINT")
    bucket = need_env("RECGW_S3_BUCKET")
    s3 = boto3.client("s3", endpoint_url=endpoint,
                      region_name=os.environ.get("RECGW_S3_REGION") or "us-east-1",
                      aws_access_key_id=need_env("RECGW_S3_ACCESS_KEY"),
                      aws_secret_access_key=need_env("RECGW_S3_SECRET_KEY"),
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))

    audio = make_audio(a.text, a.seconds)
    s3.upload_file(str(audio), bucket, a.key, ExtraArgs={"ContentType": "audio/ogg"})
    head = s3.head_object(Bucket=bucket, Key=a.key)
    log(f"uploaded s3://{bucket}/{a.key} ({head['ContentLength']} bytes, ETag {head['ETag']})")

    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    try:
        db = client.get_default_database("cxb")
        calls = db[a.collection]
        calls.create_index("session_id", unique=True)
        calls.create_index("recording_access_token", unique=True, sparse=True)
        calls.create_index([("created_at", -1)])  # `recgw warm --since`
        now = dt.datetime.now(dt.timezone.utc)
        calls.update_one(
            {"session_id": a.session_id},
            {"$set": {"account_id": a.account_id, "recording_access_token": a.token,
                      "recording_key": a.key, "recording_status": "ready"},
             "$setOnInsert": {"session_id": a.session_id, "created_at": now}},
            upsert=True)
        log(f"upserted {db.name}.{a.collection} session_id={a.session_id}")
    except pymongo.errors.DuplicateKeyError as e:
        sys.exit(f"demo_seed.py: token already used by another call: {e}")
    finally:
        client.close()

    print(a.token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
