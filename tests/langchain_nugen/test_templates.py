"""The streaming hot path's copied chunks are exactly what validation builds."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from pydantic import BaseModel

from langchain_nugen import _stream
from langchain_nugen._stream import Template, same


def test_the_copies_are_in_use() -> None:
    # If this fails, a langchain-core or pydantic upgrade made the copies differ from
    # validated chunks: streaming still works (validating), at a higher CPU cost per chunk.
    assert _stream.text_generation_chunk is not _stream._validated_text_chunk


@given(st.text(min_size=1))
def test_a_copied_chunk_is_indistinguishable_from_a_validated_one(text: str) -> None:
    copied = _stream.text_generation_chunk(text)
    validated = _stream._validated_text_chunk(text)
    assert same(copied, validated)
    assert copied.text == validated.text == text
    assert copied.message.model_dump() == validated.message.model_dump()
    assert dumpd(copied.message) == dumpd(validated.message)
    assert copied.message.content_blocks == validated.message.content_blocks


def test_copies_share_no_container_with_each_other_or_the_template() -> None:
    first, second = _stream.text_generation_chunk("a"), _stream.text_generation_chunk("b")
    first.message.response_metadata["mine"] = 1
    first.message.additional_kwargs["mine"] = 1
    first.message.tool_call_chunks.append({"name": "x", "args": "", "id": "1", "index": 0})
    first.message.model_fields_set.add("name")
    assert second.message.response_metadata == {"model_provider": "nugen"}
    assert second.message.additional_kwargs == {}
    assert second.message.tool_call_chunks == []
    assert "name" not in second.message.model_fields_set
    assert same(_stream.text_generation_chunk("c"), _stream._validated_text_chunk("c"))


def test_copied_chunks_behave_like_validated_ones_downstream() -> None:
    chunks = [_stream.text_generation_chunk(t) for t in ("Once", " upon", " a time")]
    message = chunks[0].message
    message.id = "lc_run-1"  # what BaseChatModel.stream does to every chunk
    assert "id" in message.model_fields_set
    total = chunks[0] + chunks[1] + chunks[2]
    assert total.text == "Once upon a time"
    assert isinstance(total.message, AIMessageChunk)
    assert total.message.content == "Once upon a time"
    restored = pickle.loads(pickle.dumps(chunks[1]))
    assert same(restored, chunks[1])
    assert same(copy.deepcopy(chunks[2]), chunks[2])
    assert same(chunks[2].model_copy(), chunks[2])
    assert AIMessage(content=total.message.content).text == "Once upon a time"


def test_same_tells_apart_what_equality_does_not() -> None:
    validated = AIMessageChunk(content="x")
    assert not same(validated, AIMessageChunk(content="x", name=None))  # fields set differs
    assert not same(validated, AIMessage(content="x"))
    assert not same(
        ChatGenerationChunk(message=AIMessageChunk(content="x")),
        ChatGenerationChunk(message=AIMessageChunk(content="x", name=None)),
    )


class _Nested(BaseModel):
    table: dict[str, list[int]] = {}


class _Private(BaseModel):
    _cache: int = 0


def test_templates_refuse_what_a_shallow_copy_would_share() -> None:
    with pytest.raises(ValueError, match="nests containers"):
        Template(_Nested(table={"a": [1]}))
    with pytest.raises(ValueError, match="private state"):
        Template(_Private())
    template = Template(_Nested())
    assert same(template.copy(), _Nested())


def test_chunks_are_validated_when_copies_would_not_be_faithful(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A future langchain-core whose chunks a copy cannot reproduce: streaming stays correct.
    monkeypatch.setattr(_stream, "same", lambda a, b: False)
    assert _stream._text_chunk_builder() is _stream._validated_text_chunk

    def refuse(model: BaseModel) -> None:
        raise ValueError("AIMessageChunk has private state; copy it with model_copy")

    monkeypatch.setattr(_stream, "Template", refuse)
    assert _stream._text_chunk_builder() is _stream._validated_text_chunk
