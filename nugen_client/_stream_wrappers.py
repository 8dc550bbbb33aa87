"""What the stream methods return: :class:`Stream` and :class:`AsyncStream` (both
re-exported by :mod:`nugen_client.types`)."""

import threading
from collections.abc import AsyncGenerator, Awaitable, Generator
from typing import Any, Generic, Protocol, TypeVar

from typing_extensions import Never, Self

from nugen_client._errors import InvalidInputError, NugenError, StreamInterruptedError

_ChunkT_co = TypeVar("_ChunkT_co", covariant=True)


class _Closed:
    """What a closed stream iterates: the same error every time a chunk is asked for."""

    __slots__ = ()

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


class _Call(Protocol):
    """The request a stream reads (``StreamCall``): stopped by a close from elsewhere."""

    def stop(self) -> None: ...  # the reader's next chunk raises StreamInterruptedError

    def check_open(self) -> None: ...  # raises that error once stopped


class _Stopped(_Closed):
    """What a stream closed from another thread or task iterates: the error its reader's
    next chunk gets (``StreamInterruptedError``, the text so far in ``.partial``)."""

    __slots__ = ("_call",)

    def __init__(self, call: _Call) -> None:
        call.stop()
        self._call = call

    def __next__(self) -> Never:
        self._call.check_open()
        super().__next__()


def _ended(stream: "Stream[Any] | AsyncStream[Any]", chunks: object, exc: BaseException) -> None:
    """``chunks``, the generator ``stream`` was reading, ended with ``exc``: a later read
    must not end quietly (as if the answer were whole)."""
    if stream._chunks is chunks and not isinstance(chunks, _Closed):
        stream._chunks = _CLOSED_STREAM if isinstance(exc, NugenError) else _Cut(exc)


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

    __slots__ = ("_call", "_chunks", "_reader")

    def __init__(self, chunks: Generator[_ChunkT_co, None, None], call: _Call) -> None:
        self._chunks: Generator[_ChunkT_co, None, None] | _Closed = chunks
        self._call = call  # stopped by a close from another thread
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
            _ended(self, chunks, exc)
            raise

    def close(self) -> None:
        """Stop the stream and release its response and connection. A reader in another
        thread gets ``StreamInterruptedError`` at its next chunk (one waiting for a chunk
        then releases them)."""
        chunks = self._chunks
        if self._reader not in (None, threading.get_ident()) and getattr(chunks, "gi_frame", None):
            # Never closed here: that reader may be resuming it right now (it gets the error
            # at its next chunk); dropped here, a generator no reader holds closes at once.
            self._chunks = _Stopped(self._call)
            return
        self._chunks = _CLOSED_STREAM
        try:
            chunks.close()
        except ValueError:  # "generator already executing": read by another iterator
            self._chunks = _Stopped(self._call)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(Generic[_ChunkT_co]):
    """:class:`Stream` of ``AsyncNugenClient``: an async iterator, closed by leaving an
    ``async with`` block or by :meth:`aclose` (or ``close``, as the OpenAI SDK names it).
    """

    __slots__ = ("_call", "_chunks", "_reader")

    def __init__(self, chunks: AsyncGenerator[_ChunkT_co, None], call: _Call) -> None:
        self._chunks: AsyncGenerator[_ChunkT_co, None] | _Closed = chunks
        self._call = call
        self._reader: object = None  # the task reading, once one is

    def __aiter__(self) -> Self:
        self._reader = _current_task()
        return self

    def __anext__(self) -> Awaitable[_ChunkT_co]:
        if self._reader is None:  # now: asyncio.wait_for runs what this returns apart
            self._reader = _current_task()
        return self._next()

    async def _next(self) -> _ChunkT_co:
        chunks = self._chunks  # as it is when this runs: a close may come before that
        try:  # as Stream.__next__ (a cancellation: asyncio.wait_for around one chunk)
            return await chunks.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            _ended(self, chunks, exc)
            raise

    async def aclose(self) -> None:
        """Stop the stream and release its response and connection (a reader in another
        task: as :meth:`Stream.close`)."""
        chunks = self._chunks
        if getattr(chunks, "ag_running", False):  # another task is inside it: as Stream.close
            self._chunks = _Stopped(self._call)
            return
        # Closed here, at once; a reader in another task gets the error at its next chunk.
        mine = self._reader in (None, _current_task()) or getattr(chunks, "ag_frame", None) is None
        self._chunks = _CLOSED_STREAM if mine else _Stopped(self._call)
        await chunks.aclose()

    close = aclose  # the OpenAI SDK's name: ``await stream.close()``

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
