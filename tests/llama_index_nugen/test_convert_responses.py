"""Wire responses -> LlamaIndex responses, whole and streamed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.callbacks.token_counting import get_tokens_from_response

from llama_index_nugen._convert import (
    chat_to_completion_response,
    completion_to_chat_response,
    to_wire_message,
    tool_selections,
)
from llama_index_nugen._stream import ChatStream, responses
from nugen_client import APIResponseValidationError
from nugen_client.types import ChatCompletionChunk
from tests.support.llama_index_wire import chunk, chunk_body, completion, text_chunks, tool_call


def stream_chat_responses(chunks: Any) -> Any:
    return responses(chunks, ChatStream.chat_response)


def stream_completion_responses(chunks: Any) -> Any:
    return responses(chunks, ChatStream.completion_response)


def chunks_of(bodies: list[dict]) -> list[ChatCompletionChunk]:  # type: ignore[type-arg]
    return [ChatCompletionChunk.model_validate(body) for body in bodies]


# ------------------------------------------------------------------------- whole responses


def test_text_answer() -> None:
    response = completion_to_chat_response(completion(content="Paris."))
    assert response.message.role == MessageRole.ASSISTANT
    assert response.message.blocks == [TextBlock(text="Paris.")]
    assert response.message.content == "Paris."
    assert response.message.additional_kwargs == {}
    assert response.additional_kwargs == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "finish_reason": "stop",
    }


def test_raw_is_the_response_as_a_dict_with_usage() -> None:
    response = completion_to_chat_response(completion(content="x", system_fingerprint="fp"))
    assert isinstance(response.raw, dict)
    assert response.raw["id"] == "nugen-1"
    assert response.raw["usage"]["total_tokens"] == 5
    assert response.raw["system_fingerprint"] == "fp"
    json.dumps(response.raw)  # plain data
    assert get_tokens_from_response(response) == (3, 2)


def test_null_usage_gives_no_token_counts_and_no_crash() -> None:
    body = completion(content="x")
    body.usage = None
    response = completion_to_chat_response(body)
    assert response.raw["usage"] is None
    assert "prompt_tokens" not in response.additional_kwargs
    assert get_tokens_from_response(response) == (0, 0)


def test_confidence_score_is_kept_when_sent() -> None:
    response = completion_to_chat_response(completion(content="x", confidence_score=89.5454))
    assert response.additional_kwargs["confidence_score"] == 89.5454
    assert "confidence_score" not in completion_to_chat_response(completion()).additional_kwargs


def test_reasoning_becomes_a_thinking_block_before_the_text() -> None:
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 9,
        "total_tokens": 12,
        "completion_tokens_details": {"reasoning_tokens": 7},
    }
    response = completion_to_chat_response(
        completion(content="42", reasoning="six times seven", usage=usage)
    )
    thinking, text = response.message.blocks
    assert isinstance(thinking, ThinkingBlock)
    assert thinking.content == "six times seven"
    assert thinking.num_tokens == 7
    assert text == TextBlock(text="42")
    assert response.additional_kwargs["reasoning_tokens"] == 7


def test_tool_calls_become_blocks_and_openai_style_dicts() -> None:
    response = completion_to_chat_response(
        completion(
            content=None,
            finish_reason="tool_calls",
            tool_calls=[tool_call("add", '{"a": 1, "b": 2}', "c1"), tool_call("neg", "{}", "c2")],
        )
    )
    blocks = response.message.blocks
    assert blocks == [
        ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={"a": 1, "b": 2}),
        ToolCallBlock(tool_call_id="c2", tool_name="neg", tool_kwargs={}),
    ]
    assert response.message.content is None
    assert response.message.additional_kwargs["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        },
        {"id": "c2", "type": "function", "function": {"name": "neg", "arguments": "{}"}},
    ]
    assert response.additional_kwargs["finish_reason"] == "tool_calls"


def test_malformed_tool_arguments_stay_text_and_are_never_selected() -> None:
    response = completion_to_chat_response(
        completion(content=None, tool_calls=[tool_call("add", '{"a": 1,', "c1")])
    )
    (block,) = response.message.blocks
    assert isinstance(block, ToolCallBlock)
    assert block.tool_kwargs == '{"a": 1,'
    with pytest.raises(APIResponseValidationError, match="'add' cannot be run"):
        tool_selections(response, True)


def test_tool_arguments_nested_too_deeply_to_parse_are_malformed_not_a_crash() -> None:
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = completion_to_chat_response(
        completion(content=None, tool_calls=[tool_call("add", deep, "c1")])
    )
    (block,) = response.message.blocks
    assert isinstance(block, ToolCallBlock)
    assert block.tool_kwargs == deep
    with pytest.raises(APIResponseValidationError, match="'add' cannot be run"):
        tool_selections(response, True)
    # Mid-stream, still arriving: nothing to run yet, and no crash either.
    first = {"index": 0, "id": "c1", "function": {"name": "add", "arguments": deep[:50_000]}}
    step = next(stream_chat_responses(chunks_of([chunk_body(tool_calls=[first])])))
    assert [s.tool_kwargs for s in tool_selections(step, True)] == [{}]


def test_missing_tool_call_ids_get_deterministic_ones() -> None:
    response = completion_to_chat_response(
        completion(content=None, tool_calls=[tool_call("f", "{}", ""), tool_call("g", "{}", "")])
    )
    ids = [b.tool_call_id for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    assert ids == ["call_nugen-1_0", "call_nugen-1_1"]


def test_a_response_round_trips_into_the_next_request() -> None:
    response = completion_to_chat_response(
        completion(content="Adding.", tool_calls=[tool_call("add", '{"a": 1}', "c1")])
    )
    assert to_wire_message(response.message) == {
        "role": "assistant",
        "content": "Adding.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
        ],
    }


def test_no_choices_gives_an_empty_message() -> None:
    body = completion()
    body.choices = []
    response = completion_to_chat_response(body)
    assert response.message.content == ""


def test_chat_response_as_completion_response() -> None:
    chat = completion_to_chat_response(
        completion(content="42", reasoning="r", tool_calls=[tool_call("f", "{}", "c")])
    )
    response = chat_to_completion_response(chat)
    assert response.text == "42"
    assert response.raw is chat.raw
    assert response.additional_kwargs["thinking"] == "r"
    assert response.additional_kwargs["tool_calls"][0]["id"] == "c"
    assert response.additional_kwargs["total_tokens"] == 5


# ----------------------------------------------------------------------------- streaming


def test_every_step_has_the_right_delta_and_the_whole_text_so_far() -> None:
    responses = list(stream_chat_responses(chunks_of(text_chunks("Hel", "lo", " wor", "ld"))))
    assert [r.delta for r in responses] == ["Hel", "lo", " wor", "ld"]
    assert [r.message.content for r in responses] == ["Hel", "Hello", "Hello wor", "Hello world"]
    # one text block per message, never the text twice
    assert all(len(r.message.blocks) == 1 for r in responses)


def test_each_step_is_a_fresh_message() -> None:
    responses = list(stream_chat_responses(chunks_of(text_chunks("a", "b"))))
    assert responses[0].message is not responses[1].message
    assert responses[0].message.content == "a"


def test_usage_and_finish_reason_arrive_on_the_last_step() -> None:
    responses = list(stream_chat_responses(chunks_of(text_chunks("a", "b"))))
    assert responses[0].additional_kwargs == {}
    assert responses[-1].additional_kwargs == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "finish_reason": "stop",
    }
    assert responses[-1].raw["usage"]["total_tokens"] == 5
    assert get_tokens_from_response(responses[-1]) == (3, 2)


def test_openai_style_usage_only_final_chunk() -> None:
    bodies = [
        *text_chunks("Hi", "!", usage=False),
        chunk_body(
            choices=False, usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        ),
    ]
    responses = list(stream_chat_responses(chunks_of(bodies)))
    last = responses[-1]
    assert last.delta == ""
    assert last.message.content == "Hi!"
    assert last.additional_kwargs["total_tokens"] == 3
    assert last.additional_kwargs["finish_reason"] == "stop"
    assert last.raw["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def test_streamed_reasoning_is_a_thinking_block_with_thinking_deltas() -> None:
    bodies = [
        chunk_body(role="assistant", reasoning_content="Think"),
        chunk_body(reasoning_content="ing."),
        chunk_body("Answer", finish="stop"),
    ]
    responses = list(stream_chat_responses(chunks_of(bodies)))
    assert [r.additional_kwargs.get("thinking_delta") for r in responses] == ["Think", "ing.", None]
    assert [r.delta for r in responses] == ["", "", "Answer"]
    thinking, text = responses[-1].message.blocks
    assert thinking == ThinkingBlock(content="Thinking.")
    assert text == TextBlock(text="Answer")


def _tool_chunks() -> list[ChatCompletionChunk]:
    first = {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": "add", "arguments": ""},
    }
    return chunks_of(
        [
            chunk_body(role="assistant", tool_calls=[first]),
            chunk_body(tool_calls=[{"index": 0, "function": {"arguments": '{"a": 1'}}]),
            chunk_body(tool_calls=[{"index": 0, "function": {"arguments": ', "b": 2}'}}]),
            chunk_body(
                finish="tool_calls",
                usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            ),
        ]
    )


def test_streamed_tool_call_is_assembled_and_partial_json_never_raises() -> None:
    responses = list(stream_chat_responses(_tool_chunks()))
    selections = [tool_selections(r, error_on_no_tool_call=False) for r in responses]
    assert [[s.tool_kwargs for s in step] for step in selections] == [
        [{}],
        [{"a": 1}],
        [{"a": 1, "b": 2}],
        [{"a": 1, "b": 2}],
    ]
    assert all(s[0].tool_id == "c1" and s[0].tool_name == "add" for s in selections)
    last = responses[-1]
    # Once finished the arguments are parsed; before, they are the text so far.
    assert last.message.blocks == [
        ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={"a": 1, "b": 2})
    ]
    assert responses[1].message.blocks[0].tool_kwargs == '{"a": 1'  # type: ignore[union-attr]
    assert (
        last.message.additional_kwargs["tool_calls"][0]["function"]["arguments"]
        == '{"a": 1, "b": 2}'
    )
    assert last.message.content is None
    assert last.additional_kwargs["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("arguments", "expected"), [('{"a": 1', None), ('{"a": 1, "b": 2}', {"a": 1, "b": 2})]
)
def test_a_stream_ended_without_finish_reason_closes_its_tool_calls(
    arguments: str, expected: dict[str, int] | None
) -> None:
    """``[DONE]`` with no ``finish_reason`` still ends the answer: a closing step holds the
    calls parsed, and a call cut short is an error, never run with guessed arguments."""
    call = {"index": 0, "id": "c1", "function": {"name": "add", "arguments": arguments}}
    bodies = [chunk_body("Let me add.", role="assistant"), chunk_body(tool_calls=[call])]
    if expected is None:
        with pytest.raises(APIResponseValidationError, match="'add' cannot be run"):
            list(stream_chat_responses(chunks_of(bodies)))
        return
    steps = list(stream_chat_responses(chunks_of(bodies)))
    assert [step.delta for step in steps] == ["Let me add.", "", ""]
    assert steps[-1].message.blocks[1].tool_kwargs == expected  # type: ignore[union-attr]
    assert tool_selections(steps[-1], error_on_no_tool_call=False)[0].tool_kwargs == expected


def test_streamed_tool_call_message_round_trips_into_the_next_request() -> None:
    last = list(stream_chat_responses(_tool_chunks()))[-1]
    assert to_wire_message(last.message)["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        }
    ]


def test_stream_completion_responses() -> None:
    responses = list(stream_completion_responses(chunks_of(text_chunks("a", "b", "c"))))
    assert [(r.delta, r.text) for r in responses] == [("a", "a"), ("b", "ab"), ("c", "abc")]
    assert responses[-1].additional_kwargs["total_tokens"] == 6


def test_other_choices_are_ignored_by_the_running_message() -> None:
    body = chunk_body("zero")
    body["choices"].append({"index": 1, "delta": {"content": "one"}, "finish_reason": None})
    (response,) = stream_chat_responses(chunks_of([body]))
    assert response.message.content == "zero"


def test_whole_and_streamed_answers_both_take_choice_zero_whatever_the_order() -> None:
    """With ``n`` > 1 a host may list the choices in any order: the answer is choice 0."""
    whole = completion(content="second", finish_reason="stop")
    zero = completion(content="first", finish_reason="length").choices[0]
    whole.choices[0].index = 1
    whole.choices.append(zero)
    response = completion_to_chat_response(whole)
    assert response.message.content == "first"
    assert response.additional_kwargs["finish_reason"] == "length"
    one = chunk_body("second", finish="stop")
    one["choices"][0]["index"] = 1
    *_, streamed = stream_chat_responses(chunks_of([one, chunk_body("first", finish="length")]))
    assert streamed.message.content == response.message.content
    assert streamed.additional_kwargs["finish_reason"] == "length"


def test_state_matches_the_shared_accumulator() -> None:
    state = ChatStream()
    for item in [*_tool_chunks(), chunk("tail", finish="stop")]:
        state.add(item)
    completion = state._acc.completion()
    assert state.chat_response().message.content == completion.choices[0].message.content
    assert completion.choices[0].message.content == "tail"


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=30))
def test_running_message_is_always_the_concatenated_deltas(pieces: list[str]) -> None:
    bodies = [chunk_body(piece) for piece in pieces]
    bodies[-1]["choices"][0]["finish_reason"] = "stop"
    state = ChatStream()
    so_far = ""
    for item in chunks_of(bodies):
        state.add(item)
        response = state.chat_response()
        so_far += response.delta or ""
        assert response.message.content == so_far
    assert so_far == "".join(pieces) == state._acc.completion().choices[0].message.content


def test_responses_serialise_and_validate_round_trip() -> None:
    """Memory stores and agents dump and reload responses: they must be ordinary models."""
    (response,) = stream_chat_responses(chunks_of(text_chunks("x")))
    copy = ChatResponse.model_validate(response.model_dump())
    assert copy.message.content == "x"
    assert ChatMessage.model_validate_json(response.message.model_dump_json()).content == "x"


def test_a_streamed_call_cut_off_is_read_leniently_until_the_stream_ends() -> None:
    first = {"index": 0, "id": "c1", "function": {"name": "read_file", "arguments": ""}}
    responses = list(
        stream_chat_responses(
            chunks_of(
                [
                    chunk_body(role="assistant", tool_calls=[first]),
                    chunk_body(
                        tool_calls=[{"index": 0, "function": {"arguments": '{"path": "/s'}}]
                    ),
                    chunk_body(finish="length"),
                ]
            )
        )
    )
    # Mid-stream, what has arrived so far (LlamaIndex's partial parser: a string not yet
    # closed reads as None); FunctionAgent asks on every step.
    assert tool_selections(responses[1], error_on_no_tool_call=False)[0].tool_kwargs == {
        "path": None
    }
    with pytest.raises(APIResponseValidationError, match="cut off"):
        tool_selections(responses[-1], error_on_no_tool_call=False)
