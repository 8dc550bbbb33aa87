"""The emulator's ASGI app. Every request: record it, take an armed fault, check the key,
validate the body, generate (or ask the ``chat_reply`` hook), render in the dialect."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nugen_emulator import _BASE_PATHS
from nugen_emulator._model import embedding, generate_chat, generate_completion, rerank_body
from nugen_emulator._records import Fault, RecordedRequest, RequestLog
from nugen_emulator._validation import (
    ChatBody,
    InvalidBody,
    as_list,
    validate_chat,
    validate_completion,
    validate_embeddings,
    validate_rerank,
)
from nugen_emulator._wire import Generation, Renderer, count_tokens, encode_event
from nugen_emulator.replies import ChatCall, ChatReplyHook, EncodedStream, HookError, ask_hook

_logger = logging.getLogger("nugen_emulator")
# Deeper than any real request (a tool's JSON schema included); deeper bodies would only
# exhaust the recursion of whatever walks them next.
MAX_BODY_DEPTH = 64
DONE_EVENT = b"data: [DONE]\n\n"
MALFORMED_EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "unterminated\n\n'
_NO_FAULT = Fault()
_SLEEP_STEP = 0.05  # how soon a sleeping request notices that the emulator stops
_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
# The id source of the request being answered (seeded emulators only): each request task
# runs in its own context, so concurrent requests never share one.
_request_ids: ContextVar[random.Random | None] = ContextVar("request_ids", default=None)
Reply = Callable[[Any, Fault], Awaitable[Response]]


class AbortConnection(Exception):
    """Raised inside the app so uvicorn drops the TCP connection mid-response."""


# Keep uvicorn from logging a traceback for connections dropped on purpose.
logging.getLogger("uvicorn.error").addFilter(
    lambda record: not (record.exc_info and isinstance(record.exc_info[1], AbortConnection))
)


@dataclass
class ServerState:
    """One emulator's configuration, armed faults, request log and id source, and the
    handlers answering with them (:attr:`app`)."""

    renderer: Renderer
    api_key: str | None
    seed: int | None
    embedding_dimensions: int
    latency: tuple[float, float] | None
    log: RequestLog
    chat_reply: ChatReplyHook | None = None  # set by NugenEmulator, which checks it
    faults: list[Fault] = field(default_factory=list)  # one entry per activation, in order
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.dialect = self.renderer.dialect
        self._random = random.Random(self.seed) if self.seed is not None else random.SystemRandom()
        self._lock = threading.Lock()  # the faults and the requests seen (shared with tests)
        self._seen: dict[bytes, int] = {}
        self.app = self._app()

    # -- faults, ids and time -------------------------------------------------------------

    def begin_request(self, method: str, path: str, raw_body: bytes) -> None:
        """With a seed, draw this request's ids from the request itself (and how many
        identical ones came before), not from the order concurrent requests arrived in."""
        if self.seed is None:
            return
        key = hashlib.sha256(f"{self.seed}|{method}|{path}|".encode() + raw_body).digest()
        with self._lock:
            repeat = self._seen[key] = self._seen.get(key, -1) + 1
        _request_ids.set(random.Random(key + repeat.to_bytes(8, "big")))

    def arm(self, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            self.faults += [fault] * times

    def take_fault(self, path: str) -> Fault:
        """Consume one activation of the oldest fault matching ``path`` (if none, no fault)."""
        with self._lock:
            found = next((i for i, fault in enumerate(self.faults) if fault.matches(path)), None)
            return _NO_FAULT if found is None else self.faults.pop(found)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self._seen.clear()
        self.log.clear()

    def new_id(self, prefix: str) -> str:
        source = _request_ids.get() or self._random
        return f"{prefix}{source.getrandbits(96):024x}"

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up soon when the emulator is stopping."""
        deadline = time.monotonic() + seconds
        # Polled: stop() sets it from the test's thread, outside the server's event loop.
        while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, _SLEEP_STEP))

    # -- routing --------------------------------------------------------------------------

    def _app(self) -> Starlette:
        base = _BASE_PATHS[self.dialect]
        replies: dict[str, Reply] = {
            "/chat/completions": self._chat,
            "/completions": self._completions,
            "/embeddings": self._embeddings,
            "/reranker": self._rerank,
        }
        if self.dialect == "nugen":
            replies["/chat/vision"] = partial(self._chat, vision=True)
        routes = [
            Route(base + path, partial(self._handle, reply=reply), methods=["POST"])
            for path, reply in replies.items()
        ]
        if self.dialect == "nugen":
            # A sibling of the inference base: /api/v3/models/aligned.
            models = base.rsplit("/", 1)[0] + "/models/aligned"
            routes.append(Route(models, self._aligned_models, methods=["GET"]))
        return Starlette(
            routes=routes,
            middleware=[Middleware(_with_request_id, state=self)],
            exception_handlers={HTTPException: self._http_error},
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # Logged too: a client aimed at the wrong path should see its requests in the log.
        await self._record(request)
        body = self.renderer.error_body(exc.status_code, exc.detail)
        return json_response(body, exc.status_code, exc.headers)

    async def _handle(self, request: Request, reply: Reply, *, needs_body: bool = True) -> Response:
        raw, body, body_error = await self._record(request)
        fault = self.take_fault(request.url.path)
        await self.sleep(fault.delay)
        if fault.status is not None:  # with its body (or the dialect's error body), headers
            status, headers, payload = fault.status, dict(fault.headers or {}), fault.body
            if payload is None and status >= 400:
                payload = self.renderer.error_body(status)
            if payload is not None and not isinstance(payload, (bytes, str)):
                return json_response(payload, status, headers)
            text = "text/plain" if isinstance(payload, str) else None
            return Response(payload or b"", status_code=status, headers=headers, media_type=text)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if self.api_key is not None and not (
            scheme.lower() == "bearer" and token.strip() == self.api_key
        ):
            message = "Invalid API key" if token.strip() else "Not authenticated"
            body = self.renderer.error_body(401, message)
            return json_response(body, 401, {"www-authenticate": "Bearer"})
        try:
            if needs_body and (not raw or body_error is not None):
                raise InvalidBody([_body_error(raw, body_error)])
            return await reply(body, fault)
        except InvalidBody as invalid:
            status, error_body = self.renderer.validation_error(invalid)
            return json_response(error_body, status, fault.headers)
        except HookError as failed:
            _logger.error("%s", failed, exc_info=failed.__cause__)
            return json_response(self.renderer.error_body(500, str(failed)), 500, fault.headers)

    async def _record(self, request: Request) -> tuple[bytes, Any, Exception | None]:
        """Log the request; returns its raw body, parsed JSON and the JSON error if any."""
        raw = await request.body()
        received_at = time.monotonic()
        body: Any = None
        body_error: Exception | None = None
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            body_error = exc
        if _nested_deeper_than(body, MAX_BODY_DEPTH):
            body_error = ValueError(f"Nesting deeper than {MAX_BODY_DEPTH} levels")
        method, path = request.method, request.url.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = request.url.query
        self.log.append(RecordedRequest(method, path, headers, body, raw, query, received_at))
        self.begin_request(method, path, raw)
        return raw, body, body_error

    # -- endpoints ------------------------------------------------------------------------

    async def _aligned_models(self, request: Request) -> Response:
        origin = str(request.base_url).rstrip("/")

        async def reply(body: Any, fault: Fault) -> Response:
            return _json({"domain_aligned_models": aligned_models(origin)}, fault)

        return await self._handle(request, reply, needs_body=False)

    def _ask(
        self, request: ChatBody, body: Any, fault: Fault, **call: Any
    ) -> Generation | EncodedStream | None:
        """The ``chat_reply`` hook's answer, when there is a hook."""
        if self.chat_reply is None:
            return None
        no_usage = fault.no_usage
        chat = ChatCall(
            request, body, renderer=self.renderer, new_id=self.new_id, no_usage=no_usage, **call
        )
        return ask_hook(self.chat_reply, chat)

    async def _chat(self, body: Any, fault: Fault, *, vision: bool = False) -> Response:
        renderer = self.renderer
        request = validate_chat(body, vision=vision, openai=renderer.openai)
        # /chat/vision is documented as non-streaming: like FastAPI, it ignores ``stream``.
        stream = bool(request.stream) and not vision
        reply = self._ask(request, body, fault, vision=vision)
        if isinstance(reply, EncodedStream):
            if not stream:
                raise HookError(self.chat_reply, "returned an EncodedStream for a JSON reply")
            return SSEResponse(self, list(reply.events), fault)
        generation = with_call_ids(reply or generate_chat(request), self.new_id)
        # What every rendering of this answer takes.
        rendering = (generation, request, self.new_id(renderer.chat_id_prefix), fault.no_usage)
        if not stream:
            return _json(renderer.chat_body(*rendering, vision), fault)
        chunks = renderer.chat_chunks(*rendering)
        # Faults count chunks ("cut after k chunks"): the opening timing event is none.
        lead = next((i for i, chunk in enumerate(chunks) if "choices" in chunk), 0)
        trailer = renderer.chat_trailer(*rendering)
        return SSEResponse(
            self,
            [encode_event(chunk) for chunk in chunks[lead:]],
            fault,
            lead=b"".join(encode_event(chunk) for chunk in chunks[:lead]),
            after_done=encode_event(trailer) if trailer is not None else b"",
        )

    async def _completions(self, body: Any, fault: Fault) -> Response:
        renderer = self.renderer
        request = validate_completion(body, openai=renderer.openai)

        def answer(prompt: ChatBody) -> Generation:
            reply = self._ask(prompt, body, fault, vision=False, endpoint="completions")
            if isinstance(reply, EncodedStream):
                raise HookError(self.chat_reply, "returned an EncodedStream for a text completion")
            return reply or generate_chat(prompt)

        generation = generate_completion(request, answer)
        # The live service's completion ids start like its chat ids.
        response_id = self.new_id("cmpl-" if renderer.openai else "chatcmpl-")
        rendering = (generation, request, response_id, fault.no_usage)
        if request.stream:
            chunks = renderer.completion_chunks(*rendering)
            return SSEResponse(self, [encode_event(chunk) for chunk in chunks], fault)
        return _json(renderer.completion_body(*rendering), fault)

    async def _embeddings(self, body: Any, fault: Fault) -> Response:
        request = validate_embeddings(body)
        inputs: list[str] = as_list(request.input)
        if self.latency is not None:
            per_request, per_input = self.latency
            await self.sleep(per_request + per_input * len(inputs))
        dimensions = request.dimensions or self.embedding_dimensions
        payload = self.renderer.embeddings_body(
            [embedding(text, dimensions, request.encoding_format) for text in inputs],
            model=request.model,
            tokens=sum(count_tokens(text) for text in inputs),
            no_usage=fault.no_usage,
        )
        return _json(payload, fault)

    async def _rerank(self, body: Any, fault: Fault) -> Response:
        return _json(rerank_body(validate_rerank(body)), fault)


def _with_request_id(app: ASGIApp, state: ServerState) -> ASGIApp:
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
                request_id = state.new_id("req_").encode()
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
            body = state.renderer.error_body(500, "NugenEmulator internal error")
            await json_response(body, 500)(scope, receive, send_with_id)

    return stamped


class SSEResponse(Response):
    """An SSE body, sent event by event when an armed :class:`Fault` changes the stream."""

    def __init__(
        self,
        state: ServerState,
        events: list[bytes],
        fault: Fault,
        *,
        lead: bytes = b"",
        after_done: bytes = b"",
    ) -> None:
        # Like StreamingResponse: no body attribute, so no Content-Length (chunked).
        self.status_code = 200
        self.background = None
        self.init_headers({**_SSE_HEADERS, **(fault.headers or {})})
        self.state, self.events, self.fault = state, events, fault
        self.lead = lead  # sent before ``events``, not counted by faults (a timing event)
        self.tail = DONE_EVENT + after_done  # the live service sends one more after [DONE]

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
                await self.state.sleep(fault.stall_seconds)
            if cut == sent:
                if fault.reset:
                    raise AbortConnection
                await emit(b"", more=False)
                return
            if fault.malformed_after == sent:
                await emit(MALFORMED_EVENT)
            if fault.error_event_after == sent:
                error = self.state.renderer.stream_error_event()
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


def _json(payload: Any, fault: Fault) -> Response:
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


def _body_error(raw: bytes, error: Exception | None) -> dict[str, Any]:
    """FastAPI's detail for an empty body, or one that is not JSON (or nests too deep)."""
    if not raw:
        return {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
    message = (str(error) or "maximum recursion depth exceeded").split(":")[0]
    detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}
    return detail | {"input": {}, "ctx": {"error": message}}


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
