"""NugenEmulator: a real HTTP stand-in for the Nugen API (starlette app, uvicorn thread)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nugen_emulator._faults import FAULT_FIELDS, Fault, FaultQueue
from nugen_emulator._model import (
    DEFAULT_EMBEDDING_DIMENSIONS,
    Choice,
    Generation,
    ToolCall,
    count_tokens,
    embed,
    embed_base64,
    generate_chat,
    generate_completion,
    prompt_tokens,
)
from nugen_emulator._records import RecordedRequest, RequestLog
from nugen_emulator._validation import (
    ChatRequest,
    InvalidBody,
    validate_chat,
    validate_completion,
    validate_embeddings,
)
from nugen_emulator._wire import (
    DONE_EVENT,
    Dialect,
    Renderer,
    encode_event,
    split_evenly,
)

DEFAULT_API_KEY = "test-key"
BASE_PATHS: dict[str, str] = {"nugen": "/api/v3/inference", "openai": "/v1"}
MALFORMED_EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "unterminated\n\n'
_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_LOREM = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")


class _AbortConnection(Exception):
    """Raised inside the app so uvicorn drops the TCP connection mid-response."""


class _DropAbortRecords(logging.Filter):
    """Keep uvicorn from logging a traceback for connections we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info
        return not (exc and isinstance(exc[1], _AbortConnection))


_logger = logging.getLogger("nugen_emulator")
_abort_filter = _DropAbortRecords()
logging.getLogger("uvicorn.error").addFilter(_abort_filter)


def canned_text(size: int) -> str:
    """A deterministic text of exactly ``size`` characters (for benchmark replies)."""
    words: list[str] = []
    length = 0
    i = 0
    while length < size:
        word = _LOREM[i % len(_LOREM)]
        words.append(word)
        length += len(word) + (1 if i else 0)
        i += 1
    return " ".join(words)[:size]


class _State:
    """Everything the ASGI app shares with the NugenEmulator object in the test thread."""

    def __init__(
        self,
        *,
        dialect: Dialect,
        api_key: str | None,
        seed: int | None,
        created: float | None,
        embedding_dimensions: int,
        canned_reply: str | None,
        canned_chunks: int | None,
        canned_tool_call: tuple[str, str] | None,
    ) -> None:
        self.dialect = dialect
        self.api_key = api_key
        self.renderer = Renderer(dialect, created)
        self.faults = FaultQueue()
        self.log = RequestLog()
        self.embedding_dimensions = embedding_dimensions
        self.canned_reply = canned_reply
        self.canned_chunks = canned_chunks
        self.canned_tool_call = canned_tool_call
        self._random: random.Random = (
            random.Random(seed) if seed is not None else random.SystemRandom()
        )
        # (model, include_usage, n) -> encoded events, and the chunks that carry usage
        self._canned_cache: dict[
            tuple[str, bool, int], tuple[list[bytes], list[tuple[int, dict[str, Any]]]]
        ] = {}
        self.stopping: asyncio.Event | None = None  # created in the server's event loop

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self._random.getrandbits(96):024x}"

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the emulator is stopping."""
        if seconds <= 0:
            return
        if self.stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # -- canned (benchmark) replies -------------------------------------------------------

    def canned_generation(self, request: ChatRequest) -> Generation | None:
        if self.canned_tool_call is not None:
            name, arguments = self.canned_tool_call
            choice = Choice(
                content=None,
                finish_reason="tool_calls",
                tool_calls=[ToolCall(name=name, arguments=arguments, id="call_canned")],
            )
        elif self.canned_reply is not None:
            choice = Choice(content=self.canned_reply, finish_reason="stop")
        else:
            return None
        return Generation(choices=[choice] * request.n, prompt_tokens=prompt_tokens(request))

    def canned_fragments(self) -> list[str] | None:
        if self.canned_chunks is None:
            return None
        text = self.canned_tool_call[1] if self.canned_tool_call else self.canned_reply or ""
        return split_evenly(text, self.canned_chunks)

    def canned_events(
        self, request: ChatRequest, generation: Generation, no_usage: bool
    ) -> list[bytes]:
        """Pre-encoded chunks; only the chunks that carry usage are encoded per request."""
        key = (request.model, request.include_usage, request.n)
        cached = None if no_usage else self._canned_cache.get(key)
        if cached is None:
            chunks = list(
                self.renderer.chat_chunks(
                    generation,
                    response_id="nugen-canned" if self.dialect == "nugen" else "chatcmpl-canned",
                    model=request.model,
                    include_usage=request.include_usage,
                    no_usage=no_usage,
                    fragments=self.canned_fragments(),
                )
            )
            with_usage = [(i, c) for i, c in enumerate(chunks) if c.get("usage") is not None]
            cached = ([encode_event(chunk) for chunk in chunks], with_usage)
            if not no_usage:
                self._canned_cache[key] = cached
        encoded, with_usage = cached
        events = list(encoded)
        usage = self.renderer.usage(generation)
        for i, chunk in with_usage:
            events[i] = encode_event({**chunk, "usage": usage})
        return events


# -- responses -----------------------------------------------------------------------------


class _SSEResponse(Response):
    """An SSE body sent event by event, misbehaving as an armed :class:`Fault` says."""

    def __init__(
        self,
        events: list[bytes],
        *,
        state: _State,
        fault: Fault | None,
        headers: Mapping[str, str],
        prejoin: bool = False,
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        fault = self.fault
        if fault is None or not fault.affects_stream:
            if self.prejoin:
                # Benchmarks: one write, so the server's cost per event is nil.
                body = b"".join(self.events) + DONE_EVENT
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            for event in self.events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": DONE_EVENT, "more_body": False})
            return
        await self._send_with_fault(send, fault)

    async def _send_with_fault(self, send: Send, fault: Fault) -> None:
        events = self.events
        cut = fault.cut_after
        if cut is None and fault.reset:
            cut = len(events) // 2

        async def emit(data: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": more})

        for sent in range(len(events) + 1):
            if fault.stall_after == sent:
                await self.state.sleep(fault.stall_seconds)
            if cut == sent:
                if fault.reset:
                    raise _AbortConnection
                await emit(b"", more=False)
                return
            if fault.malformed_after == sent:
                await emit(MALFORMED_EVENT)
            if fault.error_event_after == sent:
                payload = (
                    fault.body
                    if fault.body is not None
                    else self.state.renderer.stream_error_event("Internal error while streaming")
                )
                await emit(encode_event(payload))
                await emit(DONE_EVENT, more=False)
                return
            if sent < len(events):
                await emit(events[sent])
        # The loop ran past the last event: only [DONE] is left.
        await emit(DONE_EVENT, more=False)


class _DroppedResponse(Response):
    """A complete-looking response whose connection dies halfway through the body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise _AbortConnection


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None, *, drop: bool = False
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    cls = _DroppedResponse if drop else Response
    return cls(body, status_code=status, headers=dict(headers or {}), media_type="application/json")


def _fault_body(state: _State, fault: Fault, status: int) -> Response:
    headers = dict(fault.headers or {})
    body = fault.body
    if body is None:
        if status >= 400:
            return _json(state.renderer.error_body(status), status, headers)
        return Response(b"", status_code=status, headers=headers)
    if isinstance(body, bytes):
        return Response(body, status_code=status, headers=headers)
    if isinstance(body, str):
        return Response(body, status_code=status, headers=headers, media_type="text/plain")
    return _json(body, status, headers)


class _RequestIdMiddleware:
    """Stamps every response, errors and 404s included, with an ``x-request-id`` header."""

    def __init__(self, app: ASGIApp, state: _State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.state.new_id("req_")
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"x-request-id", request_id.encode()), (b"server", b"nugen-emulator")]

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except _AbortConnection:
            raise
        except Exception:
            # An emulator bug must look like a server error to the client under test (in
            # the dialect, with a request id), and be visible to whoever runs the tests.
            _logger.exception("NugenEmulator failed on %s %s", scope["method"], scope["path"])
            if started:
                raise
            body = self.state.renderer.error_body(500, "NugenEmulator internal error")
            await _json(body, 500)(scope, receive, send_with_id)


# -- the app -------------------------------------------------------------------------------


class _App:
    """The request handlers. Each handler: log, fault, auth, validate, generate, render."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def build(self) -> Starlette:
        base = BASE_PATHS[self.state.dialect]
        routes = [
            Route(f"{base}/chat/completions", self.chat, methods=["POST"]),
            Route(f"{base}/completions", self.completions, methods=["POST"]),
            Route(f"{base}/embeddings", self.embeddings, methods=["POST"]),
        ]
        if self.state.dialect == "nugen":
            routes.append(Route(f"{base}/chat/vision", self.vision, methods=["POST"]))
        return Starlette(
            routes=routes,
            middleware=[Middleware(_RequestIdMiddleware, state=self.state)],
            exception_handlers={HTTPException: self.http_error},
        )

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # Logged too: a client aimed at the wrong path should see its requests in the log.
        await self._record(request)
        body = self.state.renderer.error_body(exc.status_code, exc.detail)
        return _json(body, exc.status_code, exc.headers)

    async def chat(self, request: Request) -> Response:
        return await self._handle(request, self._chat_reply)

    async def vision(self, request: Request) -> Response:
        return await self._handle(request, self._vision_reply)

    async def completions(self, request: Request) -> Response:
        return await self._handle(request, self._completion_reply)

    async def embeddings(self, request: Request) -> Response:
        return await self._handle(request, self._embeddings_reply)

    async def _handle(
        self,
        request: Request,
        reply: Callable[[Any, Fault | None, dict[str, str]], Awaitable[Response]],
    ) -> Response:
        state = self.state
        raw, body, body_error = await self._record(request)
        path = request.url.path
        fault = state.faults.take(path)
        if fault is not None and fault.delay:
            await state.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            return _fault_body(state, fault, fault.status)
        headers = dict(fault.headers or {}) if fault is not None else {}
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        if not raw or body_error is not None:
            detail: dict[str, Any] = {
                "type": "json_invalid" if raw else "missing",
                "loc": ["body", 0] if raw else ["body"],
                "msg": "JSON decode error" if raw else "Field required",
                "input": {} if raw else None,
            }
            if body_error is not None:
                detail["ctx"] = {"error": str(body_error).split(":")[0]}
            status, error_body = state.renderer.validation_error([detail])
            return _json(error_body, status, headers)
        try:
            return await reply(body, fault, headers)
        except InvalidBody as invalid:
            status, error_body = state.renderer.validation_error(invalid.errors)
            return _json(error_body, status, headers)

    async def _record(self, request: Request) -> tuple[bytes, Any, Exception | None]:
        """Log the request; returns its raw body, parsed JSON and the JSON error if any."""
        raw = await request.body()
        body: Any = None
        body_error: Exception | None = None
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError) as exc:
            body_error = exc
        self.state.log.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                raw_body=raw,
                query=request.url.query,
            )
        )
        return raw, body, body_error

    def _check_auth(self, request: Request) -> Response | None:
        expected = self.state.api_key
        if expected is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() == expected:
            return None
        message = "Invalid API key" if token.strip() else "Not authenticated"
        return _json(
            self.state.renderer.error_body(401, message), 401, {"www-authenticate": "Bearer"}
        )

    async def _chat_reply(
        self, body: Any, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        request = validate_chat(body, openai=self.state.dialect == "openai")
        return self._chat(request, fault, headers, vision=False)

    async def _vision_reply(
        self, body: Any, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        return self._chat(validate_chat(body, vision=True), fault, headers, vision=True)

    def _chat(
        self, request: ChatRequest, fault: Fault | None, headers: dict[str, str], *, vision: bool
    ) -> Response:
        state = self.state
        no_usage = fault is not None and fault.no_usage
        drop = fault is not None and fault.reset
        canned = state.canned_generation(request)
        generation = canned if canned is not None else generate_chat(request)
        if canned is None:
            for choice in generation.choices:
                for call in choice.tool_calls:
                    call.id = state.new_id("call_")
        prefix = "nugen-" if state.dialect == "nugen" else "chatcmpl-"
        # /chat/vision is documented as non-streaming: like FastAPI, it ignores ``stream``.
        if request.stream and not vision:
            if canned is not None:
                events = state.canned_events(request, generation, no_usage)
                return _SSEResponse(events, state=state, fault=fault, headers=headers, prejoin=True)
            chunks = state.renderer.chat_chunks(
                generation,
                response_id=state.new_id(prefix),
                model=request.model,
                include_usage=request.include_usage,
                no_usage=no_usage,
            )
            events = [encode_event(chunk) for chunk in chunks]
            return _SSEResponse(events, state=state, fault=fault, headers=headers)
        payload = state.renderer.chat_body(
            generation,
            response_id=state.new_id(prefix),
            model=request.model,
            vision=vision,
            no_usage=no_usage,
        )
        return _json(payload, 200, headers, drop=drop)

    async def _completion_reply(
        self, body: Any, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        state = self.state
        request = validate_completion(body, openai=state.dialect == "openai")
        no_usage = fault is not None and fault.no_usage
        generation = generate_completion(request)
        response_id = state.new_id("cmpl-")
        if request.stream:
            chunks = state.renderer.completion_chunks(
                generation,
                response_id=response_id,
                model=request.model,
                include_usage=request.include_usage,
                no_usage=no_usage,
            )
            events = [encode_event(chunk) for chunk in chunks]
            return _SSEResponse(events, state=state, fault=fault, headers=headers)
        payload = state.renderer.completion_body(
            generation, response_id=response_id, model=request.model, no_usage=no_usage
        )
        return _json(payload, 200, headers, drop=fault is not None and fault.reset)

    async def _embeddings_reply(
        self, body: Any, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        state = self.state
        request = validate_embeddings(body)
        dimensions = request.dimensions or state.embedding_dimensions
        encode = embed_base64 if request.encoding_format == "base64" else embed
        vectors: list[Any] = [encode(text, dimensions) for text in request.inputs]
        tokens = sum(count_tokens(text) for text in request.inputs)
        payload = state.renderer.embeddings_body(
            vectors,
            model=request.model,
            tokens=tokens,
            no_usage=fault is not None and fault.no_usage,
        )
        return _json(payload, 200, headers, drop=fault is not None and fault.reset)


class _UvicornServer(uvicorn.Server):
    """uvicorn.Server that tells the emulator when it is listening, and on which loop."""

    def __init__(
        self, config: uvicorn.Config, on_started: Callable[[asyncio.AbstractEventLoop], None]
    ) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._on_started(asyncio.get_running_loop())


class NugenEmulator:
    """A real HTTP server that behaves like the Nugen inference API, for tests and demos.

    It listens on loopback (a random free port unless ``port`` is given), validates
    requests the way the service documents them, answers deterministically, can be told to
    misbehave (:class:`Fault`), and records every request it receives. It is a stand-in:
    it checks wire-format handling, not model quality.

    Usage::

        from nugen_emulator import NugenEmulator

        with NugenEmulator() as emu:  # or emu = NugenEmulator().start(); ...; emu.stop()
            client = NugenClient(api_key=emu.api_key, base_url=emu.base_url)
            reply = client.chat_completion(model="nugen-flash-instruct", messages=[...])
            assert emu.last_request.body["temperature"] == 0.2
            emu.inject(status=429, headers={"Retry-After": "0"}, times=2)

    In pytest, the ``nugen_emulator`` / ``nugen_emulator_openai`` fixtures (installed with
    the package) give a shared, reset-per-test instance; see
    :mod:`nugen_emulator.pytest_plugin`. From a shell:
    ``python -m nugen_emulator --port 8000 --dialect nugen``.

    Dialects:
        ``"nugen"`` (base path ``/api/v3/inference``): the provider's own shapes: float
        ``created`` (on ``/chat/vision`` ten times too large, as in the provider's
        example), no ``object`` on vision replies and stream chunks, ``confidence_score``
        for the domain-aligned models ``nugen-legal``, ``nugen-lvm-legal`` and
        ``nugen-embed-legal``, reasoning in ``reasoning_content``, usage always on the
        final stream chunk (together with the last ``finish_reason``), errors as FastAPI's
        ``{"detail": [...]}`` (422) or ``{"detail": "..."}``.
        ``"openai"`` (base path ``/v1``): an OpenAI-compatible host such as NebulaBlock:
        ``object``, integer ``created``, ``system_fingerprint``, ``service_tier``,
        ``prompt_logprobs``, null ``*_tokens_details``, reasoning in ``reasoning``, a
        separate final chunk for ``finish_reason`` and a usage chunk (empty ``choices``)
        only when ``stream_options.include_usage`` is true, errors as
        ``{"error": {"message", "type", "param", "code"}}``; invalid bodies get 400 (as
        vLLM-based hosts answer) rather than 422. There is no ``/chat/vision``.

    Endpoints (under ``base_url``): ``POST /chat/completions`` (JSON or SSE with
    ``stream``), ``POST /chat/vision`` (nugen only; documented as non-streaming, so like
    the real FastAPI service it ignores ``stream`` and other undocumented fields such as
    ``tools``, and always answers with one JSON completion), ``POST /embeddings``,
    ``POST /completions`` (``prompt`` instead of ``messages``). Every response carries an
    ``x-request-id`` header.

    Validation (before anything is generated): a missing or wrong bearer key gives 401
    (``Not authenticated`` / ``Invalid API key``; pass ``api_key=None`` to accept any).
    Then 422 with one ``detail`` entry per problem (``loc``, ``msg``, ``type`` as FastAPI
    + pydantic v2 write them): missing ``model``; missing or empty ``messages``; a role
    other than system/user/assistant/tool; missing content (an assistant turn may carry
    only ``tool_calls``); a tool message without ``tool_call_id``; ``name`` not matching
    ``^[A-Za-z0-9_]{1,64}$``; content parts other than ``text`` / ``image_url``; image
    URLs that are neither ``https://`` nor a decodable ``data:image/...;base64,`` URL;
    ``temperature`` outside 0..2, ``top_p`` outside 0..1, ``max_tokens``/``n`` < 1;
    malformed ``tools``; a ``tool_choice`` naming a tool not in ``tools``; a malformed
    ``response_format`` or ``reasoning``; in the openai dialect, ``stream_options`` without
    ``stream``. Numbers
    and booleans are coerced like pydantic's lax mode (``"max_tokens": "2000"`` is fine);
    undocumented fields are ignored.

    The deterministic model (same request, same answer):
        Tokens are whitespace-separated words. ``prompt_tokens`` = for each message 1 +
        its words + 1 per image (+ tool-call argument words), plus the words of the JSON
        of the offered tools, capped at ``prompt_truncate_len`` (default 1500);
        ``completion_tokens`` counts the reply's words, each tool call's argument words
        + 1, and reasoning words; ``total_tokens`` is their sum. Usage is never null
        unless a fault asks for it.

        Text: ``You asked: "<the last user message>".`` (quoted, cut at 60 words),
        followed, when they apply, by a description of every image in the request
        (``I received 2 images: image 1 is image/png, 68 bytes (inline base64); image 2
        is a URL image hosted at example.com.``: nothing is fetched), ``Earlier you said:
        "<the previous user message>".`` and ``The system prompt says: "<...>".``. With
        ``n`` > 1, choice *i* > 0 starts with ``(Alternative i+1)``. ``stop`` cuts the text
        at the first stop sequence (``finish_reason="stop"``); ``max_tokens`` keeps the
        first ``max_tokens`` words (``finish_reason="length"``).

        Tools: with tools offered and ``tool_choice`` not ``"none"``, the model calls
        (``finish_reason="tool_calls"``, ids ``call_<hex>``, ``content`` null):
        the named tool when ``tool_choice`` is ``{"type": "function", "function":
        {"name": ...}}`` (always, as a forced choice is); otherwise the tools the last user
        message mentions, in order of mention, that have not been called since that
        message; with ``"required"`` and none left, the first offered tool not called
        yet (else the first tool). A tool is mentioned when its exact name appears as a
        word (``use get_weather``), or when every meaningful word of its name appears
        (``weather`` for ``get_weather``; generic verbs like get/fetch/search/compute
        do not count). One call per turn, so an agent told to use two tools calls the
        first, then (after its result) the second, then answers in text; all of them at
        once when the request sets ``parallel_tool_calls: true``. When no call is due it
        answers in text; after tool results it quotes them: ``The get_weather tool
        returned: "It's sunny.".`` (and describes images in tool results).

        Arguments satisfy the tool's JSON schema (``$ref``/``$defs``, ``anyOf``/
        ``oneOf`` (first non-null), ``allOf``, nested objects, arrays, enums, ``const``,
        min/max bounds, string ``format``), filling every property, in schema order, from
        literals in the last user message and any tool results after it: numbers in
        order of appearance for number/integer; quoted text and capitalised phrases that
        do not start a sentence, in order of appearance, for strings (``"in New York"``
        gives ``"New York"``); enum values the text mentions; ``true``/``false``/``yes``/
        ``no`` for booleans. An array of scalars takes every matching literal left once
        the other fields are filled. Values an earlier tool call already received since
        the last user message are not reused, so each call of a multi-tool request gets
        its own. Without a literal: the schema's default, else 1 (within bounds) for
        numbers, ``false``, ``"sample <property name>"``, or a fixed value for
        ``date``/``date-time``/``email``/``uri``/``uuid`` formats. Patterns are not
        honoured.

        Structured output: ``response_format={"type": "json_schema", "json_schema":
        {"schema": ...}}`` answers with JSON satisfying the schema (same generator);
        ``{"type": "json_object"}`` answers with an object whose keys are the words the
        prompt puts in quotes or backticks (``'setup'`` and ``'punchline'``), string
        values, or ``{"answer": <the text reply>}`` when it names none.

        Reasoning: ``reasoning`` with ``enabled: true``, an ``effort`` other than
        ``"none"``, or ``max_tokens`` makes the model reason: a short plan whose length
        grows with effort (cut to ``reasoning.max_tokens`` words), returned as
        ``reasoning_content`` (nugen) / ``reasoning`` (openai) unless ``exclude`` is true,
        and always counted in ``usage.completion_tokens_details.reasoning_tokens``.

        Streaming: ``data: {chunk}`` events then ``data: [DONE]``. Reasoning and content
        arrive one word per chunk, tool-call arguments in 8-character fragments after a
        first fragment with ``id``/``name``; the first chunk of each choice has
        ``role``; choices of ``n`` > 1 are interleaved; ``finish_reason`` appears once per
        choice, on its last chunk; usage as the dialect does (see above).

        Embeddings: unit-norm vectors derived from a hash of each text (identical texts,
        identical vectors; similar texts are not similar), ``dimensions`` honoured
        (default ``embedding_dimensions``, 384), ``encoding_format="base64"`` supported.

    Benchmarks: ``canned_reply`` (a text, or an int for a generated text of that many
    characters) makes every chat reply that text, streamed in ``canned_chunks`` equal
    pieces; ``canned_tool_call=(name, arguments_json)`` makes every reply that tool call
    with the arguments in ``canned_chunks`` fragments. Canned streams are encoded once
    (same id and ``created`` each time; only the usage chunk is re-encoded) and sent in
    one write, so the server costs next to nothing per event. Run the emulator in another
    process (the CLI) when measuring client CPU, since a thread shares the GIL.

    Args:
        dialect: ``"nugen"`` or ``"openai"``.
        host: Interface to listen on (loopback by default).
        port: TCP port; 0 picks a free one (read it back from :attr:`port`).
        api_key: The bearer key clients must send; ``None`` accepts any request.
        seed: Seed for ids (``x-request-id``, completion and tool-call ids); ``None``
            gives random ids. With a seed and sequential requests, ids repeat run to run.
        created: A fixed ``created`` timestamp (byte-stable recordings); ``None`` = now.
        embedding_dimensions: Vector size when a request does not set ``dimensions``.
        canned_reply: See Benchmarks.
        canned_chunks: See Benchmarks; ``None`` streams canned text word by word.
        canned_tool_call: See Benchmarks.
        access_log: Let uvicorn log one line per request.
        startup_timeout: Seconds :meth:`start` waits for the server to listen.
    """

    def __init__(
        self,
        dialect: Literal["nugen", "openai"] = "nugen",
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = DEFAULT_API_KEY,
        *,
        seed: int | None = None,
        created: float | None = None,
        embedding_dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS,
        canned_reply: str | int | None = None,
        canned_chunks: int | None = None,
        canned_tool_call: tuple[str, str] | None = None,
        access_log: bool = False,
        startup_timeout: float = 10.0,
    ) -> None:
        if dialect not in BASE_PATHS:
            raise ValueError(f"dialect must be 'nugen' or 'openai', got {dialect!r}")
        if canned_chunks is not None and canned_chunks < 1:
            raise ValueError("canned_chunks must be >= 1")
        if embedding_dimensions < 1:
            raise ValueError("embedding_dimensions must be >= 1")
        if canned_tool_call is not None:
            json.loads(canned_tool_call[1])  # fail now, not in the server thread
        self._host = host
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._access_log = access_log
        self._state = _State(
            dialect=dialect,
            api_key=api_key,
            seed=seed,
            created=created,
            embedding_dimensions=embedding_dimensions,
            canned_reply=(
                canned_text(canned_reply) if isinstance(canned_reply, int) else canned_reply
            ),
            canned_chunks=canned_chunks,
            canned_tool_call=canned_tool_call,
        )
        self._app = _App(self._state).build()
        self._lock = threading.Lock()
        self._server: _UvicornServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> NugenEmulator:
        """Bind the port, start serving in a background thread, and wait until it listens."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("NugenEmulator is already running")
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
            # proto says TCP, and Nagle + delayed ACK would add ~40 ms to every reply.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self._host, self._requested_port))
            except OSError:
                sock.close()
                raise
            self._socket = sock
            self._port = int(sock.getsockname()[1])
            started = threading.Event()

            def on_started(loop: asyncio.AbstractEventLoop) -> None:
                self._loop = loop
                self._state.stopping = asyncio.Event()
                started.set()

            config = uvicorn.Config(
                self._app,
                log_config=None,
                access_log=self._access_log,
                lifespan="off",
                http="h11",
                ws="none",
                loop="asyncio",
                server_header=False,
                timeout_graceful_shutdown=1,
            )
            server = _UvicornServer(config, on_started)
            self._server = server

            def run() -> None:
                try:
                    server.run(sockets=[sock])
                except BaseException as exc:  # reported by start()/stop(), not lost
                    self._error = exc
                finally:
                    started.set()

            thread = threading.Thread(target=run, name=f"NugenEmulator:{self._port}", daemon=True)
            self._thread = thread
            thread.start()
        if not started.wait(self._startup_timeout) or self._loop is None:
            error = self._error
            self.stop()
            raise RuntimeError(f"NugenEmulator did not start: {error!r}") from error
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; idempotent, safe after a failed start."""
        with self._lock:
            server, thread, loop, sock = self._server, self._thread, self._loop, self._socket
            self._server = self._thread = self._loop = self._socket = None
        if server is not None:
            server.should_exit = True
            stopping = self._state.stopping
            if loop is not None and stopping is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed in between
                    loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        if sock is not None:
            sock.close()
        self._state.stopping = None

    def __enter__(self) -> NugenEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- addresses ------------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self._state.dialect

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The TCP port (known once started, or when a fixed port was asked for)."""
        if self._port is not None:
            return self._port
        if self._requested_port:
            return self._requested_port
        raise RuntimeError("NugenEmulator has no port yet: call start() first")

    @property
    def url(self) -> str:
        """``http://host:port`` without the API base path."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a client takes as ``base_url``: ``url`` + ``/api/v3/inference`` or ``/v1``."""
        return self.url + BASE_PATHS[self._state.dialect]

    @property
    def api_key(self) -> str:
        """The key clients must send (a placeholder when any key is accepted)."""
        return self._state.api_key if self._state.api_key is not None else "any-key"

    # -- faults and the request log -------------------------------------------------------

    def inject(self, fault: Fault | None = None, /, *, times: int = 1, **fields: Any) -> Fault:
        """Arm a fault for the next ``times`` matching requests; returns the fault.

        ``emu.inject(Fault(status=429, headers={"Retry-After": "1"}), times=2)`` or, the
        same in short, ``emu.inject(status=429, headers={"Retry-After": "1"}, times=2)``.
        Faults are consumed first-in first-out, one per matching request.
        """
        if fault is not None and fields:
            raise TypeError("pass either a Fault or its fields as keywords, not both")
        unknown = set(fields) - FAULT_FIELDS
        if unknown:
            raise TypeError(f"unknown Fault field(s): {', '.join(sorted(unknown))}")
        armed = fault if fault is not None else Fault(**fields)
        self._state.faults.add(armed, times)
        return armed

    @property
    def pending_faults(self) -> int:
        """Fault activations armed but not yet consumed."""
        return self._state.faults.pending()

    def reset(self) -> None:
        """Forget armed faults and recorded requests (the pytest fixtures do this per test)."""
        self._state.faults.clear()
        self._state.log.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the start or the last :meth:`reset`, oldest first."""
        return self._state.log.snapshot()

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or ``None``."""
        return self._state.log.last()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"NugenEmulator(dialect={self.dialect!r}, {where})"
