"""Streams as context managers: leaving a ``with`` / ``async with`` block (at the end, on a
``break``, on an error) or ``close()`` / ``aclose()`` releases the connection at once;
closing twice or before iterating is harmless; a closed stream refuses to be iterated."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nugen_client import AsyncNugenClient, InvalidInputError, NugenClient, StreamInterruptedError
from nugen_client.types import AsyncStream, ChatCompletionChunk, Stream, TextCompletionChunk
from nugen_emulator import NugenEmulator
from tests.support.harness import USER, Harness, Reply, chunk, sse
from tests.support.sockets import count_client_sockets

STORY = [{"role": "user", "content": "tell me a long story about a cat and a dog"}]
# One connection; a second request waits at most a second for it (then PoolTimeout).
ONE = {"limits": httpx.Limits(max_connections=1), "timeout": httpx.Timeout(10, pool=1)}


@pytest.fixture
def nugen_emulator() -> Iterator[NugenEmulator]:
    """An emulator of this test's own: socket counts must not see other tests' pools."""
    with NugenEmulator() as emulator:
        yield emulator


def _client(kind: str, emulator: NugenEmulator, **kwargs: Any) -> Any:
    cls = NugenClient if kind == "sync" else AsyncNugenClient
    return cls(base_url=emulator.base_url, api_key=emulator.api_key, max_retries=0, **kwargs)


def _open(client: Any, method: str) -> Any:
    if method == "chat":
        return client.stream_chat_completion(model="m", messages=STORY)
    return client.stream_completion(model="m", prompt="tell me a long story")


def _text(chunks: list[Any]) -> str:
    return "".join(
        (c.choices[0].delta.content or "")
        if isinstance(c, ChatCompletionChunk)
        else c.choices[0].text
        for c in chunks
        if c.choices
    )


@pytest.mark.parametrize("method", ["chat", "completion"])
def test_the_with_block_gives_the_stream_and_its_chunks(
    kind: str, method: str, nugen_emulator: NugenEmulator
) -> None:
    chunk_type = ChatCompletionChunk if method == "chat" else TextCompletionChunk
    if kind == "sync":
        with _client(kind, nugen_emulator) as client:
            plain = list(_open(client, method))
            with _open(client, method) as stream:
                assert isinstance(stream, Stream)
                chunks = list(stream)
    else:

        async def main() -> tuple[list[Any], list[Any]]:
            async with _client(kind, nugen_emulator) as client:
                plain = [c async for c in _open(client, method)]
                async with _open(client, method) as stream:
                    assert isinstance(stream, AsyncStream)
                    return plain, [c async for c in stream]

        plain, chunks = asyncio.run(main())
    assert all(isinstance(c, chunk_type) for c in chunks)
    assert _text(chunks) == _text(plain) != ""
    assert count_client_sockets(nugen_emulator.port) == 0


def test_a_break_inside_the_block_frees_the_connection_at_once(
    kind: str, nugen_emulator: NugenEmulator
) -> None:
    # The answer stalls after its first chunk: its connection is freed only by closing.
    nugen_emulator.inject(stall_after=1, stall_seconds=5)
    if kind == "sync":
        with _client(kind, nugen_emulator, **ONE) as client:
            with client.stream_chat_completion(model="m", messages=STORY) as stream:
                for _ in stream:
                    break
            open_now = count_client_sockets(nugen_emulator.port)
            reply = client.chat_completion(model="m", messages=USER)  # the one connection
    else:

        async def main() -> tuple[int, Any]:
            async with _client(kind, nugen_emulator, **ONE) as client:
                async with client.stream_chat_completion(model="m", messages=STORY) as stream:
                    async for _ in stream:
                        break
                open_now = count_client_sockets(nugen_emulator.port)
                call = client.chat_completion(model="m", messages=USER)
                return open_now, await asyncio.wait_for(call, 2)

        open_now, reply = asyncio.run(main())
    assert open_now == 0
    assert reply.choices[0].message.content


def test_closing_a_stream_another_thread_or_task_left_frees_the_connection_at_once(
    kind: str, nugen_emulator: NugenEmulator
) -> None:
    # Read in a worker (a thread, a task), left there mid-answer, then closed here by
    # leaving the block: the connection goes back now, not when the stream object is
    # collected (the ``as`` name still holds it).
    nugen_emulator.inject(stall_after=2, stall_seconds=5)
    if kind == "sync":
        with _client(kind, nugen_emulator, **ONE) as client:
            with client.stream_chat_completion(model="m", messages=STORY) as stream:
                worker = threading.Thread(target=lambda: next(stream))
                worker.start()
                worker.join()
            open_now = count_client_sockets(nugen_emulator.port)
            reply = client.chat_completion(model="m", messages=USER)  # the one connection
    else:

        async def main() -> tuple[int, Any]:
            async with _client(kind, nugen_emulator, **ONE) as client:
                async with client.stream_chat_completion(model="m", messages=STORY) as stream:

                    async def read() -> None:
                        await anext(stream)

                    await asyncio.create_task(read())
                open_now = count_client_sockets(nugen_emulator.port)
                call = client.chat_completion(model="m", messages=USER)
                return open_now, await asyncio.wait_for(call, 2)

        open_now, reply = asyncio.run(main())
    assert open_now == 0
    assert reply.choices[0].message.content


def _fail_inside(stream: Stream[Any]) -> None:
    with stream:
        for _ in stream:
            raise KeyError("the consumer failed")


async def _afail_inside(stream: AsyncStream[Any]) -> None:
    async with stream:
        async for _ in stream:
            raise KeyError("the consumer failed")


def test_an_error_inside_the_block_closes_the_stream(
    kind: str, nugen_emulator: NugenEmulator
) -> None:
    nugen_emulator.inject(stall_after=1, stall_seconds=5)
    if kind == "sync":
        with _client(kind, nugen_emulator) as client:
            stream = client.stream_chat_completion(model="m", messages=STORY)
            with pytest.raises(KeyError):
                _fail_inside(stream)
            assert count_client_sockets(nugen_emulator.port) == 0
            with pytest.raises(InvalidInputError, match="the stream is closed"):
                next(stream)
    else:

        async def main() -> None:
            async with _client(kind, nugen_emulator) as client:
                stream = client.stream_chat_completion(model="m", messages=STORY)
                with pytest.raises(KeyError):
                    await _afail_inside(stream)
                assert count_client_sockets(nugen_emulator.port) == 0
                with pytest.raises(InvalidInputError, match="the stream is closed"):
                    await anext(stream)

        asyncio.run(main())


def test_close_before_iterating_sends_nothing_and_closing_twice_is_harmless(kind: str) -> None:
    h = Harness(kind, [Reply.stream(sse(chunk("a", "stop")))])
    stream = h.client.stream_chat_completion(model="m", messages=USER)
    if isinstance(stream, Stream):
        stream.close()
        stream.close()
        for _ in range(2):  # every time, not only the first
            with pytest.raises(InvalidInputError, match="the stream is closed"):
                list(iter(stream))  # what iter() gives is an iterator too
            with pytest.raises(InvalidInputError, match="the stream is closed"):
                next(stream)
    else:

        async def main() -> None:
            await stream.aclose()
            await stream.close()  # the OpenAI SDK's name
            for _ in range(2):
                with pytest.raises(InvalidInputError, match="the stream is closed"):
                    [c async for c in aiter(stream)]
                with pytest.raises(InvalidInputError, match="the stream is closed"):
                    await anext(stream)

        asyncio.run(main())
    assert h.requests == []


def test_a_stream_closed_midway_refuses_the_rest(kind: str) -> None:
    body = sse(chunk("a"), chunk("b"), chunk("c", "stop"))
    h = Harness(kind, [Reply.stream(body, piece=1)])
    stream = h.client.stream_chat_completion(model="m", messages=USER)
    if isinstance(stream, Stream):
        with stream:
            first = next(stream)
        with pytest.raises(InvalidInputError, match="the stream is closed"):
            next(stream)
    else:

        async def main() -> ChatCompletionChunk:
            async with stream:
                first = await anext(stream)
            with pytest.raises(InvalidInputError, match="the stream is closed"):
                [c async for c in stream]
            return first

        first = asyncio.run(main())
    assert first.choices[0].delta.content == "a"
    assert len(h.requests) == 1


def test_close_from_another_thread_or_task_stops_the_stream_being_read(
    nugen_emulator: NugenEmulator,
) -> None:
    # A "stop" from elsewhere while the reader waits for a chunk (the service pauses after
    # 3): close() neither raises ("generator already executing") nor is ignored; the reader
    # gets StreamInterruptedError, the text so far in .partial, when the next chunk comes.
    nugen_emulator.inject(stall_after=3, stall_seconds=0.5, times=2)
    closed = r"\(the stream was closed\)"
    stream = _open(_client("sync", nugen_emulator), "chat")
    timer = threading.Timer(0.2, stream.close)
    timer.start()
    with pytest.raises(StreamInterruptedError, match=closed) as caught:
        _read_all(stream)
    timer.join()
    assert caught.value.partial

    async def main() -> None:
        stream = _open(_client("async", nugen_emulator), "chat")
        reader = asyncio.ensure_future(_aread_all(stream))
        await asyncio.sleep(0.2)
        await stream.aclose()
        with pytest.raises(StreamInterruptedError, match=closed):
            await reader

    asyncio.run(main())


def test_close_from_another_thread_or_task_stops_a_reader_busy_between_chunks(
    nugen_emulator: NugenEmulator,
) -> None:
    # The reader is handling a chunk (not waiting for one) when the stop comes: its next
    # chunk is StreamInterruptedError, never a quiet end that reads as the whole answer,
    # nor "generator already executing" / "asynchronous generator is already running".
    closed = r"\(the stream was closed\)"
    stream = _open(_client("sync", nugen_emulator), "chat")
    seen = []

    def read() -> None:
        for piece in stream:
            seen.append(piece)
            closer = threading.Thread(target=stream.close)
            closer.start()
            closer.join()

    with pytest.raises(StreamInterruptedError, match=closed):
        read()
    assert len(seen) == 1

    async def main() -> None:
        stream = _open(_client("async", nugen_emulator), "chat")
        started = asyncio.Event()

        async def read() -> int:
            count = 0
            async for _ in stream:
                count += 1
                started.set()
                await asyncio.sleep(0.2)  # busy with the chunk while the stop comes
            return count

        reader = asyncio.ensure_future(read())
        await started.wait()
        await stream.aclose()
        with pytest.raises(StreamInterruptedError, match=closed):
            await reader

    asyncio.run(main())


def test_close_stops_a_stream_read_in_another_thread_through_an_iterator_taken_here(
    nugen_emulator: NugenEmulator,
) -> None:
    # ``iter(stream)`` here, the iterator read by a worker: close() cannot close the
    # generator under it, so the worker gets StreamInterruptedError at its next chunk.
    nugen_emulator.inject(stall_after=3, stall_seconds=0.5)
    stream = _open(_client("sync", nugen_emulator), "chat")
    chunks = iter(stream)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in chunks:
                pass
        except StreamInterruptedError as error:
            errors.append(error)

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(0.2)  # the worker waits for its fourth chunk
    stream.close()
    worker.join()
    assert [type(error) for error in errors] == [StreamInterruptedError]
    assert "the stream was closed" in str(errors[0])


def test_close_from_another_thread_or_task_stops_a_stream_answered_whole(
    nugen_emulator: NugenEmulator,
) -> None:
    # The vision endpoint answers in one JSON body (delayed here): a stream closed while
    # its reader waits for it ends as an event stream does, its chunks never handed out.
    nugen_emulator.inject(delay=0.4, times=2)
    closed = r"\(the stream was closed\)"
    client = _client("sync", nugen_emulator)
    stream = client.stream_chat_completion(model="m", messages=STORY, endpoint="vision")
    timer = threading.Timer(0.1, stream.close)
    timer.start()
    with pytest.raises(StreamInterruptedError, match=closed):
        _read_all(stream)
    timer.join()

    async def main() -> None:
        aclient = _client("async", nugen_emulator)
        stream = aclient.stream_chat_completion(model="m", messages=STORY, endpoint="vision")
        reader = asyncio.ensure_future(_aread_all(stream))
        await asyncio.sleep(0.1)
        await stream.aclose()
        with pytest.raises(StreamInterruptedError, match=closed):
            await reader
        await aclient.aclose()

    asyncio.run(main())


def test_a_stream_closed_by_another_task_while_waiting_for_a_connection_sends_nothing(
    nugen_emulator: NugenEmulator,
) -> None:
    # The one connection is held by another stream: the closed stream's request, once a
    # connection is free, is never sent (it would be paid for, and read by no one).
    async def main() -> None:
        client = _client("async", nugen_emulator, **ONE)
        held = _open(client, "chat")
        await held.__anext__()
        stream = _open(client, "chat")
        reader = asyncio.ensure_future(_aread_all(stream))
        await asyncio.sleep(0.1)
        await stream.aclose()
        sent = len(nugen_emulator.requests)
        await held.aclose()
        with pytest.raises(StreamInterruptedError, match=r"\(the stream was closed\)"):
            await reader
        assert len(nugen_emulator.requests) == sent
        await client.aclose()

    asyncio.run(main())


def test_a_stream_closed_by_another_thread_while_waiting_for_a_connection_sends_nothing(
    nugen_emulator: NugenEmulator,
) -> None:
    # The sync client's twin of the test above: the wait is in httpx's pool.
    client = _client("sync", nugen_emulator, **{**ONE, "timeout": httpx.Timeout(10, pool=5)})
    held = _open(client, "chat")
    next(iter(held))
    stream = _open(client, "chat")
    errors: list[BaseException] = []

    def read() -> None:
        try:
            _read_all(stream)
        except StreamInterruptedError as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)  # the reader waits for the connection
    stream.close()
    sent = len(nugen_emulator.requests)
    held.close()
    reader.join()
    assert "the stream was closed" in str(errors[0])
    assert len(nugen_emulator.requests) == sent
    client.close()


def _read_all(stream: Any) -> None:
    for _ in stream:
        pass


async def _aread_all(stream: Any) -> None:
    async for _ in stream:
        pass


def test_a_stream_closed_while_waiting_to_retry_sends_nothing_more(
    nugen_emulator: NugenEmulator, kind: str
) -> None:
    # Closed from another thread or task while its reader waits to retry a 503: the retry,
    # which no one would read, is never sent.
    nugen_emulator.inject(status=503, headers={"Retry-After": "0.5"})
    client = NugenClient if kind == "sync" else AsyncNugenClient
    options = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    closed = r"\(the stream was closed\)"
    if kind == "sync":
        stream = _open(client(**options), "chat")
        timer = threading.Timer(0.2, stream.close)
        timer.start()
        with pytest.raises(StreamInterruptedError, match=closed):
            _read_all(stream)
        timer.join()
    else:

        async def main() -> None:
            stream = _open(client(**options), "chat")
            reader = asyncio.ensure_future(_aread_all(stream))
            await asyncio.sleep(0.2)
            await stream.aclose()
            with pytest.raises(StreamInterruptedError, match=closed):
                await reader

        asyncio.run(main())
    assert len(nugen_emulator.requests) == 1


@pytest.mark.parametrize("through", ["stream", "iterator"])
def test_a_stream_whose_read_was_cut_off_never_ends_as_if_whole(
    nugen_emulator: NugenEmulator, through: str
) -> None:
    # A read cut off from outside (asyncio.wait_for around one chunk, Ctrl-C during a
    # read) ends the stream's generator: a caller who reads on gets StreamInterruptedError,
    # never the quiet end of a whole answer (the text so far would pass for all of it).
    nugen_emulator.inject(stall_after=3, stall_seconds=0.5, times=2)
    cut = r"\(reading it was cut off by (CancelledError|KeyboardInterrupt)\)"

    async def main() -> None:
        stream = _open(_client("async", nugen_emulator), "chat")
        chunks = stream if through == "stream" else aiter(stream)

        async def read_with_a_short_timeout() -> None:
            while True:
                await asyncio.wait_for(anext(chunks), 0.1)

        with pytest.raises(asyncio.TimeoutError):  # not TimeoutError before Python 3.11
            await read_with_a_short_timeout()
        with pytest.raises(StreamInterruptedError, match=cut):
            await anext(chunks)
        with pytest.raises(StreamInterruptedError, match=cut):
            await _aread_all(stream)

    asyncio.run(main())

    # Ctrl-C during a read: the interrupt raised by the network read, after two chunks.
    body = sse(chunk("a"), chunk("b"), done=False)
    ctrl_c = Reply(body=body, headers={"content-type": "text/event-stream"}, piece=len(body))
    ctrl_c.raise_exc = KeyboardInterrupt()
    stream = Harness("sync", [ctrl_c]).client.stream_chat_completion(model="m", messages=USER)
    chunks = stream if through == "stream" else iter(stream)
    with pytest.raises(KeyboardInterrupt):
        _read_all(chunks)
    with pytest.raises(StreamInterruptedError, match=cut):
        next(chunks)
    with pytest.raises(StreamInterruptedError, match=cut):
        _read_all(stream)


def test_a_read_begun_before_a_close_and_run_after_it_is_refused(
    nugen_emulator: NugenEmulator,
) -> None:
    # ``anext`` taken, its awaitable run only after the close (a task not started yet):
    # the closed-stream error, never a quiet end after the first chunk.
    async def main() -> None:
        stream = _open(_client("async", nugen_emulator), "chat")
        await anext(stream)
        pending = asyncio.ensure_future(anext(stream))
        await stream.aclose()
        with pytest.raises(InvalidInputError, match="the stream is closed"):
            await pending

    asyncio.run(main())
