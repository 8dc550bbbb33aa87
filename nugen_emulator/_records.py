"""The emulator's request log: what a test asserts on after talking to the emulator."""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# The emulator does not import the client it checks; this is the same rule of thumb.
_CREDENTIAL_HEADER = re.compile(
    r"^(authorization|proxy-authorization|cookie)$|api[-_]?key|token|secret|password|credential",
    re.IGNORECASE,
)


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if _CREDENTIAL_HEADER.search(k) else v) for k, v in headers.items()}


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the emulator received it, recorded before any answer or fault.

    Attributes:
        method: The HTTP method, upper case (``"POST"``).
        path: The path without the query string (``"/api/v3/inference/chat/completions"``).
        headers: Lower-case names; a header sent several times keeps its last value.
        body: The body parsed as JSON, or ``None`` when it is empty or not valid JSON.
        raw_body: The body exactly as received.
        query: The raw query string (``""`` when there is none).
        received_at: When the whole request had arrived, in :func:`time.monotonic` seconds
            (to tell requests sent one after another from requests that overlapped).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    query: str = ""
    received_at: float = field(default=0.0, compare=False)

    def __repr__(self) -> str:
        # Tests print and pytest shows these: a credential header's value never appears.
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"headers={_redacted(self.headers)!r}, body={self.body!r}, "
            f"query={self.query!r})"
        )


# A long-running emulator (a benchmark, a demo) must not keep every body it ever received.
DEFAULT_LOG_LIMIT = 1000
LOG_BYTES_LIMIT = 64 * 1024 * 1024


class RequestLog:
    """A thread-safe log, oldest first, written by the server thread and read by the test's;
    beyond ``limit`` requests or ``max_bytes`` of bodies the oldest are dropped (never the
    newest)."""

    def __init__(self, limit: int = DEFAULT_LOG_LIMIT, max_bytes: int = LOG_BYTES_LIMIT) -> None:
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque()
        self._limit = limit
        self._max_bytes = max_bytes
        self._bytes = 0

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)
            self._bytes += len(item.raw_body)
            while len(self._items) > 1 and (
                len(self._items) > self._limit or self._bytes > self._max_bytes
            ):
                self._bytes -= len(self._items.popleft().raw_body)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def last(self) -> RecordedRequest | None:
        with self._lock:
            return self._items[-1] if self._items else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
