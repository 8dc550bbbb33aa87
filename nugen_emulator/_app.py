"""The emulator's HTTP plumbing: the middleware stamping every response, the responses it
sends (compact JSON, SSE that faults can break, a body dropped halfway) and its fixed
bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nugen_emulator import _BASE_PATHS
from nugen_emulator._records import Fault
from nugen_emulator._wire import Generation, Renderer, encode_event

_logger = logging.getLogger("nugen_emulator")
# Deeper than any real request (a tool's JSON schema included); deeper bodies would only
# exhaust the recursion of whatever walks them next.
MAX_BODY_DEPTH = 64
DONE_EVENT = b"data: [DONE]\n\n"
MALFORMED_EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "unterminated\n\n'
_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


class AbortConnection(Exception):
    """Raised inside the app so uvicorn drops the TCP connection mid-response."""


# Keep uvicorn from logging a traceback for connections dropped on purpose.
logging.getLogger("uvicorn.error").addFilter(
    lambda record: not (record.exc_info and isinstance(record.exc_info[1], AbortConnection))
)


def with_request_id(app: ASGIApp, new_id: Callable[[str], str], renderer: Renderer) -> ASGIApp:
    """Stamps every response, errors and 404s included, with an ``x-request-id`` header;
    an emulator bug becomes a 500 in the dialect."""

    async def stamped(scope: Scope, receive: Receive, send: Send) -> None:
        # Only HTTP scopes arrive: uvicorn runs without lifespan and websockets.
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # Drawn now, once the body is read: a seeded emulator's ids depend on it.
                request_id = new_id("req_").encode()
                extra = [(b"x-request-id", request_id), (b"server", b"nugen-emulator")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        except AbortConnection:
            raise
        except ClientDisconnect:
            # The client went away before its body was complete: nothing to answer, and
            # not the emulator's failure.
            _logger.debug("client left during %s %s", scope["method"], scope["path"])
        except Exception:
            # An emulator bug must look like a server error to the client under test (in
            # the dialect, with a request id), and be visible to whoever runs the tests.
            _logger.exception("NugenEmulator failed on %s %s", scope["method"], scope["path"])
            if started:
                raise
            body = renderer.error_body(500, "NugenEmulator internal error")
            await json_response(body, 500)(scope, receive, send_with_id)

    return stamped


class SSEResponse(Response):
    """An SSE body of chunks (or events encoded already), then ``[DONE]`` and the live
    service's one chunk after it (``trailer``); sent event by event when an armed
    :class:`Fault` changes the stream."""

    def __init__(
        self,
        chunks: Sequence[Any],
        fault: Fault,
        trailer: Any = None,
        *,
        renderer: Renderer,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        # Like StreamingResponse: no body attribute, so no Content-Length (chunked).
        self.status_code = 200
        self.background = None
        self.init_headers({**_SSE_HEADERS, **(fault.headers or {})})
        self.fault, self.renderer, self.sleep = fault, renderer, sleep
        if chunks and isinstance(chunks[0], bytes):  # an EncodedStream's, sent as they are
            events, lead = chunks, 0
        else:
            events = [encode_event(chunk) for chunk in chunks]
            # Faults count chunks ("cut after k chunks"): an opening timing event is none.
            lead = next((i for i, chunk in enumerate(chunks) if "choices" in chunk), 0)
        self.lead, self.events = b"".join(events[:lead]), events[lead:]
        self.tail = DONE_EVENT + (encode_event(trailer) if trailer is not None else b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def emit(data: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        fault, events = self.fault, self.events
        if not fault.affects_stream:
            # One write: no cost per event (benchmarks), and a client that leaves early is not
            # written to again (asyncio warns from the fifth write into a closed connection).
            await emit(self.lead + b"".join(events) + self.tail, more=False)
            return
        if self.lead:
            await emit(self.lead)
        cut = fault.cut_after
        if cut is None and fault.reset:
            cut = len(events) // 2
        for sent in range(len(events) + 1):
            if fault.stall_after == sent:
                await self.sleep(fault.stall_seconds)
            if cut == sent:
                if fault.reset:
                    raise AbortConnection
                await emit(b"", more=False)
                return
            if fault.malformed_after == sent:
                await emit(MALFORMED_EVENT)
            if fault.error_event_after == sent:
                error = self.renderer.stream_error_event()
                await emit(encode_event(fault.body if fault.body is not None else error))
                await emit(DONE_EVENT, more=False)
                return
            if sent < len(events):
                await emit(events[sent])
                await asyncio.sleep(0)  # a pause, where a stream hears that its client left
        await emit(self.tail, more=False)


class _DroppedResponse(Response):
    """A complete-looking response whose connection dies halfway through the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send(start | {"headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise AbortConnection


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None, *, drop: bool = False
) -> Response:
    """Compact JSON; ``drop`` cuts the connection halfway through the body."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    cls = _DroppedResponse if drop else Response
    return cls(body, status_code=status, headers=dict(headers or {}), media_type="application/json")


def json_reply(payload: Any, fault: Fault) -> Response:
    """A 200 JSON answer; a ``reset`` fault drops the connection halfway through it."""
    return json_response(payload, 200, fault.headers, drop=fault.reset)


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def parse_body(raw: bytes) -> tuple[Any, dict[str, Any] | None]:
    """The body as JSON, and FastAPI's 422 detail when it is empty, not JSON, or nests more
    than MAX_BODY_DEPTH levels (``None`` when it is none of those)."""
    if not raw:
        return None, {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
    body: Any = None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # a UnicodeDecodeError is a ValueError
        error = (str(exc) or "maximum recursion depth exceeded").split(":")[0]
    else:
        if not _nested_deeper_than(body, MAX_BODY_DEPTH):
            return body, None
        error = f"Nesting deeper than {MAX_BODY_DEPTH} levels"
    detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}
    return body, detail | {"input": {}, "ctx": {"error": error}}


def with_call_ids(generation: Generation, new_id: Callable[[str], str]) -> Generation:
    """A copy of ``generation`` (a hook may return the same one for every request) with a
    fresh ``call_<hex>`` id on every tool call that has none."""
    choices = [
        replace(c, tool_calls=[replace(t, id=t.id or new_id("call_")) for t in c.tool_calls])
        for c in generation.choices
    ]
    return replace(generation, choices=choices)


def aligned_models(origin: str) -> list[dict[str, Any]]:
    """A fixed account's aligned models, with every documented field."""
    deployed = {
        "id": "contracts-assistant-alignment-01kx06fntz2af3b",
        "alignment_id": "01kx06fntz2af3b",
        "name": "contracts-assistant",
        "base_model": "llama-v3p2-3b-reasoning",
        "alignment_project": "contracts",
        "creator": "emulator@example.com",
        "downloadable": False,
        "evaluation_data": None,
        "conversation_saving_enabled": False,
        "created_date": "2026-01-15T09:30:00Z",
        "status": "DEPLOYED",
        "deployment_status": "DEPLOYED",
        "endpoint": f"{origin}{_BASE_PATHS['nugen']}",
        "usage_count": 42,
        "last_used": "2026-02-01T12:00:00Z",
        "performance_metrics": {"accuracy": 0.91},
    }
    undeployed = deployed | {
        "id": "alignment-01kx07q3m9b4c2d",
        "alignment_id": "01kx07q3m9b4c2d",
        "name": "clauses-draft",
        "created_date": "2026-02-03T16:45:00Z",
        "status": "UNDEPLOYED",
        "deployment_status": "UNDEPLOYED",
        "usage_count": 0,
        "last_used": None,
        "performance_metrics": {"accuracy": 0.84},
    }
    del undeployed["endpoint"]  # only a deployed model has one
    return [deployed, undeployed]
