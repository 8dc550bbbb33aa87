"""The deterministic model: text, images, tools, structured output, reasoning, usage."""

from __future__ import annotations

import base64
import json
import math
import struct
from enum import Enum
from typing import Any, Literal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.agent.react.prompts import REACT_CHAT_SYSTEM_HEADER
from pydantic import BaseModel, Field

from nugen_emulator._schema_fill import Literals, fill

from .conftest import USER, chat

PNG_BYTES = bytes(range(68))
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()


def _tool(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "description": f"The {name} tool."}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


WEATHER = _tool(
    "get_weather",
    {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
)
TIME = _tool("get_time", {"type": "object", "properties": {"city": {"type": "string"}}})
ADD = _tool(
    "add",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)


def _message(reply: dict[str, Any], index: int = 0) -> dict[str, Any]:
    message: dict[str, Any] = reply["choices"][index]["message"]
    return message


def _calls(reply: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in _message(reply).get("tool_calls") or []
    ]


# -- text ------------------------------------------------------------------------------------


def test_text_reply_quotes_the_question_and_is_deterministic(http: httpx.Client) -> None:
    first = chat(http)
    second = chat(http)
    content = _message(first)["content"]
    assert content == 'You asked: "What is the capital of France?".'
    assert content == _message(second)["content"]
    assert first["id"] != second["id"]
    assert first["choices"][0]["finish_reason"] == "stop"


def test_text_reply_mentions_system_prompt_and_history(http: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Ahoy Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    content = _message(chat(http, messages=messages))["content"]
    assert content.startswith('You asked: "What is my name?".')
    assert 'Earlier you said: "My name is Ada.".' in content
    assert 'The system prompt says: "You are a pirate.".' in content


def test_images_are_described_so_delivery_can_be_checked(http: httpx.Client) -> None:
    content = [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
        {"type": "image_url", "image_url": {"url": "https://cdn.example.org/cat.jpg?x=1"}},
    ]
    reply = chat(http, messages=[{"role": "user", "content": content}])
    text = _message(reply)["content"]
    assert "I received 2 images: image 1 is image/png, 68 bytes (inline base64)" in text
    assert "image 2 is a URL image hosted at cdn.example.org" in text
    vision_body = {
        "model": "nugen-flash-vision",
        "messages": [{"role": "user", "content": content}],
    }
    vision = http.post("/chat/vision", json=vision_body)
    assert "68 bytes" in vision.json()["choices"][0]["message"]["content"]


def test_max_tokens_truncates_with_length(http: httpx.Client) -> None:
    reply = chat(http, max_tokens=3)
    assert _message(reply)["content"] == 'You asked: "What'
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 3


def test_max_completion_tokens_truncates_in_the_openai_dialect(
    http: httpx.Client, http_openai: httpx.Client
) -> None:
    # OpenAI's newer name for max_tokens (ChatOpenAI sends it), which wins when both are
    # sent; the nugen dialect's body has no such field, so ignores it like any unknown one.
    for body in ({"max_completion_tokens": 3}, {"max_completion_tokens": 3, "max_tokens": 9}):
        reply = chat(http_openai, **body)
        assert _message(reply)["content"] == 'You asked: "What'
        assert reply["choices"][0]["finish_reason"] == "length"
    assert chat(http, max_completion_tokens=3)["choices"][0]["finish_reason"] == "stop"
    refused = http_openai.post(
        "/chat/completions", json={"model": "m", "messages": USER, "max_completion_tokens": 0}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "max_completion_tokens"


def test_stop_sequences_cut_the_text(http: httpx.Client) -> None:
    reply = chat(http, stop=["capital", "zzz"])
    assert _message(reply)["content"] == 'You asked: "What is the '
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_n_gives_distinct_deterministic_choices(http: httpx.Client) -> None:
    reply = chat(http, n=3)
    contents = [_message(reply, i)["content"] for i in range(3)]
    assert len(set(contents)) == 3
    assert contents[1].startswith("(Alternative 2) You asked:")
    assert [c["index"] for c in reply["choices"]] == [0, 1, 2]
    assert _message(chat(http, n=3), 2)["content"] == contents[2]


def test_usage_is_consistent(http: httpx.Client) -> None:
    reply = chat(http, messages=[{"role": "system", "content": "one two"}, *USER])
    usage = reply["usage"]
    # 1 per message + words: (1 + 2) + (1 + 6)
    assert usage["prompt_tokens"] == 10
    assert usage["completion_tokens"] == len(_message(reply)["content"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    truncated = chat(http, prompt_truncate_len=4)
    assert truncated["usage"]["prompt_tokens"] == 4


def test_reference_and_openai_shapes(
    http_reference: httpx.Client, http_openai: httpx.Client
) -> None:
    nugen = chat(http_reference, model="nugen-legal")
    assert isinstance(nugen["created"], float)
    assert nugen["object"] == "chat.completion"
    assert 50 <= nugen["confidence_score"] < 100
    assert "system_fingerprint" not in nugen
    assert "timing" not in nugen
    assert "confidence_score" not in chat(http_reference, model="nugen-flash-instruct")
    vision = http_reference.post(
        "/chat/vision", json={"model": "nugen-lvm-legal", "messages": USER}
    ).json()
    assert "object" not in vision
    assert vision["created"] > 10 * 1.7e9  # "sometimes absurdly large", as documented
    assert "confidence_score" in vision

    openai = chat(http_openai, model="Qwen/Qwen2.5-VL-7B-Instruct")
    assert isinstance(openai["created"], int)
    assert openai["object"] == "chat.completion"
    assert openai["id"].startswith("chatcmpl-")
    for key in ("system_fingerprint", "service_tier", "prompt_logprobs"):
        assert key in openai
        assert openai[key] is None
    assert openai["usage"]["completion_tokens_details"] is None
    assert openai["usage"]["prompt_tokens_details"] is None
    assert _message(openai)["tool_calls"] is None
    assert "confidence_score" not in chat(http_openai, model="nugen-legal")


def test_text_completions(http: httpx.Client) -> None:
    reply = http.post(
        "/completions", json={"model": "m", "prompt": ["Once upon a time", "Hi"], "n": 2}
    ).json()
    assert reply["object"] == "text_completion"
    assert len(reply["choices"]) == 4
    # Each prompt is answered as the same text in a chat's user message would be.
    assert [c["text"] for c in reply["choices"]] == [
        'You asked: "Once upon a time".',
        '(Alternative 2) You asked: "Once upon a time".',
        'You asked: "Hi".',
        '(Alternative 2) You asked: "Hi".',
    ]
    limited = http.post("/completions", json={"model": "m", "prompt": "x", "max_tokens": 2})
    assert limited.json()["choices"][0]["finish_reason"] == "length"


def test_text_completions_stop_at_the_documented_default_of_16_tokens(
    http: httpx.Client,
) -> None:
    # The reference's default max_tokens for /completions (a chat answer has no such cap).
    prompt = " ".join(f"word{i}" for i in range(30))
    reply = http.post("/completions", json={"model": "m", "prompt": prompt}).json()
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 16
    longer = {"model": "m", "prompt": prompt, "max_tokens": 100}
    assert http.post("/completions", json=longer).json()["choices"][0]["finish_reason"] == "stop"
    messages = [{"role": "user", "content": prompt}]
    chat_reply = http.post("/chat/completions", json={"model": "m", "messages": messages})
    assert chat_reply.json()["choices"][0]["finish_reason"] == "stop"


# -- tools -----------------------------------------------------------------------------------


def test_naming_a_tool_calls_it_with_literals_from_the_message(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Use get_weather for Boston in fahrenheit."}]
    reply = chat(http, messages=messages, tools=[WEATHER, TIME])
    assert _calls(reply) == [("get_weather", {"location": "Boston", "unit": "fahrenheit"})]
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    message = _message(reply)
    assert message["content"] is None
    assert message["tool_calls"][0]["id"].startswith("call_")
    assert message["tool_calls"][0]["type"] == "function"


def test_a_tool_whose_topic_is_mentioned_is_called(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "What is the weather in San Francisco, CA?"}]
    assert _calls(chat(http, messages=messages, tools=[WEATHER])) == [
        ("get_weather", {"location": "San Francisco", "unit": "celsius"})
    ]


def test_no_mention_means_a_text_answer(http: httpx.Client) -> None:
    reply = chat(http, tools=[WEATHER])
    assert _calls(reply) == []
    assert _message(reply)["content"].startswith("You asked:")


def test_tool_choice_forces_or_forbids(http: httpx.Client) -> None:
    hello = [{"role": "user", "content": "Hello!"}]
    specific = {"type": "function", "function": {"name": "add"}}
    forced = chat(http, messages=hello, tools=[WEATHER, ADD], tool_choice=specific)
    assert [name for name, _ in _calls(forced)] == ["add"]
    required = chat(http, messages=hello, tools=[WEATHER, ADD], tool_choice="required")
    assert [name for name, _ in _calls(required)] == ["get_weather"]
    named = [{"role": "user", "content": "Use get_weather now."}]
    assert _calls(chat(http, messages=named, tools=[WEATHER], tool_choice="none")) == []


def test_add_fills_integers_in_order(http: httpx.Client) -> None:
    reply = chat(
        http, messages=[{"role": "user", "content": "What is 3 + 4? Use add."}], tools=[ADD]
    )
    assert _calls(reply) == [("add", {"a": 3, "b": 4})]


def test_no_argument_tool(http: httpx.Client) -> None:
    tool = _tool("magic_function_no_args")
    messages = [{"role": "user", "content": "What is the value of magic_function_no_args()?"}]
    assert _calls(chat(http, messages=messages, tools=[tool])) == [("magic_function_no_args", {})]


def _run_agent(client: httpx.Client, content: str, tools: list[dict[str, Any]]) -> list[Any]:
    """A minimal agent loop: execute every call with a canned result until a text answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    transcript: list[Any] = []
    for _ in range(6):
        reply = chat(client, messages=messages, tools=tools)
        message = _message(reply)
        messages.append(message)
        if not message.get("tool_calls"):
            transcript.append(message["content"])
            return transcript
        transcript.append(_calls(reply))
        for call in message["tool_calls"]:
            result = f"result of {call['function']['name']}"
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    raise AssertionError(f"the agent did not finish: {transcript}")


def test_a_two_tool_agent_calls_each_in_turn_then_answers(http: httpx.Client) -> None:
    transcript = _run_agent(
        http, "Use get_weather for Boston and get_time for Paris.", [WEATHER, TIME]
    )
    assert transcript[0] == [("get_weather", {"location": "Boston", "unit": "celsius"})]
    # Boston went to the first call, so the second gets the next literal.
    assert transcript[1] == [("get_time", {"city": "Paris"})]
    final = transcript[2]
    assert 'The get_weather tool returned: "result of get_weather".' in final
    assert 'The get_time tool returned: "result of get_time".' in final


def test_parallel_tool_calls_come_together(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Use get_weather for Boston and get_time for Paris."}]
    reply = chat(http, messages=messages, tools=[WEATHER, TIME], parallel_tool_calls=True)
    assert _calls(reply) == [
        ("get_weather", {"location": "Boston", "unit": "celsius"}),
        ("get_time", {"city": "Paris"}),
    ]
    ids = [call["id"] for call in _message(reply)["tool_calls"]]
    assert len(set(ids)) == 2


def test_tool_results_with_images_are_described(http: httpx.Client) -> None:
    messages = [
        {"role": "user", "content": "Get a random diagram using the tool."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "1",
                    "type": "function",
                    "function": {"name": "random_image", "arguments": "{}"},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "1",
            "content": [{"type": "image_url", "image_url": {"url": PNG_URL}}],
        },
    ]
    text = _message(chat(http, messages=messages, tools=[_tool("random_image")]))["content"]
    assert "The random_image tool returned no text." in text
    assert "image/png, 68 bytes" in text


class Unit(str, Enum):
    C = "celsius"
    F = "fahrenheit"


class Address(BaseModel):
    city: str
    zip_code: int | None = None


class Booking(BaseModel):
    """A deliberately awkward schema: nested models, enums, optionals, lists, bounds."""

    guest: str = Field(description="who")
    nights: int = Field(ge=1, le=30)
    price: float = Field(gt=0)
    unit: Unit
    breakfast: bool
    tags: list[str]
    scores: list[int]
    address: Address
    mode: Literal["fast", "slow"] = "slow"
    note: str | None = None


def test_tool_arguments_satisfy_a_pydantic_schema(http: httpx.Client) -> None:
    tool = _tool("book", Booking.model_json_schema())
    content = (
        'Please book for "Ada Lovelace": 3 nights at 120.5 in fahrenheit, breakfast yes, '
        "in London, fast mode. Use book."
    )
    reply = chat(http, messages=[{"role": "user", "content": content}], tools=[tool])
    [(name, arguments)] = _calls(reply)
    booking = Booking.model_validate(arguments)
    assert name == "book"
    assert booking.guest == "Ada Lovelace"
    assert (booking.nights, booking.price) == (3, 120.5)
    assert booking.unit is Unit.F
    assert booking.breakfast is True
    assert booking.address.city == "London"
    assert booking.mode == "fast"


# -- structured output -----------------------------------------------------------------------


class Joke(BaseModel):
    setup: str
    punchline: str


def test_json_schema_response_format(http: httpx.Client) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "Booking", "schema": Booking.model_json_schema(), "strict": True},
    }
    content = 'Book "Grace Hopper" for 2 nights at 99 in celsius in Arlington.'
    reply = chat(
        http, messages=[{"role": "user", "content": content}], response_format=response_format
    )
    booking = Booking.model_validate_json(_message(reply)["content"])
    assert (booking.guest, booking.nights, booking.unit) == ("Grace Hopper", 2, Unit.C)


def test_json_object_uses_the_keys_the_prompt_names(http: httpx.Client) -> None:
    content = (
        "Tell me a joke about cats. Return the result as a JSON with 'setup' and "
        "'punchline' keys. Return nothing other than JSON."
    )
    reply = chat(
        http,
        messages=[{"role": "user", "content": content}],
        response_format={"type": "json_object"},
    )
    joke = json.loads(_message(reply)["content"])
    assert set(joke) == {"setup", "punchline"}
    Joke.model_validate(joke)
    plain = chat(http, response_format={"type": "json_object"})
    assert json.loads(_message(plain)["content"]) == {
        "answer": 'You asked: "What is the capital of France?".'
    }


# -- reasoning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasoning", "shown", "counted"),
    [
        ({"effort": "high"}, True, True),
        ({"enabled": True}, True, True),
        ({"max_tokens": 5}, True, True),
        ({"effort": "high", "exclude": True}, False, True),
        ({"effort": "none"}, False, False),
        ({"enabled": False, "effort": "high"}, False, False),
    ],
)
def test_reasoning(
    http: httpx.Client,
    http_openai: httpx.Client,
    reasoning: dict[str, Any],
    shown: bool,
    counted: bool,
) -> None:
    nugen = chat(http, reasoning=reasoning)
    openai = chat(http_openai, reasoning=reasoning)
    assert ("reasoning_content" in _message(nugen)) is shown
    assert ("reasoning" in _message(openai)) is shown
    details = nugen["usage"].get("completion_tokens_details")
    if counted:
        assert details["reasoning_tokens"] > 0
        content_words = len(_message(nugen)["content"].split())
        assert nugen["usage"]["completion_tokens"] == content_words + details["reasoning_tokens"]
    else:
        assert details is None
    if shown and "max_tokens" in reasoning:
        assert len(_message(nugen)["reasoning_content"].split()) == 5


def test_more_effort_means_longer_reasoning(http: httpx.Client) -> None:
    def length(effort: str) -> int:
        reply = chat(http, reasoning={"effort": effort})
        return int(reply["usage"]["completion_tokens_details"]["reasoning_tokens"])

    assert length("minimal") < length("low") < length("medium") < length("high") < length("xhigh")


# -- embeddings ------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(http: httpx.Client) -> None:
    reply = http.post("/embeddings", json={"model": "nugen-flash-embed", "input": ["a", "b", "a"]})
    body = reply.json()
    vectors = [item["embedding"] for item in body["data"]]
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert all(len(v) == 384 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-9) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    single = http.post("/embeddings", json={"model": "e", "input": "a", "dimensions": 8}).json()
    assert len(single["data"][0]["embedding"]) == 8


def test_embeddings_openai_shape_and_base64(http_openai: httpx.Client) -> None:
    floats = http_openai.post("/embeddings", json={"model": "e", "input": "hello world"}).json()
    assert floats["object"] == "list"
    assert floats["data"][0]["object"] == "embedding"
    assert floats["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    packed = http_openai.post(
        "/embeddings", json={"model": "e", "input": "hello world", "encoding_format": "base64"}
    ).json()
    raw = base64.b64decode(packed["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(floats["data"][0]["embedding"], abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_message_gives_schema_valid_arguments(text: str) -> None:
    """Whatever the user wrote, generated arguments validate (literals or defaults)."""
    arguments = fill(Booking.model_json_schema(), Literals(text))
    Booking.model_validate(arguments)
    json.dumps(arguments)


def test_the_filler_merges_all_of_and_reads_nullable_types() -> None:
    # Also reached by the random schemas below, but not in every run.
    schema = {
        "allOf": [
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            {
                "properties": {"year": {"type": ["integer", "null"]}, "gone": {"type": "null"}},
                "required": ["year"],
            },
            {"properties": "not a mapping"},
        ],
    }
    arguments = fill(schema, Literals("in 1889"))
    assert arguments == {"year": 1889, "gone": None, "city": arguments["city"]}
    assert isinstance(arguments["city"], str)


def test_a_union_of_constants_is_filled_with_one_of_them() -> None:
    """``Literal["a"] | Literal["b"]`` (pydantic writes each with its ``type``, as LangChain's
    tool selector sends it): mentioned constants first, never a literal of the text."""

    def const(value: str) -> dict[str, str]:
        return {"const": value, "type": "string", "description": f"the {value} tool"}

    choice = {"anyOf": [const("get_weather"), const("search")]}
    schema = {
        "type": "object",
        "properties": {"tools": {"type": "array", "items": choice}, "first": choice},
        "required": ["tools", "first"],
    }
    assert fill(schema, Literals("Find the weather in Paris")) == {
        "tools": ["get_weather"],
        "first": "get_weather",
    }
    assert fill(schema, Literals("Use search, then get_weather, for 'Paris'")) == {
        "tools": ["search", "get_weather"],
        "first": "search",
    }


_KEYWORDS = st.sampled_from(
    [
        *("type", "properties", "items", "required", "enum", "const", "anyOf", "oneOf"),
        *("allOf", "$ref", "$defs", "minimum", "maximum", "exclusiveMinimum", "minItems"),
        *("maxItems", "minLength", "maxLength", "format", "default", "prefixItems"),
    ]
)
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null"])
    | st.sampled_from(["#/$defs/a", "#", "#/nowhere", "date", "email"])
    | st.text(max_size=5)
)
_SCHEMAS = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_KEYWORDS | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_SCHEMAS, st.text(alphabet="Ab 1.5'\"-", max_size=40) | st.text(max_size=40))
def test_the_filler_never_crashes_on_odd_schemas(schema: Any, text: str) -> None:
    """Tools come from users: however strange the schema, the emulator answers (no 500)."""
    json.dumps(fill(schema, Literals(text)))


def _cosine(client: httpx.Client, first: str, second: str, dimensions: int = 384) -> float:
    body = {"model": "e", "input": [first, second], "dimensions": dimensions}
    a, b = (item["embedding"] for item in client.post("/embeddings", json=body).json()["data"])
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_bags_of_words(http: httpx.Client) -> None:
    # Shared words make close vectors, whatever the case, stop words and plurals.
    close = _cosine(http, "The emulator records requests.", "What does the Emulator record?")
    unrelated = _cosine(http, "The emulator records requests.", "Bananas grow on trees.")
    assert close > 0.6
    assert abs(unrelated) < 0.2
    assert _cosine(http, "cats and dogs", "Dogs, CATS!") > 0.99
    # ... but not exactly 1, nor exactly 0 for texts sharing no word: no ties to break.
    assert _cosine(http, "cats and dogs", "Dogs, CATS!") != pytest.approx(1.0, abs=1e-9)
    assert unrelated != 0.0
    # Only stop words: still a defined unit vector, and texts still differ.
    assert _cosine(http, "the", "of the") < 0.99
    # dimensions is honoured and the vector stays unit length.
    small = http.post("/embeddings", json={"model": "e", "input": "hello world", "dimensions": 16})
    vector = small.json()["data"][0]["embedding"]
    assert len(vector) == 16
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-9)


# -- retrieval-shaped answers ----------------------------------------------------------------

CONTEXT = (
    "The emulator listens on 127.0.0.1 and picks a free port.\n"
    "Cassettes are replayed with every socket blocked. "
    "Retries honour the Retry-After header of a 429 answer.\n"
    "file_name: README.md"
)
LLAMA_QA = (
    "Context information is below.\n---------------------\n{context}\n---------------------\n"
    "Given the context information and not prior knowledge, answer the query.\n"
    "Query: {question}\nAnswer: "
)
LANGCHAIN_RAG = (
    "You are an assistant for question-answering tasks. Use the following pieces of "
    "retrieved context to answer the question. If you don't know the answer, just say "
    "that you don't know.\nQuestion: {question} \nContext: {context} \nAnswer:"
)
LANGCHAIN_ONLY_CONTEXT = (
    "Answer the question based only on the following context:\n{context}\n\nQuestion: {question}"
)


@pytest.mark.parametrize(
    "template", [LLAMA_QA, LANGCHAIN_RAG, LANGCHAIN_ONLY_CONTEXT], ids=["llama", "rlm", "lcel"]
)
def test_rag_prompt_gets_the_best_matching_context_sentence(
    http: httpx.Client, template: str
) -> None:
    prompt = template.format(context=CONTEXT, question="Which header do retries honour?")
    reply = chat(http, messages=[{"role": "user", "content": prompt}])
    assert _message(reply)["content"] == "Retries honour the Retry-After header of a 429 answer."
    prompt = template.format(context=CONTEXT, question="On which port does it listen?")
    reply = chat(http, messages=[{"role": "user", "content": prompt}])
    assert _message(reply)["content"] == "The emulator listens on 127.0.0.1 and picks a free port."


def test_rag_context_in_the_system_prompt(http: httpx.Client) -> None:
    # LlamaIndex's condense_plus_context chat engine: the instruction after the documents
    # is not part of them, even when it shares the question's words.
    system = (
        f"Here are the relevant documents for the context:\n\n{CONTEXT}\n\n"
        "Instruction: Based on the above documents, answer how cassettes are replayed."
    )
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "How are cassettes replayed?"},
    ]
    reply = chat(http, messages=messages)
    assert _message(reply)["content"] == "Cassettes are replayed with every socket blocked."


def test_rag_without_a_matching_sentence_says_so(http: httpx.Client) -> None:
    prompt = LLAMA_QA.format(context=CONTEXT, question="Who won the match?")
    reply = chat(http, messages=[{"role": "user", "content": prompt}])
    assert _message(reply)["content"] == 'The context does not answer "Who won the match?".'


# -- json_object shaped by the prompt --------------------------------------------------------


class Landmark(BaseModel):
    name: str
    city: str
    height_m: int


def test_json_object_follows_a_schema_in_the_prompt(http: httpx.Client) -> None:
    schema = json.dumps(Landmark.model_json_schema())
    content = (
        "The 'Eiffel Tower' in 'Paris' is 330 metres tall. Answer with a JSON object that "
        "conforms to this schema. As an example, "
        '{"properties": {"foo": {"type": "string"}}} is a schema; '
        f"here is the real one:\n```\n{schema}\n```"
    )
    reply = chat(
        http,
        messages=[{"role": "user", "content": content}],
        response_format={"type": "json_object"},
    )
    landmark = Landmark.model_validate_json(_message(reply)["content"])
    assert landmark == Landmark(name="Eiffel Tower", city="Paris", height_m=330)


def test_json_object_with_field_names_listed_in_words(http: httpx.Client) -> None:
    content = "Describe 'Ada Lovelace' of 'London' as JSON with the fields name, city and era."
    reply = chat(
        http,
        messages=[{"role": "user", "content": content}],
        response_format={"type": "json_object"},
    )
    assert json.loads(_message(reply)["content"]) == {
        "name": "Ada Lovelace",
        "city": "London",
        "era": "sample era",
    }


# -- LlamaIndex's ReAct format ---------------------------------------------------------------

TOOL_DESC = (
    "> Tool Name: multiply\nTool Description: multiply(a: int, b: int) -> int\n"
    'Tool Args: {"properties": {"a": {"title": "A", "type": "integer"}, '
    '"b": {"title": "B", "type": "integer"}}, "required": ["a", "b"], "type": "object"}\n\n'
    "> Tool Name: add\nTool Description: add(a: int, b: int) -> int\n"
    'Tool Args: {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, '
    '"type": "object"}\n'
)
# LlamaIndex's own ReAct header, as its ReActAgent formats it.
REACT_HEADER = REACT_CHAT_SYSTEM_HEADER.format(tool_desc=TOOL_DESC, tool_names="multiply, add")


def test_react_acts_then_answers_after_the_observation(http: httpx.Client) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": REACT_HEADER},
        {"role": "user", "content": "Use multiply: what is 6 times 7?"},
    ]
    step = _message(chat(http, messages=messages))["content"]
    thought, action, action_input = step.split("\n")
    assert thought.startswith("Thought: ")
    assert action == "Action: multiply"
    assert json.loads(action_input.removeprefix("Action Input: ")) == {"a": 6, "b": 7}
    messages += [
        {"role": "assistant", "content": step},
        {"role": "user", "content": "Observation: 42"},
    ]
    final = _message(chat(http, messages=messages))["content"]
    assert final == (
        "Thought: I can answer without using any more tools. "
        "I'll use the user's language to answer\nAnswer: 42"
    )


def test_react_without_a_mentioned_tool_answers_directly(http: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": REACT_HEADER},
        {"role": "user", "content": "Hello there"},
    ]
    content = _message(chat(http, messages=messages))["content"]
    assert content.endswith('\nAnswer: You asked: "Hello there".')
    assert content.startswith("Thought: I can answer without using any more tools.")


def test_condense_question_prompt_gets_the_follow_up_back(http: httpx.Client) -> None:
    prompt = (
        "Given the following conversation between a user and an AI assistant and a follow up "
        "question from user, rephrase the follow up question to be a standalone question.\n\n"
        "Chat History:\nuser: How tall is the Eiffel Tower?\nassistant: 330 metres.\n"
        "Follow Up Input: And how long is the Nile?\nStandalone question:"
    )
    reply = chat(http, messages=[{"role": "user", "content": prompt}])
    assert _message(reply)["content"] == "And how long is the Nile?"
