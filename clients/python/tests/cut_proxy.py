"""A loopback TCP proxy that cuts the first `cut_connections` connections after relaying
`cut_after` bytes of the answer, to test resumed downloads against a real gateway."""

from __future__ import annotations

import socket
import threading
from typing import List, Tuple


class CutProxy:
    def __init__(self, upstream: Tuple[str, int], cut_after: int, cut_connections: int = 1):
        self.upstream = upstream
        self.cut_after = cut_after
        self.cuts_left = cut_connections
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: List[threading.Thread] = []
        self._stopped = False
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cut = self.cuts_left > 0
                if cut:
                    self.cuts_left -= 1
            t = threading.Thread(target=self._relay, args=(client, cut), daemon=True)
            t.start()
            self._threads.append(t)

    def _relay(self, client: socket.socket, cut: bool) -> None:
        upstream = socket.create_connection(self.upstream)

        def forward_requests() -> None:
            try:
                while True:
                    data = client.recv(65536)
                    if not data:
                        break
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward_requests, daemon=True).start()
        sent = 0
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if cut and sent + len(data) >= self.cut_after:
                    client.sendall(data[: self.cut_after - sent])
                    with self._lock:
                        self.cuts += 1
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
