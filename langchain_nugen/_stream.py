"""A stream's wire chunks as LangChain ``ChatGenerationChunk`` objects: :class:`StreamConverter`,
whose text-only deltas (the hot path) are copies of a validated :class:`Template`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.utils.json import parse_partial_json
from pydantic import BaseModel

from langchain_nugen._convert import (
    PROVIDER,
    _additional_kwargs,
    logprobs_of,
    missing_call_id,
    refusal_of,
    response_metadata,
    usage_to_metadata,
)
from langchain_nugen._structured import parsed_answer
from nugen_client import StreamAccumulator
from nugen_client.types import ChatCompletionChunk, parse_tool_arguments

# Every text delta of a stream becomes an ``AIMessageChunk`` inside a
# ``ChatGenerationChunk``. Validating that pair is a large share of what a streamed chunk
# costs, yet from one chunk to the next the pair differs only in its text. A Template
# copies one validated object with some fields replaced: its field values, a fresh
# container for every mutable field (no two copies share a list or a dict) and pydantic's
# bookkeeping (fields set, extras), as pydantic's own ``__copy__`` does without its
# generic overhead. As with ``model_copy(update=...)`` the replaced values are not
# validated, so callers pass only values validation would keep as they are.
#
# A copy is used only if it cannot be told apart from a validated object: the two are
# compared once (:func:`same`), falling back to validation when they differ (a future
# langchain-core could derive a field from the text). The tests assert the copies are in
# use, so such a change is noticed rather than silently slower.

M = TypeVar("M", bound=BaseModel)

_CONTAINERS = (list, dict, set)
_new = object.__new__
_set = object.__setattr__


class Template(Generic[M]):
    """Copies of the validated ``model`` with some fields replaced."""

    __slots__ = ("_cls", "_extra", "_fields", "_fields_set", "_mutable")

    def __init__(self, model: M) -> None:
        if model.__pydantic_private__ is not None:
            raise ValueError(f"{type(model).__name__} has private state; copy it with model_copy")
        fields = dict(model.__dict__)
        for name, value in fields.items():
            items = value.values() if isinstance(value, dict) else value
            if isinstance(value, _CONTAINERS) and any(
                isinstance(item, _CONTAINERS) for item in items
            ):
                raise ValueError(f"{type(model).__name__}.{name} nests containers")
        self._cls = type(model)
        self._fields = fields
        self._fields_set = frozenset(model.__pydantic_fields_set__)
        self._extra = model.__pydantic_extra__
        # The fields whose container each copy gets a fresh copy of.
        self._mutable = tuple(
            name for name, value in fields.items() if isinstance(value, _CONTAINERS)
        )

    def copy(self, **values: Any) -> M:
        """A new object: the template with ``values`` in place of its fields."""
        fields = self._fields.copy()
        for name in self._mutable:
            fields[name] = fields[name].copy()
        fields.update(values)
        extra = self._extra
        model = _new(self._cls)
        _set(model, "__dict__", fields)
        _set(model, "__pydantic_fields_set__", {*self._fields_set, *values})
        _set(model, "__pydantic_extra__", None if extra is None else extra.copy())
        _set(model, "__pydantic_private__", None)
        return model


def same(a: BaseModel, b: BaseModel) -> bool:
    """True if ``a`` and ``b`` are indistinguishable: type, field values, fields set,
    extras and private state, recursively through fields that are models."""
    if type(a) is not type(b) or any(getattr(a, name) != getattr(b, name) for name in _STATE):
        return False
    return all(
        same(value, b.__dict__[name])
        for name, value in a.__dict__.items()
        if isinstance(value, BaseModel)
    )


_STATE = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")


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
        except (ValueError, RecursionError):  # as LangChain's, which catches any Exception
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
    """How to build the generation chunk of a text-only delta: a copy of a template when
    copies are exactly what validation builds (see Template), else validation."""
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

    Each wire chunk with text, reasoning or tool-call fragments (normalised by the shared
    ``StreamAccumulator`` so that LangChain's merge by index assembles the calls) becomes
    one generation chunk carrying only its delta. :meth:`final` returns the closing chunk:
    empty content, ``chunk_position="last"``, the usage (when wanted) and the response
    metadata, so that exactly one chunk carries ``model_name`` and the token counts.
    """

    __slots__ = ("_accumulator", "_requested_model", "_schema", "_stream_usage")

    def __init__(
        self,
        *,
        stream_usage: bool = True,
        requested_model: str = "",
        schema: type[BaseModel] | None = None,
    ) -> None:
        self._accumulator = StreamAccumulator()
        self._stream_usage = stream_usage
        self._requested_model = requested_model
        self._schema = schema  # a pydantic response_format: the last chunk has it parsed

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
            logprobs = logprobs_of(choice)
            refusal = None if text else refusal_of(delta)  # a refusal comes without text
            if not fragments and not reasoning and logprobs is None and not refusal:
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
            if not (text or reasoning or tool_chunks or logprobs or refusal):
                return None
            metadata = (
                _CHUNK_METADATA if logprobs is None else {**_CHUNK_METADATA, "logprobs": logprobs}
            )
            return ChatGenerationChunk(
                message=AIMessageChunk(
                    content=text,
                    additional_kwargs=_additional_kwargs(reasoning, refusal),
                    tool_call_chunks=tool_chunks,
                    response_metadata=metadata,
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
            tool_call_chunks=_closing_chunks(accumulator),
            usage_metadata=usage_to_metadata(usage)
            if usage is not None and self._stream_usage
            else None,
            response_metadata=response_metadata(completion, finish_reason, self._requested_model),
        )
        if self._schema is not None:
            text = completion.choices[0].message.text if completion.choices else ""
            whole = AIMessage(content=text, response_metadata={"finish_reason": finish_reason})
            message.additional_kwargs["parsed"] = parsed_answer(self._schema, whole)
        return ChatGenerationChunk(
            message=message, generation_info={"finish_reason": finish_reason}
        )


def _closing_chunks(accumulator: StreamAccumulator) -> list[ToolCallChunk]:
    """Closing fragments of the streamed calls: the id of a call the host sent without
    one, and for a call that must not run, an ending that leaves it (summed with the
    stream's chunks) in ``invalid_tool_calls``; blank arguments, no arguments to the whole
    answer, get ``{}``, which LangChain's parser (refusing blank text) reads as them."""
    chunks = []
    for index, call in enumerate(accumulator.tool_calls(0)):
        arguments = call.function.arguments
        try:
            parse_tool_arguments(arguments)
            ending = "{}" if arguments and not arguments.strip() else ""
        except ValueError:
            ending = _unparsable_ending(arguments)
        call_id = None if call.id else missing_call_id(accumulator.id, index)
        if ending or call_id:
            chunks.append(tool_call_chunk(name=None, args=ending, id=call_id, index=index))
    return chunks
