"""``Nugen(is_chat_model=False)``: text completions (``/completions``) against the emulator.

``complete`` and its forms post the prompt; ``chat`` and its forms post the class's own
``messages_to_prompt`` text to the same endpoint; the default stays the chat endpoint.
Errors come through as the client's classes, sync and async, streaming and not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ImageBlock,
    TextBlock,
)

import nugen_client
from llama_index_nugen import Nugen
from nugen_emulator import NugenEmulator
from tests.support.llama_index_wire import PNG

PROMPT = "To infinity, and"
ANSWER = 'You asked: "To infinity, and".'
MODEL = "qwen-v2p5-0p5b-instruct"
HELLO = [ChatMessage(role="user", content="Hello")]


def text_llm(emulator: NugenEmulator, **kwargs: Any) -> Nugen:
    return Nugen(
        model=MODEL,
        is_chat_model=False,
        base_url=emulator.base_url,
        api_key=emulator.api_key,
        **kwargs,
    )


def paths(emulator: NugenEmulator) -> list[str]:
    return [r.path.removeprefix("/api/v3/inference") for r in emulator.requests]


def assert_extras(extras: dict[str, Any]) -> None:
    assert extras["finish_reason"] == "stop"
    assert extras["total_tokens"] == extras["prompt_tokens"] + extras["completion_tokens"]
    assert set(extras["timing"]) == {
        "ttft_seconds",
        "throughput_tokens_per_second",
        "total_seconds",
    }


def test_metadata_and_default() -> None:
    assert Nugen(api_key="k").metadata.is_chat_model is True
    assert Nugen(api_key="k", model=MODEL, is_chat_model=False).metadata.is_chat_model is False


def test_text_completions_offer_no_tool_calling(nugen_emulator: NugenEmulator) -> None:
    """/completions takes no tools: the metadata says so (structured output then uses the
    text program, which works), and tools given anyway are refused, not sent and ignored."""
    from llama_index.core.prompts import PromptTemplate
    from llama_index.core.tools import FunctionTool
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    llm = text_llm(nugen_emulator)
    assert llm.metadata.is_function_calling_model is False
    city = llm.structured_predict(City, PromptTemplate("Name a city: {hint}"), hint="Paris")
    assert isinstance(city, City)
    assert [r.body.get("tools") for r in nugen_emulator.requests] == [None]

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return city

    tool = FunctionTool.from_defaults(get_weather)
    forced = text_llm(nugen_emulator, is_function_calling_model=True)
    with pytest.raises(nugen_client.InvalidInputError, match="is_chat_model=False"):
        forced.chat_with_tools([tool], user_msg="weather in Paris", tool_required=True)
    with pytest.raises(nugen_client.InvalidInputError, match="tools"):
        forced.complete(PROMPT, tools=[tool.metadata.to_openai_tool()])
    assert len(nugen_emulator.requests) == 1


def test_default_stays_on_the_chat_endpoint(nugen_emulator: NugenEmulator) -> None:
    llm = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, model=MODEL)
    llm.complete(PROMPT)
    assert paths(nugen_emulator) == ["/chat/completions"]


def test_use_chat_completions_picks_the_endpoint_of_one_call(
    nugen_emulator: NugenEmulator,
) -> None:
    # The per-call switch of LlamaIndex's OpenAI class, honoured rather than ignored.
    text_llm(nugen_emulator).complete(PROMPT, use_chat_completions=True)
    chat = Nugen(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key, model=MODEL)
    chat.complete(PROMPT, use_chat_completions=False)
    list(chat.stream_chat([ChatMessage(content=PROMPT)], use_chat_completions=False))
    assert paths(nugen_emulator) == ["/chat/completions", "/completions", "/completions"]
    assert "use_chat_completions" not in str([r.body for r in nugen_emulator.requests])


def test_complete(nugen_emulator: NugenEmulator) -> None:
    response = text_llm(nugen_emulator, max_tokens=50).complete(PROMPT, session_id="s1")
    assert isinstance(response, CompletionResponse)
    assert response.text == ANSWER
    assert_extras(response.additional_kwargs)
    assert response.raw is not None
    assert response.raw["object"] == "text_completion"
    assert response.raw["usage"]["total_tokens"] > 0
    request = nugen_emulator.requests[-1]
    assert paths(nugen_emulator) == ["/completions"]
    assert request.body == {"model": MODEL, "prompt": PROMPT, "max_tokens": 50}
    assert request.headers["x-session-id"] == "s1"


def test_stream_complete(nugen_emulator: NugenEmulator) -> None:
    responses = list(text_llm(nugen_emulator).stream_complete(PROMPT))
    assert "".join(r.delta or "" for r in responses) == ANSWER
    assert responses[-1].text == ANSWER
    assert [r.text for r in responses] == [
        "".join(x.delta or "" for x in responses[: i + 1]) for i in range(len(responses))
    ]
    assert_extras(responses[-1].additional_kwargs)
    assert paths(nugen_emulator) == ["/completions"]
    assert nugen_emulator.requests[-1].body["stream"] is True


def test_async_forms(nugen_emulator: NugenEmulator) -> None:
    llm = text_llm(nugen_emulator)

    async def run() -> tuple[str, str, str, str]:
        complete = await llm.acomplete(PROMPT)
        streamed = [r async for r in await llm.astream_complete(PROMPT)]
        chat = await llm.achat([ChatMessage(role="user", content=PROMPT)])
        chat_stream = [r async for r in await llm.astream_chat([ChatMessage(content=PROMPT)])]
        return (
            complete.text,
            streamed[-1].text,
            chat.message.content or "",
            chat_stream[-1].message.content or "",
        )

    texts = asyncio.run(run())
    assert texts[0] == texts[1] == ANSWER
    assert texts[2].startswith("You asked: ")
    assert texts[3] == texts[2]
    assert paths(nugen_emulator) == ["/completions"] * 4


def test_chat_goes_through_messages_to_prompt(nugen_emulator: NugenEmulator) -> None:
    def to_prompt(messages: Sequence[ChatMessage]) -> str:
        return " | ".join(f"{m.role.value}: {m.content}" for m in messages) + " | assistant:"

    llm = text_llm(nugen_emulator, messages_to_prompt=to_prompt)
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(content="Hi")]
    response = llm.chat(messages)
    assert isinstance(response, ChatResponse)
    assert_extras(response.additional_kwargs)
    streamed = list(llm.stream_chat(messages))
    assert streamed[-1].message.content == response.message.content
    prompt = "system: Be brief. | user: Hi | assistant:"
    assert [r.body["prompt"] for r in nugen_emulator.requests] == [prompt, prompt]
    assert paths(nugen_emulator) == ["/completions", "/completions"]


def test_completion_to_prompt_applies_unless_formatted(nugen_emulator: NugenEmulator) -> None:
    llm = text_llm(nugen_emulator, completion_to_prompt=lambda p: f"Q: {p}\nA:")
    llm.complete("why?")
    llm.complete("why?", formatted=True)
    assert [r.body["prompt"] for r in nugen_emulator.requests] == ["Q: why?\nA:", "why?"]


def test_bad_input_before_any_request(nugen_emulator: NugenEmulator) -> None:
    llm = text_llm(nugen_emulator)
    with pytest.raises(ValueError, match="prompt"):
        llm.complete("")
    with pytest.raises(ValueError, match="temperature"):
        llm.stream_complete(PROMPT, temperature=7)
    assert nugen_emulator.requests == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        # A prompt that is not text would go to the chat endpoint as its messages.
        (lambda llm: llm.complete([{"role": "user", "content": "hi"}]), "prompt must be a str"),
        (lambda llm: llm.stream_complete(None), "prompt must be a str"),
        (
            lambda llm: llm.model_copy(update={"messages_to_prompt": lambda m: []}).chat(HELLO),
            "messages_to_prompt returned must be a str",
        ),
        (lambda llm: llm.chat([{"role": "user", "content": "hi"}]), r"messages\[0\] must be a "),
        (lambda llm: llm.stream_chat([]), "at least one message"),
    ],
    ids=["list-prompt", "none-prompt", "bad-messages_to_prompt", "dict-message", "no-messages"],
)
def test_input_that_is_no_text_prompt_is_refused(
    nugen_emulator: NugenEmulator, call: Any, match: str
) -> None:
    with pytest.raises(nugen_client.InvalidInputError, match=match):
        call(text_llm(nugen_emulator))
    assert nugen_emulator.requests == []


def test_an_image_in_a_chat_is_refused_not_dropped_from_the_prompt(
    nugen_emulator: NugenEmulator,
) -> None:
    # A prompt is text: the image would vanish and the model answer as if it saw none.
    llm = text_llm(nugen_emulator)
    message = ChatMessage(blocks=[TextBlock(text="What is this?"), ImageBlock(image=PNG)])
    for chat in (llm.chat, llm.stream_chat):
        with pytest.raises(ValueError, match=r"messages\[0\]\.blocks\[1\]: ImageBlock .*text only"):
            chat([message])
    assert nugen_emulator.requests == []


# ------------------------------------------------------------------------------ errors


def run(llm: Nugen, *, is_async: bool, stream: bool) -> str:
    if is_async:

        async def go() -> str:
            if stream:
                return [r async for r in await llm.astream_complete(PROMPT)][-1].text
            return (await llm.acomplete(PROMPT)).text

        return asyncio.run(go())
    if stream:
        return list(llm.stream_complete(PROMPT))[-1].text
    return llm.complete(PROMPT).text


WAYS = [
    pytest.param(False, False, id="complete"),
    pytest.param(True, False, id="acomplete"),
    pytest.param(False, True, id="stream_complete"),
    pytest.param(True, True, id="astream_complete"),
]


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 401}, nugen_client.AuthenticationError),
        ({"status": 429, "headers": {"Retry-After": "0"}}, nugen_client.RateLimitError),
        ({"status": 500}, nugen_client.InternalServerError),
        ({"delay": 2.0}, nugen_client.APITimeoutError),
    ],
    ids=["auth", "rate-limit", "server", "timeout"],
)
def test_error_families(
    nugen_emulator: NugenEmulator,
    is_async: bool,
    stream: bool,
    fault: dict[str, Any],
    error: type[Exception],
) -> None:
    nugen_emulator.inject(**fault)
    # A short timeout only where a timeout is the point: a loaded machine may be slow.
    # (The reply is 2 s late: any timeout that fires, connecting or reading, is the error.)
    timeout = 0.25 if "delay" in fault else None
    llm = text_llm(nugen_emulator, max_retries=0, timeout=timeout)
    with pytest.raises(error) as raised:
        run(llm, is_async=is_async, stream=stream)
    assert nugen_emulator.api_key not in str(raised.value)


@pytest.mark.parametrize("is_async", [False, True])
def test_interrupted_stream_keeps_partial_text(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    nugen_emulator.inject(cut_after=3)
    with pytest.raises(nugen_client.StreamInterruptedError) as raised:
        run(text_llm(nugen_emulator), is_async=is_async, stream=True)
    assert raised.value.partial == 'You asked: "To'


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
def test_retries_then_answers(nugen_emulator: NugenEmulator, is_async: bool, stream: bool) -> None:
    nugen_emulator.inject(status=503, headers={"Retry-After": "0"}, times=2)
    assert run(text_llm(nugen_emulator), is_async=is_async, stream=stream) == ANSWER
    assert len(nugen_emulator.requests) == 3
