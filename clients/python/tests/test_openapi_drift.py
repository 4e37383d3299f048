"""The client's route table against the gateway's /openapi.json: every route the client
calls exists there with the same method, its path, query and header parameters are
declared, the fields of the body it sends are in the request schema, and the fields it
reads are in the success response schema. A route renamed, a parameter dropped or a
response field removed on either side fails here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Set

import httpx
import pytest

from conftest import World

from recgw_client import ROUTES, Route

NODE_CLIENT = Path(__file__).resolve().parents[2] / "node"

pytestmark = pytest.mark.timeout(60)


def resolve(doc: Dict[str, Any], node: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        section = node["$ref"].split("/")[2]
        node = doc["components"][section][name]
    return node


def alternatives(doc: Dict[str, Any], schema: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The property sets a schema allows: its own properties merged with every allOf member,
    once per oneOf/anyOf branch (a branch that only adds `required` keeps the base ones)."""
    schema = resolve(doc, schema)
    base: Dict[str, Any] = dict(schema.get("properties", {}))
    for member in schema.get("allOf", []):
        for props in alternatives(doc, member):
            base.update(props)
    branches = schema.get("oneOf", []) + schema.get("anyOf", [])
    if not branches:
        return [base]
    out = []
    for branch in branches:
        for props in alternatives(doc, branch):
            out.append({**base, **props})
    return out


def has_field(doc: Dict[str, Any], schema: Dict[str, Any], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    want_items = head.endswith("[]")
    name = head[:-2] if want_items else head
    for props in alternatives(doc, schema):
        if name not in props:
            continue
        child = resolve(doc, props[name])
        if want_items:
            child = resolve(doc, child.get("items", {}))
        if not rest or has_field(doc, child, rest):
            return True
    return False


def declared_parameters(doc: Dict[str, Any], path_item: Dict[str, Any], op: Dict[str, Any]) -> Dict[str, Set[str]]:
    """{"path"|"query"|"header": names} plus "required": "in:name" of the required ones."""
    out: Dict[str, Set[str]] = {"path": set(), "query": set(), "header": set(), "required": set()}
    for p in path_item.get("parameters", []) + op.get("parameters", []):
        p = resolve(doc, p)
        name = p["name"].lower() if p["in"] == "header" else p["name"]
        out.setdefault(p["in"], set()).add(name)
        if p.get("required") and p["in"] in ("query", "header"):
            out["required"].add(f"{p['in']}:{name}")
    return out


@pytest.fixture(scope="module")
def openapi(world: World) -> Dict[str, Any]:
    r = httpx.get(world.gw.url + "/openapi.json", timeout=10)
    assert r.status_code == 200
    return r.json()


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_matches_the_document(openapi: Dict[str, Any], name: str):
    check_route(openapi, name, ROUTES[name])


def node_routes() -> Dict[str, Route]:
    """The Node client's table (clients/node/src/routes.ts), from its compiled module."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    tsc = NODE_CLIENT / "node_modules" / ".bin" / "tsc"
    if tsc.exists():   # build from the sources as they are now: a stale dist/ would hide drift
        subprocess.run([str(tsc), "-p", str(NODE_CLIENT)], check=True, timeout=120)
    elif not (NODE_CLIENT / "dist" / "routes.js").exists():
        pytest.skip("clients/node is neither built nor installed (npm ci)")
    script = "import('./dist/routes.js').then((m) => process.stdout.write(JSON.stringify(m.ROUTES)))"
    out = subprocess.run([node, "--input-type=module", "-e", script], cwd=NODE_CLIENT, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return {name: Route(r["method"], r["path"], tuple(r.get("query", ())), tuple(r.get("headers", ())),
                        tuple(r.get("responseFields", ())), tuple(r.get("bodyFields", ())))
            for name, r in json.loads(out).items()}


def test_the_node_client_matches_the_document_and_calls_the_same_routes(openapi: Dict[str, Any]):
    routes = node_routes()
    for name, route in routes.items():
        check_route(openapi, "node:" + name, route)
    assert {(r.method, r.path) for r in routes.values()} == {(r.method, r.path) for r in ROUTES.values()}


def check_route(openapi: Dict[str, Any], name: str, route: Route) -> None:
    path_item = openapi["paths"].get(route.path)
    assert path_item is not None, f"{name}: {route.path} is not in /openapi.json"
    op = path_item.get(route.method.lower())
    assert op is not None, f"{name}: {route.method} {route.path} is not documented"
    params = declared_parameters(openapi, path_item, op)
    template = {seg[1:-1] for seg in route.path.split("/") if seg.startswith("{")}
    assert template == params["path"], (name, template, params["path"])
    for q in route.query:
        assert q in params["query"], f"{name}: query parameter {q} not declared"
    for h in route.headers:
        assert h.lower() in params["header"], f"{name}: header {h} not declared"
    sent = {f"query:{q}" for q in route.query} | {f"header:{h.lower()}" for h in route.headers}
    assert params["required"] <= sent, f"{name}: required parameters not sent: {params['required'] - sent}"
    if route.body_fields:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        for f in route.body_fields:
            assert has_field(openapi, schema, f), f"{name}: request field {f} not in the schema"
    if route.response_fields:
        ok = op["responses"][route.status]
        schema = ok["content"]["application/json"]["schema"]
        for f in route.response_fields:
            assert has_field(openapi, schema, f), f"{name}: response field {f} not in the {route.status} schema"


# Inputs and outputs of the document a route's table entry may leave out, and why.
NOT_SENT = {"public_recording_head": {"query:download", "query:redirect"}}   # HEAD: size/type only
NOT_READ = {"recording_download": {"expires_at", "expires_in", "duration", "file_size", "message", "provider"}}
# (rooms.download_url returns the whole body to the caller, so nothing of it is lost.)


def unused_inputs_and_outputs(openapi: Dict[str, Any], route: Route) -> Set[str]:
    """What the document offers on this route that the table does not name: query
    parameters and request body fields the client cannot send, and top-level fields of the
    success body it does not read. The other direction of check_route: a client that lags
    behind the document (a new query parameter, body field or response field) shows here."""
    path_item = openapi["paths"][route.path]
    op = path_item[route.method.lower()]
    offered = {"query:" + q for q in declared_parameters(openapi, path_item, op)["query"]}
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        offered |= {"body:" + f for props in alternatives(openapi, schema) for f in props}
    schema = op["responses"].get(route.status, {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        offered |= {"response:" + f for props in alternatives(openapi, schema) for f in props}
    named = ({"query:" + q for q in route.query} | {"body:" + f.split(".")[0].removesuffix("[]")
                                                      for f in route.body_fields}
             | {"response:" + f.split(".")[0].removesuffix("[]") for f in route.response_fields})
    return offered - named


def check_route_is_complete(openapi: Dict[str, Any], name: str, route: Route) -> None:
    key = name.removeprefix("node:")
    key = {v: k for k, v in NODE_NAMES.items()}.get(key, key)
    allowed = NOT_SENT.get(key, set()) | {"response:" + f for f in NOT_READ.get(key, set())}
    missing = unused_inputs_and_outputs(openapi, route) - allowed
    assert not missing, f"{name}: the document offers {sorted(missing)}, the client's table does not name them"


# The Node table's names of the entries that have an exemption above.
NODE_NAMES = {"public_recording_head": "publicRecordingHead", "recording_download": "recordingDownload"}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_the_client_keeps_up_with_the_document(openapi: Dict[str, Any], name: str):
    check_route_is_complete(openapi, name, ROUTES[name])


def test_the_node_client_keeps_up_with_the_document(openapi: Dict[str, Any]):
    for name, route in node_routes().items():
        check_route_is_complete(openapi, "node:" + name, route)


def test_the_completeness_check_notices_a_lagging_table(openapi: Dict[str, Any]):
    """The table of the clients before the link features: no expiry in the mint body, none
    of its answer's expires_at, no ?download on the public route."""
    old_mint = Route("POST", "/api/v1/admin/recordings/{session_id}/token",
                     response_fields=("session_id", "token", "url", "rotated"))
    assert unused_inputs_and_outputs(openapi, old_mint) == {"body:expires_in_s", "body:expires_at",
                                                            "response:expires_at"}
    old_public = Route("GET", "/api/v1/public/recordings/{token}", headers=("Range", "If-Range"))
    assert unused_inputs_and_outputs(openapi, old_public) == {"query:download", "query:redirect"}
    assert unused_inputs_and_outputs(openapi, ROUTES["mint_token"]) == set()


def test_the_checker_catches_drift(openapi: Dict[str, Any]):
    """The helpers above would notice a missing field or parameter (so the test can fail)."""
    schema = openapi["paths"]["/api/v1/admin/recordings/{session_id}/token"]["post"]["responses"]["200"]
    schema = schema["content"]["application/json"]["schema"]
    assert has_field(openapi, schema, "token") and not has_field(openapi, schema, "tokn")
    listed = openapi["paths"]["/api/v1/recordings"]["get"]["responses"]["200"]["content"]["application/json"]
    assert has_field(openapi, listed["schema"], "data[].id")
    assert not has_field(openapi, listed["schema"], "data[].nope")
