"""Imported at start-up by every Python process the example tests launch (via PYTHONPATH).

It holds those processes to the suite's own rule (``--allow-hosts=127.0.0.1,localhost,::1``):
sockets may connect to loopback and Unix addresses only, so an example that quietly
needs the internet fails here instead of passing on a machine that happens to be online.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _allowed(sock: socket.socket, address: Any) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", object()):
        return True
    host = address[0] if isinstance(address, tuple) else str(address)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _guard(sock: socket.socket, address: Any) -> None:
    if not _allowed(sock, address):
        sock.close()  # no ResourceWarning for the socket we refuse to connect
        # Not an OSError: clients would treat that as a network failure and retry quietly.
        raise RuntimeError(f"example tests allow loopback connections only, not {address!r}")


def _connect(self: socket.socket, address: Any) -> None:
    _guard(self, address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _guard(self, address)
    return _real_connect_ex(self, address)


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
