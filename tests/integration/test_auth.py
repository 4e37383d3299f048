"""Authorization of the admin and tenant routes by JWT (security audit items 4 and 9),
against the real stack.

Item 4 — roles come only from `jwt.role_claim`; routes that are not scoped to one account
(session streams, token minting, cache warm/evict, diagnose) need `jwt.platform_admin_role`;
any other role, an "admin" of one account included, acts only on its own account
(`jwt.account_claim`), whatever X-Account-ID it sends.

Item 9 — `exp` is required, the lifetime (exp - iat, or exp - now) is capped by
`jwt.max_lifetime_s`, an `iat` in the future beyond the leeway is refused, and absurd
NumericDates (1e300) are refused.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import os
import subprocess
import time
import urllib.parse
from typing import Optional

import pytest
import requests

from helpers import hs256_jwt, wait_for

pytestmark = pytest.mark.timeout(180)

JWT_SECRET = "auth-test-secret-0123456789abcdef0123"
ROLE_CLAIM = "https://example.com/roles"
ACCOUNT_CLAIM = "https://example.com/account"
PLATFORM_ROLE = "platform-admin"
ACCT_A, ACCT_B = "acct-a", "acct-b"
SESS_A, SESS_B = "sess-auth-a", "sess-auth-b"
REC_A, REC_B = "rec_auth_a", "rec_auth_b"
ROOM_A, ROOM_B = "room-auth-a", "room-auth-b"
BODY_A, BODY_B = b"A" * 4096, b"B" * 4096

# A multi-tenant identity provider: roles and account in namespaced claims, and a distinct
# role for the operators of the platform.
TENANT_IDP_ENV = {
    "RECGW_JWT_HS256_SECRET": JWT_SECRET,
    "RECGW_JWT_ROLE_CLAIM": ROLE_CLAIM,
    "RECGW_JWT_ACCOUNT_CLAIM": ACCOUNT_CLAIM,
    "RECGW_JWT_PLATFORM_ADMIN_ROLE": PLATFORM_ROLE,
}


# ---- helpers ---------------------------------------------------------------------------

def token(claims: dict, *, lifetime: Optional[int] = 600) -> str:
    """HS256 JWT; `iat` now and `exp` now + lifetime unless the claims say otherwise
    (lifetime None: neither is added)."""
    body = dict(claims)
    if lifetime is not None:
        now = int(time.time())
        body.setdefault("iat", now)
        body.setdefault("exp", now + lifetime)
    return hs256_jwt(body, JWT_SECRET, compact=True)


def bearer(claims: dict, account_header: Optional[str] = None, **kw) -> dict:
    h = {"Authorization": "Bearer " + token(claims, **kw)}
    if account_header is not None:
        h["X-Account-ID"] = account_header
    return h


def raw_bearer(payload: bytes) -> dict:
    """A correctly signed token whose payload is the exact bytes given (for numbers such as
    1e300 that json.dumps would not write)."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(payload)
    sig = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return {"Authorization": "Bearer " + signing_input + "." + b64(sig)}


def account_admin(account: str = ACCT_A) -> dict:
    """Admin of one account in the tenant IdP: role "admin", bound to `account`."""
    return {"sub": f"admin-of-{account}", ROLE_CLAIM: ["admin"], ACCOUNT_CLAIM: account}


def platform_admin() -> dict:
    return {"sub": "operator", ROLE_CLAIM: ["viewer", PLATFORM_ROLE]}


def error_code(r: requests.Response) -> str:
    return r.json().get("error", "")


def access_record(gw, request_id: str) -> dict:
    def find():
        for rec in gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == request_id:
                return rec
        return None
    return wait_for(find, 5.0, f"the access-log line of request {request_id}")


def seed(st) -> None:
    """Two accounts, each with a call (object in storage) and a ready lifecycle recording."""
    now = _dt.datetime.now(_dt.timezone.utc)
    for acct, sess, rec, room, body in ((ACCT_A, SESS_A, REC_A, ROOM_A, BODY_A),
                                        (ACCT_B, SESS_B, REC_B, ROOM_B, BODY_B)):
        key = f"auth/{sess}.ogg"
        st.put_object(key, body, "audio/ogg")
        st.insert_call(sess, token=f"tok-{sess}", key=key, account_id=acct)
        st.db.rooms.insert_one({"id": room, "tenant_id": acct, "name": room})
        st.db.recordings.insert_one({
            "_id": rec, "id": rec, "tenant_id": acct, "room_id": room, "status": "ready",
            "source": "provider", "provider_recording_id": "prov_" + rec, "started_at": now,
            "stopped_at": now, "ready_at": now, "duration_seconds": 1.0, "size_bytes": len(body),
            "storage": {"provider": "s3", "bucket": st.bucket, "key": key},
            "created_at": now, "updated_at": now})


class Routes:
    """Every JWT route, bound to one gateway."""

    def __init__(self, gw):
        self.url = gw.url

    def stream(self, h, sess):
        return requests.get(f"{self.url}/api/v1/recordings/{sess}", headers=h, timeout=15)

    def mint(self, h, sess):
        return requests.post(f"{self.url}/api/v1/admin/recordings/{sess}/token", headers=h, timeout=15)

    def warm(self, h, sess):
        return requests.post(f"{self.url}/api/v1/admin/cache/warm", json={"session_ids": [sess]},
                             headers=h, timeout=15)

    def evict(self, h, sess):
        return requests.delete(f"{self.url}/api/v1/admin/cache/{sess}", headers=h, timeout=15)

    def diagnose(self, h, sess):
        return requests.get(f"{self.url}/api/v1/admin/diagnose/{sess}", headers=h, timeout=30)

    def session_url(self, h, sess):
        return requests.get(f"{self.url}/api/v1/sessions/{urllib.parse.quote(sess)}/recording",
                            headers=h, timeout=15)

    def signed_url(self, h, sess):
        return requests.post(f"{self.url}/v1/call-recording/signed-url", json={"call_id": sess},
                             headers=h, timeout=15)

    def lifecycle_get(self, h, rec):
        return requests.get(f"{self.url}/api/v1/recordings/{rec}", headers=h, timeout=15)

    def lifecycle_list(self, h):
        return requests.get(f"{self.url}/api/v1/recordings", headers=h, timeout=15)

    def cross_tenant(self):
        """(name, call) of each route that is not scoped to one account."""
        return [("stream", self.stream), ("mint", self.mint), ("warm", self.warm),
                ("evict", self.evict), ("diagnose", self.diagnose)]


@pytest.fixture
def seeded(clean_stack):
    seed(clean_stack)
    return clean_stack


# ---- item 4: the configured role claim ----------------------------------------------------

def test_roles_come_only_from_the_configured_claim(seeded, gateway_factory):
    # Only role_claim is set: the platform admin role keeps its default, "admin".
    gw = gateway_factory({"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_JWT_ROLE_CLAIM": ROLE_CLAIM})
    routes = Routes(gw)
    for claims in ({"sub": "u", "role": "admin"}, {"sub": "u", "roles": ["admin"]},
                   {"sub": "u", "role": ["admin"], "roles": "admin"},
                   {"sub": "u", "role": "admin", ROLE_CLAIM: ["viewer"]}):
        for name, call in routes.cross_tenant():
            r = call(bearer(claims), SESS_B)
            assert r.status_code == 403, (claims, name, r.status_code, r.text[:200])
            assert error_code(r) == "forbidden"
        # Nor do they lift the account binding: no account claim, so no tenant data.
        r = routes.lifecycle_get(bearer(claims, account_header=ACCT_B), REC_B)
        assert r.status_code == 403, (claims, r.status_code, r.text[:200])
        assert routes.signed_url(bearer(claims), SESS_B).status_code == 404

    for claims in ({"sub": "u", ROLE_CLAIM: ["admin"]}, {"sub": "u", ROLE_CLAIM: "admin"}):
        r = routes.stream(bearer(claims), SESS_B)
        assert r.status_code == 200 and r.content == BODY_B, (claims, r.status_code)


def test_default_role_claim_reads_role_and_roles(seeded, gateway_factory):
    # The default claim `role`, also a `roles` array (README, "Auth").
    gw = gateway_factory({"RECGW_JWT_HS256_SECRET": JWT_SECRET})
    routes = Routes(gw)
    for claims in ({"sub": "u", "role": "admin"}, {"sub": "u", "roles": ["viewer", "admin"]}):
        r = routes.stream(bearer(claims), SESS_A)
        assert r.status_code == 200 and r.content == BODY_A, (claims, r.status_code)
    assert routes.stream(bearer({"sub": "u", "role": "viewer"}), SESS_A).status_code == 403


# ---- item 4: an admin of one account stays in it ------------------------------------------

def test_account_admin_is_refused_on_cross_tenant_routes(seeded, gateway_factory):
    gw = gateway_factory(TENANT_IDP_ENV)
    routes = Routes(gw)
    for sess in (SESS_A, SESS_B):          # even a call of its own account: the routes are global
        for name, call in routes.cross_tenant():
            r = call(bearer(account_admin(ACCT_A)), sess)
            assert r.status_code == 403, (name, sess, r.status_code, r.text[:200])
            assert error_code(r) == "forbidden"
            assert "platform admin" in r.json()["message"]
    # Nothing was minted for B on the way.
    assert seeded.db.calls.find_one({"session_id": SESS_B})["recording_access_token"] == f"tok-{SESS_B}"


def test_account_admin_cannot_reach_another_accounts_data(seeded, gateway_factory):
    gw = gateway_factory(TENANT_IDP_ENV)
    routes = Routes(gw)
    a = account_admin(ACCT_A)

    # Its own account works on every tenant route.
    assert routes.session_url(bearer(a, account_header=ACCT_A), SESS_A).status_code == 200
    r = routes.signed_url(bearer(a), SESS_A)
    assert r.status_code == 200, r.text
    assert requests.get(r.json()["signed_url"], timeout=10).content == BODY_A
    assert routes.lifecycle_get(bearer(a), REC_A).json()["data"]["id"] == REC_A
    assert routes.lifecycle_get(bearer(a, account_header=ACCT_A), REC_A).status_code == 200

    # B's data: naming B in X-Account-ID is refused; without it, B's records do not exist.
    # (the session route's API has no 403 and JSON-string errors: refused as "no recording")
    r = routes.session_url(bearer(a, account_header=ACCT_B), SESS_B)
    assert r.status_code == 404 and isinstance(r.json(), str), r.text
    assert routes.session_url(bearer(a, account_header=ACCT_A), SESS_B).status_code == 404
    assert routes.signed_url(bearer(a), SESS_B).status_code == 404
    r = routes.lifecycle_get(bearer(a, account_header=ACCT_B), REC_B)
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    r = routes.lifecycle_list(bearer(a, account_header=ACCT_B))
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    assert routes.lifecycle_get(bearer(a), REC_B).status_code == 404
    listed = routes.lifecycle_list(bearer(a)).json()["data"]
    assert [x["id"] for x in listed] == [REC_A]
    r = requests.post(f"{gw.url}/api/v1/recordings/{REC_B}/archive",
                      headers=bearer(a, account_header=ACCT_B), timeout=15)
    assert r.status_code == 403, r.text
    r = requests.delete(f"{gw.url}/api/v1/recordings/{REC_B}", headers=bearer(a, account_header=ACCT_B),
                        timeout=15)
    assert r.status_code == 403, r.text
    assert seeded.db.recordings.find_one({"_id": REC_B}).get("deleted_at") is None

    # An account admin whose token carries no account is bound to nothing.
    unbound = {"sub": "admin-of-nothing", ROLE_CLAIM: ["admin"]}
    assert routes.lifecycle_get(bearer(unbound, account_header=ACCT_B), REC_B).status_code == 403
    assert routes.session_url(bearer(unbound, account_header=ACCT_B), SESS_B).status_code == 404
    assert routes.signed_url(bearer(unbound), SESS_B).status_code == 404


def test_platform_admin_acts_on_every_account(seeded, gateway_factory):
    gw = gateway_factory(TENANT_IDP_ENV)
    routes = Routes(gw)
    p = platform_admin()
    r = routes.stream(bearer(p), SESS_B)
    assert r.status_code == 200 and r.content == BODY_B
    for name, call in routes.cross_tenant():
        assert call(bearer(p), SESS_B).status_code == 200, name
    assert routes.session_url(bearer(p, account_header=ACCT_B), SESS_B).status_code == 200
    assert routes.signed_url(bearer(p), SESS_B).status_code == 200
    assert routes.lifecycle_get(bearer(p, account_header=ACCT_B), REC_B).json()["data"]["id"] == REC_B
    assert routes.lifecycle_get(bearer(p, account_header=ACCT_A), REC_A).json()["data"]["id"] == REC_A
    # Without an account of its own it must say which one it acts on.
    assert routes.lifecycle_get(bearer(p), REC_B).status_code == 400
    # The platform role counts only in the configured claim.
    r = routes.stream(bearer({"sub": "u", "role": PLATFORM_ROLE, "roles": [PLATFORM_ROLE]}), SESS_B)
    assert r.status_code == 403


# ---- item 9: expiry is required and bounded -------------------------------------------------

def _admin_claims() -> dict:
    return {"sub": "operator", "role": "admin"}


@pytest.mark.parametrize("case,reason", [
    ("no_exp", "missing_exp"),
    ("no_exp_no_iat", "missing_exp"),
    ("exp_1e300", "lifetime_too_long"),
    ("exp_1e300_with_iat", "lifetime_too_long"),
    ("lifetime_48h", "lifetime_too_long"),
    ("no_iat_exp_in_48h", "lifetime_too_long"),
    ("iat_in_an_hour", "issued_in_future"),
])
def test_token_lifetime_is_required_and_bounded(seeded, gateway_factory, case, reason):
    gw = gateway_factory({"RECGW_JWT_HS256_SECRET": JWT_SECRET})
    routes = Routes(gw)
    now = int(time.time())
    headers = {
        "no_exp": lambda: bearer(dict(_admin_claims(), iat=now), lifetime=None),
        "no_exp_no_iat": lambda: bearer(_admin_claims(), lifetime=None),
        "exp_1e300": lambda: raw_bearer(b'{"sub":"operator","role":"admin","exp":1e300}'),
        "exp_1e300_with_iat": lambda: raw_bearer(
            b'{"sub":"operator","role":"admin","iat":%d,"exp":1e300}' % now),
        "lifetime_48h": lambda: bearer(dict(_admin_claims(), iat=now - 60, exp=now + 48 * 3600)),
        "no_iat_exp_in_48h": lambda: bearer(dict(_admin_claims(), exp=now + 48 * 3600), lifetime=None),
        "iat_in_an_hour": lambda: bearer(dict(_admin_claims(), iat=now + 3600, exp=now + 7200)),
    }[case]()
    r = routes.stream(headers, SESS_A)
    assert r.status_code == 401, (case, r.status_code, r.text[:200])
    assert error_code(r) == "unauthorized"
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert r.content != BODY_A
    assert access_record(gw, r.headers["X-Request-Id"]).get("reason") == "jwt: " + reason
    if reason == "missing_exp":
        assert "exp" in r.json()["message"]
    # The same token is refused on a tenant route too.
    assert routes.lifecycle_get(dict(headers, **{"X-Account-ID": ACCT_A}), REC_A).status_code == 401


def test_token_lifetime_limits_and_setting(seeded, gateway_factory):
    gw = gateway_factory({"RECGW_JWT_HS256_SECRET": JWT_SECRET})
    routes = Routes(gw)
    now = int(time.time())
    # Exactly 24 h (the default cap), and a token issued a little ahead of our clock (leeway 30 s).
    assert routes.stream(bearer(dict(_admin_claims(), iat=now, exp=now + 24 * 3600)), SESS_A).status_code == 200
    assert routes.stream(bearer(dict(_admin_claims(), iat=now + 10, exp=now + 600)), SESS_A).status_code == 200

    hourly = gateway_factory({"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_JWT_MAX_LIFETIME_S": "3600"})
    hourly_routes = Routes(hourly)
    assert hourly_routes.stream(bearer(_admin_claims(), lifetime=3600), SESS_A).status_code == 200
    assert hourly_routes.stream(bearer(_admin_claims(), lifetime=7200), SESS_A).status_code == 401


@pytest.mark.parametrize("key,value", [
    ("RECGW_JWT_MAX_LIFETIME_S", "0"),
    ("RECGW_JWT_MAX_LIFETIME_S", "-5"),
    ("RECGW_JWT_PLATFORM_ADMIN_ROLE", ""),
    ("RECGW_JWT_ROLE_CLAIM", ""),
])
def test_bad_auth_settings_stop_start_up(recgw_binary, key, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    env.update({"RECGW_JWT_HS256_SECRET": JWT_SECRET, key: value})
    p = subprocess.run([str(recgw_binary), "check-config"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    dotted = key.removeprefix("RECGW_").lower().replace("jwt_", "jwt.", 1)
    assert dotted in p.stderr, p.stderr
