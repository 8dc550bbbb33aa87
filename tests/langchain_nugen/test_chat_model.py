"""ChatNugen over a mocked transport (respx): requests, streams, errors, lifecycle."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import sys
import warnings
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal
from uuid import UUID

import httpx
import pytest
import respx
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
    OutputParserException,
)
from langchain_core.load import dumpd, dumps, load, loads
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.utils import trim_messages
from pydantic import BaseModel, Field, SecretStr
from tenacity import RetryCallState
from typing_extensions import TypedDict

import nugen_client
from langchain_nugen import ChatNugen, NugenLLM

BASE = "https://api.nugen.in/api/v3/inference"
CHAT = f"{BASE}/chat/completions"
KEY = "sk-unit-test-key"


def reply(content: str | None = "Hello!", **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    message.update(extra.pop("message", {}))
    return {
        "id": "nugen-abc",
        "object": "chat.completion",
        "created": 1704123600.0,
        "model": extra.pop("model", "nugen-flash-instruct"),
        "choices": [{"index": 0, "message": message, "finish_reason": extra.pop("finish", "stop")}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        **extra,
    }


def sse(*chunks: dict[str, Any], done: bool = True) -> httpx.Response:
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode()
    )


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if content is not None:
        d["content"] = content
    d.update(extra.pop("delta", {}))
    return {
        "id": "nugen-s",
        "created": 1704123600.0,
        "model": "nugen-flash-instruct",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
        **extra,
    }


USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    monkeypatch.delenv("NUGEN_BASE_URL", raising=False)


def make(**params: Any) -> ChatNugen:
    return ChatNugen(api_key=KEY, **params)


def body(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


# ---------------------------------------------------------------------- requests


def test_only_set_parameters_are_sent(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply())
    make().invoke("hi")
    assert body(route) == {
        "model": "nugen-flash-instruct",
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_every_field_reaches_the_wire(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply())
    model = make(
        model="nugen-legal",
        temperature=0.2,
        max_tokens=50,
        top_p=0.9,
        top_k=40,
        stop=["END"],
        prompt_truncate_len=800,
        reasoning={"effort": "low"},
        session_id="sess-1",
        provider="fwai",
        default_headers={"X-Team": "qa"},
        model_kwargs={"seed": 7},
    )
    model.invoke([SystemMessage("sys"), HumanMessage("hi", name="alice")])
    sent = body(route)
    assert sent == {
        "model": "nugen-legal",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi", "name": "alice"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["END"],
        "prompt_truncate_len": 800,
        "reasoning": {"effort": "low"},
        "seed": 7,
    }
    headers = route.calls.last.request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-session-id"] == "sess-1"
    assert headers["x-provider"] == "fwai"
    assert headers["x-team"] == "qa"


def test_per_call_overrides(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply(model="nugen-legal"))
    model = make(temperature=0.5, session_id="default-session")
    result = model.invoke(
        "hi",
        stop=["x"],
        temperature=0.1,
        model="nugen-legal",
        session_id="call-session",
        extra_headers={"X-Trace": "t1"},
        extra_body={"custom": True},
        frequency_penalty=0.3,
    )
    sent = body(route)
    assert sent["temperature"] == 0.1
    assert sent["model"] == "nugen-legal"
    assert sent["stop"] == ["x"]
    assert sent["custom"] is True
    assert sent["frequency_penalty"] == 0.3
    headers = route.calls.last.request.headers
    assert headers["x-session-id"] == "call-session"
    assert headers["x-trace"] == "t1"
    assert result.response_metadata["model_name"] == "nugen-legal"
    # the per-call values did not stick
    model.invoke("again")
    assert body(route)["temperature"] == 0.5
    assert route.calls.last.request.headers["x-session-id"] == "default-session"


def test_a_misspelt_call_keyword_is_refused_not_sent(mock: respx.MockRouter) -> None:
    # Sent as a body field, the service would ignore it and the call run without it.
    route = mock.post(CHAT).respond(json=reply())
    with pytest.raises(nugen_client.InvalidInputError, match="did you mean 'temperature'"):
        make().invoke("hi", temprature=0.2)
    with pytest.raises(nugen_client.InvalidInputError, match="did you mean 'stream_usage'"):
        list(make().stream("hi", stream_usag=False))
    assert not route.called


def test_any_other_call_keyword_is_a_body_field_when_streaming_too(
    mock: respx.MockRouter,
) -> None:
    # Whatever its name: ``stream`` must take the keywords ``invoke`` takes.
    route = mock.post(CHAT).mock(side_effect=lambda request: text_stream())
    model = make()
    list(model.stream("hi", payload="p"))
    assert body(route)["payload"] == "p"

    async def astream() -> None:
        async for _ in model.astream("hi", payload="q"):
            pass

    asyncio.run(astream())
    assert body(route)["payload"] == "q"


def test_unknown_constructor_keywords_become_model_kwargs(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply())
    with pytest.warns(UserWarning, match="frequency_penalty"):
        model = make(frequency_penalty=0.5)
    assert model.model_kwargs == {"frequency_penalty": 0.5}
    model.invoke("hi")
    assert body(route)["frequency_penalty"] == 0.5


@pytest.mark.parametrize("unknown", [{}, {"seed": 1}], ids=["alone", "beside-an-unknown"])
def test_model_kwargs_naming_a_field_follow_one_rule_whatever_else_is_given(
    unknown: dict[str, Any],
) -> None:
    # model_kwargs are body fields sent as they are, layered over the fields (the rule of
    # both adapters): an unknown keyword moved in beside them neither validates them,
    # moves them into the fields nor refuses them, and the caller's dict is left alone.
    extra = {"temperature": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LangChain's "transferred to model_kwargs"
        model = make(**unknown, temperature=0.5, model_kwargs=extra)
    assert (model.temperature, model.model_kwargs) == (0.5, {"temperature": 5, **unknown})
    assert extra == {"temperature": 5}


def test_an_unknown_keyword_that_cannot_be_a_body_field_is_refused_at_construction() -> None:
    # NugenLLM has no rate_limiter (LangChain's BaseLLM has none): it would go to the body.
    from langchain_core.rate_limiters import InMemoryRateLimiter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LangChain's "transferred to model_kwargs"
        with pytest.raises(
            ValueError, match=r"rate_limiter \(type InMemoryRateLimiter\) cannot be"
        ):
            NugenLLM(api_key=KEY, rate_limiter=InMemoryRateLimiter())
    with pytest.raises(ValueError, match=r"x \(type object\) cannot be sent: ChatNugen has no"):
        ChatNugen(api_key=KEY, model_kwargs={"x": object()})
    assert ChatNugen(api_key=KEY, model_kwargs={"when": date(2026, 1, 1)}).model_kwargs


def test_model_name_alias_and_accessor() -> None:
    model = ChatNugen(model_name="nugen-legal", api_key=KEY)
    assert model.model == model.model_name == "nugen-legal"


def test_vision_endpoint(mock: respx.MockRouter) -> None:
    route = mock.post(f"{BASE}/chat/vision").respond(json=reply(model="nugen-flash-vision"))
    model = make(model="nugen-flash-vision", use_vision_endpoint=True)
    assert model.invoke("describe").content == "Hello!"
    assert route.called
    # streaming from /chat/vision (which answers whole) yields the answer as one chunk
    chunks = list(model.stream("describe"))
    assert [c.content for c in chunks] == ["Hello!", ""]
    assert "stream" not in body(route)


def test_tools_and_structured_output_on_the_vision_endpoint_are_refused(
    mock: respx.MockRouter,
) -> None:
    route = mock.post(f"{BASE}/chat/vision").respond(json=reply(model="nugen-flash-vision"))
    model = make(model="nugen-flash-vision", use_vision_endpoint=True)

    class Answer(BaseModel):
        text: str

    for runnable in (model.bind_tools([Answer]), model.with_structured_output(Answer)):
        with pytest.raises(nugen_client.InvalidInputError, match="chat endpoint"):
            runnable.invoke("describe")
        with pytest.raises(nugen_client.InvalidInputError, match="chat endpoint"):
            list(runnable.stream("describe"))
    assert not route.called


def test_n_gives_several_generations(mock: respx.MockRouter) -> None:
    answer = reply()
    answer["choices"].append(
        {"index": 1, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
    )
    route = mock.post(CHAT).respond(json=answer)
    result = make(n=2).generate([[HumanMessage("hi")]])
    assert body(route)["n"] == 2
    assert [g.text for g in result.generations[0]] == ["Hello!", "Hi!"]


def test_generate_sums_the_token_usage_of_its_requests(mock: respx.MockRouter) -> None:
    # As ChatOpenAI: generate()'s llm_output holds the usage of every request it made.
    mock.post(CHAT).respond(json=reply(model="nugen-served"))
    result = make().generate([[HumanMessage("one")], [HumanMessage("two")], [HumanMessage("3")]])
    assert result.llm_output == {
        "token_usage": {"prompt_tokens": 21, "completion_tokens": 6, "total_tokens": 27},
        "model_name": "nugen-served",
        "model_provider": "nugen",
    }


def test_generate_names_the_model_and_usage_when_no_request_reported_them(
    mock: respx.MockRouter,
) -> None:
    # As ChatOpenAI: llm_output has model_name and token_usage ({}: no counts) also when
    # the answers were streamed (streaming=True) or came from the cache, which give
    # LangChain no llm_output, and when the host sent no usage.
    mock.post(CHAT).mock(side_effect=lambda _: sse(delta("Hi"), delta(finish="stop")))
    streamed = make(streaming=True).generate([[HumanMessage("one")], [HumanMessage("two")]])
    assert streamed.llm_output == {"token_usage": {}, "model_name": "nugen-flash-instruct"}
    mock.post(CHAT).respond(json=reply(usage=None))
    whole = make().generate([[HumanMessage("one")]])
    assert whole.llm_output is not None
    assert whole.llm_output["token_usage"] == {}


def test_n_above_one_cannot_stream(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply())
    with pytest.raises(ValueError, match="n=2 cannot be streamed"):
        list(make(n=2).stream("hi"))
    assert not route.called


@pytest.mark.parametrize(
    ("call", "match"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"input": [HumanMessage("x", name="not valid!")]}, r"messages\[0\]\.name"),
        ({"input": [HumanMessage([{"type": "audio", "base64": "AAAA"}])]}, "audio"),
        ({"input": []}, "messages"),
        ({"stop": 5}, "stop"),
        ({"extra_headers": "X-Trace: abc"}, "extra_headers"),
    ],
)
def test_bad_input_fails_before_any_request(
    mock: respx.MockRouter, call: dict[str, Any], match: str
) -> None:
    route = mock.post(CHAT).respond(json=reply())
    messages = call.pop("input", "hi")
    with pytest.raises(ValueError, match=match):
        make().invoke(messages, **call)
    assert not route.called


def test_constructor_validates_ranges() -> None:
    with pytest.raises(ValueError, match="temperature"):
        make(temperature=2.5)
    with pytest.raises(ValueError, match="max_retries"):
        make(max_retries=-1)


def test_caller_messages_are_not_mutated(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(json=reply())
    messages = [
        HumanMessage(
            [{"type": "text", "text": "hi"}, {"type": "image", "url": "https://e.com/a.png"}]
        )
    ]
    before = copy.deepcopy(messages)
    make().invoke(messages)
    assert messages == before


def test_missing_api_key_is_reported_at_the_first_call() -> None:
    model = ChatNugen()
    assert model.api_key is None
    with pytest.raises(ValueError, match="NUGEN_API_KEY"):
        model.invoke("hi")


def test_env_settings(monkeypatch: pytest.MonkeyPatch, mock: respx.MockRouter) -> None:
    monkeypatch.setenv("NUGEN_API_KEY", "sk-from-env")
    monkeypatch.setenv("NUGEN_BASE_URL", "https://proxy.example.com/v1")
    route = mock.post("https://proxy.example.com/v1/chat/completions").respond(json=reply())
    model = ChatNugen()
    assert isinstance(model.api_key, SecretStr)
    model.invoke("hi")
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-from-env"


# ---------------------------------------------------------------------- results


def test_invoke_result(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(
        json=reply(
            "Paris.",
            model="nugen-legal",
            confidence_score=91.25,
            message={"reasoning_content": "capital lookup"},
            usage={
                "prompt_tokens": 7,
                "completion_tokens": 4,
                "total_tokens": 11,
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        )
    )
    result = make(model="nugen-legal").invoke("Capital of France?")
    assert result.content == "Paris."
    assert result.additional_kwargs == {"reasoning_content": "capital lookup"}
    assert result.usage_metadata == {
        "input_tokens": 7,
        "output_tokens": 4,
        "total_tokens": 11,
        "output_token_details": {"reasoning": 2},
    }
    meta = result.response_metadata
    assert meta["model_provider"] == "nugen"
    assert meta["model_name"] == "nugen-legal"
    assert meta["confidence_score"] == 91.25
    assert meta["finish_reason"] == "stop"
    assert meta["id"] == "nugen-abc"
    assert meta["created"] == 1704123600.0


def test_v1_output_puts_reasoning_blocks_in_content(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(json=reply("42", message={"reasoning_content": "6*7"}))
    result = make(output_version="v1").invoke("?")
    assert result.content == [
        {"type": "reasoning", "reasoning": "6*7"},
        {"type": "text", "text": "42"},
    ]


def test_logprobs_asked_for_reach_the_message_whole_or_streamed(mock: respx.MockRouter) -> None:
    # Where ChatOpenAI puts them: response_metadata (and generation_info); a stream's
    # pieces add up to the whole answer's.
    def token(text: str, logprob: float) -> dict[str, Any]:
        return {"token": text, "logprob": logprob, "bytes": None, "top_logprobs": []}

    whole = {"content": [token("Hi", -0.1), token("!", -0.2)]}
    answer = reply("Hi!")
    answer["choices"][0]["logprobs"] = whole
    route = mock.post(CHAT).respond(json=answer)
    model = make(model_kwargs={"logprobs": True})
    assert model.invoke("hi").response_metadata["logprobs"] == whole
    generation = model.generate([[HumanMessage("hi")]]).generations[0][0]
    assert generation.generation_info == {"finish_reason": "stop", "logprobs": whole}
    chunks = [delta("Hi"), delta("!", finish="stop", usage=USAGE)]
    for chunk, piece in zip(chunks, whole["content"], strict=True):
        chunk["choices"][0]["logprobs"] = {"content": [piece]}
    route.mock(side_effect=lambda _: sse(*chunks))
    streamed = list(model.stream("hi"))
    full = streamed[0]
    for chunk in streamed[1:]:
        full = full + chunk
    assert full.content == "Hi!"
    assert full.response_metadata["logprobs"] == whole
    mock.post(CHAT).respond(json=reply("Hi!"))  # none asked for: none shown
    assert "logprobs" not in make().invoke("hi").response_metadata


def test_a_refusal_reaches_the_message_and_fails_structured_output(
    mock: respx.MockRouter,
) -> None:
    # OpenAI-compatible hosts say why there is no answer in ``refusal``: kept where
    # ChatOpenAI keeps it, and structured output says so instead of "Invalid json output".
    said = "I can't help with that."
    route = mock.post(CHAT).respond(json=reply(None, message={"refusal": said}))
    assert make().invoke("hi").additional_kwargs == {"refusal": said}
    for method in ("json_schema", "function_calling"):
        structured = make().with_structured_output(Joke, method=method)  # type: ignore[arg-type]
        with pytest.raises(OutputParserException, match="refused: I can't help with that"):
            structured.invoke("joke")
    pieces = [delta(delta={"refusal": "I can't "}), delta(delta={"refusal": "help with that."})]
    route.mock(side_effect=lambda _: sse(*pieces, delta(finish="stop", usage=USAGE)))
    streamed = list(make().stream("hi"))
    full = streamed[0]
    for chunk in streamed[1:]:
        full = full + chunk
    assert (full.content, full.additional_kwargs) == ("", {"refusal": said})
    with pytest.raises(OutputParserException, match="refused: I can't help with that"):
        list(make().with_structured_output(Joke, method="json_schema").stream("joke"))
    mock.post(CHAT).respond(json=reply("Hi", message={"refusal": None}))
    assert make().invoke("hi").additional_kwargs == {}


def test_malformed_tool_arguments_are_invalid_tool_calls(mock: respx.MockRouter) -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1'}}]
    mock.post(CHAT).respond(json=reply(None, message={"tool_calls": calls}, finish="tool_calls"))
    result = make().invoke("?")
    assert result.tool_calls == []
    assert result.invalid_tool_calls[0]["args"] == '{"a": 1'


# --------------------------------------------------------------------- streaming


def text_stream() -> httpx.Response:
    return sse(
        delta(delta={"role": "assistant"}),
        delta("Hel"),
        delta("lo"),
        delta(" world", finish="stop", usage=USAGE),
    )


def test_stream_request_and_chunks(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).mock(return_value=text_stream())
    chunks = list(make().stream("hi"))
    sent = body(route)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert [c.content for c in chunks] == ["Hel", "lo", " world", ""]
    assert [c.chunk_position for c in chunks] == [None, None, None, "last"]
    assert [c.usage_metadata is not None for c in chunks] == [False, False, False, True]
    assert sum("model_name" in c.response_metadata for c in chunks) == 1
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.content == "Hello world"
    assert full.usage_metadata == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    assert full.response_metadata["finish_reason"] == "stop"


def test_stream_usage_off(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).mock(return_value=text_stream())
    chunks = list(make(stream_usage=False).stream("hi"))
    assert "stream_options" not in body(route)
    assert all(c.usage_metadata is None for c in chunks)
    mock.post(CHAT).mock(return_value=text_stream())
    list(make().stream("hi", stream_usage=False))
    assert "stream_options" not in body(route)


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.retries: list[int] = []
        self.errors: list[BaseException] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_retry(self, retry_state: RetryCallState, *, run_id: UUID, **kwargs: Any) -> None:
        # The state object is reused by the retry loop: keep what it says now.
        self.retries.append(retry_state.attempt_number)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


def test_streaming_true_makes_invoke_stream(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).mock(return_value=text_stream())
    recorder = Recorder()
    result = make(streaming=True).invoke("hi", config={"callbacks": [recorder]})
    assert body(route)["stream"] is True
    assert result.content == "Hello world"
    assert recorder.tokens == ["Hel", "lo", " world", ""]
    assert result.usage_metadata == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    assert result.response_metadata["model_name"] == "nugen-flash-instruct"


def test_token_callbacks_when_streaming(mock: respx.MockRouter) -> None:
    mock.post(CHAT).mock(return_value=text_stream())
    recorder = Recorder()
    list(make().stream("hi", config={"callbacks": [recorder]}))
    assert recorder.tokens == ["Hel", "lo", " world", ""]


def test_streamed_tool_call(mock: respx.MockRouter) -> None:
    fragments = [
        {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "add", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": '{"a"'}},
        {"index": 0, "function": {"arguments": ': 1, "b": 2}'}},
    ]
    mock.post(CHAT).mock(
        return_value=sse(
            *(delta(delta={"tool_calls": [f]}) for f in fragments),
            delta(finish="tool_calls", usage=USAGE),
        )
    )
    full: AIMessageChunk | None = None
    for chunk in make().stream("add"):
        full = chunk if full is None else full + chunk
    assert full is not None
    assert full.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1", "type": "tool_call"}
    ]


def test_streamed_reasoning_v1(mock: respx.MockRouter) -> None:
    mock.post(CHAT).mock(
        return_value=sse(
            delta(delta={"role": "assistant", "reasoning_content": "Think"}),
            delta(delta={"reasoning_content": "ing."}),
            delta("Done.", finish="stop"),
        )
    )
    full: AIMessageChunk | None = None
    for chunk in make(output_version="v1").stream("?"):
        full = chunk if full is None else full + chunk
    assert full is not None
    assert [b["type"] for b in full.content_blocks] == ["reasoning", "text"]
    assert full.content_blocks[0]["reasoning"] == "Thinking."  # type: ignore[typeddict-item]
    assert full.text == "Done."


async def test_async_paths(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply())
    model = make()
    assert (await model.ainvoke("hi")).content == "Hello!"
    route.mock(return_value=text_stream())
    chunks = [chunk async for chunk in model.astream("hi")]
    assert [c.content for c in chunks] == ["Hel", "lo", " world", ""]
    assert chunks[-1].chunk_position == "last"


def test_one_model_from_successive_event_loops(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(json=reply())
    model = make()
    first = asyncio.run(model.ainvoke("one"))
    second = asyncio.run(model.ainvoke("two"))
    assert first.content == second.content == "Hello!"


# ------------------------------------------------------------------------ errors

ERROR_CASES = [
    (400, {"detail": "bad request"}, nugen_client.BadRequestError, ModelInvalidRequestError),
    (
        401,
        {"detail": "Invalid API key"},
        nugen_client.AuthenticationError,
        ModelAuthenticationError,
    ),
    (403, {"detail": "forbidden"}, nugen_client.PermissionDeniedError, ModelPermissionDeniedError),
    (404, {"detail": "no such model"}, nugen_client.NotFoundError, ModelNotFoundError),
    (
        422,
        {"detail": [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]},
        nugen_client.UnprocessableEntityError,
        ModelInvalidRequestError,
    ),
    (429, {"detail": "slow down"}, nugen_client.RateLimitError, ModelRateLimitError),
    (503, {"error": {"message": "overloaded"}}, nugen_client.InternalServerError, ModelAPIError),
    (418, "teapot", nugen_client.APIStatusError, ModelAPIError),
    (408, "too slow", nugen_client.APIStatusError, ModelAPIError),
    (402, {"detail": "no credits"}, nugen_client.PaymentRequiredError, ModelAPIError),
]


@pytest.mark.parametrize(("status", "payload", "client_class", "core_class"), ERROR_CASES)
def test_status_errors_are_both_classes(
    mock: respx.MockRouter,
    status: int,
    payload: Any,
    client_class: type[Exception],
    core_class: type[Exception],
) -> None:
    kwargs = {"json": payload} if not isinstance(payload, str) else {"text": payload}
    mock.post(CHAT).respond(status, headers={"x-request-id": "req-1"}, **kwargs)
    with pytest.raises(client_class) as raised:
        make(max_retries=0).invoke("hi")
    error = raised.value
    assert isinstance(error, core_class)
    assert isinstance(error, nugen_client.APIStatusError)
    assert error.status_code == status
    assert error.request_id == "req-1"
    assert KEY not in str(error)
    # LangChain's retry policies (middleware, with_retry) ask the error: the client's rule.
    assert error.is_retryable is (status in (408, 409, 429) or status >= 500)


def test_an_error_is_mapped_once_and_one_without_a_twin_passes_through() -> None:
    from langchain_nugen._errors import map_error, mapped_errors

    mapped = map_error(nugen_client.RateLimitError("busy", status_code=429))
    assert isinstance(mapped, ModelRateLimitError)
    assert map_error(mapped) is mapped  # an inner layer already mapped it
    plain = nugen_client.NugenError("no twin")
    assert map_error(plain) is plain
    with pytest.raises(nugen_client.NugenError) as raised, mapped_errors():
        raise plain
    assert raised.value is plain


def test_errors_without_a_status_are_retryable_as_the_client_retries_them(
    mock: respx.MockRouter,
) -> None:
    mock.post(CHAT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(nugen_client.APIConnectionError) as unreachable:
        make(max_retries=0).invoke("hi")
    assert unreachable.value.is_retryable
    mock.post(CHAT).respond(200, text="not json")
    with pytest.raises(nugen_client.APIResponseValidationError) as unreadable:
        make(max_retries=0).invoke("hi")
    assert not unreadable.value.is_retryable


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "This model's maximum context length is 8192 tokens. However, you requested 9000"),
        (400, "prompt is too long: 210000 tokens > 200000 maximum"),
        (422, "context_length_exceeded"),
        (400, "The input token count (9000) exceeds the maximum number of tokens allowed (8192)"),
    ],
)
def test_context_overflow(mock: respx.MockRouter, status: int, message: str) -> None:
    mock.post(CHAT).respond(status, json={"detail": message})
    with pytest.raises(ContextOverflowError) as raised:
        make(max_retries=0).invoke("hi")
    assert isinstance(raised.value, nugen_client.APIStatusError)
    assert raised.value.status_code == status  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "message", ["top_k exceeds the maximum (100)", "n exceeds the max of 8 choices"]
)
def test_a_limit_on_another_field_is_no_context_overflow(
    mock: respx.MockRouter, message: str
) -> None:
    mock.post(CHAT).respond(400, json={"detail": message})
    with pytest.raises(nugen_client.BadRequestError) as raised:
        make(max_retries=0).invoke("hi")
    assert not isinstance(raised.value, ContextOverflowError)


def test_connection_and_timeout_errors(mock: respx.MockRouter) -> None:
    mock.post(CHAT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(nugen_client.APIConnectionError) as raised:
        make(max_retries=0).invoke("hi")
    assert isinstance(raised.value, ModelConnectionError)
    mock.post(CHAT).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(nugen_client.APITimeoutError) as timed_out:
        make(max_retries=0).invoke("hi")
    assert isinstance(timed_out.value, ModelTimeoutError)


def test_interrupted_stream_raises(mock: respx.MockRouter) -> None:
    mock.post(CHAT).mock(return_value=sse(delta("Hel"), delta("lo"), done=False))
    stream = make().stream("hi")
    assert [next(stream).content, next(stream).content] == ["Hel", "lo"]
    with pytest.raises(nugen_client.StreamInterruptedError) as raised:
        next(stream)  # never a "last" chunk for an incomplete answer
    assert isinstance(raised.value, ModelConnectionError)
    # A connection failure to LangChain's retry middleware: the client cannot retry a
    # stream it has begun to yield, a caller retrying the whole call can.
    assert raised.value.is_retryable


async def test_errors_are_mapped_on_async_paths(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(401, json={"detail": "Invalid API key"})
    with pytest.raises(ModelAuthenticationError):
        await make().ainvoke("hi")
    with pytest.raises(ModelAuthenticationError):
        async for _ in make().astream("hi"):
            pass


def test_input_refused_locally_is_an_invalid_request_no_retry_policy_retries() -> None:
    # LangChain's retry policies (ModelRetryMiddleware, SummarizationMiddleware) retry any
    # error but a ModelError marked non-retryable: a refused input is one, as the 400 a
    # host answers it with would be.
    audio = HumanMessage([{"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}])

    async def streamed(model: Any, prompt: Any) -> None:
        async for _ in model.astream(prompt):
            pass

    calls = [
        lambda: make().invoke([audio]),
        lambda: asyncio.run(make().ainvoke([audio])),
        lambda: list(make().stream([audio])),
        lambda: asyncio.run(streamed(make(), [audio])),
        lambda: list(make(n=2).stream("hi")),
        lambda: NugenLLM(api_key=KEY).invoke("hi", stop=[1]),
        lambda: asyncio.run(NugenLLM(api_key=KEY).ainvoke("hi", stop=[1])),
        lambda: list(NugenLLM(api_key=KEY, n=2).stream("hi")),
    ]
    for call in calls:
        with pytest.raises(nugen_client.InvalidInputError) as raised:
            call()
        assert isinstance(raised.value, ModelInvalidRequestError)
        assert isinstance(raised.value, ValueError)
        assert not raised.value.is_retryable
        assert pickle.loads(pickle.dumps(raised.value)).args == raised.value.args


def test_error_event_inside_a_stream(mock: respx.MockRouter) -> None:
    mock.post(CHAT).mock(
        return_value=sse(delta("Hel"), {"error": {"message": "engine died", "code": 500}})
    )
    with pytest.raises(ModelAPIError, match="engine died"):
        list(make().stream("hi"))


def test_retries_are_reported_to_callbacks(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT)
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "busy"}),
        httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"}),
        httpx.Response(200, json=reply()),
    ]
    recorder = Recorder()
    result = make(max_retries=2).invoke("hi", config={"callbacks": [recorder]})
    assert result.content == "Hello!"
    assert route.call_count == 3
    assert recorder.retries == [1, 2]


async def test_retries_are_reported_to_async_callbacks(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT)
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "busy"}),
        httpx.Response(200, json=reply()),
    ]
    recorder = Recorder()
    await make().ainvoke("hi", config={"callbacks": [recorder]})
    assert recorder.retries == [1]


def test_no_retry_beyond_max_retries(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(429, headers={"Retry-After": "0"}, json={"detail": "busy"})
    with pytest.raises(ModelRateLimitError):
        make(max_retries=1).invoke("hi")
    assert route.call_count == 2  # one try and one retry, not max_retries squared


def test_langchain_fallbacks_recognise_our_errors(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(429, json={"detail": "busy"})
    backup = mock.post("https://backup.example.com/v1/chat/completions").respond(
        json=reply("backup")
    )
    primary = make(max_retries=0)
    secondary = make(base_url="https://backup.example.com/v1")
    chain = primary.with_fallbacks([secondary], exceptions_to_handle=(ModelError,))
    assert chain.invoke("hi").content == "backup"
    assert backup.called


# ---------------------------------------------------------------- serialization


@pytest.mark.filterwarnings("ignore:The function `load:")
def test_pickle_deepcopy_and_dumps_after_use(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(json=reply())
    model = make(temperature=0.3, session_id="s", default_headers={"Accept-Language": "en"})
    model.invoke("build the clients first")
    clone = pickle.loads(pickle.dumps(model))
    deep = copy.deepcopy(model)
    for other in (clone, deep):
        assert other == model
        assert other.invoke("hi").content == "Hello!"
        assert other._clients is not model._clients
    text = dumps(model)
    assert KEY not in text
    assert json.loads(text)["kwargs"]["api_key"] == {
        "lc": 1,
        "type": "secret",
        "id": ["NUGEN_API_KEY"],
    }
    revived = loads(
        text,
        secrets_map={"NUGEN_API_KEY": KEY},
        valid_namespaces=["langchain_nugen"],
        allowed_objects=[ChatNugen],
    )
    assert isinstance(revived, ChatNugen)
    assert revived.temperature == 0.3
    assert revived.api_key is not None
    assert revived.api_key.get_secret_value() == KEY
    again = load(
        dumpd(model),
        valid_namespaces=["langchain_nugen"],
        allowed_objects=[ChatNugen],
        secrets_map={"NUGEN_API_KEY": KEY},
    )
    assert again == model


def test_bound_credential_headers_are_sealed(mock: respx.MockRouter) -> None:
    # bind() keeps its keywords in a RunnableBinding, which repr, print and dumps show as
    # they are: a per-call credential header is sealed there, and still sent.
    from langchain_core.prompts import ChatPromptTemplate

    secret = "hdr-s3cret-value"
    chat = mock.post(CHAT).respond(json=reply())
    mock.post(f"{BASE}/completions").respond(
        json={
            "id": "c",
            "object": "text_completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
        }
    )
    headers = {"X-Api-Key": secret, "X-Session-ID": "s1"}
    for bound in (
        make().bind(extra_headers=headers),
        make().bind_tools([Joke], extra_headers=headers),
        NugenLLM(api_key=KEY).bind(extra_headers=headers),
    ):
        chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | bound
        for shown in (repr(bound), str(bound), repr(chain), dumps(chain)):
            assert secret not in shown
        assert "s1" in repr(bound)
        chain.invoke({"q": "hi"})
        sent = mock.calls.last.request.headers
        assert (sent["x-api-key"], sent["x-session-id"]) == (secret, "s1")
    assert chat.call_count == 2


def test_changed_client_settings_take_effect(mock: respx.MockRouter) -> None:
    first = mock.post(CHAT).respond(json=reply())
    second = mock.post("https://other.example.com/v1/chat/completions").respond(json=reply())
    model = make()
    model.invoke("hi")
    old_client = model._clients.built_sync_client
    model.invoke("hi")
    assert model._clients.built_sync_client is old_client  # reused, not rebuilt per call
    model.base_url = "https://other.example.com/v1"
    model.invoke("hi")
    assert first.call_count == 2
    assert second.call_count == 1
    assert model._clients.built_sync_client is not old_client


def test_shallow_copies_get_their_own_clients(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(json=reply())
    other = mock.post("https://other.example.com/v1/chat/completions").respond(json=reply())
    model = make()
    model.invoke("hi")
    client = model._clients.built_sync_client
    clone = model.model_copy(update={"base_url": "https://other.example.com/v1"})
    assert copy.copy(model)._clients is not model._clients
    clone.invoke("hi")
    assert other.called
    assert model._clients.built_sync_client is client  # untouched by the copy
    model.invoke("hi")
    assert model._clients.built_sync_client is client


# ------------------------------------------------------------- metadata, tokens


def test_invocation_params_are_base_chat_models_with_headers_redacted() -> None:
    # What callbacks and traces receive: BaseChatModel's own params (its dict() path), in
    # its order, with a call's credential header values redacted.
    from langchain_core.language_models import BaseChatModel

    model = make(temperature=0.3, stop=["x"], model_kwargs={"top_k": 3})
    call = {"temperature": 1.0, "extra_headers": {"Authorization": "Bearer hdr-secret"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = BaseChatModel._get_invocation_params(model, ["a"], **call)
    ours = model._get_invocation_params(["a"], **call)
    assert list(ours) == list(base)
    assert ours == {**base, "extra_headers": {"Authorization": "***"}}
    assert model._get_invocation_params() == {
        "model": "nugen-flash-instruct",
        "temperature": 0.3,
        "stop": None,
        "top_k": 3,
        "_type": "nugen-chat",
    }


def test_ls_params() -> None:
    model = make(temperature=0.4, max_tokens=9, stop="END")
    assert model._get_ls_params() == {
        "ls_provider": "nugen",
        "ls_model_name": "nugen-flash-instruct",
        "ls_model_type": "chat",
        "ls_temperature": 0.4,
        "ls_max_tokens": 9,
        "ls_stop": ["END"],
    }
    assert model._get_ls_params(model="nugen-legal")["ls_model_name"] == "nugen-legal"
    assert model._llm_type == "nugen-chat"
    # Per-call values win; stop=[] sends no stop, so the trace records none.
    per_call = model._get_ls_params(stop=["STOP"], temperature=0.9, max_tokens=3)
    assert (per_call["ls_stop"], per_call["ls_temperature"], per_call["ls_max_tokens"]) == (
        ["STOP"],
        0.9,
        3,
    )
    assert "ls_stop" not in model._get_ls_params(stop=[])
    # ChatOpenAI's name for max_tokens caps the call, so the trace records it.
    assert model._get_ls_params(max_completion_tokens=4)["ls_max_tokens"] == 4


@pytest.mark.parametrize("cls", [ChatNugen, NugenLLM])
def test_ls_params_record_the_settings_model_kwargs_send(cls: type[ChatNugen | NugenLLM]) -> None:
    # model_kwargs are layered over the fields (and the call's keywords over them), so the
    # trace records what they send, as ChatOpenAI's does.
    extra = {"model": "nugen-legal", "temperature": 0.3, "max_tokens": 4, "stop": ["zz"]}
    model = cls(api_key=KEY, temperature=0.9, max_tokens=9, model_kwargs=extra)
    params = model._get_ls_params()
    assert (params["ls_model_name"], params["ls_temperature"]) == ("nugen-legal", 0.3)
    assert (params["ls_max_tokens"], params["ls_stop"]) == (4, ["zz"])
    per_call = model._get_ls_params(stop=["x"], temperature=0.1, model="nugen-flash-instruct")
    assert (per_call["ls_model_name"], per_call["ls_temperature"]) == ("nugen-flash-instruct", 0.1)
    assert per_call["ls_stop"] == ["x"]


@pytest.mark.parametrize(
    ("name", "images", "reasoning"),
    [
        ("nugen-flash-instruct", False, True),
        ("nugen-legal", False, False),
        ("nugen-flash-vision", True, False),
        ("qwen3-vl-30b", True, True),
        ("Qwen/Qwen2.5-VL-7B-Instruct", True, False),
        ("some-future-model", True, False),
    ],
)
def test_profiles(name: str, images: bool, reasoning: bool) -> None:
    profile = make(model=name).profile
    assert profile is not None
    assert profile["image_inputs"] is images
    assert profile["image_url_inputs"] is images
    assert profile["reasoning_output"] is reasoning
    assert profile["tool_calling"] is True
    assert profile["structured_output"] is True
    assert profile["max_input_tokens"] > 0
    assert profile["pdf_inputs"] is False
    assert profile["audio_inputs"] is False


def test_the_vision_endpoint_profile_has_no_tools_or_structured_output() -> None:
    # /chat/vision refuses tools and response_format; create_agent reads the profile to
    # pick its structured-output strategy (the LlamaIndex adapter's metadata agrees).
    def tools(model: ChatNugen) -> tuple[Any, ...]:
        assert model.profile is not None
        keys = ("tool_calling", "tool_choice", "tool_call_streaming", "structured_output")
        return tuple(model.profile.get(key) for key in keys)

    vision = make(model="nugen-flash-vision", use_vision_endpoint=True)
    assert tools(vision) == (False, False, False, False)
    assert vision.profile is not None
    assert vision.profile["image_inputs"] is True
    chat = vision.model_copy(update={"use_vision_endpoint": False})
    assert tools(chat) == (True, True, True, True)
    assert tools(chat.model_copy(update={"use_vision_endpoint": True})) == (False,) * 4


def test_the_input_budget_is_what_the_service_keeps_of_a_prompt() -> None:
    # Unset, the service truncates prompts to 1500 tokens; trimming and summarising
    # middleware read max_input_tokens, so that is what it says.
    def budget(model: ChatNugen) -> int | None:
        assert model.profile is not None
        return model.profile.get("max_input_tokens")

    assert budget(make()) == 1500
    model = make(prompt_truncate_len=6000)
    assert budget(model) == 6000
    # A copy with other fields (model_copy assigns them) has their profile; a given one
    # is kept.
    assert budget(model.model_copy(update={"prompt_truncate_len": 800})) == 800
    assert budget(model) == 6000
    vision = model.model_copy(update={"model": "nugen-flash-vision"})
    assert vision.profile is not None
    assert vision.profile["image_inputs"] is True
    given = make(profile={"max_input_tokens": 99})
    assert budget(given.model_copy(update={"prompt_truncate_len": 800})) == 99


def test_token_counts_are_offline() -> None:
    model = make()
    assert "transformers" not in sys.modules
    assert model.get_num_tokens("Hello there, world!") == 5
    assert model.get_num_tokens("internationalization") == 4
    assert model.get_num_tokens("你好啊") == 3
    messages = [
        SystemMessage("You are terse."),
        HumanMessage("one two three four five six seven eight nine ten"),
        AIMessage("eleven twelve"),
        HumanMessage(
            [{"type": "text", "text": "look"}, {"type": "image", "url": "https://e.com/a.png"}]
        ),
    ]
    total = model.get_num_tokens_from_messages(messages)
    assert total > 768
    trimmed = trim_messages(messages[:3], max_tokens=20, token_counter=model, strategy="last")
    assert trimmed
    assert trimmed[-1].content == "eleven twelve"
    assert len(trimmed) < 3
    assert "transformers" not in sys.modules
    with pytest.raises(NotImplementedError, match="tokenizer"):
        model.get_token_ids("hi")


def test_token_counts_stay_high_for_numbers_ids_and_layout() -> None:
    """Data-like text (figures, ids, tables) must not be underestimated, or budgets built on
    the count overflow: some served tokenizers (Qwen's) spend a token on every digit, and
    line breaks and runs of spaces are tokens too."""
    model = make()
    assert model.get_num_tokens("1234567890") == 10
    assert model.get_num_tokens("3f2a9c") == 6
    assert model.get_num_tokens("a\nb") == 3
    assert model.get_num_tokens("a        b") == 3
    assert model.get_num_tokens("Hello there, world!") == 5  # a single space is no token
    row = "4111111111111111,2024-01-15,19.99"
    assert model.get_num_tokens(row) >= 28


def test_a_custom_tokenizer_counts_messages_too() -> None:
    """``custom_get_token_ids`` is the user's tokenizer: budgets over messages
    (``trim_messages(token_counter=model)``) use it as ``get_num_tokens`` does."""
    model = make(custom_get_token_ids=lambda text: list(text.encode()))  # a byte per token
    plain = make().get_num_tokens_from_messages([HumanMessage("hi")])
    text = "x" * 100
    assert model.get_num_tokens(text) == 100
    assert model.get_num_tokens_from_messages([HumanMessage(text)]) == plain - 1 + 100


def test_token_counts_cover_every_tool_call_sent_back() -> None:
    """A call with unparsable arguments goes back with its raw text, so it is counted; and
    arguments that are not JSON (refused when sent) are estimated, not a TypeError."""
    model = make()
    raw = "{" + " ".join(f"word{i}" for i in range(40))
    broken = AIMessage(
        "", invalid_tool_calls=[{"name": "t", "args": raw, "id": "c1", "error": None}]
    )
    assert model.get_num_tokens_from_messages([broken]) > 40
    odd = AIMessage("", tool_calls=[{"name": "t", "args": {"when": date(2024, 1, 1)}, "id": "c2"}])
    assert model.get_num_tokens_from_messages([odd]) > 0


def test_a_tools_untyped_data_is_counted_as_the_text_sent() -> None:
    model = make(custom_get_token_ids=lambda text: list(text.encode()))  # a byte per token
    data = ToolMessage([{"city": "東京"}], tool_call_id="c")
    sent = ToolMessage('{"city": "東京"}', tool_call_id="c")  # how the data goes on the wire
    assert model.get_num_tokens_from_messages([data]) == model.get_num_tokens_from_messages([sent])


def test_token_counts_take_tools_names_and_every_block_sent() -> None:
    """Tool schemas, message names and blocks other than text and images are sent, so they
    are counted; reasoning blocks are not sent back, so they are not."""
    model = make()
    hello = [HumanMessage("hello")]
    base = model.get_num_tokens_from_messages(hello)
    assert model.get_num_tokens_from_messages(hello, tools=[Joke]) > base + 10
    assert model.get_num_tokens_from_messages([HumanMessage("hello", name="alice")]) > base
    text = {"type": "text", "text": "hello"}
    thought = {"type": "reasoning", "reasoning": "a long thought " * 50}
    plain = model.get_num_tokens_from_messages([AIMessage([text])])
    assert model.get_num_tokens_from_messages([AIMessage([thought, text])]) == plain
    custom = {"type": "custom", "data": "x" * 200}
    assert model.get_num_tokens_from_messages([AIMessage([text, custom])]) > plain + 20
    # v1 content holds an assistant's calls as blocks too: sent (and counted) once.
    call = {"name": "lookup", "args": {"query": "a long query " * 20}, "id": "c1"}
    once = model.get_num_tokens_from_messages([AIMessage([text], tool_calls=[call])])
    both = AIMessage([text, {"type": "tool_call", **call}], tool_calls=[call])
    assert model.get_num_tokens_from_messages([both]) == once


def test_an_image_url_block_counts_as_one_image_whatever_its_size() -> None:
    model = make()

    def count(url: str) -> int:
        block = {"type": "image_url", "image_url": {"url": url}}
        return model.get_num_tokens_from_messages([HumanMessage([block])])

    assert count("https://e.com/a.png") == count("data:image/png;base64," + "A" * 100_000)


def test_v1_content_blocks_of_list_content() -> None:
    """A message whose content is a list of blocks (as after a v1 round trip): strings and
    standard blocks kept in order, a reasoning block given both ways taken once, anything
    else a non-standard block."""
    message = AIMessage(
        content=[
            "first",
            {"type": "reasoning", "reasoning": "why"},
            {"type": "text", "text": "second"},
            {"type": "weird", "data": 1},
        ],
        additional_kwargs={"reasoning_content": "why"},
        response_metadata={"model_provider": "nugen"},
    )
    assert message.content_blocks == [
        {"type": "reasoning", "reasoning": "why"},
        {"type": "text", "text": "first"},
        {"type": "text", "text": "second"},
        {"type": "non_standard", "value": {"type": "weird", "data": 1}},
    ]


# ------------------------------------------------------- tools and structure


@pytest.mark.parametrize(
    ("choice", "tools", "expected"),
    [
        ("auto", 2, "auto"),
        ("none", 2, "none"),
        ("any", 1, {"type": "function", "function": {"name": "t0"}}),
        (True, 1, {"type": "function", "function": {"name": "t0"}}),
        ("required", 1, {"type": "function", "function": {"name": "t0"}}),
        ("any", 2, "required"),
        (True, 2, "required"),
        ("t1", 2, {"type": "function", "function": {"name": "t1"}}),
        (
            {"type": "function", "function": {"name": "t0"}},
            2,
            {"type": "function", "function": {"name": "t0"}},
        ),
    ],
)
def test_tool_choice_mapping(
    mock: respx.MockRouter, choice: Any, tools: int, expected: Any
) -> None:
    route = mock.post(CHAT).respond(json=reply())
    defs = [
        {
            "type": "function",
            "function": {
                "name": f"t{i}",
                "description": "d",
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for i in range(tools)
    ]
    make().bind_tools(defs, tool_choice=choice).invoke("hi")
    sent = body(route)
    assert sent["tool_choice"] == expected
    assert [t["function"]["name"] for t in sent["tools"]] == [f"t{i}" for i in range(tools)]


def test_tool_choice_naming_an_unbound_tool_fails_before_any_request(
    mock: respx.MockRouter,
) -> None:
    route = mock.post(CHAT).respond(json=reply())
    bound = make().bind_tools(
        [{"type": "function", "function": {"name": "a", "parameters": {}}}], tool_choice="b"
    )
    with pytest.raises(ValueError, match="'b' is not one of the bound tools"):
        bound.invoke("hi")
    assert not route.called


def test_bind_tools_forms_and_response_format(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply('{"answer": "x"}'))

    class Answer(BaseModel):
        """The final answer."""

        answer: str

    def get_weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    make().bind_tools([get_weather], response_format=Answer, parallel_tool_calls=False).invoke("hi")
    sent = body(route)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Answer"
    assert sent["response_format"]["json_schema"]["schema"]["properties"] == {
        "answer": {"type": "string"}
    }
    assert sent["parallel_tool_calls"] is False
    # the agents' ProviderStrategy passes the response_format dict itself
    agent_format = {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": {"type": "object"}},
    }
    make().bind_tools([get_weather], response_format=agent_format).invoke("hi")
    assert body(route)["response_format"] == agent_format


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="the setup")
    punchline: str = Field(description="the punchline")


class JokeDict(TypedDict):
    """A joke."""

    setup: str
    punchline: str


JOKE = {"setup": "Why?", "punchline": "Because."}


def test_bind_response_format_takes_a_schema_as_chat_openai_does(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply(json.dumps(JOKE)))
    for schema in (Joke, JokeDict, Joke.model_json_schema()):
        message = make().bind(response_format=schema).invoke("joke")
        assert message.content == json.dumps(JOKE)  # not parsed: with_structured_output does
        fmt = body(route)["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["name"] in ("Joke", "JokeDict")
        assert set(fmt["json_schema"]["schema"]["properties"]) == {"setup", "punchline"}
    make().bind(response_format={"type": "json_object"}).invoke("joke")
    assert body(route)["response_format"] == {"type": "json_object"}


def test_bind_response_format_refuses_what_is_no_schema(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply("{}"))
    for bad in ("json", 5, {"type": "object", "properties": {}}):  # the last has no title
        with pytest.raises(
            nugen_client.InvalidInputError, match=r"^response_format must be"
        ) as refused:
            make().bind(response_format=bad).invoke("joke")
        assert isinstance(refused.value, ModelInvalidRequestError)
    assert not route.called


def test_structured_output_function_calling(mock: respx.MockRouter) -> None:
    calls = [
        {"id": "c", "type": "function", "function": {"name": "Joke", "arguments": json.dumps(JOKE)}}
    ]
    route = mock.post(CHAT).respond(
        json=reply(None, message={"tool_calls": calls}, finish="tool_calls")
    )
    result = make().with_structured_output(Joke).invoke("joke")
    assert result == Joke(**JOKE)
    sent = body(route)
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Joke"}}
    assert sent["tools"][0]["function"]["name"] == "Joke"
    calls[0]["function"]["name"] = "JokeDict"
    route.respond(json=reply(None, message={"tool_calls": calls}, finish="tool_calls"))
    assert make().with_structured_output(JokeDict).invoke("joke") == JOKE


def test_structured_output_json_schema_and_json_mode(mock: respx.MockRouter) -> None:
    route = mock.post(CHAT).respond(json=reply(json.dumps(JOKE)))
    assert make().with_structured_output(Joke, method="json_schema").invoke("joke") == Joke(**JOKE)
    fmt = body(route)["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Joke"
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"setup", "punchline"}
    assert "tools" not in body(route)
    schema = Joke.model_json_schema()
    assert make().with_structured_output(schema, method="json_schema").invoke("joke") == JOKE
    assert make().with_structured_output(None, method="json_mode").invoke("joke") == JOKE
    assert body(route)["response_format"] == {"type": "json_object"}


def test_structured_output_takes_every_schema_form_with_either_method(
    mock: respx.MockRouter,
) -> None:
    # A response_format json_schema ({"name", "schema"}) and an OpenAI tool dict work with
    # both methods: the tool gets the schema as its parameters, the response_format the
    # tool's parameters (a tool without parameters would be called with {}).
    parameters = Joke.model_json_schema()
    forms: list[dict[str, Any]] = [
        {"name": "Joke", "schema": parameters},
        {"type": "function", "function": {"name": "Joke", "parameters": parameters}},
    ]
    calls = [
        {"id": "c", "type": "function", "function": {"name": "Joke", "arguments": json.dumps(JOKE)}}
    ]
    for form in forms:
        route = mock.post(CHAT).respond(
            json=reply(None, message={"tool_calls": calls}, finish="tool_calls")
        )
        assert make().with_structured_output(form).invoke("joke") == JOKE
        assert body(route)["tools"][0]["function"]["parameters"] == parameters
        route = mock.post(CHAT).respond(json=reply(json.dumps(JOKE)))
        assert make().with_structured_output(form, method="json_schema").invoke("joke") == JOKE
        assert body(route)["response_format"]["json_schema"]["schema"] == parameters


def test_structured_output_include_raw(mock: respx.MockRouter) -> None:
    mock.post(CHAT).respond(json=reply("not json"))
    result = (
        make().with_structured_output(Joke, method="json_mode", include_raw=True).invoke("joke")
    )
    assert isinstance(result, dict)
    assert isinstance(result["raw"], AIMessage)
    assert result["parsed"] is None
    assert result["parsing_error"] is not None


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_a_structured_stream_with_include_raw_ends_with_the_parsing_error(
    mock: respx.MockRouter, method: Literal["function_calling", "json_schema", "json_mode"]
) -> None:
    # include_raw promises the error in parsing_error instead of raising, streamed too.
    pieces = (delta("I'd rather"), delta(" not."), delta(finish="stop", usage=USAGE))
    mock.post(CHAT).mock(side_effect=lambda _: sse(*pieces))
    model = make().with_structured_output(Joke, method=method, include_raw=True)

    async def astreamed() -> list[Any]:
        return [chunk async for chunk in model.astream("joke")]

    for chunks in (list(model.stream("joke")), asyncio.run(astreamed())):
        raw = [chunk["raw"] for chunk in chunks if "raw" in chunk]
        assert len(raw) >= 2  # the raw answer streams as it comes, as ChatOpenAI's
        assert sum(raw[1:], raw[0]).content == "I'd rather not."
        whole = {key: value for chunk in chunks for key, value in chunk.items()}
        assert whole["parsed"] is None
        assert isinstance(whole["parsing_error"], OutputParserException)


def joke_call_stream(name: str, arguments: str, finish: str) -> httpx.Response:
    call = {"index": 0, "id": "c", "function": {"name": name, "arguments": arguments}}
    return sse(delta(delta={"tool_calls": [call]}), delta(finish=finish, usage=USAGE))


@pytest.mark.parametrize("schema", [Joke, JokeDict])
def test_structured_output_without_a_usable_call_is_an_error_not_none(
    mock: respx.MockRouter, schema: type
) -> None:
    # A forced call cut off by max_tokens, or an answer in text that calls nothing: the
    # function-calling parsers would return None as if it were the answer.
    name = schema.__name__
    cut = [{"id": "c", "function": {"name": name, "arguments": '{"setup": "Why'}}]
    route = mock.post(CHAT).respond(json=reply(None, message={"tool_calls": cut}, finish="length"))
    model = make().with_structured_output(schema)
    with pytest.raises(OutputParserException, match=rf"{name} tool.*not complete.*max_tokens"):
        model.invoke("joke")
    raw = make().with_structured_output(schema, include_raw=True).invoke("joke")
    assert isinstance(raw, dict)
    assert raw["parsed"] is None
    assert isinstance(raw["parsing_error"], OutputParserException)
    route.respond(json=reply("I'd rather not."))
    with pytest.raises(OutputParserException, match=f"no call of the {name} tool"):
        model.invoke("joke")
    # Streamed: the stream ends with the error, not with the last partial object.
    route.mock(side_effect=lambda _: joke_call_stream(name, '{"setup": "Why', "length"))
    with pytest.raises(OutputParserException, match="not complete"):
        list(model.stream("joke"))
    route.mock(side_effect=lambda _: joke_call_stream(name, json.dumps(JOKE), "tool_calls"))
    assert list(model.stream("joke"))[-1] == (Joke(**JOKE) if schema is Joke else JOKE)


@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_a_streamed_json_answer_that_does_not_parse_is_an_error_not_nothing(
    mock: respx.MockRouter, method: Literal["json_schema", "json_mode"]
) -> None:
    # LangChain's JSON parsers yield nothing for text that never parses, and raise nothing:
    # a stream of structured output would end empty, as if the answer had been no answer.
    def text_stream(*pieces: str) -> httpx.Response:
        return sse(*(delta(piece) for piece in pieces), delta(finish="stop", usage=USAGE))

    route = mock.post(CHAT).mock(side_effect=lambda _: text_stream("I'd rather", " not."))
    model = make().with_structured_output(Joke, method=method)
    with pytest.raises(OutputParserException):
        list(model.stream("joke"))
    whole = json.dumps(JOKE)
    route.mock(side_effect=lambda _: text_stream(whole[:10], whole[10:]))
    assert list(model.stream("joke"))[-1] == Joke(**JOKE)


class Draft(BaseModel):
    title: str
    body: str | None = None


@pytest.mark.parametrize("schema", [Draft, JokeDict])
@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_a_json_answer_cut_off_by_max_tokens_is_an_error_not_a_shorter_object(
    mock: respx.MockRouter, method: Literal["json_schema", "json_mode"], schema: type
) -> None:
    # LangChain's JSON parsing closes what the cut left open: '{"title": "Owls", "bo' read
    # as {"title": "Owls"}, a complete-looking answer missing the rest (ChatOpenAI raises).
    cut = '{"title": "Owls", "setup": "Why", "bo'
    route = mock.post(CHAT).respond(json=reply(cut, finish="length"))
    model = make().with_structured_output(schema, method=method)
    with pytest.raises(OutputParserException, match=r"cut off.*max_tokens"):
        model.invoke("draft")
    raw = make().with_structured_output(schema, method=method, include_raw=True).invoke("d")
    assert isinstance(raw, dict)
    assert raw["parsed"] is None
    assert isinstance(raw["parsing_error"], OutputParserException)
    pieces = (delta(cut[:12]), delta(cut[12:]), delta(finish="length", usage=USAGE))
    route.mock(side_effect=lambda _: sse(*pieces))
    with pytest.raises(OutputParserException, match=r"cut off.*max_tokens"):
        list(model.stream("draft"))


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_a_structured_stream_of_a_model_that_does_not_stream_ends_with_the_answer(
    mock: respx.MockRouter, method: Literal["function_calling", "json_schema", "json_mode"]
) -> None:
    # disable_streaming: the stream is one whole AIMessage, which LangChain hands the
    # parser as a plain message chunk, no longer an AIMessage and never the last.
    calls = [{"id": "c", "type": "function", "function": {"name": "Joke"}}]
    calls[0]["function"]["arguments"] = json.dumps(JOKE)
    answer = (
        reply(None, message={"tool_calls": calls}, finish="tool_calls")
        if method == "function_calling"
        else reply(json.dumps(JOKE))
    )
    route = mock.post(CHAT).respond(json=answer)
    model = make(disable_streaming=True).with_structured_output(Joke, method=method)
    assert list(model.stream("joke")) == [Joke(**JOKE)]
    assert asyncio.run(_collect(model.astream("joke"))) == [Joke(**JOKE)]
    route.respond(json=reply("I'd rather not."))
    with pytest.raises(OutputParserException):
        list(model.stream("joke"))


async def _collect(stream: Any) -> list[Any]:
    return [item async for item in stream]


def test_structured_output_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="schema is required"):
        make().with_structured_output(None)
    with pytest.raises(ValueError, match="strict"):
        make().with_structured_output(Joke, method="json_mode", strict=True)
    with pytest.raises(ValueError, match="method"):
        make().with_structured_output(Joke, method="xml")  # type: ignore[arg-type]


def truncated_call_stream() -> httpx.Response:
    fragments = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "read_file"}},
        {"index": 0, "function": {"arguments": '{"path": "/srv/da'}},
        {"index": 0, "function": {"arguments": "ta/proj"}},
    ]
    return sse(
        *(delta(delta={"tool_calls": [f]}) for f in fragments),
        delta(finish="length", usage=USAGE),
    )


def summed(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def assert_not_executable(message: AIMessage) -> None:
    assert message.tool_calls == []
    [call] = message.invalid_tool_calls
    assert call["name"] == "read_file"
    assert call["id"] == "call_1"
    assert call["args"] is not None
    assert call["args"].startswith('{"path": "/srv/data/proj')


def test_truncated_whole_answer_tool_call_is_invalid(mock: respx.MockRouter) -> None:
    calls = [{"id": "c1", "function": {"name": "f", "arguments": '{"path": "/srv/data/proj'}}]
    mock.post(CHAT).respond(json=reply(None, message={"tool_calls": calls}, finish="length"))
    result = make().invoke("?")
    assert result.tool_calls == []
    assert "not complete, valid JSON" in (result.invalid_tool_calls[0]["error"] or "")


def test_truncated_streamed_tool_call_is_invalid_on_every_path(mock: respx.MockRouter) -> None:
    mock.post(CHAT).mock(side_effect=lambda _: truncated_call_stream())
    assert_not_executable(summed(list(make().stream("read"))))
    assert_not_executable(make(streaming=True).invoke("read"))

    async def astreamed() -> AIMessageChunk:
        return summed([chunk async for chunk in make().astream("read")])

    assert_not_executable(asyncio.run(astreamed()))


@pytest.mark.parametrize(
    "arguments",
    ['{"a": 1}{"b"', '{"a": [1, 2', '{"a": "x\\', "[1, 2]", '{"a": {"b": "c"}'],
)
def test_streamed_calls_that_do_not_parse_stay_invalid(
    mock: respx.MockRouter, arguments: str
) -> None:
    call = {"index": 0, "id": "c", "function": {"name": "f", "arguments": arguments}}
    mock.post(CHAT).mock(
        return_value=sse(delta(delta={"tool_calls": [call]}), delta(finish="length"))
    )
    full = summed(list(make().stream("?")))
    assert full.tool_calls == []
    assert len(full.invalid_tool_calls) == 1


@pytest.mark.parametrize("arguments", [" ", "\n", " \t "])
def test_streamed_calls_with_blank_arguments_run_as_the_whole_answer_does(
    mock: respx.MockRouter, arguments: str
) -> None:
    # Blank arguments are no arguments (parse_tool_arguments): the whole answer's call runs
    # with {}, so the sum of the streamed chunks must too, not an invalid call.
    call = {"index": 0, "id": "c", "function": {"name": "f", "arguments": arguments}}
    mock.post(CHAT).mock(
        return_value=sse(delta(delta={"tool_calls": [call]}), delta(finish="tool_calls"))
    )
    full = summed(list(make().stream("?")))
    assert full.invalid_tool_calls == []
    assert [(c["name"], c["args"], c["id"]) for c in full.tool_calls] == [("f", {}, "c")]


def test_truncated_streamed_call_is_one_invalid_call_in_v1_content_and_v3_events(
    mock: respx.MockRouter,
) -> None:
    # The closing fragment of the last chunk continues the call begun earlier: in
    # content blocks (output_version="v1", the v3 event protocol) it must not read as a
    # second call without id or name.
    mock.post(CHAT).mock(side_effect=lambda _: truncated_call_stream())
    v1 = summed(list(make(output_version="v1").stream("read")))
    assert_not_executable(v1)
    [block] = v1.content_blocks
    assert block["type"] == "tool_call_chunk"
    assert (block["id"], block["name"]) == ("call_1", "read_file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the v3 protocol is in beta
        v3 = make().stream_events("read", version="v3").output
    assert v3.tool_calls == []
    [call] = v3.invalid_tool_calls
    assert (call["id"], call["name"]) == ("call_1", "read_file")
    assert (call["args"] or "").startswith('{"path": "/srv/data/proj')


def test_agent_does_not_run_a_truncated_streamed_call(mock: respx.MockRouter) -> None:
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    ran: list[str] = []

    @tool
    def read_file(path: str) -> str:
        """Read a file."""
        ran.append(path)
        return "contents"

    mock.post(CHAT).mock(side_effect=[truncated_call_stream(), text_stream()])
    agent = create_agent(make(), [read_file])
    list(agent.stream({"messages": [("user", "read it")]}, stream_mode="messages"))
    assert ran == []


def test_chat_openai_names_are_aliases(mock: respx.MockRouter) -> None:
    # Code written for ChatOpenAI keeps its meaning instead of sending them as body fields.
    route = mock.post(CHAT).respond(json=reply())
    model = make(request_timeout=30, max_completion_tokens=5)
    assert (model.timeout, model.max_tokens, model.model_kwargs) == (30, 5, {})
    model.invoke("hi")
    assert body(route)["max_tokens"] == 5
    assert "max_completion_tokens" not in body(route)
    assert NugenLLM(api_key=KEY, max_completion_tokens=7).max_tokens == 7
    moved = make(openai_api_base="https://other.example/v1")
    assert (moved.base_url, moved.model_kwargs) == ("https://other.example/v1", {})
    with pytest.raises(ValueError, match="setting of the model"):
        model.invoke("hi", openai_api_base="https://other.example/v1")
    with pytest.raises(ValueError, match="not both"):
        make(max_tokens=1, max_completion_tokens=5)
    # Per call too: sent under its own name, it would not cap the answer.
    model.invoke("hi", max_completion_tokens=3)
    assert body(route)["max_tokens"] == 3
    assert "max_completion_tokens" not in body(route)
    with pytest.raises(ValueError, match="not both"):
        model.invoke("hi", max_tokens=1, max_completion_tokens=3)
