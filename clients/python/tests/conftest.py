"""The client against a real gateway: the integration suite's stack (Redis, FerretDB,
MinIO through tools/stack.sh), a fake fleet host and a fake media provider, one gateway for
the whole module.

    world.gw        the gateway (stack.Gateway)
    world.st        the stack (pymongo db, boto3 s3, redis)
    world.admin     RecgwClient with an admin JWT
    world.tenant    RecgwClient with an API key of ACCOUNT (and RECGW_ACCOUNT_ID)
    world.rooms     RecgwClient with a tenant JWT of TENANT (rooms lifecycle)
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
INTEGRATION = REPO / "tests" / "integration"
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(REPO / "clients" / "python" / "src"))

from fake_provider import FakeProvider  # noqa: E402
from fakes import FakeFleetHost, md5_etag  # noqa: E402
from helpers import hs256_jwt  # noqa: E402
from stack import Gateway, Stack, free_port, start_gateway  # noqa: E402

from recgw_client import RecgwClient  # noqa: E402


def _load_integration_conftest() -> Any:
    spec = importlib.util.spec_from_file_location("recgw_integration_conftest", INTEGRATION / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_integration = _load_integration_conftest()
stack = _integration.stack                    # session: the started stack
recgw_binary = _integration.recgw_binary      # session: the built gateway (skips when absent)
_restore_stopped_services = _integration._restore_stopped_services

JWT_SECRET = "client-tests-jwt-secret-0123456789abcdef"
FLEET_SECRET = "client-tests-fleet-secret"
ACCOUNT = "acct-client"
TENANT = "tenant-client"
ROOM = "room-client"
ARCHIVE_BUCKET = "client-archive"


def jwt(claims: dict) -> str:
    now = int(time.time())
    return hs256_jwt({"sub": "client-tests", "iat": now, "exp": now + 3600, **claims}, JWT_SECRET)


def create_api_key(binary: Path, st: Stack, account: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    env.update(st.env)
    p = subprocess.run([str(binary), "api-key", "create", "--account", account, "--name", "client tests"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@dataclass
class World:
    st: Stack
    gw: Gateway
    fleet: FakeFleetHost
    provider: FakeProvider
    admin: RecgwClient
    tenant: RecgwClient
    rooms: RecgwClient
    api_key: str
    admin_jwt: str
    tenant_jwt: str

    def seed_call(self, *, size: int = 100_000, token: Optional[str] = None, account: str = ACCOUNT,
                  in_storage: bool = True) -> tuple:
        """An object in MinIO (or only on the fake fleet host) and a call naming it:
        (session_id, key, bytes)."""
        session_id = f"sess-{uuid.uuid4().hex[:12]}"
        key = f"rec/{session_id}.ogg"
        data = os.urandom(size)
        if in_storage:
            self.st.put_object(key, data, "audio/ogg")
        else:
            self.fleet.put(key, data, "audio/ogg")
        self.st.insert_call(session_id, key=key, token=token, status="ready", account_id=account)
        return session_id, key, data


def _empty_bucket(st: Stack, bucket: str) -> None:
    try:
        st.s3.create_bucket(Bucket=bucket)
    except st.s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for page in st.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objs:
            st.s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})


@pytest.fixture(scope="module")
def world(stack: Stack, recgw_binary: Path, tmp_path_factory) -> Iterator[World]:
    st = stack
    st.reset()
    st.add_cxb_indexes()
    st.db.rooms.insert_one({"id": ROOM, "tenant_id": TENANT, "name": "Client Room"})
    _empty_bucket(st, ARCHIVE_BUCKET)
    provider = FakeProvider().start()
    fleet = FakeFleetHost(secret=FLEET_SECRET).start()
    port = free_port()
    env = {
        "RECGW_JWT_HS256_SECRET": JWT_SECRET,
        "RECGW_SERVER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "RECGW_FLEET_URLS": fleet.url,
        "RECGW_FLEET_SECRET": FLEET_SECRET,
        "RECGW_LIFECYCLE_PROVIDER_URL": provider.url,
        "RECGW_LIFECYCLE_PROVIDER_TOKEN": provider.token,
        "RECGW_LIFECYCLE_ARCHIVE_BUCKET": ARCHIVE_BUCKET,
        "RECGW_LIFECYCLE_ARCHIVE_STORAGE_CLASS": "REDUCED_REDUNDANCY",
        "RECGW_LIFECYCLE_POLL_PERIOD_S": "1",
        "RECGW_LIFECYCLE_PROVIDER_TIMEOUT_MS": "1500",
        "RECGW_LIFECYCLE_PROVIDER_BACKOFF_MS": "50",
    }
    gw = start_gateway(st, env, binary=recgw_binary, port=port, log_dir=tmp_path_factory.mktemp("gateway"))
    api_key = create_api_key(recgw_binary, st, ACCOUNT)
    admin_jwt = jwt({"role": "admin"})
    tenant_jwt = jwt({"account_id": TENANT})
    w = World(st, gw, fleet, provider,
              admin=RecgwClient(gw.url, admin_jwt, fleet_secret=FLEET_SECRET),
              tenant=RecgwClient(gw.url, api_key, account_id=ACCOUNT),
              rooms=RecgwClient(gw.url, tenant_jwt),
              api_key=api_key, admin_jwt=admin_jwt, tenant_jwt=tenant_jwt)
    try:
        yield w
    finally:
        for c in (w.admin, w.tenant, w.rooms):
            c.close()
        gw.stop()
        fleet.stop()
        provider.stop()


__all__ = ["md5_etag"]
