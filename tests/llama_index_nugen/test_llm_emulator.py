"""Live against a NugenEmulator on loopback: faults, headers and the request log.

These need no cassette: the session-wide emulator fixture (``nugen_emulator``) answers,
and its request log shows exactly what reached the service. Faults (rate limits, cut and
malformed streams, delays) are easier to provoke live than to record.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import BaseModel

from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal
from nugen_client import (
    APIResponseValidationError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    StreamInterruptedError,
)

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator

HELLO = [ChatMessage(role="user", content="Hello there")]


def nugen(emulator: NugenEmulator, **kwargs: object) -> Nugen:
    return Nugen(base_url=emulator.base_url, api_key=emulator.api_key, **kwargs)  # type: ignore[arg-type]


def test_headers_and_body_in_the_request_log(nugen_emulator: NugenEmulator) -> None:
    model = nugen(
        nugen_emulator, session_id="field-session", provider="fwai", additional_kwargs={"n": 1}
    )
    model.chat(HELLO)
    model.chat(HELLO, session_id="call-session", extra_headers={"X-Trace": "t-1"})
    first, second = nugen_emulator.requests
    assert first.path == "/api/v3/inference/chat/completions"
    assert first.headers["x-session-id"] == "field-session"
    assert first.headers["x-provider"] == "fwai"
    assert first.headers["authorization"] == f"Bearer {nugen_emulator.api_key}"
    assert first.body == {
        "model": "nugen-flash-instruct",
        "messages": [{"role": "user", "content": "Hello there"}],
        "n": 1,
    }
    assert second.headers["x-session-id"] == "call-session"
    assert second.headers["x-trace"] == "t-1"


def test_rate_limit_is_retried_then_succeeds(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=429, headers={"Retry-After": "0"}, times=2)
    response = nugen(nugen_emulator, max_retries=2).chat(HELLO)
    assert response.message.content == 'You asked: "Hello there".'
    assert len(nugen_emulator.requests) == 3


def test_rate_limit_beyond_max_retries(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=429, headers={"Retry-After": "0"}, times=2)
    with pytest.raises(RateLimitError) as info:
        nugen(nugen_emulator, max_retries=1).chat(HELLO)
    assert info.value.request_id
    assert len(nugen_emulator.requests) == 2


def test_cut_stream_raises_after_the_text_so_far(nugen_emulator: NugenEmulator) -> None:
    # Four chunks: the live stream's empty opening delta, "You", an empty delta, "asked:".
    nugen_emulator.inject(cut_after=4)
    stream = nugen(nugen_emulator).stream_chat(HELLO)
    seen = [next(stream).message.content, next(stream).message.content]
    assert seen == ["You", "You asked:"]
    with pytest.raises(StreamInterruptedError):
        next(stream)


async def test_cut_async_stream_raises(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(cut_after=5, reset=True)  # two of the five are empty deltas
    stream = await nugen(nugen_emulator).astream_complete("Hello there")
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.partial == 'You asked: "Hello'


def test_malformed_event_is_reported(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(malformed_after=1)
    with pytest.raises(APIResponseValidationError, match="malformed stream event"):
        list(nugen(nugen_emulator).stream_complete("Hi"))


def test_error_event_mid_stream(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(error_event_after=2)
    with pytest.raises(InternalServerError):
        list(nugen(nugen_emulator, max_retries=0).stream_chat(HELLO))


def test_timeout(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(delay=2.0)
    with pytest.raises(APITimeoutError):
        nugen(nugen_emulator, timeout=0.2, max_retries=0).chat(HELLO)


def test_null_usage(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(no_usage=True, times=2)
    model = nugen(nugen_emulator)
    response = model.chat(HELLO)
    assert response.raw["usage"] is None
    assert "total_tokens" not in response.additional_kwargs
    last = list(model.stream_chat(HELLO))[-1]
    assert last.message.content == 'You asked: "Hello there".'
    assert "total_tokens" not in last.additional_kwargs


def test_one_object_from_successive_event_loops(nugen_emulator: NugenEmulator) -> None:
    model = nugen(nugen_emulator, max_retries=0)

    async def ask() -> str:
        stream = await model.astream_chat(HELLO)
        return "".join([r.delta or "" async for r in stream]) + str(
            (await model.achat(HELLO)).message.content
        )

    assert asyncio.run(ask()) == asyncio.run(ask())
    assert len(nugen_emulator.requests) == 4  # no hidden retries on a pool of a dead loop


def test_retrieved_text_reaches_the_model(nugen_emulator: NugenEmulator) -> None:
    facts = ["Ravens can mimic human speech.", "Owls hunt mostly at night."]
    embed_model = NugenEmbedding(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    index = VectorStoreIndex.from_documents(
        [Document(text=fact) for fact in facts], embed_model=embed_model
    )
    engine = index.as_query_engine(llm=nugen(nugen_emulator), similarity_top_k=1)
    response = engine.query("Ravens can mimic human speech.")
    retrieved = response.source_nodes[0].node.get_content()
    # The query is the first fact verbatim: identical text, identical (hashed) vector.
    assert retrieved == facts[0]
    chat = [r for r in nugen_emulator.requests if r.path.endswith("/chat/completions")]
    assert len(chat) == 1
    assert retrieved in chat[0].body["messages"][-1]["content"]
    assert facts[1] not in chat[0].body["messages"][-1]["content"]


def test_openai_dialect_reasoning_and_usage_chunk(nugen_emulator_openai: NugenEmulator) -> None:
    model = Nugen(
        base_url=nugen_emulator_openai.base_url,
        api_key=nugen_emulator_openai.api_key,
        reasoning={"enabled": True},
    )
    whole = model.chat(HELLO)
    streamed = list(model.stream_chat(HELLO))
    assert streamed[-1].message.blocks == whole.message.blocks  # thinking + text
    assert streamed[-1].additional_kwargs["total_tokens"] == whole.additional_kwargs["total_tokens"]
    assert nugen_emulator_openai.requests[-1].body["stream_options"] == {"include_usage": True}


def test_multi_modal_rate_limit_retry(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=503, times=1, path="/chat/vision")
    model = NugenMultiModal(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    response = model.complete("Anything?", [])
    assert response.text == 'You asked: "Anything?".'
    assert [r.path.rsplit("/", 1)[-1] for r in nugen_emulator.requests] == ["vision", "vision"]


class Note(BaseModel):
    """A note."""

    title: str
    body: str | None = None


NOTE = PromptTemplate("Note 'Owls', body 'Owls hunt at night'.")


@pytest.mark.parametrize("is_chat_model", [True, False])
def test_a_streamed_json_answer_cut_by_max_tokens_is_an_error_not_a_shorter_object(
    nugen_emulator: NugenEmulator, is_chat_model: bool
) -> None:
    # LLM mode streams objects parsed leniently: '{"title": "Owls", "body": "Owls hunt'
    # would end the stream on Note(title="Owls", body="Owls hunt"). The live service ends
    # a cut stream with finish_reason "stop", as the emulator's live forms do.
    text_mode = {"pydantic_program_mode": PydanticProgramMode.LLM, "is_chat_model": is_chat_model}
    llm = nugen(nugen_emulator, max_tokens=5, **text_mode)
    with pytest.raises(APIResponseValidationError, match=r"not complete JSON.*max_tokens"):
        list(llm.stream_structured_predict(Note, NOTE))

    async def astream() -> None:
        async for _ in await llm.astream_structured_predict(Note, NOTE):
            pass

    with pytest.raises(APIResponseValidationError, match="not complete JSON"):
        asyncio.run(astream())
    question = [ChatMessage(role="user", content="Note 'Owls', body 'Owls hunt at night'.")]
    with pytest.raises(APIResponseValidationError, match="not complete JSON"):
        list(llm.as_structured_llm(Note).stream_chat(question))
    with pytest.raises(ValueError, match="json"):  # whole: LlamaIndex's parser is strict
        llm.structured_predict(Note, NOTE)
    if is_chat_model:  # a text answer cut the same way stays text
        *_, last = llm.stream_complete("Say something about owls.")
        cut = ('You asked: "Say something about', "stop")
        assert (last.text, last.additional_kwargs["finish_reason"]) == cut
    whole = nugen(nugen_emulator, **text_mode)
    assert list(whole.stream_structured_predict(Note, NOTE))[-1] == Note(
        title="Owls", body="Owls hunt at night"
    )
