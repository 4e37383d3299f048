"""Every method of the asyncio client, called once for real (the sync tests check the
answers in depth; these check that each awaitable call reaches its route and reads it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx
import pytest

from conftest import ACCOUNT, FLEET_SECRET, ROOM, TENANT, World
from cut_proxy import CutProxy
from fake_provider import room_name
from fakes import md5_etag

from recgw_client import AsyncRecgwClient, ConflictError, LinkRevokedError, NotFoundError

pytestmark = pytest.mark.timeout(180)


def run(coro):
    return asyncio.run(coro)


def test_async_surface(world: World, tmp_path):
    token = "A" * 43
    session_id, key, data = world.seed_call(token=token, size=400_000)

    async def main() -> None:
        async with AsyncRecgwClient(world.gw.url, world.admin_jwt, fleet_secret=FLEET_SECRET) as admin, \
                AsyncRecgwClient(world.gw.url, world.api_key, account_id=ACCOUNT) as tenant, \
                AsyncRecgwClient(world.gw.url, world.tenant_jwt) as rooms_client:
            assert (await tenant.recordings.get(id=session_id)).expires_in == 300
            assert tenant.links.public_url(token).endswith("/" + token)
            assert (await tenant.links.signed_url(session_id, 5)).expiration_minutes == 5
            assert (await tenant.links.session_recording_url(session_id)).url
            assert (await admin.links.accessible_urls([session_id]))[0].url_kind == "presigned"
            head = await admin.recordings.head(session_id)
            assert head.size == len(data)
            assert (await admin.recordings.head(token)).etag == md5_etag(data)
            got = await admin.recordings.download(token, tmp_path / "dl.ogg", download=True)
            assert got.disposition == "attachment" and (tmp_path / "dl.ogg").read_bytes() == data
            assert admin.links.public_url(token, download=True).endswith("?download=1")
            deadline = asyncio.get_running_loop().time() + 10
            while not ((link_stats := (await admin.admin.stats(session_id)).for_token(token))
                       and link_stats.bytes_sent >= len(data)):
                assert asyncio.get_running_loop().time() < deadline, "the analytics were never flushed"
                await asyncio.sleep(0.1)
            assert link_stats.opens == 1 and link_stats.furthest_byte == len(data)
            assert isinstance((await admin.admin.cache_stats()).enabled, bool)
            assert (await admin.admin.warm(tokens=[token])).warmed == 1
            assert (await admin.admin.warm(since=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))).warmed
            assert (await admin.admin.evict(token)).evicted is True
            assert (await admin.admin.diagnose(token)).servable is True
            minted = await admin.admin.mint_token(session_id)
            assert minted.rotated is True   # it had `token`
            rotated = await admin.admin.rotate_token(session_id, expires_in_s=3600)
            assert rotated.token != minted.token and rotated.expires_at
            assert (await admin.admin.mint_token(session_id, expires_at=dt.datetime.now(dt.timezone.utc)
                                                 + dt.timedelta(hours=1))).expires_at
            latest = await admin.admin.rotate_token(session_id)
            assert latest.expires_at is None
            assert (await admin.admin.revoke_token(session_id)).revoked is True
            with pytest.raises(LinkRevokedError) as gone:
                await admin.recordings.download(latest.token, tmp_path / "gone.ogg")
            assert gone.value.status == 410 and gone.value.code == "link_revoked" and gone.value.request_id
            with pytest.raises(NotFoundError) as e:
                await admin.admin.mint_token("sess-none")
            assert e.value.code == "not_found" and e.value.request_id

            other, other_key, other_data = world.seed_call(size=400_000)
            world.st.db.calls.update_one({"session_id": other}, {"$set": {"recording_status": "uploading"}})
            reported = await admin.recordings.report_upload(other, other_key, len(other_data),
                                                            md5_etag(other_data), "audio/ogg")
            assert reported.token_created is True
            out = tmp_path / "async.ogg"
            host, port = world.gw.url.removeprefix("http://").split(":")
            proxy = CutProxy((host, int(port)), cut_after=150_000)
            try:
                async with AsyncRecgwClient(proxy.url) as via_proxy:
                    token2 = reported.public_url.rsplit("/", 1)[1]
                    result = await via_proxy.recordings.download(token2, out)
            finally:
                proxy.close()
            assert result.reconnects == 1 and out.read_bytes() == other_data

            r = rooms_client.rooms
            rec_id = (await r.start(ROOM))["id"]
            with pytest.raises(ConflictError):
                await r.start(ROOM)
            assert (await r.stop(ROOM))["status"] == "processing"
            prov = world.provider.add_recording(room_name(TENANT, ROOM), status="processing")
            assert (await r.sync(ROOM))["synced_count"] in (0, 1)   # the poll may have linked it first
            deadline = asyncio.get_running_loop().time() + 10
            while (await r.get(rec_id))["provider_recording_id"] != prov["id"]:
                assert asyncio.get_running_loop().time() < deadline, "never linked"
                await asyncio.sleep(0.2)
            assert (await r.recover(rec_id))["status"] == "processing"
            body = uuid.uuid4().bytes * 4000
            rkey = f"rooms/{ROOM}/{prov['id']}.webm"
            world.st.put_object(rkey, body, "video/webm")
            world.provider.set_ready(prov["id"], bucket=world.st.bucket, key=rkey, size=len(body), duration=3)
            deadline = asyncio.get_running_loop().time() + 15
            while (await r.get(rec_id))["status"] != "ready":
                assert asyncio.get_running_loop().time() < deadline, "never ready"
                await asyncio.sleep(0.2)
            dl = await r.download_url(rec_id)
            async with httpx.AsyncClient() as plain:
                assert (await plain.get(dl["download_url"])).content == body
            assert rec_id in [x["id"] for x in (await r.list(limit=5))["data"]]
            assert (await r.archive(rec_id))["status"] == "archived"
            assert (await r.delete(rec_id))["deleted"] is True

    run(main())
