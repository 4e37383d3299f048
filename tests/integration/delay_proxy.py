"""A small threaded TCP proxy for fault injection: adjustable delay, trickling, a kill
switch, and a revive on the same port.

    p = DelayProxy("127.0.0.1", stack.redis_port).start()
    env = {"RECGW_REDIS_URL": f"redis://127.0.0.1:{p.port}"}
    p.delay_s = 1.0            # every forwarded chunk waits 1 s (both directions by default)
    p.max_chunk = 512          # ...and chunks are at most 512 bytes: a trickle
    p.mode = "blackhole"       # accept, swallow what the client sends, never answer
    p.mode = "refuse"          # accept and reset at once (counted in p.refused)
    p.kill()                   # stop listening (connects are refused) + reset every live connection
    p.revive()                 # listen again on the same port, forwarding as before

It works in front of anything that speaks TCP: Redis, FerretDB, MinIO, a fake fleet host.
Every knob may be changed while connections are live; a delayed pump notices kill()
at once (it waits on an Event, not in time.sleep).

With sock_buffer set it also keeps little in flight (SO_RCVBUF/SO_SNDBUF on both legs),
so a stalled download stays mid-body at the origin. The `delay_proxy_factory` fixture
starts them and kills them at teardown.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import List, Optional, Tuple

import pytest

MODES = ("forward", "refuse", "blackhole")


def _rst_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), like a crashed peer; shutdown() first so a thread
    blocked in recv/send on this socket wakes up."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class DelayProxy:
    """127.0.0.1:<port> → (target_host, target_port).

    delay_s        seconds to wait before forwarding each chunk
    first_delay_s  extra wait before the first chunk of each direction of a connection
                   (latency; the rest then flows at delay_s)
    direction      which way the delays apply: "down" (target → client), "up", "both"
    max_chunk      largest chunk read and forwarded at once (small + delay = trickle)
    mode           "forward" | "refuse" (accept, then RST at once) | "blackhole"
                   (accept, read and drop the client's bytes, never connect upstream)
    sock_buffer    SO_RCVBUF/SO_SNDBUF of both legs (default: the kernel's)
    port           a fixed port to listen on (default: an ephemeral one, kept by revive())
    """

    def __init__(self, target_host: str, target_port: int, *, delay_s: float = 0.0,
                 first_delay_s: float = 0.0, direction: str = "both", max_chunk: int = 65536,
                 mode: str = "forward", port: int = 0, sock_buffer: Optional[int] = None):
        if direction not in ("down", "up", "both"):
            raise ValueError(direction)
        if mode not in MODES:
            raise ValueError(mode)
        self.target: Tuple[str, int] = (target_host, target_port)
        self.delay_s = delay_s
        self.first_delay_s = first_delay_s
        self.direction = direction
        self.max_chunk = max_chunk
        self.mode = mode
        self.sock_buffer = sock_buffer
        self._port = port
        self._lock = threading.Lock()
        self._conns: List[Tuple[socket.socket, Optional[socket.socket]]] = []
        self._listener: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()      # set by kill(): wakes every delayed pump
        self.connections_total = 0          # accepted while listening (any mode)
        self.refused = 0                    # reset at once in "refuse" mode
        self.upstream_failures = 0          # the target did not take the connection
        self.bytes_up = 0                   # client → target
        self.bytes_down = 0                 # target → client

    # ---- addresses -------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._port, "not started"
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def listening(self) -> bool:
        return self._listener is not None

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._conns)

    # ---- life cycle ------------------------------------------------------------------
    def start(self) -> "DelayProxy":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._size_buffers(ls)              # inherited by accepted sockets
        deadline = time.monotonic() + 5
        while True:
            try:
                ls.bind(("127.0.0.1", self._port))
                break
            except OSError:
                # revive() right after kill(): the old socket may linger for a moment
                if not self._port or time.monotonic() > deadline:
                    ls.close()
                    raise
                time.sleep(0.05)
        ls.listen(512)
        ls.settimeout(0.05)
        self._port = ls.getsockname()[1]
        self._stop = threading.Event()
        self._listener = ls
        self._thread = threading.Thread(target=self._accept_loop, args=(ls, self._stop),
                                        name=f"delay-proxy-{self._port}", daemon=True)
        self._thread.start()
        return self

    def revive(self) -> "DelayProxy":
        """Listen again on the same port (after kill())."""
        if self._listener is None:
            self.start()
        return self

    def cut(self) -> int:
        """Reset every live connection; keep listening. Returns how many were cut."""
        with self._lock:
            conns, self._conns = self._conns, []
        for client, upstream in conns:
            _rst_close(client)
            if upstream is not None:
                _rst_close(upstream)
        return len(conns)

    def kill(self) -> int:
        """Stop accepting (new connects are refused) and reset every live connection."""
        self._stop.set()
        ls, self._listener = self._listener, None
        if ls is not None:
            try:
                ls.close()
            except OSError:
                pass
        # Reset the live connections before waiting for the accept thread: a pump that sees
        # the stop event meanwhile would otherwise end its connection cleanly (FIN, not RST).
        n = self.cut()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        return n + self.cut()

    stop = kill

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()

    # ---- the work ----------------------------------------------------------------------
    def _accept_loop(self, ls: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections_total += 1
            mode = self.mode
            if mode == "refuse":
                with self._lock:
                    self.refused += 1
                _rst_close(client)
                continue
            client.settimeout(None)
            if mode == "blackhole":
                pair = (client, None)
                with self._lock:
                    self._conns.append(pair)
                threading.Thread(target=self._swallow, args=(client, pair), daemon=True).start()
                continue
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self._size_buffers(upstream)
                upstream.settimeout(5)
                upstream.connect(self.target)
                upstream.settimeout(None)
            except OSError:
                upstream.close()
                with self._lock:
                    self.upstream_failures += 1
                _rst_close(client)
                continue
            pair = (client, upstream)
            with self._lock:
                if stop.is_set():
                    _rst_close(client)
                    _rst_close(upstream)
                    return
                self._conns.append(pair)
            threading.Thread(target=self._pump, args=(client, upstream, False, pair, stop), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True, pair, stop), daemon=True).start()

    def _size_buffers(self, s: socket.socket) -> None:
        if self.sock_buffer:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.sock_buffer)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sock_buffer)

    def _delayed(self, down: bool) -> bool:
        return self.direction == "both" or (self.direction == "down") == down

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool, pair, stop: threading.Event) -> None:
        first = True
        try:
            while not stop.is_set():
                data = src.recv(max(1, int(self.max_chunk)))
                if not data:
                    break
                if self._delayed(down):
                    wait = self.delay_s + (self.first_delay_s if first else 0.0)
                    if wait > 0 and stop.wait(wait):
                        break
                first = False
                dst.sendall(data)
                with self._lock:
                    if down:
                        self.bytes_down += len(data)
                    else:
                        self.bytes_up += len(data)
        except OSError:
            pass
        self._end(pair)

    def _swallow(self, client: socket.socket, pair) -> None:
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass
        self._end(pair)

    def _end(self, pair) -> None:
        with self._lock:
            if pair not in self._conns:
                return          # cut() or another pump closed it already
            self._conns.remove(pair)
        for s in pair:
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def delay_proxy_factory():
    """make(host, port, **knobs) → a started DelayProxy; all are killed at teardown."""
    started: List[DelayProxy] = []

    def make(host: str, port: int, **kw) -> DelayProxy:
        p = DelayProxy(host, port, **kw).start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.kill()
