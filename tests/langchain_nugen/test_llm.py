"""``NugenLLM`` (text completions) against a live NugenEmulator.

Every LangChain entry point (invoke, stream, batch, generate and their async forms), the
metadata it returns, what it sends, its serialisation, and its errors (a test per error
family, sync and async, streaming and not). langchain-tests has no standard suite for
``BaseLLM`` (only chat models, embeddings, tools, retrievers, stores), so these stand in.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.language_models import BaseLLM
from langchain_core.load import dumps, loads
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from pydantic import SecretStr

import nugen_client
from langchain_nugen import NugenLLM
from nugen_emulator import NugenEmulator
from tests.support.langchain import keep

PROMPT = "To infinity, and"
ANSWER = 'You asked: "To infinity, and".'


def llm_for(emulator: NugenEmulator, **kwargs: Any) -> NugenLLM:
    return keep(NugenLLM(base_url=emulator.base_url, api_key=emulator.api_key, **kwargs))


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def completion_requests(emulator: NugenEmulator) -> list[dict[str, Any]]:
    return [r.body for r in emulator.requests if r.path.endswith("/inference/completions")]


def test_is_a_base_llm_with_llm_ls_params() -> None:
    llm = NugenLLM(api_key="k", model="qwen-v2p5-0p5b-instruct", temperature=0.3, max_tokens=9)
    assert isinstance(llm, BaseLLM)
    params = llm._get_ls_params(stop=["\n"])
    assert params == {
        "ls_provider": "nugen",
        "ls_model_name": "qwen-v2p5-0p5b-instruct",
        "ls_model_type": "llm",
        "ls_temperature": 0.3,
        "ls_max_tokens": 9,
        "ls_stop": ["\n"],
    }
    assert llm._get_ls_params(model="other")["ls_model_name"] == "other"


def test_invoke_sends_only_what_was_set(nugen_emulator: NugenEmulator) -> None:
    llm = llm_for(nugen_emulator, model="qwen-v2p5-0p5b-instruct", max_tokens=40, top_k=3)
    assert llm.invoke(PROMPT, session_id="s1", stop=["\n\n"]) == ANSWER
    request = nugen_emulator.requests[-1]
    assert request.path == "/api/v3/inference/completions"
    assert request.body == {
        "model": "qwen-v2p5-0p5b-instruct",
        "prompt": PROMPT,
        "max_tokens": 40,
        "top_k": 3,
        "stop": ["\n\n"],
    }
    assert request.headers["x-session-id"] == "s1"


def test_stop_sequences_is_the_alias_of_stop_as_in_chat_nugen(
    nugen_emulator: NugenEmulator,
) -> None:
    # ChatOpenAI's name, which NugenModel declares for both classes; moved into
    # model_kwargs instead, it went out as a body field the service ignores.
    llm = llm_for(nugen_emulator, stop_sequences=["infinity"])
    assert llm.stop == ["infinity"]
    assert llm.model_kwargs == {}
    assert llm.invoke(PROMPT) == 'You asked: "To '
    assert nugen_emulator.requests[-1].body["stop"] == ["infinity"]


def test_stream_with_token_callbacks(nugen_emulator: NugenEmulator) -> None:
    tokens = Tokens()
    pieces = list(llm_for(nugen_emulator).stream(PROMPT, config={"callbacks": [tokens]}))
    assert "".join(pieces) == ANSWER
    assert len(pieces) > 3
    assert "".join(tokens.tokens) == ANSWER
    assert nugen_emulator.requests[-1].body["stream"] is True


def test_any_other_call_keyword_is_a_body_field_when_streaming_too(
    nugen_emulator: NugenEmulator,
) -> None:
    assert "".join(llm_for(nugen_emulator).stream(PROMPT, payload="p")) == ANSWER
    assert nugen_emulator.requests[-1].body["payload"] == "p"


def test_generate_several_prompts(nugen_emulator: NugenEmulator) -> None:
    result = llm_for(nugen_emulator).generate(["one two", "three four five"])
    # One request for both prompts, as langchain_openai.OpenAI sends them.
    assert [b["prompt"] for b in completion_requests(nugen_emulator)] == [
        ["one two", "three four five"]
    ]
    texts = [generations[0].text for generations in result.generations]
    assert texts == ['You asked: "one two".', 'You asked: "three four five".']
    assert result.llm_output is not None
    usage = result.llm_output["token_usage"]
    assert usage["prompt_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    info = result.generations[0][0].generation_info
    assert info is not None
    assert info["finish_reason"] == "stop"
    assert info["model_name"] == "nugen-flash-instruct"
    assert set(info["timing"]) == {"ttft_seconds", "throughput_tokens_per_second", "total_seconds"}


def continued(prompt: str, alternative: int = 1) -> str:
    prefix = f"(Alternative {alternative}) " if alternative > 1 else ""
    return f'{prefix}You asked: "{prompt}".'


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_prompts_go_batch_size_at_a_time_and_map_back_by_index(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    prompts = [f"prompt {i}" for i in range(5)]
    llm = llm_for(nugen_emulator, batch_size=2, n=2)
    result = asyncio.run(llm.agenerate(prompts)) if is_async else llm.generate(prompts)
    sent = [b["prompt"] for b in completion_requests(nugen_emulator)]
    assert sorted(sent, key=str) == [prompts[0:2], prompts[2:4], prompts[4]]
    assert [[g.text for g in gens] for gens in result.generations] == [
        [continued(p), continued(p, 2)] for p in prompts
    ]
    assert result.llm_output is not None
    usage = result.llm_output["token_usage"]
    assert usage["prompt_tokens"] == 10  # each request's usage counted once


def test_batch_sends_one_request(nugen_emulator: NugenEmulator) -> None:
    answers = llm_for(nugen_emulator).batch(["alpha", "beta", "gamma"])
    assert answers == [continued(p) for p in ("alpha", "beta", "gamma")]
    assert len(completion_requests(nugen_emulator)) == 1


def test_a_missing_choice_is_an_error_not_a_short_result(nugen_emulator: NugenEmulator) -> None:
    body = {"choices": [{"index": 0, "text": "only one", "finish_reason": "stop"}]}
    nugen_emulator.inject(status=200, body=body)
    with pytest.raises(nugen_client.APIResponseValidationError, match="2 choices"):
        llm_for(nugen_emulator).generate(["a", "b"])


def test_max_tokens_zero_is_sent(nugen_emulator: NugenEmulator) -> None:
    assert llm_for(nugen_emulator, max_tokens=0).invoke(PROMPT) == ""
    assert completion_requests(nugen_emulator)[-1]["max_tokens"] == 0


def test_confidence_score_and_logprobs_in_generation_info(nugen_emulator: NugenEmulator) -> None:
    # The reference pages' field name; the live ``confidence`` is ResponseHeader's to map.
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": "nugen-legal",
        "choices": [{"index": 0, "text": "ok", "finish_reason": "length", "logprobs": [-0.1]}],
        "confidence_score": 87.5,
        "timing": {"ttft_seconds": 0.2},
    }
    nugen_emulator.inject(status=200, body=body)
    result = llm_for(nugen_emulator, model="nugen-legal").generate([PROMPT])
    assert result.generations[0][0].generation_info == {
        "finish_reason": "length",
        "model_name": "nugen-legal",
        "id": "cmpl-1",
        "confidence_score": 87.5,
        "timing": {"ttft_seconds": 0.2},
        "logprobs": [-0.1],
    }
    # The reply has no usage: no counts (zeros would say no tokens were used), but the
    # key is there, as in ChatNugen's and OpenAI's llm_output.
    assert result.llm_output == {"model_name": "nugen-legal", "token_usage": {}}


def test_a_stream_keeps_a_zero_confidence_score_as_a_whole_answer_does() -> None:
    # 0.0 is a score the service gave; a stream must not read it as absent.
    from langchain_nugen.llms import TextStreamConverter, per_prompt
    from nugen_client.types import TextCompletion, TextCompletionChunk

    header = {"id": "cmpl-1", "model": "nugen-legal", "confidence_score": 0.0}
    whole = TextCompletion.model_validate(
        {**header, "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]}
    )
    [(generations, _)] = per_prompt(whole, 1, {"model": "nugen-legal"})
    converter = TextStreamConverter("nugen-legal")
    for event in (
        {"model": "nugen-legal", "choices": [{"index": 0, "text": "ok"}]},
        {**header, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]},
    ):
        converter.convert(TextCompletionChunk.model_validate(event))
    streamed = converter.final().generation_info
    assert generations[0].generation_info == streamed
    assert streamed is not None
    assert streamed["confidence_score"] == 0.0


def test_generation_info_has_the_response_id_and_fingerprint_whole_and_streamed() -> None:
    # What ChatNugen puts in response_metadata (and OpenAI keeps system_fingerprint of):
    # the response id is how a support request finds an answer.
    from langchain_nugen.llms import TextStreamConverter, per_prompt
    from nugen_client.types import TextCompletion, TextCompletionChunk

    header = {"id": "cmpl-7", "created": 1.5, "model": "m", "system_fingerprint": "fp_1"}
    described = {"id": "cmpl-7", "created": 1.5, "system_fingerprint": "fp_1"}
    whole = TextCompletion.model_validate(
        {**header, "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]}
    )
    [(generations, _)] = per_prompt(whole, 1, {"model": "m"})
    converter = TextStreamConverter("m")
    for event in (
        {**header, "choices": [{"index": 0, "text": "ok"}]},
        {**header, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]},
    ):
        converter.convert(TextCompletionChunk.model_validate(event))
    for info in (generations[0].generation_info, converter.final().generation_info):
        assert info is not None
        assert {name: info.get(name) for name in described} == described


@pytest.mark.parametrize(
    "pieces",
    [
        # OpenAI's form: each key's list holds one entry per token
        [
            {"tokens": ["o"], "token_logprobs": [-0.1], "top_logprobs": [{"o": -0.1}]},
            {"tokens": ["k"], "token_logprobs": [-0.2], "top_logprobs": [{"k": -0.2}]},
        ],
        [[-0.1], [-0.2]],  # a bare list of numbers
    ],
    ids=["openai", "list"],
)
def test_streamed_logprobs_take_the_form_of_a_whole_answers(pieces: list[Any]) -> None:
    """A stream's logprobs, joined, read as a whole answer's do (as LangChain's chunk
    addition joins OpenAI's), rather than as a list of per-chunk objects."""
    from langchain_nugen.llms import TextStreamConverter, per_prompt
    from nugen_client.types import TextCompletion, TextCompletionChunk

    first, second = pieces
    whole_logprobs: Any = (
        [*first, *second]
        if isinstance(first, list)
        else {key: first[key] + second[key] for key in first}
    )
    whole = TextCompletion.model_validate(
        {
            "model": "nugen-flash",
            "choices": [
                {"index": 0, "text": "ok", "finish_reason": "stop", "logprobs": whole_logprobs}
            ],
        }
    )
    [(generations, _)] = per_prompt(whole, 1, {"model": "nugen-flash"})
    converter = TextStreamConverter("nugen-flash")
    for text, logprobs, finish in (("o", first, None), ("k", second, "stop")):
        event = {
            "model": "nugen-flash",
            "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}],
        }
        converter.convert(TextCompletionChunk.model_validate(event))
    assert (converter.final().generation_info or {})["logprobs"] == whole_logprobs
    assert (generations[0].generation_info or {})["logprobs"] == whole_logprobs


def test_a_stream_keeps_the_timing_figures_a_later_chunk_leaves_out() -> None:
    # A chunk with an empty (or partial) timing adds to the figures known, as the chat
    # stream's timing is merged, instead of replacing them.
    from langchain_nugen.llms import TextStreamConverter
    from nugen_client.types import TextCompletionChunk

    converter = TextStreamConverter("nugen-legal")
    for timing in ({"ttft_seconds": 0.2}, {}, {"total_seconds": 1.5}):
        event = {"model": "nugen-legal", "choices": [{"index": 0, "text": "ok"}], "timing": timing}
        converter.convert(TextCompletionChunk.model_validate(event))
    streamed = converter.final().generation_info
    assert streamed is not None
    assert streamed["timing"] == {"ttft_seconds": 0.2, "total_seconds": 1.5}


@pytest.mark.parametrize(
    "events",
    [
        # A host that names no response id: its time and fingerprint are still read.
        [{"created": 1.5, "model": "m", "system_fingerprint": "fp_1", "service_tier": "auto"}],
        # A fingerprint and tier sent only by a later chunk than the first naming the id.
        [
            {"id": "cmpl-7", "created": 1.5, "model": "m"},
            {"system_fingerprint": "fp_1"},
            {"service_tier": "auto"},
        ],
    ],
)
def test_a_stream_reads_the_header_fields_as_a_whole_answer_and_a_chat_stream_do(
    events: list[dict[str, Any]],
) -> None:
    from langchain_nugen.llms import TextStreamConverter, per_prompt
    from nugen_client.types import TextCompletion, TextCompletionChunk

    sent = {name: value for event in events for name, value in event.items() if name != "model"}
    choice = {"index": 0, "text": "ok", "finish_reason": "stop"}
    whole = TextCompletion.model_validate({**events[0], **sent, "choices": [choice]})
    [(generations, _)] = per_prompt(whole, 1, {"model": "m"})
    converter = TextStreamConverter("m")
    for event in events:
        converter.convert(TextCompletionChunk.model_validate({**event, "choices": [choice]}))
    for info in (generations[0].generation_info, converter.final().generation_info):
        assert info is not None
        assert {name: info.get(name) for name in sent} == sent


def test_a_stream_keeps_the_gpu_time_of_its_opening_timing_event() -> None:
    # The live stream opens with {"_timing": {"gpu_processing_seconds": ...}}: its figure
    # joins the closing timing, as ChatNugen's and LlamaIndex's streams keep it.
    from langchain_nugen.llms import TextStreamConverter
    from nugen_client.types import TextCompletionChunk

    converter = TextStreamConverter("nugen-legal")
    for event in (
        {"_timing": {"gpu_processing_seconds": 0.01}},
        {"model": "nugen-legal", "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]},
        {"object": "timing", "timing": {"ttft_seconds": 0.2, "total_seconds": 1.5}},
    ):
        converter.convert(TextCompletionChunk.model_validate(event))
    streamed = converter.final().generation_info
    assert streamed is not None
    assert streamed["timing"] == {
        "gpu_processing_seconds": 0.01,
        "ttft_seconds": 0.2,
        "total_seconds": 1.5,
    }


def test_a_streamed_chunk_naming_no_model_keeps_the_model_named_before() -> None:
    # A usage-only closing chunk may leave out the model: the one an earlier chunk named
    # stays, and a stream that names none reports the requested one.
    from langchain_nugen.llms import TextStreamConverter
    from nugen_client.types import TextCompletionChunk

    events = (
        {"model": "nugen-legal", "choices": [{"index": 0, "text": "ok"}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    )
    named, unnamed = TextStreamConverter("nugen-flash"), TextStreamConverter("nugen-flash")
    for event in events:
        named.convert(TextCompletionChunk.model_validate(event))
    unnamed.convert(TextCompletionChunk.model_validate(events[1]))
    assert (named.final().generation_info or {})["model_name"] == "nugen-legal"
    assert (unnamed.final().generation_info or {})["model_name"] == "nugen-flash"


def test_n_gives_several_generations_and_cannot_stream(nugen_emulator: NugenEmulator) -> None:
    llm = llm_for(nugen_emulator, n=2)
    result = llm.generate([PROMPT])
    assert [g.text for g in result.generations[0]] == [ANSWER, "(Alternative 2) " + ANSWER]
    with pytest.raises(ValueError, match="n=2 cannot be streamed"):
        list(llm.stream(PROMPT))


def test_streaming_generate_sums_usage(nugen_emulator: NugenEmulator) -> None:
    tokens = Tokens()
    result = llm_for(nugen_emulator, streaming=True).generate(
        ["one two", "three"], callbacks=[tokens]
    )
    assert [g[0].text for g in result.generations] == [
        'You asked: "one two".',
        'You asked: "three".',
    ]
    assert "".join(tokens.tokens) == "".join(g[0].text for g in result.generations)
    assert result.llm_output is not None
    assert result.llm_output["token_usage"]["prompt_tokens"] == 3
    info = result.generations[0][0].generation_info or {}
    assert info["finish_reason"] == "stop"
    assert "timing" in info


def test_batch_and_chain(nugen_emulator: NugenEmulator) -> None:
    llm = llm_for(nugen_emulator)
    assert llm.batch(["a b", "c d"]) == [
        'You asked: "a b".',
        'You asked: "c d".',
    ]
    chain = PromptTemplate.from_template("Tell me about {topic}") | llm | StrOutputParser()
    assert chain.invoke({"topic": "rockets"}) == 'You asked: "Tell me about rockets".'


async def test_async_forms(nugen_emulator: NugenEmulator) -> None:
    llm = llm_for(nugen_emulator)
    assert await llm.ainvoke(PROMPT) == ANSWER
    assert "".join([piece async for piece in llm.astream(PROMPT)]) == ANSWER
    assert await llm.abatch([PROMPT, PROMPT]) == [ANSWER, ANSWER]
    result = await llm.agenerate(["a", "b", "c"])
    assert [g[0].text for g in result.generations] == [f'You asked: "{p}".' for p in "abc"]
    assert result.llm_output is not None
    assert result.llm_output["token_usage"]["prompt_tokens"] == 3


def test_async_generate_is_concurrent_and_bounded(nugen_emulator: NugenEmulator) -> None:
    # Every request waits 0.6 s: four prompts two at a time take two rounds (>= 1.2 s,
    # bounded), less than one after the other would (2.4 s, concurrent).
    nugen_emulator.inject(delay=0.6, times=4)
    llm = llm_for(nugen_emulator, max_concurrent_requests=2, batch_size=1)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await llm.agenerate([str(i) for i in range(4)])
        return loop.time() - start

    elapsed = asyncio.run(run())
    assert 1.15 <= elapsed < 2.3
    assert sorted(b["prompt"] for b in completion_requests(nugen_emulator)) == list("0123")


def test_async_streaming_generate(nugen_emulator: NugenEmulator) -> None:
    result = asyncio.run(llm_for(nugen_emulator, streaming=True).agenerate([PROMPT]))
    assert result.generations[0][0].text == ANSWER


def test_secrets_and_serialisation() -> None:
    llm = NugenLLM(api_key="sk-secret-123", default_headers={"X-Api-Key": "hdr-secret"})
    assert "sk-secret-123" not in repr(llm)
    text = dumps(llm)
    assert "sk-secret-123" not in text
    assert "hdr-secret" not in text
    assert '"NUGEN_API_KEY"' in text
    loaded = loads(
        text,
        secrets_map={"NUGEN_API_KEY": "sk-secret-123"},
        valid_namespaces=["langchain_nugen"],
        allowed_objects=[NugenLLM],
    )
    assert isinstance(loaded, NugenLLM)
    assert loaded.api_key == SecretStr("sk-secret-123")
    assert "sk-secret-123" not in str(llm.model_dump())
    assert pickle.loads(pickle.dumps(llm)).api_key == SecretStr("sk-secret-123")


def test_bad_input_before_any_request(nugen_emulator: NugenEmulator) -> None:
    with pytest.raises(ValueError, match="temperature"):
        NugenLLM(api_key="k", temperature=5)
    llm = llm_for(nugen_emulator)
    with pytest.raises(ValueError, match="prompt"):
        llm.invoke("")
    with pytest.raises(ValueError, match="max_tokens"):
        list(llm.stream(PROMPT, max_tokens=-1))
    with pytest.raises(ValueError, match="max_tokens"):
        NugenLLM(api_key="k", max_tokens=-1)
    with pytest.raises(ValueError, match="prompt"):
        llm.generate(["fine", ""])
    assert nugen_emulator.requests == []


# ------------------------------------------------------------------------------ errors


def call(llm: NugenLLM, *, is_async: bool, stream: bool) -> str:
    if stream:
        if is_async:

            async def pieces() -> str:
                return "".join([p async for p in llm.astream(PROMPT)])

            return asyncio.run(pieces())
        return "".join(llm.stream(PROMPT))
    return asyncio.run(llm.ainvoke(PROMPT)) if is_async else llm.invoke(PROMPT)


WAYS = [
    pytest.param(False, False, id="invoke"),
    pytest.param(True, False, id="ainvoke"),
    pytest.param(False, True, id="stream"),
    pytest.param(True, True, id="astream"),
]
FAMILIES: list[tuple[Callable[[NugenEmulator], Any], type[Exception], type[Exception]]] = [
    (lambda e: e.inject(status=401), nugen_client.AuthenticationError, ModelAuthenticationError),
    (
        lambda e: e.inject(status=429, headers={"Retry-After": "0"}),
        nugen_client.RateLimitError,
        ModelRateLimitError,
    ),
    (lambda e: e.inject(status=500), nugen_client.InternalServerError, ModelAPIError),
    (lambda e: e.inject(delay=2.0), nugen_client.APITimeoutError, ModelTimeoutError),
]


@pytest.mark.parametrize(("is_async", "stream"), WAYS)
@pytest.mark.parametrize(
    ("arm", "client_error", "langchain_error"),
    FAMILIES,
    ids=["auth", "rate-limit", "server", "timeout"],
)
def test_error_families(
    nugen_emulator: NugenEmulator,
    is_async: bool,
    stream: bool,
    arm: Callable[[NugenEmulator], Any],
    client_error: type[Exception],
    langchain_error: type[Exception],
) -> None:
    fault = arm(nugen_emulator)
    # A short timeout only where a timeout is the point: a loaded machine may be slow.
    llm = llm_for(nugen_emulator, max_retries=0, timeout=0.5 if fault.delay else None)
    with pytest.raises(client_error) as raised:
        call(llm, is_async=is_async, stream=stream)
    assert isinstance(raised.value, langchain_error)
    assert nugen_emulator.api_key not in str(raised.value)


@pytest.mark.parametrize("is_async", [False, True])
def test_interrupted_stream(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    nugen_emulator.inject(cut_after=3)
    with pytest.raises(nugen_client.StreamInterruptedError) as raised:
        call(llm_for(nugen_emulator, max_retries=0), is_async=is_async, stream=True)
    assert isinstance(raised.value, ModelConnectionError)
    assert raised.value.partial
    assert len(nugen_emulator.requests) == 1


@pytest.mark.parametrize("is_async", [False, True])
def test_retries_then_answers(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    nugen_emulator.inject(status=503, headers={"Retry-After": "0"}, times=2)
    assert call(llm_for(nugen_emulator), is_async=is_async, stream=False) == ANSWER
    assert len(nugen_emulator.requests) == 3
