"""An outbound proxy named by the environment (http_proxy and friends) carries the
gateway's requests to storage, as libcurl has always done for it.

The gateway tells curl "no proxy" itself when no proxy variable is set at start, so curl
does not read the environment for every transfer (docs/benchmarks.md §0g): these tests
hold the other side of that, an operator's proxy is still used, and the variable curl
ignores for http URLs (upper-case HTTP_PROXY, a CGI hazard) still names none.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import os
import socketserver
import threading
import urllib.parse
import uuid

import pytest
import requests

pytestmark = pytest.mark.timeout(60)

PUBLIC = "/api/v1/public/recordings/"
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                   "no_proxy", "NO_PROXY")


class ForwardProxy:
    """A loopback HTTP forward proxy: takes absolute-form GET/HEAD requests, records their
    targets, and relays them to the origin they name."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def relay(self, method: str) -> None:
                proxy.targets.append(self.path)
                url = urllib.parse.urlsplit(self.path)
                if url.scheme != "http" or not url.hostname:
                    self.send_error(400, "absolute-form http target expected")
                    return
                origin = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("proxy-connection", "connection")}
                    target = url.path + (f"?{url.query}" if url.query else "")
                    origin.request(method, target, headers=headers)
                    answer = origin.getresponse()
                    body = answer.read()
                    self.send_response(answer.status)
                    for k, v in answer.getheaders():
                        if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if method != "HEAD":
                        self.wfile.write(body)
                finally:
                    origin.close()

            def do_GET(self) -> None:  # noqa: N802 — http.server's naming
                self.relay("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self.relay("HEAD")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forward_proxy():
    proxy = ForwardProxy()
    yield proxy
    proxy.close()


@pytest.fixture
def recording(stack):
    key = f"proxy/{uuid.uuid4().hex}.ogg"
    body = os.urandom(96 * 1024)
    stack.put_object(key, body, "audio/ogg")
    token = uuid.uuid4().hex + "proxytest"
    stack.insert_call("sess-" + uuid.uuid4().hex[:12], token=token, key=key, status="ready")
    return key, token, body


def proxy_environment(**names: str) -> dict:
    env = {name: None for name in PROXY_VARIABLES}  # nothing inherited from the test's shell
    env.update(names)
    env["RECGW_CACHE_OBJECTS_BYTES"] = "0"  # every request goes to storage
    return env


def test_a_proxy_named_by_http_proxy_carries_the_storage_requests(gateway_factory, stack, forward_proxy,
                                                                    recording):
    key, token, body = recording
    gw = gateway_factory(proxy_environment(http_proxy=forward_proxy.url))
    r = requests.get(gw.url + PUBLIC + token, timeout=20)
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(body).hexdigest()
    object_url = f"{stack.s3_endpoint}/{stack.bucket}/{key}"
    assert object_url in forward_proxy.targets, forward_proxy.targets


def test_no_proxy_variable_means_storage_is_reached_directly(gateway_factory, forward_proxy, recording):
    _, token, body = recording
    # Upper-case HTTP_PROXY is ignored by curl for http URLs; only it is set here.
    gw = gateway_factory(proxy_environment(HTTP_PROXY=forward_proxy.url))
    r = requests.get(gw.url + PUBLIC + token, timeout=20)
    assert r.status_code == 200, r.text
    assert r.content == body
    assert forward_proxy.targets == []
