"""``Nugen`` end to end: every method, reasoning, images, tools and structured output.

Replayed from ``cassettes/integration/llama_index_nugen/test_llm/`` with sockets blocked;
``NUGEN_RECORD=emulator`` re-records against a NugenEmulator. The emulator answers
deterministically (``You asked: "..."``, images described by type and size, tool
arguments filled from literals in the prompt), which is what the assertions read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from nugen_client import AuthenticationError
from tests.conftest import NugenTarget
from tests.support.llama_index import GIF, PNG, image_file, llm, sent_bodies

QUESTION = [
    ChatMessage(role="system", content="Answer briefly."),
    ChatMessage(role="user", content="What is the capital of France?"),
]
ANSWER = 'You asked: "What is the capital of France?".'


def assert_usage(additional_kwargs: dict[str, Any]) -> None:
    assert additional_kwargs["prompt_tokens"] > 0
    assert additional_kwargs["completion_tokens"] > 0
    assert additional_kwargs["total_tokens"] == (
        additional_kwargs["prompt_tokens"] + additional_kwargs["completion_tokens"]
    )


# ------------------------------------------------------------------------------ chat, complete


def test_chat(nugen_target: NugenTarget, vcr: Any) -> None:
    response = llm(nugen_target, temperature=0.2).chat(QUESTION, session_id="s-1")
    assert response.message.content is not None
    assert response.message.content.startswith(ANSWER)
    assert 'The system prompt says: "Answer briefly."' in response.message.content
    assert_usage(response.additional_kwargs)
    assert response.additional_kwargs["finish_reason"] == "stop"
    assert response.raw["usage"]["total_tokens"] == response.additional_kwargs["total_tokens"]
    (body,) = sent_bodies(nugen_target, vcr)
    assert body == {
        "model": "nugen-flash-instruct",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0.2,
    }


async def test_achat(nugen_target: NugenTarget) -> None:
    response = await llm(nugen_target).achat(QUESTION)
    assert response.message.content is not None
    assert response.message.content.startswith(ANSWER)
    assert_usage(response.additional_kwargs)


def test_stream_chat(nugen_target: NugenTarget) -> None:
    responses = list(llm(nugen_target).stream_chat(QUESTION))
    assert len(responses) > 5  # word by word
    so_far = ""
    for response in responses:
        so_far += response.delta or ""
        assert response.message.content == so_far
    assert so_far.startswith(ANSWER)
    assert_usage(responses[-1].additional_kwargs)
    assert responses[-1].raw["usage"]["total_tokens"] > 0


async def test_astream_chat(nugen_target: NugenTarget) -> None:
    stream = await llm(nugen_target).astream_chat(QUESTION)
    responses = [response async for response in stream]
    assert "".join(r.delta or "" for r in responses) == responses[-1].message.content
    assert str(responses[-1].message.content).startswith(ANSWER)
    assert_usage(responses[-1].additional_kwargs)


def test_complete(nugen_target: NugenTarget) -> None:
    response = llm(nugen_target).complete("Name a colour.")
    assert response.text == 'You asked: "Name a colour.".'
    assert_usage(response.additional_kwargs)


async def test_acomplete(nugen_target: NugenTarget) -> None:
    response = await llm(nugen_target).acomplete("Name a colour.")
    assert response.text == 'You asked: "Name a colour.".'


def test_stream_complete(nugen_target: NugenTarget) -> None:
    responses = list(llm(nugen_target).stream_complete("Name a colour."))
    assert [r.text for r in responses][-1] == 'You asked: "Name a colour.".'
    assert "".join(r.delta or "" for r in responses) == responses[-1].text
    assert_usage(responses[-1].additional_kwargs)


async def test_astream_complete(nugen_target: NugenTarget) -> None:
    stream = await llm(nugen_target).astream_complete("Name a colour.")
    responses = [response async for response in stream]
    assert responses[-1].text == 'You asked: "Name a colour.".'


def test_max_tokens_and_stop(nugen_target: NugenTarget) -> None:
    response = llm(nugen_target, max_tokens=2).chat(QUESTION)
    assert response.message.content == "You asked:"
    assert response.additional_kwargs["finish_reason"] == "length"
    response = llm(nugen_target, stop=["capital"]).chat(QUESTION)
    assert response.message.content == 'You asked: "What is the '


def test_wrong_key_is_an_authentication_error(nugen_target: NugenTarget) -> None:
    from llama_index_nugen import Nugen

    model = Nugen(base_url=nugen_target.base_url, api_key="wrong-key-123", max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        model.chat(QUESTION)
    assert info.value.status_code == 401
    assert info.value.request_id


# --------------------------------------------------------------- reasoning, domain models


def test_reasoning_is_a_thinking_block(nugen_target: NugenTarget) -> None:
    model = llm(nugen_target, reasoning={"effort": "low"})
    response = model.chat(QUESTION)
    thinking = response.message.blocks[0]
    assert isinstance(thinking, ThinkingBlock)
    assert thinking.content is not None
    assert thinking.content.startswith("The last user message has")
    assert thinking.num_tokens
    assert response.message.content is not None
    assert response.message.content.startswith(ANSWER)

    streamed = list(model.stream_chat(QUESTION))
    deltas = "".join(r.additional_kwargs.get("thinking_delta", "") for r in streamed)
    last_thinking = streamed[-1].message.blocks[0]
    assert isinstance(last_thinking, ThinkingBlock)
    assert deltas == last_thinking.content == thinking.content
    assert streamed[-1].message.content == response.message.content


def test_domain_aligned_model_sends_a_confidence_score(nugen_target: NugenTarget) -> None:
    response = llm(nugen_target, model="nugen-legal").chat(QUESTION)
    assert 50 <= response.additional_kwargs["confidence_score"] < 100
    streamed = list(llm(nugen_target, model="nugen-legal").stream_chat(QUESTION))
    assert (
        streamed[-1].additional_kwargs["confidence_score"]
        == (response.additional_kwargs["confidence_score"])
    )


# ---------------------------------------------------------------------------------- images


def test_every_image_block_form_reaches_the_model(
    nugen_target: NugenTarget, tmp_path: Path
) -> None:
    png_file = image_file(tmp_path, "pixel.png", PNG)
    gif_named_png = image_file(tmp_path, "really-a-gif.png", GIF)
    message = ChatMessage(
        role="user",
        blocks=[
            TextBlock(text="What are these?"),
            ImageBlock(url="https://example.com/cat.jpg", detail="low"),
            ImageBlock(path=png_file),
            ImageBlock(image=PNG, detail="high"),
            ImageBlock(path=gif_named_png),
        ],
    )
    response = llm(nugen_target, model="qwen3-vl-30b").chat([message])
    assert response.message.content == (
        'You asked: "What are these?". I received 4 images: '
        "image 1 is a URL image hosted at example.com; "
        f"image 2 is image/png, {len(PNG)} bytes (inline base64); "
        f"image 3 is image/png, {len(PNG)} bytes (inline base64); "
        f"image 4 is image/gif, {len(GIF)} bytes (inline base64)."
    )


def test_images_on_the_vision_endpoint(nugen_target: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target, model="nugen-flash-vision", use_vision_endpoint=True)
    message = ChatMessage(role="user", blocks=[TextBlock(text="Describe"), ImageBlock(image=PNG)])
    (only,) = list(model.stream_chat([message]))  # /chat/vision answers whole
    assert only.message.content == (
        f'You asked: "Describe". I received 1 image: image 1 is image/png, {len(PNG)} bytes '
        "(inline base64)."
    )
    assert only.delta == only.message.content
    (body,) = sent_bodies(nugen_target, vcr)
    assert "stream" not in body


# ----------------------------------------------------------------------------------- tools


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"It is sunny in {city}."


def get_time(city: str) -> str:
    """Current local time in a city."""
    return f"It is noon in {city}."


WEATHER = FunctionTool.from_defaults(get_weather)
TIME = FunctionTool.from_defaults(get_time)


def test_predict_and_call(nugen_target: NugenTarget) -> None:
    output = llm(nugen_target).predict_and_call([WEATHER, TIME], 'What is the weather in "Paris"?')
    assert output.response == "It is sunny in Paris."
    assert output.sources[0].tool_name == "get_weather"


async def test_apredict_and_call(nugen_target: NugenTarget) -> None:
    output = await llm(nugen_target).apredict_and_call(
        [WEATHER, TIME], 'What time is it in "Tokyo"?'
    )
    assert output.response == "It is noon in Tokyo."


def test_tool_required_forces_the_single_tool_by_name(nugen_target: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target)
    response = model.chat_with_tools([WEATHER], 'Say hello to "Oslo".', tool_required=True)
    (call,) = model.get_tool_calls_from_response(response)
    assert (call.tool_name, call.tool_kwargs) == ("get_weather", {"city": "Oslo"})
    assert response.additional_kwargs["finish_reason"] == "tool_calls"
    (body,) = sent_bodies(nugen_target, vcr)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_tool_round_trip_quotes_the_tool_result(nugen_target: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target)
    history = [ChatMessage(role="user", content='What is the weather in "Lima"?')]
    response = model.chat_with_tools([WEATHER], chat_history=history)
    (call,) = model.get_tool_calls_from_response(response)
    result = WEATHER(**call.tool_kwargs)
    follow_up = [
        *history,
        response.message,
        ChatMessage(
            role="tool", content=result.content, additional_kwargs={"tool_call_id": call.tool_id}
        ),
    ]
    answer = model.chat_with_tools([WEATHER], chat_history=follow_up)
    assert answer.message.content is not None
    assert 'The get_weather tool returned: "It is sunny in Lima.".' in answer.message.content
    assert len(history) == 1  # never mutated
    second = sent_bodies(nugen_target, vcr)[1]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][1]["tool_calls"][0]["id"] == call.tool_id


def test_stream_chat_with_tools(nugen_target: NugenTarget) -> None:
    model = llm(nugen_target)
    responses = list(
        model.stream_chat_with_tools([WEATHER, TIME], 'What is the weather in "Cairo"?')
    )
    partial = [
        model.get_tool_calls_from_response(r, error_on_no_tool_call=False) for r in responses
    ]
    assert len(responses) > 2  # arguments arrive in fragments
    assert partial[-1][0].tool_name == "get_weather"
    assert partial[-1][0].tool_kwargs == {"city": "Cairo"}
    last = responses[-1].message.blocks[-1]
    assert isinstance(last, ToolCallBlock)
    assert last.tool_kwargs == {"city": "Cairo"}


async def test_astream_chat_with_tools(nugen_target: NugenTarget) -> None:
    model = llm(nugen_target)
    stream = await model.astream_chat_with_tools(
        [WEATHER, TIME], 'What time is it in "Quito"?', tool_required=True
    )
    responses = [r async for r in stream]
    (call,) = model.get_tool_calls_from_response(responses[-1])
    assert (call.tool_name, call.tool_kwargs) == ("get_time", {"city": "Quito"})


def test_several_tools_required(nugen_target: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target)
    response = model.chat_with_tools([WEATHER, TIME], 'Hello "Rome".', tool_required=True)
    assert model.get_tool_calls_from_response(response)[0].tool_name == "get_weather"
    assert sent_bodies(nugen_target, vcr)[0]["tool_choice"] == "required"


# --------------------------------------------------------------------- structured output


class Album(BaseModel):
    """An album."""

    title: str
    year: int


PROMPT = PromptTemplate('Extract the album from: "{text}" was released in {year}.')


def test_structured_predict(nugen_target: NugenTarget) -> None:
    album = llm(nugen_target).structured_predict(Album, PROMPT, text="Abbey Road", year="1969")
    assert album == Album(title="Abbey Road", year=1969)


async def test_astructured_predict(nugen_target: NugenTarget) -> None:
    album = await llm(nugen_target).astructured_predict(
        Album, PROMPT, text="Blue Train", year="1958"
    )
    assert album == Album(title="Blue Train", year=1958)


def test_stream_structured_predict(nugen_target: NugenTarget) -> None:
    partials = list(
        llm(nugen_target).stream_structured_predict(Album, PROMPT, text="Kind of Blue", year="1959")
    )
    final = partials[-1]
    assert isinstance(final, Album)
    assert final == Album(title="Kind of Blue", year=1959)


def test_as_structured_llm(nugen_target: NugenTarget) -> None:
    structured = llm(nugen_target).as_structured_llm(Album)
    response = structured.chat(
        [ChatMessage(role="user", content='"Blue" by Joni Mitchell came out in 1971.')]
    )
    assert response.raw == Album(title="Blue", year=1971)
    assert Album.model_validate_json(str(response.message.content)).year == 1971


# ------------------------------------------------------------- OpenAI-compatible host


def test_openai_compatible_host(nugen_target_openai: NugenTarget, vcr: Any) -> None:
    model = llm(nugen_target_openai, model="Qwen/Qwen2.5-VL-7B-Instruct")
    response = model.chat(QUESTION)
    assert str(response.message.content).startswith(ANSWER)
    streamed = list(model.stream_chat(QUESTION))
    last = streamed[-1]
    assert last.delta == ""  # the separate usage chunk
    assert last.message.content == response.message.content
    assert_usage(last.additional_kwargs)
    assert last.raw["usage"]["total_tokens"] == response.additional_kwargs["total_tokens"]
    for body in sent_bodies(nugen_target_openai, vcr):
        assert set(body) <= {"model", "messages", "stream", "stream_options"}


def test_a_tool_result_with_an_image(nugen_target: NugenTarget) -> None:
    history = [
        ChatMessage(role="user", content="Take a screenshot."),
        ChatMessage(
            role="assistant",
            blocks=[ToolCallBlock(tool_call_id="call_1", tool_name="screenshot", tool_kwargs={})],
        ),
        ChatMessage(
            role="tool",
            blocks=[TextBlock(text="Here it is."), ImageBlock(image=PNG)],
            additional_kwargs={"tool_call_id": "call_1"},
        ),
    ]
    response = llm(nugen_target, model="qwen3-vl-30b").chat(history)
    assert response.message.content == (
        'The screenshot tool returned: "Here it is.". I received 1 image: image 1 is '
        f'image/png, {len(PNG)} bytes (inline base64). That answers "Take a screenshot.".'
    )


BARE_PROMPT = PromptTemplate('"{text}" came out in {year}.')  # never names the tool


def test_streamed_structured_output_forces_the_tool(nugen_target: NugenTarget, vcr: Any) -> None:
    partials = list(
        llm(nugen_target).stream_structured_predict(
            Album, BARE_PROMPT, text="Hunky Dory", year=1971
        )
    )
    assert partials[-1] == Album(title="Hunky Dory", year=1971)
    (body,) = sent_bodies(nugen_target, vcr)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Album"}}


async def test_astream_structured_predict(nugen_target: NugenTarget) -> None:
    stream = await llm(nugen_target).astream_structured_predict(
        Album, BARE_PROMPT, text="Low", year=1977
    )
    partials = [partial async for partial in stream]
    assert partials[-1] == Album(title="Low", year=1977)


# StructuredLLM's streaming calls pydantic's deprecated .json() on each partial.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:llama_index.core.llms.structured_llm")
async def test_as_structured_llm_streams(nugen_target: NugenTarget) -> None:
    structured = llm(nugen_target).as_structured_llm(Album)
    message = [ChatMessage(role="user", content='"Heroes" came out in 1977.')]
    streamed = list(structured.stream_chat(message))
    assert streamed[-1].raw == Album(title="Heroes", year=1977)
    astreamed = [r async for r in await structured.astream_chat(message)]
    assert astreamed[-1].raw == Album(title="Heroes", year=1977)
