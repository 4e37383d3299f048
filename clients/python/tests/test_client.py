"""Every method of the sync client, called for real against the gateway (see conftest.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import httpx
import pytest

from conftest import ACCOUNT, FLEET_SECRET, ROOM, TENANT, World
from cut_proxy import CutProxy
from fake_provider import room_name
from fakes import md5_etag
from helpers import wait_for

from recgw_client import (AuthenticationError, BadRequestError, CachedObject, ConflictError, GoneError,
                          LinkExpiredError, LinkRevokedError, LinkStats, NotFoundError, ObjectCacheStats, RecgwClient,
                          RecgwError, RecordingDeletedError, RecordingFailedError, RecordingNotReadyError,
                          RecordingUrl, ServiceUnavailableError, sign_report)

pytestmark = pytest.mark.timeout(180)


def access_line(world: World, request_id: str) -> dict:
    def find():
        for rec in world.gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == request_id:
                return rec
        return None
    return wait_for(find, 5, f"the access-log line of {request_id}")


# ---- configuration shaped like the SDKs --------------------------------------------------------

def test_the_client_reads_its_url_and_key_from_the_environment(world: World, monkeypatch):
    session_id, _, data = world.seed_call()
    monkeypatch.setenv("RECGW_URL", world.gw.url)
    monkeypatch.setenv("RECGW_API_KEY", world.api_key)
    monkeypatch.setenv("RECGW_ACCOUNT_ID", ACCOUNT)
    with RecgwClient() as client:
        assert client.base_url == world.gw.url
        url = client.recordings.get(id=session_id)
    assert isinstance(url, RecordingUrl)
    assert url.expires_in == 300 and url.url_kind == "storage_presigned"
    assert httpx.get(url.url, timeout=10).content == data


# ---- links -------------------------------------------------------------------------------------

def test_links(world: World):
    session_id, key, data = world.seed_call(token="L" * 43)
    assert world.tenant.links.public_url("L" * 43) == f"{world.gw.url}/api/v1/public/recordings/{'L' * 43}"
    signed = world.tenant.links.signed_url(session_id, minutes=7)
    assert signed.file_name == key.rsplit("/", 1)[1] and signed.expiration_minutes == 7
    assert httpx.get(signed.signed_url, timeout=10).content == data
    session_url = world.tenant.links.session_recording_url(session_id, ACCOUNT)
    assert httpx.get(session_url.url, timeout=10).content == data
    results = world.admin.links.accessible_urls([session_id, "sess-missing"], expires_in=120)
    assert [r.session_id for r in results] == [session_id, "sess-missing"]
    assert results[0].url_kind == "presigned" and results[0].reason is None
    assert results[1].url is None and results[1].reason == "no_call"


# ---- admin -------------------------------------------------------------------------------------

def test_token_mint_rotate_revoke(world: World, tmp_path):
    session_id, _, data = world.seed_call()
    minted = world.admin.admin.mint_token(session_id)
    assert minted.session_id == session_id and minted.rotated is False and minted.expires_at is None
    assert httpx.get(minted.url, timeout=10).content == data
    rotated = world.admin.admin.rotate_token(session_id)
    assert rotated.rotated is True and rotated.token != minted.token
    assert httpx.get(minted.url, timeout=10).status_code == 404   # rotated away: unknown, not revoked
    revoked = world.admin.admin.revoke_token(session_id)
    assert revoked.revoked is True and revoked.session_id == session_id
    gone = httpx.get(rotated.url, timeout=10)
    assert gone.status_code == 410 and gone.json()["error"] == "link_revoked"
    # The client's public-link helpers say so with a specific error.
    with pytest.raises(LinkRevokedError) as e:
        world.admin.recordings.download(rotated.token, tmp_path / "revoked.ogg")
    assert isinstance(e.value, GoneError) and e.value.status == 410 and e.value.code == "link_revoked"
    assert e.value.request_id and not e.value.retryable
    assert access_line(world, e.value.request_id)["status"] == 410
    with pytest.raises(GoneError) as head:   # a HEAD answer has no body: the generic code
        world.admin.recordings.head(rotated.token)
    assert head.value.status == 410 and head.value.code == "gone"
    assert world.st.db.calls.find_one({"session_id": session_id}).get("recording_access_token") is None
    assert world.admin.admin.revoke_token(session_id).revoked is False
    with pytest.raises(NotFoundError):
        world.admin.admin.revoke_token("sess-nobody")
    again = world.admin.admin.mint_token(session_id)   # the call keeps its recording: a new link plays
    assert again.rotated is False and httpx.get(again.url, timeout=10).content == data


def test_mint_token_with_expiry(world: World, tmp_path):
    session_id, _, data = world.seed_call()
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).replace(microsecond=0)
    by_instant = world.admin.admin.mint_token(session_id, expires_at=at)
    assert by_instant.expires_at is not None
    assert dt.datetime.fromisoformat(by_instant.expires_at.replace("Z", "+00:00")) == at
    stored = world.st.db.calls.find_one({"session_id": session_id})["recording_access_expires_at"]
    assert stored.replace(tzinfo=dt.timezone.utc) == at
    # A naive datetime means UTC; an ISO string is passed as it is.
    naive = world.admin.admin.rotate_token(session_id, expires_at=at.replace(tzinfo=None))
    assert dt.datetime.fromisoformat(naive.expires_at.replace("Z", "+00:00")) == at

    short = world.admin.admin.rotate_token(session_id, expires_in_s=2)
    assert short.rotated is True and short.expires_at is not None
    left = dt.datetime.fromisoformat(short.expires_at.replace("Z", "+00:00")) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=-1) < left <= dt.timedelta(seconds=3)
    out = tmp_path / "before.ogg"
    assert world.admin.recordings.download(short.token, out).size == len(data)   # plays (and is cached) now

    def expired():
        try:
            world.admin.recordings.download(short.token, tmp_path / "after.ogg")
        except LinkExpiredError as e:
            return e
        return None
    e = wait_for(expired, 10, "the link to expire")
    assert isinstance(e, GoneError) and e.status == 410 and e.code == "link_expired" and e.request_id
    assert httpx.get(world.admin.links.public_url(short.token), timeout=10).json()["error"] == "link_expired"

    with pytest.raises(RecgwError) as both:   # refused before any request
        world.admin.admin.mint_token(session_id, expires_in_s=5, expires_at=at)
    assert both.value.code == "bad_request" and both.value.status is None
    with pytest.raises(BadRequestError) as past:
        world.admin.admin.mint_token(session_id, expires_at=dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc))
    assert past.value.status == 400 and past.value.code == "bad_request"
    forever = world.admin.admin.mint_token(session_id)
    assert forever.expires_at is None
    assert world.st.db.calls.find_one({"session_id": session_id}).get("recording_access_expires_at") is None


@pytest.mark.parametrize("status, error", [("processing", RecordingNotReadyError),
                                           ("uploading", RecordingNotReadyError),
                                           ("failed", RecordingFailedError), ("deleted", RecordingDeletedError)])
def test_public_link_statuses_are_specific_errors(world: World, tmp_path, status, error):
    token = uuid.uuid4().hex + status[:3] + "x" * (11 - len(status[:3]))
    assert len(token) == 43
    session_id, _, _ = world.seed_call(token=token)
    world.st.db.calls.update_one({"session_id": session_id}, {"$set": {"recording_status": status}})
    with pytest.raises(error) as e:
        world.admin.recordings.download(token, tmp_path / "x.ogg")
    code = {"processing": "recording_not_ready", "uploading": "recording_not_ready",
            "failed": "recording_failed", "deleted": "recording_deleted"}[status]
    assert e.value.code == code and e.value.request_id
    if error is RecordingNotReadyError:
        assert isinstance(e.value, ServiceUnavailableError) and e.value.status == 503
        assert e.value.retryable and e.value.retry_after == 30   # public.retry_after_s, default
    else:
        assert isinstance(e.value, GoneError) and e.value.status == 410 and not e.value.retryable
    assert list(tmp_path.glob("x.ogg*")) == []


def test_download_and_redirect_modes_of_the_public_link(world: World, tmp_path):
    token = uuid.uuid4().hex + "dlmodeabcde"
    session_id, _, data = world.seed_call(token=token)
    url = world.admin.links.public_url(token, download=True)
    assert url == f"{world.gw.url}/api/v1/public/recordings/{token}?download=1"
    assert world.admin.links.public_url(token, redirect=True).endswith("?redirect=1")
    r = httpx.get(url, timeout=10)
    assert r.content == data and r.headers["content-disposition"].startswith("attachment")
    saved = world.admin.recordings.download(token, tmp_path / "a.ogg", download=True)
    assert saved.disposition == "attachment" and saved.filename == f"{session_id}.ogg"
    assert (tmp_path / "a.ogg").read_bytes() == data
    plain = world.admin.recordings.download(token, tmp_path / "p.ogg")
    assert plain.disposition == "inline" and (tmp_path / "p.ogg").read_bytes() == data
    # redirect=True: the gateway answers 302 to storage, and the client follows it.
    assert httpx.get(world.admin.links.public_url(token, redirect=True), timeout=10).status_code == 302
    moved = world.admin.recordings.download(token, tmp_path / "r.ogg", redirect=True)
    assert (tmp_path / "r.ogg").read_bytes() == data and moved.size == len(data)
    with pytest.raises(ValueError):
        world.admin.recordings.download(session_id, tmp_path / "s.ogg", download=True)


def test_link_stats(world: World, tmp_path):
    token = uuid.uuid4().hex + "statsabcdef"
    session_id, _, data = world.seed_call(token=token, size=50_000)
    assert world.admin.admin.stats(session_id).links == []   # never played
    for i in range(2):
        world.admin.recordings.download(token, tmp_path / f"{i}.ogg", resume=False)

    def flushed():
        link = world.admin.admin.stats(session_id).for_token(token)
        # Both plays whole: opens and bytes may reach Redis in different flushes.
        return link if link is not None and link.opens >= 2 and link.bytes_sent >= 2 * len(data) else None
    link = wait_for(flushed, 10, "the analytics flush")
    report = world.admin.admin.stats(session_id)
    assert report.session_id == session_id and [x.token_sha256 for x in report.links] == [
        hashlib.sha256(token.encode()).hexdigest()]
    assert isinstance(link, LinkStats)
    assert link.opens == 2 and link.unique_clients == 1
    assert link.bytes_sent == 2 * len(data) and link.furthest_byte == len(data)
    assert link.object_size == len(data) and link.played_fraction == 1.0
    assert link.first_access and link.last_access and link.first_access <= link.last_access
    assert link.suspected_leak.warnings == 0
    assert report.for_token("y" * 43) is None
    with pytest.raises(AuthenticationError):   # an API key is no admin
        world.tenant.admin.stats(session_id)


def test_cache_stats(world: World):
    stats = world.admin.admin.cache_stats()
    assert isinstance(stats, ObjectCacheStats)
    assert stats.raw["enabled"] is stats.enabled
    if stats.enabled:
        assert stats.budget_bytes and stats.budget_bytes > 0 and stats.entries is not None
        assert all(isinstance(x, CachedObject) and x.key for x in stats.top)
    with pytest.raises(AuthenticationError):
        world.tenant.admin.cache_stats()


def test_warm_evict_diagnose_head(world: World):
    token = uuid.uuid4().hex + "abcdefghijk"
    assert len(token) == 43
    session_id, key, data = world.seed_call(token=token)
    by_token = world.admin.admin.warm(tokens=[token, "x" * 43])
    assert by_token.warmed == 1 and by_token.missing == 1
    assert world.st.redis.get("recgw:tok:" + hashlib.sha256(token.encode()).hexdigest())
    now = dt.datetime.now(dt.timezone.utc)
    since = world.admin.admin.warm(since=now - dt.timedelta(hours=1), limit=50)
    assert since.warmed >= 1
    # A window before any call was created warms nothing.
    assert world.admin.admin.warm(since=now - dt.timedelta(hours=2), until=now - dt.timedelta(hours=1)).warmed == 0
    evicted = world.admin.admin.evict(token)
    assert evicted.evicted is True and evicted.redis is True
    diagnosis = world.admin.admin.diagnose(token)
    assert diagnosis.servable is True and diagnosis.steps
    bad = world.admin.admin.diagnose("sess-nobody-" + uuid.uuid4().hex[:6])
    assert bad.servable is False and bad.verdict
    head = world.admin.recordings.head(token)
    assert head.size == len(data) and head.etag == md5_etag(data) and head.accepts_ranges
    by_session = world.admin.recordings.head(session_id)
    assert by_session.size == len(data) and by_session.content_type == "audio/ogg"


# ---- upload reports ----------------------------------------------------------------------------

def test_report_upload_signs_the_report(world: World):
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    key = f"rec/{session_id}.ogg"
    data = b"reported " * 5000
    world.st.put_object(key, data, "audio/ogg")
    world.st.insert_call(session_id, status="uploading", account_id=ACCOUNT)
    result = world.admin.recordings.report_upload(session_id, key, len(data), md5_etag(data), "audio/ogg",
                                                  duration_s=3.5)
    assert result.session_id == session_id and result.token_created is True
    assert httpx.get(result.public_url, timeout=10).content == data
    again = world.admin.recordings.report_upload(session_id, key, len(data), md5_etag(data), "audio/ogg")
    assert again.public_url == result.public_url and again.token_created is False
    # The signature is the documented one: the same bytes signed by hand are accepted.
    body = (b'{"session_id":"%s","key":"%s","size":%d,"etag":"x","content_type":"audio/ogg"}'
            % (session_id.encode(), key.encode(), len(data)))
    r = httpx.post(world.gw.url + "/api/v1/fleet/recordings", content=body,
                   headers={"X-CXBCore-Signature": sign_report(FLEET_SECRET, body),
                            "Content-Type": "application/json"})
    assert r.status_code == 409 and r.json()["error"] == "object_mismatch", r.text   # the ETag differs
    with pytest.raises(AuthenticationError) as wrong:
        RecgwClient(world.gw.url, fleet_secret="wrong").recordings.report_upload(
            session_id, key, len(data), md5_etag(data), "audio/ogg")
    assert wrong.value.code == "signature_mismatch" and wrong.value.request_id


# ---- downloads ---------------------------------------------------------------------------------

def test_download_whole_with_progress(world: World, tmp_path):
    _, _, data = world.seed_call(token="D" * 43, size=300_000)
    seen = []
    result = world.tenant.recordings.download("D" * 43, tmp_path / "a.ogg", progress=lambda n, t: seen.append((n, t)))
    assert (tmp_path / "a.ogg").read_bytes() == data
    assert result.size == len(data) and result.resumed_from == 0 and result.reconnects == 0
    assert seen[-1] == (len(data), len(data)) and [n for n, _ in seen] == sorted(n for n, _ in seen)
    assert not (tmp_path / "a.ogg.part").exists()


def test_download_resumes_after_a_cut_connection_with_identical_bytes(world: World, tmp_path):
    token = "C" * 43
    _, _, data = world.seed_call(token=token, size=2_000_000)
    host, port = world.gw.url.removeprefix("http://").split(":")
    proxy = CutProxy((host, int(port)), cut_after=700_000, cut_connections=2)
    try:
        client = RecgwClient(proxy.url)
        result = client.recordings.download(token, tmp_path / "cut.ogg")
        client.close()
    finally:
        proxy.close()
    assert proxy.cuts == 2 and result.reconnects == 2
    got = (tmp_path / "cut.ogg").read_bytes()
    assert len(got) == len(data) and hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_download_continues_a_partial_file_from_an_earlier_run(world: World, tmp_path):
    token = "P" * 43
    _, _, data = world.seed_call(token=token, size=500_000)
    host, port = world.gw.url.removeprefix("http://").split(":")
    proxy = CutProxy((host, int(port)), cut_after=200_000, cut_connections=1)
    try:
        with pytest.raises(RecgwError) as broke:
            RecgwClient(proxy.url).recordings.download(token, tmp_path / "p.ogg", max_reconnects=0)
        assert broke.value.code == "connection_failed"
    finally:
        proxy.close()
    partial = (tmp_path / "p.ogg.part").stat().st_size
    assert 0 < partial < len(data)
    rid_before = {r.get("request_id") for r in world.gw.log_lines()}
    result = world.tenant.recordings.download(token, tmp_path / "p.ogg")
    assert result.resumed_from == partial
    assert (tmp_path / "p.ogg").read_bytes() == data
    ranged = [r for r in world.gw.log_lines() if r.get("type") == "access" and r.get("request_id") not in rid_before
              and r.get("status") == 206]
    assert ranged, "the second run asked only for the rest (206)"


def test_download_by_session_id_is_an_admin_stream(world: World, tmp_path):
    session_id, _, data = world.seed_call()
    world.admin.recordings.download(session_id, tmp_path / "s.ogg")
    assert (tmp_path / "s.ogg").read_bytes() == data
    with pytest.raises(AuthenticationError):
        world.tenant.recordings.download(session_id, tmp_path / "t.ogg")
    assert list(tmp_path.glob("t.ogg*")) == [], "a refused download leaves no empty .part behind"


# ---- errors ------------------------------------------------------------------------------------

def test_errors_carry_the_code_and_the_request_id(world: World):
    with pytest.raises(NotFoundError) as missing:
        world.admin.admin.mint_token("sess-does-not-exist")
    assert missing.value.status == 404 and missing.value.code == "not_found"
    line = access_line(world, missing.value.request_id)
    assert line["status"] == 404 and line["route"] == "admin_mint_token"
    # The session URL route answers JSON strings: the code comes from the status.
    with pytest.raises(NotFoundError) as string_body:
        world.tenant.recordings.get(id="sess-does-not-exist")
    assert string_body.value.code == "not_found" and string_body.value.message == "No recording for this session"
    assert access_line(world, string_body.value.request_id)["status"] == 404
    with pytest.raises(AuthenticationError) as bad_key:
        RecgwClient(world.gw.url, "rgw_" + "A" * 43, account_id=ACCOUNT).links.signed_url("x")
    assert bad_key.value.code == "unauthorized" and bad_key.value.request_id
    with pytest.raises(RecgwError) as unreachable:
        RecgwClient("http://127.0.0.1:1", "k").admin.diagnose("x")
    assert unreachable.value.code == "connection_failed" and unreachable.value.status is None


# ---- rooms -------------------------------------------------------------------------------------

def test_rooms_lifecycle(world: World):
    rooms = world.rooms.rooms
    started = rooms.start(ROOM)
    rec_id = started["id"]
    assert started["status"] == "recording" and started["room_id"] == ROOM
    with pytest.raises(ConflictError) as busy:
        rooms.start(ROOM)
    assert busy.value.code == "already_recording"
    stopped = rooms.stop(ROOM)
    assert stopped["id"] == rec_id and stopped["status"] == "processing"
    assert rooms.download_url(rec_id)["status"] == "processing"
    prov = world.provider.add_recording(room_name(TENANT, ROOM), status="processing")
    synced = rooms.sync(ROOM)
    # The background poll (every second here) may have linked it first: then sync has nothing to do.
    assert synced["synced_count"] in (0, 1) and [r["id"] for r in synced["recordings"]] in ([], [rec_id])
    wait_for(lambda: rooms.get(rec_id)["provider_recording_id"] == prov["id"], 10, "the link to the provider")
    recovered = rooms.recover(rec_id)
    assert recovered["id"] == rec_id and recovered["status"] == "processing"
    body = b"room-recording" * 20000
    key = f"rooms/{ROOM}/{prov['id']}.webm"
    world.st.put_object(key, body, "video/webm")
    world.provider.set_ready(prov["id"], bucket=world.st.bucket, key=key, size=len(body), duration=12.0)
    wait_for(lambda: rooms.get(rec_id)["status"] == "ready", 15, "the poll to mark it ready")
    dl = rooms.download_url(rec_id)
    assert dl["status"] == "ready" and httpx.get(dl["download_url"], timeout=10).content == body
    listed = rooms.list(limit=10, offset=0)
    assert rec_id in [r["id"] for r in listed["data"]] and listed["meta"]["limit"] == 10
    archived = rooms.archive(rec_id)
    assert archived["status"] == "archived"
    deleted = rooms.delete(rec_id)
    assert deleted["deleted"] is True
    with pytest.raises(NotFoundError):
        rooms.get(rec_id)
    # An admin names the tenant with X-Account-ID.
    assert world.admin.rooms.list(account_id=TENANT)["meta"]["total"] >= 0


def test_a_partial_file_of_an_object_since_replaced_starts_again(world: World, tmp_path):
    token = "R" * 43
    _, key, old = world.seed_call(token=token, size=400_000)
    host, port = world.gw.url.removeprefix("http://").split(":")
    proxy = CutProxy((host, int(port)), cut_after=100_000, cut_connections=1)
    try:
        with pytest.raises(RecgwError):
            RecgwClient(proxy.url).recordings.download(token, tmp_path / "r.ogg", max_reconnects=0)
    finally:
        proxy.close()
    assert (tmp_path / "r.ogg.part").stat().st_size > 0
    new = bytes(reversed(old))                     # same size, other bytes, other ETag
    world.st.put_object(key, new, "audio/ogg")
    world.admin.admin.evict(token)
    result = world.tenant.recordings.download(token, tmp_path / "r.ogg")
    assert (tmp_path / "r.ogg").read_bytes() == new   # If-Range did not match: the whole new object
    assert result.etag == md5_etag(new)
