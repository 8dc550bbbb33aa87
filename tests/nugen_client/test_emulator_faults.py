"""The client against every emulator fault, over real sockets, sync and async.

Each test runs twice (``kind`` = sync / async) through :class:`Runner`, which drives
NugenClient or AsyncNugenClient and replaces the retry sleep with a recorder, so
Retry-After handling is asserted exactly without waiting. Attempt counts come from the
emulator's request log, i.e. from what actually reached the server.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nugen_client import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncNugenClient,
    AuthenticationError,
    InternalServerError,
    NugenClient,
    NugenError,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from nugen_client.types import ChatCompletion, ChatCompletionChunk, EmbeddingResponse
from nugen_emulator import Fault, NugenEmulator

MODEL = "nugen-flash-instruct"
USER = [{"role": "user", "content": "What is the capital of France?"}]
EXPECTED = 'You asked: "What is the capital of France?".'


class Runner:
    """Calls the sync or the async client with the same arguments and returns plain results."""

    def __init__(self, kind: str, emulator: NugenEmulator, **options: Any) -> None:
        self.kind = kind
        self.sleeps: list[float] = []
        self.options = {
            "api_key": emulator.api_key,
            "base_url": emulator.base_url,
            "max_retries": 2,
            "timeout": 5.0,
            **options,
        }

    def _sync(self) -> NugenClient:
        return NugenClient(sleep=self.sleeps.append, **self.options)

    def _async(self) -> AsyncNugenClient:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return AsyncNugenClient(sleep=sleep, **self.options)

    def chat(self, **params: Any) -> ChatCompletion:
        params = {"model": MODEL, "messages": USER, **params}
        if self.kind == "sync":
            with self._sync() as client:
                return client.chat_completion(**params)

        async def go() -> ChatCompletion:
            async with self._async() as client:
                return await client.chat_completion(**params)

        return asyncio.run(go())

    def stream(self, received: list[ChatCompletionChunk] | None = None, **params: Any) -> str:
        """Stream a chat; returns the text. Chunks land in ``received`` as they arrive."""
        params = {"model": MODEL, "messages": USER, **params}
        chunks = received if received is not None else []
        if self.kind == "sync":
            with self._sync() as client:
                chunks.extend(client.stream_chat_completion(**params))
        else:

            async def go() -> None:
                async with self._async() as client:
                    async for chunk in client.stream_chat_completion(**params):
                        chunks.append(chunk)

            asyncio.run(go())
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    def embeddings(self, **params: Any) -> EmbeddingResponse:
        params = {"model": "nugen-flash-embed", "input": ["a", "b"], **params}
        if self.kind == "sync":
            with self._sync() as client:
                return client.embeddings(**params)

        async def go() -> EmbeddingResponse:
            async with self._async() as client:
                return await client.embeddings(**params)

        return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emu(nugen_emulator: NugenEmulator) -> Iterator[NugenEmulator]:
    yield nugen_emulator
    # A test that leaves a fault armed has asserted the wrong number of attempts.
    assert nugen_emulator.pending_faults == 0


def _attempts(emu: NugenEmulator) -> int:
    return len(emu.requests)


# -- retries -------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_then_success(kind: str, emu: NugenEmulator) -> None:
    emu.inject(Fault(status=429, headers={"Retry-After": "1"}), times=2)
    runner = Runner(kind, emu)
    assert runner.chat().choices[0].message.content == EXPECTED
    assert _attempts(emu) == 3
    assert runner.sleeps == [1.0, 1.0]


def test_429_with_retry_after_http_date_then_success(kind: str, emu: NugenEmulator) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    emu.inject(status=429, headers={"Retry-After": when})
    runner = Runner(kind, emu)
    assert runner.chat().choices[0].message.content == EXPECTED
    assert _attempts(emu) == 2
    [slept] = runner.sleeps
    assert 25 < slept <= 30


def test_retry_after_zero_with_the_real_sleep(kind: str, emu: NugenEmulator) -> None:
    emu.inject(status=429, headers={"Retry-After": "0"}, times=2)
    client_kwargs = {"api_key": emu.api_key, "base_url": emu.base_url, "max_retries": 2}
    started = time.monotonic()
    if kind == "sync":
        with NugenClient(**client_kwargs) as client:
            reply = client.chat_completion(model=MODEL, messages=USER)
    else:

        async def go() -> ChatCompletion:
            async with AsyncNugenClient(**client_kwargs) as client:
                return await client.chat_completion(model=MODEL, messages=USER)

        reply = asyncio.run(go())
    assert reply.choices[0].message.content == EXPECTED
    assert _attempts(emu) == 3
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status", [408, 500, 502, 503])
def test_transient_statuses_are_retried(kind: str, emu: NugenEmulator, status: int) -> None:
    emu.inject(status=status, times=2)
    runner = Runner(kind, emu)
    assert runner.chat().choices[0].message.content == EXPECTED
    assert _attempts(emu) == 3
    assert len(runner.sleeps) == 2
    assert all(0 < s <= 8 for s in runner.sleeps)  # backoff, no Retry-After


def test_exhausted_retries_raise_rate_limit_error(kind: str, emu: NugenEmulator) -> None:
    emu.inject(status=429, headers={"Retry-After": "0"}, times=3)
    with pytest.raises(RateLimitError) as caught:
        Runner(kind, emu).chat()
    error = caught.value
    assert _attempts(emu) == 3
    assert error.status_code == 429
    assert error.body == {"detail": "Too Many Requests"}
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert error.headers["retry-after"] == "0"


def test_exhausted_retries_raise_internal_server_error(kind: str, emu: NugenEmulator) -> None:
    emu.inject(status=503, body={"detail": "overloaded, try later"}, times=2)
    with pytest.raises(InternalServerError) as caught:
        Runner(kind, emu, max_retries=1).chat()
    assert _attempts(emu) == 2
    assert caught.value.status_code == 503
    assert caught.value.body == {"detail": "overloaded, try later"}
    assert "overloaded, try later" in str(caught.value)
    assert caught.value.request_id in str(caught.value)


def test_client_errors_are_not_retried(kind: str, emu: NugenEmulator) -> None:
    detail = [{"loc": ["body", "messages", 0, "name"], "msg": "bad name", "type": "value_error"}]
    emu.inject(status=422, body={"detail": detail})
    with pytest.raises(UnprocessableEntityError) as caught:
        Runner(kind, emu).chat()
    assert "body.messages.0.name: bad name" in str(caught.value)
    assert _attempts(emu) == 1


def test_a_wrong_key_is_an_authentication_error(kind: str, emu: NugenEmulator) -> None:
    with pytest.raises(AuthenticationError) as caught:
        Runner(kind, emu, api_key="sk-wrong-key-123456").chat()
    assert _attempts(emu) == 1
    assert caught.value.body == {"detail": "Invalid API key"}
    assert "sk-wrong-key-123456" not in str(caught.value)


def test_embeddings_retry_only_on_their_path(kind: str, emu: NugenEmulator) -> None:
    emu.inject(status=500, path="/embeddings")
    runner = Runner(kind, emu)
    assert len(runner.embeddings().embeddings) == 2
    assert [r.path.rsplit("/", 1)[-1] for r in emu.requests] == ["embeddings", "embeddings"]


def test_a_reset_connection_is_retried(kind: str, emu: NugenEmulator) -> None:
    emu.inject(reset=True)
    runner = Runner(kind, emu)
    assert runner.chat().choices[0].message.content == EXPECTED
    assert _attempts(emu) == 2


def test_resets_exhaust_into_a_connection_error(kind: str, emu: NugenEmulator) -> None:
    emu.inject(reset=True, times=3)
    with pytest.raises(APIConnectionError) as caught:
        Runner(kind, emu).chat()
    assert not isinstance(caught.value, APITimeoutError)
    assert _attempts(emu) == 3


# -- timeouts --------------------------------------------------------------------------------


def test_a_slow_answer_times_out_then_succeeds_on_retry(kind: str, emu: NugenEmulator) -> None:
    emu.inject(delay=1.0)
    runner = Runner(kind, emu, timeout=0.3)
    assert runner.chat().choices[0].message.content == EXPECTED
    assert _attempts(emu) == 2


def test_read_timeout_without_retries(kind: str, emu: NugenEmulator) -> None:
    emu.inject(delay=1.0)
    with pytest.raises(APITimeoutError):
        Runner(kind, emu, timeout=0.2, max_retries=0).chat()
    assert _attempts(emu) == 1


def test_a_stalled_stream_times_out_without_retry(kind: str, emu: NugenEmulator) -> None:
    emu.inject(stall_after=2, stall_seconds=2.0)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(APITimeoutError, match="stalled"):
        Runner(kind, emu, timeout=0.3).stream(received)
    assert _chunk_count(received) == 2
    assert _attempts(emu) == 1


def _chunk_count(received: list[ChatCompletionChunk]) -> int:
    # Faults count chunks; the live stream's opening timing event is none.
    return sum(1 for chunk in received if chunk.is_chunk)


# -- streams ---------------------------------------------------------------------------------


def test_a_clean_stream(kind: str, emu: NugenEmulator) -> None:
    received: list[ChatCompletionChunk] = []
    assert Runner(kind, emu).stream(received) == EXPECTED
    # The live stream closes with a timing event, after the chunk that carries the usage.
    chunks = [chunk for chunk in received if chunk.is_chunk]
    assert chunks[-1].usage is not None
    assert received[-1].timing is not None
    assert not received[-1].is_chunk
    assert emu.last_request is not None
    assert emu.last_request.body["stream_options"] == {"include_usage": True}


def test_a_cut_stream_is_interrupted_and_not_retried(kind: str, emu: NugenEmulator) -> None:
    emu.inject(cut_after=3)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterruptedError) as caught:
        Runner(kind, emu).stream(received)
    assert _chunk_count(received) == 3
    assert caught.value.chunks_received == 3
    assert _attempts(emu) == 1


def test_a_dropped_stream_connection_is_interrupted(kind: str, emu: NugenEmulator) -> None:
    emu.inject(reset=True, cut_after=2)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterruptedError):
        Runner(kind, emu).stream(received)
    assert _chunk_count(received) == 2
    assert _attempts(emu) == 1


def test_a_stream_cut_before_any_event(kind: str, emu: NugenEmulator) -> None:
    emu.inject(cut_after=0)
    with pytest.raises(StreamInterruptedError):
        Runner(kind, emu).stream()
    assert _attempts(emu) == 1


def test_an_error_before_the_stream_starts_is_retried(kind: str, emu: NugenEmulator) -> None:
    emu.inject(status=503)
    assert Runner(kind, emu).stream() == EXPECTED
    assert _attempts(emu) == 2


def test_malformed_sse_is_a_nugen_error(kind: str, emu: NugenEmulator) -> None:
    emu.inject(malformed_after=1)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(APIResponseValidationError) as caught:
        Runner(kind, emu).stream(received)
    assert isinstance(caught.value, NugenError)
    assert "malformed" in str(caught.value)
    assert _chunk_count(received) == 1
    assert _attempts(emu) == 1


def test_an_error_event_mid_stream_is_a_status_error(kind: str, emu: NugenEmulator) -> None:
    emu.inject(error_event_after=2)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(APIStatusError) as caught:
        Runner(kind, emu).stream(received)
    assert isinstance(caught.value, InternalServerError)
    assert caught.value.status_code == 500
    assert "Internal error while streaming" in str(caught.value)
    assert _chunk_count(received) == 2
    assert _attempts(emu) == 1


def test_an_error_event_in_the_openai_dialect(
    kind: str, nugen_emulator_openai: NugenEmulator
) -> None:
    nugen_emulator_openai.inject(
        error_event_after=1, body={"error": {"message": "rate limited", "code": 429}}
    )
    with pytest.raises(RateLimitError):
        Runner(kind, nugen_emulator_openai).stream()
    assert len(nugen_emulator_openai.requests) == 1


def test_null_usage_is_tolerated(kind: str, emu: NugenEmulator) -> None:
    emu.inject(no_usage=True, times=2)
    runner = Runner(kind, emu)
    assert runner.chat().usage is None
    received: list[ChatCompletionChunk] = []
    assert runner.stream(received) == EXPECTED
    assert all(chunk.usage is None for chunk in received)


def test_a_malformed_success_body(kind: str, emu: NugenEmulator) -> None:
    emu.inject(status=200, body=b"{not json")
    with pytest.raises(APIResponseValidationError):
        Runner(kind, emu).chat()
    assert _attempts(emu) == 1


@pytest.mark.parametrize(
    "body",
    [{"error": {"message": "Model overloaded", "code": 503}}, {"detail": "Model overloaded"}],
    ids=["error", "detail"],
)
def test_an_error_body_sent_with_a_200_says_what_the_service_said(
    kind: str, emu: NugenEmulator, body: dict[str, Any]
) -> None:
    # Some gateways answer a failure with a 200: "it has no choices" alone hides why.
    runner = Runner(kind, emu)
    for call in (runner.chat, runner.stream, runner.embeddings):
        emu.inject(status=200, body=body)
        with pytest.raises(APIResponseValidationError, match="Model overloaded"):
            call()


def test_an_error_sent_with_a_200_is_redacted_before_it_is_cut(
    kind: str, emu: NugenEmulator
) -> None:
    # The quoted message is cut to length: a key echoed across the cut, redacted only
    # afterwards, would keep its first characters.
    message = "x" * 495 + f" {emu.api_key}"  # its first four characters before the cut
    emu.inject(status=200, body={"error": {"message": message}})
    with pytest.raises(APIResponseValidationError) as raised:
        Runner(kind, emu).chat()
    assert f" {emu.api_key[:4]}" not in str(raised.value)
