"""Contract of the rooms recording lifecycle routes (issue #19: rows 2, 4, 5 and the rooms part
of 8), against real FerretDB and MinIO and the fake media provider.

For start / stop / sync / list / get / download / archive / recover / delete:
  - every field the rooms API document shows is there, with the document's JSON type
    (durations are integers, never floats such as 1.21536), at the documented place (inside
    `data`, or at the top level for download);
  - every status code the document lists is answered where it says (409 start conflict, 404
    stop with nothing active, 400 archive/recover preconditions), and every status seen here
    is one the route's OpenAPI operation declares, with a body that validates against the
    schema declared for it;
  - /openapi.json describes each route by an operation of its own: the FastAPI-style
    operationId derived from the document's section title and the path, that summary, `id`
    path parameters, and exactly the status codes the route can answer (recover: 200).
GET /api/v1/recordings/{id} is shared with the admin session stream: the id alone decides
(`rec_…` → the rooms recording as JSON for its tenant; any other id → the stream, admin
only), which the dispatch test checks from both sides, down to the route in the access log.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from typing import Optional

import pytest
import requests

from fake_provider import iso, provider, room_name  # noqa: F401  (provider: fixture)
from helpers import wait_for
from test_lifecycle import (  # noqa: F401  (env, gateway_env_factory, api: fixtures)
    ARCHIVE_BUCKET,
    ROOM_A,
    ROOM_A2,
    TENANT_A,
    Api,
    api,
    audio,
    auth,
    env,
    gateway_env_factory,
    seed_ready,
)

pytestmark = pytest.mark.timeout(240)

# ---- the document's examples (shapes only: names and JSON types) ---------------------------

START = {"data": {"id": "rec_abc123", "room_id": "room_abc123", "status": "recording",
                  "started_at": "2026-01-06T10:30:00Z"}}
STOP = {"data": {"id": "rec_abc123", "room_id": "room_abc123", "status": "processing",
                 "stopped_at": "2026-01-06T11:00:00Z"}}
SYNC = {"data": {"synced_count": 2, "recordings": [{"id": "rec_abc123", "status": "ready"}]}}
LIST = {"data": [{"id": "rec_abc123", "room_id": "room_abc123", "status": "ready", "duration_seconds": 1800,
                  "size_bytes": 524288000, "created_at": "2026-01-06T10:30:00Z"}],
        "meta": {"total": 50, "limit": 20, "offset": 0}}
GET = {"data": {"id": "rec_abc123", "room_id": "room_abc123", "room": {"id": "room_abc123", "name": "CS101 Lecture"},
                "status": "ready", "duration_seconds": 1800, "size_bytes": 524288000,
                "started_at": "2026-01-06T10:30:00Z", "stopped_at": "2026-01-06T11:00:00Z"}}
DOWNLOAD_READY = {"recording_id": "rec_abc123",
                  "download_url": "https://storage.example.com/recordings/rec_abc123.mp4?signature=...",
                  "status": "ready", "duration": 1800, "file_size": 524288000, "provider": "r2"}
DOWNLOAD_PROCESSING = {"recording_id": "rec_abc123", "status": "processing",
                       "message": "Recording is still being processed. Please try again later."}
ARCHIVE = {"data": {"id": "rec_abc123", "status": "archived", "archived_at": "2026-01-06T12:00:00Z"}}
RECOVER = {"data": {"id": "rec_abc123", "status": "processing",
                    "message": "Recovery initiated. Recording will be reprocessed."}}
DELETE = {"data": {"id": "rec_abc123", "deleted": True, "deleted_at": "2026-01-06T12:00:00Z"}}

# (method, OpenAPI path) → (section title in the document, status codes the route answers)
ROOMS_OPERATIONS = {
    ("post", "/api/v1/rooms/{id}/recordings/start"):
        ("Start Recording", {"200", "400", "401", "403", "404", "409", "503"}),
    ("post", "/api/v1/rooms/{id}/recordings/stop"):
        ("Stop Recording", {"200", "400", "401", "403", "404", "503"}),
    ("post", "/api/v1/rooms/{id}/recordings/sync"):
        ("Sync Recordings", {"200", "400", "401", "403", "404", "502", "503", "504"}),
    ("get", "/api/v1/recordings"): ("List Recordings", {"200", "400", "401", "403", "422", "503"}),
    ("get", "/api/v1/recordings/{id}"): ("Get Recording", {"200", "400", "401", "403", "404", "503"}),
    ("get", "/api/v1/recordings/{id}/download"):
        ("Download Recording", {"200", "400", "401", "403", "404", "500", "502", "503"}),
    ("post", "/api/v1/recordings/{id}/archive"):
        ("Archive Recording", {"200", "400", "401", "403", "404", "409", "501", "502", "503"}),
    ("post", "/api/v1/recordings/{id}/recover"):
        ("Recover Recording", {"200", "400", "401", "403", "404", "409", "502", "503", "504"}),
    ("delete", "/api/v1/recordings/{id}"): ("Delete Recording", {"200", "400", "401", "403", "404", "503"}),
}

RESPONSE_SCHEMAS = {  # (method, path) → the 200 body's schema, named after the document's section
    ("post", "/api/v1/rooms/{id}/recordings/start"): "StartRecordingResponse",
    ("post", "/api/v1/rooms/{id}/recordings/stop"): "StopRecordingResponse",
    ("post", "/api/v1/rooms/{id}/recordings/sync"): "SyncRecordingsResponse",
    ("get", "/api/v1/recordings"): "ListRecordingsResponse",
    ("get", "/api/v1/recordings/{id}"): "GetRecordingResponse",
    ("post", "/api/v1/recordings/{id}/archive"): "ArchiveRecordingResponse",
    ("post", "/api/v1/recordings/{id}/recover"): "RecoverRecordingResponse",
    ("delete", "/api/v1/recordings/{id}"): "DeleteRecordingResponse",
}


def fastapi_operation_id(summary: str, path: str, method: str) -> str:
    """What FastAPI generates for a route function named after the summary (generate_unique_id)."""
    name = summary.lower().replace(" ", "_")
    return re.sub(r"\W", "_", name + path) + "_" + method


# ---- checks --------------------------------------------------------------------------------

def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    for kind, name in ((float, "number"), (str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    raise AssertionError(f"not a JSON value: {value!r}")


def assert_documented_shape(actual, documented, where: str = "body", exact: bool = False) -> None:
    """Every field of the document's example is in `actual` with the same JSON type (an
    integer stays an integer), recursively; array items are each held to the first documented
    item. Timestamps (`*_at`) must be RFC 3339. exact: no field beyond the documented ones."""
    assert json_type(actual) == json_type(documented), (where, actual, documented)
    if isinstance(documented, dict):
        missing = set(documented) - set(actual)
        assert not missing, f"{where}: missing {sorted(missing)} in {actual}"
        if exact:
            assert set(actual) == set(documented), f"{where}: {sorted(actual)} != {sorted(documented)}"
        for key, doc_value in documented.items():
            assert_documented_shape(actual[key], doc_value, f"{where}.{key}")
            if key.endswith("_at"):
                _dt.datetime.fromisoformat(actual[key].replace("Z", "+00:00"))
    elif isinstance(documented, list):
        for i, item in enumerate(actual):
            assert_documented_shape(item, documented[0], f"{where}[{i}]")


class OpenApi:
    """The served /openapi.json, and the check that an answer is one its operation declares.
    Answers are noted as the test goes (note) and checked at its end (check_noted), so that a
    wrong body shape is reported as such before a missing or different operation."""

    def __init__(self, gw):
        r = requests.get(gw.url + "/openapi.json", timeout=10)
        assert r.status_code == 200, r.text
        self.doc = r.json()
        self.noted = []

    def note(self, r: requests.Response, method: str, path: str) -> None:
        self.noted.append((r, method, path))

    def check_noted(self) -> None:
        assert self.noted, "no answer was noted"
        for r, method, path in self.noted:
            self.check(r, method, path)

    def operation(self, method: str, path: str) -> dict:
        return self.doc["paths"][path][method]

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            target = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def check(self, r: requests.Response, method: str, path: str) -> None:
        """The status is declared by the operation, and a JSON body validates against the
        schema declared for that status."""
        from openapi_schema_validator import OAS31Validator

        responses = self.operation(method, path)["responses"]
        status = str(r.status_code)
        assert status in responses, f"{method.upper()} {path} answered {status}, declared {sorted(responses)}"
        content = self.resolve(responses[status]).get("content", {})
        if method == "head":
            assert r.content == b""
            return
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
        assert "application/json" in content, f"{method.upper()} {path} {status}: no JSON body declared"
        schema = copy.deepcopy(content["application/json"]["schema"])
        schema["components"] = self.doc["components"]   # so "#/components/…" resolves
        OAS31Validator(schema).validate(r.json())


def answer(openapi: OpenApi, r: requests.Response, method: str, path: str, status: int) -> dict:
    """`r` has `status` (and is noted for the OpenAPI check); its JSON body."""
    assert r.status_code == status, (method, path, r.status_code, r.text)
    openapi.note(r, method, path)
    return r.json()


def assert_error(openapi: OpenApi, r: requests.Response, method: str, path: str, status: int,
                 code: Optional[str] = None) -> None:
    body = answer(openapi, r, method, path, status)
    assert set(body) >= {"error", "message"} and isinstance(body["message"], str), body
    if code:
        assert body["error"] == code, body


@pytest.fixture
def contract(api):
    return OpenApi(api.gw)


def seed(st, rec_id: str, status: str, *, room: str = ROOM_A, provider_id: Optional[str] = None,
         duration: Optional[float] = None) -> None:
    now = _dt.datetime.now(_dt.timezone.utc)
    doc = {"_id": rec_id, "id": rec_id, "tenant_id": TENANT_A, "room_id": room, "status": status, "source": "api",
           "started_at": now - _dt.timedelta(minutes=30), "stopped_at": now, "created_at": now, "updated_at": now}
    if provider_id:
        doc["provider_recording_id"] = provider_id
    if duration is not None:
        doc["duration_seconds"] = duration
    st.db.recordings.insert_one(doc)


# ---- /openapi.json ---------------------------------------------------------------------------

def test_openapi_has_an_operation_of_its_own_for_every_rooms_route(api, contract):
    from openapi_spec_validator import validate

    doc = contract.doc
    validate(doc)
    ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m != "parameters"]
    assert len(ids) == len(set(ids)), "operationIds must be unique"

    for (method, path), (section, statuses) in ROOMS_OPERATIONS.items():
        op = contract.operation(method, path)
        assert op["summary"] == section, (method, path, op["summary"])
        assert op["operationId"] == fastapi_operation_id(section, path, method), (method, path, op["operationId"])
        assert set(op["responses"]) == statuses, (method, path, sorted(op["responses"]))
        if (method, path) in RESPONSE_SCHEMAS:
            body = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/" + RESPONSE_SCHEMAS[(method, path)]}, (path, body)
        item = doc["paths"][path]
        params = [contract.resolve(p) for p in item.get("parameters", []) + op.get("parameters", [])]
        path_params = [p["name"] for p in params if p["in"] == "path"]
        assert path_params == re.findall(r"\{([^}]+)\}", path) and set(path_params) <= {"id"}, (path, path_params)

    # the examples the issue names
    assert contract.operation("get", "/api/v1/recordings/{id}")["operationId"] == \
        "get_recording_api_v1_recordings__id__get"
    assert contract.operation("delete", "/api/v1/recordings/{id}")["operationId"] == \
        "delete_recording_api_v1_recordings__id__delete"
    assert contract.operation("post", "/api/v1/recordings/{id}/recover")["operationId"] == \
        "recover_recording_api_v1_recordings__id__recover_post"
    assert "202" not in contract.operation("post", "/api/v1/recordings/{id}/recover")["responses"]
    head = contract.operation("head", "/api/v1/recordings/{id}")
    assert head["operationId"] == "get_recording_api_v1_recordings__id__head"

    # Get is no longer folded into the admin stream, nor Delete filed under {session_id}.
    stream = doc["paths"]["/api/v1/recordings/{session_id}"]
    assert "delete" not in stream
    assert set(stream["get"]["responses"]["200"]["content"]) == {"*/*"}

    # Download answers at the top level; durations are integers wherever the document shows one.
    schemas = doc["components"]["schemas"]
    download = contract.operation("get", "/api/v1/recordings/{id}/download")["responses"]["200"]
    assert download["content"]["application/json"]["schema"] == {"oneOf": [
        {"$ref": "#/components/schemas/DownloadRecordingResponse"},
        {"$ref": "#/components/schemas/DownloadRecordingProcessingResponse"}]}
    assert set(schemas["DownloadRecordingResponse"]["required"]) >= set(DOWNLOAD_READY)
    assert set(schemas["DownloadRecordingProcessingResponse"]["required"]) == set(DOWNLOAD_PROCESSING)
    assert schemas["DownloadRecordingResponse"]["properties"]["duration"]["type"] == ["integer", "null"]
    assert schemas["Recording"]["properties"]["duration_seconds"]["type"] == ["integer", "null"]
    assert schemas["RecoverRecordingData"]["properties"]["message"]["const"] == RECOVER["data"]["message"]
    assert not [name for name in schemas if name.startswith("Lifecycle")]


# ---- the routes ------------------------------------------------------------------------------

def test_start_and_stop(api, contract):
    start_p, stop_p = "/api/v1/rooms/{id}/recordings/start", "/api/v1/rooms/{id}/recordings/stop"
    started = answer(contract, api.start(ROOM_A), "post", start_p, 200)
    assert_documented_shape(started, START)
    assert started["data"]["status"] == "recording" and started["data"]["room_id"] == ROOM_A
    assert started["data"]["id"].startswith("rec_")

    assert_error(contract, api.start(ROOM_A), "post", start_p, 409, "already_recording")
    assert_error(contract, api.start("no-such-room"), "post", start_p, 404, "not_found")
    assert_error(contract, api.start(ROOM_A, headers={}), "post", start_p, 401, "unauthorized")
    assert_error(contract, api.start(ROOM_A, headers=auth(None, role="admin")), "post", start_p, 400)
    assert_error(contract, api.start(ROOM_A, headers=auth(None)), "post", start_p, 403, "forbidden")

    stopped = answer(contract, api.stop(ROOM_A), "post", stop_p, 200)
    assert_documented_shape(stopped, STOP)
    assert stopped["data"]["id"] == started["data"]["id"] and stopped["data"]["status"] == "processing"
    # stop measures the duration itself (a fraction of a second here): whole seconds all the same
    assert json_type(stopped["data"]["duration_seconds"]) == "integer", stopped
    assert_error(contract, api.stop(ROOM_A), "post", stop_p, 404, "not_found")
    contract.check_noted()


def test_sync_list_and_get_show_whole_seconds(api, contract, clean_stack, provider):  # noqa: F811
    st = clean_stack
    key = f"rooms/{ROOM_A}/lecture.webm"
    body = audio(5_000, seed=21)
    st.put_object(key, body, "video/webm")
    long_ago = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=2)
    prov = provider.add_recording(room_name(TENANT_A, ROOM_A), status="ready", started_at=long_ago,
                                  stopped_at=iso(), duration_seconds=1799.6, size_bytes=len(body),
                                  storage={"provider": "s3", "bucket": st.bucket, "key": key})

    synced = answer(contract, api.sync(ROOM_A), "post", "/api/v1/rooms/{id}/recordings/sync", 200)
    assert_documented_shape(synced, SYNC)
    assert synced["data"]["synced_count"] == 1
    imported = synced["data"]["recordings"][0]
    assert imported["provider_recording_id"] == prov["id"] and imported["status"] == "ready"
    assert imported["duration_seconds"] == 1800 and json_type(imported["duration_seconds"]) == "integer"
    rec_id = imported["id"]
    # Stored as the provider sent it; rounded only on the way out.
    assert st.db.recordings.find_one({"_id": rec_id})["duration_seconds"] == 1799.6
    seed(st, "rec_issue_example", "processing", room=ROOM_A2, duration=1.21536)

    listed = answer(contract, api.list(), "get", "/api/v1/recordings", 200)
    assert json_type(listed["data"]) == "array"
    assert_documented_shape(listed["meta"], LIST["meta"], "meta")
    by_id = {r["id"]: r for r in listed["data"]}
    assert_documented_shape(by_id[rec_id], LIST["data"][0], "data[ready]")
    # a processing recording has no size yet: the documented fields, null where unknown
    assert set(by_id["rec_issue_example"]) >= set(LIST["data"][0])
    assert by_id["rec_issue_example"]["size_bytes"] is None
    assert by_id[rec_id]["duration_seconds"] == 1800 and by_id[rec_id]["size_bytes"] == len(body)
    assert by_id["rec_issue_example"]["duration_seconds"] == 1
    assert json_type(by_id["rec_issue_example"]["duration_seconds"]) == "integer"
    assert listed["meta"] == {"total": 2, "limit": 20, "offset": 0}
    assert_error(contract, api.list("limit=abc"), "get", "/api/v1/recordings", 422, "validation_error")

    got = answer(contract, api.get(rec_id), "get", "/api/v1/recordings/{id}", 200)
    assert_documented_shape(got, GET)
    assert got["data"]["room"]["id"] == ROOM_A and got["data"]["room"]["name"] == "Room A1"
    assert got["data"]["duration_seconds"] == 1800
    assert_error(contract, api.get("rec_unknown"), "get", "/api/v1/recordings/{id}", 404, "not_found")
    contract.check_noted()


def test_download_answers_at_the_top_level(api, contract, clean_stack):
    st = clean_stack
    path = "/api/v1/recordings/{id}/download"
    body = audio(4_096, seed=22)
    st.put_object("dl/ready.webm", body, "video/webm")
    seed_ready(st, "rec_dl_ready", "dl/ready.webm", len(body))
    st.db.recordings.update_one({"_id": "rec_dl_ready"}, {"$set": {"duration_seconds": 1799.5}})

    ready = answer(contract, api.download("rec_dl_ready"), "get", path, 200)
    assert "data" not in ready
    assert_documented_shape(ready, DOWNLOAD_READY)
    assert ready["recording_id"] == "rec_dl_ready" and ready["status"] == "ready"
    assert ready["duration"] == 1800 and ready["file_size"] == len(body) and ready["provider"] == "s3"
    assert requests.get(ready["download_url"], timeout=10).content == body

    seed(st, "rec_dl_processing", "processing")
    pending = answer(contract, api.download("rec_dl_processing"), "get", path, 200)
    assert_documented_shape(pending, DOWNLOAD_PROCESSING, exact=True)
    assert pending == dict(DOWNLOAD_PROCESSING, recording_id="rec_dl_processing")
    assert_error(contract, api.download("rec_nope"), "get", path, 404, "not_found")
    contract.check_noted()


def test_archive(api, contract, clean_stack):
    st = clean_stack
    path = "/api/v1/recordings/{id}/archive"
    body = audio(2_048, seed=23)
    st.put_object("arch/a.webm", body)
    seed_ready(st, "rec_arch", "arch/a.webm", len(body))
    archived = answer(contract, api.archive("rec_arch"), "post", path, 200)
    assert_documented_shape(archived, ARCHIVE)
    assert archived["data"]["id"] == "rec_arch" and archived["data"]["status"] == "archived"
    assert json_type(archived["data"]["duration_seconds"]) == "integer"
    # 400: not ready any more; and a ready one outside the hot bucket
    assert_error(contract, api.archive("rec_arch"), "post", path, 400, "invalid_state")
    seed_ready(st, "rec_arch_elsewhere", "arch/b.webm", 10, bucket=ARCHIVE_BUCKET)
    assert_error(contract, api.archive("rec_arch_elsewhere"), "post", path, 400, "not_in_hot_bucket")
    contract.check_noted()


def test_recover(api, contract, clean_stack, provider):  # noqa: F811
    st = clean_stack
    path = "/api/v1/recordings/{id}/recover"
    prov = provider.add_recording(room_name(TENANT_A, ROOM_A), status="processing")
    seed(st, "rec_stalled", "processing", provider_id=prov["id"])

    recovered = answer(contract, api.recover("rec_stalled"), "post", path, 200)
    assert_documented_shape(recovered, RECOVER, exact=True)
    assert recovered == dict(RECOVER, data=dict(RECOVER["data"], id="rec_stalled"))
    assert provider.reprocessed == [prov["id"]]
    assert st.db.recordings.find_one({"_id": "rec_stalled"})["recover_requested_at"]

    # 400: not processing; processing without a provider recording id
    seed_ready(st, "rec_recover_ready", "rec/ready.webm", 10)
    assert_error(contract, api.recover("rec_recover_ready"), "post", path, 400, "invalid_state")
    seed(st, "rec_unlinked", "processing", room=ROOM_A2)
    assert_error(contract, api.recover("rec_unlinked"), "post", path, 400, "no_provider_recording")
    assert provider.reprocessed == [prov["id"]]
    contract.check_noted()


def test_delete(api, contract, clean_stack):
    path = "/api/v1/recordings/{id}"
    seed(clean_stack, "rec_del", "processing")
    deleted = answer(contract, api.delete("rec_del"), "delete", path, 200)
    assert_documented_shape(deleted, DELETE, exact=True)
    assert deleted["data"]["id"] == "rec_del" and deleted["data"]["deleted"] is True
    assert_error(contract, api.delete("rec_del"), "delete", path, 404, "not_found")
    assert_error(contract, api.delete("sess-not-a-recording"), "delete", path, 404, "not_found")
    contract.check_noted()


# ---- GET /api/v1/recordings/{id}: rooms recording or session stream ---------------------------

def test_the_id_alone_chooses_rooms_recording_or_session_stream(api, contract, clean_stack):
    st = clean_stack
    gw = api.gw
    admin = auth(None, role="admin")
    st.put_object("sessions/s1.ogg", b"OggS" + b"\0" * 100, "audio/ogg")
    st.insert_call("sess-1", key="sessions/s1.ogg")
    seed(st, "rec_dispatch", "processing")

    def routed(r: requests.Response) -> str:
        """The route of the access-log line of this request (written as the answer completes)."""
        rid = r.headers["X-Request-Id"]
        lines = wait_for(lambda: [line for line in gw.log_lines()
                                  if line.get("type") == "access" and line.get("request_id") == rid],
                         10, f"the access-log line of {rid}")
        assert len(lines) == 1, lines
        return lines[0]["route"]

    # A session id streams for an admin, and is the stream's (admin only) for anyone else.
    r = requests.get(gw.url + "/api/v1/recordings/sess-1", headers=admin, timeout=10)
    assert r.status_code == 200 and r.content.startswith(b"OggS") and routed(r) == "admin_recording"
    r = requests.get(gw.url + "/api/v1/recordings/sess-1", headers=auth(), timeout=10)
    assert r.status_code == 403 and routed(r) == "admin_recording"
    r = requests.head(gw.url + "/api/v1/recordings/sess-1", headers=admin, timeout=10)
    assert r.status_code == 200 and routed(r) == "admin_recording"

    # A rec_ id is the rooms recording, for any token of its tenant, whoever asks.
    r = api.get("rec_dispatch")
    got = answer(contract, r, "get", "/api/v1/recordings/{id}", 200)
    assert got["data"]["id"] == "rec_dispatch" and routed(r) == "lifecycle_get"
    r = api.get("rec_dispatch", headers=auth(None, role="admin", account_header=TENANT_A))
    assert answer(contract, r, "get", "/api/v1/recordings/{id}", 200)["data"]["id"] == "rec_dispatch"
    # an admin token without a tenant: the rooms rule (400), never the stream
    r = api.get("rec_dispatch", headers=admin)
    assert_error(contract, r, "get", "/api/v1/recordings/{id}", 400, "bad_request")
    assert routed(r) == "lifecycle_get"
    r = api.call("HEAD", "/api/v1/recordings/rec_dispatch")
    assert r.status_code == 200 and routed(r) == "lifecycle_get"
    contract.note(r, "head", "/api/v1/recordings/{id}")
    r = api.get("rec_dispatch", headers={})
    assert_error(contract, r, "get", "/api/v1/recordings/{id}", 401, "unauthorized")
    assert routed(r) == "lifecycle_get"

    # Both kinds of id see the same methods.
    for rid in ("rec_dispatch", "sess-1"):
        r = requests.post(gw.url + f"/api/v1/recordings/{rid}", headers=auth(), timeout=10)
        assert r.status_code == 405, r.text
        assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "DELETE"}, r.headers
    contract.check_noted()
