"""ChatNugen against a live NugenEmulator: faults, retries, headers, event loops, agents.

These talk to the emulator on loopback (the ``nugen_emulator`` fixtures); fault injection
cannot be replayed from a cassette, so this tier runs live in every run.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from tenacity import RetryCallState

import nugen_client
from langchain_nugen import ChatNugen
from nugen_emulator import NugenEmulator
from tests.support.langchain import keep


def model_for(emulator: NugenEmulator, **kwargs: Any) -> ChatNugen:
    return keep(ChatNugen(base_url=emulator.base_url, api_key=emulator.api_key, **kwargs))


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.retries: list[int] = []
        self.tokens: list[str] = []

    def on_retry(self, retry_state: RetryCallState, *, run_id: UUID, **kwargs: Any) -> None:
        self.retries.append(retry_state.attempt_number)

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


# -------------------------------------------------------------------------- retries


def test_rate_limits_are_retried_and_reported(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=429, headers={"Retry-After": "0"}, times=2)
    recorder = Recorder()
    reply = model_for(nugen_emulator).invoke("Hello", config={"callbacks": [recorder]})
    assert str(reply.content).startswith('You asked: "Hello"')
    assert len(nugen_emulator.requests) == 3
    assert recorder.retries == [1, 2]


async def test_async_retries_are_reported(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=503, headers={"Retry-After": "0"})
    recorder = Recorder()
    reply = await model_for(nugen_emulator).ainvoke("Hello", config={"callbacks": [recorder]})
    assert reply.content
    assert recorder.retries == [1]


class AsyncRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.retries: list[int] = []

    async def on_retry(self, retry_state: RetryCallState, *, run_id: UUID, **kwargs: Any) -> None:
        await asyncio.sleep(0)  # a real coroutine: it only counts if it is awaited
        self.retries.append(retry_state.attempt_number)


async def test_async_retries_reach_an_async_handler(nugen_emulator: NugenEmulator) -> None:
    # The async run manager's on_retry is a coroutine function; the client awaits what
    # the callback returns, so no sync bridge is needed.
    nugen_emulator.inject(status=503, headers={"Retry-After": "0"}, times=2)
    recorder = AsyncRecorder()
    reply = await model_for(nugen_emulator).ainvoke("Hello", config={"callbacks": [recorder]})
    assert reply.content
    assert recorder.retries == [1, 2]


def test_exhausted_retries_raise_the_typed_error(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=429, headers={"Retry-After": "0"}, times=5)
    with pytest.raises(nugen_client.RateLimitError) as raised:
        model_for(nugen_emulator, max_retries=1).invoke("Hello")
    assert isinstance(raised.value, ModelRateLimitError)
    assert raised.value.request_id
    assert len(nugen_emulator.requests) == 2


def test_fallback_on_a_failing_primary(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(status=500)
    primary = model_for(nugen_emulator, max_retries=0)
    backup = model_for(nugen_emulator, model="nugen-legal")
    chain = primary.with_fallbacks([backup], exceptions_to_handle=(ModelError,))
    reply = chain.invoke("Hello")
    assert reply.response_metadata["model_name"] == "nugen-legal"


# ---------------------------------------------------------------------- bad streams


def test_cut_stream_raises_without_a_last_chunk(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(cut_after=3)
    seen: list[AIMessageChunk] = []

    def consume() -> None:
        seen.extend(model_for(nugen_emulator).stream("Tell me a long story about a cat"))

    with pytest.raises(nugen_client.StreamInterruptedError) as raised:
        consume()
    assert isinstance(raised.value, ModelConnectionError)
    assert seen
    assert all(chunk.chunk_position is None for chunk in seen)
    assert len(nugen_emulator.requests) == 1  # a started stream is never retried


def test_reset_connection_mid_stream(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(cut_after=2, reset=True)
    with pytest.raises(ModelConnectionError):
        list(model_for(nugen_emulator).stream("Tell me a long story about a cat"))


def test_malformed_event_is_an_api_error(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(malformed_after=2)
    with pytest.raises(nugen_client.APIResponseValidationError) as raised:
        list(model_for(nugen_emulator).stream("Tell me a story"))
    assert isinstance(raised.value, ModelAPIError)


def test_error_event_is_an_api_error(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(error_event_after=2)
    with pytest.raises(nugen_client.APIStatusError) as raised:
        list(model_for(nugen_emulator).stream("Tell me a story"))
    assert isinstance(raised.value, ModelAPIError)


async def test_async_stream_errors_are_typed(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(cut_after=2)
    with pytest.raises(ModelConnectionError):
        async for _ in model_for(nugen_emulator).astream("Tell me a story"):
            pass


def test_timeouts(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(delay=1.0)
    with pytest.raises(nugen_client.APITimeoutError) as raised:
        model_for(nugen_emulator, timeout=0.2, max_retries=0).invoke("Hello")
    assert isinstance(raised.value, ModelTimeoutError)
    nugen_emulator.inject(stall_after=2, stall_seconds=1.0)
    with pytest.raises(ModelTimeoutError):
        list(model_for(nugen_emulator, timeout=0.2, max_retries=0).stream("Tell me a story"))


def test_missing_usage(nugen_emulator: NugenEmulator) -> None:
    nugen_emulator.inject(no_usage=True, times=2)
    model = model_for(nugen_emulator)
    assert model.invoke("Hello").usage_metadata is None
    chunks = list(model.stream("Hello"))
    assert chunks[-1].chunk_position == "last"
    assert all(chunk.usage_metadata is None for chunk in chunks)


# ------------------------------------------------------------------- what is sent


def test_headers_per_model_and_per_call(nugen_emulator: NugenEmulator) -> None:
    model = model_for(
        nugen_emulator, session_id="s-model", provider="fwai", default_headers={"X-Team": "qa"}
    )
    model.invoke("Hello")
    headers = nugen_emulator.requests[-1].headers
    assert headers["x-session-id"] == "s-model"
    assert headers["x-provider"] == "fwai"
    assert headers["x-team"] == "qa"
    list(model.stream("Hello", session_id="s-call", extra_headers={"X-Trace": "t-9"}))
    headers = nugen_emulator.requests[-1].headers
    assert headers["x-session-id"] == "s-call"
    assert headers["x-trace"] == "t-9"
    assert headers["authorization"] == f"Bearer {nugen_emulator.api_key}"


def test_streaming_true_streams_invoke_with_token_callbacks(
    nugen_emulator: NugenEmulator,
) -> None:
    recorder = Recorder()
    reply = model_for(nugen_emulator, streaming=True).invoke(
        "one two three", config={"callbacks": [recorder]}
    )
    assert nugen_emulator.requests[-1].body["stream"] is True
    assert "".join(recorder.tokens) == reply.content
    assert len(recorder.tokens) > 3
    assert reply.usage_metadata is not None


def test_one_model_from_successive_event_loops(nugen_emulator: NugenEmulator) -> None:
    model = model_for(nugen_emulator)

    async def ask(text: str) -> str:
        reply = await model.ainvoke(text)
        chunks = [chunk.text async for chunk in model.astream(text)]
        assert "".join(chunks) == reply.content
        return str(reply.content)

    first = asyncio.run(ask("first"))
    second = asyncio.run(ask("second"))
    assert first.startswith('You asked: "first"')
    assert second.startswith('You asked: "second"')
    assert len(nugen_emulator.requests) == 4  # no hidden retries on stale connections


async def test_astream_events(nugen_emulator: NugenEmulator) -> None:
    model = model_for(nugen_emulator)
    tokens = []
    async for event in model.astream_events("alpha beta gamma", version="v2"):
        if event["event"] == "on_chat_model_stream":
            tokens.append(event["data"]["chunk"].content)
    assert "".join(tokens).startswith('You asked: "alpha beta gamma"')


def test_openai_dialect_stream_usage(nugen_emulator_openai: NugenEmulator) -> None:
    model = model_for(nugen_emulator_openai, model="Qwen/Qwen2.5-VL-7B-Instruct")
    chunks = list(model.stream("Hello"))
    assert nugen_emulator_openai.requests[-1].body["stream_options"] == {"include_usage": True}
    assert chunks[-1].usage_metadata is not None
    list(model.stream("Hello", stream_usage=False))
    assert "stream_options" not in nugen_emulator_openai.requests[-1].body


# ------------------------------------------------------------------------ the agent


@tool
def lookup_population(city: str) -> str:
    """Look up the population of a city."""
    return f"{city} has 2,100,000 inhabitants."


@tool
def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


def test_agent_multi_step_task(nugen_emulator: NugenEmulator) -> None:
    agent = create_agent(model_for(nugen_emulator), tools=[lookup_population, multiply])
    state = agent.invoke(
        {
            "messages": [
                HumanMessage(
                    "Use lookup_population for 'Paris', then multiply 2 by 3 with multiply."
                )
            ]
        }
    )
    messages = state["messages"]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_messages] == ["lookup_population", "multiply"]
    assert tool_messages[0].content == "Paris has 2,100,000 inhabitants."
    assert tool_messages[1].content == "6.0"
    assert 'The multiply tool returned: "6.0"' in messages[-1].text
    # three model calls; each later one carries every earlier call and its result
    bodies = [request.body for request in nugen_emulator.requests]
    assert len(bodies) == 3
    assert [m["role"] for m in bodies[2]["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]


async def test_agent_multi_step_task_async(nugen_emulator: NugenEmulator) -> None:
    agent = create_agent(model_for(nugen_emulator), tools=[lookup_population, multiply])
    state = await agent.ainvoke(
        {"messages": [HumanMessage("Use multiply for 4 and 5, then lookup_population of 'Oslo'.")]}
    )
    tool_messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_messages] == ["20.0", "Oslo has 2,100,000 inhabitants."]


def test_agent_runs_calls_a_host_sent_without_ids(nugen_emulator: NugenEmulator) -> None:
    # Some OpenAI-compatible hosts send tool calls without an id; LangChain's ToolNode
    # answers a call by its id and cannot run one that has none.
    call = {"type": "function", "function": {"name": "multiply", "arguments": '{"a": 2, "b": 3}'}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    nugen_emulator.inject(status=200, body={"id": "r1", "model": "m", "choices": [choice]})
    agent = create_agent(model_for(nugen_emulator), tools=[multiply])
    state = agent.invoke({"messages": [HumanMessage("Multiply 2 by 3.")]})
    (result,) = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert (result.content, result.tool_call_id) == ("6.0", "call_r1_0")
    sent = nugen_emulator.last_request.body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == sent[2]["tool_call_id"] == "call_r1_0"
