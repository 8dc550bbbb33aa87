"""The async client's connections: one pool per event loop, split into small shards.

* :func:`shard_limits` splits a connection budget into httpx pools of about two
  connections each: httpcore re-scans every connection of a pool for every queued request
  whenever one changes state, so a pool's cost grows with its connections times the
  waiting requests (``benchmarks/NOTES.md``, sections 2 and 14).
* :class:`LoopPool` hands out leases: a request, or a whole stream, holds one connection
  token of one shard while it runs, so waiting requests queue here, where waking one is
  cheap, rather than in httpcore.
* :func:`open_pool` starts a pool with its guard, an async generator that the event loop
  itself closes at shutdown (``asyncio.run``'s last step, the last moment its sockets can
  be closed cleanly); :func:`close_pools_soon` is the finalizer of a client collected
  without ``aclose()``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import ssl
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx

from nugen_client._bounded import within

__all__ = [
    "LoopPool",
    "close_guard",
    "close_pools_soon",
    "keep_inherited",
    "open_pool",
    "shard_factory",
    "shard_limits",
]

_SHARD_CONNECTIONS = 2


def shard_limits(limits: httpx.Limits) -> list[httpx.Limits]:
    """Split a connection budget into pools of about two connections each.

    The budget is split exactly (connections and keep-alive add up to the given limits);
    there are never more pools than keep-alive connections, so each pool keeps at least
    one connection alive.
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


def shard_factory(
    timeout: httpx.Timeout, verify: ssl.SSLContext, mounts: dict[str, None] | None = None
) -> Callable[[httpx.Limits], httpx.AsyncClient]:
    """Makes one shard. It holds only what it needs, never the client: a pool outlives its
    client until its loop closes it."""

    def make(limits: httpx.Limits) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, verify=verify, mounts=mounts
        )

    return make


class LoopPool:
    """The connections of one event loop: small httpx pools (shards) and leases on them.

    Every connection of the budget is a token naming the shard it belongs to. A request,
    or a whole stream, holds one token (a lease) while it runs, so no shard is ever asked
    for more connections than it has and waiting requests queue here, where waking one is
    O(1), rather than in httpcore. Tokens go out last-released-first, so light traffic
    stays on the warm connections of a few shards; a shard is created when first leased.
    """

    __slots__ = ("_limits", "_make", "_shards", "_tokens", "guard")

    def __init__(
        self,
        make: Callable[[httpx.Limits], httpx.AsyncClient],
        limits: list[httpx.Limits],
    ) -> None:
        self._make = make
        self._limits = limits
        self._shards: list[httpx.AsyncClient | None] = [None] * len(limits)
        self.guard: AsyncGenerator[None, None] | None = None
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

    @classmethod
    def single(cls, http: httpx.AsyncClient) -> LoopPool:
        """A pool of one given client (an injected one: its own limits apply)."""
        pool = cls(lambda _: http, [httpx.Limits(max_connections=None)])
        pool._shards[0] = http
        return pool

    def clients(self) -> list[httpx.AsyncClient]:
        """The shards created so far."""
        return [http for http in self._shards if http is not None]

    def lease(self, deadline: float | None = None) -> _Lease:
        """A shard with a connection free for this request (waiting for one if need be, but
        not past ``deadline``, a ``time.monotonic()``)."""
        return _Lease(self, deadline)

    async def _take(self, deadline: float | None) -> tuple[int, httpx.AsyncClient]:
        index = 0 if self._tokens is None else await self._tokens.get(deadline)
        http = self._shards[index]
        if http is None:
            try:
                http = self._shards[index] = self._make(self._limits[index])
            except BaseException:
                self._give_back(index)
                raise
        return index, http

    def _give_back(self, index: int) -> None:
        if self._tokens is not None:
            self._tokens.put(index)


class _Lease:
    """``async with pool.lease() as http``. A class, not an async generator: asyncio closes
    the async generators left open at shutdown all at once, and a lease among them would
    be closed while the stream holding it is still closing its response."""

    __slots__ = ("_deadline", "_index", "_pool")

    def __init__(self, pool: LoopPool, deadline: float | None) -> None:
        self._pool = pool
        self._deadline = deadline
        self._index: int | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self._index, http = await self._pool._take(self._deadline)
        return http

    async def __aexit__(self, *exc_info: object) -> None:
        index, self._index = self._index, None
        if index is not None:
            self._pool._give_back(index)


class _Tokens:
    """Free connection tokens: handed out last-released-first (warm connections), to
    waiters in the order they came (a task that releases and asks again at once must not
    overtake them, as it could with ``asyncio.LifoQueue``)."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, tokens: list[int]) -> None:
        self._free = tokens  # a stack: the top is the end
        self._waiters: collections.deque[asyncio.Future[int]] = collections.deque()

    async def get(self, deadline: float | None) -> int:
        if self._free and not self._waiters:
            return self._free.pop()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await (waiter if deadline is None else within(waiter, deadline))
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put(waiter.result())  # handed one as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def put(self, token: int) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(token)
                return
        self._free.append(token)


# Open pools' guards, per event loop; a loop's entry goes when the loop itself is collected.
_LIVE_GUARDS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, set[AsyncGenerator[None, None]]
] = weakref.WeakKeyDictionary()
_CLOSING: set[asyncio.Task[None]] = set()
# In a forked child: what the parent's connections were, kept unclosed and uncollected.
# Closing them (or a guard's finalizer doing so) would shut down the parent's sockets and
# TLS sessions, which the child shares; they are never used again.
_INHERITED: list[object] = []


def keep_inherited(connections: object) -> None:
    """Park connections a forked child inherited, so that nothing ever closes them."""
    _INHERITED.append(connections)


def _forget_parent_guards() -> None:
    _INHERITED.append(dict(_LIVE_GUARDS))
    _LIVE_GUARDS.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which never forks
    os.register_at_fork(after_in_child=_forget_parent_guards)


SHARDED = True  # benchmark switch: sharded pools or one client and a semaphore


class SimplePool:
    """One httpx client and a semaphore bounding the requests and streams it serves."""

    def __init__(self, make: Callable[[httpx.Limits], httpx.AsyncClient], limits: httpx.Limits):
        self.http = make(limits)
        total = limits.max_connections
        self._slots = None if total is None else asyncio.Semaphore(total)
        self.guard: AsyncGenerator[None, None] | None = None

    def clients(self) -> list[httpx.AsyncClient]:
        return [self.http]

    def lease(self, deadline: float | None = None) -> _SimpleLease:
        return _SimpleLease(self, deadline)


class _SimpleLease:
    __slots__ = ("_deadline", "_held", "_pool")

    def __init__(self, pool: SimplePool, deadline: float | None) -> None:
        self._pool = pool
        self._deadline = deadline
        self._held = False

    async def __aenter__(self) -> httpx.AsyncClient:
        slots = self._pool._slots
        if slots is not None:
            if self._deadline is None:
                await slots.acquire()
            else:
                await within(slots.acquire(), self._deadline)
            self._held = True
        return self._pool.http

    async def __aexit__(self, *exc_info: object) -> None:
        if self._held and self._pool._slots is not None:
            self._held = False
            self._pool._slots.release()


async def open_pool(
    make: Callable[[httpx.Limits], httpx.AsyncClient], limits: httpx.Limits
) -> LoopPool:
    """A new pool for the running loop, which closes it when it shuts down."""
    loop = asyncio.get_running_loop()
    pool: Any = LoopPool(make, shard_limits(limits)) if SHARDED else SimplePool(make, limits)
    guard = _close_with_loop(pool, loop)
    await guard.__anext__()
    pool.guard = guard
    # The guard must outlive the client that opened it: if it were collected with the
    # client, its close would be a task that asyncio.run may cancel before it runs.
    _LIVE_GUARDS.setdefault(loop, set()).add(guard)
    return pool


async def close_guard(guard: AsyncGenerator[None, None]) -> None:
    """Close a pool now, through its guard (the guard then forgets itself).

    A coroutine rather than the bare ``guard.aclose()`` awaitable: handed to
    ``ensure_future`` by :func:`close_pools_soon`, the bare awaitable's close was cut short
    by ``asyncio.run``'s cancellation of leftover tasks, leaving shards open
    (``test_async_client_dropped_inside_the_loop_leaks_nothing``).
    """
    await guard.aclose()


def close_pools_soon(
    pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopPool],
) -> None:
    """Finalizer of a collected AsyncNugenClient: close its pools on their own loops.

    A loop that has already closed took its pools with it (its async-generator shutdown);
    one that is shutting down will close any guard this cannot reach in time.
    """
    for loop, pool in list(pools.items()):
        if pool.guard is None or loop.is_closed():
            continue
        guard = pool.guard

        def start(guard: AsyncGenerator[None, None] = guard) -> None:
            task = asyncio.ensure_future(close_guard(guard))
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(start)


async def _close_with_loop(
    pool: LoopPool, loop: asyncio.AbstractEventLoop
) -> AsyncGenerator[None, None]:
    """Suspends until its event loop shuts down its async generators (or the pool is
    closed), then closes the pool's shards.

    Started inside a loop, this generator is registered with it (asyncio's firstiter hook);
    ``asyncio.run`` closes every such generator before it closes the loop, which is the last
    moment the pool's connections can be closed cleanly.
    """
    try:
        yield
    finally:
        try:
            for http in pool.clients():
                await http.aclose()
        finally:
            _forget_guard(pool, loop)


def _forget_guard(pool: LoopPool, loop: asyncio.AbstractEventLoop) -> None:
    """Drop every reference to a closed guard. It holds its loop (asyncio's finalizer hook
    on the generator): left in the registry, which the loop keys weakly, or on the pool,
    which a client keeps per loop, it would keep the finished loop alive."""
    guard, pool.guard = pool.guard, None
    guards = _LIVE_GUARDS.get(loop)
    if guards is not None and guard is not None:
        guards.discard(guard)
        if not guards:
            del _LIVE_GUARDS[loop]
