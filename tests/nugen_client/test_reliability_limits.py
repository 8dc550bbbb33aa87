"""Bounds (decoded size, event size, gzip bombs), deadlines, base URL and header checks,
reprs and error texts, against small loopback servers that misbehave on purpose
(``tests/support/hostile.py``)."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import resource
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from nugen_client import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncNugenClient,
    InvalidInputError,
    NotFoundError,
    NugenClient,
)
from nugen_client._limits import bound_response
from tests.support.harness import API_KEY, chunk, completion_body
from tests.support.hostile import hostile_server, http_head

MESSAGES = [{"role": "user", "content": "hi"}]


def _client(kind: str, url: str, **kwargs: Any) -> NugenClient | AsyncNugenClient:
    cls = NugenClient if kind == "sync" else AsyncNugenClient
    return cls(api_key=API_KEY, base_url=url, max_retries=0, **kwargs)


def _chat(client: NugenClient | AsyncNugenClient, **options: Any) -> Any:
    if isinstance(client, NugenClient):
        return client.chat_completion(model="m", messages=MESSAGES, **options)
    return asyncio.run(client.chat_completion(model="m", messages=MESSAGES, **options))


def _stream(client: NugenClient | AsyncNugenClient, **options: Any) -> list[Any]:
    if isinstance(client, NugenClient):
        return list(client.stream_chat_completion(model="m", messages=MESSAGES, **options))

    async def run() -> list[Any]:
        chunks = client.stream_chat_completion(model="m", messages=MESSAGES, **options)
        return [c async for c in chunks]

    return asyncio.run(run())


def _event(data: Any) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


# --------------------------------------------------------------------- gzip bomb, big events


@functools.cache
def _bomb(mebibytes: int) -> bytes:
    """A valid gzip body that decodes to ``mebibytes`` MiB of spaces, built without
    compressing them all: after a full flush the compressor forgets what it saw, so every
    further MiB compresses to the same bytes, repeated here."""
    block = b" " * 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc, (mebibytes * len(block)) & 0xFFFFFFFF)
    return first + repeated * (mebibytes - 1) + final_empty_block + trailer


def test_the_bomb_is_valid_gzip() -> None:
    assert gzip.decompress(_bomb(3)) == b" " * 3 * 1024 * 1024


def test_a_gzip_bomb_ends_in_a_nugen_error_without_blowing_up_memory(kind: str) -> None:
    body = _bomb(1024)  # 1 GiB decoded, about 1 MB on the wire
    head = http_head(
        content_type="application/json", content_encoding="gzip", content_length=str(len(body))
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with hostile_server([head, body]) as server:
        client = _client(kind, server.url, max_response_bytes=8 * 1024 * 1024)
        with pytest.raises(APIResponseValidationError, match="max_response_bytes"):
            _chat(client)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 256 * 1024  # far below the 1 GiB the bomb decodes to


def test_an_sse_event_over_the_limit_ends_in_a_nugen_error(kind: str) -> None:
    head = http_head(content_type="text/event-stream")
    huge = b"data: " + b"x" * (2 * 1024 * 1024)  # no blank line: one event that never ends
    with hostile_server([head, huge]) as server:
        client = _client(kind, server.url, max_event_bytes=1024 * 1024)
        with pytest.raises(APIResponseValidationError, match="max_event_bytes"):
            _stream(client)


def test_a_gzipped_answer_under_the_limits_is_read(kind: str) -> None:
    body = gzip.compress(json.dumps(completion_body("zipped")).encode())
    head = http_head(
        content_type="application/json", content_encoding="gzip", content_length=str(len(body))
    )
    with hostile_server([head, body]) as server:
        reply = _chat(_client(kind, server.url))
    assert reply.choices[0].message.content == "zipped"


class _Body(httpx.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body


def test_a_deflated_body_yields_all_zlib_holds_when_it_ends(kind: str) -> None:
    """zlib holds decoded bytes back when a step fills in the middle of a match; a body
    that ends there (its checksum cut off) still yields them, as zlib's own flush does."""
    data = bytes(range(256)) + bytes(65_281)  # a match crosses the 64 KiB step at the end
    body = zlib.compress(data)[:-5]
    assert zlib.decompressobj().decompress(body) == data  # all of it is in the body
    stream = _Body(body) if kind == "sync" else _AsyncBody(body)
    response = httpx.Response(200, headers={"content-encoding": "deflate"}, stream=stream)
    bound_response(response, max_bytes=len(data), deadline=None)
    read = response.read() if kind == "sync" else asyncio.run(response.aread())
    assert read == data


def test_an_answer_of_exactly_max_response_bytes_is_read_one_byte_more_is_not(kind: str) -> None:
    body = json.dumps(completion_body("fits")).encode()
    head = http_head(content_type="application/json", content_length=str(len(body)))
    for limit, fits in ((len(body), True), (len(body) - 1, False)):
        with hostile_server([head, body]) as server:
            client = _client(kind, server.url, max_response_bytes=limit)
            if fits:
                assert _chat(client).choices[0].message.content == "fits"
            else:
                with pytest.raises(APIResponseValidationError, match="max_response_bytes"):
                    _chat(client)


# ---------------------------------------------------------------- an overall deadline per call


def test_endless_keepalive_comments_end_at_the_deadline(kind: str) -> None:
    head = http_head(content_type="text/event-stream")
    script: list[bytes | float] = [head, _event(chunk("Hel"))]
    script += [b": keep-alive\n\n", 0.1] * 100
    with hostile_server(script) as server:
        client = _client(kind, server.url, timeout=5, deadline=0.5)
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="deadline"):
            _stream(client)
    assert time.monotonic() - started < 4


def test_a_trickled_body_ends_at_the_deadline(kind: str) -> None:
    text = json.dumps(completion_body("slow")).encode()
    head = http_head(content_type="application/json", content_length=str(len(text)))
    script: list[bytes | float] = [head]
    for byte in text:
        script += [bytes([byte]), 0.05]
    with hostile_server(script) as server:
        client = _client(kind, server.url, timeout=5, deadline=0.5)
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="deadline"):
            _chat(client)
    assert time.monotonic() - started < 4


def test_the_deadline_is_checked_on_input() -> None:
    with pytest.raises(InvalidInputError, match="deadline"):
        NugenClient(api_key=API_KEY, deadline=0)


# -------------------------------------------------- a complete answer, then the server idles


@pytest.mark.parametrize("usage", [True, False])
def test_an_idle_timeout_after_the_final_chunk_ends_the_stream_normally(
    kind: str, usage: bool
) -> None:
    head = http_head(content_type="text/event-stream")
    final = chunk(finish="stop")
    if usage:
        final["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    script: list[bytes | float] = [head, _event(chunk("Hello")), _event(final)]
    with hostile_server(script, hold=5.0) as server:
        chunks = _stream(_client(kind, server.url, timeout=0.5), include_usage=usage)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"


def test_an_idle_timeout_before_the_asked_usage_still_fails(kind: str) -> None:
    head = http_head(content_type="text/event-stream")
    script: list[bytes | float] = [head, _event(chunk("Hello")), _event(chunk(finish="stop"))]
    with hostile_server(script, hold=5.0) as server, pytest.raises(APITimeoutError):
        _stream(_client(kind, server.url, timeout=0.5))


# ----------------------------------------------------------------------- base_url parts


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2-PASSWORD@api.example.com/v1",
        # A gateway's key in the query (?key=, ?code=): refused without being echoed.
        "https://api.example.com/v1?api-key=hunter2",
        "https://api.example.com/v1#hunter2",
    ],
)
def test_a_base_url_with_userinfo_query_or_fragment_is_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="base_url") as info:
        NugenClient(api_key=API_KEY, base_url=url)
    assert "hunter2" not in str(info.value)
    assert "api.example.com" in str(info.value)


# ------------------------------------------------------------------ header-breaking input


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "nul\x00", "caf\u00e9"])
@pytest.mark.parametrize("field", ["session_id", "provider"])
def test_header_breaking_values_are_refused_before_any_request(field: str, value: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        NugenClient(api_key=API_KEY, **{field: value})


@pytest.mark.parametrize(
    "key",
    [
        "sk-a\r\nX-Evil: 1",
        "sk-caf\u00e9",
        "sk-nul\x00",
        # Whitespace at either end (a key pasted with a space or a tab): h11 refuses such a
        # header value at send time, as a connection error retried in vain, whose
        # message quoted the tab escaped, where redaction could not find the key.
        "sk-trailing-space ",
        "sk-trailing-tab\t",
        "\tsk-leading-tab",
    ],
)
def test_a_key_that_cannot_be_a_header_is_refused_without_quoting_it(key: str) -> None:
    with pytest.raises(InvalidInputError, match="api_key") as info:
        NugenClient(api_key=key)
    assert "sk-" not in str(info.value)


def test_header_breaking_call_options_are_refused_naming_the_field(kind: str) -> None:
    with hostile_server([]) as server:
        client = _client(kind, server.url)
        for options, field in [
            ({"session_id": "x\r\ny"}, "session_id"),
            ({"extra_headers": {"X-A": "b\x00"}}, "extra_headers"),
            ({"extra_headers": {"X-A": "\u2603"}}, "extra_headers"),
            ({"extra_headers": {"X-A": "b "}}, "extra_headers"),
            ({"session_id": " s"}, "session_id"),
        ]:
            with pytest.raises(InvalidInputError, match=field):
                _chat(client, **options)
    with pytest.raises(InvalidInputError, match="default_headers"):
        NugenClient(api_key=API_KEY, default_headers={"X-Token": "a\rb"})


# --------------------------------------------------------------------- reprs hold no key


def test_the_prepared_request_repr_hides_credentials() -> None:
    client = NugenClient(api_key=API_KEY, default_headers={"X-Api-Key": "other-SECRET"})
    prepared = client._prepare_chat({"model": "m", "messages": MESSAGES}, stream=False)  # type: ignore[typeddict-item]
    text = repr(prepared)
    assert API_KEY not in text
    assert "other-SECRET" not in text
    assert "Authorization" in text


def test_the_emulator_recorded_request_repr_hides_credentials() -> None:
    from nugen_emulator import NugenEmulator

    with NugenEmulator() as emu:
        NugenClient(api_key=emu.api_key, base_url=emu.base_url).chat_completion(
            model="nugen-flash-instruct", messages=MESSAGES
        )
        text = repr(emu.requests[-1])
    assert emu.api_key not in text
    assert "authorization" in text


# -------------------------------------------------------------- errors say where they went


def test_a_connection_error_names_the_url_tried(kind: str) -> None:
    with hostile_server([]) as server:
        url = server.url
    client = _client(kind, url)  # the server is gone: nothing listens on that port now
    with pytest.raises(APIConnectionError) as info:
        _chat(client)
    assert f"127.0.0.1:{url.split(':')[2].split('/')[0]}/v1/chat/completions" in str(info.value)
    assert API_KEY not in str(info.value)


def test_a_404_names_the_url_and_hints_at_the_base_path(kind: str) -> None:
    body = b'{"detail": "Not Found"}'
    head = http_head("404 Not Found", content_type="application/json", content_length="23")
    with hostile_server([head, body]) as server, pytest.raises(NotFoundError) as info:
        _chat(_client(kind, server.url))
    message = str(info.value)
    assert f"{server.url}/chat/completions" in message
    assert "/api/v3/inference" in message
    assert "/v1" in message
