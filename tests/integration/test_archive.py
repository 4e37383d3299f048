"""Archive across two S3-compatible services (issue #19 row 3): the hot store stands for
Cloudflare R2 (the stack's MinIO, configured as lifecycle.hot_*), the archive for AWS S3
with a Glacier class (a second MinIO with its own data directory and credentials,
lifecycle.archive_*). No server-side copy can cross them, so recgw streams the object:
ranged GETs from hot → multipart upload to the archive in 5 MiB parts (S3's minimum), each
part's MD5 checked against its ETag and the whole against md5(part MD5s)-N, then the hot
copy is deleted.

  * a recording whose provider is "r2" archives (it was refused as not_in_hot_bucket);
    the bytes are identical, hot is empty, no multipart upload is left, download presigns
    on the archive service with its own credentials;
  * SIGKILL of the gateway in the middle of the upload (the archive's uplink slowed by a
    DelayProxy): the hot copy is still there, one upload is left; a new gateway resumes it
    (keeping the parts already sent), the result is byte-identical and ListMultipartUploads
    is empty;
  * a run killed and never asked again: the sweep aborts its upload;
  * the hot object changing mid-archive: 502, the hot copy kept, the upload aborted.

  * no hot_*/archive_endpoint (one service): the server-side copy stays, "r2" accepted too.

The same-service path is also covered by test_lifecycle.py's archive tests.
"""

from __future__ import annotations

import datetime as _dt
import random
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import requests

from delay_proxy import DelayProxy
from helpers import hs256_jwt, wait_for
from stack import Stack, StackError

pytestmark = pytest.mark.timeout(240)

JWT_SECRET = "archive-test-secret-0123456789abcdef"
TENANT, ROOM = "tenant-a", "room-a1"
HOT_BUCKET = "r2-hot"
ARCHIVE_BUCKET = "glacier"
ARCHIVE_CLASS = "REDUCED_REDUNDANCY"   # MinIO's non-default class; AWS would take GLACIER_IR
ARCHIVE_USER, ARCHIVE_PASSWORD = "archiveadmin", "archive-only-secret-42"
PART = 5 * 1024 * 1024


def auth() -> dict:
    import time
    token = hs256_jwt({"sub": "tester", "account_id": TENANT, "exp": int(time.time()) + 3600}, JWT_SECRET)
    return {"Authorization": "Bearer " + token}


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.create_bucket(Bucket=bucket)
    except Exception as e:  # noqa: BLE001 — MinIO's wording differs between versions
        if "BucketAlreadyOwnedByYou" not in str(e) and "BucketAlreadyExists" not in str(e):
            raise
    for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    objs = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if objs:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})


def uploads(s3, bucket: str = ARCHIVE_BUCKET) -> list:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def object_bytes(s3, bucket: str, key: str):
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def seed_ready(st, rec_id: str, key: str, size: int, provider: str = "r2") -> None:
    now = _dt.datetime.now(_dt.timezone.utc)
    st.db.recordings.insert_one({
        "_id": rec_id, "id": rec_id, "tenant_id": TENANT, "room_id": ROOM, "status": "ready",
        "source": "provider", "provider_recording_id": "prov_" + rec_id, "started_at": now,
        "stopped_at": now, "ready_at": now, "duration_seconds": 3.0, "size_bytes": size,
        "storage": {"provider": provider, "bucket": HOT_BUCKET, "key": key},
        "created_at": now, "updated_at": now})


def journal(st, rec_id: str):
    return st.db.recording_transitions.find_one({"_id": rec_id + ":archive_upload"})


@pytest.fixture(scope="module")
def archive_minio(stack):
    """A second MinIO (its own port, data directory and root credentials), reusing the
    stack's binary through tools/stack.sh."""
    directory = Path(tempfile.mkdtemp(prefix="recgw-archive-minio-"))
    second = Stack(directory, env={"MINIO_ROOT_USER": ARCHIVE_USER, "MINIO_ROOT_PASSWORD": ARCHIVE_PASSWORD})
    try:
        second.start("minio")
    except StackError as e:
        second.stop()
        pytest.fail(f"could not start a second MinIO:\n{e}", pytrace=False)
    assert second.minio_port != stack.minio_port
    yield second
    second.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def two_services(clean_stack, archive_minio):
    st = clean_stack
    ensure_bucket(st.s3, HOT_BUCKET)
    ensure_bucket(archive_minio.s3, ARCHIVE_BUCKET)
    st.db.rooms.insert_one({"id": ROOM, "tenant_id": TENANT, "name": "Room"})
    return st, archive_minio


def gateway_env(st, archive, archive_endpoint: str, **extra) -> dict:
    env = {
        "RECGW_JWT_HS256_SECRET": JWT_SECRET,
        "RECGW_LIFECYCLE_POLL_PERIOD_S": "0",
        # hot: "R2" (the stack's MinIO, as its own service, not the main storage)
        "RECGW_LIFECYCLE_HOT_ENDPOINT": st.s3_endpoint,
        "RECGW_LIFECYCLE_HOT_ACCESS_KEY": st.s3_access_key,
        "RECGW_LIFECYCLE_HOT_SECRET_KEY": st.s3_secret_key,
        "RECGW_LIFECYCLE_HOT_BUCKET": HOT_BUCKET,
        # archive: "AWS S3" (the second MinIO, other credentials)
        "RECGW_LIFECYCLE_ARCHIVE_ENDPOINT": archive_endpoint,
        "RECGW_LIFECYCLE_ARCHIVE_ACCESS_KEY": ARCHIVE_USER,
        "RECGW_LIFECYCLE_ARCHIVE_SECRET_KEY": ARCHIVE_PASSWORD,
        "RECGW_LIFECYCLE_ARCHIVE_BUCKET": ARCHIVE_BUCKET,
        "RECGW_LIFECYCLE_ARCHIVE_STORAGE_CLASS": ARCHIVE_CLASS,
        "RECGW_LIFECYCLE_ARCHIVE_PART_BYTES": str(PART),
        "RECGW_LIFECYCLE_ARCHIVE_RESUME_AFTER_S": "1",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def archive_call(gw, rec_id: str, timeout: float = 60) -> requests.Response:
    return requests.post(f"{gw.url}/api/v1/recordings/{rec_id}/archive", headers=auth(), timeout=timeout)


def start_archive_in_background(gw, rec_id: str) -> threading.Thread:
    def run():
        try:
            archive_call(gw, rec_id)
        except requests.RequestException:
            pass            # the gateway dies under it: expected
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_r2_recording_streams_to_another_service(two_services, gateway_factory):
    st, archive = two_services
    body = payload(3 * PART + 12345, seed=1)           # 4 parts, the last one short
    st.put_object("rooms/a/rec.webm", body, bucket=HOT_BUCKET)
    seed_ready(st, "rec_stream", "rooms/a/rec.webm", len(body), provider="r2")
    gw = gateway_factory(extra_env=gateway_env(st, archive, archive.s3_endpoint))

    r = archive_call(gw, "rec_stream")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "archived" and data["archived_at"]

    assert object_bytes(archive.s3, ARCHIVE_BUCKET, "rooms/a/rec.webm") == body
    head = archive.s3.head_object(Bucket=ARCHIVE_BUCKET, Key="rooms/a/rec.webm")
    assert head["ETag"].strip('"').endswith("-4"), head["ETag"]
    assert head.get("StorageClass") == ARCHIVE_CLASS
    assert object_bytes(st.s3, HOT_BUCKET, "rooms/a/rec.webm") is None      # hot deleted
    assert uploads(archive.s3) == []
    assert journal(st, "rec_stream") is None
    doc = st.db.recordings.find_one({"_id": "rec_stream"})
    assert doc["status"] == "archived"
    assert doc["storage"]["bucket"] == ARCHIVE_BUCKET and doc["storage"]["storage_class"] == ARCHIVE_CLASS
    # Download of the archived object: presigned on the archive service, with its keys.
    dl = requests.get(f"{gw.url}/api/v1/recordings/rec_stream/download", headers=auth(), timeout=10)
    assert dl.status_code == 200, dl.text
    url = dl.json()["download_url"]  # top level, as documented
    assert url.startswith(archive.s3_endpoint + "/"), url
    assert ARCHIVE_USER in url and ARCHIVE_PASSWORD not in url
    assert requests.get(url, timeout=30).content == body
    # The secrets never reach the logs.
    assert ARCHIVE_PASSWORD not in gw.logs() and st.s3_secret_key not in gw.logs()
    assert any(line.get("msg") == "archive started" and line.get("mode") == "streamed" for line in gw.log_lines())


def worker_peak_rss(gw) -> int:
    """VmHWM (peak resident set, bytes) of the gateway's only worker process."""
    children = Path(f"/proc/{gw.pid}/task/{gw.pid}/children").read_text().split()
    assert len(children) == 1, children
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_memory_stays_within_a_few_parts(two_services, gateway_factory):
    """A 60 MiB object in 5 MiB parts: the worker's peak RSS grows by a few parts at most,
    never by the object's size (one part buffer at a time, sent in place)."""
    st, archive = two_services
    body = payload(12 * PART, seed=6)
    st.put_object("rooms/a/big.webm", body, bucket=HOT_BUCKET)
    seed_ready(st, "rec_big", "rooms/a/big.webm", len(body))
    gw = gateway_factory(extra_env=gateway_env(st, archive, archive.s3_endpoint))
    requests.get(f"{gw.url}/api/v1/recordings", headers=auth(), timeout=10)   # warm: MongoDB pool, TLS-free curl
    before = worker_peak_rss(gw)
    r = archive_call(gw, "rec_big")
    assert r.status_code == 200, r.text
    growth = worker_peak_rss(gw) - before
    print(f"peak RSS growth {growth / 2**20:.1f} MiB for {len(body) / 2**20:.0f} MiB in {PART >> 20} MiB parts")
    assert growth < 4 * PART, f"peak RSS grew by {growth / 2**20:.1f} MiB for a {len(body) / 2**20:.0f} MiB object"
    assert object_bytes(archive.s3, ARCHIVE_BUCKET, "rooms/a/big.webm") == body
    assert uploads(archive.s3) == []


def test_kill_mid_upload_then_resume_is_byte_identical(two_services, gateway_factory):
    st, archive = two_services
    body = payload(5 * PART + 777, seed=2)              # 6 parts
    key = "rooms/a/killed.webm"
    st.put_object(key, body, bucket=HOT_BUCKET)
    seed_ready(st, "rec_kill", key, len(body))
    # The archive's uplink is slow (~1 s a part), so the kill lands mid-upload.
    proxy = DelayProxy("127.0.0.1", archive.minio_port, delay_s=0.01, direction="up").start()
    try:
        gw1 = gateway_factory(extra_env=gateway_env(st, archive, f"http://127.0.0.1:{proxy.port}"))
        start_archive_in_background(gw1, "rec_kill")
        wait_for(lambda: (journal(st, "rec_kill") or {}).get("parts") and journal(st, "rec_kill")["upload_id"],
                 timeout=60, what="the first part journaled")
        gw1.kill()                                          # SIGKILL, the whole process group
        left = journal(st, "rec_kill")
        sent_before = len(left["parts"])
        assert 1 <= sent_before < 6, left["parts"]

        # The crash left: the hot copy, one multipart upload, no archive object, state ready.
        assert object_bytes(st.s3, HOT_BUCKET, key) == body
        assert [u["UploadId"] for u in uploads(archive.s3)] == [left["upload_id"]]
        assert object_bytes(archive.s3, ARCHIVE_BUCKET, key) is None
        assert st.db.recordings.find_one({"_id": "rec_kill"})["status"] == "ready"

        proxy.delay_s = 0.0
        gw2 = gateway_factory(extra_env=gateway_env(st, archive, f"http://127.0.0.1:{proxy.port}"))
        # The dead run's journal is taken over once its heartbeat is 1 s old; before that the
        # answer is 409 archive_in_progress.
        answers = []

        def archived():
            r = archive_call(gw2, "rec_kill")
            answers.append(r.status_code)
            if r.status_code == 409:
                assert r.json()["error"] == "archive_in_progress", r.text
                return False
            assert r.status_code == 200, r.text
            return r.json()["data"]

        data = wait_for(archived, timeout=30, what="the resumed archive", interval=0.3)
        assert data["status"] == "archived"
    finally:
        proxy.kill()

    assert object_bytes(archive.s3, ARCHIVE_BUCKET, key) == body               # byte-identical
    assert archive.s3.head_object(Bucket=ARCHIVE_BUCKET, Key=key)["ETag"].strip('"').endswith("-6")
    assert uploads(archive.s3) == []                                             # nothing leaked
    assert object_bytes(st.s3, HOT_BUCKET, key) is None                          # hot deleted last
    assert journal(st, "rec_kill") is None
    resumed = [line for line in gw2.log_lines() if line.get("msg") == "archive: resuming a multipart upload left by a dead run"]
    assert resumed and int(resumed[0]["parts_kept"]) >= sent_before - 1, resumed   # parts were kept, not resent


def test_sweep_aborts_the_upload_of_a_run_nobody_resumes(two_services, gateway_factory):
    st, archive = two_services
    body = payload(3 * PART, seed=3)
    key = "rooms/a/orphan.webm"
    st.put_object(key, body, bucket=HOT_BUCKET)
    seed_ready(st, "rec_orphan", key, len(body))
    proxy = DelayProxy("127.0.0.1", archive.minio_port, delay_s=0.01, direction="up").start()
    try:
        gw1 = gateway_factory(extra_env=gateway_env(st, archive, f"http://127.0.0.1:{proxy.port}"))
        start_archive_in_background(gw1, "rec_orphan")
        wait_for(lambda: (journal(st, "rec_orphan") or {}).get("upload_id"), timeout=60, what="the upload journaled")
        gw1.kill()
        assert len(uploads(archive.s3)) == 1
        # A gateway that is never asked about it: its sweep (10 × resume_after_s) aborts it.
        # (Same archive endpoint: a journal names the service it was made for.)
        proxy.delay_s = 0.0
        gateway_factory(extra_env=gateway_env(st, archive, f"http://127.0.0.1:{proxy.port}"))
        wait_for(lambda: not uploads(archive.s3) and journal(st, "rec_orphan") is None, timeout=40,
                 what="the sweep to abort the orphaned upload", interval=0.5)
    finally:
        proxy.kill()
    assert object_bytes(st.s3, HOT_BUCKET, key) == body       # never deleted: not archived
    assert st.db.recordings.find_one({"_id": "rec_orphan"})["status"] == "ready"


def test_hot_object_changing_mid_archive_keeps_hot_and_leaves_no_upload(two_services, gateway_factory):
    st, archive = two_services
    body = payload(4 * PART, seed=4)
    key = "rooms/a/changing.webm"
    st.put_object(key, body, bucket=HOT_BUCKET)
    seed_ready(st, "rec_change", key, len(body))
    proxy = DelayProxy("127.0.0.1", archive.minio_port, delay_s=0.01, direction="up").start()
    try:
        gw = gateway_factory(extra_env=gateway_env(st, archive, f"http://127.0.0.1:{proxy.port}"))
        result = {}

        def run():
            result["r"] = archive_call(gw, "rec_change")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        wait_for(lambda: (journal(st, "rec_change") or {}).get("parts"), timeout=60, what="a part journaled")
        replaced = payload(4 * PART, seed=5)
        st.put_object(key, replaced, bucket=HOT_BUCKET)       # the next ranged GET's If-Match fails
        t.join(60)
    finally:
        proxy.kill()
    r = result["r"]
    assert r.status_code == 502 and r.json()["error"] == "storage_error", r.text
    assert object_bytes(st.s3, HOT_BUCKET, key) == replaced    # hot kept
    assert object_bytes(archive.s3, ARCHIVE_BUCKET, key) is None
    assert uploads(archive.s3) == []                           # aborted, not leaked
    assert journal(st, "rec_change") is None
    assert st.db.recordings.find_one({"_id": "rec_change"})["status"] == "ready"
    assert any("changed while it was being archived" in (line.get("reason") or "") for line in gw.log_lines())


def test_same_service_r2_recording_keeps_the_server_side_copy(clean_stack, gateway_factory):
    """No lifecycle.hot_*/archive_endpoint: hot is the main storage and the archive a bucket on
    the same service, so the move stays a server-side CopyObject (single-part ETag, no
    journal); a recording filed as provider "r2" is accepted there too."""
    st = clean_stack
    ensure_bucket(st.s3, "same-service-archive")
    st.db.rooms.insert_one({"id": ROOM, "tenant_id": TENANT, "name": "Room"})
    body = payload(2 * PART, seed=7)
    st.put_object("rooms/a/same.webm", body)
    now = _dt.datetime.now(_dt.timezone.utc)
    st.db.recordings.insert_one({
        "_id": "rec_same", "id": "rec_same", "tenant_id": TENANT, "room_id": ROOM, "status": "ready",
        "source": "provider", "provider_recording_id": "prov_same", "started_at": now, "stopped_at": now,
        "ready_at": now, "size_bytes": len(body), "created_at": now, "updated_at": now,
        "storage": {"provider": "r2", "bucket": st.bucket, "key": "rooms/a/same.webm"}})
    gw = gateway_factory(extra_env={"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_LIFECYCLE_POLL_PERIOD_S": "0",
                                    "RECGW_LIFECYCLE_ARCHIVE_BUCKET": "same-service-archive",
                                    "RECGW_LIFECYCLE_ARCHIVE_STORAGE_CLASS": ARCHIVE_CLASS})
    r = archive_call(gw, "rec_same")
    assert r.status_code == 200, r.text
    assert object_bytes(st.s3, "same-service-archive", "rooms/a/same.webm") == body
    assert "-" not in st.s3.head_object(Bucket="same-service-archive", Key="rooms/a/same.webm")["ETag"]
    assert object_bytes(st.s3, st.bucket, "rooms/a/same.webm") is None
    assert journal(st, "rec_same") is None
    assert any(line.get("msg") == "archive started" and line.get("mode") == "server_copy" for line in gw.log_lines())
