"""Bounds on what a response may cost: decoded size, SSE event size, and a call's deadline.

:func:`bound_response` replaces a response's byte stream, before anything reads it, with one
that decompresses gzip/deflate itself in bounded steps (so a 1 MB gzip bomb never expands
to gigabytes in memory), counts the decoded bytes, and checks the call's deadline at every
piece that arrives. The read timeout is reset by every byte, so a server trickling bytes or
endless keep-alive comments would otherwise hold a call forever.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

from nugen_client._errors import APIResponseValidationError

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DeadlineExceeded",
    "bound_response",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
DEFAULT_DEADLINE = 600.0

_STEP = 64 * 1024  # decoded bytes per decompression step


class DeadlineExceeded(Exception):
    """The call's overall deadline passed. Not a ``NugenError`` on purpose: the retry loop
    must not retry it; the clients turn it into ``APITimeoutError`` outside that loop."""


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
            # An SSE event ends at a blank line; count the bytes since the last one.
            data = self._boundary_tail + piece
            end = max(data.rfind(b"\n\n"), data.rfind(b"\n\r\n"))
            if end >= 0:
                self._since_boundary = len(data) - end - 2
            else:
                self._since_boundary += len(piece)
            self._boundary_tail = data[-3:]
            if self._since_boundary > self.max_event:
                raise APIResponseValidationError(
                    f"a stream event is larger than max_event_bytes ({self.max_event:,} "
                    "bytes); raise the limit if this answer is genuine",
                    body=None,
                )
        return piece


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
