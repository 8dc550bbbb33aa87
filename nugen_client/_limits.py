"""Bounds on what a response may cost: its decoded size and a call's deadline.

:func:`bound_response` makes a response's byte stream decompress gzip/deflate in bounded
steps (a gzip bomb never expands in memory), count the decoded bytes and check the deadline
at every piece: the read timeout is reset by every byte, so a trickling server would
otherwise hold a call forever. Time a slow stream consumer spends between pieces does not
count. :func:`within` and :func:`bound_connection` bound the async and sync network waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from nugen_client._errors import APIResponseValidationError

_T = TypeVar("_T")

_STEP = 64 * 1024  # decoded bytes per decompression step


class DeadlineExceeded(Exception):
    """The call's overall deadline passed. Not a ``NugenError`` on purpose: the retry loop
    must not retry it; the clients turn it into ``APITimeoutError`` outside that loop.
    ``request_id``: the ``x-request-id`` of the answer being read when it passed."""

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__()
        self.request_id = request_id


async def within(awaitable: Awaitable[_T], deadline: float | None) -> _T:
    """Await ``awaitable``, cancelling it with :class:`DeadlineExceeded` at ``deadline``."""
    if deadline is None:
        return await awaitable
    left = deadline - time.monotonic()
    if left <= 0:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: not left for asyncio to warn about
        raise DeadlineExceeded
    if sys.version_info >= (3, 11):
        scope = asyncio.timeout(left)
        try:
            async with scope:
                return await awaitable
        except TimeoutError as exc:
            if scope.expired():
                # The id of an answer cut off while read, which ``TransportErrors`` put on the
                # cancellation.
                raise DeadlineExceeded(getattr(exc.__cause__, "request_id", None)) from None
            raise
    try:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(awaitable, left)
    except asyncio.TimeoutError as exc:  # pragma: no cover
        # The cancellation re-raised by the task is a new one, with the read's as context.
        cut = exc.__cause__ and exc.__cause__.__context__
        raise DeadlineExceeded(getattr(cut, "request_id", None)) from None


CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "nugen_call_deadline", default=None
)
"""The deadline of the sync call under way in this thread (every thread has its own)."""


def bound_connection(event: str, info: dict[str, Any]) -> None:
    """httpcore's ``trace`` extension for the sync client's requests: every connection they
    open reads and writes with its timeout cut to what is left of the :data:`CALL_DEADLINE`
    of the call using it, however many reads it takes."""
    if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
        stream = info["return_value"]
        with contextlib.suppress(AttributeError):  # one that cannot be wrapped is left as is
            stream.read = functools.partial(_until_deadline, stream.read)
            stream.write = functools.partial(_until_deadline, stream.write)


def _until_deadline(
    io: Callable[[Any, float | None], _T], data: Any, timeout: float | None = None
) -> _T:
    deadline = CALL_DEADLINE.get()
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded
        timeout = left if timeout is None else min(timeout, left)
    return io(data, timeout)


@dataclass(slots=True, eq=False)
class _Bounded:
    """A response's body stream ``_inner``, bounded: what it may still cost. Work is per
    network read: a deadline check and a count (the size of a stream's events is the SSE
    parser's to check)."""

    _inner: httpx.SyncByteStream | httpx.AsyncByteStream
    _decoder: zlib._Decompress | None
    max_bytes: int
    deadline: float | None
    _total: int = field(default=0, init=False)

    def feed(self, raw: bytes) -> Iterable[bytes]:
        """The decoded pieces of one network read."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded
        if self._decoder is None:
            self._count(raw)
            return (raw,)
        return self._inflate(raw, self._decoder)

    def handed_back(self, since: float) -> None:
        """The caller had a piece from ``since`` until now: that time is not the service's."""
        if self.deadline is not None:
            self.deadline += time.monotonic() - since

    def _inflate(
        self, data: bytes, decoder: zlib._Decompress, *, to_end: bool = False
    ) -> Iterator[bytes]:
        """``data`` decompressed in bounded steps; ``to_end``: until nothing is left."""
        while data or to_end:
            try:
                piece = decoder.decompress(data, _STEP)
            except zlib.error as exc:
                raise APIResponseValidationError(
                    f"the response body cannot be decompressed ({exc})"
                ) from None
            data = decoder.unconsumed_tail
            if piece:
                self._count(piece)
                yield piece
            elif to_end:
                return

    def flush(self) -> Iterable[bytes]:
        # Bounded too: whatever is left comes out in steps, not in one flush().
        if self._decoder is None:
            return ()
        return self._inflate(self._decoder.unconsumed_tail, self._decoder, to_end=True)

    def _count(self, piece: bytes) -> None:
        self._total += len(piece)
        if self._total > self.max_bytes:
            raise APIResponseValidationError(
                f"the response is larger than max_response_bytes ({self.max_bytes:,} bytes "
                "decoded); raise the limit if this answer is genuine",
                body=None,
            )


class _SyncBounded(_Bounded, httpx.SyncByteStream):
    _inner: httpx.SyncByteStream

    def __iter__(self) -> Iterator[bytes]:
        for raw in self._inner:
            for piece in self.feed(raw):
                handed = time.monotonic()
                yield piece
                self.handed_back(handed)
        yield from self.flush()

    def close(self) -> None:
        self._inner.close()


class _AsyncBounded(_Bounded, httpx.AsyncByteStream):
    _inner: httpx.AsyncByteStream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for raw in self._inner:
            for piece in self.feed(raw):
                handed = time.monotonic()
                yield piece
                self.handed_back(handed)
        for piece in self.flush():
            yield piece

    async def aclose(self) -> None:
        # Shielded: httpcore marks the response closed and then awaits a lock before it
        # hands the connection back to its pool, and a cancellation landing there would
        # leave the connection busy for good (its pool slot lost; a full pool then hangs
        # every request).
        await shielded(self._inner.aclose())


async def shielded(awaitable: Awaitable[object]) -> None:
    """Await ``awaitable`` in a task of its own, which a cancellation of the caller does
    not reach: cancelled, the caller stops waiting and the task still finishes (unseen)."""
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        # Its outcome retrieved, so asyncio does not log it as never retrieved.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        raise


def bound_response(response: httpx.Response, *, max_bytes: int, deadline: float | None) -> None:
    """Make ``response``'s body stream bounded (call before anything reads it)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        # gzip or zlib framing, whichever the body has (raw deflate, which the RFC does not
        # allow, is refused by zlib: the caller sees a broken response).
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)
        # Decoded here; httpx must not decode again.
        del response.headers["content-encoding"]
    elif encoding not in ("", "identity"):
        raise APIResponseValidationError(
            f"the response uses content-encoding {encoding!r}, which was not asked for",
            body=None,
        )
    stream = response.stream
    bounded = _AsyncBounded if isinstance(stream, httpx.AsyncByteStream) else _SyncBounded
    response.stream = bounded(stream, decoder, max_bytes, deadline)


def passed(deadline: float | None) -> bool:
    """Whether ``deadline`` has passed, so that a timeout now was the deadline's (every
    wait was cut to what was left of it; a timer may fire a clock tick early)."""
    return deadline is not None and time.monotonic() >= deadline - 0.01


def deadline_passed(response: httpx.Response) -> bool:
    """Whether the deadline :func:`bound_response` gave ``response`` has passed."""
    stream = response.stream
    return isinstance(stream, _Bounded) and passed(stream.deadline)
