"""The calls of ``Nugen`` and ``NugenMultiModal``: from a request to the wire and back.

Each call is the same three steps: the request rule (``ChatFields._request``, the shared
``nugen_shared.requests``), the client, then pure conversion: ``_convert`` for a whole answer;
the chunks of :func:`stream` / :func:`astream` go to ``_stream`` (one state machine for
every stream, chat and text chunks alike). A :class:`Request` says
which endpoint takes it: ``/completions`` for a prompt (``Nugen(is_chat_model=False)``),
the chat endpoint for messages. Sync and async differ only in the client call. The
framework classes add LlamaIndex's callbacks around these, and
:func:`seal_call_headers` around those.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatResponse

from llama_index_nugen import _convert
from llama_index_nugen._fields import ChatFields, Request
from nugen_client.types import ChatCompletionChunk, TextCompletionChunk
from nugen_shared.fields import sealed_headers

__all__ = ["achat", "astream", "chat", "seal_call_headers", "stream"]

Chunk = ChatCompletionChunk | TextCompletionChunk


def chat(llm: ChatFields, request: Request) -> ChatResponse:
    client = llm._sync_client()
    if request.text:
        return _convert.text_completion_to_chat_response(client.completion(**request.kwargs))
    return _convert.completion_to_chat_response(client.chat_completion(**request.kwargs))


async def achat(llm: ChatFields, request: Request) -> ChatResponse:
    client = llm._async_client()
    if request.text:
        completion = await client.completion(**request.kwargs)
        return _convert.text_completion_to_chat_response(completion)
    return _convert.completion_to_chat_response(await client.chat_completion(**request.kwargs))


# The client checks a stream's request when it is called, before the caller iterates:
# bad input fails at the call, not at the first chunk.


def stream(llm: ChatFields, request: Request) -> Iterator[Chunk]:
    client = llm._sync_client()
    if request.text:
        return client.stream_completion(**request.kwargs)
    return client.stream_chat_completion(**request.kwargs)


def astream(llm: ChatFields, request: Request) -> AsyncIterator[Chunk]:
    client = llm._async_client()
    if request.text:
        return client.stream_completion(**request.kwargs)
    return client.stream_chat_completion(**request.kwargs)


_ClassT = TypeVar("_ClassT", bound=type)
_CALLS = (
    "chat",
    "achat",
    "stream_chat",
    "astream_chat",
    "complete",
    "acomplete",
    "stream_complete",
    "astream_complete",
)


def seal_call_headers(cls: _ClassT) -> _ClassT:
    """Class decorator: each call method gets its keywords with the per-call header values
    that may not be shown sealed (``nugen_shared.fields.sealed_headers``).

    LlamaIndex's callback and instrumentation wrappers put a call's keywords in
    ``LLMChatStartEvent`` / ``LLMCompletionStartEvent`` and the callback payloads as they
    are; applied after the class is built, this runs before them. The request opens the
    values again (``call_keywords``).
    """
    for name in _CALLS:
        method = cls.__dict__.get(name)
        if method is not None:
            setattr(cls, name, _sealing(method))
    return cls


def _sealing(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def sealed_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await method(self, *args, **sealed_headers(kwargs))

        return sealed_async

    @functools.wraps(method)
    def sealed(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **sealed_headers(kwargs))

    return sealed
