"""Streamed wire chunks (chat and text completion alike) -> LlamaIndex responses, with the
same message, extras and ``raw`` as the whole answers of :mod:`llama_index_nugen._convert`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterable
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse, ToolCallBlock

from llama_index_nugen._convert import (
    _complete_arguments,
    _message,
    _response_extras,
    _tool_outputs,
)
from nugen_client import StreamAccumulator
from nugen_client import types as api


def text_chunk_as_chat_chunk(chunk: api.TextCompletionChunk) -> api.ChatCompletionChunk:
    """A streamed text completion chunk as the chat chunk that says the same (a timing
    event stays one: no ``choices``, so ``is_chunk`` is False for it too)."""
    header = chunk.model_dump(exclude={"choices"}, exclude_none=True)
    if not chunk.is_chunk:
        return api.ChatCompletionChunk(**header)
    return api.ChatCompletionChunk(
        **header,
        choices=[
            api.ChunkChoice(
                index=choice.index,
                delta=api.Delta(content=choice.text or None),
                finish_reason=choice.finish_reason,
            )
            for choice in chunk.choices
        ],
    )


# ChatCompletionChunk.model_dump without its Python wrapper: once per streamed chunk.
_dump_chunk = api.ChatCompletionChunk.__pydantic_serializer__.to_python


class ChatStream:
    """The running answer of a stream, rebuilt from the shared accumulator at every step.

    :class:`nugen_client.StreamAccumulator` owns assembly (text, reasoning, tool-call
    fragments, usage), keeping the text joined as it grows (``running_text``: one append
    per step). Each step is a fresh message holding the whole answer so far plus the
    ``delta`` that just arrived: never text twice.
    """

    def __init__(self) -> None:
        self._acc = StreamAccumulator(running_text=True)
        self._reasoning_delta = ""
        self._finish_reason: str | None = None
        self._confidence: float | None = None
        self._tool_blocks: list[ToolCallBlock] = []
        self._tool_dicts: list[dict[str, Any]] = []
        self._finished_tools = False
        self._id = ""
        self.delta = ""
        # True when the last chunk was no step: its usage or timing awaits a closing one
        # (and before any chunk: a stream that ends empty still gives one empty answer).
        self.pending = True
        self.raw: dict[str, Any] = {}

    def add(self, chunk: api.ChatCompletionChunk | api.TextCompletionChunk) -> bool:
        """Take one chunk of a chat stream or of a text completion stream; True when it
        brought text, reasoning or a tool-call fragment (a step worth yielding), False for
        empty deltas, usage-only and timing events."""
        if isinstance(chunk, api.TextCompletionChunk):
            raw = chunk.model_dump(exclude_none=True)
            chunk = text_chunk_as_chat_chunk(chunk)
        else:
            raw = _dump_chunk(chunk, exclude_none=True)
        fragments = self._acc.add(chunk)
        if not self._id and chunk.is_chunk:
            self._id = chunk.id or "0"
        if chunk.confidence_score is not None:
            self._confidence = chunk.confidence_score
        delta = reasoning = ""
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta.content or ""
            reasoning = choice.delta.reasoning_text or ""
            if choice.finish_reason:
                self._finish_reason = choice.finish_reason
        self.delta = delta
        self._reasoning_delta = reasoning
        # Tool calls are rebuilt only when a fragment arrived, and parsed into dicts once
        # the choice finished: partial arguments stay text until then (linear overall).
        finished = self._finish_reason is not None
        if 0 in fragments or (finished and self._tool_blocks and not self._finished_tools):
            self._tool_blocks, self._tool_dicts = _tool_outputs(
                self._acc.tool_calls(0), self._id, complete=finished
            )
            self._finished_tools = finished
        acc = self._acc
        usage = acc.usage
        if usage is not None and "usage" not in raw:
            raw["usage"] = usage.model_dump(exclude_none=True)
        if not raw.get("model") or not raw.get("id"):
            # A timing event names neither: the served model and id stay in ``raw``.
            raw["model"] = raw.get("model") or acc.model
            raw["id"] = raw.get("id") or acc.id
        if acc.timing is not None:
            raw["timing"] = acc.timing.as_dict()
        self.raw = raw
        self.pending = not (delta or reasoning or 0 in fragments)
        return not self.pending

    def end(self) -> bool:
        """The stream ended: whether a closing step is due. Ended by ``[DONE]`` alone, its
        tool calls are finished in it (parsed; one that cannot run raises here)."""
        if self._finish_reason is None and self._tool_blocks:
            calls = self._acc.tool_calls(0)
            self._tool_blocks, self._tool_dicts = _tool_outputs(calls, self._id, complete=True)
            for block in self._tool_blocks:  # arguments left as text did not parse: raises
                _complete_arguments(block.tool_kwargs, block.tool_name, None)
            self.delta = self._reasoning_delta = ""
            return True
        return self.pending

    def _extras(self) -> dict[str, Any]:
        acc = self._acc
        extras = _response_extras(acc.usage, self._confidence, self._finish_reason, acc.timing)
        if self._reasoning_delta:
            # FunctionAgent forwards this to AgentStream.thinking_delta.
            extras["thinking_delta"] = self._reasoning_delta
        return extras

    def chat_response(self) -> ChatResponse:
        return ChatResponse(
            message=_message(
                self._acc.text(0),
                self._acc.reasoning(0),
                list(self._tool_blocks),
                self._tool_dicts,
                self._acc.usage,
            ),
            raw=self.raw,
            delta=self.delta,
            logprobs=None,
            additional_kwargs=self._extras(),
        )

    def completion_response(self) -> CompletionResponse:
        extras = self._extras()
        reasoning = self._acc.reasoning(0)
        if reasoning:
            extras["thinking"] = reasoning
        if self._tool_dicts:
            extras["tool_calls"] = self._tool_dicts
        return CompletionResponse(
            text=self._acc.text(0),
            additional_kwargs=extras,
            raw=self.raw,
            logprobs=None,
            delta=self.delta,
        )


R = TypeVar("R", ChatResponse, CompletionResponse)
_Chunk = api.ChatCompletionChunk | api.TextCompletionChunk


def responses(
    chunks: Iterable[_Chunk], render: Callable[[ChatStream], R]
) -> Generator[R, None, None]:
    """The steps of a stream, each rendered (``ChatStream.chat_response`` or
    ``ChatStream.completion_response``)."""
    state = ChatStream()
    for chunk in chunks:
        if state.add(chunk):
            yield render(state)
    if state.end():
        yield render(state)  # the closing step: usage, finish_reason, timing


async def aresponses(
    chunks: AsyncIterator[_Chunk], render: Callable[[ChatStream], R]
) -> AsyncGenerator[R, None]:
    """:func:`responses` of an async stream."""
    state = ChatStream()
    async for chunk in chunks:
        if state.add(chunk):
            yield render(state)
    if state.end():
        yield render(state)
