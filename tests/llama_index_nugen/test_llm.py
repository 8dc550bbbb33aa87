"""``Nugen`` over a mocked transport: what goes on the wire, what comes back, errors."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import threading
from typing import Any

import httpx
import pytest
import respx
from llama_index.core import PromptHelper
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ImageBlock,
    TextBlock,
)
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler, TokenCountingHandler
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.constants import DEFAULT_NUM_OUTPUTS
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.prompts import PromptTemplate
from llama_index.core.rate_limiter import TokenBucketRateLimiter
from pydantic import SecretStr, ValidationError

from llama_index.llms.nugen import Nugen as AliasedNugen
from llama_index_nugen import Nugen, NugenEmbedding, NugenMultiModal, NugenRerank
from nugen_client import (
    APIResponseValidationError,
    AuthenticationError,
    InvalidInputError,
    NugenClient,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from nugen_client.params import DEFAULT_BASE_URL
from nugen_shared.models import (
    DEFAULT_PROMPT_TRUNCATE_LEN,
    FALLBACK_MAX_OUTPUT_TOKENS,
)
from tests.support.llama_index_wire import (
    API_KEY,
    BASE_URL,
    PNG,
    body_of,
    completion_body,
    sse_response,
    text_chunks,
)

HELLO = [ChatMessage(role="user", content="Hello")]


def ok(api: respx.MockRouter, path: str = "/chat/completions", **body: Any) -> respx.Route:
    return api.post(path).mock(return_value=httpx.Response(200, json=completion_body(**body)))


def streamed(api: respx.MockRouter, *pieces: str) -> respx.Route:
    return api.post("/chat/completions").mock(return_value=sse_response(text_chunks(*pieces)))


# ------------------------------------------------------------------------------ requests


def test_only_what_was_set_is_sent(api: respx.MockRouter, llm: Nugen) -> None:
    route = ok(api)
    llm.chat(HELLO)
    request = route.calls.last.request
    assert body_of(request) == {
        "model": "nugen-flash-instruct",
        "messages": [{"role": "user", "content": "Hello"}],
    }
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-session-id" not in request.headers
    assert "x-provider" not in request.headers


def test_every_field_reaches_the_body_and_headers(api: respx.MockRouter) -> None:
    route = ok(api)
    llm = Nugen(
        model="nugen-legal",
        api_key=API_KEY,
        base_url=BASE_URL,
        temperature=0.2,
        max_tokens=64,
        top_p=0.9,
        top_k=40,
        stop=["\n\n"],
        prompt_truncate_len=800,
        reasoning={"effort": "low", "exclude": True},
        session_id="s-field",
        provider="fwai",
        default_headers={"X-Team": "docs"},
        additional_kwargs={"n": 1, "seed": 7},
    )
    llm.chat(HELLO)
    request = route.calls.last.request
    assert body_of(request) == {
        "model": "nugen-legal",
        "messages": [{"role": "user", "content": "Hello"}],
        "temperature": 0.2,
        "max_tokens": 64,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["\n\n"],
        "prompt_truncate_len": 800,
        "reasoning": {"effort": "low", "exclude": True},
        "n": 1,
        "seed": 7,
    }
    assert request.headers["x-session-id"] == "s-field"
    assert request.headers["x-provider"] == "fwai"
    assert request.headers["x-team"] == "docs"


def test_per_call_kwargs_override_fields(api: respx.MockRouter) -> None:
    route = ok(api)
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, temperature=0.2, session_id="s-field")
    llm.chat(
        HELLO,
        temperature=0.7,
        model="other-model",
        session_id="s-call",
        extra_headers={"X-Trace": "t1"},
        custom_field="yes",
        parallel_tool_calls=True,  # an OpenAI field, not a typo of allow_parallel_tool_calls
        unset_field=None,
        formatted=True,  # a LlamaIndex argument, not a body field
    )
    request = route.calls.last.request
    body = body_of(request)
    assert body["temperature"] == 0.7
    assert body["model"] == "other-model"
    assert body["custom_field"] == "yes"
    assert body["parallel_tool_calls"] is True
    assert "unset_field" not in body
    assert "formatted" not in body
    assert request.headers["x-session-id"] == "s-call"
    assert request.headers["x-trace"] == "t1"


@pytest.mark.parametrize(
    ("keywords", "suggestion"),
    [
        ({"temprature": 0.5}, "temperature"),
        ({"max_token": 5}, "max_tokens"),
        ({"sesion_id": "s1"}, "session_id"),
        ({"tool_choise": "auto"}, "tool_choice"),
    ],
)
def test_a_misspelt_call_keyword_is_refused_not_sent(
    api: respx.MockRouter, llm: Nugen, keywords: dict[str, Any], suggestion: str
) -> None:
    """Other names are body fields, sent as given; a near miss of a known one is a typo
    the service would ignore in silence."""
    with pytest.raises(InvalidInputError, match=f"did you mean '{suggestion}'"):
        llm.chat(HELLO, **keywords)
    with pytest.raises(InvalidInputError, match=f"did you mean '{suggestion}'"):
        llm.stream_complete("Hello", **keywords)
    assert not api.calls


def test_vision_endpoint_per_instance_and_per_call(api: respx.MockRouter) -> None:
    vision = ok(api, "/chat/vision")
    chat = ok(api)
    Nugen(api_key=API_KEY, base_url=BASE_URL, use_vision_endpoint=True).chat(HELLO)
    Nugen(api_key=API_KEY, base_url=BASE_URL).chat(HELLO, use_vision_endpoint=True)
    assert vision.call_count == 2
    assert chat.call_count == 0


def test_structured_output_on_the_vision_endpoint_names_the_chat_endpoint(
    api: respx.MockRouter,
) -> None:
    from llama_index.core.tools import FunctionTool

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    vision = ok(api, "/chat/vision")
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, use_vision_endpoint=True)
    assert llm.metadata.is_function_calling_model is False
    with pytest.raises(InvalidInputError, match="chat endpoint"):
        llm.chat_with_tools([FunctionTool.from_defaults(add)], user_msg="1+2?")
    assert vision.call_count == 0


def test_images_reach_the_body(api: respx.MockRouter, llm: Nugen) -> None:
    route = ok(api)
    message = ChatMessage(
        role="user",
        blocks=[TextBlock(text="What is it?"), ImageBlock(image=PNG, detail="low")],
    )
    llm.chat([message])
    (content,) = [m["content"] for m in body_of(route.calls.last.request)["messages"]]
    assert content[0] == {"type": "text", "text": "What is it?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1]["image_url"]["detail"] == "low"


def test_stream_asks_for_usage(api: respx.MockRouter, llm: Nugen) -> None:
    route = streamed(api, "a", "b")
    list(llm.stream_chat(HELLO))
    body = body_of(route.calls.last.request)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_a_stream_field_in_kwargs_does_not_leak_into_the_body(
    api: respx.MockRouter, llm: Nugen
) -> None:
    route = ok(api)
    llm.chat(HELLO, stream=True)
    assert "stream" not in body_of(route.calls.last.request)


# ---------------------------------------------------------------------------- every method


def test_chat(api: respx.MockRouter, llm: Nugen) -> None:
    ok(api, content="Hi!")
    response = llm.chat(HELLO)
    assert response.message.content == "Hi!"
    assert response.additional_kwargs["total_tokens"] == 5
    assert response.raw["usage"]["prompt_tokens"] == 3


def test_complete_is_a_one_message_chat(api: respx.MockRouter) -> None:
    route = ok(api, content="Paris")
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, completion_to_prompt=lambda p: f"Q: {p}")
    response = llm.complete("Capital of France?")
    assert response.text == "Paris"
    assert response.additional_kwargs["finish_reason"] == "stop"
    assert body_of(route.calls.last.request)["messages"] == [
        {"role": "user", "content": "Q: Capital of France?"}
    ]
    llm.complete("raw", formatted=True)
    assert body_of(route.calls.last.request)["messages"][0]["content"] == "raw"


def test_stream_chat(api: respx.MockRouter, llm: Nugen) -> None:
    streamed(api, "Hel", "lo")
    responses = list(llm.stream_chat(HELLO))
    assert [(r.delta, r.message.content) for r in responses] == [("Hel", "Hel"), ("lo", "Hello")]


def test_stream_complete(api: respx.MockRouter, llm: Nugen) -> None:
    streamed(api, "Hel", "lo")
    responses = list(llm.stream_complete("Hi"))
    assert [(r.delta, r.text) for r in responses] == [("Hel", "Hel"), ("lo", "Hello")]


async def test_async_methods(api: respx.MockRouter, llm: Nugen) -> None:
    ok(api, content="Hi!")
    assert (await llm.achat(HELLO)).message.content == "Hi!"
    assert (await llm.acomplete("x")).text == "Hi!"
    api.routes.clear()
    streamed(api, "a", "b")
    chat = [r async for r in await llm.astream_chat(HELLO)]
    assert [r.message.content for r in chat] == ["a", "ab"]
    completion = [r async for r in await llm.astream_complete("x")]
    assert [r.text for r in completion] == ["a", "ab"]


def test_one_object_across_successive_event_loops(api: respx.MockRouter, llm: Nugen) -> None:
    ok(api, content="Hi!")

    async def ask() -> str:
        return str((await llm.achat(HELLO)).message.content)

    assert asyncio.run(ask()) == "Hi!"
    assert asyncio.run(ask()) == "Hi!"
    assert len(api.calls) == 2  # no hidden retries on a stale pool


def test_sync_and_async_give_the_same_response(api: respx.MockRouter, llm: Nugen) -> None:
    ok(api, content="same", reasoning="why")
    sync = llm.chat(HELLO)
    async_ = asyncio.run(llm.achat(HELLO))
    assert sync.model_dump() == async_.model_dump()


# --------------------------------------------------------------------------------- errors


def test_bad_input_fails_before_any_request(api: respx.MockRouter, llm: Nugen) -> None:
    route = ok(api)
    audio = ChatMessage(role="user", blocks=[AudioBlock(audio=b"RIFF....WAVEfmt ", format="wav")])
    with pytest.raises(InvalidInputError, match="AudioBlock"):
        llm.chat([audio])
    with pytest.raises(InvalidInputError, match="messages"):
        llm.chat([])
    with pytest.raises(InvalidInputError, match="temperature"):
        llm.chat(HELLO, temperature=3)
    with pytest.raises(InvalidInputError, match="name"):
        llm.chat([ChatMessage(role="user", content="x", additional_kwargs={"name": "bad name!"})])
    with pytest.raises(InvalidInputError, match="AudioBlock"):
        llm.stream_chat([audio])  # at the call, not at the first iteration
    assert route.call_count == 0


def test_bad_fields_fail_at_construction() -> None:
    with pytest.raises(ValidationError, match="temperature"):
        Nugen(api_key=API_KEY, temperature=2.5)
    with pytest.raises(ValidationError, match="effort"):
        Nugen(api_key=API_KEY, reasoning={"effort": "huge"})
    with pytest.raises(ValidationError, match="efort"):
        Nugen(api_key=API_KEY, reasoning={"efort": "low"})
    with pytest.raises(ValidationError, match="max_retries"):
        Nugen(api_key=API_KEY, max_retries=-1)


def test_missing_api_key_is_a_clear_local_error(api: respx.MockRouter) -> None:
    route = ok(api)
    llm = Nugen(base_url=BASE_URL)
    with pytest.raises(InvalidInputError, match="NUGEN_API_KEY"):
        llm.chat(HELLO)
    assert route.call_count == 0


def test_env_configuration(monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter) -> None:
    monkeypatch.setenv("NUGEN_API_KEY", "env-key")
    monkeypatch.setenv("NUGEN_BASE_URL", BASE_URL)
    route = ok(api)
    Nugen().chat(HELLO)
    assert route.calls.last.request.headers["authorization"] == "Bearer env-key"


def test_status_errors_are_the_client_classes(api: respx.MockRouter, llm: Nugen) -> None:
    api.post("/chat/completions").mock(
        return_value=httpx.Response(
            401, json={"detail": "Invalid API key"}, headers={"x-request-id": "req-9"}
        )
    )
    with pytest.raises(AuthenticationError) as info:
        llm.chat(HELLO)
    assert info.value.status_code == 401
    assert info.value.request_id == "req-9"
    assert API_KEY not in str(info.value)


def test_422_names_each_field(api: respx.MockRouter, llm: Nugen) -> None:
    detail = [{"loc": ["body", "messages", 0, "name"], "msg": "bad name", "type": "x"}]
    api.post("/chat/completions").mock(return_value=httpx.Response(422, json={"detail": detail}))
    with pytest.raises(UnprocessableEntityError, match=r"body\.messages\.0\.name: bad name"):
        llm.chat(HELLO)


def test_rate_limits_are_retried_max_retries_times(api: respx.MockRouter) -> None:
    route = api.post("/chat/completions").mock(
        side_effect=[
            httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "0"}),
            httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "0"}),
            httpx.Response(200, json=completion_body(content="finally")),
        ]
    )
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, max_retries=2)
    assert llm.chat(HELLO).message.content == "finally"
    assert route.call_count == 3
    route.side_effect = [
        httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "0"})
    ] * 2
    with pytest.raises(RateLimitError):
        Nugen(api_key=API_KEY, base_url=BASE_URL, max_retries=1).chat(HELLO)


def test_interrupted_stream_raises(api: respx.MockRouter, llm: Nugen) -> None:
    bodies = text_chunks("a", "b", usage=False)
    bodies[-1]["choices"][0]["finish_reason"] = None
    api.post("/chat/completions").mock(return_value=sse_response(bodies, done=False))
    stream = llm.stream_chat(HELLO)
    assert next(stream).message.content == "a"
    with pytest.raises(StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial == "ab"  # for logs; no response claimed to be complete


async def test_a_stream_of_only_done_is_no_answer(api: respx.MockRouter, llm: Nugen) -> None:
    # A stream without choices has no answer to read, as a whole answer without choices:
    # an error in every form, never an empty answer.
    api.post("/chat/completions").mock(return_value=sse_response([]))
    for read in (lambda: list(llm.stream_chat(HELLO)), lambda: list(llm.stream_complete("x"))):
        with pytest.raises(APIResponseValidationError, match="no choices"):
            read()
    with pytest.raises(APIResponseValidationError, match="no choices"):
        [r async for r in await llm.astream_chat(HELLO)]
    with pytest.raises(APIResponseValidationError, match="no choices"):
        [r async for r in await llm.astream_complete("x")]


# ------------------------------------------------------------------------------- metadata


def test_metadata_of_a_known_model() -> None:
    metadata = Nugen(api_key=API_KEY, model="qwen3-vl-30b").metadata
    # Nugen publishes no context windows: the window is what the service keeps of a prompt
    # by default plus LlamaIndex's own output guess.
    assert metadata.num_output == DEFAULT_NUM_OUTPUTS
    assert metadata.context_window == DEFAULT_PROMPT_TRUNCATE_LEN + DEFAULT_NUM_OUTPUTS
    assert metadata.is_chat_model is True
    assert metadata.is_function_calling_model is True
    assert metadata.model_name == "qwen3-vl-30b"


def test_metadata_of_an_unknown_model_never_raises() -> None:
    metadata = Nugen(api_key=API_KEY, model="brand-new-model-7b").metadata
    assert metadata.model_name == "brand-new-model-7b"
    assert metadata.context_window > 0
    assert metadata.is_chat_model
    assert metadata.is_function_calling_model


@pytest.mark.parametrize("cls", [Nugen, NugenMultiModal])
@pytest.mark.parametrize(
    ("fields", "budget", "num_output"),
    [
        ({}, DEFAULT_PROMPT_TRUNCATE_LEN, DEFAULT_NUM_OUTPUTS),
        ({"max_tokens": 300}, DEFAULT_PROMPT_TRUNCATE_LEN, 300),
        ({"prompt_truncate_len": 6000}, 6000, DEFAULT_NUM_OUTPUTS),
        ({"prompt_truncate_len": 200, "max_tokens": 50}, 200, 50),
    ],
)
def test_prompts_are_packed_to_what_the_service_keeps(
    cls: Any, fields: dict[str, Any], budget: int, num_output: int
) -> None:
    # The service truncates prompts to prompt_truncate_len (1500 unset): LlamaIndex packs
    # up to the window minus num_output, so that is the budget, and nothing is cut.
    metadata = cls(api_key=API_KEY, **fields).metadata
    assert metadata.num_output == num_output
    assert metadata.context_window - metadata.num_output == budget


@pytest.mark.parametrize("budget", [None, 6000])
def test_chat_memories_made_from_the_metadata_fit_the_budget(budget: int | None) -> None:
    # Memories read the window alone: a FunctionAgent's ChatMemoryBuffer three quarters of
    # it, the chat engines' all but 256 tokens (system prompt and history together). Over
    # the budget, the service cuts the earliest tokens: the system prompt goes first.
    llm = Nugen(api_key=API_KEY, prompt_truncate_len=budget)
    limit = budget or DEFAULT_PROMPT_TRUNCATE_LEN
    assert ChatMemoryBuffer.from_defaults(llm=llm).token_limit <= limit
    assert SimpleChatEngine.from_defaults(llm=llm)._memory.token_limit <= limit


def test_text_completions_pack_prompts_to_the_same_budget() -> None:
    # prompt_truncate_len is sent to /completions too.
    metadata = Nugen(api_key=API_KEY, is_chat_model=False, prompt_truncate_len=900).metadata
    assert metadata.context_window - metadata.num_output == 900


def test_metadata_overrides() -> None:
    metadata = Nugen(
        api_key=API_KEY, context_window=1000, max_tokens=77, is_function_calling_model=False
    ).metadata
    assert (metadata.context_window, metadata.num_output) == (1000, 77)
    assert metadata.is_function_calling_model is False


@pytest.mark.parametrize("cls", [Nugen, NugenMultiModal])
@pytest.mark.parametrize("context_window", [4096, 2048, 1024])
def test_a_small_context_window_leaves_the_prompt_room(cls: Any, context_window: int) -> None:
    # Without max_tokens the output budget is a guess: it may not take the whole window,
    # or every query engine's prompt packing fails ("available context size ... not
    # non-negative") where OpenAI's classes reserve nothing (num_output -1).
    metadata = cls(api_key=API_KEY, context_window=context_window).metadata
    assert metadata.num_output == min(FALLBACK_MAX_OUTPUT_TOKENS, context_window // 4)
    helper = PromptHelper.from_llm_metadata(metadata)
    prompt = PromptTemplate("Context: {context_str}\nQuestion: {query_str}\nAnswer: ")
    assert helper.get_text_splitter_given_prompt(prompt).chunk_size > 0


def test_namespace_alias_is_the_same_class() -> None:
    assert AliasedNugen is Nugen
    assert Nugen.class_name() == "Nugen"


# ------------------------------------------------------------------- clients, serialisation


def test_one_client_per_object_reused_across_calls(api: respx.MockRouter, llm: Nugen) -> None:
    ok(api)
    llm.chat(HELLO)
    client = llm._sync_client()
    llm.chat(HELLO)
    assert llm._sync_client() is client
    assert isinstance(client, NugenClient)
    llm.max_retries = 1  # a connection field changed: a new client picks it up
    assert llm._sync_client() is not client
    assert llm._sync_client().max_retries == 1


def test_pickle_and_deepcopy_round_trip(api: respx.MockRouter, llm: Nugen) -> None:
    ok(api, content="from a copy")
    llm.chat(HELLO)  # clients exist now: they must not travel
    for clone in (pickle.loads(pickle.dumps(llm)), copy.deepcopy(llm)):
        assert clone.api_key == SecretStr(API_KEY)
        assert clone.base_url == BASE_URL
        assert clone.chat(HELLO).message.content == "from a copy"
        assert clone._sync_client() is not llm._sync_client()
    shallow = llm.model_copy(update={"max_retries": 1})
    assert shallow.chat(HELLO).message.content == "from a copy"
    assert shallow._sync_client().max_retries == 1
    assert llm._sync_client().max_retries == 0


@pytest.mark.parametrize("cls", [Nugen, NugenMultiModal, NugenEmbedding, NugenRerank])
def test_pickling_leaves_the_model_whole(cls: type[Any]) -> None:
    """What does not pickle (a rate limiter's lock, a lambda) stays out of the pickle and on
    the model: IngestionPipeline(num_workers=2) pickles its transformations in the parent,
    which goes on using them."""
    manager = CallbackManager([LlamaDebugHandler()])
    manager.lock = threading.Lock()  # type: ignore[attr-defined]
    extra: dict[str, Any] = {"callback_manager": manager}
    if cls is not NugenRerank:
        extra["rate_limiter"] = TokenBucketRateLimiter(requests_per_minute=60)
    if cls is Nugen:
        extra["completion_to_prompt"] = lambda prompt: f"[INST] {prompt} [/INST]"
    model = cls(api_key=API_KEY, base_url=BASE_URL, **extra)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.base_url == BASE_URL
    for name, value in extra.items():
        assert getattr(model, name) is value, name


def test_serialisation_never_contains_the_key() -> None:
    llm = Nugen(
        api_key=API_KEY,
        default_headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "docs"},
    )
    as_json = llm.to_json()
    assert API_KEY not in as_json
    assert API_KEY not in repr(llm.to_dict())
    assert API_KEY not in repr(llm)
    data = json.loads(as_json)
    assert "api_key" not in data
    assert data["default_headers"] == {"Authorization": "***", "X-Request-ID": "docs"}
    assert data["class_name"] == "Nugen"
    restored = Nugen.from_dict({**data, "api_key": "other"})
    assert restored.model == llm.model


# ------------------------------------------------------- callbacks, instrumentation, limits


class _Events(BaseEventHandler):
    names: list[str] = []

    @classmethod
    def class_name(cls) -> str:
        return "_Events"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.names.append(event.class_name())


@pytest.fixture
def events() -> Any:
    handler = _Events(names=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler
    dispatcher.event_handlers.remove(handler)


def test_token_counting_from_raw_usage(api: respx.MockRouter) -> None:
    ok(api, usage={"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33})
    counter = TokenCountingHandler()
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, callback_manager=CallbackManager([counter]))
    llm.chat(HELLO)
    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (11, 22)


def test_token_counting_of_a_stream(api: respx.MockRouter) -> None:
    streamed(api, "a", "b", "c")
    counter = TokenCountingHandler()
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, callback_manager=CallbackManager([counter]))
    list(llm.stream_chat(HELLO))
    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (3, 3)


def test_instrumentation_events(api: respx.MockRouter, llm: Nugen, events: _Events) -> None:
    ok(api)
    llm.chat(HELLO)
    assert events.names[-2:] == ["LLMChatStartEvent", "LLMChatEndEvent"]
    api.routes.clear()
    streamed(api, "a", "b")
    events.names.clear()
    list(llm.stream_chat(HELLO))
    assert events.names == [
        "LLMChatStartEvent",
        "LLMChatInProgressEvent",
        "LLMChatInProgressEvent",
        "LLMChatEndEvent",
    ]


def test_payload_for_callbacks_has_no_secret(llm: Nugen) -> None:
    payload = llm.to_payload()
    assert payload["model_name"] == "nugen-flash-instruct"
    assert API_KEY not in repr(payload)


class _Limiter:
    def __init__(self) -> None:
        self.calls = 0

    def acquire(self) -> None:
        self.calls += 1

    async def async_acquire(self) -> None:
        self.calls += 1


def test_rate_limiter_is_used_by_every_method(api: respx.MockRouter) -> None:
    ok(api)
    limiter = _Limiter()
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, rate_limiter=limiter)
    llm.chat(HELLO)
    llm.complete("x")
    asyncio.run(llm.achat(HELLO))
    assert limiter.calls == 3


def test_plain_http_to_another_host_needs_an_explicit_opt_in(api: respx.MockRouter) -> None:
    with pytest.raises(InvalidInputError, match="allow_insecure_http"):
        Nugen(api_key=API_KEY, base_url="http://plain-http.llama-index-nugen.test/v1").chat(HELLO)
    route = api.post("http://plain-http.llama-index-nugen.test/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=completion_body())
    )
    llm = Nugen(
        api_key=API_KEY,
        base_url="http://plain-http.llama-index-nugen.test/v1",
        allow_insecure_http=True,
    )
    with pytest.warns(UserWarning, match="unencrypted"):
        llm.chat(HELLO)
    assert route.call_count == 1


def test_tool_choice_by_name_given_straight_to_chat(api: respx.MockRouter, llm: Nugen) -> None:
    route = ok(api)
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    llm.chat(HELLO, tools=tools, tool_choice="add")
    assert body_of(route.calls.last.request)["tool_choice"] == {
        "type": "function",
        "function": {"name": "add"},
    }
    llm.chat(HELLO, tools=tools, tool_choice="auto")
    assert body_of(route.calls.last.request)["tool_choice"] == "auto"


def test_base_url_none_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # None (the field's value when nothing is set) is resolved when the client is built.
    assert Nugen(api_key=API_KEY, base_url=None)._sync_client().base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("NUGEN_BASE_URL", BASE_URL)
    assert Nugen(api_key=API_KEY, base_url=None)._sync_client().base_url == BASE_URL
    assert Nugen(api_key=API_KEY).base_url == BASE_URL


@pytest.mark.parametrize(
    ("cls", "keywords", "suggestion"),
    [
        (Nugen, {"temprature": 0.5}, "did you mean 'temperature'"),
        (NugenMultiModal, {"max_token": 5}, "did you mean 'max_tokens'"),
        (NugenEmbedding, {"embed_batchsize": 5}, "did you mean 'embed_batch_size'"),
        (NugenRerank, {"top_m": 3}, "did you mean 'top_n'"),
        (Nugen, {"logprobs": True}, r"'logprobs'; send .* as additional_kwargs=\{'logprobs': "),
        (NugenEmbedding, {"user": "u"}, r"'user'; send .* as additional_kwargs=\{'user': "),
    ],
)
def test_unknown_keywords_are_refused_with_the_nearest_name_or_additional_kwargs(
    cls: type, keywords: dict[str, Any], suggestion: str
) -> None:
    with pytest.raises(InvalidInputError, match=suggestion) as info:
        cls(api_key="sk-secret-key-123", **keywords)
    assert "sk-secret-key-123" not in str(info.value)


def test_api_base_and_model_name_are_aliases() -> None:
    llm = Nugen(api_key="k" * 8, model_name="nugen-legal", api_base="https://x.test/v1")
    assert (llm.model, llm.base_url) == ("nugen-legal", "https://x.test/v1")
    mm = NugenMultiModal(api_key="k" * 8, model_name="qwen3-vl-30b")
    assert mm.model == "qwen3-vl-30b"
    embedding = NugenEmbedding(api_key="k" * 8, api_base="https://x.test/v1")
    assert embedding.base_url == "https://x.test/v1"
    loaded = Nugen.from_dict(llm.to_dict())
    assert (loaded.model, loaded.base_url) == ("nugen-legal", "https://x.test/v1")
    with pytest.raises(InvalidInputError, match="not both"):
        Nugen(api_key="k" * 8, model="a", model_name="b")


class _Shown(BaseEventHandler):
    seen: list[str] = []

    @classmethod
    def class_name(cls) -> str:
        return "_Shown"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(repr(event.model_dump()))


@pytest.mark.parametrize(
    "keywords",
    [
        {"api_key": "sk-call-secret-1"},
        {"openai_api_key": "sk-call-secret-1"},
        {"extra_body": {"api_key": "sk-call-secret-1"}},
        {"extra_body": {"access_token": "sk-call-secret-1"}},
    ],
    ids=["api_key", "wrong-name", "extra_body-api_key", "extra_body-wrong-name"],
)
@pytest.mark.parametrize("form", ["chat", "astream_complete"])
def test_a_key_in_a_calls_keywords_is_refused_before_events_show_it(
    api: respx.MockRouter, keywords: dict[str, Any], form: str
) -> None:
    """A call's keywords go into the request body and LlamaIndex's start events: a key
    among them (``api_key`` included: it belongs on the model) is refused first."""
    shown = _Shown(seen=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(shown)
    debug = LlamaDebugHandler()
    llm = Nugen(api_key=API_KEY, base_url=BASE_URL, callback_manager=CallbackManager([debug]))
    call = (
        (lambda: llm.chat(HELLO, **keywords))
        if form == "chat"
        else (lambda: asyncio.run(llm.astream_complete("Hello", **keywords)))
    )
    try:
        with pytest.raises(InvalidInputError, match="api_key") as raised:
            call()
    finally:
        dispatcher.event_handlers.remove(shown)
    assert "sk-call-secret-1" not in str(raised.value)
    assert "sk-call-secret-1" not in "".join(shown.seen)
    assert "sk-call-secret-1" not in repr([event.payload for event in debug.get_events()])
    assert not api.calls


def test_api_key_among_the_extra_body_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key") as raised:
        Nugen(api_key=API_KEY, additional_kwargs={"api_key": "sk-extra-secret-2"})
    assert "sk-extra-secret-2" not in str(raised.value)
