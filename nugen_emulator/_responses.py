"""The emulator's HTTP responses: JSON bodies, SSE streams, and the faults applied to them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from nugen_emulator._faults import Fault
from nugen_emulator._state import ServerState
from nugen_emulator._wire import DONE_EVENT, encode_event

MALFORMED_EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "unterminated\n\n'
# Writes do not wait for the socket, so a stream that never pauses never hears that its
# client left: it writes on to the end, and asyncio warns from the fifth write into a
# closed connection. Pausing every few events stops it before that, at little cost.
_WRITES_BETWEEN_PAUSES = 4
_NO_FAULT = Fault()
_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


class AbortConnection(Exception):
    """Raised inside the app so uvicorn drops the TCP connection mid-response."""


class _DropAbortRecords(logging.Filter):
    """Keep uvicorn from logging a traceback for connections we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info
        return not (exc and isinstance(exc[1], AbortConnection))


_abort_filter = _DropAbortRecords()
logging.getLogger("uvicorn.error").addFilter(_abort_filter)


class SSEResponse(Response):
    """An SSE body sent event by event, misbehaving as an armed :class:`Fault` says."""

    def __init__(
        self,
        events: list[bytes],
        *,
        state: ServerState,
        fault: Fault | None,
        headers: Mapping[str, str],
        prejoin: bool = False,
        lead: bytes = b"",
        after_done: bytes = b"",
    ) -> None:
        # Like StreamingResponse: no body attribute, so no Content-Length (chunked).
        self.status_code = 200
        self.media_type = None
        self.background = None
        self.init_headers({**_SSE_HEADERS, **headers})
        self.events = events
        self.state = state
        self.fault = fault
        self.prejoin = prejoin
        self.lead = lead  # sent before ``events``, not counted by faults (a timing event)
        self.tail = DONE_EVENT + after_done  # the live service sends one more after [DONE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def emit(data: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if self.lead:
            await emit(self.lead)
        fault, events = self.fault or _NO_FAULT, self.events
        if self.prejoin and not fault.affects_stream:
            # Benchmarks: one write, so the server's cost per event is nil.
            await emit(b"".join(events) + self.tail, more=False)
            return
        cut = fault.cut_after
        if cut is None and fault.reset:
            cut = len(events) // 2
        for sent in range(len(events) + 1):
            if fault.stall_after == sent:
                await self.state.sleep(fault.stall_seconds)
            if cut == sent:
                if fault.reset:
                    raise AbortConnection
                await emit(b"", more=False)
                return
            if fault.malformed_after == sent:
                await emit(MALFORMED_EVENT)
            if fault.error_event_after == sent:
                error = self.state.renderer.stream_error_event("Internal error while streaming")
                await emit(encode_event(fault.body if fault.body is not None else error))
                await emit(DONE_EVENT, more=False)
                return
            if sent < len(events):
                await emit(events[sent])
                if fault.affects_stream or (sent + 1) % _WRITES_BETWEEN_PAUSES == 0:
                    await asyncio.sleep(0)
        await emit(self.tail, more=False)


class DroppedResponse(Response):
    """A complete-looking response whose connection dies halfway through the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise AbortConnection


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None, *, drop: bool = False
) -> Response:
    """Compact JSON; ``drop`` cuts the connection halfway through the body."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    cls = DroppedResponse if drop else Response
    return cls(body, status_code=status, headers=dict(headers or {}), media_type="application/json")


def fault_response(state: ServerState, fault: Fault, status: int) -> Response:
    """The reply a fault's ``status`` (and ``body``, ``headers``) stands for."""
    headers = dict(fault.headers or {})
    body = fault.body
    if body is None:
        if status >= 400:
            return json_response(state.renderer.error_body(status), status, headers)
        return Response(b"", status_code=status, headers=headers)
    if isinstance(body, bytes):
        return Response(body, status_code=status, headers=headers)
    if isinstance(body, str):
        return Response(body, status_code=status, headers=headers, media_type="text/plain")
    return json_response(body, status, headers)
