"""Bounds on what a response may cost: decoded size, SSE event size, and a call's deadline.

:func:`bound_response` replaces a response's byte stream, before anything reads it, with one
that decompresses gzip/deflate itself in bounded steps (so a 1 MB gzip bomb never expands
to gigabytes in memory), counts the decoded bytes, and checks the call's deadline at every
piece that arrives. The read timeout is reset by every byte, so a server trickling bytes or
endless keep-alive comments would otherwise hold a call forever.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn

import httpx

from nugen_client._errors import APIResponseValidationError

__all__ = [
    "DeadlineExceeded",
    "bound_response",
]

_STEP = 64 * 1024  # decoded bytes per decompression step


class DeadlineExceeded(Exception):
    """The call's overall deadline passed. Not a ``NugenError`` on purpose: the retry loop
    must not retry it; the clients turn it into ``APITimeoutError`` outside that loop."""


_EVENT_END = re.compile(rb"\r?\n\r?\n")


class _Limits:
    __slots__ = (
        "_boundary_tail",
        "_decoder",
        "_since_boundary",
        "_total",
        "deadline",
        "max_bytes",
        "max_event",
    )

    def __init__(
        self,
        decoder: zlib._Decompress | None,
        max_bytes: int,
        max_event: int | None,
        deadline: float | None,
    ) -> None:
        self._decoder = decoder
        self.max_bytes = max_bytes
        self.max_event = max_event
        self.deadline = deadline
        self._total = 0
        self._since_boundary = 0
        self._boundary_tail = b""

    def feed(self, raw: bytes) -> Iterator[bytes]:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded
        if self._decoder is None:
            yield self._count(raw)
            return
        data = raw
        while data:
            try:
                piece = self._decoder.decompress(data, _STEP)
            except zlib.error as exc:
                raise _undecodable(exc) from None
            data = self._decoder.unconsumed_tail
            if piece:
                yield self._count(piece)

    def flush(self) -> Iterator[bytes]:
        if self._decoder is not None:
            # Bounded too: whatever is left comes out in steps, not in one flush().
            while True:
                try:
                    piece = self._decoder.decompress(self._decoder.unconsumed_tail, _STEP)
                except zlib.error as exc:
                    raise _undecodable(exc) from None
                if not piece:
                    return
                yield self._count(piece)

    def _count(self, piece: bytes) -> bytes:
        self._total += len(piece)
        if self._total > self.max_bytes:
            raise APIResponseValidationError(
                f"the response is larger than max_response_bytes ({self.max_bytes:,} bytes "
                "decoded); raise the limit if this answer is genuine",
                body=None,
            )
        if self.max_event is not None:
            self._count_events(piece, self.max_event)
        return piece

    def _count_events(self, piece: bytes, max_event: int) -> None:
        """An SSE event ends at a blank line: every event that ends in ``piece``, and the
        one still open at its end, must stay within ``max_event`` bytes."""
        tail = self._boundary_tail  # the last bytes already counted, for split boundaries
        data = tail + piece
        # Bytes of the open event up to data[i]: open_before + i - len(tail), until a boundary.
        open_before, base = self._since_boundary - len(tail), 0
        for boundary in _EVENT_END.finditer(data):
            if open_before + boundary.start() - base > max_event:
                self._event_too_large(max_event)
            open_before, base = 0, boundary.end()
        self._since_boundary = open_before + len(data) - base
        self._boundary_tail = data[-3:]
        # Line ends at the very end may be the first half of the next boundary.
        pending_end = min(2, len(data) - len(data.rstrip(b"\r\n")))
        if self._since_boundary - pending_end > max_event:
            self._event_too_large(max_event)

    @staticmethod
    def _event_too_large(max_event: int) -> NoReturn:
        raise APIResponseValidationError(
            f"a stream event is larger than max_event_bytes ({max_event:,} bytes); raise "
            "the limit if this answer is genuine",
            body=None,
        )


def _undecodable(exc: zlib.error) -> APIResponseValidationError:
    return APIResponseValidationError(f"the response body cannot be decompressed ({exc})")


class _SyncBounded(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limits: _Limits) -> None:
        self._inner = inner
        self._limits = limits

    def __iter__(self) -> Iterator[bytes]:
        for raw in self._inner:
            yield from self._limits.feed(raw)
        yield from self._limits.flush()

    def close(self) -> None:
        self._inner.close()


class _AsyncBounded(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limits: _Limits) -> None:
        self._inner = inner
        self._limits = limits

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for raw in self._inner:
            for piece in self._limits.feed(raw):
                yield piece
        for piece in self._limits.flush():
            yield piece

    async def aclose(self) -> None:
        await self._inner.aclose()


def _decoder_for(encoding: str) -> zlib._Decompress | None:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    # deflate: zlib-wrapped as the RFC says (servers sending raw deflate are refused by
    # zlib with an error, which the caller sees as a broken response).
    return zlib.decompressobj()


def bound_response(
    response: httpx.Response,
    *,
    max_bytes: int,
    max_event: int | None,
    deadline: float | None,
) -> None:
    """Make ``response``'s body stream bounded (call before anything reads it)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = _decoder_for(encoding)
        # Decoded here; httpx must not decode again.
        del response.headers["content-encoding"]
    elif encoding not in ("", "identity"):
        raise APIResponseValidationError(
            f"the response uses content-encoding {encoding!r}, which was not asked for",
            body=None,
        )
    limits = _Limits(decoder, max_bytes, max_event, deadline)
    stream = response.stream
    if isinstance(stream, httpx.AsyncByteStream):
        response.stream = _AsyncBounded(stream, limits)
    else:
        response.stream = _SyncBounded(stream, limits)
