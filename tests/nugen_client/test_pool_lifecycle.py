"""Pools, event loops, concurrency and clean shutdown, over real sockets to the emulator.

The suite runs with ``ResourceWarning`` as an error (pyproject), and each test here also
collects garbage and checks that nothing unraisable (an unclosed socket or transport) was
reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from nugen_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncNugenClient,
    InvalidInputError,
    NugenClient,
    NugenError,
    RateLimitError,
    StreamInterruptedError,
)
from nugen_client._pool import open_pool, shard_limits
from nugen_emulator import Fault, NugenEmulator
from tests.support.hostile import hostile_server, http_head
from tests.support.sockets import count_client_sockets

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def nugen_emulator() -> Iterator[NugenEmulator]:
    """An emulator of this test's own: socket counts must not see other tests' pools."""
    with NugenEmulator() as emulator:
        yield emulator


def _sockets(port: int) -> int:
    return count_client_sockets(port)


def test_one_async_client_across_event_loops(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)

    async def ask() -> str:
        reply = await asyncio.gather(
            *(client.chat_completion(model="m", messages=USER) for _ in range(3))
        )
        return reply[0].choices[0].message.text

    first = asyncio.run(ask())
    second = asyncio.run(ask())  # a new loop: no "Event loop is closed", no hidden retry
    assert first == second
    assert len(nugen_emulator.requests) == 6
    gc.collect()
    assert unraisable == []


def test_an_async_call_outside_an_asyncio_loop_says_so() -> None:
    # As under trio: the calls are driven by hand, with no asyncio loop running.
    client = AsyncNugenClient(api_key="k", base_url="http://127.0.0.1:9")
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    calls: list[Callable[[], Any]] = [
        lambda: client.chat_completion(**chat).send(None),  # type: ignore[arg-type]
        lambda: client.stream_chat_completion(**chat).__anext__(),  # type: ignore[arg-type]
        lambda: client.aclose().send(None),
    ]
    for call in calls:
        with pytest.raises(NugenError, match="runs in an asyncio event loop, and none is"):
            call()


@pytest.mark.parametrize("close", [False, True], ids=["left-open", "aclose"])
def test_successive_event_loops_are_freed(
    nugen_emulator: NugenEmulator, unraisable: list[Any], close: bool
) -> None:
    # Each asyncio.run leaves a closed loop behind: neither the client (alive throughout)
    # nor its pools may keep one alive.
    client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def ask() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await client.chat_completion(model="m", messages=USER)
        async for _ in client.stream_chat_completion(model="m", messages=USER):
            pass
        if close:
            await client.aclose()

    for _ in range(5):
        asyncio.run(ask())
    gc.collect()
    assert len(nugen_emulator.requests) == 10
    assert [ref for ref in loops if ref() is not None] == []
    assert unraisable == []


def test_async_client_dropped_inside_the_loop_leaks_nothing(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    async def main() -> None:
        client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        await asyncio.gather(*(client.embeddings(model="m", input=[str(i)]) for i in range(4)))
        del client  # collected here, while the loop still runs

    for _ in range(2):
        asyncio.run(main())
        gc.collect()
    assert unraisable == []


def test_aclose_and_context_manager_release_the_sockets(nugen_emulator: NugenEmulator) -> None:
    port = nugen_emulator.port

    async def main() -> None:
        async with AsyncNugenClient(
            base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key
        ) as client:
            await asyncio.gather(
                *(client.chat_completion(model="m", messages=USER) for _ in range(5))
            )
            assert _sockets(port) > 0
        assert _sockets(port) == 0

    asyncio.run(main())


def test_sync_client_dropped_without_close_releases_its_pool(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    port = nugen_emulator.port
    client = NugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    client.chat_completion(model="m", messages=USER)
    assert _sockets(port) == 1
    del client
    gc.collect()
    assert _sockets(port) == 0
    assert unraisable == []


def test_concurrency_is_bounded_by_the_pool(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    limit = 30
    nugen_emulator.inject(Fault(delay=0.05), times=200)
    peak = 0

    async def main() -> None:
        nonlocal peak
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _sockets(nugen_emulator.port))
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(
            *(client.chat_completion(model="m", messages=USER) for _ in range(200)),
            return_exceptions=True,
        )
        done.set()
        await watcher
        await client.aclose()
        assert [r for r in results if isinstance(r, BaseException)] == []

    asyncio.run(main())
    assert 0 < peak <= limit
    assert len(nugen_emulator.requests) == 200
    assert unraisable == []


def test_streams_hold_their_slot_until_closed(nugen_emulator: NugenEmulator) -> None:
    async def main() -> list[str]:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=2),
        )

        async def stream() -> str:
            parts = [
                c.choices[0].delta.content or ""
                async for c in client.stream_chat_completion(model="m", messages=USER)
                if c.choices
            ]
            return "".join(parts)

        texts = await asyncio.gather(*(stream() for _ in range(6)))
        await client.aclose()
        return texts

    texts = asyncio.run(main())
    assert len(set(texts)) == 1
    assert texts[0]


@pytest.mark.parametrize(
    ("total", "keepalive", "shards"),
    [(1, 1, 1), (2, 2, 1), (3, 3, 2), (100, 100, 50), (100, 20, 20), (100, None, 50), (7, 0, 4)],
)
def test_pool_is_split_exactly_into_small_pools(
    total: int, keepalive: int | None, shards: int
) -> None:
    limits = shard_limits(httpx.Limits(max_connections=total, max_keepalive_connections=keepalive))
    assert len(limits) == shards
    assert sum(lim.max_connections or 0 for lim in limits) == total
    sizes = {lim.max_connections or 0 for lim in limits}
    assert max(sizes) - min(sizes) <= 1
    if keepalive is None:
        assert all(lim.max_keepalive_connections is None for lim in limits)
    else:
        assert sum(lim.max_keepalive_connections or 0 for lim in limits) == keepalive
        if keepalive:
            assert all((lim.max_keepalive_connections or 0) >= 1 for lim in limits)


def test_light_traffic_stays_on_one_small_pool(nugen_emulator: NugenEmulator) -> None:
    async def main() -> int:
        client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        for _ in range(5):
            await client.chat_completion(model="m", messages=USER)
        shards = len((await client._pool()).clients())
        await client.aclose()
        return shards

    assert asyncio.run(main()) == 1


def test_streams_and_calls_share_one_connection_budget(nugen_emulator: NugenEmulator) -> None:
    # A stream holds its connection until it is read to the end; calls queue for the rest.
    peak = 0

    async def main() -> list[str]:
        nonlocal peak
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=5),
        )

        async def stream() -> str:
            nonlocal peak
            text = ""
            async for chunk in client.stream_chat_completion(model="m", messages=USER):
                peak = max(peak, _sockets(nugen_emulator.port))
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                await asyncio.sleep(0)
            return text

        async def call() -> str:
            completion = await client.chat_completion(model="m", messages=USER)
            return completion.choices[0].message.text

        texts = await asyncio.gather(*(stream() for _ in range(4)), *(call() for _ in range(20)))
        await client.aclose()
        return texts

    texts = asyncio.run(main())
    assert all(texts)
    assert len(set(texts)) == 1  # the emulator answers the same prompt the same way
    assert 0 < peak <= 5


def test_waiting_calls_are_served_in_turn(nugen_emulator: NugenEmulator) -> None:
    # Two tasks calling back to back hold both connections; a third call must get the next
    # one released, not wait until they stop.
    async def main() -> int:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=2),
        )
        done = 0

        async def busy() -> None:
            nonlocal done
            for _ in range(40):
                await client.chat_completion(model="m", messages=USER)
                done += 1

        tasks = [asyncio.create_task(busy()) for _ in range(2)]
        await asyncio.sleep(0.05)
        before = done
        await client.chat_completion(model="m", messages=USER)
        overtaken = done - before
        await asyncio.gather(*tasks)
        await client.aclose()
        return overtaken

    assert asyncio.run(main()) <= 4


def test_a_stream_closed_early_frees_its_connection_before_its_lease(
    nugen_emulator: NugenEmulator,
) -> None:
    nugen_emulator.inject(stall_after=1, stall_seconds=5)

    async def main() -> int:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=1),
        )
        stream = client.stream_chat_completion(model="m", messages=USER)
        await anext(stream)
        await stream.aclose()
        open_now = _sockets(nugen_emulator.port)
        await client.aclose()
        return open_now

    assert asyncio.run(main()) == 0


def test_unbounded_limits_make_one_pool() -> None:
    unbounded = httpx.Limits(max_connections=None)
    assert shard_limits(unbounded) == [unbounded]


def test_async_on_retry_coroutine_is_awaited(nugen_emulator: NugenEmulator) -> None:
    seen: list[int] = []

    async def on_retry(state: Any) -> None:
        await asyncio.sleep(0)
        seen.append(state.attempt_number)

    async def fast_sleep(seconds: float) -> None:
        return None

    nugen_emulator.inject(Fault(status=429, headers={"Retry-After": "0"}), times=2)

    async def main() -> None:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, sleep=fast_sleep
        )
        await client.chat_completion(model="m", messages=USER, on_retry=on_retry)
        await client.aclose()

    asyncio.run(main())
    assert seen == [1, 2]

    nugen_emulator.inject(Fault(status=429, headers={"Retry-After": "0"}), times=5)

    async def exhausted() -> None:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, sleep=fast_sleep
        )
        try:
            await client.chat_completion(model="m", messages=USER, on_retry=on_retry)
        finally:
            await client.aclose()

    with pytest.raises(RateLimitError):
        asyncio.run(exhausted())


def test_watch_client_sockets_counts_only_what_the_block_opens(
    nugen_emulator: NugenEmulator,
) -> None:
    from tests.support.sockets import watch_client_sockets

    async def main() -> tuple[int, int, int]:
        async def connected(n: int) -> list[httpx.AsyncClient]:
            clients = [httpx.AsyncClient() for _ in range(n)]
            for client in clients:
                await client.get(nugen_emulator.base_url + "/models")
            return clients

        earlier = await connected(2)
        async with watch_client_sockets(nugen_emulator.port, interval=0.001) as seen:
            for client in earlier:  # sockets open before the block close inside it
                await client.aclose()
            await asyncio.sleep(0.01)
            mine = await connected(3)
            await asyncio.sleep(0.01)
            for client in mine:
                await client.aclose()
        return seen.before, seen.peak, _sockets(nugen_emulator.port)

    before, peak, after = asyncio.run(main())
    assert (before, peak, after) == (2, 3, 0)


def test_a_hand_run_loop_takes_its_pool_and_sockets_with_it(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # run_until_complete then close(), without shutdown_asyncgens: the client lives on, the
    # loop and its sockets do not. asyncio can no longer close the transports of a closed
    # loop cleanly and warns as it collects them (ResourceWarning, hidden by default).
    client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def ask() -> None:
        async for _ in client.stream_chat_completion(model="m", messages=USER):
            pass
        await client.chat_completion(model="m", messages=USER)  # leaves a pooled connection

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        for _ in range(5):
            loop = asyncio.new_event_loop()
            loops.append(weakref.ref(loop))
            loop.run_until_complete(ask())
            assert _sockets(nugen_emulator.port) == 1
            loop.close()
            del loop
            gc.collect()  # a loop's transports are in reference cycles
            assert _sockets(nugen_emulator.port) == 0
    assert [ref for ref in loops if ref() is not None] == []
    assert len(nugen_emulator.requests) == 10
    assert unraisable == []


def _forked_child_holds(port: int) -> int:
    """How many of this process's sockets to ``port`` a forked child still holds."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(min(_sockets(port), 100))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_lets_go_of_the_parents_sockets(nugen_emulator: NugenEmulator) -> None:
    port = nugen_emulator.port
    sync = NugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    sync.chat_completion(model="m", messages=USER)
    assert _sockets(port) == 1
    assert _forked_child_holds(port) == 0
    sync.chat_completion(model="m", messages=USER)  # the parent's connection still works
    assert _sockets(port) == 1
    sync.close()

    async def main() -> int:
        async with AsyncNugenClient(
            base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key
        ) as client:
            await client.chat_completion(model="m", messages=USER)
            held = _forked_child_holds(port)  # forked inside the running loop
            await client.chat_completion(model="m", messages=USER)
            assert _sockets(port) == 1
        return held

    assert asyncio.run(main()) == 0
    assert len(nugen_emulator.requests) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_a_child_forked_during_a_call_lets_go_of_its_socket(
    nugen_emulator: NugenEmulator, client_kind: str
) -> None:
    # Forked while another thread's call awaits its answer: the socket that call opened
    # is the parent's too, and no answer has marked it yet.
    arrived, release = threading.Event(), threading.Event()

    def hold(call: Any) -> None:
        arrived.set()
        release.wait(10)

    nugen_emulator.chat_reply = hold
    kwargs = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    if client_kind == "sync":
        sync = NugenClient(**kwargs)
        call = threading.Thread(target=lambda: sync.chat_completion(model="m", messages=USER))
    else:
        client = AsyncNugenClient(**kwargs)
        ask = client.chat_completion(model="m", messages=USER)
        call = threading.Thread(target=asyncio.run, args=(ask,))
    call.start()
    try:
        assert arrived.wait(10)
        assert _sockets(nugen_emulator.port) == 1
        held = _forked_child_holds(nugen_emulator.port)
    finally:
        release.set()
        call.join(10)
    assert held == 0
    if client_kind == "sync":
        sync.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_that_cannot_release_the_parents_sockets_still_opens_its_own(
    nugen_emulator: NugenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Out of descriptors at the fork, the child cannot point the inherited sockets at
    # /dev/null; its clients must still forget the parent's connections, or its requests
    # would interleave with the parent's on the same socket.
    sync = NugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    sync.chat_completion(model="m", messages=USER)
    real_open = os.open

    def out_of_descriptors(path: Any, *args: Any, **kwargs: Any) -> int:
        if path == os.devnull:
            raise OSError(24, "Too many open files")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", out_of_descriptors)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.open = real_open
        sync.chat_completion(model="m", messages=USER)
        os._exit(min(_sockets(nugen_emulator.port), 100))
    monkeypatch.undo()
    _, status = os.waitpid(pid, 0)
    # The parent's socket (not released) and the child's own connection.
    assert os.waitstatus_to_exitcode(status) == 2
    sync.chat_completion(model="m", messages=USER)  # the parent's connection still works
    sync.close()


def test_a_client_dropped_in_a_running_loop_closes_its_pool_there(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # The loop holds its pools: a long-running loop must not keep those of dropped clients.
    async def main() -> tuple[int, bool]:
        client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        await client.chat_completion(model="m", messages=USER)
        pool = weakref.ref(await client._pool())
        del client
        gc.collect()
        for _ in range(100):
            if _sockets(nugen_emulator.port) == 0:
                break
            await asyncio.sleep(0.01)
        gc.collect()
        return _sockets(nugen_emulator.port), pool() is None

    assert asyncio.run(main()) == (0, True)
    assert unraisable == []


def test_aclose_lets_the_loop_forget_the_pool(nugen_emulator: NugenEmulator) -> None:
    async def main() -> tuple[bool, str]:
        client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        await client.chat_completion(model="m", messages=USER)
        pool = await client._pool()
        guard, pool_ref = pool._guard, weakref.ref(pool)
        del pool
        await client.aclose()
        gc.collect()
        # Neither the pool nor its finished guard stays on the loop (a long-running loop
        # would pile them up).
        forgotten = pool_ref() is None and guard is not None and guard() is None
        reply = await client.chat_completion(model="m", messages=USER)  # a fresh pool
        await client.aclose()
        return forgotten, reply.choices[0].message.text

    forgotten, text = asyncio.run(main())
    assert forgotten
    assert text


@pytest.mark.parametrize("where", ["handle_async_request", "_response_closed"])
@pytest.mark.parametrize("call", ["chat_completion", "embeddings", "stream"])
def test_a_call_cancelled_inside_httpcore_gives_its_connection_back(
    nugen_emulator: NugenEmulator, monkeypatch: pytest.MonkeyPatch, call: str, where: str
) -> None:
    # httpcore (1.0) awaits a lock before it marks a connection busy (sending) and before
    # it hands it back to its pool (closing): a cancellation landing on either await
    # (asyncio.wait_for, a task cancelled as its answer arrives) left the connection busy
    # for good, and with it a slot of the pool, until a full pool hung every request. Here
    # the cancellation lands there every time.
    from httpcore._async.http11 import AsyncHTTP11Connection

    original = getattr(AsyncHTTP11Connection, where)
    callers: list[asyncio.Task[Any]] = []

    async def cancelled_on_the_way(self: Any, *args: Any) -> Any:
        if callers:
            callers.pop().cancel()
        return await original(self, *args)

    monkeypatch.setattr(AsyncHTTP11Connection, where, cancelled_on_the_way)
    client = AsyncNugenClient(
        base_url=nugen_emulator.base_url,
        api_key=nugen_emulator.api_key,
        limits=httpx.Limits(max_connections=1),
    )

    async def once() -> None:
        if call == "stream":
            async with client.stream_chat_completion(model="m", messages=USER) as stream:
                async for _ in stream:
                    pass
        elif call == "embeddings":
            await client.embeddings(model="e", input=["a"])
        else:
            await client.chat_completion(model="m", messages=USER)

    async def main() -> None:
        caller = asyncio.ensure_future(once())
        callers.append(caller)
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert callers == []  # cancelled on the way
        await asyncio.wait_for(once(), 5)  # the one connection is free again
        await client.aclose()

    asyncio.run(main())


def test_a_stream_waiting_for_a_connection_past_its_deadline_is_an_api_timeout(
    nugen_emulator: NugenEmulator,
) -> None:
    # The one connection is held by an open stream: the second stream waits for it (in
    # the pool, before anything is sent) until its deadline passes.
    async def main() -> None:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=1),
            deadline=0.2,
        )
        async with client.stream_chat_completion(model="m", messages=USER) as holding:
            await anext(holding)
            with pytest.raises(APITimeoutError, match="deadline"):
                async with client.stream_chat_completion(model="m", messages=USER) as waiting:
                    await anext(waiting)
        await client.aclose()

    asyncio.run(main())
    assert len(nugen_emulator.requests) == 1


def test_a_call_waiting_for_a_connection_when_the_pool_closes_gets_a_client_error(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # aclose() closes the pool a call is queued on: granted its connection afterwards, the
    # call must not send on a closed httpx client (a bare RuntimeError) nor open a client in
    # the closed pool that nothing would close.
    async def main() -> tuple[BaseException, str]:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=1),
            max_retries=0,
        )
        holding = client.stream_chat_completion(model="m", messages=USER)
        await anext(holding)
        pool = await client._pool()
        waiting = asyncio.ensure_future(client.chat_completion(model="m", messages=USER))
        assert pool._tokens is not None
        for _ in range(5):  # it runs until it queues for the connection (3.10: a step more)
            await asyncio.sleep(0)
            if pool._tokens._waiters:
                break
        assert pool._tokens._waiters
        await client.aclose()
        await holding.aclose()
        failure = (await asyncio.gather(waiting, return_exceptions=True))[0]
        reply = await client.chat_completion(model="m", messages=USER)  # a fresh pool
        await client.aclose()
        assert isinstance(failure, BaseException)
        return failure, reply.choices[0].message.text

    failure, text = asyncio.run(main())
    assert isinstance(failure, APIConnectionError)
    assert "closed" in str(failure)
    assert text
    gc.collect()
    assert unraisable == []


def test_a_cancelled_aclose_still_closes_every_connection(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # A cancellation landing in aclose() (a timeout around the block that leaves an
    # ``async with`` client, a cancelled task) must not stop it at its first shard: the
    # other shards' sockets would stay open, with no pool left on the loop to close them.
    async def main() -> tuple[int, int]:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url,
            api_key=nugen_emulator.api_key,
            limits=httpx.Limits(max_connections=6),
        )
        nugen_emulator.inject(delay=0.1, times=6)  # six at once: every shard opens its two
        await asyncio.gather(*(client.chat_completion(model="m", messages=USER) for _ in range(6)))
        opened = _sockets(nugen_emulator.port)
        closing = asyncio.ensure_future(client.aclose())
        await asyncio.sleep(0)  # under way, in the first shard's close
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        others = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.gather(*others)  # whatever goes on closing, off the caller's back
        return opened, _sockets(nugen_emulator.port)

    opened, left = asyncio.run(main())
    assert opened == 6
    assert left == 0
    gc.collect()
    assert unraisable == []


def test_a_client_collected_as_its_loop_shuts_down_closes_its_pool_once(
    nugen_emulator: NugenEmulator, caplog: pytest.LogCaptureFixture, unraisable: list[Any]
) -> None:
    # A stream its consumer broke out of keeps its client until the loop's shutdown closes
    # it; the client, collected then, closes its pool on the loop (its finalizer) while the
    # shutdown closes the same pool: neither may find the other's close under way ("aclose():
    # asynchronous generator is already running", logged by asyncio).
    async def main() -> None:
        client = AsyncNugenClient(
            base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, max_retries=0
        )
        nugen_emulator.inject(delay=0.1, times=4)  # idle connections left on two shards
        await asyncio.gather(*(client.chat_completion(model="m", messages=USER) for _ in range(4)))
        with contextlib.suppress(KeyError):
            async for _ in client.stream_chat_completion(model="m", messages=USER):
                raise KeyError("the consumer failed")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
    assert caplog.records == []
    assert _sockets(nugen_emulator.port) == 0
    gc.collect()
    assert unraisable == []


class _SlowToClose(httpx.AsyncClient):
    """A shard whose close takes a moment, or fails at once."""

    def __init__(self, fails: bool) -> None:
        super().__init__()
        self.fails = fails

    async def aclose(self) -> None:
        if self.fails:
            raise OSError("this shard cannot close")
        await asyncio.sleep(0.01)
        await super().aclose()


def test_a_shard_that_fails_to_close_leaves_no_other_open() -> None:
    # The failure is raised once every other shard is closed: raised at once, it would let
    # the loop end (asyncio.run after a failed aclose, or its shutdown closing the pool)
    # with the other closes unfinished.
    async def main(shards: list[_SlowToClose]) -> None:
        pool = await open_pool(httpx.AsyncClient, httpx.Limits(max_connections=6))
        pool._shards[:] = shards
        with pytest.raises(OSError, match="cannot close"):
            await pool.aclose()
        assert [shard.is_closed for shard in shards] == [False, True, True]

    asyncio.run(main([_SlowToClose(fails=index == 0) for index in range(3)]))


@pytest.mark.parametrize("injected", [False, True], ids=["own pool", "http_client"])
def test_closing_the_client_ends_a_stream_being_read_saying_so(
    nugen_emulator: NugenEmulator, injected: bool
) -> None:
    # A stream closed by its client between two chunks, the server not done sending (it
    # pauses after 5): the error says the client was closed, not that a read failed (which
    # reads as a network fault).
    nugen_emulator.inject(stall_after=5, stall_seconds=0.5, times=2)
    settings = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    closed = r"\(the client was closed\)"
    sync = NugenClient(**settings, http_client=httpx.Client() if injected else None)

    def read_closing_sync() -> None:
        for count, _ in enumerate(sync.stream_chat_completion(model="m", messages=USER)):
            if count == 3:
                (sync._injected or sync).close()

    with pytest.raises(StreamInterruptedError, match=closed):
        read_closing_sync()

    async def read_closing_async() -> None:
        client = AsyncNugenClient(**settings, http_client=httpx.AsyncClient() if injected else None)
        count = 0
        async for _ in client.stream_chat_completion(model="m", messages=USER):
            count += 1
            if count == 3:
                await (client._injected or client).aclose()

    with pytest.raises(StreamInterruptedError, match=closed):
        asyncio.run(read_closing_async())


def test_closing_the_client_while_a_body_is_read_says_so_with_the_request_id() -> None:
    head = http_head(content_type="application/json", content_length="1000", x_request_id="req-8")
    closed = r"the client was closed .* while this call used it \[request id: req-8\]"
    with hostile_server([head, *([b" ", 0.1] * 100)]) as server:
        settings = {"base_url": server.url, "api_key": "k", "max_retries": 0}
        sync = NugenClient(**settings)
        threading.Timer(0.3, sync.close).start()
        with pytest.raises(APIConnectionError, match=closed):
            sync.chat_completion(model="m", messages=USER)

        async def main() -> None:
            client = AsyncNugenClient(**settings)
            asyncio.get_running_loop().call_later(
                0.3, lambda: asyncio.ensure_future(client.aclose())
            )
            with pytest.raises(APIConnectionError, match=closed):
                await client.chat_completion(model="m", messages=USER)

        asyncio.run(main())


def test_a_call_on_a_closed_http_client_passed_in_is_refused_at_once(
    nugen_emulator: NugenEmulator,
) -> None:
    # httpx refuses a closed client with a bare RuntimeError, and no retry can change that:
    # the call is refused locally, naming the cause, with no retry and no wait. (A call
    # racing with close() on the client's own pool is a connection error, retried on a new
    # pool.)
    settings = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    slept: list[float] = []
    closed = httpx.Client()
    closed.close()
    client = NugenClient(**settings, http_client=closed, sleep=slept.append)
    refused = "the http_client passed in is closed"
    with pytest.raises(InvalidInputError, match=refused):
        client.chat_completion(model="m", messages=USER)
    with pytest.raises(InvalidInputError, match=refused):
        list(client.stream_chat_completion(model="m", messages=USER))

    async def main() -> None:
        aclosed = httpx.AsyncClient()
        await aclosed.aclose()

        async def asleep(seconds: float) -> None:
            slept.append(seconds)

        aclient = AsyncNugenClient(**settings, http_client=aclosed, sleep=asleep)
        with pytest.raises(InvalidInputError, match=refused):
            await aclient.chat_completion(model="m", messages=USER)
        with pytest.raises(InvalidInputError, match=refused):
            async for _ in aclient.stream_chat_completion(model="m", messages=USER):
                pass

    asyncio.run(main())
    assert slept == []
    assert nugen_emulator.requests == []


def test_a_sync_client_closed_and_reused_keeps_no_closed_pool(
    nugen_emulator: NugenEmulator,
) -> None:
    # A long-lived client closed and used again (``with client:`` per job) opens a new pool
    # each time: the closed ones must not pile up in memory.
    client = NugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    closed = []
    for _ in range(3):
        with client:
            client.chat_completion(model="m", messages=USER)
            closed.append(weakref.ref(client._client()))
    gc.collect()
    assert [ref() for ref in closed] == [None, None, None]
    del client
    gc.collect()


def test_an_injected_async_client_reused_in_a_new_event_loop_fails_as_a_client_error(
    nugen_emulator: NugenEmulator,
) -> None:
    # An httpx.AsyncClient of the caller's is used as is: its pooled connection belongs to
    # the first asyncio.run's loop, closed by the second call, and httpx refuses it with a
    # bare RuntimeError. That is a connection error, retried (on a new connection) as the
    # OpenAI SDK retries it.
    settings = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    http = httpx.AsyncClient()
    once = AsyncNugenClient(**settings, http_client=http, max_retries=0)
    retried = AsyncNugenClient(**settings, http_client=http, sleep=_no_sleep)

    async def last_loop() -> None:
        await retried.chat_completion(model="m", messages=USER)
        await http.aclose()  # its connection is this loop's: closed in it

    with warnings.catch_warnings():
        # The connections httpx drops, of closed loops, can no longer be closed cleanly.
        warnings.simplefilter("ignore", ResourceWarning)
        asyncio.run(once.chat_completion(model="m", messages=USER))
        with pytest.raises(APIConnectionError, match="Event loop is closed"):
            asyncio.run(once.chat_completion(model="m", messages=USER))
        asyncio.run(retried.chat_completion(model="m", messages=USER))
        asyncio.run(last_loop())
        gc.collect()


async def _no_sleep(seconds: float) -> None:
    return None


STORY = [{"role": "user", "content": "a long story " * 10}]


def _one_connection(emulator: NugenEmulator, max_retries: int) -> dict[str, Any]:
    """A client's settings with one connection, waited for at most 0.3 s, and no deadline."""
    return {
        "base_url": emulator.base_url,
        "api_key": emulator.api_key,
        "limits": httpx.Limits(max_connections=1),
        "timeout": httpx.Timeout(10, pool=0.3),
        "deadline": None,
        "max_retries": max_retries,
    }


def test_waiting_for_a_connection_is_bounded_by_the_pool_timeout_sync_and_async(
    nugen_emulator: NugenEmulator,
) -> None:
    # Every connection is held by an open stream and the call has no deadline: a call that
    # needs one fails after timeout.pool, as httpx's own pool makes the sync client fail,
    # instead of waiting until a stream ends.
    settings = _one_connection(nugen_emulator, max_retries=0)
    sync = NugenClient(**settings)
    with sync.stream_chat_completion(model="m", messages=STORY) as held:
        next(iter(held))
        with pytest.raises(APITimeoutError):
            sync.chat_completion(model="m", messages=USER)

    async def main() -> None:
        client = AsyncNugenClient(**settings)
        async with client.stream_chat_completion(model="m", messages=STORY) as held:
            await held.__anext__()
            with pytest.raises(APITimeoutError, match="pool timeout"):
                await asyncio.wait_for(client.chat_completion(model="m", messages=USER), 5)
            stream = client.stream_chat_completion(model="m", messages=USER)
            with pytest.raises(APITimeoutError, match="pool timeout"):
                await asyncio.wait_for(stream.__anext__(), 5)
        await client.aclose()

    asyncio.run(main())


def test_a_stream_that_waited_past_the_pool_timeout_is_retried_sync_and_async(
    nugen_emulator: NugenEmulator,
) -> None:
    # The wait for a connection is an attempt like any other, for a stream as for a call:
    # the retry gets the connection the held stream gave back during the backoff.
    settings = _one_connection(nugen_emulator, max_retries=1)
    held: list[Any] = []
    sync = NugenClient(**settings, sleep=lambda _: held.pop().close())
    with sync.stream_chat_completion(model="m", messages=STORY) as stream:
        next(iter(stream))
        held.append(stream)
        assert list(sync.stream_chat_completion(model="m", messages=USER))
    assert held == []

    async def main() -> None:
        async def give_back(_: float) -> None:
            await held.pop().aclose()

        client = AsyncNugenClient(**settings, sleep=give_back)
        async with client.stream_chat_completion(model="m", messages=STORY) as stream:
            await stream.__anext__()
            held.append(stream)
            second = client.stream_chat_completion(model="m", messages=USER)
            assert [chunk async for chunk in second]
        assert held == []
        await client.aclose()

    asyncio.run(main())


def test_a_stream_read_to_its_end_leaves_nothing_for_the_garbage_collector(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # A loop run without asyncio's async-generator hooks (nest_asyncio's run_until_complete,
    # and so its asyncio.run) leaves an unfinished async generator to the garbage collector
    # alone. httpx's body iterator, dropped at [DONE] before the response was closed, was
    # collected there, and httpcore's iterator under it then awaited its own close: "async
    # generator ignored GeneratorExit" and "no running event loop", printed for every stream.
    async def main() -> None:
        client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
        await client.chat_completion(model="m", messages=USER)  # the pool, with the hooks
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
        try:
            streams = (
                client.stream_chat_completion(model="m", messages=USER),
                client.stream_completion(model="m", prompt="hi"),
            )
            for stream in streams:
                async with stream:
                    async for _ in stream:
                        pass
                gc.collect()
        finally:
            sys.set_asyncgen_hooks(*hooks)
        await client.aclose()

    asyncio.run(main())


def test_a_pool_opened_without_async_generator_hooks_goes_quietly_with_its_loop(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # nest_asyncio's run_until_complete runs a loop without asyncio's async-generator
    # hooks: the loop never learns of the pool's guard, which is collected when the loop
    # closes, with no loop left to await the pool's close on ("async generator ignored
    # GeneratorExit" was printed). Its connections go with the loop, as with any loop
    # closed without shutdown_asyncgens().
    client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)

    async def main() -> str:
        sys.set_asyncgen_hooks(firstiter=None, finalizer=None)  # restored as the run ends
        reply = await client.chat_completion(model="m", messages=USER)
        return reply.choices[0].message.text

    loop = asyncio.new_event_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the unclosed connection, as documented
        try:
            assert loop.run_until_complete(main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
        gc.collect()


def test_a_pool_without_async_generator_hooks_collected_under_another_loop_goes_quietly(
    nugen_emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    # As above, but the loop is dropped unclosed (as nest_asyncio's are) and the garbage
    # collector finds its pool's guard while another loop runs in this thread: the guard
    # must not close the pool on that loop (whose tasks would close another loop's
    # connections, the guard awaiting them from inside the collector).
    client = AsyncNugenClient(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)

    async def call() -> None:
        sys.set_asyncgen_hooks(firstiter=None, finalizer=None)  # restored as the run ends
        await client.chat_completion(model="m", messages=USER)

    def run_and_drop() -> None:
        asyncio.new_event_loop().run_until_complete(call())

    async def collect() -> None:
        gc.collect()
        await asyncio.sleep(0.05)  # what the guard might have started, given time to fail

    gc.disable()  # the dropped loop is found only by the collection below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the unclosed loop and connection
            worker = threading.Thread(target=run_and_drop)
            worker.start()
            worker.join()
            asyncio.run(collect())
            gc.collect()
    finally:
        gc.enable()


def test_streams_read_to_their_end_reuse_one_connection(nugen_emulator: NugenEmulator) -> None:
    # What follows [DONE] (the live service sends one more chunk) is read to the end of the
    # body, so the connection goes back to the pool instead of being closed: a stream after
    # a stream opens no new connection (over TLS, a handshake saved per stream).
    from tests.support.sockets import _client_sockets

    port = nugen_emulator.port
    messages = [{"role": "user", "content": "hello"}]
    kw = {"api_key": nugen_emulator.api_key, "base_url": nugen_emulator.base_url}

    def one_stream(client: NugenClient) -> set[str] | None:
        for _ in client.stream_chat_completion(model="nugen-flash-instruct", messages=messages):
            pass
        return _client_sockets(port)

    async def async_streams() -> list[set[str] | None]:
        seen = []
        async with AsyncNugenClient(**kw) as client:
            for _ in range(3):
                stream = client.stream_chat_completion(
                    model="nugen-flash-instruct", messages=messages
                )
                async for _chunk in stream:
                    pass
                seen.append(_client_sockets(port))
        return seen

    with NugenClient(**kw) as client:
        sync_seen = [one_stream(client) for _ in range(3)]
    for seen in (sync_seen, asyncio.run(async_streams())):
        assert seen[0] is not None, "no /proc here"
        assert len(seen[0]) == 1, seen  # kept open, idle in the pool
        assert seen[0] == seen[1] == seen[2], seen  # the same connection each time
