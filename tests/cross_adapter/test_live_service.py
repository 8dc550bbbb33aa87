"""What the live service sends, replayed byte for byte through the client
and every streaming API of both adapters: text, usage once, timing, the served model, and
the confidence of a domain-aligned model in a whole answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk
from llama_index.core.base.llms.types import ChatMessage

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen
from nugen_client import AsyncNugenClient, NugenClient, StreamAccumulator
from nugen_client.types import ChatCompletionChunk

API_KEY = "sk-live-SECRET-0123456789"
BASE_URL = "https://api.nugen.test/api/v3/inference"
REQUESTED = "llama-v3p2-3b-reasoning"
SERVED = "llama-3.2-3b-reasoning"
RESPONSE_ID = "chatcmpl-llama-3.-1785908339"

_HEAD = (
    '{"id": "chatcmpl-llama-3.-1785908339", "object": "chat.completion.chunk", '
    '"created": 1785908339, "model": "llama-3.2-3b-reasoning", '
)
# A stream of the live service, event by event, as the service sends it.
LIVE_STREAM = (
    'data: {"_timing": {"gpu_processing_seconds": 0.0112}}\n\n'
    "data: " + _HEAD + '"choices": [{"index": 0, "delta": {"content": ""}, '
    '"finish_reason": null}]}\n\n'
    "data: " + _HEAD + '"choices": [{"index": 0, "delta": {"content": "India "}, '
    '"finish_reason": null}]}\n\n'
    "data: " + _HEAD + '"choices": [{"index": 0, "delta": {"content": ""}, '
    '"finish_reason": null}]}\n\n'
    "data: " + _HEAD + '"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], '
    '"usage": {"prompt_tokens": 41, "completion_tokens": 100, "total_tokens": 141}}\n\n'
    'data: {"object": "timing", "timing": {"ttft_seconds": 0.0639, '
    '"throughput_tokens_per_second": 46.88, "total_seconds": 2.197}}\n\n'
    "data: [DONE]\n\n"
    "data: " + _HEAD + '"choices": [], '
    '"usage": {"prompt_tokens": 41, "completion_tokens": 100, "total_tokens": 141}}\n\n'
).encode()

STREAM_TIMING = {
    "gpu_processing_seconds": 0.0112,
    "ttft_seconds": 0.0639,
    "throughput_tokens_per_second": 46.88,
    "total_seconds": 2.197,
}
WHOLE_TIMING = {
    "ttft_seconds": 0.805,
    "throughput_tokens_per_second": 13.67,
    "total_seconds": 0.805,
}
ALIGNED = "my-vision-alignment-01kx06fntz2af3b"


def vision_answer(confidence: float | None) -> dict[str, Any]:
    """A live vision answer, with the given ``confidence``."""
    return {
        "id": "chatcmpl-my-vision-1783497981",
        "choices": [
            {
                "finish_reason": "stop",
                "index": 0,
                "logprobs": None,
                "message": {
                    "content": "A mountain lake at dawn.",
                    "refusal": None,
                    "role": "assistant",
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "tool_calls": None,
                },
            }
        ],
        "created": 1783497981,
        "model": ALIGNED,
        "object": "chat.completion",
        "service_tier": None,
        "system_fingerprint": None,
        "usage": {
            "completion_tokens": 11,
            "prompt_tokens": 86,
            "total_tokens": 97,
            "completion_tokens_details": None,
            "prompt_tokens_details": None,
        },
        "timing": WHOLE_TIMING,
        "confidence": confidence,
    }


@pytest.fixture
def live() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        router.post("/chat/completions").mock(
            return_value=httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=LIVE_STREAM
            )
        )
        yield router


def _check_chunks(chunks: list[ChatCompletionChunk]) -> None:
    accumulator = StreamAccumulator()
    for chunk in chunks:
        accumulator.add(chunk)
    completion = accumulator.completion()
    assert completion.choices[0].message.content == "India "
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == SERVED
    assert completion.id == RESPONSE_ID
    assert completion.created == 1785908339
    assert completion.timing is not None
    assert completion.timing.as_dict() == STREAM_TIMING
    # The chunk after [DONE] is never read: the usage arrives once.
    assert [c.usage.total_tokens for c in chunks if c.usage is not None] == [141]
    assert [c.is_chunk for c in chunks] == [False, True, True, True, True, False]


def test_the_client_reads_the_live_stream(live: respx.MockRouter) -> None:
    with NugenClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
        chunks = list(
            client.stream_chat_completion(
                model=REQUESTED, messages=[{"role": "user", "content": "?"}]
            )
        )
    _check_chunks(chunks)


def test_the_async_client_reads_the_live_stream(live: respx.MockRouter) -> None:
    async def collect() -> list[ChatCompletionChunk]:
        async with AsyncNugenClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
            messages = [{"role": "user", "content": "?"}]
            return [
                chunk
                async for chunk in client.stream_chat_completion(model=REQUESTED, messages=messages)
            ]

    _check_chunks(asyncio.run(collect()))


# -- LangChain --------------------------------------------------------------------------------


class _Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def _chat_nugen() -> ChatNugen:
    return ChatNugen(model=REQUESTED, api_key=API_KEY, base_url=BASE_URL, max_retries=0)


def _check_langchain(chunks: list[AIMessageChunk]) -> None:
    message = chunks[0]
    for chunk in chunks[1:]:
        message += chunk
    assert message.content == "India "
    assert message.usage_metadata is not None
    assert message.usage_metadata["total_tokens"] == 141  # once, not twice
    metadata = message.response_metadata
    assert metadata["model_name"] == SERVED
    assert metadata["timing"] == STREAM_TIMING
    assert metadata["id"] == RESPONSE_ID
    assert metadata["finish_reason"] == "stop"
    # No chunk for the empty deltas: the text chunk, then the closing one.
    assert [c.content for c in chunks] == ["India ", ""]
    assert [("timing" in c.response_metadata) for c in chunks] == [False, True]


def test_langchain_stream(live: respx.MockRouter) -> None:
    handler = _Tokens()
    chunks = list(_chat_nugen().stream("?", config={"callbacks": [handler]}))
    _check_langchain(chunks)  # type: ignore[arg-type]
    assert handler.tokens == ["India ", ""]  # the last is the closing chunk's


def test_langchain_astream(live: respx.MockRouter) -> None:
    async def collect() -> list[AIMessageChunk]:
        return [chunk async for chunk in _chat_nugen().astream("?")]  # type: ignore[misc]

    _check_langchain(asyncio.run(collect()))


def test_langchain_astream_events(live: respx.MockRouter) -> None:
    async def collect() -> list[AIMessageChunk]:
        events = _chat_nugen().astream_events("?", version="v2")
        return [
            event["data"]["chunk"]
            async for event in events
            if event["event"] == "on_chat_model_stream"
        ]

    _check_langchain(asyncio.run(collect()))


def test_langchain_invoke_of_the_live_whole_answer() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/chat/completions").mock(
            side_effect=[
                httpx.Response(200, json=vision_answer(91.5)),
                httpx.Response(200, json=vision_answer(None)),
            ]
        )
        model = ChatNugen(model=ALIGNED, api_key=API_KEY, base_url=BASE_URL, max_retries=0)
        aligned = model.invoke("What is in the picture?")
        plain = model.invoke("What is in the picture?")
    assert aligned.content == "A mountain lake at dawn."
    assert aligned.response_metadata["confidence_score"] == 91.5
    assert aligned.response_metadata["timing"] == WHOLE_TIMING
    assert aligned.response_metadata["model_name"] == ALIGNED
    assert aligned.usage_metadata is not None
    assert aligned.usage_metadata["total_tokens"] == 97
    assert "confidence_score" not in plain.response_metadata  # null is not reported


# -- LlamaIndex -------------------------------------------------------------------------------


def _nugen() -> Nugen:
    return Nugen(model=REQUESTED, api_key=API_KEY, base_url=BASE_URL, max_retries=0)


HELLO = [ChatMessage(role="user", content="?")]


def _check_llama(responses: list[Any]) -> None:
    assert [r.delta for r in responses] == ["India ", ""]  # no step for empty deltas
    last = responses[-1]
    text = last.message.content if hasattr(last, "message") else last.text
    assert text == "India "
    extras = last.additional_kwargs
    assert extras["timing"] == STREAM_TIMING
    assert extras["total_tokens"] == 141
    assert extras["finish_reason"] == "stop"
    assert last.raw["model"] == SERVED
    assert last.raw["id"] == RESPONSE_ID
    assert last.raw["usage"]["total_tokens"] == 141


def test_llama_index_stream_chat(live: respx.MockRouter) -> None:
    _check_llama(list(_nugen().stream_chat(HELLO)))


def test_llama_index_astream_chat(live: respx.MockRouter) -> None:
    async def collect() -> list[Any]:
        return [r async for r in await _nugen().astream_chat(HELLO)]

    _check_llama(asyncio.run(collect()))


def test_llama_index_stream_complete(live: respx.MockRouter) -> None:
    _check_llama(list(_nugen().stream_complete("?")))


def test_llama_index_chat_and_complete_of_the_live_whole_answer() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/chat/completions").mock(
            side_effect=[
                httpx.Response(200, json=vision_answer(91.5)),
                httpx.Response(200, json=vision_answer(91.5)),
                httpx.Response(200, json=vision_answer(None)),
            ]
        )
        llm = Nugen(model=ALIGNED, api_key=API_KEY, base_url=BASE_URL, max_retries=0)
        chat = llm.chat(HELLO)
        complete = llm.complete("What is in the picture?")
        plain = llm.chat(HELLO)
    for response in (chat, complete):
        assert response.additional_kwargs["confidence_score"] == 91.5
        assert response.additional_kwargs["timing"] == WHOLE_TIMING
        assert response.raw["model"] == ALIGNED
    assert chat.message.content == "A mountain lake at dawn."
    assert "confidence_score" not in plain.additional_kwargs


def test_the_reference_form_of_confidence_is_read_too() -> None:
    body = vision_answer(None)
    del body["confidence"]
    body["confidence_score"] = 88.0
    body["created"] = 1783497981.25
    del body["timing"]
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/chat/completions").mock(return_value=httpx.Response(200, json=body))
        with NugenClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
            completion = client.chat_completion(
                model=ALIGNED, messages=[{"role": "user", "content": "?"}]
            )
    assert completion.confidence_score == 88.0
    assert completion.created == 1783497981.25
    assert completion.timing is None
    assert json.loads(completion.model_dump_json())["confidence_score"] == 88.0
