"""What the stream methods return: :class:`Stream` and :class:`AsyncStream` (both
re-exported by :mod:`nugen_client.types`)."""

import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

from typing_extensions import Never, Self

from nugen_client._errors import InvalidInputError, NugenError, StreamInterruptedError

_ChunkT_co = TypeVar("_ChunkT_co", covariant=True)


class _Closed:
    """What a closed stream iterates: the same error every time a chunk is asked for."""

    __slots__ = ()

    def __iter__(self) -> "_Closed":
        return self

    __aiter__ = __iter__

    def __next__(self) -> Never:
        raise InvalidInputError(
            "the stream is closed (its connection was released): call the stream method "
            "again for a new stream"
        )

    async def __anext__(self) -> Never:
        self.__next__()

    def close(self) -> None:
        pass  # closing twice is harmless

    async def aclose(self) -> None:
        pass


_CLOSED_STREAM: Any = _Closed()


class _Cut(_Closed):
    """What a stream iterates once a read was cut off from outside (a cancellation, Ctrl-C):
    its generator ended there, and a quiet end would pass the text so far for the whole."""

    __slots__ = ("_cause",)

    def __init__(self, exc: BaseException) -> None:
        self._cause = f"reading it was cut off by {type(exc).__name__}"

    def __next__(self) -> Never:
        raise StreamInterruptedError(
            f"the stream broke off before its end ({self._cause}); the answer is incomplete: "
            "call the stream method again for a new stream"
        )


def _current_task() -> object:
    from asyncio import current_task  # only async streams ask: imported then

    from nugen_client._pool import running_loop

    return current_task(running_loop())


class Stream(Generic[_ChunkT_co]):
    """The chunks of a streamed answer (``NugenClient.stream_chat_completion``,
    ``stream_completion``): an iterator, and a context manager that closes it.

    The request is sent when iteration starts (a stream never iterated sends nothing).
    Leaving a ``with`` block (at the end, on a ``break`` or an error) or :meth:`close`
    releases the response and its connection at once; iterating a closed stream raises
    :class:`~nugen_client.InvalidInputError`. Usage: docs/client.md.
    """

    __slots__ = ("_chunks", "_reader", "_stop")

    def __init__(self, chunks: Generator[_ChunkT_co, None, None], stop: Callable[[], None]) -> None:
        self._chunks: Generator[_ChunkT_co, None, None] | _Closed = chunks
        self._stop = stop  # ends the reading of another thread at its next chunk
        self._reader: int | None = None  # the thread reading, once one is

    def __iter__(self) -> Self:
        self._reader = threading.get_ident()
        return self

    def __next__(self) -> _ChunkT_co:
        self._reader = threading.get_ident()
        chunks = self._chunks
        try:
            return next(chunks)
        except StopIteration:
            raise
        except BaseException as exc:
            # Its generator ended there: a later read must not end quietly (as if whole).
            if self._chunks is chunks and not isinstance(chunks, _Closed):
                self._chunks = _CLOSED_STREAM if isinstance(exc, NugenError) else _Cut(exc)
            raise

    def close(self) -> None:
        """Stop the stream and release its response and connection. A reader in another
        thread gets ``StreamInterruptedError`` at its next chunk, and releases them then."""
        if self._reader not in (None, threading.get_ident()):
            self._stop()  # never closed here: that reader may be resuming it right now
            return
        chunks, self._chunks = self._chunks, _CLOSED_STREAM
        try:
            chunks.close()
        except ValueError:  # "generator already executing": read by another iterator
            self._stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(Generic[_ChunkT_co]):
    """:class:`Stream` of ``AsyncNugenClient``: an async iterator, closed by leaving an
    ``async with`` block or by :meth:`aclose` (or ``close``, as the OpenAI SDK names it).
    """

    __slots__ = ("_chunks", "_reader", "_stop")

    def __init__(self, chunks: AsyncGenerator[_ChunkT_co, None], stop: Callable[[], None]) -> None:
        self._chunks: AsyncGenerator[_ChunkT_co, None] | _Closed = chunks
        self._stop = stop
        self._reader: object = None  # the task reading, once one is

    def __aiter__(self) -> Self:
        self._reader = _current_task()
        return self

    def __anext__(self) -> Awaitable[_ChunkT_co]:
        if self._reader is None:  # now: asyncio.wait_for runs what this returns apart
            self._reader = _current_task()
        return self._next(self._chunks)

    async def _next(self, chunks: AsyncGenerator[_ChunkT_co, None] | _Closed) -> _ChunkT_co:
        try:  # as Stream.__next__ (a cancellation: asyncio.wait_for around one chunk)
            return await chunks.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            if self._chunks is chunks and not isinstance(chunks, _Closed):
                self._chunks = _CLOSED_STREAM if isinstance(exc, NugenError) else _Cut(exc)
            raise

    async def aclose(self) -> None:
        """Stop the stream and release its response and connection (a reader in another
        task: as :meth:`Stream.close`)."""
        chunks = self._chunks
        if getattr(chunks, "ag_running", False) or self._reader not in (None, _current_task()):
            self._stop()  # as Stream.close: that reader ends it at its next chunk
            return
        self._chunks = _CLOSED_STREAM
        await chunks.aclose()

    close = aclose  # the OpenAI SDK's name: ``await stream.close()``

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
