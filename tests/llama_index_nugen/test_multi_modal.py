"""``NugenMultiModal`` over a mocked transport: thin, but every method and image form works."""

from __future__ import annotations

import asyncio
import base64
import copy
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.schema import ImageDocument, ImageNode

from llama_index.multi_modal_llms.nugen import NugenMultiModal as AliasedNugenMultiModal
from llama_index_nugen import NugenMultiModal
from nugen_client import InvalidInputError
from tests.support.llama_index_wire import (
    API_KEY,
    BASE_URL,
    PNG,
    body_of,
    completion_body,
    sse_response,
    text_chunks,
)

PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture
def mm() -> NugenMultiModal:
    return NugenMultiModal(api_key=API_KEY, base_url=BASE_URL, max_retries=0)


def vision(api: respx.MockRouter, content: str = "A red square.") -> respx.Route:
    return api.post("/chat/vision").mock(
        return_value=httpx.Response(
            200, json=completion_body(content=content, model="nugen-flash-vision")
        )
    )


def test_defaults_to_the_vision_model_on_the_vision_endpoint(
    api: respx.MockRouter, mm: NugenMultiModal, png_path: Path
) -> None:
    route = vision(api)
    documents: list[Any] = [
        ImageDocument(image_path=str(png_path)),
        ImageNode(image=base64.b64encode(PNG).decode()),
        ImageNode(image_url="https://example.com/cat.jpg"),
        ImageBlock(image=PNG),
    ]
    response = mm.complete("Describe these", documents)
    assert response.text == "A red square."
    assert response.additional_kwargs["total_tokens"] == 5
    body = body_of(route.calls.last.request)
    assert body["model"] == "nugen-flash-vision"
    (message,) = body["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Describe these"},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
    ]


def test_chat_with_image_blocks(api: respx.MockRouter, mm: NugenMultiModal) -> None:
    route = vision(api)
    message = ChatMessage(role="user", blocks=[TextBlock(text="What?"), ImageBlock(image=PNG)])
    assert mm.chat([message]).message.content == "A red square."
    assert (
        body_of(route.calls.last.request)["messages"][0]["content"][1]["image_url"]["url"]
        == PNG_URL
    )


def test_streams_from_the_vision_endpoint_are_one_chunk(
    api: respx.MockRouter, mm: NugenMultiModal
) -> None:
    route = vision(api)
    (only,) = list(mm.stream_complete("Describe", [ImageBlock(image=PNG)]))
    assert (only.delta, only.text) == ("A red square.", "A red square.")
    assert only.raw["usage"]["total_tokens"] == 5
    assert "stream" not in body_of(route.calls.last.request)  # documented non-streaming
    (chat,) = list(mm.stream_chat([ChatMessage(role="user", content="hi")]))
    assert chat.message.content == "A red square."


def test_chat_completions_endpoint_when_asked(api: respx.MockRouter) -> None:
    route = api.post("/chat/completions").mock(return_value=sse_response(text_chunks("A", " cat")))
    mm = NugenMultiModal(
        api_key=API_KEY, base_url=BASE_URL, model="qwen3-vl-30b", use_vision_endpoint=False
    )
    responses = list(mm.stream_complete("Describe", [ImageBlock(image=PNG)]))
    assert [r.text for r in responses] == ["A", "A cat"]
    assert body_of(route.calls.last.request)["stream"] is True


async def test_async_forms(api: respx.MockRouter, mm: NugenMultiModal) -> None:
    vision(api)
    documents = [ImageBlock(image=PNG)]
    assert (await mm.acomplete("Describe", documents)).text == "A red square."
    hello = [ChatMessage(role="user", content="hi")]
    assert (await mm.achat(hello)).message.content == "A red square."
    assert [r.text async for r in await mm.astream_complete("Describe", documents)] == [
        "A red square."
    ]
    assert [r.delta async for r in await mm.astream_chat(hello)] == ["A red square."]


def test_bad_image_fails_before_any_request(api: respx.MockRouter, mm: NugenMultiModal) -> None:
    route = vision(api)
    with pytest.raises(InvalidInputError, match=r"image_documents\[0\]: ImageNode"):
        mm.complete("x", [ImageNode()])
    with pytest.raises(InvalidInputError, match="https"):
        mm.complete("x", [ImageNode(image_url="ftp://example.com/a.png")])
    assert route.call_count == 0


def test_metadata_payload_and_alias(mm: NugenMultiModal) -> None:
    metadata = mm.metadata
    assert metadata.model_name == "nugen-flash-vision"
    assert metadata.is_chat_model is True
    assert metadata.context_window
    assert metadata.num_output
    assert mm.to_payload()["model_name"] == "nugen-flash-vision"
    assert API_KEY not in repr(mm.to_payload()) + mm.to_json()
    assert AliasedNugenMultiModal is NugenMultiModal


def test_callbacks_and_rate_limiter_wrap_every_method(api: respx.MockRouter) -> None:
    vision(api)
    calls: list[str] = []

    class Limiter:
        def acquire(self) -> None:
            calls.append("sync")

        async def async_acquire(self) -> None:
            calls.append("async")

    counter = TokenCountingHandler()
    mm = NugenMultiModal(
        api_key=API_KEY,
        base_url=BASE_URL,
        rate_limiter=Limiter(),
        callback_manager=CallbackManager([counter]),
    )
    mm.complete("x", [ImageBlock(image=PNG)])
    mm.chat([ChatMessage(role="user", content="x")])
    asyncio.run(mm.acomplete("x", [ImageBlock(image=PNG)]))
    assert calls == ["sync", "sync", "async"]
    assert counter.prompt_llm_token_count == 9


def test_pickle_and_deepcopy(api: respx.MockRouter, mm: NugenMultiModal) -> None:
    vision(api)
    mm.complete("x", [ImageBlock(image=PNG)])
    for clone in (pickle.loads(pickle.dumps(mm)), copy.deepcopy(mm)):
        assert clone.complete("x", [ImageBlock(image=PNG)]).text == "A red square."
        assert clone.use_vision_endpoint is True


def test_tools_on_the_vision_endpoint_are_refused_before_any_request(
    api: respx.MockRouter, mm: NugenMultiModal
) -> None:
    route = vision(api)
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    message = ChatMessage(role="user", blocks=[TextBlock(text="?"), ImageBlock(url=PNG_URL)])
    with pytest.raises(InvalidInputError, match=r"takes no tools.*chat endpoint"):
        mm.chat([message], tools=[tool])
    with pytest.raises(InvalidInputError, match="response_format"):
        mm.complete("x", [ImageBlock(url=PNG_URL)], response_format={"type": "json"})
    assert route.call_count == 0
    assert mm.metadata.is_function_calling_model is False
