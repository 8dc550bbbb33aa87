"""Lenient response models: the service's quirks parse; nothing is lost."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import nugen_client
from nugen_client._chunks import StreamDecoder, TextStreamDecoder
from nugen_client._sse import Event
from nugen_client.types import (
    RESPONSE_METADATA_FIELDS,
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingResponse,
    ResponseHeader,
    TextCompletion,
    TextCompletionChunk,
    Usage,
    parse_tool_arguments,
)


def test_documented_vision_example_parses() -> None:
    body = {
        "choices": [
            {
                "finish_reason": "stop",
                "index": 0,
                "message": {"content": "A flowchart.", "role": "assistant"},
            }
        ],
        "created": 16286546649.54,
        "id": "nugen-1234",
        "model": "nugen-flash-vision",
        "usage": {"completion_tokens": 7, "prompt_tokens": 5, "total_tokens": 12},
    }
    completion = ChatCompletion.model_validate(body)
    assert completion.created == 16286546649.54
    assert completion.object is None
    assert completion.choices[0].message.text == "A flowchart."


def test_nebulablock_example_parses() -> None:
    body = {
        "id": "chatcmpl-7ba4",
        "created": 1740689977,
        "model": "Qwen/Qwen2.5-VL-7B-Instruct",
        "object": "chat.completion",
        "system_fingerprint": None,
        "choices": [
            {
                "finish_reason": "stop",
                "index": 0,
                "message": {
                    "content": "This image shows",
                    "role": "assistant",
                    "tool_calls": None,
                    "function_call": None,
                },
            }
        ],
        "usage": {
            "completion_tokens": 91,
            "prompt_tokens": 3604,
            "total_tokens": 3695,
            "completion_tokens_details": None,
            "prompt_tokens_details": None,
        },
        "service_tier": None,
        "prompt_logprobs": None,
    }
    completion = ChatCompletion.model_validate(body)
    assert completion.model_extra == {"prompt_logprobs": None}
    assert completion.choices[0].message.model_extra == {"function_call": None}
    assert completion.usage is not None
    assert completion.usage.reasoning_tokens is None


@pytest.mark.parametrize(
    "usage", [None, {"prompt_tokens": None, "completion_tokens": 3, "total_tokens": None}, {}]
)
def test_null_usage_forms(usage: object) -> None:
    completion = ChatCompletion.model_validate(
        {"choices": [{"message": {"content": "x"}}], "usage": usage}
    )
    if usage is None:
        assert completion.usage is None
    else:
        assert completion.usage is not None
        assert completion.usage.prompt_tokens == 0
        # No total sent: the parts' sum, in every adapter that reads it.
        assert completion.usage.total_tokens == completion.usage.completion_tokens


def test_reasoning_fields() -> None:
    a = ChatCompletion.model_validate(
        {"choices": [{"message": {"content": "x", "reasoning_content": "r1"}}]}
    )
    b = ChatCompletion.model_validate(
        {"choices": [{"message": {"content": "x", "reasoning": "r2"}}]}
    )
    c = ChatCompletion.model_validate(
        {"choices": [{"message": {"content": "x", "reasoning": {"steps": []}}}]}
    )
    assert a.choices[0].message.reasoning_text == "r1"
    assert b.choices[0].message.reasoning_text == "r2"
    assert c.choices[0].message.reasoning_text is None


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"reasoning_content": "", "reasoning": "r"}, "r"),
        ({"reasoning_content": None, "reasoning": "r"}, "r"),
        ({"reasoning_content": "c", "reasoning": "r"}, "c"),
        ({"reasoning_content": "", "reasoning": ""}, ""),
        ({"reasoning_content": None, "reasoning": ""}, ""),
    ],
)
def test_an_empty_reasoning_field_does_not_hide_the_other(
    fields: dict[str, Any], text: str
) -> None:
    whole = ChatCompletion.model_validate({"choices": [{"message": {"content": "x", **fields}}]})
    chunk = ChatCompletionChunk.model_validate({"choices": [{"delta": fields}]})
    assert whole.choices[0].message.reasoning_text == text
    assert chunk.choices[0].delta.reasoning_text == text


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"reasoning": [{"type": "reasoning.text", "text": "r"}]}, None),
        ({"reasoning": {"text": "r"}}, None),
        ({"reasoning": 5}, None),
        ({"reasoning_content": {"text": "r"}}, None),
        ({"reasoning_content": [{"type": "text", "text": "r"}], "reasoning": "s"}, "s"),
    ],
)
def test_reasoning_in_another_shape_is_kept_and_does_not_refuse_the_answer(
    fields: dict[str, Any], text: str | None
) -> None:
    # Hosts also send objects or lists there: the answer is still read (as ChatOpenAI
    # reads it), the value kept as sent, and only a string counts as reasoning text.
    whole = ChatCompletion.model_validate({"choices": [{"message": {"content": "x", **fields}}]})
    chunk = ChatCompletionChunk.model_validate({"choices": [{"delta": fields}]})
    for part in (whole.choices[0].message, chunk.choices[0].delta):
        assert {name: getattr(part, name) for name in fields} == fields
        assert part.reasoning_text == text


def test_reasoning_token_details() -> None:
    usage = Usage.model_validate(
        {
            "prompt_tokens": 1,
            "completion_tokens": 9,
            "total_tokens": 10,
            "completion_tokens_details": {"reasoning_tokens": 6},
            "prompt_tokens_details": {"cached_tokens": 1},
        }
    )
    assert usage.reasoning_tokens == 6
    assert usage.cached_tokens == 1


def test_content_as_parts() -> None:
    completion = ChatCompletion.model_validate(
        {
            "choices": [
                {
                    "message": {
                        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
                    }
                }
            ]
        }
    )
    assert completion.choices[0].message.text == "ab"


def test_streamed_content_as_parts_is_read_as_their_text() -> None:
    # Hosts that answer with a list of parts stream the same form (a reasoning model's
    # thinking part beside its text): read as the whole answer's text is, not refused.
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}
    parts = [thinking, {"type": "text", "text": "a"}, {"type": "text", "text": None}]
    chunk = ChatCompletionChunk.model_validate({"choices": [{"delta": {"content": parts}}]})
    assert chunk.choices[0].delta.content == "a"


def test_content_parts_without_string_text_read_as_no_text() -> None:
    """A text part whose text is null (or not a string) adds nothing, rather than
    breaking every reader of the message with a TypeError."""
    parts = [
        {"type": "text", "text": None},
        {"type": "text", "text": "a"},
        {"type": "text", "text": 5},
        {"type": "text"},
    ]
    completion = ChatCompletion.model_validate({"choices": [{"message": {"content": parts}}]})
    assert completion.choices[0].message.text == "a"


def test_tool_arguments_as_object() -> None:
    completion = ChatCompletion.model_validate(
        {
            "choices": [
                {
                    "message": {
                        "tool_calls": [
                            {"id": "1", "function": {"name": "f", "arguments": {"a": 1}}}
                        ]
                    }
                }
            ]
        }
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.arguments == '{"a": 1}'


def test_tool_call_nulls_read_as_absent_as_in_a_stream() -> None:
    """Hosts send ``"arguments": null`` for a call without arguments, and ``"id": null``: a
    stream's fragments take both, so a whole answer does too, rather than failing."""
    call = {"id": None, "type": "function", "function": {"name": None, "arguments": None}}
    completion = ChatCompletion.model_validate({"choices": [{"message": {"tool_calls": [call]}}]})
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert (calls[0].id, calls[0].function.name, calls[0].function.arguments) == ("", "", "")


def test_embeddings_sorted_by_index() -> None:
    response = EmbeddingResponse.model_validate(
        {
            "data": [{"embedding": [2.0], "index": 1}, {"embedding": [1.0], "index": 0}],
            "usage": {"total_tokens": 2},
        }
    )
    assert response.embeddings == [[1.0], [2.0]]


@pytest.mark.parametrize(
    "error",
    [
        nugen_client.RateLimitError(
            "429 slow", status_code=429, body={"detail": "x"}, request_id="r"
        ),
        nugen_client.StreamInterruptedError("cut", chunks_received=3),
        nugen_client.APITimeoutError("slow"),
        nugen_client.InvalidInputError("bad"),
        nugen_client.APIResponseValidationError("junk", body="x"),
    ],
)
def test_errors_pickle(error: Exception) -> None:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert clone.__dict__.keys() == error.__dict__.keys()


def test_error_hierarchy() -> None:
    assert issubclass(nugen_client.APITimeoutError, nugen_client.APIConnectionError)
    for name in nugen_client.__all__:
        obj = getattr(nugen_client, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, nugen_client.NugenError), name


HEADER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1785908339,
    "model": "llama-3.2-3b-reasoning",
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    "confidence_score": 0.75,
    "system_fingerprint": "fp_1",
    "service_tier": "default",
}


@pytest.mark.parametrize("model", [ChatCompletion, ChatCompletionChunk])
def test_completion_and_chunk_read_the_same_header(model: type[ChatCompletion]) -> None:
    parsed = model.model_validate({**HEADER, "choices": []})
    assert parsed.model_dump(exclude={"choices"}, exclude_none=True) == HEADER
    assert list(parsed.header_metadata()) == list(RESPONSE_METADATA_FIELDS)
    assert parsed.header_metadata() == {name: HEADER[name] for name in RESPONSE_METADATA_FIELDS}


@pytest.mark.parametrize(
    "decode",
    [
        ChatCompletion.model_validate_json,
        TextCompletion.model_validate_json,
        lambda data: StreamDecoder().decode(Event(data)),
        lambda data: TextStreamDecoder().decode(Event(data)),
    ],
    ids=["chat", "text", "chat-chunk", "text-chunk"],
)
@pytest.mark.parametrize(
    "sent",
    [
        {"confidence": 0.5},
        {"confidence_score": 0.5},
        {"confidence": 0.5, "confidence_score": None},
        {"confidence": None, "confidence_score": 0.5},
    ],
)
def test_confidence_is_read_under_either_name_when_the_other_is_null(
    decode: Callable[[str], ResponseHeader], sent: dict
) -> None:
    # The live service says ``confidence``, the reference ``confidence_score``: a host
    # sending both, one of them null, still gives the score.
    parsed = decode(json.dumps({**sent, "choices": []}))
    assert parsed.confidence_score == 0.5
    assert parsed.header_metadata()["confidence_score"] == 0.5


def test_header_metadata_leaves_out_what_the_host_did_not_send() -> None:
    # The live vision answer: nulls for the OpenAI fields, no confidence, an id and a time.
    completion = ChatCompletion.model_validate(
        {"id": "", "created": 1783497981, "system_fingerprint": None, "service_tier": None}
    )
    assert completion.header_metadata() == {"created": 1783497981}


@pytest.mark.parametrize(
    ("model", "choice"),
    [
        (TextCompletion, {"index": 0, "message": {"role": "assistant", "content": "Hi"}}),
        (TextCompletionChunk, {"index": 0, "delta": {"content": "Hi"}}),
        (ChatCompletion, {"index": 0, "text": "Hi"}),
    ],
)
def test_a_choice_of_the_other_endpoint_is_refused(model: type[BaseModel], choice: dict) -> None:
    with pytest.raises(ValidationError, match="another endpoint"):
        model.model_validate({"choices": [choice]})


def test_text_choices_may_omit_text_or_send_null() -> None:
    chunk = TextCompletionChunk.model_validate(
        {"choices": [{"index": 0, "finish_reason": "stop"}, {"index": 1, "text": None}]}
    )
    assert [choice.text for choice in chunk.choices] == ["", ""]


def test_tool_arguments_may_hold_raw_control_characters() -> None:
    """Models write code with literal newlines and tabs inside JSON strings; LangChain's
    OpenAI tool parser reads them (``strict=False``), so the call runs here too."""
    arguments = '{"code": "print(1)\nprint(2)", "indent": "\t"}'
    assert parse_tool_arguments(arguments) == {"code": "print(1)\nprint(2)", "indent": "\t"}
    with pytest.raises(ValueError, match="not complete, valid JSON"):
        parse_tool_arguments('{"code": "print(1)\n')
