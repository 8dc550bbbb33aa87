"""The emulator's request log: what a test asserts on after talking to the emulator."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


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
