"""The text completion stream pieces, pure: decoding and completeness with the shared
``ChunkDecoder`` rules, and a whole answer served as chunks."""

from __future__ import annotations

import json

import pytest

import nugen_client
from nugen_client._chunks import TextStreamDecoder, text_completion_to_chunks
from nugen_client._sse import Event
from nugen_client.types import TextCompletion, TextCompletionChunk, response_timing


def event(payload: object) -> Event:
    return Event(payload if isinstance(payload, str) else json.dumps(payload))


def test_decodes_text_chunks_and_completes_on_finish_reason() -> None:
    decoder = TextStreamDecoder()
    first = decoder.decode(event({"id": "c", "choices": [{"index": 0, "text": "Hel"}]}))
    assert isinstance(first, TextCompletionChunk)
    assert first.choices[0].text == "Hel"
    assert not decoder.complete
    with pytest.raises(nugen_client.StreamInterruptedError):
        decoder.check_complete()
    decoder.decode(event({"choices": [{"index": 0, "text": "lo", "finish_reason": "length"}]}))
    assert decoder.complete
    decoder.check_complete()
    assert decoder.chunks_received == 2


def test_done_and_null_text() -> None:
    decoder = TextStreamDecoder()
    chunk = decoder.decode(event({"choices": [{"index": 0, "text": None}]}))
    assert chunk is not None
    assert chunk.choices[0].text == ""
    assert decoder.decode(event("[DONE]")) is None
    assert decoder.done


def test_malformed_and_error_events_raise() -> None:
    with pytest.raises(
        nugen_client.APIResponseValidationError, match=r"malformed.*choices\.0\.text"
    ):
        TextStreamDecoder().decode(event('{"choices": [{"text": 5}]}'))
    with pytest.raises(nugen_client.RateLimitError):
        TextStreamDecoder().decode(event({"error": {"message": "slow down", "code": 429}}))


def test_a_cut_text_stream_carries_the_text_of_choice_0() -> None:
    decoder = TextStreamDecoder()
    for text, index in (("Hel", 0), ("other", 1), ("lo", 0)):
        decoder.decode(event({"choices": [{"index": index, "text": text}]}))
    with pytest.raises(nugen_client.StreamInterruptedError) as raised:
        decoder.check_complete()
    assert raised.value.partial == "Hello"
    assert raised.value.chunks_received == 3


def test_a_whole_answer_without_choices_is_one_choiceless_chunk() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}
    completion = TextCompletion.model_validate({"id": "x", "choices": [], "usage": usage})
    (only,) = text_completion_to_chunks(completion)
    assert not only.is_chunk
    assert only.id == "x"
    assert only.usage == completion.usage


def test_whole_answer_as_chunks_keeps_usage_and_timing() -> None:
    completion = TextCompletion.model_validate(
        {
            "id": "x",
            "model": "m",
            "choices": [
                {"index": 0, "text": "a", "finish_reason": "stop"},
                {"index": 1, "text": "b", "finish_reason": "length"},
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            "timing": {"total_seconds": 0.5},
        }
    )
    chunks = text_completion_to_chunks(completion)
    assert [(c.choices[0].index, c.choices[0].text) for c in chunks] == [(0, "a"), (1, "b")]
    assert chunks[0].usage is None
    assert chunks[1].usage == completion.usage
    assert response_timing(chunks[1]) == {"total_seconds": 0.5}


def test_timing_is_absent_when_not_sent() -> None:
    assert response_timing(TextCompletion.model_validate({"choices": []})) is None
