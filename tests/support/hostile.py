"""A tiny loopback HTTP server that misbehaves on purpose (raw sockets, one script per test).

Each connection reads one request and then runs the script: a list of byte strings to send,
with ``float`` items meaning "sleep this long", and an optional final hold (keep the
connection open without sending). Nothing here parses HTTP beyond finding the end of the
request, which is all a hostile server needs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence

__all__ = ["HostileServer", "hostile_server", "http_head"]

Step = bytes | float


def http_head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class HostileServer:
    def __init__(self, script: Sequence[Step], hold: float = 0.0) -> None:
        self._script = list(script)
        self._hold = hold
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            if self._stop.is_set():  # the wake-up call from close()
                conn.close()
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            # Read the body too: closing with unread data would reset the connection and
            # hide what the script sent.
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                piece = conn.recv(65536)
                if not piece:
                    return
                body += piece
            for step in self._script:
                if self._stop.is_set():
                    return
                if isinstance(step, float):
                    time.sleep(step)
                else:
                    conn.sendall(step)
            end = time.monotonic() + self._hold
            while time.monotonic() < end and not self._stop.is_set():
                time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        # Wake the accept loop now rather than at its next timeout.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
            pass
        self._thread.join(timeout=2)
        self._sock.close()


@contextlib.contextmanager
def hostile_server(script: Sequence[Step], hold: float = 0.0) -> Iterator[HostileServer]:
    server = HostileServer(script, hold)
    try:
        yield server
    finally:
        server.close()
