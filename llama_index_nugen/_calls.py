"""The chat and text completion calls of ``Nugen`` and ``NugenMultiModal``, in one place.

Each call is the same three steps: the request rule (``ChatFields._chat_request``, the
shared ``nugen_client.rules``), the client, then the pure conversion of ``_convert`` (one
stream state machine for every stream). Sync and async differ only in the client call.
The framework classes add LlamaIndex's callbacks around these. The ``*_text`` calls
post a prompt to ``/completions`` (``Nugen(is_chat_model=False)``) and answer in the same
LlamaIndex forms as the chat calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
)

from llama_index_nugen import _convert
from llama_index_nugen._fields import ChatFields
from nugen_client.types import ChatCompletionChunk, TextCompletionChunk

__all__ = [
    "achat",
    "achat_text",
    "astream_chat",
    "astream_chat_text",
    "astream_complete",
    "astream_complete_text",
    "chat",
    "chat_text",
    "stream_chat",
    "stream_chat_text",
    "stream_complete",
    "stream_complete_text",
]

Messages = Sequence[Mapping[str, Any]]


def chat(llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]) -> ChatResponse:
    request = llm._chat_request(messages, kwargs)
    return _convert.completion_to_chat_response(llm._sync_client().chat_completion(**request))


async def achat(llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]) -> ChatResponse:
    request = llm._chat_request(messages, kwargs)
    completion = await llm._async_client().chat_completion(**request)
    return _convert.completion_to_chat_response(completion)


def stream_chat(llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]) -> ChatResponseGen:
    return _convert.stream_chat_responses(_chunks(llm, messages, kwargs))


def astream_chat(
    llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]
) -> ChatResponseAsyncGen:
    return _convert.astream_chat_responses(_achunks(llm, messages, kwargs))


def stream_complete(
    llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]
) -> CompletionResponseGen:
    return _convert.stream_completion_responses(_chunks(llm, messages, kwargs))


def astream_complete(
    llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]
) -> CompletionResponseAsyncGen:
    return _convert.astream_completion_responses(_achunks(llm, messages, kwargs))


# The client checks a stream's request when it is called, before the caller iterates:
# bad input fails at the call, not at the first chunk.


def _chunks(
    llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]
) -> Iterator[ChatCompletionChunk]:
    return llm._sync_client().stream_chat_completion(**llm._chat_request(messages, kwargs))


def _achunks(
    llm: ChatFields, messages: Messages, kwargs: Mapping[str, Any]
) -> AsyncIterator[ChatCompletionChunk]:
    return llm._async_client().stream_chat_completion(**llm._chat_request(messages, kwargs))


# -- text completions (/completions) --------------------------------------------------------


def chat_text(llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]) -> ChatResponse:
    completion = llm._sync_client().completion(**llm._completion_request(prompt, kwargs))
    return _convert.text_completion_to_chat_response(completion)


async def achat_text(llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]) -> ChatResponse:
    request = llm._completion_request(prompt, kwargs)
    completion = await llm._async_client().completion(**request)
    return _convert.text_completion_to_chat_response(completion)


def complete_text(llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]) -> CompletionResponse:
    return _convert.chat_to_completion_response(chat_text(llm, prompt, kwargs))


async def acomplete_text(
    llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]
) -> CompletionResponse:
    return _convert.chat_to_completion_response(await achat_text(llm, prompt, kwargs))


def stream_chat_text(llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]) -> ChatResponseGen:
    return _convert.stream_chat_responses(_text_chunks(llm, prompt, kwargs))


def astream_chat_text(
    llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]
) -> ChatResponseAsyncGen:
    return _convert.astream_chat_responses(_atext_chunks(llm, prompt, kwargs))


def stream_complete_text(
    llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]
) -> CompletionResponseGen:
    return _convert.stream_completion_responses(_text_chunks(llm, prompt, kwargs))


def astream_complete_text(
    llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]
) -> CompletionResponseAsyncGen:
    return _convert.astream_completion_responses(_atext_chunks(llm, prompt, kwargs))


def _text_chunks(
    llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]
) -> Iterator[TextCompletionChunk]:
    return llm._sync_client().stream_completion(**llm._completion_request(prompt, kwargs))


def _atext_chunks(
    llm: ChatFields, prompt: str, kwargs: Mapping[str, Any]
) -> AsyncIterator[TextCompletionChunk]:
    return llm._async_client().stream_completion(**llm._completion_request(prompt, kwargs))
