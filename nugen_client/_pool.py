"""The async client's connections: one pool per event loop, owned by that loop, split
into small shards (:func:`shard_limits`) leased one connection at a time (:class:`LoopPool`).

The loop holds the pool, through a timer that never fires and holds the pool's guard (an
async generator whose ``finally`` closes the pool, closed by ``shutdown_asyncgens()``); the
client keeps only a weak reference. What a caller sees of it, loops closed with or without
``shutdown_asyncgens()`` and forked children: docs/client.md, "Event loops and processes".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import time
import types
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from nugen_client._errors import APITimeoutError, NugenError, client_closed
from nugen_client._limits import DeadlineExceeded, shielded, within

_SHARD_CONNECTIONS = 2


def running_loop() -> asyncio.AbstractEventLoop:
    """The running asyncio loop (anyio's asyncio backend included): the async client's
    connections, pools and stream ownership are asyncio's."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise NugenError(
            "the async client runs in an asyncio event loop, and none is running here (trio "
            "is not supported): call it from asyncio.run(...) or an asyncio task"
        ) from None


def shard_limits(limits: httpx.Limits) -> list[httpx.Limits]:
    """Split a connection budget into pools of about two connections each: httpcore
    re-scans every connection of a pool for every queued request whenever one changes
    state, so a pool's cost grows with its connections times the waiting requests.

    The budget is split exactly; there are never more pools than keep-alive connections,
    so each pool keeps at least one connection alive.
    """
    total = limits.max_connections
    if total is None or total <= _SHARD_CONNECTIONS:
        return [limits]
    keepalive = limits.max_keepalive_connections
    count = -(-total // _SHARD_CONNECTIONS)
    if keepalive:
        count = min(count, keepalive)
    return [
        httpx.Limits(
            max_connections=_share(total, count, i),
            max_keepalive_connections=None if keepalive is None else _share(keepalive, count, i),
            keepalive_expiry=limits.keepalive_expiry,
        )
        for i in range(count)
    ]


def _share(total: int, count: int, i: int) -> int:
    """The ``i``-th of ``count`` near-equal integer shares of ``total``."""
    return total // count + (1 if i < total % count else 0)


class LoopPool:
    """The connections of one event loop: small httpx pools (shards) and leases on them.

    Every connection of the budget is a token naming the shard it belongs to. A request,
    or a whole stream, holds one token (a lease) while it runs, so no shard is ever asked
    for more connections than it has and waiting requests queue here, where waking one is
    O(1), rather than in httpcore. Tokens go out last-released-first, so light traffic
    stays on the warm connections of a few shards; a shard is created when first leased.
    """

    def __init__(self, make: Callable[..., httpx.AsyncClient], limits: list[httpx.Limits]) -> None:
        self._make = make
        self._limits = limits
        self._shards: list[httpx.AsyncClient | None] = [None] * len(limits)
        # Leases out on each client: the shards', and those of retired shards (see strand).
        self._users: dict[httpx.AsyncClient, int] = {}
        self.closed = False
        # Weak: the loop holds the guard, and the guard the pool (see the module).
        self._guard: weakref.ref[AsyncGenerator[None, None]] | None = None
        self._anchor: weakref.ref[asyncio.TimerHandle] | None = None
        self._closing: asyncio.Future[list[BaseException | None]] | None = None
        self._tokens: _Tokens | None = None
        if limits[0].max_connections is not None:
            # Stacked last-shard-first, so the first shard's tokens are on top.
            self._tokens = _Tokens(
                [
                    index
                    for index in reversed(range(len(limits)))
                    for _ in range(limits[index].max_connections or 0)
                ]
            )

    def clients(self) -> list[httpx.AsyncClient]:
        """The shards' clients created so far, and retired ones still in use."""
        return list(dict.fromkeys([*filter(None, self._shards), *self._users]))

    async def aclose(self) -> None:
        """Close the pool now (a pool of an injected client is never closed here)."""
        guard = None if self._guard is None else self._guard()
        if guard is None:
            return
        await self._close()
        # Closed, the guard finishes at once and the loop forgets it, unless the loop's
        # shutdown is closing it already (a second aclose() of it would raise).
        if not cast("types.AsyncGeneratorType[None, None]", guard).ag_running:
            await guard.aclose()

    async def _close(self) -> None:
        """Close every client, once however many close the pool (this client's
        ``aclose``, its finalizer, the loop's shutdown), each waiting for the same close.
        Shielded: a cancellation of one that waits would otherwise leave shards open, and
        the loop would no longer hold the pool to close them."""
        self.closed = True
        if self._closing is None:
            closes = (http.aclose() for http in self.clients())
            self._closing = asyncio.gather(*closes, return_exceptions=True)
        await shielded(self._closing)
        # A client's failure is raised once every close has ended, not as soon as it fails.
        for failure in self._closing.result():
            if failure is not None:
                raise failure

    def lease(self, wait: float | None = None) -> _Lease:
        """A shard with a connection free for this request (waiting for one if need be, but
        no longer than ``wait`` seconds, the pool timeout: the caller bounds the wait by its
        deadline)."""
        return _Lease(self, wait)

    async def _take(self, wait: float | None) -> tuple[int, httpx.AsyncClient]:
        index = 0 if self._tokens is None else await self._tokens.get(wait)
        if self.closed:
            # Closed while this call waited: its clients are closed, and one made now
            # would never be. Passed on, so the next waiter learns it too.
            self._give_back(index)
            raise client_closed(
                "the client's connections were closed (aclose) while this call waited for one"
            )
        http = self._shards[index]
        if http is None:
            try:
                http = self._shards[index] = self._make(limits=self._limits[index])
            except BaseException:
                self._give_back(index)
                raise
        self._users[http] = self._users.get(http, 0) + 1
        return index, http

    def _give_back(
        self, index: int, http: httpx.AsyncClient | None = None
    ) -> httpx.AsyncClient | None:
        """Hand back a token (and the lease on ``http``); the client to close now, if
        ``http`` was retired and this was its last lease."""
        if self._tokens is not None:
            self._tokens.put(index)
        if http is None:
            return None
        if http in _STRANDED and self._shards[index] is http:
            self._shards[index] = None  # the next lease of this shard makes a new client
        left = self._users[http] - 1
        if left:
            self._users[http] = left
            return None
        del self._users[http]
        return None if self._shards[index] is http else http


@dataclass(slots=True, eq=False)
class _Lease:
    """``async with pool.lease() as http``. A class, not an async generator: asyncio closes
    the async generators left open at shutdown all at once, and a lease among them would
    be closed while the stream holding it is still closing its response."""

    _pool: LoopPool
    _wait: float | None
    _index: int = 0
    _http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self._index, self._http = await self._pool._take(self._wait)
        return self._http

    async def __aexit__(self, *exc_info: object) -> None:
        retired = self._pool._give_back(self._index, self._http)
        if retired is not None:
            await shielded(retired.aclose())


@dataclass(slots=True, eq=False)
class _Tokens:
    """Free connection tokens: handed out last-released-first (warm connections), to
    waiters in the order they came (a task that releases and asks again at once must not
    overtake them, as it could with ``asyncio.LifoQueue``)."""

    _free: list[int]  # a stack: the top is the end
    _waiters: collections.deque[asyncio.Future[int]] = field(default_factory=collections.deque)

    async def get(self, wait: float | None) -> int:
        if self._free and not self._waiters:
            return self._free.pop()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        # The pool timeout, as httpx's own pool (the sync client's) has it.
        bound = None if wait is None else time.monotonic() + wait
        try:
            return await within(waiter, bound)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.put(waiter.result())  # handed one as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, DeadlineExceeded):
                raise APITimeoutError(
                    f"no connection became free within the pool timeout ({wait:g} s)"
                ) from None
            raise

    def put(self, token: int) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(token)
                return
        self._free.append(token)


async def open_pool(make: Callable[..., httpx.AsyncClient], limits: httpx.Limits) -> LoopPool:
    """A new pool owned by the running loop, which closes it when it shuts down."""
    loop = asyncio.get_running_loop()
    pool = LoopPool(make, shard_limits(limits))
    guard = _close_with_loop(pool, loop)
    # Started inside the loop, the guard is registered with it (asyncio's firstiter hook):
    # the loop's shutdown_asyncgens() closes it.
    await guard.__anext__()
    pool._guard = weakref.ref(guard)
    # The loop's own strong reference to the guard (the argument of a timer that never
    # fires), dropped when the loop is closed.
    pool._anchor = weakref.ref(loop.call_at(math.inf, lambda _: None, guard))
    return pool


async def _close_with_loop(
    pool: LoopPool, loop: asyncio.AbstractEventLoop
) -> AsyncGenerator[None, None]:
    """Suspends until its loop shuts down its async generators (or the pool is closed),
    then closes the pool and lets the loop forget it."""
    try:
        yield
    finally:
        # Not when the garbage collector closes it, its loop never having registered it
        # (run without asyncio's async-generator hooks, as nest_asyncio runs loops) and no
        # loop, or another one, running: nothing can be awaited on its loop, and the
        # connections go with that loop.
        if asyncio._get_running_loop() is loop:
            try:
                await pool._close()
            finally:
                anchor = None if pool._anchor is None else pool._anchor()
                if anchor is not None:
                    anchor.cancel()


# Shard clients in which a cancellation landed inside ``send`` (see strand).
_STRANDED: weakref.WeakSet[httpx.AsyncClient] = weakref.WeakSet()


def strand(http: httpx.AsyncClient) -> None:
    """A cancellation landed inside ``http.send``: httpcore (1.0) may have left a
    connection of its pool neither busy nor idle (taken for the request, the cancellation
    landing on a lock it awaits before marking it), which its pool never hands out again
    nor closes. The shard is retired: its next lease makes a new client, and ``http`` is
    closed (the stranded connection with it) once the leases on it end."""
    _STRANDED.add(http)


_CLOSING: set[asyncio.Task[None]] = set()


def close_pools_soon(
    pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[LoopPool]],
) -> None:
    """Finalizer of a collected AsyncNugenClient: close its pools on their own loops (a
    closed loop took its pools with it; one shutting down closes what this misses)."""
    for loop, ref in list(pools.items()):
        pool = ref()
        if pool is None or loop.is_closed():
            continue

        def start(loop: asyncio.AbstractEventLoop = loop, pool: LoopPool = pool) -> None:
            task = loop.create_task(pool.aclose())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(start)


# The network streams (connections) responses came on, to find their sockets at a fork.
_STREAMS: weakref.WeakSet[Any] = weakref.WeakSet()


def track(response: httpx.Response) -> None:
    """Remember the connection ``response`` came on (httpx's ``network_stream``)."""
    stream = response.extensions.get("network_stream")
    if stream is not None:
        _STREAMS.add(stream)


def remember_connection(event: str, info: dict[str, Any]) -> None:
    """Part of httpcore's ``trace`` extension of the clients' requests: remember each
    connection as it opens, so that a fork during its first request finds it too. Once a
    request's own headers go out (a proxy's ``CONNECT`` comes before), its connection is set
    up: the hook leaves the request, sparing it httpcore's tracing of every later step."""
    if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
        _STREAMS.add(info["return_value"])
    elif event == "http11.send_request_headers.started" and info["request"].method != b"CONNECT":
        info["request"].extensions.pop("trace", None)


async def aremember_connection(event: str, info: dict[str, Any]) -> None:
    """:func:`remember_connection` as the async client's ``trace`` (httpcore awaits it)."""
    remember_connection(event, info)


def release_inherited_sockets() -> None:
    """In a forked child: point the descriptors of the parent's open connections at
    ``/dev/null``, so that the sockets close when the parent closes them and nothing can be
    sent on them from here. Replaced, not closed: the objects that own them may still close
    them, and a closed number could by then belong to another file."""
    streams = list(_STREAMS)
    _STREAMS.clear()
    if not streams:
        return
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for stream in streams:
            sock = stream.get_extra_info("socket")
            fd = -1 if sock is None else sock.fileno()
            if fd >= 0:
                os.dup2(devnull, fd, inheritable=False)
    finally:
        os.close(devnull)
