"""A stream's wire chunks as LangChain ``ChatGenerationChunk`` objects.

:class:`StreamConverter` works over the shared :class:`nugen_client.StreamAccumulator`
(which normalises tool-call fragments so LangChain's merge-by-index assembles them) and
ends with exactly one final chunk that carries ``chunk_position="last"``, the usage and the
response metadata. A text-only delta, the hot path, is a copy of a validated template
(:mod:`langchain_nugen._templates`) when such copies are exactly what validation builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.utils.json import parse_partial_json

from langchain_nugen._convert import (
    PROVIDER,
    _additional_kwargs,
    response_metadata,
    usage_to_metadata,
)
from langchain_nugen._templates import Template, same
from nugen_client import StreamAccumulator
from nugen_client.types import ChatCompletionChunk, parse_tool_arguments

__all__ = ["StreamConverter", "text_generation_chunk"]


# Appended to the arguments of an unusable streamed call, in the final chunk, when the sum
# of the chunks would otherwise parse: LangChain reads summed ``tool_call_chunks`` with a
# partial-JSON parser, which turns a truncated ``{"path": "/srv/da`` into an executable
# call. A closing bracket that matches nothing (after closing an open string, and an
# open escape) makes that parser give up, so the summed message holds the call in
# ``invalid_tool_calls``.
_UNPARSABLE_ENDINGS = ("]", "}", '"]', '"}', '""]', '""}')


def _unparsable_ending(arguments: str) -> str:
    """What to append to ``arguments`` so LangChain's partial parser refuses them ("" when
    it refuses them already)."""
    for ending in ("", *_UNPARSABLE_ENDINGS):
        try:
            parsed = parse_partial_json(arguments + ending)
        except ValueError:
            return ending
        if not isinstance(parsed, dict):
            return ending
    raise AssertionError("unreachable: a mismatched bracket always fails")  # pragma: no cover


# Shared by every streamed chunk: pydantic copies it into each message.
_CHUNK_METADATA: dict[str, Any] = {"model_provider": PROVIDER}


def _validated_text_chunk(text: str) -> ChatGenerationChunk:
    return ChatGenerationChunk(
        message=AIMessageChunk(content=text, response_metadata=_CHUNK_METADATA)
    )


def _text_chunk_builder() -> Callable[[str], ChatGenerationChunk]:
    """How to build the generation chunk of a text-only delta, the stream's hot path.

    Copies of validated templates cost a third of validating each chunk. They are used
    only if they are exactly what validation builds (see _templates); with a
    langchain-core whose chunks could not be copied faithfully, every chunk is validated.
    """
    try:
        message = Template(_validated_text_chunk("").message)
        generation = Template(_validated_text_chunk(""))
    except ValueError:  # private state or nested containers: a shallow copy would share
        return _validated_text_chunk

    def copied_text_chunk(text: str) -> ChatGenerationChunk:
        return generation.copy(message=message.copy(content=text), text=text)

    if same(copied_text_chunk("probe"), _validated_text_chunk("probe")):
        return copied_text_chunk
    return _validated_text_chunk


text_generation_chunk = _text_chunk_builder()


class StreamConverter:
    """Turns one stream's wire chunks into ``ChatGenerationChunk`` objects.

    Each wire chunk with text, reasoning or tool-call fragments becomes one generation
    chunk carrying only its delta. :meth:`final` returns the closing chunk: empty content,
    ``chunk_position="last"``, the usage (when wanted) and the response metadata, so that
    exactly one chunk carries ``model_name`` and the token counts.
    """

    __slots__ = ("_accumulator", "_requested_model", "_stream_usage")

    def __init__(self, *, stream_usage: bool = True, requested_model: str = "") -> None:
        self._accumulator = StreamAccumulator()
        self._stream_usage = stream_usage
        self._requested_model = requested_model

    def convert(self, chunk: ChatCompletionChunk) -> ChatGenerationChunk | None:
        """The generation chunk for one wire chunk, or None when it carries no delta
        (a role-only opening chunk, a usage-only closing chunk, a keep-alive)."""
        fragments = self._accumulator.add(chunk)
        for choice in chunk.choices:
            if choice.index != 0:
                continue  # streams are single-choice (ChatNugen refuses n > 1)
            delta = choice.delta
            text = delta.content or ""
            reasoning = delta.reasoning_text
            if not fragments and not reasoning:
                # The hot path of a text stream: nothing but the text delta.
                return text_generation_chunk(text) if text else None
            tool_chunks: list[ToolCallChunk] = [
                tool_call_chunk(
                    name=fragment.name,
                    args=fragment.arguments,
                    id=fragment.id,
                    index=fragment.index,
                )
                for fragment in fragments.get(0, ())
                if fragment.arguments or fragment.id or fragment.name
            ]
            if not (text or reasoning or tool_chunks):
                return None
            return ChatGenerationChunk(
                message=AIMessageChunk(
                    content=text,
                    additional_kwargs=_additional_kwargs(reasoning),
                    tool_call_chunks=tool_chunks,
                    response_metadata=_CHUNK_METADATA,
                )
            )
        return None

    def final(self) -> ChatGenerationChunk:
        """The closing chunk of the stream."""
        accumulator = self._accumulator
        completion = accumulator.completion()
        finish_reason = completion.choices[0].finish_reason if completion.choices else None
        usage = accumulator.usage
        message = AIMessageChunk(
            content="",
            chunk_position="last",
            tool_call_chunks=_invalidating_chunks(accumulator),
            usage_metadata=usage_to_metadata(usage)
            if usage is not None and self._stream_usage
            else None,
            response_metadata=response_metadata(completion, finish_reason, self._requested_model),
        )
        return ChatGenerationChunk(
            message=message, generation_info={"finish_reason": finish_reason}
        )


def _invalidating_chunks(accumulator: StreamAccumulator) -> list[ToolCallChunk]:
    """Closing fragments for the streamed calls that must not run: summed with the
    stream's chunks, they leave each such call in ``invalid_tool_calls``."""
    chunks = []
    for index, call in enumerate(accumulator.tool_calls(0)):
        arguments = call.function.arguments
        try:
            parse_tool_arguments(arguments)
        except ValueError:
            ending = _unparsable_ending(arguments)
            if ending:
                chunks.append(tool_call_chunk(name=None, args=ending, id=None, index=index))
    return chunks
