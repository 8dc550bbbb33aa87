"""Load and lifecycle through one adapter object, over real sockets to a dedicated emulator.

1,000 concurrent async calls through one ``ChatNugen`` / one ``Nugen``: every call gets
its own answer (each prompt is distinct and the emulator quotes it back), the number of
sockets this process holds to the emulator never exceeds the client's pool limit, and
afterwards no task, socket or unraisable warning is left. Then the same object from two
event loops in turn, and an object dropped while its loop still runs.

The suite runs with ``-W error::ResourceWarning``; warnings raised in finalizers are
unraisable rather than errors, so each test also captures ``sys.unraisablehook``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client._base import DEFAULT_LIMITS
from nugen_emulator import NugenEmulator
from tests.support.sockets import count_client_sockets, watch_client_sockets

CALLS = 1_000
POOL_LIMIT = DEFAULT_LIMITS.max_connections  # the adapters expose no pool size: 100
assert POOL_LIMIT is not None


@pytest.fixture(scope="module")
def load_emulator() -> Iterator[NugenEmulator]:
    """An emulator of this module's own: socket counts must not see other tests' pools."""
    with NugenEmulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(load_emulator: NugenEmulator) -> NugenEmulator:
    load_emulator.reset()
    return load_emulator


Ask = Callable[[Any, str], Awaitable[str]]


async def _lc_ask(model: ChatNugen, prompt: str) -> str:
    reply = await model.ainvoke(prompt)
    assert isinstance(reply, AIMessage)
    return str(reply.content)


async def _li_ask(model: Nugen, prompt: str) -> str:
    response: ChatResponse = await model.achat([ChatMessage(role="user", content=prompt)])
    return response.message.content or ""


ADAPTERS: dict[str, tuple[type[Any], Ask]] = {
    "langchain": (ChatNugen, _lc_ask),
    "llama_index": (Nugen, _li_ask),
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> tuple[type[Any], Ask]:
    return ADAPTERS[request.param]


def _make(cls: type[Any], emulator: NugenEmulator, **kwargs: Any) -> Any:
    return cls(base_url=emulator.base_url, api_key=emulator.api_key, max_retries=0, **kwargs)


async def _burst(model: Any, ask: Ask, count: int, port: int) -> tuple[list[str], int]:
    """``count`` concurrent calls; returns the answers and the peak socket count."""
    async with watch_client_sockets(port) as sockets:
        answers = await asyncio.gather(*(ask(model, f"question {i}") for i in range(count)))
    return answers, sockets.peak


def test_a_thousand_concurrent_calls_through_one_object(
    adapter: tuple[type[Any], Ask], emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    cls, ask = adapter
    model = _make(cls, emulator)
    port = emulator.port

    async def main() -> tuple[list[str], int]:
        answers, peak = await _burst(model, ask, CALLS, port)
        # Nothing of ours is still running once every call has returned.
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return answers, peak

    started, cpu = time.monotonic(), time.process_time()
    answers, peak = asyncio.run(main())
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu

    # Every call got its own answer: no error, no cross-talk between concurrent requests.
    assert answers == [f'You asked: "question {i}".' for i in range(CALLS)]
    assert len(emulator.requests) == CALLS  # and no hidden retry
    assert 0 < peak <= POOL_LIMIT
    # The loop's shutdown closed the pool: nothing left open to the emulator.
    assert count_client_sockets(port) == 0
    # The CPU (the emulator's included) catches work that grows faster than the calls; the
    # wall time, loosely, calls that wait on each other. A loaded machine moves only the latter.
    assert cpu < 30, f"{CALLS} calls took {cpu:.1f} s of CPU"
    assert elapsed < 90, f"{CALLS} calls took {elapsed:.1f} s"


def test_one_object_from_two_event_loops_in_turn(
    adapter: tuple[type[Any], Ask], emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    cls, ask = adapter
    model = _make(cls, emulator)
    port = emulator.port

    async def main(tag: str) -> list[str]:
        answers, _ = await _burst(model, ask, 50, port)
        assert count_client_sockets(port) > 0  # the pool keeps its connections while the loop runs
        return [f"{tag}:{answer}" for answer in answers]

    first = asyncio.run(main("first"))
    assert count_client_sockets(port) == 0
    second = asyncio.run(main("second"))  # no "Event loop is closed", no stale connection
    assert count_client_sockets(port) == 0
    assert [a.split(":", 1)[1] for a in first] == [a.split(":", 1)[1] for a in second]
    assert len(emulator.requests) == 100  # exactly one request per call: nothing retried


def test_an_object_dropped_inside_its_loop_releases_everything(
    adapter: tuple[type[Any], Ask], emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    cls, ask = adapter
    port = emulator.port

    async def main() -> None:
        model = _make(cls, emulator)
        answers, _ = await _burst(model, ask, 20, port)
        assert len(answers) == 20
        del model
        gc.collect()  # the client's finalizer schedules its pool's close on this loop
        for _ in range(50):
            if count_client_sockets(port) == 0:
                break
            await asyncio.sleep(0.01)
        assert count_client_sockets(port) == 0  # released while the loop still runs

    asyncio.run(main())
    gc.collect()
    assert count_client_sockets(port) == 0


def test_sync_calls_from_threads_share_one_bounded_pool(
    emulator: NugenEmulator, unraisable: list[Any]
) -> None:
    """Sync ``invoke`` from many threads at once: one pool, bounded, closed with the model."""
    from concurrent.futures import ThreadPoolExecutor

    port = emulator.port

    def use_and_drop() -> list[Any]:
        model = _make(ChatNugen, emulator)
        with ThreadPoolExecutor(max_workers=16) as threads:
            answers = list(threads.map(lambda i: model.invoke(f"question {i}").content, range(64)))
        assert 0 < count_client_sockets(port) <= 16  # kept alive for reuse, one per thread at most
        return answers

    assert use_and_drop() == [f'You asked: "question {i}".' for i in range(64)]
    gc.collect()
    assert count_client_sockets(port) == 0  # the model's pool closed with it


def test_new_event_loops_do_not_reload_the_ca_bundle(
    adapter: tuple[type[Any], Ask],
    emulator: NugenEmulator,
    monkeypatch: pytest.MonkeyPatch,
    unraisable: list[Any],
) -> None:
    """Each event loop gets a pool of several httpx clients; loading the CA bundle for each
    (a costly parse) would make every ``asyncio.run`` with a used object slow."""
    import ssl

    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    cls, ask = adapter
    model = _make(cls, emulator)
    for _ in range(3):
        assert asyncio.run(ask(model, "hello")) == 'You asked: "hello".'
    assert loads == []  # a plain http:// service needs no CA bundle, in any loop
