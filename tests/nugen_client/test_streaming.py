"""SSE streaming: decoding edge cases fed byte by byte, completeness, errors, assembly."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nugen_client import (
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    StreamAccumulator,
    StreamInterruptedError,
)
from nugen_client._chunks import (
    ChunkDecoder,
    StreamDecoder,
    TextStreamDecoder,
    ToolCallAccumulator,
    completion_to_chunks,
)
from nugen_client._sse import Event
from nugen_client.types import ChatCompletion, ToolCallDelta
from tests.support.harness import API_KEY, Harness, Reply, chunk, completion_body, sse

USAGE = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}


def story(newline: str = "\n", done: bool = True) -> bytes:
    last = chunk(" time", "stop")
    last["usage"] = USAGE
    return sse(
        chunk("Once", role="assistant"),
        chunk(" upon"),
        chunk(" a"),
        last,
        done=done,
        newline=newline,
    )


def text_of(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("piece", [1, 2, 7, 10_000])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_events_split_anywhere_decode_the_same(kind: str, piece: int, newline: str) -> None:
    h = Harness(kind, [Reply.stream(story(newline), piece=piece)])
    chunks = h.stream()
    assert text_of(chunks) == "Once upon a time"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 7
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_media_type_in_capitals_is_an_event_stream(kind: str) -> None:
    # Media types are case-insensitive: such a stream is not an answer "that came whole".
    body = story()
    reply = Reply(body=body, headers={"content-type": "Text/Event-Stream; charset=UTF-8"}, piece=9)
    assert text_of(Harness(kind, [reply]).stream()) == "Once upon a time"


def test_comments_keepalives_and_other_fields_are_ignored(kind: str) -> None:
    body = (
        b": keep-alive\n\n"
        b"retry: 1000\nid: 7\n\n"
        + sse(chunk("a"), done=False)
        + b":ping\n\n"
        + sse(chunk("b", "stop"))
    )
    h = Harness(kind, [Reply.stream(body, piece=3)])
    assert text_of(h.stream()) == "ab"


def test_multi_line_data_is_joined(kind: str) -> None:
    payload = json.dumps(chunk("hello", "stop"), indent=1).split("\n")
    body = "".join(f"data: {line}\n" for line in payload) + "\n" + "data: [DONE]\n\n"
    h = Harness(kind, [Reply.stream(body.encode(), piece=5)])
    assert text_of(h.stream()) == "hello"


def test_finish_reason_without_done_is_complete(kind: str) -> None:
    h = Harness(kind, [Reply.stream(story(done=False), piece=4)])
    assert text_of(h.stream()) == "Once upon a time"


def test_done_without_finish_reason_is_complete(kind: str) -> None:
    h = Harness(kind, [Reply.stream(sse(chunk("partial")), piece=4)])
    assert text_of(h.stream()) == "partial"


def test_stream_ending_without_done_or_finish_raises(kind: str) -> None:
    h = Harness(kind, [Reply.stream(sse(chunk("Once"), chunk(" upon"), done=False), piece=3)])
    got, error = h.stream_until_error()
    assert isinstance(error, StreamInterruptedError)
    assert error.chunks_received == 2
    assert text_of(got) == "Once upon"  # what arrived was delivered, then the error
    assert len(h.requests) == 1  # never retried


def test_connection_reset_mid_stream_raises_and_is_not_retried(kind: str) -> None:
    reply = Reply.stream(sse(chunk("Once"), done=False), piece=5)
    reply.raise_exc = httpx.RemoteProtocolError("peer closed connection")
    h = Harness(kind, [reply, Reply.stream(story())])
    _, error = h.stream_until_error()
    assert isinstance(error, StreamInterruptedError)
    assert "RemoteProtocolError" in str(error)
    assert len(h.requests) == 1


def test_stalled_stream_raises_timeout(kind: str) -> None:
    reply = Reply.stream(sse(chunk("Once"), done=False), piece=100)
    reply.raise_exc = httpx.ReadTimeout("no data")
    h = Harness(kind, [reply])
    _, error = h.stream_until_error()
    assert isinstance(error, APITimeoutError)
    assert "stalled after 1 chunk " in str(error)
    assert len(h.requests) == 1


def test_malformed_event_raises(kind: str) -> None:
    body = sse(chunk("ok"), "{not json at all", done=True)
    h = Harness(kind, [Reply.stream(body, piece=3)])
    got, error = h.stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert "after 1 chunk:" in str(error)
    assert len(got) == 1


@pytest.mark.parametrize(
    ("event", "cls", "status"),
    [
        ({"error": {"message": "model crashed", "code": 500}}, InternalServerError, 500),
        ({"error": {"message": "too many", "code": 429}}, RateLimitError, 429),
        ({"error": {"message": "weird", "code": "internal"}}, InternalServerError, 500),
        ({"error": "plain message"}, InternalServerError, 500),
    ],
)
def test_error_event_mid_stream(kind: str, event: dict, cls: type, status: int) -> None:
    h = Harness(kind, [Reply.stream(sse(chunk("a"), event), piece=6)])
    got, error = h.stream_until_error()
    assert type(error) is cls
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert len(got) == 1
    assert "error event in stream" in str(error)


def test_named_error_event(kind: str) -> None:
    body = sse(chunk("a"), done=False) + b'event: error\ndata: {"message": "bad things"}\n\n'
    h = Harness(kind, [Reply.stream(body)])
    _, error = h.stream_until_error()
    assert isinstance(error, InternalServerError)
    assert "bad things" in str(error)


def test_error_event_never_leaks_the_key(kind: str) -> None:
    h = Harness(kind, [Reply.stream(sse({"error": {"message": f"bad key {API_KEY}"}}))])
    _, error = h.stream_until_error()
    assert API_KEY not in str(error)


def test_the_word_error_in_content_is_just_text(kind: str) -> None:
    h = Harness(kind, [Reply.stream(sse(chunk('"error"'), chunk("error", "stop")))])
    assert text_of(h.stream()) == '"error"error'


def test_error_status_before_stream_is_retried(kind: str) -> None:
    h = Harness(kind, [Reply(status=503, json={"detail": "warming up"}), Reply.stream(story())])
    assert text_of(h.stream()) == "Once upon a time"
    assert len(h.requests) == 2


def test_json_answer_to_a_stream_request_becomes_chunks(kind: str) -> None:
    h = Harness(kind, [Reply(json=completion_body("whole answer"))])
    chunks = h.stream()
    assert text_of(chunks) == "whole answer"
    assert chunks[-1].usage is not None


def test_a_json_answer_to_a_stream_request_whose_body_breaks_is_retried(kind: str) -> None:
    # Read whole before any chunk is handed out, as every call's answer is: a connection
    # that breaks while it is read is retried as theirs are.
    body = json.dumps(completion_body("lost")).encode()
    headers = {"content-type": "application/json"}
    broken = Reply(body=body, headers=headers, piece=10, raise_exc=httpx.ReadError("reset"))
    h = Harness(kind, [broken, Reply(json=completion_body("whole answer"))], max_retries=1)
    assert text_of(h.stream()) == "whole answer"
    assert len(h.requests) == 2


def test_vision_endpoint_streams_as_one_chunk(kind: str) -> None:
    h = Harness(kind, [Reply(json=completion_body("a lioness"))])
    chunks = h.stream(endpoint="vision")
    assert "stream" not in h.bodies[0]
    assert h.requests[0].url.path.endswith("/chat/vision")
    assert text_of(chunks) == "a lioness"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_reasoning_in_either_field(kind: str) -> None:
    body = sse(
        chunk(None, reasoning_content="think "),
        chunk(None, reasoning="more"),
        chunk("answer", "stop"),
    )
    h = Harness(kind, [Reply.stream(body)])
    acc = StreamAccumulator()
    for c in h.stream():
        acc.add(c)
    assert acc.reasoning() == "think more"
    assert acc.text() == "answer"


def test_stream_can_be_abandoned_early(kind: str) -> None:
    h = Harness(kind, [Reply.stream(story())])
    if kind == "sync":
        iterator = h.client.stream_chat_completion(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert next(iterator).choices[0].delta.content == "Once"
        iterator.close()  # type: ignore[attr-defined]


# ------------------------------------------------------------------- decoder (pure unit)


def test_decoder_ignores_empty_events() -> None:
    decoder = StreamDecoder()
    assert decoder.decode(Event("")) is None
    assert not decoder.complete
    decoder.decode(Event(json.dumps(chunk("x"))))
    assert decoder.decode(Event("[DONE]")) is None
    assert decoder.complete


@pytest.mark.parametrize("decoder_type", [StreamDecoder, TextStreamDecoder])
def test_a_stream_without_choices_is_no_answer(decoder_type: type[ChunkDecoder[Any]]) -> None:
    # As a whole answer without choices is refused: read, it would be an empty answer.
    decoder = decoder_type()
    decoder.decode(Event(json.dumps({"id": "x", "choices": [], "usage": USAGE})))
    with pytest.raises(APIResponseValidationError, match="chunks have no choices"):
        decoder.decode(Event("[DONE]"))


def test_decoder_tracks_finish_reason() -> None:
    decoder = StreamDecoder()
    decoder.decode(Event(json.dumps(chunk("x"))))
    assert not decoder.complete
    with pytest.raises(StreamInterruptedError):
        decoder.check_complete()
    decoder.decode(Event(json.dumps(chunk("", "length"))))
    decoder.check_complete()


def test_malformed_event_never_quotes_the_key() -> None:
    decoder = StreamDecoder(secrets=["sk-echoed-key-123"])
    with pytest.raises(APIResponseValidationError) as info:
        decoder.decode(Event("{broken sk-echoed-key-123"))
    assert "sk-echoed-key-123" not in str(info.value)
    assert "sk-echoed-key-123" not in str(info.value.body)


def test_quirky_chunks_are_accepted() -> None:
    decoder = StreamDecoder()
    data = {
        "id": "c",
        "object": "wrong.object",
        "created": 16286546649.54,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": "x", "brand_new_field": 1}, "logprobs": None}
        ],
        "usage": None,
        "vendor_extra": {"a": 1},
    }
    parsed = decoder.decode(Event(json.dumps(data)))
    assert parsed is not None
    assert parsed.created == 16286546649.54
    assert parsed.model_extra == {"vendor_extra": {"a": 1}}
    assert parsed.choices[0].delta.model_extra == {"brand_new_field": 1}
    no_object = decoder.decode(Event(json.dumps({"choices": []})))
    assert no_object is not None
    assert no_object.object is None


# ---------------------------------------------------------------- tool-call assembly


def split_at(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(
    "cuts",
    [[1], [2, 3, 4], [9, 10], list(range(1, 40))],
    ids=["after-brace", "inside-key", "around-colon", "every-char"],
)
def test_tool_arguments_split_at_awkward_places(cuts: list[int]) -> None:
    arguments = '{"city": "Paris", "days": 3, "unit": "\\u00b0C"}'
    acc = ToolCallAccumulator()
    pieces = split_at(arguments, [c for c in cuts if c < len(arguments)])
    first = acc.add(
        [
            ToolCallDelta.model_validate(
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": pieces[0]},
                }
            )
        ]
    )
    assert first[0].id == "call_1"
    assert first[0].name == "weather"
    for piece in pieces[1:]:
        (fragment,) = acc.add(
            [ToolCallDelta.model_validate({"index": 0, "function": {"arguments": piece}})]
        )
        assert fragment.index == 0
        assert fragment.id is None
        assert fragment.name is None
    (call,) = acc.tool_calls()
    assert call.id == "call_1"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3, "unit": "°C"}


def test_parallel_calls_interleaved_by_index() -> None:
    acc = ToolCallAccumulator()
    acc.add(
        [
            ToolCallDelta.model_validate(
                {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}}
            )
        ]
    )
    acc.add(
        [
            ToolCallDelta.model_validate(
                {"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y"'}}
            )
        ]
    )
    acc.add([ToolCallDelta.model_validate({"index": 0, "function": {"arguments": ": 1}"}})])
    acc.add([ToolCallDelta.model_validate({"index": 1, "function": {"arguments": ": 2}"}})])
    calls = acc.tool_calls()
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("a", "f", {"x": 1}),
        ("b", "g", {"y": 2}),
    ]


def test_calls_without_index_match_by_id_then_continue_the_last() -> None:
    acc = ToolCallAccumulator()
    frags = acc.add(
        [ToolCallDelta.model_validate({"id": "a", "function": {"name": "f", "arguments": "{"}})]
    )
    assert frags[0].index == 0
    acc.add(
        [ToolCallDelta.model_validate({"id": "b", "function": {"name": "g", "arguments": "{"}})]
    )
    acc.add([ToolCallDelta.model_validate({"id": "a", "function": {"arguments": "}"}})])
    frags = acc.add([ToolCallDelta.model_validate({"function": {"arguments": "}"}})])
    assert frags[0].index == 1
    assert [c.function.arguments for c in acc.tool_calls()] == ["{}", "{}"]


def test_same_index_with_a_new_id_is_a_new_call() -> None:
    acc = ToolCallAccumulator()
    acc.add(
        [
            ToolCallDelta.model_validate(
                {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}
            )
        ]
    )
    frags = acc.add(
        [
            ToolCallDelta.model_validate(
                {"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}
            )
        ]
    )
    assert frags[0].index == 1
    assert [c.id for c in acc.tool_calls()] == ["a", "b"]


def test_repeated_name_is_not_concatenated() -> None:
    acc = ToolCallAccumulator()
    acc.add(
        [
            ToolCallDelta.model_validate(
                {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}
            )
        ]
    )
    acc.add(
        [
            ToolCallDelta.model_validate(
                {"index": 0, "id": "a", "function": {"name": "f", "arguments": "}"}}
            )
        ]
    )
    (call,) = acc.tool_calls()
    assert call.function.name == "f"
    assert call.function.arguments == "{}"


def test_arguments_sent_as_an_object_become_json_text() -> None:
    delta = ToolCallDelta.model_validate({"index": 0, "function": {"arguments": {"a": 1}}})
    assert delta.function is not None
    assert json.loads(delta.function.arguments or "") == {"a": 1}


def test_assembly_is_linear() -> None:
    """Per-fragment cost stays flat from 1,000 to 20,000 fragments (a join per fragment
    would make it grow with the text). Timed with the collector off and the best of
    several runs, so a loaded machine cannot fake a quadratic."""
    import gc
    import time

    # Built once (validating them costs more than the timed part): the accumulator only
    # reads the deltas it is given, and each run takes the first ``n`` of them.
    deltas = [
        ToolCallDelta.model_validate({"index": 0, "function": {"arguments": "x" * 50}})
        for _ in range(20_000)
    ]

    def run(n: int) -> float:
        acc = ToolCallAccumulator()
        acc.add(
            [
                ToolCallDelta.model_validate(
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}
                )
            ]
        )
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            for d in deltas[:n]:
                acc.add([d])
            acc.tool_calls()
            return (time.process_time() - start) / n
        finally:
            gc.enable()

    run(1000)
    small, large = min(run(1_000) for _ in range(5)), min(run(20_000) for _ in range(2))
    assert large < small * 5, (small, large)


# ------------------------------------------------------------ accumulator round trip


def test_accumulator_rebuilds_the_completion() -> None:
    chunks = [
        chunk(
            None,
            role="assistant",
            tool_calls=[
                {
                    "index": 0,
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a"'},
                }
            ],
        ),
        chunk(None, tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}]),
        chunk(None, "tool_calls"),
    ]
    chunks[-1]["usage"] = USAGE
    chunks[-1]["confidence_score"] = 91.5
    acc = StreamAccumulator()
    from nugen_client.types import ChatCompletionChunk

    for c in chunks:
        acc.add(ChatCompletionChunk.model_validate(c))
    completion = acc.completion()
    assert completion.id == "nugen-1"
    assert completion.confidence_score == 91.5
    assert completion.usage is not None
    assert completion.usage.total_tokens == 7
    (choice,) = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    assert choice.message.tool_calls[0].function.arguments == '{"a": 1}'


def test_a_whole_answer_without_choices_is_one_choiceless_chunk() -> None:
    body = completion_body("unused")
    body["choices"] = []
    body["timing"] = {"total_seconds": 0.5}
    completion = ChatCompletion.model_validate(body)
    (only,) = completion_to_chunks(completion)
    assert not only.is_chunk
    assert only.usage == completion.usage
    assert only.timing == completion.timing
    acc = StreamAccumulator()
    acc.add(only)
    assert acc.completion().choices == []
    assert acc.model == completion.model


def test_completion_to_chunks_round_trip() -> None:
    body = completion_body("hello", confidence_score=88.0)
    body["choices"].append(
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
                "reasoning_content": "hmm",
            },
            "finish_reason": "tool_calls",
        }
    )
    completion = ChatCompletion.model_validate(body)
    acc = StreamAccumulator()
    for c in completion_to_chunks(completion):
        acc.add(c)
    rebuilt = acc.completion()
    assert rebuilt.choices[0].message.content == "hello"
    assert rebuilt.choices[1].message.tool_calls == completion.choices[1].message.tool_calls
    assert rebuilt.choices[1].message.reasoning_content == "hmm"
    assert rebuilt.usage == completion.usage
    assert rebuilt.confidence_score == 88.0


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.none() | st.text(max_size=5),
            st.none() | st.text(max_size=5),
        ),
        max_size=20,
    )
)
def test_running_text_adds_up_to_the_same_answer(
    steps: list[tuple[int, str | None, str | None]],
) -> None:
    from nugen_client.types import ChatCompletionChunk

    pieces, running = StreamAccumulator(), StreamAccumulator(running_text=True)
    for index, content, reasoning in steps:
        delta = {"content": content, "reasoning_content": reasoning}
        wire = ChatCompletionChunk.model_validate(
            {"id": "s", "choices": [{"index": index, "delta": delta}]}
        )
        pieces.add(wire)
        running.add(wire)
        for i in range(3):
            assert running.text(i) == pieces.text(i)
            assert running.reasoning(i) == pieces.reasoning(i)
    assert running.completion() == pieces.completion()


def test_running_text_is_held_once_and_handed_out_without_a_copy() -> None:
    from nugen_client.types import ChatCompletionChunk

    acc = StreamAccumulator(running_text=True)
    for text in ("Once", " upon", " a time"):
        acc.add(ChatCompletionChunk.model_validate({"choices": [{"delta": {"content": text}}]}))
        assert acc.text(0) is acc.text(0)
    assert acc.text(0) == "Once upon a time"


@pytest.mark.parametrize("done", [True, False])
def test_a_stream_without_choice_zero_is_refused(kind: str, done: bool) -> None:
    first, last = chunk("Hel", role="assistant"), chunk("lo", "stop")
    for event in (first, last):
        event["choices"][0]["index"] = 1
    h = Harness(kind, [Reply.stream(sse(first, last, done=done))])
    got, error = h.stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert "no index 0" in str(error)
    assert len(got) == 2


def test_a_text_completion_chunk_on_a_chat_stream_is_refused(kind: str) -> None:
    event = {"id": "x", "choices": [{"index": 0, "text": "Hello", "finish_reason": None}]}
    h = Harness(kind, [Reply.stream(sse(event))])
    _, error = h.stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert "another endpoint" in str(error)


def test_a_whole_chat_answer_as_a_stream_event_is_refused(kind: str) -> None:
    # A choice with a ``message`` and no ``delta`` (a whole answer sent as an event) has no
    # text a stream reads: taken as a chunk, it would be an empty answer.
    message = {"role": "assistant", "content": "Hello"}
    event = {"id": "x", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    h = Harness(kind, [Reply.stream(sse(event))])
    _, error = h.stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert "'message' but no 'delta'" in str(error)


def test_a_text_chunk_is_validated_without_python_code_of_ours() -> None:
    # Every streamed chunk is validated: its checks run inside pydantic-core, none per
    # chunk in Python (the wrong-endpoint check runs only where a delta holds no text).
    import sys

    event = Event(json.dumps(chunk("Hello", role="assistant")))
    StreamDecoder().decode(event)  # builds the model
    called: list[str] = []

    def profile(frame: object, event: str, arg: object) -> None:
        code = getattr(frame, "f_code", None)
        if event == "call" and code is not None and "nugen_client" in code.co_filename:
            called.append(code.co_name)

    decoder = StreamDecoder()
    sys.setprofile(profile)
    try:
        decoder.decode(event)
    finally:
        sys.setprofile(None)
    assert called == ["decode"]


def test_a_broken_stream_carries_the_text_so_far(kind: str) -> None:
    h = Harness(
        kind, [Reply.stream(sse(chunk("Once", role="assistant"), chunk(" upon"), done=False))]
    )
    got, error = h.stream_until_error()
    assert isinstance(error, StreamInterruptedError)
    assert error.partial == "Once upon"
    assert len(got) == 2


@pytest.mark.parametrize("piece", [1, 3, 10_000])
def test_invalid_utf8_is_refused_in_a_stream_as_in_a_whole_answer(kind: str, piece: int) -> None:
    broken = sse(chunk("caf", role="assistant"), chunk("X", "stop")).replace(b"X", b"\xe9")
    _, error = Harness(kind, [Reply.stream(broken, piece=piece)]).stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert "not valid UTF-8" in str(error)
    whole = json.dumps(completion_body("X")).encode().replace(b"X", b"\xe9")
    with pytest.raises(APIResponseValidationError):
        Harness(kind, [Reply(body=whole)]).chat()


def test_characters_split_across_pieces_still_decode(kind: str) -> None:
    h = Harness(kind, [Reply.stream(story().replace(b"Once", "Ωnce".encode()), piece=1)])
    assert text_of(h.stream()) == "Ωnce upon a time"


@pytest.mark.parametrize(
    ("body", "fail", "cls"),
    [
        (sse(chunk("ok"), "{not json", done=True), None, APIResponseValidationError),
        (sse(chunk("ok"), done=False), None, StreamInterruptedError),
        (sse(chunk("ok"), done=False), httpx.RemoteProtocolError("reset"), StreamInterruptedError),
        (sse(chunk("ok"), done=False), httpx.ReadTimeout("no data"), APITimeoutError),
        (sse(chunk("ok"), {"error": {"message": "crashed"}}), None, InternalServerError),
        (b"data: \xff\n\n", None, APIResponseValidationError),
    ],
    ids=["malformed", "no end", "reset", "stalled", "error event", "not utf-8"],
)
def test_every_stream_error_carries_the_request_id(
    kind: str, body: bytes, fail: Exception | None, cls: type
) -> None:
    # What a user reporting a broken answer needs; a key the server echoed in it redacted.
    reply = Reply.stream(body, piece=7, **{"x-request-id": f"req-7 {API_KEY}"})
    reply.raise_exc = fail
    _, error = Harness(kind, [reply]).stream_until_error()
    assert type(error) is cls
    assert error.request_id == "req-7 ***"
    assert str(error).endswith(" [request id: req-7 ***]")
    assert str(error).count("req-7") == 1


def test_a_malformed_whole_answer_to_a_stream_request_carries_the_request_id(kind: str) -> None:
    reply = Reply(json={"choices": "none"}, headers={"x-request-id": "req-8"})
    _, error = Harness(kind, [reply]).stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert error.request_id == "req-8"
    assert str(error).endswith(" [request id: req-8]")
