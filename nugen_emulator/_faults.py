"""Fault injection: what can go wrong on the wire, armed by a test for the next requests."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Fault:
    """A misbehaviour the emulator applies to the next matching request.

    Arm one with :meth:`NugenEmulator.inject`. Fields combine (a ``delay`` before a
    ``status``, a ``stall`` before a ``cut``); faults are consumed first-in first-out by
    the requests they match, one per request, and the request is recorded whatever happens.

    Attributes:
        status: Answer with this HTTP status, before the key or the body is checked, with
            ``body`` or else the dialect's error body. Below 400 with a ``body``: a
            "successful" reply carrying a malformed or unexpected payload.
        body: Sent with ``status``: a dict or list as JSON, ``str`` as text, ``bytes``
            verbatim. With ``error_event_after``, the error event's payload.
        headers: Extra response headers (``{"Retry-After": "1"}``, or an HTTP-date).
        delay: Seconds to wait before answering at all (a client read timeout).
        cut_after: Streaming: end the body after this many SSE events, without ``[DONE]``
            or a final ``finish_reason`` (cleanly; with ``reset=True`` the connection drops).
        malformed_after: Streaming: after this many events, a ``data:`` line that is not
            JSON, then the rest of the stream and ``[DONE]``.
        error_event_after: Streaming: after this many events, an error event (``{"error":
            {"message", "type", "code": 500}}``, or ``body``) then ``[DONE]``, as vLLM-based
            hosts report failures after the 200.
        stall_after: Streaming: after this many events, pause ``stall_seconds`` (a read
            timeout mid-stream).
        stall_seconds: The length of that pause.
        reset: Drop the TCP connection mid-body: after half of a JSON body (whose
            ``Content-Length`` promised the whole), or of a stream after ``cut_after``
            events (half of them when unset).
        no_usage: Send ``"usage": null`` (and no usage in a stream), as some hosts do.
        path: Only requests whose path ends with this (``"/embeddings"``); ``None``: all.
    """

    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] | None = field(default=None, hash=False)
    delay: float = 0.0
    cut_after: int | None = None
    malformed_after: int | None = None
    error_event_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    reset: bool = False
    no_usage: bool = False
    path: str | None = None

    def __post_init__(self) -> None:
        # Fail when the fault is armed, not later inside the server thread where the error
        # would only show up as a confusing 500.
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Fault.status must be an HTTP status code, got {self.status!r}")
        if self.delay < 0 or self.stall_seconds < 0:
            raise ValueError("Fault.delay and Fault.stall_seconds must be >= 0")
        for name in ("cut_after", "malformed_after", "error_event_after", "stall_after"):
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
        afters = (self.cut_after, self.malformed_after, self.error_event_after, self.stall_after)
        return self.reset or any(after is not None for after in afters)


FAULT_FIELDS = frozenset(f.name for f in fields(Fault))


class FaultQueue:
    """Armed faults, consumed first-in first-out by matching requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[list[Any]] = []  # [fault, remaining activations]

    def add(self, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            self._entries.append([fault, times])

    def take(self, path: str) -> Fault | None:
        """Consume one activation of the oldest fault matching ``path``."""
        with self._lock:
            for entry in self._entries:
                fault: Fault = entry[0]
                if fault.matches(path):
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._entries.remove(entry)
                    return fault
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(int(entry[1]) for entry in self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
