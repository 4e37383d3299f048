"""The real stack and a gateway for the Node client's tests, driven over stdin/stdout.

Starts Redis, FerretDB and MinIO (tests/integration/stack.py), a fake fleet host, a fake
media provider and one gateway, then prints one JSON line describing them. After that it
answers one JSON line per JSON command line on stdin (seeding data, reading the database,
finding access-log lines), and stops everything when stdin closes (its directory is
removed unless RECGW_KEEP_STACK=1).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from fake_provider import FakeProvider, room_name  # noqa: E402
from fakes import FakeFleetHost, md5_etag  # noqa: E402
from helpers import hs256_jwt  # noqa: E402
from stack import Stack, free_port, resolve_recgw_binary, start_gateway  # noqa: E402

JWT_SECRET = "node-client-tests-jwt-secret-0123456789"
FLEET_SECRET = "node-client-tests-fleet-secret"
ACCOUNT = "acct-node"
TENANT = "tenant-node"
ROOM = "room-node"
ARCHIVE_BUCKET = "node-archive"


def jwt(claims: dict) -> str:
    now = int(time.time())
    return hs256_jwt({"sub": "node-tests", "iat": now, "exp": now + 3600, **claims}, JWT_SECRET)


def reply(doc) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


class World:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="recgw-node-"))
        self.st = Stack(self.dir / "stack").start()
        self.st.add_cxb_indexes()
        self.st.db.rooms.insert_one({"id": ROOM, "tenant_id": TENANT, "name": "Node Room"})
        try:
            self.st.s3.create_bucket(Bucket=ARCHIVE_BUCKET)
        except self.st.s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        self.provider = FakeProvider().start()
        self.fleet = FakeFleetHost(secret=FLEET_SECRET).start()
        port = free_port()
        env = {
            "RECGW_JWT_HS256_SECRET": JWT_SECRET,
            "RECGW_SERVER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "RECGW_FLEET_URLS": self.fleet.url,
            "RECGW_FLEET_SECRET": FLEET_SECRET,
            "RECGW_LIFECYCLE_PROVIDER_URL": self.provider.url,
            "RECGW_LIFECYCLE_PROVIDER_TOKEN": self.provider.token,
            "RECGW_LIFECYCLE_ARCHIVE_BUCKET": ARCHIVE_BUCKET,
            "RECGW_LIFECYCLE_ARCHIVE_STORAGE_CLASS": "REDUCED_REDUNDANCY",
            "RECGW_LIFECYCLE_POLL_PERIOD_S": "1",
            "RECGW_LIFECYCLE_PROVIDER_TIMEOUT_MS": "1500",
            "RECGW_LIFECYCLE_PROVIDER_BACKOFF_MS": "50",
        }
        binary = resolve_recgw_binary()
        self.gw = start_gateway(self.st, env, binary=binary, port=port, log_dir=self.dir / "gateway")
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
        cli_env.update(self.st.env)
        p = subprocess.run([str(binary), "api-key", "create", "--account", ACCOUNT, "--name", "node tests"],
                           env=cli_env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
        self.api_key = p.stdout.strip()

    def describe(self) -> dict:
        return {"url": self.gw.url, "api_key": self.api_key, "admin_jwt": jwt({"role": "admin"}),
                "tenant_jwt": jwt({"account_id": TENANT}), "account": ACCOUNT, "tenant": TENANT, "room": ROOM,
                "fleet_secret": FLEET_SECRET}

    # ---- commands --------------------------------------------------------------------------
    def seed_call(self, size: int = 100_000, token=None, in_storage: bool = True, status: str = "ready") -> dict:
        session_id = f"sess-{uuid.uuid4().hex[:12]}"
        key = f"rec/{session_id}.ogg"
        data = os.urandom(size)
        if in_storage:
            self.st.put_object(key, data, "audio/ogg")
        else:
            self.fleet.put(key, data, "audio/ogg")
        self.st.insert_call(session_id, key=key, token=token, status=status, account_id=ACCOUNT)
        return {"session_id": session_id, "key": key, "size": size, "etag": md5_etag(data),
                "sha256": hashlib.sha256(data).hexdigest()}

    def call(self, session_id: str) -> dict:
        doc = self.st.db.calls.find_one({"session_id": session_id}) or {}
        out = {k: doc.get(k) for k in ("recording_access_token", "recording_status", "recording_key")}
        expires = doc.get("recording_access_expires_at")   # a naive UTC datetime from pymongo
        out["recording_access_expires_at"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ") if expires else None
        return out

    def provider_add(self, status: str = "processing") -> dict:
        return self.provider.add_recording(room_name(TENANT, ROOM), status=status)

    def provider_ready(self, id: str, size: int = 200_000) -> dict:
        data = os.urandom(size)
        key = f"rooms/{ROOM}/{id}.webm"
        self.st.put_object(key, data, "video/webm")
        self.provider.set_ready(id, bucket=self.st.bucket, key=key, size=size, duration=5.0)
        return {"sha256": hashlib.sha256(data).hexdigest()}

    def access(self, request_id: str) -> dict:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for rec in self.gw.log_lines():
                if rec.get("type") == "access" and rec.get("request_id") == request_id:
                    return rec
            time.sleep(0.05)
        return {}

    def stop(self) -> None:
        for step in (self.gw.stop, self.fleet.stop, self.provider.stop, self.st.stop):
            try:
                step()
            except Exception:  # noqa: BLE001 — teardown goes on
                traceback.print_exc(file=sys.stderr)
        if os.environ.get("RECGW_KEEP_STACK") == "1":
            print(f"recgw node-test stack dir kept: {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


COMMANDS = {"seed_call", "call", "provider_add", "provider_ready", "access"}


def main() -> int:
    world = World()
    try:
        reply(world.describe())
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            op = command.pop("op")
            if op not in COMMANDS:
                reply({"error": f"unknown command {op!r}"})
                continue
            try:
                reply({"ok": getattr(world, op)(**command)})
            except Exception as e:  # noqa: BLE001 — reported to the test, which fails on it
                reply({"error": f"{type(e).__name__}: {e}"})
    finally:
        world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
