"""Download and redirect modes of the public link (issue 17, item 4): ?download=1 gives an
RFC 6266 attachment named by public.download_name (non-ASCII too); ?redirect=1 or
public.mode = "redirect" answers 302 to a fresh presigned URL that MinIO serves (200, 206 for
a Range), and streams instead when only a fleet host has the object."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests

from fakes import fleet_factory  # noqa: F401 — fixture used by name
from links_support import PUBLIC, public_get, seed_call, start_links_gateway
from stack import Stack

pytestmark = pytest.mark.timeout(120)

FLEET_SECRET = "links-fleet-secret"
NAME = "Aufnahme größe {session_id}.{ext}"
ATTR_CHARS = "!#$&+-.^_`|~"


def expected_attachment(session_id: str) -> str:
    name = f"Aufnahme größe {session_id}.ogg"
    ascii_name = f"Aufnahme gr__e {session_id}.ogg"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe=ATTR_CHARS)}"


def test_download_header_is_exact_with_a_non_ascii_name(clean_stack: Stack, gateway_factory):
    token, session_id, _, data = seed_call(clean_stack, size=10_000)
    gw = start_links_gateway(gateway_factory, RECGW_PUBLIC_DOWNLOAD_NAME=NAME)
    r = public_get(gw, token, download="1")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Disposition"] == expected_attachment(session_id)
    # ranges keep working, with the same header
    r = public_get(gw, token, headers={"Range": "bytes=100-199"}, download="1")
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Disposition"] == expected_attachment(session_id)
    head = requests.head(gw.url + PUBLIC + token, params={"download": "1"}, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Disposition"] == expected_attachment(session_id)
    # without the flag: the player's inline answer, as before
    r = public_get(gw, token)
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("inline;")


def test_default_download_name_is_session_and_extension(clean_stack: Stack, gateway_factory):
    token, session_id, _, _ = seed_call(clean_stack)
    gw = start_links_gateway(gateway_factory)
    r = public_get(gw, token, download="1")
    assert r.headers["Content-Disposition"] == \
        f"attachment; filename=\"{session_id}.ogg\"; filename*=UTF-8''{session_id}.ogg"


def test_redirect_to_a_presigned_url_minio_serves(clean_stack: Stack, gateway_factory):
    token, session_id, _, data = seed_call(clean_stack, size=20_000)
    gw = start_links_gateway(gateway_factory, RECGW_PUBLIC_DOWNLOAD_NAME=NAME, RECGW_PUBLIC_REDIRECT_TTL_S="120")
    r = public_get(gw, token, redirect="1")
    assert r.status_code == 302, (r.status_code, r.text[:200])
    assert r.headers["Cache-Control"] == "no-store"
    location = r.headers["Location"]
    query = parse_qs(urlparse(location).query)
    assert query["X-Amz-Expires"] == ["120"], query
    got = requests.get(location, timeout=10)
    assert got.status_code == 200 and got.content == data
    got = requests.get(location, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert got.status_code == 206 and got.content == data[1000:2000]
    # following the redirect with the client's own Range works end to end
    got = requests.get(gw.url + PUBLIC + token, params={"redirect": "1"}, headers={"Range": "bytes=-10"}, timeout=10)
    assert got.status_code == 206 and got.content == data[-10:]

    # downloading through a redirect: storage sends the attachment header itself
    r = public_get(gw, token, redirect="1", download="1")
    assert r.status_code == 302
    assert parse_qs(urlparse(r.headers["Location"]).query)["response-content-disposition"] == \
        [expected_attachment(session_id)]
    got = requests.get(r.headers["Location"], timeout=10)
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Disposition"] == expected_attachment(session_id)


def test_redirect_mode_for_all_streams_fleet_only_objects(clean_stack: Stack, gateway_factory, fleet_factory):
    st = clean_stack
    in_storage, _, _, data = seed_call(st)
    fleet_data = b"fleet-only-bytes" * 500
    host = fleet_factory({"links/fleet-only.ogg": fleet_data}, secret=FLEET_SECRET)
    fleet_only, _, _, _ = seed_call(st, key="links/fleet-only.ogg", put=False)
    gw = start_links_gateway(gateway_factory, RECGW_PUBLIC_MODE="redirect", RECGW_FLEET_URLS=host.url,
                             RECGW_FLEET_SECRET=FLEET_SECRET)
    r = public_get(gw, in_storage)
    assert r.status_code == 302
    assert requests.get(r.headers["Location"], timeout=10).content == data
    # only the fleet host has it: streamed by the gateway, ranges too
    r = public_get(gw, fleet_only)
    assert r.status_code == 200 and r.content == fleet_data
    r = public_get(gw, fleet_only, headers={"Range": "bytes=0-15"})
    assert r.status_code == 206 and r.content == fleet_data[:16]
    # and a link no source has is still a 404
    nowhere, _, _, _ = seed_call(st, key="links/nowhere.ogg", put=False)
    assert public_get(gw, nowhere).status_code == 404
