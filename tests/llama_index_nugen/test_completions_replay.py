"""``Nugen(is_chat_model=False)`` end to end on ``/completions``, replayed from emulator
cassettes: the cookbook's call, every completion and chat form, and a wrong key.

Replayed from ``cassettes/llama_index_nugen/test_completions_replay/`` with sockets
blocked; ``scripts/record-cassettes`` re-records them against a NugenEmulator.
"""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage

from nugen_client import AuthenticationError
from tests.conftest import NugenTarget
from tests.support.llama_index import llm, sent_bodies

MODEL = "qwen-v2p5-0p5b-instruct"
PROMPT = "To infinity, and"
ANSWER = 'You asked: "To infinity, and".'  # the emulator answers a prompt like a chat


def test_complete_like_the_cookbook(nugen_target: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target, model=MODEL, is_chat_model=False)
    response = model.complete(PROMPT)
    assert response.text == ANSWER
    extras = response.additional_kwargs
    assert extras["finish_reason"] == "stop"
    assert extras["total_tokens"] == extras["prompt_tokens"] + extras["completion_tokens"]
    assert "ttft_seconds" in extras["timing"]
    assert sent_bodies(nugen_target, vcr) == [{"model": MODEL, "prompt": PROMPT}]


def test_stream_complete(nugen_target: NugenTarget) -> None:
    responses = list(llm(nugen_target, model=MODEL, is_chat_model=False).stream_complete(PROMPT))
    assert responses[-1].text == ANSWER
    assert "".join(r.delta or "" for r in responses) == ANSWER
    assert responses[-1].additional_kwargs["completion_tokens"] > 0


async def test_async_forms(nugen_target: NugenTarget) -> None:
    model = llm(nugen_target, model=MODEL, is_chat_model=False)
    assert (await model.acomplete(PROMPT)).text == ANSWER
    streamed = [r async for r in await model.astream_complete("Ad astra per")]
    assert streamed[-1].text == 'You asked: "Ad astra per".'


def test_chat_forms_use_messages_to_prompt(nugen_target: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target, model=MODEL, is_chat_model=False)
    messages = [ChatMessage(role="user", content="Hello there")]
    reply = model.chat(messages)
    streamed = list(model.stream_chat(messages))
    assert streamed[-1].message.content == reply.message.content
    assert reply.message.content is not None
    assert reply.message.content.startswith("You asked:")
    prompt = model.messages_to_prompt(messages)  # type: ignore[misc]
    assert [body["prompt"] for body in sent_bodies(nugen_target, vcr)] == [prompt, prompt]


def test_wrong_key(nugen_target: NugenTarget) -> None:
    from llama_index_nugen import Nugen

    model = Nugen(
        base_url=nugen_target.base_url, api_key="wrong-key-123", max_retries=0, is_chat_model=False
    )
    with pytest.raises(AuthenticationError) as raised:
        model.complete(PROMPT)
    assert raised.value.status_code == 401
