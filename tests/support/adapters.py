"""Shared pieces of the reliability tests: one table of call styles over both adapters.

Every call style drives a real adapter object (``ChatNugen`` or ``Nugen``) over real
sockets. What it returns, and what it saw before failing, is recorded the same way for
both frameworks so that one assertion covers all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from langchain_nugen import ChatNugen
from llama_index_nugen import Nugen

PROMPT = "What is the capital of France?"
EXPECTED = f'You asked: "{PROMPT}".'

Framework = Literal["langchain", "llama_index"]


@dataclass
class Seen:
    """What a call delivered to its caller before it returned or raised."""

    deltas: list[str] = field(default_factory=list)
    """Text pieces handed out as they arrived (stream chunks, token callbacks)."""
    completions: int = 0
    """Pieces that claimed the answer was complete (a ``chunk_position="last"`` chunk, a
    ``finish_reason``): a broken stream must never hand one out."""

    @property
    def text(self) -> str:
        return "".join(self.deltas)


class _Tokens(BaseCallbackHandler):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def on_llm_new_token(self, token: str, *, chunk: Any = None, **kwargs: Any) -> None:
        if token:
            self.seen.deltas.append(token)
        message = getattr(chunk, "message", None)
        if isinstance(message, AIMessageChunk) and message.chunk_position == "last":
            self.seen.completions += 1


def _lc_chunk(seen: Seen, chunk: AIMessageChunk) -> None:
    if chunk.text:
        seen.deltas.append(chunk.text)
    if chunk.chunk_position == "last" or chunk.response_metadata.get("finish_reason"):
        seen.completions += 1


def _li_response(seen: Seen, response: ChatResponse) -> None:
    if response.delta:
        seen.deltas.append(response.delta)
    if response.additional_kwargs.get("finish_reason"):
        seen.completions += 1


def _lc_text(message: AIMessage) -> str:
    assert isinstance(message.content, str)
    return message.content


def _lc_invoke(model: Any, seen: Seen) -> str:
    return _lc_text(model.invoke(PROMPT, config={"callbacks": [_Tokens(seen)]}))


def _lc_ainvoke(model: Any, seen: Seen) -> str:
    async def go() -> str:
        return _lc_text(await model.ainvoke(PROMPT, config={"callbacks": [_Tokens(seen)]}))

    return asyncio.run(go())


def _lc_stream(model: Any, seen: Seen) -> str:
    for chunk in model.stream(PROMPT):
        _lc_chunk(seen, chunk)
    return seen.text


def _lc_astream(model: Any, seen: Seen) -> str:
    async def go() -> str:
        async for chunk in model.astream(PROMPT):
            _lc_chunk(seen, chunk)
        return seen.text

    return asyncio.run(go())


_LI_MESSAGES = [ChatMessage(role="user", content=PROMPT)]


def _li_text(response: ChatResponse) -> str:
    assert response.message.content is not None
    return response.message.content


def _li_chat(model: Any, seen: Seen) -> str:
    return _li_text(model.chat(_LI_MESSAGES))


def _li_achat(model: Any, seen: Seen) -> str:
    async def go() -> str:
        return _li_text(await model.achat(_LI_MESSAGES))

    return asyncio.run(go())


def _li_stream_chat(model: Any, seen: Seen) -> str:
    last = None
    for response in model.stream_chat(_LI_MESSAGES):
        _li_response(seen, response)
        last = response
    assert last is not None
    return _li_text(last)


def _li_astream_chat(model: Any, seen: Seen) -> str:
    async def go() -> str:
        last = None
        async for response in await model.astream_chat(_LI_MESSAGES):
            _li_response(seen, response)
            last = response
        assert last is not None
        return _li_text(last)

    return asyncio.run(go())


@dataclass(frozen=True)
class Style:
    """One way of calling an adapter: which framework, whether the request streams, and
    a function ``(model, seen) -> final text``."""

    id: str
    framework: Framework
    streams: bool
    call: Callable[[Any, Seen], str]
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def model(self, base_url: str, api_key: str, **kwargs: Any) -> Any:
        cls = ChatNugen if self.framework == "langchain" else Nugen
        return cls(base_url=base_url, api_key=api_key, **{**self.model_kwargs, **kwargs})

    def run(self, model: Any, seen: Seen) -> str:
        return self.call(model, seen)


STYLES = [
    Style("lc-invoke", "langchain", False, _lc_invoke),
    Style("lc-ainvoke", "langchain", False, _lc_ainvoke),
    Style("lc-stream", "langchain", True, _lc_stream),
    Style("lc-astream", "langchain", True, _lc_astream),
    # ``streaming=True``: invoke streams under the hood and must not return a partial text.
    Style("lc-invoke-streaming", "langchain", True, _lc_invoke, {"streaming": True}),
    Style("lc-ainvoke-streaming", "langchain", True, _lc_ainvoke, {"streaming": True}),
    Style("li-chat", "llama_index", False, _li_chat),
    Style("li-achat", "llama_index", False, _li_achat),
    Style("li-stream_chat", "llama_index", True, _li_stream_chat),
    Style("li-astream_chat", "llama_index", True, _li_astream_chat),
]


def styles_in_turn(turn: int) -> list[Style]:
    """One call style per framework, plain and streamed (four styles), the ``turn``-th of
    each group (wrapping round): tests of what the client owns run through every adapter
    path once, and successive turns spread them over every call style."""
    groups: dict[tuple[str, bool], list[Style]] = {}
    for style in STYLES:
        groups.setdefault((style.framework, style.streams), []).append(style)
    return [styles[turn % len(styles)] for styles in groups.values()]
