"""Hostile answers through both adapters, sync and async, streaming and not
(``tests/support/adapters.py``'s call styles): nested error bodies, non-finite numbers,
keys echoed across a cut, event loops freed, against a loopback server that misbehaves on
purpose (``tests/support/hostile.py``). The client-level tests, case by case, are in
``tests/nugen_client/test_hostile_servers.py`` and ``test_pool_lifecycle.py``; here each
test runs once per framework, plainly and streamed, the call styles taking turns from one
test to the next."""

from __future__ import annotations

import asyncio
import gc
import json
import math
import weakref
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client import InternalServerError, NugenError, RateLimitError
from nugen_emulator import NugenEmulator
from tests.support.adapters import Seen, Style, styles_in_turn
from tests.support.harness import chunk, completion_body
from tests.support.hostile import hostile_server, http_head

KEY = "nk-live-SECRET-4c2d9e7a1b3f5068aa77"


def _json_reply(status: str, body: str, **headers: str) -> list[bytes | float]:
    data = body.encode()
    head = http_head(
        status,
        content_type="application/json",
        content_length=str(len(data)),
        connection="close",
        **headers,
    )
    return [head, data]


def _run(style: Style, url: str, **kwargs: Any) -> str:
    model = style.model(url, KEY, **{"max_retries": 0, **kwargs})
    return style.run(model, Seen())


# ---------------------------------------------------- deeply nested JSON in an error body


@pytest.mark.parametrize("style", styles_in_turn(0), ids=lambda s: s.id)
def test_a_deeply_nested_error_body_is_a_retryable_nugen_error(
    style: Style, retry_sleeps: list[float]
) -> None:
    deep = '{"detail": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with hostile_server(_json_reply("500 Internal Server Error", deep)) as server:
        with pytest.raises(InternalServerError):
            _run(style, server.url, max_retries=1)
        assert server.connections == 2  # the 5xx was retried once


# -------------------------------------------------------------- Retry-After: nan / inf


@pytest.mark.parametrize(
    ("value", "style"),
    [("nan", style) for style in styles_in_turn(1)]
    + [("inf", style) for style in styles_in_turn(2)],
    ids=lambda value: getattr(value, "id", value),
)
def test_a_non_finite_retry_after_falls_back_to_the_backoff(
    style: Style, value: str, retry_sleeps: list[float]
) -> None:
    script = _json_reply("429 Too Many Requests", '{"detail": "slow down"}', retry_after=value)
    with hostile_server(script) as server, pytest.raises(RateLimitError):
        _run(style, server.url, max_retries=1)
    assert len(retry_sleeps) == 1
    assert math.isfinite(retry_sleeps[0])


# -------------------------------------------------------- NaN / Infinity in the numbers


@pytest.mark.parametrize("style", styles_in_turn(3), ids=lambda s: s.id)
def test_nan_and_infinity_in_a_response_read_as_absent(style: Style) -> None:
    if style.streams:
        first = chunk("Bonjour")
        first["created"] = math.nan
        last = chunk(finish="stop")
        last["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        body = (
            b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in (first, last))
            + b"data: [DONE]\n\n"
        )
        script: list[bytes | float] = [
            http_head(content_type="text/event-stream", connection="close"),
            body,
        ]
    else:
        reply = completion_body("Bonjour", created=math.nan, confidence_score=math.inf)
        script = _json_reply("200 OK", json.dumps(reply))
    with hostile_server(script) as server:
        assert _run(style, server.url) == "Bonjour"


# --------------------------------------------- a key echoed across the error text's cut


@pytest.mark.parametrize(
    ("cut", "style"),
    [(200, style) for style in styles_in_turn(4)] + [(500, style) for style in styles_in_turn(5)],
    ids=lambda value: getattr(value, "id", str(value)),
)
def test_a_key_echoed_across_the_cut_leaves_no_prefix(style: Style, cut: int) -> None:
    detail = "x" * (cut - len(KEY) // 2 - len('{"detail": "')) + KEY
    script = _json_reply("400 Bad Request", json.dumps({"detail": detail}))
    with hostile_server(script) as server, pytest.raises(NugenError) as info:
        _run(style, server.url)
    text = f"{info.value!s} {info.value!r} {getattr(info.value, 'body', '')!s}"
    assert KEY[: len(KEY) // 2] not in text


# -------------------------------------------------- successive event loops are freed


@pytest.mark.parametrize("framework", ["langchain", "llama_index"])
def test_successive_event_loops_are_freed_through_the_adapters(
    nugen_emulator: NugenEmulator, framework: str
) -> None:
    kw = {"base_url": nugen_emulator.base_url, "api_key": nugen_emulator.api_key}
    model: Any = ChatNugen(**kw) if framework == "langchain" else Nugen(**kw)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def ask() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        if isinstance(model, ChatNugen):
            await model.ainvoke("hello")
            async for _ in model.astream("hello"):
                pass
        else:
            await model.achat([ChatMessage(role="user", content="hello")])
            async for _ in await model.astream_chat([ChatMessage(role="user", content="hi")]):
                pass

    for _ in range(5):
        asyncio.run(ask())
    gc.collect()
    assert [ref for ref in loops if ref() is not None] == []
