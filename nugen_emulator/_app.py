"""The emulator's ASGI app. Every request: record it, take an armed fault, check the key,
validate the body, generate (or ask the ``chat_reply`` hook), render in the dialect."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
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
from nugen_emulator._faults import Fault
from nugen_emulator._generation import Generation, ToolCall, count_tokens
from nugen_emulator._lax import InvalidBody
from nugen_emulator._model import (
    embed,
    embed_base64,
    generate_chat,
    generate_completion,
    rerank_body,
    warm_up,
)
from nugen_emulator._records import RecordedRequest
from nugen_emulator._responses import (
    AbortConnection,
    SSEResponse,
    fault_response,
    json_response,
)
from nugen_emulator._state import ServerState
from nugen_emulator._validation import (
    ChatRequest,
    validate_chat,
    validate_completion,
    validate_embeddings,
    validate_rerank,
)
from nugen_emulator._wire import encode_event
from nugen_emulator.replies import ChatCall, EncodedStream, HookError, ask_hook

_logger = logging.getLogger("nugen_emulator")
# Deeper than any real request (a tool's JSON schema included); deeper bodies would only
# exhaust the recursion of whatever walks them next.
MAX_BODY_DEPTH = 64


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


def build_app(state: ServerState) -> Starlette:
    """The Starlette app serving ``state``'s dialect."""
    warm_up()
    return _Handlers(state).app()


def with_call_ids(generation: Generation, new_id: Callable[[str], str]) -> Generation:
    """``generation`` with a fresh ``call_<hex>`` id on every tool call that has none.

    A copy, not an update: a hook may return the same generation for every request.
    """
    if all(call.id for choice in generation.choices for call in choice.tool_calls):
        return generation

    def with_id(call: ToolCall) -> ToolCall:
        return call if call.id else replace(call, id=new_id("call_"))

    choices = generation.choices
    return replace(
        generation,
        choices=[replace(c, tool_calls=[with_id(t) for t in c.tool_calls]) for c in choices],
    )


class _RequestIdMiddleware:
    """Stamps every response, errors and 404s included, with an ``x-request-id`` header."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # Drawn now, once the body is read: a seeded emulator's ids depend on it.
                request_id = self.state.new_id("req_").encode()
                extra = [(b"x-request-id", request_id), (b"server", b"nugen-emulator")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
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
            body = self.state.renderer.error_body(500, "NugenEmulator internal error")
            await json_response(body, 500)(scope, receive, send_with_id)


class _Handlers:
    """The request handlers: log, fault, auth, validate, generate, render."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def app(self) -> Starlette:
        base = _BASE_PATHS[self.state.dialect]
        replies: dict[str, Reply] = {
            "/chat/completions": self._chat,
            "/completions": self._completions,
            "/embeddings": self._embeddings,
            "/reranker": self._rerank,
        }
        if self.state.dialect == "nugen":
            replies["/chat/vision"] = partial(self._chat, vision=True)
        routes = [
            Route(base + path, partial(self._handle, reply=reply), methods=["POST"])
            for path, reply in replies.items()
        ]
        if self.state.dialect == "nugen":
            # A sibling of the inference base: /api/v3/models/aligned.
            models = base.rsplit("/", 1)[0] + "/models/aligned"
            routes.append(Route(models, self._aligned_models, methods=["GET"]))
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
        return json_response(body, exc.status_code, exc.headers)

    async def _aligned_models(self, request: Request) -> Response:
        origin = str(request.base_url).rstrip("/")

        async def reply(body: Any, fault: Fault | None, headers: dict[str, str]) -> Response:
            return _json({"domain_aligned_models": aligned_models(origin)}, fault, headers)

        return await self._handle(request, reply, needs_body=False)

    async def _handle(self, request: Request, reply: Reply, *, needs_body: bool = True) -> Response:
        state = self.state
        raw, body, body_error = await self._record(request)
        fault = state.faults.take(request.url.path)
        if fault is not None and fault.delay:
            await state.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            return fault_response(state, fault, fault.status)
        headers = dict(fault.headers or {}) if fault is not None else {}
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        try:
            if needs_body and (not raw or body_error is not None):
                raise InvalidBody([_body_error(raw, body_error)])
            return await reply(body, fault, headers)
        except InvalidBody as invalid:
            status, error_body = state.renderer.validation_error(invalid.errors)
            return json_response(error_body, status, headers)
        except HookError as failed:
            _logger.error("%s", failed, exc_info=failed.__cause__)
            return json_response(state.renderer.error_body(500, str(failed)), 500, headers)

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
        self.state.log.append(RecordedRequest(method, path, headers, body, raw, query, received_at))
        self.state.begin_request(method, path, raw)
        return raw, body, body_error

    def _check_auth(self, request: Request) -> Response | None:
        expected = self.state.api_key
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if expected is None or (scheme.lower() == "bearer" and token.strip() == expected):
            return None
        message = "Invalid API key" if token.strip() else "Not authenticated"
        body = self.state.renderer.error_body(401, message)
        return json_response(body, 401, {"www-authenticate": "Bearer"})

    def _ask(
        self, request: ChatRequest, body: Any, fault: Fault | None, **call: Any
    ) -> Generation | EncodedStream | None:
        """The ``chat_reply`` hook's answer, when there is a hook."""
        state = self.state
        if state.chat_reply is None:
            return None
        no_usage = fault is not None and fault.no_usage
        chat = ChatCall(
            request, body, renderer=state.renderer, new_id=state.new_id, no_usage=no_usage, **call
        )
        return ask_hook(state.chat_reply, chat)

    async def _chat(
        self, body: Any, fault: Fault | None, headers: dict[str, str], *, vision: bool = False
    ) -> Response:
        state, renderer = self.state, self.state.renderer
        request = validate_chat(body, vision=vision, openai=renderer.openai)
        no_usage = fault is not None and fault.no_usage
        # /chat/vision is documented as non-streaming: like FastAPI, it ignores ``stream``.
        stream = request.stream and not vision
        reply = self._ask(request, body, fault, vision=vision)
        if isinstance(reply, EncodedStream):
            if not stream:
                raise HookError(state.chat_reply, "returned an EncodedStream for a JSON reply")
            events = list(reply.events)
            return SSEResponse(events, state=state, fault=fault, headers=headers, prejoin=True)
        generation = with_call_ids(reply or generate_chat(request), state.new_id)
        response_id = state.new_id("chatcmpl-" if renderer.openai or renderer.live else "nugen-")
        if not stream:
            payload = renderer.chat_body(
                generation,
                response_id=response_id,
                model=request.model,
                vision=vision,
                no_usage=no_usage,
            )
            return _json(payload, fault, headers)
        chunks = list(
            renderer.chat_chunks(generation, request, response_id=response_id, no_usage=no_usage)
        )
        # Faults count chunks ("cut after k chunks"): the opening timing event is none.
        lead = next(i for i, chunk in enumerate(chunks) if "choices" in chunk)
        trailer = renderer.chat_trailer(
            generation, response_id=response_id, model=request.model, no_usage=no_usage
        )
        return SSEResponse(
            [encode_event(chunk) for chunk in chunks[lead:]],
            state=state,
            fault=fault,
            headers=headers,
            lead=b"".join(encode_event(chunk) for chunk in chunks[:lead]),
            after_done=encode_event(trailer) if trailer is not None else b"",
        )

    async def _completions(
        self, body: Any, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        state, renderer = self.state, self.state.renderer
        request = validate_completion(body, openai=renderer.openai)
        no_usage = fault is not None and fault.no_usage

        def answer(prompt: ChatRequest) -> Generation:
            reply = self._ask(prompt, body, fault, vision=False, endpoint="completions")
            if isinstance(reply, EncodedStream):
                raise HookError(state.chat_reply, "returned an EncodedStream for a text completion")
            return reply or generate_chat(prompt)

        generation = generate_completion(request, answer)
        # The live service's completion ids start like its chat ids.
        response_id = state.new_id("cmpl-" if renderer.openai else "chatcmpl-")
        if request.stream:
            chunks = renderer.completion_chunks(
                generation, request, response_id=response_id, no_usage=no_usage
            )
            events = [encode_event(chunk) for chunk in chunks]
            return SSEResponse(events, state=state, fault=fault, headers=headers)
        payload = renderer.completion_body(
            generation, response_id=response_id, model=request.model, no_usage=no_usage
        )
        return _json(payload, fault, headers)

    async def _embeddings(
        self, body: Any, fault: Fault | None, headers: dict[str, str]
    ) -> Response:
        state = self.state
        request = validate_embeddings(body)
        if state.latency is not None:
            per_request, per_input = state.latency
            await state.sleep(per_request + per_input * len(request.inputs))
        dimensions = request.dimensions or state.embedding_dimensions
        encode = embed_base64 if request.encoding_format == "base64" else embed
        payload = state.renderer.embeddings_body(
            [encode(text, dimensions) for text in request.inputs],
            model=request.model,
            tokens=sum(count_tokens(text) for text in request.inputs),
            no_usage=fault is not None and fault.no_usage,
        )
        return _json(payload, fault, headers)

    async def _rerank(self, body: Any, fault: Fault | None, headers: dict[str, str]) -> Response:
        return _json(rerank_body(validate_rerank(body)), fault, headers)


Reply = Callable[[Any, "Fault | None", dict[str, str]], Awaitable[Response]]


def _json(payload: Any, fault: Fault | None, headers: dict[str, str]) -> Response:
    """A 200 JSON answer; a ``reset`` fault drops the connection halfway through it."""
    return json_response(payload, 200, headers, drop=fault is not None and fault.reset)


def _body_error(raw: bytes, error: Exception | None) -> dict[str, Any]:
    """FastAPI's detail for an empty body, or one that is not JSON (or nests too deep)."""
    if not raw:
        return {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
    detail: dict[str, Any] = {"type": "json_invalid", "loc": ["body", 0]}
    detail |= {"msg": "JSON decode error", "input": {}}
    message = str(error) or "maximum recursion depth exceeded"
    return detail | {"ctx": {"error": message.split(":")[0]}}


def aligned_models(origin: str) -> list[dict[str, Any]]:
    """A fixed account's aligned models, with every documented field."""
    common: dict[str, Any] = {
        "base_model": "llama-v3p2-3b-reasoning",
        "alignment_project": "contracts",
        "creator": "emulator@example.com",
        "downloadable": False,
        "evaluation_data": None,
        "conversation_saving_enabled": False,
    }
    deployed = {
        "id": "contracts-assistant-alignment-01kx06fntz2af3b",
        "alignment_id": "01kx06fntz2af3b",
        "name": "contracts-assistant",
        **common,
        "created_date": "2026-01-15T09:30:00Z",
        "status": "DEPLOYED",
        "deployment_status": "DEPLOYED",
        "endpoint": f"{origin}{_BASE_PATHS['nugen']}",
        "usage_count": 42,
        "last_used": "2026-02-01T12:00:00Z",
        "performance_metrics": {"accuracy": 0.91},
    }
    undeployed = {
        "id": "alignment-01kx07q3m9b4c2d",
        "alignment_id": "01kx07q3m9b4c2d",
        "name": "clauses-draft",
        **common,
        "created_date": "2026-02-03T16:45:00Z",
        "status": "UNDEPLOYED",
        "deployment_status": "UNDEPLOYED",
        "usage_count": 0,
        "last_used": None,
        "performance_metrics": {"accuracy": 0.84},
    }
    return [deployed, undeployed]
