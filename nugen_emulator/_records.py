"""What a test arms and reads: faults for the next requests, and the log of requests received
(written by the server thread and read by the test's, so behind a lock)."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# A long-running emulator (a benchmark, a demo) must not keep every body it ever received.
DEFAULT_LOG_LIMIT = 1000
LOG_BYTES_LIMIT = 64 * 1024 * 1024
# The emulator does not import the client it checks; this is the same rule of thumb.
_CREDENTIAL_HEADER = re.compile(
    r"^(authorization|proxy-authorization|cookie)$|api[-_]?key|token|secret|password|credential",
    re.IGNORECASE,
)
_AFTERS = ("cut_after", "malformed_after", "error_event_after", "stall_after")


@dataclass(frozen=True)
class Fault:
    """A misbehaviour the emulator applies to the next matching request, armed with
    :meth:`NugenEmulator.inject`; every field is explained in docs/emulator.md (Faults)."""

    status: int | None = None  # before the key and the body are checked
    body: Any = None  # with status (JSON, text or bytes), or the error event's payload
    headers: Mapping[str, str] | None = field(default=None, hash=False)
    delay: float = 0.0  # seconds before answering at all
    cut_after: int | None = None  # streams: these count SSE events
    malformed_after: int | None = None
    error_event_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    reset: bool = False  # drop the connection mid-body
    no_usage: bool = False
    path: str | None = None  # only requests whose path ends with this

    def __post_init__(self) -> None:
        # Fail when the fault is armed, not later inside the server thread where the error
        # would only show up as a confusing 500.
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Fault.status must be an HTTP status code, got {self.status!r}")
        if self.delay < 0 or self.stall_seconds < 0:
            raise ValueError("Fault.delay and Fault.stall_seconds must be >= 0")
        for name in _AFTERS:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Fault.{name} must be >= 0, got {value!r}")
        if self.stall_after is not None and self.stall_seconds <= 0:
            raise ValueError("Fault.stall_after needs a positive stall_seconds")

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for ``path``."""
        return self.path is None or path.endswith(self.path)

    @property
    def affects_stream(self) -> bool:
        """Whether the fault changes how an SSE body is sent (so it cannot be pre-joined)."""
        return self.reset or any(getattr(self, name) is not None for name in _AFTERS)


FAULT_FIELDS = frozenset(f.name for f in fields(Fault))


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the emulator received it, recorded before any answer or fault
    (each field: docs/emulator.md, Request log)."""

    method: str  # upper case
    path: str  # without the query string
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: Any  # parsed JSON; None when empty or not JSON
    raw_body: bytes
    query: str = ""
    received_at: float = field(default=0.0, compare=False)  # time.monotonic(), body complete

    def __repr__(self) -> str:
        # Tests print and pytest shows these: a credential header's value never appears.
        headers = {k: "***" if _CREDENTIAL_HEADER.search(k) else v for k, v in self.headers.items()}
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"headers={headers!r}, body={self.body!r}, query={self.query!r})"
        )


class RequestLog:
    """A thread-safe log, oldest first; beyond ``limit`` requests or ``max_bytes`` of bodies
    the oldest are dropped (never the newest)."""

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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
