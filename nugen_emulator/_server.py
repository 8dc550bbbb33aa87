"""NugenEmulator: the public object, the uvicorn thread that serves it, and its ASGI app.
Every request: record it, take an armed fault, check the key, validate the body, generate
(or ask the ``chat_reply`` hook), render in the dialect."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nugen_emulator import _BASE_PATHS, DEFAULT_API_KEY
from nugen_emulator._app import (
    SSEResponse,
    aligned_models,
    json_reply,
    json_response,
    parse_body,
    with_call_ids,
    with_request_id,
)
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
from nugen_emulator._wire import Dialect, Generation, Renderer, count_tokens
from nugen_emulator.replies import ChatCall, ChatReplyHook, EncodedStream, HookError, malformed

_logger = logging.getLogger("nugen_emulator")
_NO_FAULT = Fault()
_SLEEP_STEP = 0.05  # how soon a sleeping request notices that the emulator stops
# Seconds an idle keep-alive connection stays open: longer than clients keep theirs pooled
# (httpx 5 s, nugen_client 30 s), as real servers do, so the client always closes first. A
# server closing first races the client's next request on that connection: a POST lost to a
# reset or "server disconnected" that httpx does not retry.
KEEP_ALIVE = 75
# The id source of the request being answered (seeded emulators only): each request task
# runs in its own context, so concurrent requests never share one.
_request_ids: ContextVar[random.Random | None] = ContextVar("request_ids", default=None)
Reply = Callable[[Any, Fault], Awaitable[Response]]


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
                timeout_keep_alive=KEEP_ALIVE,
                timeout_graceful_shutdown=1,
            )
            server = self._server = uvicorn.Server(config)

            def run() -> None:
                try:
                    server.run(sockets=[sock])
                except BaseException as exc:  # reported by start()/stop(), not lost
                    self._error = exc

            thread = threading.Thread(target=run, name=f"NugenEmulator:{self._port}", daemon=True)
            self._thread, self._error = thread, None  # an earlier start's error is not this one's
            thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        if not server.started:
            error = self._error
            self.stop()
            detail = f"not listening (startup_timeout={self._startup_timeout})"
            detail = detail if error is None else repr(error)
            raise RuntimeError(f"NugenEmulator did not start: {detail}") from error
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; idempotent, safe after a failed start."""
        with self._lock:
            server, thread, sock = self._server, self._thread, self._socket
            self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
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
        if port := self._port or self._requested_port:
            return port
        raise RuntimeError("NugenEmulator has no port yet: call start() first")

    @property
    def url(self) -> str:
        """``http://host:port`` without the API base path; a wildcard host (``0.0.0.0``,
        ``::``) is given as the loopback address, the one a client on this machine dials."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self._host, self._host)
        host = f"[{host}]" if ":" in host else host
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
        # Called in the server's thread, never awaited: a coroutine would be a 500 later.
        if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__):
            raise TypeError(f"chat_reply must be a plain function, not async, got {hook!r}")
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
        """Sleep, but wake up soon when the emulator is stopping (stop() drops its server)."""
        deadline = time.monotonic() + seconds
        # Polled: stop() runs in the test's thread, outside the server's event loop.
        while self._server is not None and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
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
            middleware=[Middleware(with_request_id, new_id=self._new_id, renderer=self._renderer)],
            exception_handlers={HTTPException: self._http_error},
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # Logged too: a client aimed at the wrong path should see its requests in the log.
        await self._record(request)
        body = self._renderer.error_body(exc.status_code, exc.detail)
        return json_response(body, exc.status_code, exc.headers)

    async def _handle(self, request: Request, reply: Reply, *, needs_body: bool = True) -> Response:
        body, detail = await self._record(request)
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
            if needs_body and detail is not None:
                raise InvalidBody([detail])
            return await reply(body, fault)
        except InvalidBody as invalid:
            status, error_body = self._renderer.validation_error(invalid)
            return json_response(error_body, status, fault.headers)
        except HookError as failed:
            _logger.error("%s", failed, exc_info=failed.__cause__)
            return json_response(self._renderer.error_body(500, str(failed)), 500, fault.headers)

    async def _record(self, request: Request) -> tuple[Any, dict[str, Any] | None]:
        """Log the request; returns its JSON and, for a body that is empty, not JSON or nested
        too deep, FastAPI's 422 detail."""
        raw = await request.body()
        received_at = time.monotonic()
        body, detail = parse_body(raw)
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
        return body, detail

    # -- endpoints ------------------------------------------------------------------------

    async def _aligned_models(self, request: Request) -> Response:
        origin = str(request.base_url).rstrip("/")

        async def reply(body: Any, fault: Fault) -> Response:
            return json_reply({"domain_aligned_models": aligned_models(origin)}, fault)

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
            events = reply.events if isinstance(reply, EncodedStream) else None
            if isinstance(events, Iterable) and not isinstance(events, (bytes, str)):
                reply = EncodedStream(list(events))  # any iterable a hook gives, read once
        except StopIteration as exc:  # next() on a script's exhausted iterator
            raise HookError(hook, "raised StopIteration (a scripted sequence ran out?)") from exc
        except Exception as exc:
            raise HookError(hook, f"raised {type(exc).__name__}: {exc}") from exc
        if reply is not None and not isinstance(reply, (Generation, EncodedStream)):
            raise HookError(
                hook, f"must return a Generation, an EncodedStream or None, got {reply!r}"
            )
        if reply is not None and (problem := malformed(reply)):
            raise HookError(hook, problem)
        return reply

    def _sse(self, chunks: Sequence[Any], fault: Fault, trailer: Any = None) -> SSEResponse:
        return SSEResponse(chunks, fault, trailer, renderer=self._renderer, sleep=self._sleep)

    async def _chat(self, body: Any, fault: Fault, *, vision: bool = False) -> Response:
        renderer = self._renderer
        request = validate_chat(body, vision=vision, openai=renderer.openai)
        # /chat/vision is documented as non-streaming: like FastAPI, it ignores ``stream``.
        stream = bool(request.stream) and not vision
        reply = self._ask(request, body, fault, vision=vision)
        if isinstance(reply, EncodedStream):
            if not stream:
                raise HookError(self._chat_reply, "returned an EncodedStream for a JSON reply")
            return self._sse(reply.events, fault)
        generation = with_call_ids(reply or generate_chat(request), self._new_id)
        # What every rendering of this answer takes.
        rendering = (generation, request, self._new_id(renderer.chat_id_prefix), fault.no_usage)
        if not stream:
            return json_reply(renderer.chat_body(*rendering, vision), fault)
        return self._sse(renderer.chat_chunks(*rendering), fault, renderer.chat_trailer(*rendering))

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
            return self._sse(renderer.completion_chunks(*rendering), fault)
        return json_reply(renderer.completion_body(*rendering), fault)

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
        return json_reply(payload, fault)

    async def _rerank(self, body: Any, fault: Fault) -> Response:
        return json_reply(rerank_body(validate_rerank(body)), fault)
