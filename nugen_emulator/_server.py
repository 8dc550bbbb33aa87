"""NugenEmulator: the public object, the uvicorn thread that serves it, and its ASGI app.
Every request: record it, take an armed fault, check the key, validate the body, generate
(or ask the ``chat_reply`` hook), render in the dialect."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from functools import partial
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nugen_emulator import _BASE_PATHS, DEFAULT_API_KEY
from nugen_emulator._model import embedding, generate_chat, generate_completion, rerank_body
from nugen_emulator._prompts import templates
from nugen_emulator._records import (
    DEFAULT_LOG_LIMIT,
    FAULT_FIELDS,
    Fault,
    RecordedRequest,
    RequestLog,
)
from nugen_emulator._validation import (
    ChatBody,
    InvalidBody,
    as_list,
    validate_chat,
    validate_completion,
    validate_embeddings,
    validate_rerank,
)
from nugen_emulator._wire import Dialect, Generation, Renderer, count_tokens, encode_event
from nugen_emulator.replies import ChatCall, ChatReplyHook, EncodedStream, HookError

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


class NugenEmulator:
    """A real HTTP server that behaves like the Nugen inference API, for tests and demos
    (what it answers, and each parameter: docs/emulator.md).

    Usage::

        with NugenEmulator() as emu:  # or emu = NugenEmulator().start(); ...; emu.stop()
            client = NugenClient(api_key=emu.api_key, base_url=emu.base_url)
            ...
            assert emu.last_request.body["temperature"] == 0.2
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
        embedding_dimensions: int = 384,
        latency: tuple[float, float] | None = None,
        chat_reply: ChatReplyHook | None = None,
        forms: Literal["live", "reference"] = "live",
        served_model: str | Callable[[str], str] | None = None,
        request_log_limit: int = DEFAULT_LOG_LIMIT,
        access_log: bool = False,
        startup_timeout: float = 10.0,
    ) -> None:
        if dialect not in _BASE_PATHS:
            raise ValueError(f"dialect must be 'nugen' or 'openai', got {dialect!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535 (0: any free port), got {port!r}")
        if embedding_dimensions < 1:
            raise ValueError("embedding_dimensions must be >= 1")
        if forms not in ("live", "reference"):
            raise ValueError(f"forms must be 'live' or 'reference', got {forms!r}")
        if latency is not None and (len(latency) != 2 or min(latency) < 0):
            raise ValueError(f"latency must be (per_request, per_input) >= 0, got {latency!r}")
        if request_log_limit < 1:
            raise ValueError(f"request_log_limit must be >= 1, got {request_log_limit!r}")
        self._host = host
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._access_log = access_log
        self._renderer = Renderer(dialect, created, forms=forms, served_model=served_model)
        self._api_key = api_key
        self._seed = seed
        self._embedding_dimensions = embedding_dimensions
        self._latency = latency
        self._log = RequestLog(request_log_limit)
        self._faults: list[Fault] = []  # one entry per activation, in order
        # The faults and the requests seen (shared with tests); _lock guards start and stop.
        self._faults_lock = threading.Lock()
        self._seen: dict[bytes, int] = {}
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._stopping = threading.Event()
        self._app = self._routes()
        self.chat_reply = chat_reply
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # A knob set on a built emulator would otherwise be silently ignored.
        if not name.startswith("_") and name != "chat_reply":
            raise AttributeError(f"NugenEmulator.{name} cannot be set")
        super().__setattr__(name, value)

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
                # A restart listens where the emulator was: clients keep their base URL.
                sock.bind((self._host, self._port or self._requested_port))
                # The template table imports the frameworks' template modules: seconds of
                # work that must not fall on a request and its client's timeout.
                templates()
            except BaseException:
                sock.close()
                raise
            self._socket = sock
            self._port = int(sock.getsockname()[1])
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
            server = self._server = uvicorn.Server(config)
            self._stopping.clear()

            def run() -> None:
                try:
                    server.run(sockets=[sock])
                except BaseException as exc:  # reported by start()/stop(), not lost
                    self._error = exc

            thread = threading.Thread(target=run, name=f"NugenEmulator:{self._port}", daemon=True)
            self._thread = thread
            thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        if not server.started:
            error = self._error
            self.stop()
            raise RuntimeError(f"NugenEmulator did not start: {error!r}") from error
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; idempotent, safe after a failed start."""
        with self._lock:
            server, thread, sock = self._server, self._thread, self._socket
            self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
            self._stopping.set()  # wakes up sleeping requests
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        if sock is not None:
            sock.close()

    def __enter__(self) -> NugenEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- addresses ------------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self._renderer.dialect

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
        return self.url + _BASE_PATHS[self.dialect]

    @property
    def api_key(self) -> str:
        """The key clients must send (a placeholder when any key is accepted)."""
        return self._api_key if self._api_key is not None else "any-key"

    # -- faults and the request log -------------------------------------------------------

    def inject(self, fault: Fault | None = None, /, *, times: int = 1, **fields: Any) -> Fault:
        """Arm a fault (a :class:`Fault`, or its fields as keywords) for the next ``times``
        matching requests, first in first out; returns the fault."""
        if fault is not None and fields:
            raise TypeError("pass either a Fault or its fields as keywords, not both")
        unknown = set(fields) - FAULT_FIELDS
        if unknown:
            raise TypeError(f"unknown Fault field(s): {', '.join(sorted(unknown))}")
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        armed = fault if fault is not None else Fault(**fields)
        with self._faults_lock:
            self._faults += [armed] * times
        return armed

    @property
    def pending_faults(self) -> int:
        """Fault activations armed but not yet consumed."""
        return len(self._faults)

    @property
    def chat_reply(self) -> ChatReplyHook | None:
        """The hook replacing the model's chat replies; settable while the emulator runs
        (the pytest fixtures set it back to ``None`` before each test)."""
        return self._chat_reply

    @chat_reply.setter
    def chat_reply(self, hook: ChatReplyHook | None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError(f"chat_reply must be callable or None, got {hook!r}")
        self._chat_reply = hook

    def reset(self) -> None:
        """Forget armed faults and recorded requests (the pytest fixtures do this per test)."""
        with self._faults_lock:
            self._faults.clear()
            self._seen.clear()
        self._log.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received since the start or the last :meth:`reset`, oldest first
        (the last ``request_log_limit`` of them)."""
        return self._log.snapshot()

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or ``None``."""
        log = self._log.snapshot()
        return log[-1] if log else None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"NugenEmulator(dialect={self.dialect!r}, {where})"

    # -- the app ----------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        source = _request_ids.get() or self._random
        return f"{prefix}{source.getrandbits(96):024x}"

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up soon when the emulator is stopping."""
        deadline = time.monotonic() + seconds
        # Polled: stop() sets it from the test's thread, outside the server's event loop.
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, _SLEEP_STEP))

    def _routes(self) -> Starlette:
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
        body = self._renderer.error_body(exc.status_code, exc.detail)
        return json_response(body, exc.status_code, exc.headers)

    async def _handle(self, request: Request, reply: Reply, *, needs_body: bool = True) -> Response:
        raw, body, body_error = await self._record(request)
        with self._faults_lock:  # the oldest armed fault matching the path, if any
            path = request.url.path
            found = next((i for i, f in enumerate(self._faults) if f.matches(path)), None)
            fault = _NO_FAULT if found is None else self._faults.pop(found)
        await self._sleep(fault.delay)
        if fault.status is not None:  # with its body (or the dialect's error body), headers
            status, headers, payload = fault.status, dict(fault.headers or {}), fault.body
            if payload is None and status >= 400:
                payload = self._renderer.error_body(status)
            if payload is not None and not isinstance(payload, (bytes, str)):
                return json_response(payload, status, headers)
            text = "text/plain" if isinstance(payload, str) else None
            return Response(payload or b"", status_code=status, headers=headers, media_type=text)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if self._api_key is not None and not (
            scheme.lower() == "bearer" and token.strip() == self._api_key
        ):
            message = "Invalid API key" if token.strip() else "Not authenticated"
            body = self._renderer.error_body(401, message)
            return json_response(body, 401, {"www-authenticate": "Bearer"})
        try:
            if needs_body and (not raw or body_error is not None):
                raise InvalidBody([_body_error(raw, body_error)])
            return await reply(body, fault)
        except InvalidBody as invalid:
            status, error_body = self._renderer.validation_error(invalid)
            return json_response(error_body, status, fault.headers)
        except HookError as failed:
            _logger.error("%s", failed, exc_info=failed.__cause__)
            return json_response(self._renderer.error_body(500, str(failed)), 500, fault.headers)

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
        self._log.append(RecordedRequest(method, path, headers, body, raw, query, received_at))
        if self._seed is not None:
            # This request's ids drawn from the request itself (and how many identical ones
            # came before), not from the order concurrent requests arrived in.
            key = hashlib.sha256(f"{self._seed}|{method}|{path}|".encode() + raw).digest()
            with self._faults_lock:
                repeat = self._seen[key] = self._seen.get(key, -1) + 1
            _request_ids.set(random.Random(key + repeat.to_bytes(8, "big")))
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
        """The ``chat_reply`` hook's answer, when there is a hook; its failure a HookError."""
        hook = self._chat_reply
        if hook is None:
            return None
        no_usage = fault.no_usage
        chat = ChatCall(
            request, body, renderer=self._renderer, new_id=self._new_id, no_usage=no_usage, **call
        )
        try:
            reply = hook(chat)
        except Exception as exc:
            raise HookError(hook, f"raised {type(exc).__name__}: {exc}") from exc
        if reply is not None and not isinstance(reply, (Generation, EncodedStream)):
            raise HookError(
                hook, f"must return a Generation, an EncodedStream or None, got {reply!r}"
            )
        return reply

    async def _chat(self, body: Any, fault: Fault, *, vision: bool = False) -> Response:
        renderer = self._renderer
        request = validate_chat(body, vision=vision, openai=renderer.openai)
        # /chat/vision is documented as non-streaming: like FastAPI, it ignores ``stream``.
        stream = bool(request.stream) and not vision
        reply = self._ask(request, body, fault, vision=vision)
        if isinstance(reply, EncodedStream):
            if not stream:
                raise HookError(self._chat_reply, "returned an EncodedStream for a JSON reply")
            return SSEResponse(self, reply.events, fault)
        generation = with_call_ids(reply or generate_chat(request), self._new_id)
        # What every rendering of this answer takes.
        rendering = (generation, request, self._new_id(renderer.chat_id_prefix), fault.no_usage)
        if not stream:
            return _json(renderer.chat_body(*rendering, vision), fault)
        chunks = renderer.chat_chunks(*rendering)
        return SSEResponse(self, chunks, fault, renderer.chat_trailer(*rendering))

    async def _completions(self, body: Any, fault: Fault) -> Response:
        renderer = self._renderer
        request = validate_completion(body, openai=renderer.openai)

        def answer(prompt: ChatBody) -> Generation:
            reply = self._ask(prompt, body, fault, vision=False, endpoint="completions")
            if isinstance(reply, EncodedStream):
                raise HookError(self._chat_reply, "returned an EncodedStream for a text completion")
            return reply or generate_chat(prompt)

        generation = generate_completion(request, answer)
        # The live service's completion ids start like its chat ids.
        response_id = self._new_id("cmpl-" if renderer.openai else "chatcmpl-")
        rendering = (generation, request, response_id, fault.no_usage)
        if request.stream:
            chunks = renderer.completion_chunks(*rendering)
            return SSEResponse(self, chunks, fault)
        return _json(renderer.completion_body(*rendering), fault)

    async def _embeddings(self, body: Any, fault: Fault) -> Response:
        request = validate_embeddings(body)
        inputs: list[str] = as_list(request.input)
        if self._latency is not None:
            per_request, per_input = self._latency
            await self._sleep(per_request + per_input * len(inputs))
        dimensions = request.dimensions or self._embedding_dimensions
        payload = self._renderer.embeddings_body(
            [embedding(text, dimensions, request.encoding_format) for text in inputs],
            model=request.model,
            tokens=sum(count_tokens(text) for text in inputs),
            no_usage=fault.no_usage,
        )
        return _json(payload, fault)

    async def _rerank(self, body: Any, fault: Fault) -> Response:
        return _json(rerank_body(validate_rerank(body)), fault)


def _with_request_id(app: ASGIApp, state: NugenEmulator) -> ASGIApp:
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
                request_id = state._new_id("req_").encode()
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
            body = state._renderer.error_body(500, "NugenEmulator internal error")
            await json_response(body, 500)(scope, receive, send_with_id)

    return stamped


class SSEResponse(Response):
    """An SSE body of chunks (or events encoded already), then ``[DONE]`` and the live
    service's one chunk after it (``trailer``); sent event by event when an armed
    :class:`Fault` changes the stream."""

    def __init__(
        self, state: NugenEmulator, chunks: Sequence[Any], fault: Fault, trailer: Any = None
    ) -> None:
        # Like StreamingResponse: no body attribute, so no Content-Length (chunked).
        self.status_code = 200
        self.background = None
        self.init_headers({**_SSE_HEADERS, **(fault.headers or {})})
        self.state, self.fault = state, fault
        if chunks and isinstance(chunks[0], bytes):  # an EncodedStream's, sent as they are
            events, lead = list(chunks), 0
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
                await self.state._sleep(fault.stall_seconds)
            if cut == sent:
                if fault.reset:
                    raise AbortConnection
                await emit(b"", more=False)
                return
            if fault.malformed_after == sent:
                await emit(MALFORMED_EVENT)
            if fault.error_event_after == sent:
                error = self.state._renderer.stream_error_event()
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
