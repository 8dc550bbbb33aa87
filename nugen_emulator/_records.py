"""The emulator's request log: what a test asserts on after talking to the emulator."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
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
    """One HTTP request as the emulator received it.

    Recorded before the emulator answers (and before any fault is applied), so a test can
    count attempts (retries) and inspect exactly what its code put on the wire.

    Attributes:
        method: The HTTP method, upper case (``"POST"``).
        path: The request path, without the query string
            (``"/api/v3/inference/chat/completions"``).
        headers: Request headers with lower-case names. A header sent several times keeps
            its last value.
        body: The body parsed as JSON, or ``None`` when it is empty or not valid JSON.
        raw_body: The body exactly as received.
        query: The raw query string (``""`` when there is none).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    query: str = ""

    def __repr__(self) -> str:
        # Tests print and pytest shows these: a credential header's value never appears.
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"headers={_redacted(self.headers)!r}, body={self.body!r}, "
            f"query={self.query!r})"
        )


class RequestLog:
    """A thread-safe append-only list: the server thread appends, the test thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def last(self) -> RecordedRequest | None:
        with self._lock:
            return self._items[-1] if self._items else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
