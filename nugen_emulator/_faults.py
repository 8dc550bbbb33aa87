"""Fault injection: what can go wrong on the wire, armed by a test for the next requests."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Fault:
    """A misbehaviour the emulator applies to the next matching request.

    Arm one with :meth:`NugenEmulator.inject`. Several fields may be combined (a ``delay``
    before a ``status``, a ``stall`` before a ``cut``); faults are consumed first-in
    first-out by the requests they match (see ``path``), one per request. The request is
    always recorded in the request log, whatever the fault does.

    Attributes:
        status: Answer with this HTTP status instead of a real reply, before the API key or
            the body is checked. The body is ``body`` or, when ``body`` is ``None``, the
            dialect's error body for that status (``{"detail": "..."}`` for ``nugen``,
            ``{"error": {...}}`` for ``openai``). A status below 400 with a ``body`` serves
            that body as a "successful" reply, which is how to test a client against a
            malformed or unexpected payload.
        body: The body sent with ``status``: a dict or list is sent as JSON, ``str`` as
            text, ``bytes`` verbatim. With ``error_event_after`` it is the error event's
            payload instead.
        headers: Extra response headers, for example ``{"Retry-After": "1"}`` or an
            HTTP-date (``email.utils.formatdate(time.time() + 1, usegmt=True)``).
        delay: Seconds to wait before answering at all (to provoke a client read timeout).
        cut_after: Streaming: end the response body after this many SSE events, without
            ``data: [DONE]`` and without a final ``finish_reason`` (the HTTP message itself
            ends cleanly). Combined with ``reset=True`` the connection is dropped instead.
        malformed_after: Streaming: after this many events, send a ``data:`` line that is
            not valid JSON, then carry on with the rest of the stream and ``[DONE]``, so
            only a client that checks every event notices.
        error_event_after: Streaming: after this many events, send an error object as an
            event (``data: {"error": {"message": ..., "type": ..., "code": 500}}``, or
            ``body``), then ``data: [DONE]``, the way vLLM-based hosts report failures
            that happen after the 200 status was sent.
        stall_after: Streaming: after this many events, pause ``stall_seconds`` before the
            next one (to provoke a read timeout in the middle of a stream).
        stall_seconds: The length of that pause.
        reset: Drop the TCP connection in the middle of the body. Non-streaming replies:
            after half of the body (whose ``Content-Length`` promised the whole). Streaming
            replies: after ``cut_after`` events, or half of them when ``cut_after`` is
            unset.
        no_usage: Send ``"usage": null`` (and no usage in a stream), as some hosts do.
        path: Only requests whose path ends with this (``"/embeddings"``); ``None``
            matches every request.
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
        return (
            self.cut_after is not None
            or self.malformed_after is not None
            or self.error_event_after is not None
            or self.stall_after is not None
            or self.reset
        )


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
