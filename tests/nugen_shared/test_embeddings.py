"""nugen_shared.embeddings on its own: order, the in-flight bound, errors, cancellation."""

from __future__ import annotations

import asyncio
import copy
import os
import pickle
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tenacity import RetryCallState

from nugen_client import APIResponseValidationError, RateLimitError
from nugen_client.params import OnRetry
from nugen_shared.embeddings import AdaptiveLimit, aembed_in_batches, embed_in_batches


def vector_of(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 97)]


class InFlight:
    """Counts the batches being sent at once (from threads or tasks)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.sent: list[list[str]] = []
        self._lock = threading.Lock()

    def enter(self, batch: list[str]) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.sent.append(batch)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def rate_limited(hook: OnRetry) -> None:
    """Tell a batch's retry hook that its request got a 429."""
    error = RateLimitError("rate limited", status_code=429)
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.set_exception((RateLimitError, error, None))
    hook(state)


TEXTS = [f"text number {i}" for i in range(101)]


def test_sync_order_under_random_latency() -> None:
    flight, rng = InFlight(), random.Random(7)
    delays = {text: rng.uniform(0.0, 0.02) for text in TEXTS}

    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        flight.enter(batch)
        time.sleep(delays[batch[0]])
        flight.leave()
        return [vector_of(text) for text in batch]

    vectors = embed_in_batches(send, TEXTS, batch_size=4, max_concurrency=5)
    assert vectors == [vector_of(text) for text in TEXTS]
    assert sorted(map(tuple, flight.sent)) == sorted(
        tuple(TEXTS[i : i + 4]) for i in range(0, len(TEXTS), 4)
    )
    assert 1 < flight.peak <= 5


async def test_async_order_under_random_latency() -> None:
    flight, rng = InFlight(), random.Random(11)
    delays = {text: rng.uniform(0.0, 0.02) for text in TEXTS}

    async def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        flight.enter(batch)
        await asyncio.sleep(delays[batch[0]])
        flight.leave()
        return [vector_of(text) for text in batch]

    vectors = await aembed_in_batches(send, TEXTS, batch_size=3, max_concurrency=6)
    assert vectors == [vector_of(text) for text in TEXTS]
    assert flight.peak == 6


def test_sync_from_inside_a_running_event_loop() -> None:
    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        time.sleep(0.001)
        return [vector_of(text) for text in batch]

    async def caller() -> list[list[float]]:
        # What LlamaIndex and LangChain do: a sync method called from async code.
        return embed_in_batches(send, TEXTS, batch_size=10, max_concurrency=4)

    assert asyncio.run(caller()) == [vector_of(text) for text in TEXTS]


def test_the_first_error_is_raised_and_later_batches_are_not_sent() -> None:
    flight = InFlight()

    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        flight.enter(batch)
        if batch[0] == TEXTS[8]:
            raise RateLimitError("still rate limited", status_code=429)
        time.sleep(0.01)
        return [vector_of(text) for text in batch]

    with pytest.raises(RateLimitError, match="still rate limited"):
        embed_in_batches(send, TEXTS, batch_size=2, max_concurrency=2)
    assert len(flight.sent) < len(TEXTS) // 2


async def test_async_error_cancels_the_batches_in_flight() -> None:
    cancelled: list[str] = []

    async def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        if batch[0] == TEXTS[0]:
            await asyncio.sleep(0.01)
            raise ValueError("bad batch")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(batch[0])
            raise
        return []

    started = time.perf_counter()
    with pytest.raises(ValueError, match="bad batch"):
        await aembed_in_batches(send, TEXTS, batch_size=10, max_concurrency=4)
    assert time.perf_counter() - started < 5
    assert sorted(cancelled) == sorted([TEXTS[10], TEXTS[20], TEXTS[30]])


async def test_cancelling_the_call_cancels_every_batch_in_flight() -> None:
    running: set[str] = set()

    async def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        running.add(batch[0])
        try:
            await asyncio.sleep(10)
        finally:
            running.discard(batch[0])
        return []

    call = asyncio.ensure_future(aembed_in_batches(send, TEXTS, batch_size=5, max_concurrency=3))
    await asyncio.sleep(0.05)
    assert len(running) == 3
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert running == set()


def test_a_wrong_vector_count_raises_rather_than_misaligning() -> None:
    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        return [vector_of(text) for text in batch[:-1]]

    with pytest.raises(ValueError, match="vectors for a batch of"):
        embed_in_batches(send, TEXTS, batch_size=10, max_concurrency=2)


@pytest.mark.parametrize("run_async", [False, True])
def test_batches_whose_vectors_differ_in_length_raise(run_async: bool) -> None:
    """One call's vectors all have one length: a batch answered by another model (a
    deployment changing during a long job) would otherwise mix lengths in the result."""

    def vectors(batch: list[str]) -> list[list[float]]:
        longer = batch[0] == TEXTS[70]
        return [[*vector_of(text), 0.0] if longer else vector_of(text) for text in batch]

    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        return vectors(batch)

    async def asend(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        return vectors(batch)

    def call() -> object:
        if run_async:
            return asyncio.run(aembed_in_batches(asend, TEXTS, batch_size=10, max_concurrency=1))
        return embed_in_batches(send, TEXTS, batch_size=10, max_concurrency=1)

    expected = (
        r"batch 8 of 11 \(texts 70 to 79\): its vectors have 3 numbers, earlier batches' have 2"
    )
    with pytest.raises(APIResponseValidationError, match=expected):
        call()


def test_progress_counts_every_text() -> None:
    done: list[int] = []

    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        return [vector_of(text) for text in batch]

    embed_in_batches(send, TEXTS, batch_size=7, max_concurrency=3, progress=done.append)
    assert sum(done) == len(TEXTS)


def test_adaptive_limit_halves_once_per_round_and_recovers() -> None:
    limit = AdaptiveLimit()
    assert limit.bound(8) == 8
    tickets = [limit.ticket() for _ in range(8)]  # eight batches sent in one round
    for ticket in tickets:
        limit.rate_limited(ticket, 8)  # every one of them got a 429: one halving
    assert limit.bound(8) == 4
    limit.rate_limited(limit.ticket(), 8)  # a batch sent after the decrease: another
    assert limit.bound(8) == 2
    for _ in range(3):
        limit.rate_limited(limit.ticket(), 8)
    assert limit.bound(8) == 1  # never below one
    successes = 0
    while limit.bound(8) < 8:
        limit.succeeded(8)
        successes += 1
    assert 8 < successes < 40  # about one step per round of successes
    assert limit.bound(4) == 4  # a smaller maximum applies at once


def test_a_429_seen_by_a_batch_shrinks_the_shared_bound() -> None:
    limit = AdaptiveLimit()
    flight = InFlight()
    storm = {TEXTS[0], TEXTS[4], TEXTS[8]}

    def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
        flight.enter(batch)
        if batch[0] in storm:
            rate_limited(on_retry)  # what the client does before retrying a 429
        time.sleep(0.005)
        flight.leave()
        return [vector_of(text) for text in batch]

    vectors = embed_in_batches(send, TEXTS[:12], batch_size=4, max_concurrency=8, limit=limit)
    assert vectors == [vector_of(text) for text in TEXTS[:12]]
    assert limit.bound(8) == 4  # one round of 429s, then three successes: still shrunk
    for _ in range(20):
        embed_in_batches(send, TEXTS[20:40], batch_size=4, max_concurrency=8, limit=limit)
    assert limit.bound(8) == 8


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy])
def test_adaptive_limit_copies_start_afresh(clone: Any) -> None:
    limit = AdaptiveLimit()
    limit.rate_limited(limit.ticket(), 8)
    data = pickle.dumps(limit) if clone is pickle.loads else limit
    assert clone(data).bound(8) == 8
    assert limit.bound(8) == 4


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        embed_in_batches(lambda b, h: [], ["a"], batch_size=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        embed_in_batches(lambda b, h: [], ["a"], batch_size=1, max_concurrency=0)


# A script that presses Ctrl-C while its batches hang, and lets the interrupt end it.
# Python's own SIGINT handler is set first: a program started in the background by a
# non-interactive shell (as CI may run the suite) inherits SIGINT ignored, and then
# neither signal nor interrupt_main would interrupt anything.
_INTERRUPTED_SCRIPT = """
import _thread, os, signal, threading, time
from nugen_shared.embeddings import embed_in_batches

signal.signal(signal.SIGINT, signal.default_int_handler)

def send(batch, on_retry):
    time.sleep(600)  # a service that does not answer

threading.Timer(0.3, {interrupt}).start()
embed_in_batches(send, [str(i) for i in range(40)], batch_size=5, max_concurrency=4)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    "interrupt",
    [
        "os.kill, (os.getpid(), signal.SIGINT)",  # what Ctrl-C in a terminal sends
        # No signal, so no wait is woken up (nor by Ctrl-C on Windows): the call must look.
        "_thread.interrupt_main",
    ],
    ids=["SIGINT", "interrupt_main"],
)
def test_ctrl_c_ends_the_program_without_waiting_for_the_batches_in_flight(
    interrupt: str,
) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _INTERRUPTED_SCRIPT.format(interrupt=interrupt)],
            capture_output=True,
            text=True,
            # Far below the batches' 600 s, far above a loaded machine's start-up.
            timeout=60,
            cwd=Path(__file__).parents[2],
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the interrupted program waited for the batches it had sent")
    assert "KeyboardInterrupt" in done.stderr


# Forking a threaded process is the point (Python 3.12+ warns about it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_forked_while_another_thread_updates_the_limit_can_use_it() -> None:
    limit = AdaptiveLimit()
    stop = threading.Event()

    def storm() -> None:  # a 429 and a success after another, as a busy ingestion sees
        while not stop.is_set():
            limit.rate_limited(limit.ticket(), 8)
            limit.succeeded(8)

    updater = threading.Thread(target=storm)
    updater.start()
    children = []
    try:
        for _ in range(20):  # each fork lands inside an update about half the time
            pid = os.fork()
            if pid == 0:  # the child: the updater thread does not exist here
                try:
                    limit.rate_limited(limit.ticket(), 8)
                    limit.succeeded(8)
                finally:
                    os._exit(0)
            children.append(pid)
    finally:
        stop.set()
        updater.join()
    end = time.monotonic() + 10
    while children and time.monotonic() < end:
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                children.remove(pid)
        time.sleep(0.02)
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert not children, f"{len(children)} of 20 forked children hung on the limit's lock"
