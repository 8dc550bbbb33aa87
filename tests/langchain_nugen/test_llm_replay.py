"""``NugenLLM`` end to end, replayed from emulator cassettes (sync and async, streaming and
not, several prompts, a chain, and a wrong key).

Replayed from ``cassettes/langchain_nugen/test_llm_replay/`` with sockets blocked;
``scripts/record-cassettes tests/langchain_nugen/test_llm_replay.py`` re-records them
against a NugenEmulator, whose deterministic answers are what the assertions read.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.exceptions import ModelAuthenticationError
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

import nugen_client
from langchain_nugen import NugenLLM
from tests.conftest import NugenTarget
from tests.support.langchain import keep, sent_bodies

MODEL = "qwen-v2p5-0p5b-instruct"
PROMPT = "To infinity, and"
ANSWER = 'You asked: "To infinity, and".'  # the emulator answers a prompt like a chat


def llm(target: NugenTarget, **kwargs: Any) -> NugenLLM:
    return keep(NugenLLM(base_url=target.base_url, api_key=target.api_key, model=MODEL, **kwargs))


def test_invoke(nugen_target: NugenTarget, vcr: Any) -> None:
    assert llm(nugen_target, max_tokens=60).invoke(PROMPT) == ANSWER
    assert sent_bodies(nugen_target, vcr) == [{"model": MODEL, "prompt": PROMPT, "max_tokens": 60}]


def test_stream(nugen_target: NugenTarget) -> None:
    pieces = list(llm(nugen_target).stream(PROMPT))
    assert "".join(pieces) == ANSWER
    assert len(pieces) > 3


async def test_async_invoke_and_stream(nugen_target: NugenTarget) -> None:
    model = llm(nugen_target)
    assert await model.ainvoke(PROMPT) == ANSWER
    assert "".join([piece async for piece in model.astream("Ad astra per")]) == (
        'You asked: "Ad astra per".'
    )


def test_generate_sums_usage(nugen_target: NugenTarget) -> None:
    # One request per prompt (batch_size=1), so that the usage of two answers is summed.
    result = llm(nugen_target, batch_size=1).generate(["Once upon a time", "The quick brown fox"])
    assert [g[0].text for g in result.generations] == [
        'You asked: "Once upon a time".',
        'You asked: "The quick brown fox".',
    ]
    assert result.llm_output is not None
    usage = result.llm_output["token_usage"]
    assert usage["prompt_tokens"] == 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    info = result.generations[1][0].generation_info or {}
    assert info["finish_reason"] == "stop"
    assert info["model_name"] == MODEL
    assert "total_seconds" in info["timing"]


async def test_abatch(nugen_target: NugenTarget) -> None:
    model = llm(nugen_target, max_concurrent_requests=1, batch_size=1)
    answers = await model.abatch(["one", "two"])
    assert answers == ['You asked: "one".', 'You asked: "two".']


def test_chain(nugen_target: NugenTarget) -> None:
    chain = PromptTemplate.from_template("Write a tagline for a {product}:")
    answer = (chain | llm(nugen_target) | StrOutputParser()).invoke({"product": "rocket"})
    assert answer == 'You asked: "Write a tagline for a rocket:".'


def test_wrong_key(nugen_target: NugenTarget) -> None:
    model = NugenLLM(base_url=nugen_target.base_url, api_key="wrong-key-123", max_retries=0)
    with pytest.raises(nugen_client.AuthenticationError) as raised:
        model.invoke(PROMPT)
    assert isinstance(raised.value, ModelAuthenticationError)
    assert raised.value.status_code == 401
