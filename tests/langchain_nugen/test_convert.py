"""The pure LangChain <-> wire conversions, one rule at a time."""

from __future__ import annotations

import base64
import copy
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_nugen._compat import translate_content, translate_content_chunk
from langchain_nugen._convert import (
    completion_to_chat_result,
    to_wire_message,
    to_wire_messages,
    usage_to_metadata,
)
from langchain_nugen._stream import StreamConverter
from nugen_client import InvalidInputError
from nugen_client.types import ChatCompletion, ChatCompletionChunk

PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
    "hgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_DATA_URL = f"data:image/png;base64,{PNG_B64}"
JPEG_B64 = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 16).decode()
URL = "https://example.com/cat.jpg"


def user_parts(*blocks: Any) -> list[dict[str, Any]]:
    wire = to_wire_message(HumanMessage(content=list(blocks)))
    assert wire["role"] == "user"
    return wire["content"]


# ------------------------------------------------------------------------- roles


def test_roles_and_names() -> None:
    messages: list[BaseMessage] = [
        SystemMessage("be brief", name="policy"),
        HumanMessage("hi", name="alice_1"),
        AIMessage("hello", name="bot"),
        ChatMessage(role="developer", content="dev note"),
        ChatMessage(role="human", content="generic user"),
    ]
    assert to_wire_messages(messages) == [
        {"role": "system", "content": "be brief", "name": "policy"},
        {"role": "user", "content": "hi", "name": "alice_1"},
        {"role": "assistant", "content": "hello", "name": "bot"},
        {"role": "system", "content": "dev note"},
        {"role": "user", "content": "generic user"},
    ]


def test_system_list_content_is_joined_text() -> None:
    wire = to_wire_message(SystemMessage(content=["a", {"type": "text", "text": "b"}]))
    assert wire == {"role": "system", "content": "ab"}


def test_system_image_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.content\[0\].*text only"):
        to_wire_message(SystemMessage(content=[{"type": "image", "url": URL}]))


@pytest.mark.parametrize("role", ["assistant", "AI"])
def test_an_assistant_chat_message_is_an_assistant_turn(role: str) -> None:
    # As ChatOpenAI sends it (ChatMessagePromptTemplate(role="assistant") makes one).
    content: list[Any] = ["Hello", {"type": "text", "text": " there"}]
    assert to_wire_messages([ChatMessage(role=role, content=content, name="bot")]) == [
        {"role": "assistant", "content": "Hello there", "name": "bot"}
    ]


@pytest.mark.parametrize("role", ["tool", "function", "critic"])
def test_chat_message_roles_that_cannot_map(role: str) -> None:
    with pytest.raises(InvalidInputError, match="ChatMessage role"):
        to_wire_message(ChatMessage(role=role, content="x"))


def test_function_message_is_refused_with_advice() -> None:
    with pytest.raises(InvalidInputError, match="ToolMessage"):
        to_wire_message(FunctionMessage(name="f", content="1"))


def test_error_names_the_message_position() -> None:
    messages = [HumanMessage("ok"), HumanMessage(content=[{"type": "audio", "base64": "AAAA"}])]
    with pytest.raises(InvalidInputError, match=r"messages\[1\]\.content\[0\]: 'audio' blocks"):
        to_wire_messages(messages)


# ------------------------------------------------------------------------ images


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"type": "image_url", "image_url": URL}, {"url": URL}),
        ({"type": "image_url", "image_url": {"url": URL}}, {"url": URL}),
        (
            {"type": "image_url", "image_url": {"url": URL, "detail": "low"}},
            {"url": URL, "detail": "low"},
        ),
        ({"type": "image_url", "image_url": PNG_DATA_URL}, {"url": PNG_DATA_URL}),
        ({"type": "image", "url": URL}, {"url": URL}),
        (
            {"type": "image", "url": URL, "extras": {"detail": "high"}},
            {"url": URL, "detail": "high"},
        ),
        ({"type": "image", "base64": PNG_B64, "mime_type": "image/png"}, {"url": PNG_DATA_URL}),
        # mime type sniffed from the bytes when the block does not say
        ({"type": "image", "base64": PNG_B64}, {"url": PNG_DATA_URL}),
        ({"type": "image", "source_type": "url", "url": URL}, {"url": URL}),
        (
            {"type": "image", "source_type": "base64", "data": JPEG_B64, "mime_type": "image/jpeg"},
            {"url": f"data:image/jpeg;base64,{JPEG_B64}"},
        ),
        (
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
            },
            {"url": PNG_DATA_URL},
        ),
        ({"type": "image", "source": {"type": "url", "url": URL}}, {"url": URL}),
    ],
)
def test_every_image_form_becomes_an_image_url_part(
    block: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(block)
    parts = user_parts({"type": "text", "text": "Describe"}, block)
    assert parts == [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": expected},
    ]
    assert block == before  # never mutated


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"type": "image", "file_id": "file-123"}, "file_id"),
        ({"type": "image", "source_type": "id", "id": "file-123"}, "source_type 'id'"),
        ({"type": "image"}, "no url or base64"),
        ({"type": "image_url", "image_url": "http://example.com/a.png"}, "https://"),
        ({"type": "image", "base64": "not base64!!"}, "not valid base64"),
        (
            {"type": "image", "base64": base64.b64encode(b"plain text").decode()},
            "not a recognised image",
        ),
        ({"type": "image_url", "image_url": {"detail": "low"}}, "image_url must be"),
        ({"type": "image", "url": 5}, "the image's url must be a string, got int"),
        ({"type": "image", "base64": 5, "mime_type": "image/png"}, "base64 data must be a string"),
        ({"type": "image", "source_type": "url", "url": 5}, "url must be a string, got int"),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": 5}},
            "base64 data must be a string",
        ),
        ({"type": "image", "source": {"type": "file", "file_id": "f"}}, "of type 'file'"),
        ({"type": "image", "source_type": "base64"}, "malformed block (KeyError('data'))"),
    ],
)
def test_bad_images_fail_locally_naming_the_block(block: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.content\[0\]") as raised:
        user_parts(block)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf"},
        {
            "type": "file",
            "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,AA"},
        },
        {"type": "file", "file_id": "file-abc"},
        {"type": "video", "url": "https://example.com/v.mp4"},
        {"type": "mystery"},
    ],
)
def test_unsupported_blocks_are_refused(block: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.content\[0\]"):
        user_parts(block)


def test_plain_strings_and_text_blocks_in_user_content() -> None:
    parts = user_parts(
        "one", {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}}
    )
    assert parts == [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]


def test_text_plain_blocks_are_text_given_inline_or_as_base64() -> None:
    # LangChain's standard plain-text block carries its text or base64 data (the same
    # text as the LlamaIndex adapter's text/plain DocumentBlock): both are sent as text.
    encoded = base64.b64encode("héllo\nworld".encode()).decode()
    blocks = [
        {"type": "text-plain", "text": "notes", "mime_type": "text/plain"},
        {"type": "text-plain", "base64": encoded, "mime_type": "text/markdown"},
    ]
    expected = [{"type": "text", "text": "notes"}, {"type": "text", "text": "héllo\nworld"}]
    assert user_parts(*blocks) == expected
    tool = ToolMessage(content=blocks, tool_call_id="c1")
    assert to_wire_message(tool)["content"] == "noteshéllo\nworld"
    assert to_wire_message(SystemMessage(content=blocks))["content"] == "noteshéllo\nworld"


@pytest.mark.parametrize(
    ("block", "error"),
    [
        ({"type": "text-plain", "base64": "bm90IGJhc2U2NA=!"}, "base64 is not valid"),
        ({"type": "text-plain", "base64": base64.b64encode(b"\xff\xfe").decode()}, "UTF-8"),
        ({"type": "text-plain", "url": "https://example.com/a.txt"}, "text or base64 data"),
        ({"type": "text-plain", "file_id": "file-1", "mime_type": "text/plain"}, "text or base64"),
    ],
    ids=["bad-base64", "not-utf8", "url", "file-id"],
)
def test_text_plain_blocks_without_usable_text_are_refused_naming_them(
    block: dict[str, Any], error: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[0\]\.content\[1\]: a text-plain") as e:
        user_parts("see:", block)
    assert error in str(e.value)


@pytest.mark.parametrize(
    "block", [{"type": "text"}, {"type": "text", "text": None}, {"type": "text", "text": 5}]
)
@pytest.mark.parametrize(
    ("messages", "where"),
    [
        (lambda block: [SystemMessage(content=[block])], "messages[0].content[0]"),
        (lambda block: [HumanMessage(content=["a", block])], "messages[0].content[1]"),
        (lambda block: [HumanMessage("q"), AIMessage(content=[block])], "messages[1].content[0]"),
        (
            lambda block: [
                AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "c1"}]),
                ToolMessage(content=[block], tool_call_id="c1"),
            ],
            "messages[1].content[0]",
        ),
    ],
    ids=["system", "user", "assistant", "tool"],
)
def test_text_block_without_string_text_is_refused_naming_it(
    block: dict[str, Any], messages: Any, where: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        to_wire_messages(messages(block))
    assert f"{where}: a text block's 'text' must be a string" in str(raised.value)


# -------------------------------------------------------------------- tool calls


def test_assistant_tool_calls_round_trip_with_tool_results() -> None:
    messages: list[BaseMessage] = [
        HumanMessage("What is 1 + 2?"),
        AIMessage(
            "",
            tool_calls=[
                {"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1", "type": "tool_call"}
            ],
        ),
        ToolMessage("3", tool_call_id="call_1", name="add"),
    ]
    assert to_wire_messages(messages)[1:] == [
        {
            "role": "assistant",
            "content": None,  # a turn of calls only: null content, as OpenAI sends
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "3"},
    ]


def test_tool_arguments_nested_too_deeply_are_an_invalid_call_not_a_crash() -> None:
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    call = {"id": "c", "type": "function", "function": {"name": "add", "arguments": deep}}
    result = completion_to_chat_result(completion({"content": None, "tool_calls": [call]}))
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    assert message.tool_calls == []
    ((name, args, error),) = [
        (c["name"], c["args"], c["error"]) for c in message.invalid_tool_calls
    ]
    assert (name, args) == ("add", deep)
    assert "nested too deeply" in str(error)
    # Streamed: an invalid call too, in the sum of the chunks.
    fragment = {"index": 0, "id": "c", "function": {"name": "add", "arguments": deep}}
    summed = add_up(run_stream([chunk({"tool_calls": [fragment]}, finish="tool_calls")]))
    assert summed.tool_calls == []
    assert [c["name"] for c in summed.invalid_tool_calls] == ["add"]


def test_invalid_tool_calls_go_back_with_their_raw_arguments() -> None:
    message = AIMessage(
        "",
        invalid_tool_calls=[
            {
                "name": "add",
                "args": "{bad",
                "id": "call_9",
                "error": "x",
                "type": "invalid_tool_call",
            }
        ],
    )
    assert to_wire_message(message)["tool_calls"] == [
        {"id": "call_9", "type": "function", "function": {"name": "add", "arguments": "{bad"}}
    ]


def test_v1_tool_call_blocks_become_tool_calls() -> None:
    message = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "I should add."},
            {"type": "text", "text": "Adding."},
            {"type": "tool_call", "id": "call_2", "name": "add", "args": {"a": 2}},
        ]
    )
    wire = to_wire_message(message)
    assert wire["content"] == "Adding."  # reasoning is not sent back
    assert wire["tool_calls"] == [
        {"id": "call_2", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}
    ]


def test_v1_tool_call_blocks_are_not_duplicated_when_tool_calls_has_them() -> None:
    call = {"type": "tool_call", "id": "call_3", "name": "f", "args": {}}
    message = AIMessage(content=[call], tool_calls=[{"name": "f", "args": {}, "id": "call_3"}])
    assert len(to_wire_message(message)["tool_calls"]) == 1


def test_anthropic_style_assistant_content_keeps_text_and_tool_calls() -> None:
    message = AIMessage(
        content=[
            {"type": "text", "text": "some text"},
            {"type": "tool_use", "id": "abc123", "name": "adder", "input": {"a": 1}},
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        ],
        tool_calls=[{"name": "adder", "args": {"a": 1}, "id": "abc123", "type": "tool_call"}],
    )
    wire = to_wire_message(message)
    assert wire["content"] == "some text"
    assert [call["id"] for call in wire["tool_calls"]] == ["abc123"]


def test_assistant_image_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="assistant message carries text"):
        to_wire_message(AIMessage(content=[{"type": "image", "url": URL}]))


def test_unicode_arguments_are_sent_readably() -> None:
    message = AIMessage("", tool_calls=[{"name": "f", "args": {"name": "你好"}, "id": "c"}])
    assert to_wire_message(message)["tool_calls"][0]["function"]["arguments"] == '{"name": "你好"}'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("plain", "plain"),
        ([{"type": "text", "text": "a"}, "b"], "ab"),
        ([{"result": 3}], '{"result": 3}'),
        ([{"city": "東京"}], '{"city": "東京"}'),  # readable, as tool call arguments are
    ],
)
def test_tool_message_content(content: Any, expected: Any) -> None:
    assert to_wire_message(ToolMessage(content=content, tool_call_id="t"))["content"] == expected


def test_tool_message_with_an_image_keeps_parts() -> None:
    wire = to_wire_message(
        ToolMessage(
            content=[{"type": "image", "base64": PNG_B64, "mime_type": "image/png"}],
            tool_call_id="t",
        )
    )
    assert wire["content"] == [{"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]


def test_tool_message_error_status_is_stated() -> None:
    failed = to_wire_message(ToolMessage("division by zero", tool_call_id="t", status="error"))
    assert failed["content"] == "Error: division by zero"
    already = to_wire_message(ToolMessage("Error: missing b", tool_call_id="t", status="error"))
    assert already["content"] == "Error: missing b"
    fine = to_wire_message(ToolMessage("division by zero", tool_call_id="t"))
    assert fine["content"] == "division by zero"


def test_tool_message_error_status_with_parts_is_stated_first() -> None:
    image = {"type": "image", "base64": PNG_B64, "mime_type": "image/png"}
    wire = to_wire_message(ToolMessage(content=[image], tool_call_id="t", status="error"))
    assert wire["content"] == [
        {"type": "text", "text": "Error:"},
        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    ]


def test_assistant_list_content_keeps_plain_strings_and_other_types_are_refused() -> None:
    wire = to_wire_message(AIMessage(["Hello, ", {"type": "text", "text": "world"}]))
    assert wire["content"] == "Hello, world"

    class Other(BaseMessage):
        type: str = "other"

    with pytest.raises(InvalidInputError, match=r"messages\[0\]: unsupported message type Other"):
        to_wire_message(Other("hi"))


def test_tool_message_with_pdf_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not supported"):
        to_wire_message(
            ToolMessage(
                content=[{"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf"}],
                tool_call_id="t",
            )
        )


def test_inputs_are_never_mutated() -> None:
    messages: list[BaseMessage] = [
        SystemMessage("s"),
        HumanMessage(
            content=[{"type": "text", "text": "t"}, {"type": "image", "url": URL}], name="u"
        ),
        AIMessage(
            content=[{"type": "text", "text": "x"}],
            tool_calls=[{"name": "f", "args": {"k": [1]}, "id": "c"}],
        ),
        ToolMessage(content=[{"type": "text", "text": "r"}], tool_call_id="c", status="error"),
    ]
    before = copy.deepcopy(messages)
    to_wire_messages(messages)
    to_wire_messages(messages)
    assert messages == before


# ----------------------------------------------------------------------- outputs


def completion(message: dict[str, Any], **extra: Any) -> ChatCompletion:
    body = {
        "id": "nugen-1",
        "created": 16286546649.54,
        "model": "nugen-legal",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        **extra,
    }
    return ChatCompletion.model_validate(body)


def test_completion_text_metadata_and_usage() -> None:
    result = completion_to_chat_result(
        completion(
            {"role": "assistant", "content": "Paris."},
            usage={"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
            confidence_score=89.5454,
            system_fingerprint="fp_1",
        )
    )
    (generation,) = result.generations
    message = generation.message
    assert isinstance(message, AIMessage)
    assert message.content == "Paris."
    assert message.usage_metadata == {"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}
    assert message.response_metadata == {
        "model_provider": "nugen",
        "model_name": "nugen-legal",
        "finish_reason": "stop",
        "id": "nugen-1",
        "created": 16286546649.54,
        "system_fingerprint": "fp_1",
        "confidence_score": 89.5454,
    }
    assert generation.generation_info == {"finish_reason": "stop"}
    assert result.llm_output is not None
    assert result.llm_output["token_usage"]["total_tokens"] == 28


def test_completion_without_usage_or_model_name() -> None:
    body = completion({"role": "assistant", "content": "x"}, usage=None)
    body.model = ""
    (generation,) = completion_to_chat_result(body, "nugen-flash-instruct").generations
    assert generation.message.response_metadata["model_name"] == "nugen-flash-instruct"
    assert isinstance(generation.message, AIMessage)
    assert generation.message.usage_metadata is None


def test_usage_details_cache_and_reasoning() -> None:
    from nugen_client.types import Usage

    usage = Usage.model_validate(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 40, "audio_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )
    assert usage_to_metadata(usage) == {
        "input_tokens": 100,
        "output_tokens": 50,
        "total_tokens": 150,
        "input_token_details": {"cache_read": 40},
        "output_token_details": {"reasoning": 30},
    }


def test_null_usage_details_from_openai_compatible_hosts() -> None:
    from nugen_client.types import Usage

    usage = Usage.model_validate(
        {
            "prompt_tokens": 3,
            "completion_tokens": None,
            "total_tokens": None,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        }
    )
    assert usage_to_metadata(usage) == {"input_tokens": 3, "output_tokens": 0, "total_tokens": 3}


def test_tool_calls_valid_empty_and_malformed() -> None:
    result = completion_to_chat_result(
        completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "a",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"x": 1}'},
                    },
                    {"id": "b", "type": "function", "function": {"name": "now", "arguments": ""}},
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "bad", "arguments": '{"x": '},
                    },
                    {
                        "id": "d",
                        "type": "function",
                        "function": {"name": "list", "arguments": "[1, 2]"},
                    },
                    # some hosts send the arguments as an object
                    {
                        "id": "e",
                        "type": "function",
                        "function": {"name": "obj", "arguments": {"y": 2}},
                    },
                ],
            }
        )
    )
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    assert message.content == ""
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("add", {"x": 1}, "a"),
        ("now", {}, "b"),
        ("obj", {"y": 2}, "e"),
    ]
    assert [(c["name"], c["args"], c["id"]) for c in message.invalid_tool_calls] == [
        ("bad", '{"x": ', "c"),
        ("list", "[1, 2]", "d"),
    ]
    errors = [call["error"] for call in message.invalid_tool_calls]
    assert len(errors) == 2
    assert errors[0].startswith("the arguments are not complete, valid JSON (")
    assert errors[1] == "the arguments must be a JSON object, got list"


def test_calls_without_an_id_get_deterministic_ones_whole_and_streamed() -> None:
    # An agent answers each call by its id: a host that sends none gets the LlamaIndex
    # adapter's ids, call_<response id>_<position>, invalid calls included.
    calls = [
        {"type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "", "type": "function", "function": {"name": "g", "arguments": '{"x": '}},
        {"id": "kept", "type": "function", "function": {"name": "h", "arguments": "{}"}},
    ]
    whole = completion({"role": "assistant", "content": None, "tool_calls": calls})
    message = completion_to_chat_result(whole).generations[0].message
    assert isinstance(message, AIMessage)
    assert [c["id"] for c in message.tool_calls] == ["call_nugen-1_0", "kept"]
    assert [c["id"] for c in message.invalid_tool_calls] == ["call_nugen-1_1"]
    fragments = [{"index": n, **call} for n, call in enumerate(calls)]
    messages = run_stream([chunk({"tool_calls": fragments}, finish="tool_calls")])
    streamed = add_up(messages)
    assert [c["id"] for c in streamed.tool_calls] == ["call_nugen-s_0", "kept"]
    assert [c["id"] for c in streamed.invalid_tool_calls] == ["call_nugen-s_1"]
    # In v1 content, the last chunk's ids continue the calls' blocks (no nameless call).
    assert [(b["type"], b.get("id")) for b in translate_content_chunk(messages[-1])] == [
        ("tool_call_chunk", "call_nugen-s_0"),
        ("tool_call_chunk", "call_nugen-s_1"),
    ]


def test_reasoning_from_either_field() -> None:
    for field in ("reasoning_content", "reasoning"):
        message = (
            completion_to_chat_result(
                completion({"role": "assistant", "content": "42", field: "6 * 7"})
            )
            .generations[0]
            .message
        )
        assert message.additional_kwargs == {"reasoning_content": "6 * 7"}
        assert message.content_blocks == [
            {"type": "reasoning", "reasoning": "6 * 7"},
            {"type": "text", "text": "42"},
        ]


def test_several_choices_become_several_generations() -> None:
    body = ChatCompletion.model_validate(
        {
            "model": "m",
            "choices": [
                {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
                {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    )
    generations = completion_to_chat_result(body).generations
    assert [g.message.content for g in generations] == ["a", "b"]
    assert [g.message.response_metadata["finish_reason"] for g in generations] == ["stop", "length"]


def test_v1_translation_of_a_whole_message() -> None:
    message = AIMessage(
        content="text",
        additional_kwargs={"reasoning_content": "why"},
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
        invalid_tool_calls=[
            {"name": "g", "args": "{", "id": "c2", "error": "bad", "type": "invalid_tool_call"}
        ],
        response_metadata={"model_provider": "nugen"},
    )
    assert translate_content(message) == [
        {"type": "reasoning", "reasoning": "why"},
        {"type": "text", "text": "text"},
        {"type": "tool_call", "id": "c1", "name": "f", "args": {"a": 1}},
        {"type": "invalid_tool_call", "id": "c2", "name": "g", "args": "{", "error": "bad"},
    ]


# -------------------------------------------------------------------- streaming


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "nugen-s",
            "created": 1.5,
            "model": "nugen-flash-instruct",
            "choices": choices,
            **extra,
        }
    )


def run_stream(
    chunks: list[ChatCompletionChunk], *, stream_usage: bool = True
) -> list[AIMessageChunk]:
    converter = StreamConverter(stream_usage=stream_usage)
    out = []
    for item in chunks:
        generation = converter.convert(item)
        if generation is not None:
            assert isinstance(generation.message, AIMessageChunk)
            out.append(generation.message)
    final = converter.final().message
    assert isinstance(final, AIMessageChunk)
    return [*out, final]


def add_up(messages: list[AIMessageChunk]) -> AIMessageChunk:
    full = messages[0]
    for message in messages[1:]:
        full = full + message
    return full


def test_text_stream_ends_with_one_last_chunk_carrying_usage_and_metadata() -> None:
    messages = run_stream(
        [
            chunk({"role": "assistant"}),
            chunk({"content": "Once"}),
            chunk({"content": " upon"}),
            chunk(
                {"content": " a time"},
                finish="stop",
                usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            ),
        ]
    )
    assert [m.content for m in messages] == ["Once", " upon", " a time", ""]
    assert [m.chunk_position for m in messages] == [None, None, None, "last"]
    assert [m.usage_metadata is not None for m in messages] == [False, False, False, True]
    assert ["model_name" in m.response_metadata for m in messages] == [False, False, False, True]
    full = add_up(messages)
    assert full.content == "Once upon a time"
    assert full.usage_metadata == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert full.response_metadata["model_provider"] == "nugen"
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.response_metadata["id"] == "nugen-s"


def test_usage_in_a_separate_choiceless_chunk_openai_style() -> None:
    messages = run_stream(
        [
            chunk({"role": "assistant", "content": "Hi"}),
            chunk({}, finish="stop"),
            chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}),
        ]
    )
    assert [m.content for m in messages] == ["Hi", ""]
    assert messages[-1].usage_metadata == {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}


def test_stream_usage_off_leaves_usage_out() -> None:
    """Only the usage: text stays, alone or beside reasoning or a tool call's fragment."""
    call = {"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "{}"}}
    messages = run_stream(
        [
            chunk({"content": "x", "reasoning_content": "r"}),
            chunk({"content": "y", "tool_calls": [call]}),
            chunk(
                {"content": "z"},
                finish="stop",
                usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            ),
        ],
        stream_usage=False,
    )
    assert [m.content for m in messages] == ["x", "y", "z", ""]
    assert [m.usage_metadata for m in messages] == [None, None, None, None]
    assert messages[-1].response_metadata["finish_reason"] == "stop"


SPLIT_CALLS: list[list[dict[str, Any]]] = [
    # id and name first, arguments split mid-key, mid-string and mid-escape
    [
        {
            "index": 0,
            "id": "call_a",
            "type": "function",
            "function": {"name": "search", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": '{"qu'}},
        {"index": 0, "function": {"arguments": 'ery": "caf\\u00'}},
        {"index": 0, "function": {"arguments": 'e9 \\"best\\""'}},
        {"index": 0, "function": {"arguments": "}"}},
    ],
    # two parallel calls interleaved, each arriving in pieces
    [
        {"index": 0, "id": "call_a", "function": {"name": "search", "arguments": '{"query": '}},
        {"index": 1, "id": "call_b", "function": {"name": "add", "arguments": '{"a": 1'}},
        {"index": 0, "function": {"arguments": '"café \\"best\\""}'}},
        {"index": 1, "function": {"arguments": ', "b": 2}'}},
    ],
]


@pytest.mark.parametrize("fragments", SPLIT_CALLS)
def test_tool_call_fragments_assemble_into_whole_calls(fragments: list[dict[str, Any]]) -> None:
    chunks = [chunk({"role": "assistant", "content": None})]
    chunks += [chunk({"tool_calls": [fragment]}) for fragment in fragments]
    chunks.append(chunk({}, finish="tool_calls"))
    messages = run_stream(chunks)
    full = add_up(messages)
    calls = {call["id"]: call for call in full.tool_calls}
    assert calls["call_a"]["name"] == "search"
    assert calls["call_a"]["args"] == {"query": 'café "best"'}
    if "call_b" in calls:
        assert calls["call_b"]["args"] == {"a": 1, "b": 2}
        assert len(calls) == 2
    assert full.invalid_tool_calls == []
    assert full.response_metadata["finish_reason"] == "tool_calls"
    # every streamed piece carries its call's index; ids only on the first piece of a call
    pieces = [tc for m in messages for tc in m.tool_call_chunks]
    assert [piece["index"] for piece in pieces] == [f["index"] for f in fragments]
    first_of_each_call = [p for p in pieces if p["id"]]
    assert [(p["id"], p["name"]) for p in first_of_each_call] == [
        (call_id, calls[call_id]["name"]) for call_id in calls
    ]


def test_parallel_calls_all_at_index_zero_stay_apart() -> None:
    # Some hosts send every call at index 0 and tell them apart only by id.
    chunks = [
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"n": 1}'}}
                ]
            }
        ),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c2", "function": {"name": "f", "arguments": '{"n": 2}'}}
                ]
            }
        ),
        chunk({}, finish="tool_calls"),
    ]
    full = add_up(run_stream(chunks))
    assert [(c["id"], c["args"]) for c in full.tool_calls] == [("c1", {"n": 1}), ("c2", {"n": 2})]


def test_one_chunk_holding_a_whole_call() -> None:
    chunks = [
        chunk(
            {
                "role": "assistant",
                "tool_calls": [
                    {"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            finish="tool_calls",
        )
    ]
    full = add_up(run_stream(chunks))
    assert full.tool_calls == [{"name": "f", "args": {}, "id": "c", "type": "tool_call"}]


def test_streamed_reasoning_in_v0_and_v1() -> None:
    messages = run_stream(
        [
            chunk({"role": "assistant", "reasoning_content": "Let me "}),
            chunk({"reasoning": "think."}),
            chunk({"content": "42"}, finish="stop"),
        ]
    )
    full = add_up(messages)
    assert full.additional_kwargs["reasoning_content"] == "Let me think."
    assert full.content == "42"
    assert translate_content_chunk(full) == [
        {"type": "reasoning", "reasoning": "Let me think."},
        {"type": "text", "text": "42"},
    ]


def test_v1_chunk_translation_keeps_tool_call_chunks_apart_from_text() -> None:
    piece = AIMessageChunk(
        content="",
        tool_call_chunks=[
            {"name": "f", "args": '{"a"', "id": "c", "index": 0, "type": "tool_call_chunk"}
        ],
        response_metadata={"model_provider": "nugen"},
    )
    assert translate_content_chunk(piece) == [
        {"type": "tool_call_chunk", "id": "c", "name": "f", "args": '{"a"', "index": "lc_tc_0"}
    ]


def test_keepalive_and_role_only_chunks_yield_nothing() -> None:
    converter = StreamConverter()
    assert converter.convert(chunk({"role": "assistant"})) is None
    assert converter.convert(chunk(None)) is None
    assert converter.convert(chunk({"content": ""})) is None


def test_final_chunk_of_an_empty_stream() -> None:
    final = StreamConverter(requested_model="nugen-legal").final().message
    assert final.chunk_position == "last"  # type: ignore[attr-defined]
    assert final.response_metadata["model_name"] == "nugen-legal"
    assert final.response_metadata["finish_reason"] is None


def test_stream_and_invoke_agree() -> None:
    """Folding the stream gives the same message a whole response does."""
    whole = (
        completion_to_chat_result(
            completion(
                {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"q": "x"}'},
                        }
                    ],
                },
                usage={"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
            )
        )
        .generations[0]
        .message
    )
    streamed = add_up(
        run_stream(
            [
                chunk({"role": "assistant", "content": "Let me"}),
                chunk({"content": " look."}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c",
                                "function": {"name": "f", "arguments": '{"q": '},
                            }
                        ]
                    }
                ),
                chunk(
                    {"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}, finish="stop"
                ),
                chunk(None, usage={"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}),
            ]
        )
    )
    assert isinstance(whole, AIMessage)
    assert streamed.content == whole.content
    assert streamed.tool_calls == whole.tool_calls
    assert streamed.usage_metadata == whole.usage_metadata
    assert json.dumps(streamed.tool_calls) == json.dumps(whole.tool_calls)


# ----------------------------------------------------------- property-based assembly

_ARGS = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8),
    st.one_of(st.integers(), st.text(max_size=12), st.booleans(), st.none()),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(first=_ARGS, second=_ARGS, data=st.data())
def test_any_split_and_interleaving_assembles_whole_calls(
    first: dict[str, Any], second: dict[str, Any], data: st.DataObject
) -> None:
    """Arguments cut at arbitrary places (inside keys, escapes, multi-byte characters'
    JSON escapes) and two calls' fragments interleaved arbitrarily still add up."""
    calls = [("call_a", "alpha", json.dumps(first)), ("call_b", "beta", json.dumps(second))]
    pieces: list[list[dict[str, Any]]] = []
    for index, (call_id, name, text) in enumerate(calls):
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=6)))
        bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
        fragments = [
            {"index": index, "function": {"arguments": text[a:b]}}
            for a, b in itertools.pairwise(bounds)
        ]
        fragments[0] = {
            **fragments[0],
            "id": call_id,
            "function": {**fragments[0]["function"], "name": name},
        }
        pieces.append(fragments)
    order = data.draw(st.permutations([0] * len(pieces[0]) + [1] * len(pieces[1])))
    positions = [0, 0]
    wire = []
    for which in order:
        wire.append(chunk({"tool_calls": [pieces[which][positions[which]]]}))
        positions[which] += 1
    wire.append(chunk({}, finish="tool_calls"))
    full = add_up(run_stream(wire))
    # Calls come out in the order they started on the wire, each whole.
    started = ["call_a", "call_b"] if order[0] == 0 else ["call_b", "call_a"]
    assert [c["id"] for c in full.tool_calls] == started
    assembled = {c["id"]: (c["name"], c["args"]) for c in full.tool_calls}
    assert assembled == {"call_a": ("alpha", first), "call_b": ("beta", second)}
    assert full.invalid_tool_calls == []
