"""Fuzzing the stream decoder and response parsing with arbitrary bytes and JSON.

Whatever the service sends, the client either returns what it sent or raises a
``NugenError``: never another exception type, never a hang.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nugen_client import NugenClient, NugenError
from nugen_client.types import ChatCompletionChunk

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

chunk_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=8), st.integers(), st.none()),
        "created": st.one_of(
            st.floats(allow_nan=False), st.integers(), st.text(max_size=5), st.none()
        ),
        "model": st.one_of(st.text(max_size=8), st.none()),
        "choices": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "index": st.one_of(st.integers(-2, 3), st.none(), st.text(max_size=2)),
                        "delta": st.one_of(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "content": st.one_of(
                                        st.text(max_size=10), st.none(), st.integers()
                                    ),
                                    "tool_calls": st.one_of(
                                        st.none(), st.lists(json_values, max_size=2)
                                    ),
                                    "reasoning": json_values,
                                },
                            ),
                            json_values,
                        ),
                        "finish_reason": st.one_of(
                            st.none(), st.sampled_from(["stop", "length", ""]), st.integers()
                        ),
                    },
                ),
                max_size=3,
            ),
            json_values,
        ),
        "usage": json_values,
        "error": json_values,
    },
)


def _client(body: bytes, content_type: str, piece: int) -> NugenClient:
    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            for i in range(0, len(body), piece):
                yield body[i : i + piece]

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, stream=Pieces())

    return NugenClient(
        api_key="fuzz-key-123",
        base_url="https://fuzz.test",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(respond)),
    )


def _drain(client: NugenClient) -> list[ChatCompletionChunk]:
    return list(
        client.stream_chat_completion(model="m", messages=[{"role": "user", "content": "x"}])
    )


@SETTINGS
@given(body=st.binary(max_size=400), piece=st.integers(1, 64))
def test_arbitrary_bytes_in_a_stream(body: bytes, piece: int) -> None:
    with contextlib.suppress(NugenError):
        _drain(_client(body, "text/event-stream", piece))


@SETTINGS
@given(
    events=st.lists(st.one_of(chunk_like, json_values), max_size=6),
    done=st.booleans(),
    piece=st.integers(1, 50),
)
# Always tried: valid events are rare among arbitrary ones, and order needs at least two.
@example(
    events=[
        {"id": f"c{n}", "choices": [{"index": 0, "delta": {"content": text}}]}
        for n, text in enumerate(["Hel", "lo", " there"])
    ],
    done=True,
    piece=7,
)
def test_arbitrary_json_events(events: list[Any], done: bool, piece: int) -> None:
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + (
        "data: [DONE]\n\n" if done else ""
    )
    try:
        chunks = _drain(_client(body.encode(), "text/event-stream", piece))
    except NugenError:
        return
    # Whatever was accepted is what was sent: one chunk per event, in order, each with the
    # event's id, texts and finish reasons.
    assert [_sent(chunk) for chunk in chunks] == [_expected(event) for event in events]


def _sent(chunk: ChatCompletionChunk) -> tuple[str, list[tuple[str | None, str | None]]]:
    return chunk.id, [(choice.delta.content, choice.finish_reason) for choice in chunk.choices]


def _expected(event: Any) -> tuple[str, list[tuple[str | None, str | None]]]:
    assert isinstance(event, dict), f"a non-object event was accepted: {event!r}"
    choices = event.get("choices") or []
    return event.get("id") or "", [
        ((choice.get("delta") or {}).get("content"), choice.get("finish_reason"))
        for choice in choices
    ]


@SETTINGS
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_arbitrary_non_streaming_bodies(body: bytes) -> None:
    client = _client(body, "application/json", 10_000)
    try:
        reply = client.chat_completion(model="m", messages=[{"role": "user", "content": "x"}])
    except NugenError:
        return
    assert reply.choices


@SETTINGS
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_arbitrary_embedding_bodies(body: bytes) -> None:
    client = _client(body, "application/json", 10_000)
    try:
        result = client.embeddings(model="m", input=["a", "b"])
    except NugenError:
        return
    assert len(result.embeddings) == 2


@SETTINGS
@given(
    status=st.integers(400, 599),
    body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
)
def test_arbitrary_error_bodies(status: int, body: bytes) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    client = NugenClient(
        api_key="fuzz-key-123",
        base_url="https://fuzz.test",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(respond)),
    )
    with pytest.raises(NugenError) as info:
        client.chat_completion(model="m", messages=[{"role": "user", "content": "x"}])
    assert "fuzz-key-123" not in str(info.value)
