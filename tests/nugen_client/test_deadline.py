"""The ``deadline`` bounds a whole call: connecting, waiting for headers, the body, every
retry and every sleep, sync and async (raw-socket servers that misbehave on purpose)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client import APITimeoutError, AsyncNugenClient, NugenClient, RateLimitError
from tests.support.harness import API_KEY, chunk, completion_body
from tests.support.hostile import hostile_server, http_head

MESSAGES = [{"role": "user", "content": "hi"}]
# Short, since most tests here wait for it; every server script outlasts it many times over.
DEADLINE = 0.5
# How far past the deadline a call may end: scheduling on a busy machine, never a whole
# read timeout or retry sleep.
SLACK = 1.0


def _client(kind: str, url: str, **kwargs: Any) -> NugenClient | AsyncNugenClient:
    cls = NugenClient if kind == "sync" else AsyncNugenClient
    kwargs = {"max_retries": 0, "timeout": 10, "deadline": DEADLINE, **kwargs}
    return cls(api_key=API_KEY, base_url=url, **kwargs)


def _chat(client: NugenClient | AsyncNugenClient) -> Any:
    if isinstance(client, NugenClient):
        return client.chat_completion(model="m", messages=MESSAGES)
    return asyncio.run(client.chat_completion(model="m", messages=MESSAGES))


def _stream(client: NugenClient | AsyncNugenClient, pause: float = 0.0) -> list[Any]:
    if isinstance(client, NugenClient):
        chunks = []
        for c in client.stream_chat_completion(model="m", messages=MESSAGES):
            chunks.append(c)
            time.sleep(pause)
        return chunks

    async def run() -> list[Any]:
        chunks = []
        async for c in client.stream_chat_completion(model="m", messages=MESSAGES):
            chunks.append(c)
            await asyncio.sleep(pause)
        return chunks

    return asyncio.run(run())


def _ends_at_the_deadline(call: Any, deadline: float = DEADLINE) -> APITimeoutError:
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="deadline") as caught:
        call()
    assert time.monotonic() - started < deadline + SLACK
    return caught.value


def _event(data: Any) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def test_a_silent_server_ends_at_the_deadline(kind: str) -> None:
    with hostile_server([], hold=10) as server:
        _ends_at_the_deadline(lambda: _chat(_client(kind, server.url)))


def test_a_silent_stream_ends_at_the_deadline(kind: str) -> None:
    with hostile_server([], hold=10) as server:
        _ends_at_the_deadline(lambda: _stream(_client(kind, server.url)))


def test_a_stream_stalled_past_the_deadline_names_the_deadline(kind: str) -> None:
    # The read timeout (10 s) is not what ended it: the message must not send the caller to
    # raise it.
    head = http_head(content_type="text/event-stream")
    with hostile_server([head, _event(chunk("Hello"))], hold=10) as server:
        error = _ends_at_the_deadline(lambda: _stream(_client(kind, server.url)))
    assert "read timeout" not in str(error)


def test_retries_and_their_sleeps_stay_within_the_deadline(kind: str) -> None:
    # A deadline of its own: the first attempt's timeout (0.4 s) plus the longest first
    # backoff (0.5 s) stays within it, so a retry is always slept and then cut short.
    with hostile_server([], hold=10) as server:
        client = _client(kind, server.url, timeout=0.4, max_retries=5, deadline=1.0)
        _ends_at_the_deadline(lambda: _chat(client), deadline=1.0)
    assert server.connections <= 3


def test_a_retry_after_longer_than_the_deadline_is_not_slept(kind: str) -> None:
    body = json.dumps({"detail": "busy"}).encode()
    head = http_head(
        "429 Too Many Requests",
        content_type="application/json",
        content_length=str(len(body)),
        retry_after="20",
    )
    with hostile_server([head, body]) as server:
        started = time.monotonic()
        # The call's own failure, not a timeout: code handling rate limits sees it.
        with pytest.raises(RateLimitError, match="429") as caught:
            _chat(_client(kind, server.url, max_retries=3))
        assert time.monotonic() - started < SLACK
    assert server.connections == 1
    assert "not retried: the next attempt could start only after 20.0 s" in str(caught.value)
    assert "past the call's deadline" in caught.value.message


def _trickled(head: bytes, pause: float) -> list[bytes | float]:
    """A script sending ``head`` a byte at a time, ``pause`` seconds apart."""
    script: list[bytes | float] = []
    for byte in head:
        script += [bytes([byte]), pause]
    return script


def test_trickled_headers_end_at_the_deadline(kind: str) -> None:
    head = http_head(content_type="application/json", content_length="2")
    with hostile_server(_trickled(head, 0.2)) as server:
        _ends_at_the_deadline(lambda: _chat(_client(kind, server.url)))


def test_trickled_headers_end_at_the_deadline_on_an_injected_http_client() -> None:
    """The connections a caller's own httpx client (default transport) opens for a sync call
    are bounded the same way."""
    head = http_head(content_type="application/json", content_length="2")
    with hostile_server(_trickled(head, 0.2)) as server, httpx.Client() as http:
        client = _client("sync", server.url, http_client=http)
        _ends_at_the_deadline(lambda: _chat(client))


@pytest.mark.parametrize("framework", ["ChatNugen.invoke", "Nugen.chat"])
def test_trickled_headers_end_a_framework_sync_call_at_the_deadline(framework: str) -> None:
    head = http_head(content_type="application/json", content_length="2")
    fields = {"api_key": API_KEY, "deadline": DEADLINE, "timeout": 10, "max_retries": 0}
    with hostile_server(_trickled(head, 0.2)) as server:
        if framework == "ChatNugen.invoke":
            model = ChatNugen(base_url=server.url, **fields)
            _ends_at_the_deadline(lambda: model.invoke("hi"))
        else:
            llm = Nugen(base_url=server.url, **fields)
            _ends_at_the_deadline(lambda: llm.chat([ChatMessage(role="user", content="hi")]))


def test_one_threads_deadline_never_shortens_anothers() -> None:
    """Sync calls in two threads: the one with a short deadline ends at it, while the other,
    whose headers trickle in past that moment, gets its answer."""
    text = json.dumps(completion_body("slow")).encode()
    head = http_head(content_type="application/json", content_length=str(len(text)))
    results: dict[str, Any] = {}
    script = [*_trickled(head, (DEADLINE + 0.5) / len(head)), text]
    with hostile_server(script) as server, hostile_server([], hold=10) as silent:
        slow = _client("sync", server.url, deadline=10)
        thread = threading.Thread(target=lambda: results.update(answer=_chat(slow)))
        thread.start()
        time.sleep(0.1)  # the slow call is reading its headers
        _ends_at_the_deadline(lambda: _chat(_client("sync", silent.url)))
        thread.join(timeout=10)
    assert results["answer"].choices[0].message.content == "slow"


def test_a_stream_answered_whole_with_a_trickled_body_ends_at_the_deadline(kind: str) -> None:
    """A stream request answered with JSON (a host that ignores ``stream``) whose body
    trickles past the deadline: an ``APITimeoutError`` like any other call's."""
    head = http_head(content_type="application/json", content_length="1000")
    with hostile_server([head, *([b" ", 0.1] * 100)]) as server:
        _ends_at_the_deadline(lambda: _stream(_client(kind, server.url)))


def test_a_body_cut_off_by_the_deadline_carries_the_request_id(kind: str) -> None:
    """The answer had begun: its x-request-id goes on the error, as on other errors about
    an answer (a trickle, then one read stalled past the deadline; the async client's is a
    cancellation)."""
    id_header = f"req-7 {API_KEY}"
    head = http_head(content_type="application/json", content_length="1000", x_request_id=id_header)
    for gap in (0.1, 2 * DEADLINE):
        with hostile_server([head, *([b" ", gap] * 100)]) as server:
            for call in (_chat, _stream):
                error = _ends_at_the_deadline(functools.partial(call, _client(kind, server.url)))
                assert error.request_id == "req-7 ***"
                assert str(error).endswith(" [request id: req-7 ***]")


def test_endless_100_continue_ends_at_the_deadline(kind: str) -> None:
    script: list[bytes | float] = [b"HTTP/1.1 100 Continue\r\n\r\n", 0.05] * 200
    with hostile_server(script) as server:
        _ends_at_the_deadline(lambda: _chat(_client(kind, server.url)))


def test_a_finished_stream_then_keepalive_comments_returns_its_answer(kind: str) -> None:
    head = http_head(content_type="text/event-stream")
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    script: list[bytes | float] = [
        head,
        _event(chunk("Hello")),
        _event({**chunk(finish="stop"), "usage": usage}),
    ]
    script += [b": keep-alive\n\n", 0.1] * 100
    with hostile_server(script) as server:
        started = time.monotonic()
        chunks = _stream(_client(kind, server.url))
    assert time.monotonic() - started < DEADLINE + SLACK
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"


def test_a_slow_consumer_is_not_blamed_on_the_service(kind: str) -> None:
    head = http_head(content_type="text/event-stream")
    script: list[bytes | float] = [head]
    for word in ("a", "b", "c", "d"):
        script += [_event(chunk(word)), DEADLINE / 5]
    script += [_event(chunk(finish="stop")), b"data: [DONE]\n\n"]
    with hostile_server(script) as server:
        # The service takes 4/5 of the deadline in all; the caller spends 5 x half of it,
        # well past the deadline.
        chunks = _stream(_client(kind, server.url), pause=DEADLINE / 2)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abcd"


def test_a_call_within_the_deadline_is_untouched(kind: str) -> None:
    text = json.dumps(completion_body("fine")).encode()
    head = http_head(content_type="application/json", content_length=str(len(text)))
    with hostile_server([head, 0.3, text]) as server:
        reply = _chat(_client(kind, server.url, deadline=1.0))
    assert reply.choices[0].message.content == "fine"


def test_without_a_deadline_headers_trickling_past_one_get_their_answer(kind: str) -> None:
    text = json.dumps(completion_body("late")).encode()
    head = http_head(content_type="application/json", content_length=str(len(text)))
    with hostile_server([*_trickled(head, (DEADLINE + 0.3) / len(head)), text]) as server:
        reply = _chat(_client(kind, server.url, deadline=None))
    assert reply.choices[0].message.content == "late"


@pytest.mark.parametrize("first_deadline", [DEADLINE, None], ids=["same", "set-later"])
def test_a_kept_alive_connection_stays_bounded(kind: str, first_deadline: float | None) -> None:
    """The second call on a connection ends at its deadline when its headers trickle, also
    when the connection was opened by a call without one (the deadline set afterwards)."""
    text = json.dumps(completion_body("first")).encode()
    good = http_head(content_type="application/json", content_length=str(len(text))) + text
    trickled = _trickled(http_head(content_type="application/json", content_length="2"), 0.2)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn, contextlib.suppress(OSError):
            for script in ([good], trickled):
                data = b""
                while b'"messages"' not in data or not data.endswith(b"}"):
                    data += conn.recv(65536)
                for step in script:
                    conn.sendall(step) if isinstance(step, bytes) else time.sleep(step)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    with server:
        if kind == "sync":
            client = _client(kind, url, deadline=first_deadline)
            assert client.chat_completion(model="m", messages=MESSAGES).choices
            client.deadline = DEADLINE
            _ends_at_the_deadline(lambda: client.chat_completion(model="m", messages=MESSAGES))
        else:

            async def both() -> None:
                client = _client(kind, url, deadline=first_deadline)
                assert isinstance(client, AsyncNugenClient)
                assert (await client.chat_completion(model="m", messages=MESSAGES)).choices
                client.deadline = DEADLINE
                await client.chat_completion(model="m", messages=MESSAGES)

            _ends_at_the_deadline(lambda: asyncio.run(both()))


def test_a_timeout_a_clock_tick_before_the_deadline_is_the_deadlines() -> None:
    # Every wait is cut to what is left of the deadline and a timer may fire a clock tick
    # early: such a timeout ran out the deadline, not the read timeout.
    from nugen_client._limits import DeadlineExceeded
    from nugen_client._stream import TransportErrors

    with pytest.raises(DeadlineExceeded), TransportErrors((), time.monotonic() + 0.008):
        raise httpx.ReadTimeout("timed out")
    with pytest.raises(APITimeoutError), TransportErrors((), time.monotonic() + 60):
        raise httpx.ReadTimeout("timed out")


def test_an_attempt_due_after_the_deadline_is_not_left_unawaited() -> None:
    # A retry whose sleep ends past the deadline (a busy loop) must end the call without
    # the attempt it did not start ("coroutine ... was never awaited").
    import gc
    import warnings

    from nugen_client._limits import DeadlineExceeded, within

    async def attempt() -> None:
        raise AssertionError("started past the deadline")

    gc.collect()  # what earlier tests left to the collector warns before this test watches
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DeadlineExceeded):
            asyncio.run(within(attempt(), time.monotonic() - 1))
        gc.collect()
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == []
