"""The calls of ``Nugen`` and ``NugenMultiModal``: from a request to the wire and back.

Each call is the same three steps: the request rule (``ChatFields._request``, the shared
``nugen_shared.requests``), the client, then pure conversion: ``_convert`` for a whole answer;
the chunks of :func:`stream` / :func:`astream` go to ``_stream`` (one state machine for
every stream, chat and text chunks alike). A :class:`Request` says
which endpoint takes it: ``/completions`` for a prompt (``Nugen(is_chat_model=False)``),
the chat endpoint for messages. Sync and async differ only in the client call. The
framework classes add LlamaIndex's callbacks around these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from llama_index.core.base.llms.types import ChatResponse

from llama_index_nugen import _convert
from llama_index_nugen._fields import ChatFields, Request
from nugen_client.types import ChatCompletionChunk, TextCompletionChunk

__all__ = ["achat", "astream", "chat", "stream"]

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
