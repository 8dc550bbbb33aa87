"""``ChatNugen`` and ``NugenEmbeddings`` end to end, replayed from emulator cassettes.

Replayed from ``cassettes/integration/langchain_nugen/test_langchain_chat/`` with sockets
blocked; ``NUGEN_RECORD=emulator`` re-records against a NugenEmulator. The emulator answers
deterministically (``You asked: "..."``, images described by type and size, tool
arguments filled from literals in the prompt), which is what the assertions read.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.exceptions import ModelAuthenticationError, ModelInvalidRequestError
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel, Field

import nugen_client
from langchain_nugen import ChatNugen
from tests.conftest import NugenTarget
from tests.support.langchain import JPEG_B64, NEEDS_3_11, PNG_B64, chat, embeddings, sent_bodies

QUESTION = [SystemMessage("Answer briefly."), HumanMessage("What is the capital of France?")]
ANSWER = 'You asked: "What is the capital of France?".'


def add_up(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def assert_usage(message: AIMessage) -> None:
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


# ------------------------------------------------------------------- text, streaming


def test_invoke(nugen_target: NugenTarget, vcr: Any) -> None:
    result = chat(nugen_target, temperature=0.2).invoke(QUESTION, session_id="conversation-1")
    assert isinstance(result.content, str)
    assert result.content.startswith(ANSWER)
    assert 'The system prompt says: "Answer briefly."' in result.content
    assert_usage(result)
    meta = result.response_metadata
    assert meta["model_provider"] == "nugen"
    assert meta["model_name"] == "nugen-flash-instruct"
    assert meta["finish_reason"] == "stop"
    assert meta["id"].startswith("chatcmpl-")  # the live service's ids
    assert meta["created"] == 1704123600  # an integer, as the live service sends it
    assert "confidence_score" not in meta  # confidence: null is not reported
    assert set(meta["timing"]) == {"ttft_seconds", "throughput_tokens_per_second", "total_seconds"}
    (body,) = sent_bodies(nugen_target, vcr)
    assert body == {
        "model": "nugen-flash-instruct",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0.2,
    }


def test_stream(nugen_target: NugenTarget, vcr: Any) -> None:
    chunks = list(chat(nugen_target).stream(QUESTION))
    assert len(chunks) > 5  # word by word, then the closing chunk
    assert [c.chunk_position for c in chunks].count("last") == 1
    assert chunks[-1].chunk_position == "last"
    assert [c.usage_metadata is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    full = add_up(chunks)
    assert isinstance(full.content, str)
    assert full.content.startswith(ANSWER)
    assert_usage(full)
    assert full.response_metadata["finish_reason"] == "stop"
    (body,) = sent_bodies(nugen_target, vcr)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_astream_and_ainvoke(nugen_target: NugenTarget) -> None:
    model = chat(nugen_target)
    whole = await model.ainvoke(QUESTION)
    chunks = [chunk async for chunk in model.astream(QUESTION)]
    streamed = add_up(chunks)
    assert streamed.content == whole.content
    assert streamed.usage_metadata == whole.usage_metadata
    assert chunks[-1].chunk_position == "last"


def test_domain_aligned_model_reports_confidence(nugen_target: NugenTarget) -> None:
    model = chat(nugen_target, model="nugen-legal")
    result = model.invoke("Is a verbal contract binding?")
    score = result.response_metadata["confidence_score"]
    assert isinstance(score, float)
    assert 50 <= score < 100
    streamed = add_up(list(model.stream("Is a verbal contract binding?")))
    assert streamed.response_metadata["confidence_score"] == score


def test_n_stop_and_max_tokens(nugen_target: NugenTarget, vcr: Any) -> None:
    result = chat(nugen_target, n=2).generate([[HumanMessage("Say something")]])
    texts = [generation.text for generation in result.generations[0]]
    assert len(texts) == 2
    assert texts[1].startswith("(Alternative 2)")
    stopped = chat(nugen_target).invoke("Say something", stop=["something"])
    assert stopped.content == 'You asked: "Say '
    short = chat(nugen_target, max_tokens=3).invoke("Say something")
    assert short.content == 'You asked: "Say'
    assert short.response_metadata["finish_reason"] == "length"
    bodies = sent_bodies(nugen_target, vcr)
    assert [body.get("n") for body in bodies] == [2, None, None]
    assert bodies[1]["stop"] == ["something"]
    assert bodies[2]["max_tokens"] == 3


# ------------------------------------------------------------------------- reasoning


def test_reasoning_in_both_output_versions(nugen_target: NugenTarget) -> None:
    v0 = chat(nugen_target, reasoning={"effort": "low"}).invoke("What is 17 * 23?")
    reasoning = v0.additional_kwargs["reasoning_content"]
    assert reasoning.startswith("The last user message has")
    usage = v0.usage_metadata
    assert usage is not None
    assert usage["output_token_details"]["reasoning"] == len(reasoning.split())
    v1 = chat(nugen_target, reasoning={"effort": "low"}, output_version="v1").invoke(
        "What is 17 * 23?"
    )
    assert v1.content[0] == {"type": "reasoning", "reasoning": reasoning}
    assert v1.content[1]["type"] == "text"  # type: ignore[index]
    streamed = add_up(
        list(chat(nugen_target, reasoning={"effort": "low"}, output_version="v1").stream("Why?"))
    )
    types = [block["type"] for block in streamed.content_blocks]
    assert types == ["reasoning", "text"]


def test_excluded_reasoning_is_counted_not_shown(nugen_target: NugenTarget) -> None:
    result = chat(nugen_target, reasoning={"effort": "high", "exclude": True}).invoke("Why?")
    assert "reasoning_content" not in result.additional_kwargs
    usage = result.usage_metadata
    assert usage is not None
    assert usage["output_token_details"]["reasoning"] > 0


# --------------------------------------------------------------------------- images


def test_every_image_form_reaches_the_model(nugen_target: NugenTarget, vcr: Any) -> None:
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Describe these."},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            {"type": "image_url", "image_url": "https://example.com/a.png"},
            {
                "type": "image_url",
                "image_url": {"url": "https://example.com/b.png", "detail": "low"},
            },
            {"type": "image", "base64": JPEG_B64, "mime_type": "image/jpeg"},
            {"type": "image", "url": "https://images.example.org/c.webp"},
            {"type": "image", "source_type": "base64", "data": PNG_B64, "mime_type": "image/png"},
            {"type": "image", "source_type": "url", "url": "https://example.com/d.gif"},
        ]
    )
    result = chat(nugen_target, model="qwen3-vl-30b").invoke([message])
    assert isinstance(result.content, str)
    assert "I received 7 images" in result.content
    assert "image 1 is image/png, 79 bytes (inline base64)" in result.content
    assert "image 4 is image/jpeg" in result.content
    assert "image 5 is a URL image hosted at images.example.org" in result.content
    (body,) = sent_bodies(nugen_target, vcr)
    parts = body["messages"][0]["content"]
    assert [part["type"] for part in parts] == ["text"] + ["image_url"] * 7
    assert parts[3]["image_url"] == {"url": "https://example.com/b.png", "detail": "low"}
    assert parts[4]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_vision_endpoint(nugen_target: NugenTarget, vcr: Any) -> None:
    model = chat(nugen_target, model="nugen-flash-vision", use_vision_endpoint=True)
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Can you describe this image?"},
            {"type": "image", "base64": PNG_B64, "mime_type": "image/png"},
        ]
    )
    result = model.invoke([message])
    assert "I received 1 image" in str(result.content)
    chunks = list(model.stream([message]))
    assert [c.chunk_position for c in chunks] == [None, "last"]
    assert chunks[0].content == result.content
    assert chunks[-1].response_metadata["model_name"] == "nugen-flash-vision"


# ---------------------------------------------------------------------------- tools


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny and 20 C in {city}."


@tool
def convert_temperature(celsius: float) -> float:
    """Convert a temperature from Celsius to Fahrenheit."""
    return celsius * 9 / 5 + 32


def test_tool_calls_invoke_and_stream(nugen_target: NugenTarget) -> None:
    model = chat(nugen_target).bind_tools([get_weather, convert_temperature])
    query = "What is the weather in Boston? Use get_weather."
    called = model.invoke(query)
    assert called.response_metadata["finish_reason"] == "tool_calls"
    assert [(c["name"], c["args"]) for c in called.tool_calls] == [
        ("get_weather", {"city": "Boston"})
    ]
    streamed = add_up(list(model.stream(query)))
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        ("get_weather", {"city": "Boston"})
    ]
    assert streamed.tool_calls[0]["id"]
    assert streamed.invalid_tool_calls == []


def test_parallel_tool_calls_stream(nugen_target: NugenTarget) -> None:
    model = chat(nugen_target).bind_tools(
        [get_weather, convert_temperature], parallel_tool_calls=True
    )
    query = "Use get_weather for 'Paris' and convert_temperature for 21.5 degrees."
    full = add_up(list(model.stream(query)))
    assert [(c["name"], c["args"]) for c in full.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("convert_temperature", {"celsius": 21.5}),
    ]
    assert len({c["id"] for c in full.tool_calls}) == 2


def test_tool_round_trip_in_v1(nugen_target: NugenTarget) -> None:
    model = chat(nugen_target, output_version="v1").bind_tools([get_weather])
    question = HumanMessage("What is the weather in 'Oslo'? Use get_weather.")
    call = model.invoke([question])
    assert isinstance(call, AIMessage)
    blocks = [block for block in call.content if isinstance(block, dict)]
    assert [block["type"] for block in blocks] == ["tool_call"]
    result = get_weather.invoke(call.tool_calls[0])
    assert isinstance(result, ToolMessage)
    answer = model.invoke([question, call, result])
    assert 'The get_weather tool returned: "It is sunny and 20 C in Oslo."' in answer.text


def test_forced_tool_choice(nugen_target: NugenTarget, vcr: Any) -> None:
    tools = [get_weather, convert_temperature]
    forced = chat(nugen_target).bind_tools(tools, tool_choice="convert_temperature")
    assert forced.invoke("Hello").tool_calls[0]["name"] == "convert_temperature"
    any_tool = chat(nugen_target).bind_tools(tools, tool_choice="any")
    assert any_tool.invoke("Hello").tool_calls
    bodies = sent_bodies(nugen_target, vcr)
    assert bodies[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "convert_temperature"},
    }
    assert bodies[1]["tool_choice"] == "required"


# ------------------------------------------------------------------ structured output


class Capital(BaseModel):
    """A country's capital."""

    country: str = Field(description="the country")
    capital: str = Field(description="its capital city")


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output(nugen_target: NugenTarget, vcr: Any, method: str) -> None:
    model = chat(nugen_target).with_structured_output(Capital, method=method)  # type: ignore[arg-type]
    result = model.invoke("What is the capital of 'France'? It is 'Paris'.")
    assert result == Capital(country="France", capital="Paris")
    (body,) = sent_bodies(nugen_target, vcr)
    if method == "function_calling":
        assert body["tool_choice"] == {"type": "function", "function": {"name": "Capital"}}
        assert "response_format" not in body
    else:
        assert body["response_format"]["json_schema"]["name"] == "Capital"
        assert "tools" not in body


def test_structured_output_json_mode(nugen_target: NugenTarget, vcr: Any) -> None:
    model = chat(nugen_target).with_structured_output(Capital, method="json_mode")
    result = model.invoke("Reply with a JSON object with the keys 'country' and 'capital'.")
    assert isinstance(result, Capital)
    (body,) = sent_bodies(nugen_target, vcr)
    assert body["response_format"] == {"type": "json_object"}


def test_structured_output_include_raw(nugen_target: NugenTarget) -> None:
    model = chat(nugen_target).with_structured_output(Capital, include_raw=True)
    result = model.invoke("What is the capital of 'France'? It is 'Paris'.")
    assert isinstance(result, dict)
    assert isinstance(result["raw"], AIMessage)
    assert result["parsed"] == Capital(country="France", capital="Paris")
    assert result["parsing_error"] is None


# ------------------------------------------------------------------------ the agent


def test_agent_with_two_tools(nugen_target: NugenTarget, vcr: Any) -> None:
    """A LangChain agent calls both tools in turn and answers from their results."""
    agent = create_agent(chat(nugen_target), tools=[get_weather, convert_temperature])
    state = agent.invoke(
        {
            "messages": [
                HumanMessage(
                    "First get the weather in 'Boston', then convert_temperature 20 celsius."
                )
            ]
        }
    )
    messages = state["messages"]
    kinds = [type(m).__name__ for m in messages]
    assert kinds == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert messages[1].tool_calls[0]["name"] == "get_weather"
    assert messages[1].tool_calls[0]["args"] == {"city": "Boston"}
    assert messages[2].content == "It is sunny and 20 C in Boston."
    assert messages[3].tool_calls[0]["name"] == "convert_temperature"
    assert messages[3].tool_calls[0]["args"] == {"celsius": 20}
    assert messages[4].content == "68.0"
    final = messages[-1]
    assert 'The convert_temperature tool returned: "68.0"' in final.text
    assert final.response_metadata["finish_reason"] == "stop"
    bodies = sent_bodies(nugen_target, vcr)
    assert len(bodies) == 3
    # the tool results went back with the ids of the calls they answer
    last = bodies[-1]["messages"]
    assert last[2]["tool_call_id"] == last[1]["tool_calls"][0]["id"]
    assert last[4]["tool_call_id"] == last[3]["tool_calls"][0]["id"]


class WeatherReport(BaseModel):
    """What the agent reports."""

    city: str
    summary: str


def test_agent_with_structured_response(nugen_target: NugenTarget) -> None:
    agent = create_agent(chat(nugen_target), tools=[get_weather], response_format=WeatherReport)
    state = agent.invoke(
        {"messages": [HumanMessage("Use get_weather for 'Lima', then report on 'Lima'.")]}
    )
    report = state["structured_response"]
    assert isinstance(report, WeatherReport)
    assert report.city == "Lima"


@NEEDS_3_11
async def test_agent_streams_asynchronously(nugen_target: NugenTarget) -> None:
    agent = create_agent(chat(nugen_target), tools=[get_weather])
    tokens: list[str] = []
    async for chunk, _meta in agent.astream(
        {"messages": [HumanMessage("Use get_weather for 'Rome'.")]}, stream_mode="messages"
    ):
        if isinstance(chunk, AIMessageChunk) and isinstance(chunk.content, str):
            tokens.append(chunk.content)
    text = "".join(tokens)
    assert 'The get_weather tool returned: "It is sunny and 20 C in Rome."' in text


# ---------------------------------------------------------------------------- errors


def test_wrong_key_is_an_authentication_error(nugen_target: NugenTarget) -> None:
    wrong = ChatNugen(base_url=nugen_target.base_url, api_key="wrong-key-42", max_retries=0)
    with pytest.raises(nugen_client.AuthenticationError) as raised:
        wrong.invoke("hi")
    assert isinstance(raised.value, ModelAuthenticationError)
    assert raised.value.status_code == 401
    assert raised.value.request_id


def test_service_validation_error_is_an_invalid_request(nugen_target: NugenTarget) -> None:
    # ``model_kwargs`` are sent unvalidated: the service's own 422 comes back typed.
    model = chat(nugen_target, model_kwargs={"n": 0}, max_retries=0)
    with pytest.raises(nugen_client.UnprocessableEntityError) as raised:
        model.invoke("hi")
    assert isinstance(raised.value, ModelInvalidRequestError)
    assert "n" in str(raised.value)


# -------------------------------------------------------------- the openai dialect


def test_openai_compatible_host(nugen_target_openai: NugenTarget, vcr: Any) -> None:
    model = chat(nugen_target_openai, model="Qwen/Qwen2.5-VL-7B-Instruct", temperature=1)
    result = model.invoke("Hello")
    assert str(result.content).startswith('You asked: "Hello"')
    assert result.response_metadata["model_name"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    chunks = list(model.stream("Hello"))
    full = add_up(chunks)
    assert full.content == result.content
    assert_usage(full)
    assert chunks[-1].usage_metadata is not None
    reasoning = chat(nugen_target_openai, reasoning={"enabled": True}).invoke("Why?")
    assert reasoning.additional_kwargs["reasoning_content"]
    bodies = sent_bodies(nugen_target_openai, vcr)
    assert bodies[0] == {
        "model": "Qwen/Qwen2.5-VL-7B-Instruct",
        "messages": [{"role": "user", "content": "Hello"}],
        "temperature": 1.0,
    }


# ------------------------------------------------------------------------ embeddings


def test_embeddings(nugen_target: NugenTarget, vcr: Any) -> None:
    model = embeddings(nugen_target, chunk_size=2, dimensions=8)
    texts = ["alpha", "beta", "gamma", "alpha"]
    vectors = model.embed_documents(texts)
    assert len(vectors) == 4
    assert all(len(v) == 8 for v in vectors)
    assert vectors[0] == vectors[3]
    assert vectors[0] != vectors[1]
    assert model.embed_query("beta") == vectors[1]
    bodies = sent_bodies(nugen_target, vcr)
    # The two batches are in flight at once, so they reach the service in any order; the
    # query comes after them.
    *batches, query = [body["input"] for body in bodies]
    assert sorted(batches) == [["alpha", "beta"], ["gamma", "alpha"]]
    assert query == ["beta"]
    assert all(body["dimensions"] == 8 for body in bodies)


async def test_async_embeddings(nugen_target: NugenTarget) -> None:
    model = embeddings(nugen_target, chunk_size=3)
    vectors = await model.aembed_documents(["one", "two", "three", "four"])
    assert len(vectors) == 4
    assert await model.aembed_query("four") == vectors[3]
