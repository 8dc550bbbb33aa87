"""``NugenClient`` and ``AsyncNugenClient``: the transport (how each holds its
connections, sends, reads a stream); the rest is :class:`~nugen_client._base._BaseClient`'s.
The async client's connections are one pool per event loop (:mod:`nugen_client._pool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.cookiejar
import os
import ssl
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, TypeVar

import httpx
from typing_extensions import Self, Unpack

from nugen_client._base import Prepared, _BaseClient
from nugen_client._errors import APIResponseValidationError
from nugen_client._input import direct_mounts
from nugen_client._limits import (
    CALL_DEADLINE,
    DeadlineExceeded,
    bound_connection,
    bound_response,
    within,
)
from nugen_client._pool import (
    LoopPool,
    aremember_connection,
    close_pools_soon,
    open_pool,
    release_inherited_sockets,
    remember_connection,
    running_loop,
    strand,
    track,
)
from nugen_client._retry import is_retryable, retrying
from nugen_client._sse import EventParser, iter_events
from nugen_client._stream import (
    StreamCall,
    TransportErrors,
    adrain,
    drain,
    is_event_stream,
    stream_errors,
)
from nugen_client.params import (
    ChatParams,
    CompletionParams,
    EmbeddingParams,
    RequestOptions,
    RerankParams,
)
from nugen_client.types import (
    AlignedModel,
    AsyncStream,
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingResponse,
    RerankResponse,
    Stream,
    TextCompletion,
    TextCompletionChunk,
)

_ChunkT = TypeVar("_ChunkT", ChatCompletionChunk, TextCompletionChunk)


# Every live client, so that a forked child can drop the connections it inherited.
_LIVE_CLIENTS: weakref.WeakSet[NugenClient | AsyncNugenClient] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    """In a forked child: no client may send on a connection its parent opened (the child's
    copy of a keep-alive socket is the parent's socket: the requests of both would
    interleave on it, each reading the other's answer)."""
    try:
        release_inherited_sockets()
    finally:  # out of descriptors, say: the clients must forget the connections all the same
        for client in list(_LIVE_CLIENTS):
            # Never closed here: closing would shut the parent's TLS sessions down under it.
            if client._finalizer is not None:
                client._finalizer.detach()
                client._finalizer = None
            client._forget_parent_connections()


if hasattr(os, "register_at_fork"):  # not on Windows, which never forks
    os.register_at_fork(after_in_child=_forget_parent_connections)


# In a forked child: the sync clients the parent had built, kept unclosed and uncollected.
_INHERITED: list[httpx.Client] = []


def _sync_trace(event: str, info: dict[str, Any]) -> None:
    remember_connection(event, info)
    bound_connection(event, info)


def _stream_trace(check_open: Callable[[], None], event: str, info: dict[str, Any]) -> None:
    """:func:`_sync_trace` of a stream's request: a stream closed while its request waited
    (for a connection in httpx's pool, or to retry) raises before the request goes out."""
    if event.endswith(".send_request_headers.started"):
        check_open()
    _sync_trace(event, info)


@functools.cache
def _tls_context(https: bool) -> ssl.SSLContext:
    """The clients' TLS context, one per process (httpx would load the CA bundle for every
    client: milliseconds of CPU); for a plain ``http://`` service one without any CA, never
    used (it refuses every certificate)."""
    return httpx.create_ssl_context() if https else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class _NoCookies(http.cookiejar.CookieJar):
    """The cookie jar of the httpx clients a client opens itself: their requests are built
    without cookies (``_build_request``), so none is taken from the answers either (httpx
    would parse every answer's headers for them)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


def _own_http(client: _BaseClient[Any, Any]) -> dict[str, Any]:
    """The options of the httpx clients a client opens itself (each request sets its timeout)."""
    return {
        "cookies": _NoCookies(),
        "follow_redirects": False,
        "verify": _tls_context(client.base_url.startswith("https:")),
        "mounts": direct_mounts(client.base_url),
    }


class NugenClient(_BaseClient[httpx.Client, Callable[[float], None]]):
    """Synchronous client for the Nugen inference API (and OpenAI-compatible hosts).

    One ``httpx.Client`` per object, created on first use and reused (keep-alive,
    pooled connections); pass ``http_client=`` to bring your own (proxies, transports).
    Close with :meth:`close` or use as a context manager.

    Example::

        with NugenClient() as client:  # NUGEN_API_KEY from the environment
            reply = client.chat_completion(
                model="nugen-flash-instruct",
                messages=[{"role": "user", "content": "Hello"}],
            )
            print(reply.choices[0].message.content)
    """

    def _init_transport(self) -> None:
        self._http: httpx.Client | None = self._injected
        self._lock = threading.Lock()
        _LIVE_CLIENTS.add(self)

    def chat_completion(self, **params: Unpack[ChatParams]) -> ChatCompletion:
        """``POST /chat/completions`` (or ``/chat/vision`` with ``endpoint="vision"``): the
        keywords are the body fields of :class:`ChatParams` and :class:`RequestOptions`."""
        prepared = self._prepare_chat(params, stream=False)
        return self._parse_answer(ChatCompletion, self._send(prepared))

    def stream_chat_completion(self, **params: Unpack[ChatParams]) -> Stream[ChatCompletionChunk]:
        """Stream a chat completion as chunks: a :class:`~nugen_client.types.Stream`, closed
        by leaving its ``with`` block (or ``close()``), which releases its connection.

        Validated now, sent when iteration starts, never retried once started; a stream
        that ends before ``[DONE]`` or a ``finish_reason`` raises
        :class:`~nugen_client.StreamInterruptedError`. ``endpoint="vision"`` answers whole:
        one chunk per choice.
        """
        call = self._stream_chat(params)
        return Stream(self._iter_stream(call), call)

    def completion(self, **params: Unpack[CompletionParams]) -> TextCompletion:
        """``POST /completions``: a text completion of ``prompt`` (or of each of a list of
        prompts, in order: ``choices[].index`` says which). The keywords are the body fields
        of :class:`CompletionParams` and :class:`RequestOptions`, handled as chat's are."""
        prepared = self._prepare_text_completion(params, stream=False)
        return self._parse_text_completion(self._send(prepared), params)

    def stream_completion(self, **params: Unpack[CompletionParams]) -> Stream[TextCompletionChunk]:
        """Stream a text completion as chunks (``choices[].text`` is each new piece), as
        :meth:`stream_chat_completion` streams (``with``, ``StreamInterruptedError``)."""
        call = self._stream_text_completion(params)
        return Stream(self._iter_stream(call), call)

    def embeddings(self, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
        """``POST /embeddings``; vectors come back in input order (``.embeddings``)."""
        prepared, count = self._prepare_embeddings(params)
        return self._parse_embeddings(self._send(prepared), count)

    def rerank(self, **params: Unpack[RerankParams]) -> RerankResponse:
        """``POST /reranker``: ``documents`` scored against ``query``, most relevant first
        (the keywords: :class:`RerankParams`, checked locally, and :class:`RequestOptions`)."""
        prepared, request = self._prepare_rerank(params)
        return self._parse_rerank(self._send(prepared), request)

    def list_aligned_models(self, **options: Unpack[RequestOptions]) -> list[AlignedModel]:
        """``GET /api/v3/models/aligned``: the account's aligned models, deployed or not."""
        return self._parse_aligned_models(self._send(self._prepare_aligned_models(options)))

    def close(self) -> None:
        """Close the connection pool (not an ``http_client`` you passed in)."""
        with self._lock:  # the pool and its finalizer, as _client() sets them
            self._http = self._injected
            finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:  # set with each pool of our own: closes it, and lets it go
            finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        http = self._http
        if http is None:
            with self._lock:
                http = self._http
                if http is None:
                    http = httpx.Client(limits=self.limits, **_own_http(self))
                    # Dropped without close(), it still releases its sockets when collected.
                    self._finalizer = weakref.finalize(self, http.close)
                    self._http = http
        return http

    def _forget_parent_connections(self) -> None:
        # Never closed, nor collected (which would close it): another thread may have held
        # its lock at the fork. Its sockets no longer hold the parent's (see _pool).
        http, self._http = self._http, self._injected
        if http is not None and http is not self._injected:
            _INHERITED.append(http)
        self._lock = threading.Lock()  # another thread may have held it at the fork

    def _send(
        self, prepared: Prepared, check_open: Callable[[], None] | None = None
    ) -> httpx.Response:
        """Send with retries (the loop starts only once an attempt failed and may be
        retried); the response of a stream is returned unread. ``check_open`` (a stream's)
        raises before a request goes out if the stream was closed while it waited."""
        deadline = self._deadline_at()
        # Every attempt on this one: closed (close()) under the call, it ends the call.
        http = self._client()
        token = CALL_DEADLINE.set(deadline)  # for bound_connection, in this thread only
        try:
            try:
                return self._send_once(prepared, http, deadline, check_open)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                # The loop's first outcome (its rule, wait, log line and on_retry see it).
                failed = [exc]
            from tenacity import Retrying  # imported by the first retry, not at import

            tries = retrying(Retrying, self.retry_policy, prepared.on_retry, self._sleep, deadline)
            for attempt in tries:
                with attempt:
                    if failed:
                        raise failed.pop()
                    if check_open is not None:  # also where a transport traces nothing
                        check_open()
                    return self._send_once(prepared, http, deadline, check_open)
        except DeadlineExceeded as exc:
            raise self._deadline_error(exc, prepared) from None
        finally:
            CALL_DEADLINE.reset(token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self,
        prepared: Prepared,
        http: httpx.Client,
        deadline: float | None,
        check_open: Callable[[], None] | None = None,
    ) -> httpx.Response:
        request = self._build_request(http, prepared, deadline)
        # Bounds the reads of the connections it opens, even in a call without a deadline:
        # a pooled connection may serve a later call that has one (``deadline`` can be set
        # on the client at any time, and an injected client may serve other clients).
        trace = _sync_trace if check_open is None else functools.partial(_stream_trace, check_open)
        request.extensions["trace"] = trace
        with (errors := TransportErrors(prepared.secrets, deadline, http)):
            # Always sent as a stream: the body is read here, bounded (size, deadline).
            response = http.send(request, stream=True)
            errors.response = response
            try:
                track(response)
                # Size and deadline; the SSE parser caps a stream's events.
                bound_response(response, max_bytes=self.max_response_bytes, deadline=deadline)
                if prepared.stream and response.is_success and is_event_stream(response):
                    return response  # unread: the stream's reader closes it
                response.read()  # the answer, or what the error says (closed once read)
            except BaseException as exc:
                response.close()
                if isinstance(exc, APIResponseValidationError):
                    # A body too large or undecodable: an error status is still that error.
                    if not response.is_success:
                        raise self._status_error(response, str(exc)) from None
                    self._answer_error(exc, response)
                raise
            if response.is_success:
                return response
        raise self._status_error(response)

    def _iter_stream(self, call: StreamCall[_ChunkT]) -> Generator[_ChunkT, None, None]:
        response = self._send(call.prepared, call.check_open)
        http = self._http  # the client it came on, unless close() ran since
        try:
            if not is_event_stream(response):  # a whole answer, read by _send
                call.check_open()  # close() from another thread while this one waited for it
                yield from call.whole(response)
                return
            with stream_errors(call, response, http):
                pieces = response.iter_bytes()
                yield from call.chunks(iter_events(pieces, self.max_event_bytes))
                call.decoder.check_complete()
            if call.decoder.done:
                drain(pieces)
        finally:
            response.close()


class AsyncNugenClient(_BaseClient[httpx.AsyncClient, Callable[[float], Awaitable[None]]]):
    """Asynchronous client for the Nugen inference API (and OpenAI-compatible hosts).

    It keeps one connection pool per event loop: a client object used from a second
    ``asyncio.run(...)`` opens a fresh pool there instead of reusing connections bound to
    a closed loop (the "Event loop is closed" failure of other integrations). Close with
    :meth:`aclose` or ``async with``. An ``http_client=`` you pass in is used as is.
    """

    _awaits_on_retry = True

    def _init_transport(self) -> None:
        # One pool per event loop, owned by that loop (see _pool): held here weakly.
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[LoopPool]] = (
            weakref.WeakKeyDictionary()
        )
        _LIVE_CLIENTS.add(self)

    async def chat_completion(self, **params: Unpack[ChatParams]) -> ChatCompletion:
        """``POST /chat/completions`` (or ``/chat/vision`` with ``endpoint="vision"``)."""
        prepared = self._prepare_chat(params, stream=False)
        return self._parse_answer(ChatCompletion, await self._send(prepared))

    def stream_chat_completion(
        self, **params: Unpack[ChatParams]
    ) -> AsyncStream[ChatCompletionChunk]:
        """Async form of :meth:`NugenClient.stream_chat_completion` (validated now, sent on
        first iteration; closed by ``async with`` or ``aclose()``)."""
        call = self._stream_chat(params)
        return AsyncStream(self._iter_stream(call), call)

    async def completion(self, **params: Unpack[CompletionParams]) -> TextCompletion:
        """``POST /completions`` (see :meth:`NugenClient.completion`)."""
        prepared = self._prepare_text_completion(params, stream=False)
        return self._parse_text_completion(await self._send(prepared), params)

    def stream_completion(
        self, **params: Unpack[CompletionParams]
    ) -> AsyncStream[TextCompletionChunk]:
        """Async form of :meth:`NugenClient.stream_completion` (validated now, sent on
        first iteration; closed by ``async with`` or ``aclose()``)."""
        call = self._stream_text_completion(params)
        return AsyncStream(self._iter_stream(call), call)

    async def embeddings(self, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
        """``POST /embeddings``; vectors come back in input order (``.embeddings``)."""
        prepared, count = self._prepare_embeddings(params)
        return self._parse_embeddings(await self._send(prepared), count)

    async def rerank(self, **params: Unpack[RerankParams]) -> RerankResponse:
        """``POST /reranker`` (see :meth:`NugenClient.rerank`)."""
        prepared, request = self._prepare_rerank(params)
        return self._parse_rerank(await self._send(prepared), request)

    async def list_aligned_models(self, **options: Unpack[RequestOptions]) -> list[AlignedModel]:
        """``GET /api/v3/models/aligned`` (see :meth:`NugenClient.list_aligned_models`)."""
        prepared = self._prepare_aligned_models(options)
        return self._parse_aligned_models(await self._send(prepared))

    async def aclose(self) -> None:
        """Close the connection pool of the running loop (not an injected client)."""
        ref = self._pools.pop(running_loop(), None)
        pool = None if ref is None else ref()
        if pool is not None:
            await pool.aclose()

    close = aclose  # the OpenAI SDK's name: ``await client.close()``

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- transport -----------------------------------------------------------------------

    def _forget_parent_connections(self) -> None:
        # The parent's pools belong to the parent's loops, which never run here.
        self._pools = weakref.WeakKeyDictionary()

    async def _pool(self) -> LoopPool:
        loop = running_loop()
        ref = self._pools.get(loop)
        pool = None if ref is None else ref()
        if pool is None or pool.closed:
            # Holds what a shard needs, never the client: a pool outlives its client until
            # its loop closes it.
            make = functools.partial(httpx.AsyncClient, **_own_http(self))
            pool = await open_pool(make, self.limits)
            self._pools[loop] = weakref.ref(pool)
            if self._finalizer is None:
                self._finalizer = weakref.finalize(self, close_pools_soon, self._pools)
        return pool

    async def _send(
        self,
        prepared: Prepared,
        check_open: Callable[[], None] | None = None,
        held: list[Any] | None = None,
    ) -> httpx.Response:
        """Send with retries (as the sync client's), each attempt (the wait for a connection
        and the request on it) cancelled at the deadline. A stream's response is returned
        unread, its connection's lease left to the stream (see :meth:`_attempt`)."""
        deadline = self._deadline_at()
        # Every attempt leases from this one pool: closed (aclose()) under the call, it ends
        # the call rather than the next attempt opening a new pool.
        source = await self._source()
        try_once = functools.partial(self._attempt, prepared, source, deadline, check_open, held)
        try:
            try:
                return await within(try_once(), deadline)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                failed = [exc]  # the loop's first outcome, as in the sync client
            from tenacity import AsyncRetrying  # imported by the first retry, not at import

            policy, on_retry = self.retry_policy, prepared.on_retry
            async for attempt in retrying(AsyncRetrying, policy, on_retry, self._sleep, deadline):
                with attempt:
                    if failed:
                        raise failed.pop()
                    return await within(try_once(), deadline)
        except DeadlineExceeded as exc:
            raise self._deadline_error(exc, prepared) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        prepared: Prepared,
        source: LoopPool | httpx.AsyncClient,
        deadline: float | None,
        check_open: Callable[[], None] | None,
        held: list[Any] | None,
    ) -> httpx.Response:
        """One try on a connection leased for it, given back once the answer is read; a
        stream's lease (and the connection) goes to ``held`` instead, for the stream to give
        back once its response is closed. ``check_open``: a stream's, after the wait."""
        async with contextlib.AsyncExitStack() as lease:
            http = await lease.enter_async_context(self._lease(prepared, source))
            if check_open is not None:
                check_open()  # aclose() from another task while this one waited
            response = await self._send_once(prepared, http, deadline)
            if held is not None:
                held += (lease.pop_all(), http)
            return response

    async def _source(self) -> LoopPool | httpx.AsyncClient:
        """Where a call's connection comes from: an ``http_client`` passed in, as it is;
        else this loop's pool."""
        return self._injected if self._injected is not None else await self._pool()

    def _lease(
        self, prepared: Prepared, source: LoopPool | httpx.AsyncClient
    ) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        """A connection of ``source`` (see :meth:`_source`), waited for no longer than the
        pool timeout."""
        if isinstance(source, LoopPool):
            return source.lease((prepared.timeout or self.timeout).pool)
        return contextlib.nullcontext(source)

    async def _send_once(
        self, prepared: Prepared, http: httpx.AsyncClient, deadline: float | None
    ) -> httpx.Response:
        # Sent and read as the sync client's (see NugenClient._send_once).
        request = self._build_request(http, prepared, deadline)
        request.extensions["trace"] = aremember_connection
        with (errors := TransportErrors(prepared.secrets, deadline, http)):
            try:
                response = await http.send(request, stream=True)
            except asyncio.CancelledError:
                if http is not self._injected:
                    strand(http)  # its pool may hold a connection it never gives back
                raise
            errors.response = response
            try:
                track(response)
                bound_response(response, max_bytes=self.max_response_bytes, deadline=deadline)
                if prepared.stream and response.is_success and is_event_stream(response):
                    return response  # unread: the stream's reader closes it
                await response.aread()  # the answer, or what the error says (closed once read)
            except BaseException as exc:
                await response.aclose()
                if isinstance(exc, APIResponseValidationError):
                    if not response.is_success:
                        raise self._status_error(response, str(exc)) from None
                    self._answer_error(exc, response)
                raise
            if response.is_success:
                return response
        raise self._status_error(response)

    async def _iter_stream(self, call: StreamCall[_ChunkT]) -> AsyncGenerator[_ChunkT, None]:
        # One generator holds the lease and the response, and closes them in order (the lease
        # goes back only once the response is closed). Not a chain of generators: a stream
        # whose consumer raised inside ``async for`` is closed at asyncio's shutdown, which
        # closes every open generator at once, racing an outer one closing an inner one.
        held: list[Any] = []  # the lease and the connection, once _send has them
        try:
            response = await self._send(call.prepared, call.check_open, held)
            http = held[1]
            try:
                if not is_event_stream(response):  # a whole answer, read by _send
                    call.check_open()
                    for whole_chunk in call.whole(response):
                        yield whole_chunk
                    return
                with stream_errors(call, response, http):
                    parser = EventParser(self.max_event_bytes)
                    # Held until the response is closed: dropped at [DONE] before that,
                    # httpcore's iterator under it would await its own close in the
                    # garbage collector (a loop without async-generator hooks, such
                    # as nest_asyncio's, then prints "ignored GeneratorExit").
                    pieces = response.aiter_bytes()
                    async for piece in pieces:
                        for chunk in call.chunks(parser.feed(piece)):
                            yield chunk
                        if call.decoder.done:
                            break
                    call.decoder.check_complete()
                if call.decoder.done:
                    await adrain(pieces)
            finally:
                await response.aclose()
        finally:
            if held:
                await held[0].aclose()
