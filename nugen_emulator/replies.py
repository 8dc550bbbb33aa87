"""Replacing the emulator's chat replies: the ``chat_reply`` hook of :class:`NugenEmulator`
(its contract: :data:`ChatReplyHook` and docs/emulator.md). Needs neither starlette nor
uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeAlias

from nugen_emulator._model import prompt_tokens, tools_of
from nugen_emulator._validation import ChatBody, include_usage
from nugen_emulator._wire import Choice, Dialect, Generation, Renderer, ToolCall, encode_event

__all__ = [
    "ChatCall",
    "ChatReplyHook",
    "Choice",
    "EncodedStream",
    "Generation",
    "HookError",
    "ToolCall",
    "encode_event",
]


@dataclass(frozen=True)
class EncodedStream:
    """A streamed chat reply encoded as SSE events (``data: {...}\\n\\n`` each), sent
    then ``data: [DONE]``; in one write unless a fault changes the stream."""

    events: Sequence[bytes]


class HookError(Exception):
    """The ``chat_reply`` hook failed: raised, or returned something it may not."""

    def __init__(self, hook: object, problem: str) -> None:
        name = getattr(hook, "__qualname__", None) or type(hook).__qualname__
        super().__init__(f"the chat_reply hook {name} {problem}")


def malformed(reply: Generation | EncodedStream) -> str | None:
    """What in a hook's ``reply`` the emulator cannot render, said to the test's author
    (a type checker catches these; a test run without one reaches the server). An
    iterator in a Generation is refused: checked, it would be rendered empty (an
    EncodedStream's events arrive here as a list)."""
    if isinstance(reply, EncodedStream):
        events, what = reply.events, "returned an EncodedStream whose events"
        if isinstance(events, (bytes, str)) or not isinstance(events, Sequence):
            return f"{what} are {events!r}, not a list of them"
        wrong = [event for event in events if not isinstance(event, bytes)]
        return f"{what} hold {wrong[0]!r}, not bytes (encode_event it)" if wrong else None
    what = "returned a Generation whose"
    if not isinstance(reply.choices, Sequence):
        return f"{what} choices are {reply.choices!r}, not a list"
    if type(reply.prompt_tokens) is not int:  # nor a bool
        return f"{what} prompt_tokens are {reply.prompt_tokens!r}, not a whole number"
    for choice in reply.choices:
        if not isinstance(choice, Choice):
            return f"{what} choices hold {choice!r}, not a Choice"
        for name, value in (("content", choice.content), ("reasoning", choice.reasoning)):
            if not isinstance(value, (str, type(None))):
                return f"returned a Choice whose {name} is {value!r}, not text or None"
        if type(choice.reasoning_tokens) is not int:
            tokens = choice.reasoning_tokens
            return f"returned a Choice whose reasoning_tokens are {tokens!r}, not a whole number"
        if not isinstance(choice.tool_calls, Sequence):
            return f"returned a Choice whose tool_calls are {choice.tool_calls!r}, not a list"
        for call in choice.tool_calls:
            if not isinstance(call, ToolCall) or not isinstance(call.arguments, str):
                return f"returned {call!r} whose arguments are not JSON text (json.dumps them)"
    return None


class ChatCall:
    """One valid chat request, as a ``chat_reply`` hook sees it (each attribute:
    docs/emulator.md, Replacing the model's replies)."""

    def __init__(
        self,
        request: ChatBody,
        body: dict[str, Any],
        *,
        renderer: Renderer,
        new_id: Callable[[str], str],
        vision: bool,
        no_usage: bool,
        endpoint: str | None = None,
    ) -> None:
        self._request = request
        self._renderer = renderer
        self._new_id = new_id
        self.body = body  # as the client sent it
        self.endpoint = endpoint or ("chat/vision" if vision else "chat/completions")
        self.model = request.model
        self.messages = [message.model_dump(exclude_unset=True) for message in request.messages]
        self.tools: list[dict[str, Any]] = [
            {"type": "function", "function": tool} for tool in tools_of(request)
        ]
        self.n = request.n or 1
        self.stream = bool(request.stream) and not vision
        self.include_usage = include_usage(request)
        self.dialect: Dialect = renderer.dialect
        self.vision = vision
        self.no_usage = no_usage  # an armed fault asks for the reply without usage

    @cached_property
    def prompt_tokens(self) -> int:
        """The request's prompt tokens, counted as the emulator's own model counts them."""
        return prompt_tokens(self._request)

    def stream_chunks(
        self,
        generation: Generation,
        *,
        response_id: str | None = None,
        fragments: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``generation`` as the dialect's stream chunks (``[DONE]`` not included).

        ``response_id`` defaults to a fresh id; ``fragments`` replaces how the text (or each
        tool call's arguments) is split (one word per chunk by default). Usage goes where
        the dialect puts it, unless :attr:`no_usage`. Live forms include the two timing
        events, not the chunk after ``[DONE]``.
        """
        return self._renderer.chat_chunks(
            generation,
            self._request,
            response_id=response_id or self._new_id(self._renderer.chat_id_prefix),
            no_usage=self.no_usage,
            fragments=fragments,
        )

    def usage(self, generation: Generation) -> dict[str, Any]:
        """The ``usage`` object the dialect sends for ``generation``."""
        return self._renderer.usage(generation)


ChatReplyHook: TypeAlias = Callable[[ChatCall], "Generation | EncodedStream | None"]
"""The type of ``NugenEmulator(chat_reply=...)``: ``hook(call)`` answers every valid chat
request and every prompt of a valid text completion request with ``None`` (the emulator's
model answers), a :class:`Generation` or, streaming chat only, an :class:`EncodedStream`."""
