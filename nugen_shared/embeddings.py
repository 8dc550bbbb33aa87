"""Concurrent, in-order batched embedding with an adaptive in-flight bound, for both
adapters' embedding classes: :func:`embed_in_batches` runs threads over the thread-safe sync
client (so it works the same from plain code, inside a running event loop, from several
threads and in a forked child), :func:`aembed_in_batches` tasks in the running loop; and
the fields and request those classes share (:class:`EmbeddingModelFields`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import math
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import PrivateAttr

from nugen_client import APIResponseValidationError, InvalidInputError, NugenError, RateLimitError
from nugen_client._errors import reword
from nugen_client._input import is_number
from nugen_client.params import EmbeddingFields, OnRetry, check_texts_to_embed
from nugen_shared.fields import ConnectionFields, FreshOnCopy, call_keywords
from nugen_shared.requests import embeddings_request

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_CONCURRENCY",
    "AdaptiveLimit",
    "EmbeddingModelFields",
    "Progress",
    "aembed_in_batches",
    "embed_in_batches",
    "progress_bar",
]

DEFAULT_BATCH_SIZE = 128  # texts per request
DEFAULT_MAX_CONCURRENCY = 16  # batches in flight at once

Vectors = list[list[float]]
_F = TypeVar("_F", bound="concurrent.futures.Future[Any] | asyncio.Future[Any]")
Progress = Callable[[int], None]
"""Called with the number of texts of each batch as it completes."""
_WAKE = 0.1  # seconds between two looks at a pending KeyboardInterrupt in a sync call


# The lock of every AdaptiveLimit (each holds it for a few operations). A forked child gets
# a new one: another thread of the parent may have held it at the fork, and would never
# release the child's copy.
_LOCK = threading.Lock()


def _new_lock() -> None:
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which never forks
    os.register_at_fork(after_in_child=_new_lock)


class AdaptiveLimit(FreshOnCopy):
    """How many batches may be in flight: AIMD, thread-safe, one per model object.

    It starts at the caller's ``max_concurrency`` (the service is expected to take it),
    halves on a 429 (at most once per round: requests sent before the last decrease do
    not decrease it again, so one burst of 429s counts once), and grows by
    ``1 / current`` per success, so by about one per round, back up to the maximum. Never
    below one, so a call always makes progress. A cache, not state (:class:`FreshOnCopy`):
    pickles and copies start afresh, and it takes no part in equality.
    """

    __slots__ = ("_decreases", "_value")

    def __init__(self) -> None:
        self._value: float | None = None  # None: not yet limited, i.e. at the maximum
        self._decreases = 0

    def bound(self, maximum: int) -> int:
        """Batches allowed in flight now, at most ``maximum``."""
        value = self._value
        if value is None:
            return maximum
        return max(1, min(maximum, math.floor(value)))

    def ticket(self) -> int:
        """Taken when a batch is sent; hand it back to :meth:`rate_limited`."""
        return self._decreases

    def succeeded(self, maximum: int) -> None:
        """A batch was answered: grow back towards ``maximum``."""
        with _LOCK:
            if self._value is None:
                return
            value = min(self._value, maximum)
            value += 1.0 / value
            self._value = None if value >= maximum else value

    def rate_limited(self, ticket: int, maximum: int) -> None:
        """A batch sent with ``ticket`` got a 429: halve the bound (once per round)."""
        with _LOCK:
            if ticket != self._decreases:
                return
            current = maximum if self._value is None else min(self._value, maximum)
            self._value = max(1.0, current / 2.0)
            self._decreases += 1


class EmbeddingModelFields(EmbeddingFields, ConnectionFields):
    """The fields of both frameworks' embedding classes (the model's name and the extra body
    fields are each framework's own), the in-flight bound they learn, and the request of
    one batch."""

    _limit: AdaptiveLimit = PrivateAttr(default_factory=AdaptiveLimit)

    def _embeddings_request(
        self,
        model: str,
        texts: Sequence[str],
        extra_body: Mapping[str, Any] | None,
        call: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of one client embeddings call, layered as a chat call's
        (:func:`~nugen_shared.requests.embeddings_request`): the fields, ``extra_body``,
        then ``call`` (a call's own keywords, as LangChain's ``OpenAIEmbeddings`` takes
        them). An ``input`` among them, which would replace the texts in silence, is
        refused there; ``on_retry`` here (the batching reports each batch's retries)."""
        call = call_keywords(call) if call else {}
        if "on_retry" in call:
            raise InvalidInputError(
                "on_retry= is not a keyword of an embeddings call: the batching reports each "
                "batch's retries itself"
            )
        fields = {
            "model": model,
            "dimensions": self.dimensions,
            "session_id": self.session_id,
            "provider": self.provider,
        }
        return embeddings_request(texts, fields, extra_body or {}, call)


class _Schedule:
    """The state of one call: batches to send, results by batch, the shared bound."""

    def __init__(
        self,
        texts: Sequence[str],
        batch_size: int,
        max_concurrency: int,
        limit: AdaptiveLimit,
        progress: Progress | None,
    ) -> None:
        if not (is_number(batch_size, whole=True) and batch_size >= 1):  # a per-call value too
            raise InvalidInputError(
                "the texts per request (chunk_size, embed_batch_size) must be a whole number "
                f">= 1, got {batch_size!r}"
            )
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if isinstance(texts, str):
            check_texts_to_embed(texts)  # refuses one string in place of the list
        texts = list(texts)
        check_texts_to_embed(texts)  # all of them, before the first batch is sent
        self.batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        self.results: list[Vectors | None] = [None] * len(self.batches)
        self.length: int | None = None  # of the vectors, once a batch is answered
        self.next = 0
        self.maximum = max_concurrency
        self.limit = limit
        self.progress = progress

    def start(self, running: dict[_F, int], send: Callable[[list[str], OnRetry], _F]) -> None:
        """Send what the bound allows besides the batches ``running``, each with the
        client's retry hook (a 429 shrinks the bound), and note them there. The hook is
        made before any of them is sent, so a 429 on one cannot make the others of the
        round count as sent after the decrease."""
        room = self.limit.bound(self.maximum) - len(running)
        count = max(0, min(room, len(self.batches) - self.next))
        start, self.next = self.next, self.next + count
        ticket = self.limit.ticket()

        def shrink_on_rate_limit(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if isinstance(error, RateLimitError):
                self.limit.rate_limited(ticket, self.maximum)

        for index in range(start, start + count):
            running[send(self.batches[index], shrink_on_rate_limit)] = index

    def collect(self, running: dict[_F, int], done: Iterable[_F]) -> None:
        """Place the results of the ``done`` batches (raising the first error, which says
        which texts its batch held: the service's indexes count within the batch)."""
        for future in done:
            index = running.pop(future)
            batch = self.batches[index]
            try:
                vectors = future.result()
                if len(vectors) != len(batch):
                    # The client checks this already; a wrong count here would misalign every
                    # later text, so it is checked where the alignment is made.
                    raise ValueError(f"{len(vectors)} vectors for a batch of {len(batch)} texts")
                # The client checks one answer's vectors; those of the call's batches must
                # match too (another model answering part of a long job would mix them).
                if self.length is None:
                    self.length = len(vectors[0])
                elif len(vectors[0]) != self.length:
                    raise APIResponseValidationError(
                        f"its vectors have {len(vectors[0])} numbers, earlier batches' have "
                        f"{self.length}"
                    )
            except NugenError as error:
                if len(self.batches) > 1:
                    start = index * len(self.batches[0])
                    end = start + len(batch) - 1
                    where = f"batch {index + 1} of {len(self.batches)} (texts {start} to {end})"
                    reword(error, prefix=f"{where}: ")
                raise
            self.results[index] = vectors
            self.limit.succeeded(self.maximum)
            if self.progress is not None:
                self.progress(len(batch))

    @property
    def pending(self) -> bool:
        return self.next < len(self.batches)

    def vectors(self) -> Vectors:
        return [vector for result in self.results if result is not None for vector in result]


def embed_in_batches(
    send: Callable[[list[str], OnRetry], Vectors],
    texts: Sequence[str],
    *,
    batch_size: int,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    limit: AdaptiveLimit | None = None,
    progress: Progress | None = None,
) -> Vectors:
    """One vector per text, in order, or the first error (after the client's retries) and
    no further batch: ``send(batch, on_retry)`` (thread-safe) embeds one batch, up to
    ``max_concurrency`` at once in threads."""
    schedule = _Schedule(texts, batch_size, max_concurrency, limit or AdaptiveLimit(), progress)
    threaded = len(schedule.batches) > 1  # no thread for what one request does

    def submit(batch: list[str], hook: OnRetry) -> concurrent.futures.Future[Vectors]:
        future: concurrent.futures.Future[Vectors] = concurrent.futures.Future()
        if not threaded:
            _settle(future, send, batch, hook)
        else:
            # A daemon thread per batch (the schedule bounds how many run): after an error
            # or a KeyboardInterrupt the call returns at once, and the batches already
            # sent finish unseen, never holding the program open at exit as the workers
            # of a ThreadPoolExecutor would. In a copy of the caller's context, so
            # context-bound state (LangChain callbacks, LlamaIndex spans) follows the batch.
            run = contextvars.copy_context().run
            args = (future, run, send, batch, hook)
            threading.Thread(target=_settle, args=args, name="nugen-embed", daemon=True).start()
        return future

    running: dict[concurrent.futures.Future[Vectors], int] = {}
    while schedule.pending or running:
        schedule.start(running, submit)
        # Woken now and then: a KeyboardInterrupt that came without a signal
        # (``_thread.interrupt_main``, Ctrl-C on Windows) is raised only between waits.
        done, _ = concurrent.futures.wait(running, _WAKE, concurrent.futures.FIRST_COMPLETED)
        schedule.collect(running, done)
    return schedule.vectors()


def _settle(
    future: concurrent.futures.Future[Vectors], call: Callable[..., Vectors], *args: Any
) -> None:
    """``future`` set to what ``call(*args)`` returns or raises."""
    try:
        future.set_result(call(*args))
    except BaseException as exc:  # handed to the caller, who raises it
        future.set_exception(exc)


async def aembed_in_batches(
    send: Callable[[list[str], OnRetry], Awaitable[Vectors]],
    texts: Sequence[str],
    *,
    batch_size: int,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    limit: AdaptiveLimit | None = None,
    progress: Progress | None = None,
) -> Vectors:
    """:func:`embed_in_batches` with tasks in the running loop; cancelling the call
    cancels the batches in flight."""
    schedule = _Schedule(texts, batch_size, max_concurrency, limit or AdaptiveLimit(), progress)
    running: dict[asyncio.Future[Vectors], int] = {}
    try:
        while schedule.pending or running:
            schedule.start(running, lambda batch, hook: asyncio.ensure_future(send(batch, hook)))
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            schedule.collect(running, done)
    finally:
        for task in running:
            task.cancel()
        # Waited for, so no request outlives the call (and none logs "Task exception was
        # never retrieved").
        await asyncio.gather(*running, return_exceptions=True)
    return schedule.vectors()


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, description: str) -> Iterator[Progress | None]:
    """A tqdm bar over ``total`` texts as a :data:`Progress` callback (None if not
    ``enabled``); tqdm is optional, so asking for a bar without it is an ImportError
    naming what to install."""
    if not enabled:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError(
            "a progress bar needs tqdm, which is not installed: pip install tqdm"
        ) from exc
    with tqdm(total=total, desc=description, unit="text") as bar:
        yield bar.update
