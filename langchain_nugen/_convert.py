"""Pure conversions between LangChain messages and the Nugen wire format: a request's
``messages`` (:func:`to_wire_messages`) and a whole response (:func:`completion_to_chat_result`).
Streams are converted in :mod:`langchain_nugen._stream`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.messages.tool import ToolCall, invalid_tool_call, tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel

from nugen_client import InvalidInputError
from nugen_client.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ResponseMessage,
    Usage,
    parse_tool_arguments,
)
from nugen_shared.images import DEFAULT_MAX_IMAGE_BYTES, image_part, url_image_part

PROVIDER = "nugen"
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")

# Roles of LangChain's generic ``ChatMessage`` and the turns they map onto, as ChatOpenAI
# sends them (an assistant ChatMessage holds text only; a tool turn needs a tool_call_id,
# which a ChatMessage cannot hold).
_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
}

# Block types that only describe an assistant turn (its reasoning, or tool calls that are
# sent from ``tool_calls``): skipped when the turn goes back to the service, which takes
# neither reasoning nor provider-specific blocks as input.
_ASSISTANT_SKIPPED = frozenset(
    {
        "reasoning",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_call",
        "tool_call_chunk",
        "invalid_tool_call",
        "server_tool_call",
        "server_tool_call_chunk",
        "server_tool_result",
        "non_standard",
        "function_call",
    }
)

_UNSUPPORTED = {
    "audio": "audio",
    "input_audio": "audio",
    "file": "files (PDFs and other documents)",
    "input_file": "files (PDFs and other documents)",
    "document": "documents",
    "video": "video",
    "input_video": "video",
}


# ------------------------------------------------------------------------ messages in


def to_wire_messages(
    messages: Sequence[BaseMessage], *, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> list[dict[str, Any]]:
    """The ``messages`` of a request, in order; raises ``InvalidInputError`` on input the
    service cannot take, naming the message (``messages[2]``) and block. Images over
    ``max_image_bytes`` are refused."""
    return [
        to_wire_message(message, index, max_image_bytes=max_image_bytes)
        for index, message in enumerate(messages)
    ]


def to_wire_message(
    message: BaseMessage, index: int = 0, *, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> dict[str, Any]:
    """One LangChain message as a wire message (a new dict; ``message`` is only read)."""
    where = f"messages[{index}]"
    if isinstance(message, ChatMessage) and _ROLES.get(message.role.lower()) == "assistant":
        message = AIMessage(content=message.content, name=message.name)
    if isinstance(message, AIMessage):
        return _assistant_message(message, where)
    if isinstance(message, ToolMessage):
        return _tool_message(message, where, max_image_bytes)
    if isinstance(message, FunctionMessage):
        raise InvalidInputError(
            f"{where}: FunctionMessage (legacy function calling) is not supported; answer "
            "tool calls with ToolMessage(content, tool_call_id=...)"
        )
    if isinstance(message, HumanMessage):
        role: str | None = "user"
    elif isinstance(message, SystemMessage):
        role = "system"
    elif isinstance(message, ChatMessage):
        role = _ROLES.get(message.role.lower())
        if role is None:
            raise InvalidInputError(
                f"{where}: ChatMessage role {message.role!r} is not supported; use "
                "SystemMessage, HumanMessage, AIMessage or ToolMessage"
            )
    else:
        raise InvalidInputError(f"{where}: unsupported message type {type(message).__name__}")
    content = message.content
    wire: dict[str, Any] = {"role": role}
    if role == "system":
        wire["content"] = _text_content(content, where)
    elif isinstance(content, str):
        wire["content"] = content
    else:
        wire["content"] = _content_parts(content, where, max_image_bytes, tool=False)
    return _named(wire, message)


def _named(wire: dict[str, Any], message: BaseMessage) -> dict[str, Any]:
    if message.name:
        wire["name"] = message.name
    return wire


def _block_type(block: Mapping[str, Any]) -> str:
    kind = block.get("type")
    return kind if isinstance(kind, str) else ""


def _content_parts(
    content: list[str | dict[str, Any]], where: str, max_bytes: int, *, tool: bool
) -> list[dict[str, Any]]:
    """The parts of a user or tool turn: text and images; a tool's other data as JSON text."""
    parts: list[dict[str, Any]] = []
    for position, block in enumerate(content):
        block_where = f"{where}.content[{position}]"
        kind = _block_type(block) if isinstance(block, Mapping) else ""
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif kind in ("text", "text-plain"):
            parts.append({"type": "text", "text": _block_text(block, block_where)})
        elif kind in ("image_url", "image"):
            parts.append(_image_part(block, kind, block_where, max_bytes))
        elif tool and not kind:
            # Untyped data the tool returned: the model reads it as JSON.
            parts.append(
                {"type": "text", "text": json.dumps(block, ensure_ascii=False, default=str)}
            )
        elif not isinstance(block, Mapping):
            raise InvalidInputError(
                f"{block_where}: expected a str or a dict, got {type(block).__name__}"
            )
        elif (what := _UNSUPPORTED.get(kind)) is not None:
            raise InvalidInputError(
                f"{block_where}: {kind!r} blocks are not supported: the Nugen API takes text "
                f"and images only, not {what}"
            )
        else:
            raise InvalidInputError(f"{block_where}: unsupported content block type {kind!r}")
    return parts


def _block_text(block: Mapping[str, Any], where: str) -> str:
    """A ``text`` block's text, or a ``text-plain`` block's (inline, or its base64 data)."""
    if _block_type(block) == "text-plain":
        return _plain_text(block, where)
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidInputError(
            f"{where}: a text block's 'text' must be a string, got {type(text).__name__}"
        )
    return text


def _plain_text(block: Mapping[str, Any], where: str) -> str:
    text, data = block.get("text"), block.get("base64")
    if isinstance(text, str):
        return text
    if not isinstance(data, str):
        raise InvalidInputError(
            f"{where}: a text-plain block needs its text or base64 data (a url or file_id "
            "is not fetched)"
        )
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except binascii.Error:
        raise InvalidInputError(f"{where}: a text-plain block's base64 is not valid") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{where}: a text-plain block's data is not UTF-8 text") from None


def _text_content(content: str | list[str | dict[str, Any]], where: str) -> str:
    """System turns as one string: some OpenAI-compatible chat templates reject parts."""
    texts = []
    for position, block in enumerate([content] if isinstance(content, str) else content):
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, Mapping) and _block_type(block) in ("text", "text-plain"):
            texts.append(_block_text(block, f"{where}.content[{position}]"))
        else:
            kind = _block_type(block) if isinstance(block, Mapping) else type(block).__name__
            raise InvalidInputError(
                f"{where}.content[{position}]: a system message takes text only, got {kind!r}"
            )
    return "".join(texts)


def _image_part(block: Mapping[str, Any], kind: str, where: str, max_bytes: int) -> dict[str, Any]:
    """An ``image_url`` part from any LangChain image block, checked locally."""
    url = base64_data = mime_type = None
    detail = block.get("detail")
    if detail is None and isinstance(extras := block.get("extras"), Mapping):
        detail = extras.get("detail")  # where v1 blocks keep it
    try:
        if kind == "image_url":
            # OpenAI format; LangChain also allows a plain string for ``image_url``.
            url = block.get("image_url")
            if isinstance(url, Mapping) and isinstance(url.get("url"), str):
                url, detail = url["url"], url.get("detail")
            elif not isinstance(url, str):
                raise InvalidInputError("image_url must be a URL string or {'url': ...}")
        elif (source_type := block.get("source_type")) is not None:
            # Legacy (v0) standard blocks: {"type": "image", "source_type": "url"|"base64"|"id"}.
            if source_type == "url":
                url = block["url"]
            elif source_type == "base64":
                base64_data, mime_type = block["data"], block.get("mime_type")
            else:
                raise InvalidInputError(
                    f"image source_type {source_type!r} is not supported (file ids cannot be "
                    "resolved by the Nugen API); send the image as a URL or base64 data"
                )
        elif isinstance(source := block.get("source"), Mapping):
            # Anthropic-style {"type": "image", "source": {"type": "base64"|"url", ...}}.
            detail = None
            if source.get("type") == "base64":
                base64_data, mime_type = source["data"], source.get("media_type")
            elif source.get("type") == "url":
                url = source["url"]
            else:
                raise InvalidInputError(
                    f"image source of type {source.get('type')!r} is not supported"
                )
        else:
            # v1 standard blocks: {"type": "image", "url"|"base64"(+"mime_type")|"file_id"}.
            url, base64_data = block.get("url"), block.get("base64")
            mime_type = block.get("mime_type")
            if not (url or base64_data) and block.get("file_id"):
                raise InvalidInputError(
                    "images given by file_id are not supported (the Nugen API has no file "
                    "store); send the image as a URL or base64 data"
                )
        if url:
            if not isinstance(url, str):
                raise InvalidInputError(
                    f"the image's url must be a string, got {type(url).__name__}"
                )
            return url_image_part(url, detail, max_bytes=max_bytes)
        if base64_data:
            if not isinstance(base64_data, str | bytes):
                raise InvalidInputError(
                    f"the image's base64 data must be a string, got {type(base64_data).__name__}"
                )
            return image_part(
                base64_data=base64_data, mime_type=mime_type, detail=detail, max_bytes=max_bytes
            )
        raise InvalidInputError("image block has no url or base64 data")
    except InvalidInputError as error:
        raise InvalidInputError(f"{where} ({kind} block): {error}") from None
    except (KeyError, TypeError) as error:
        raise InvalidInputError(f"{where} ({kind} block): malformed block ({error!r})") from None


def _assistant_message(message: AIMessage, where: str) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": "assistant"}
    content = message.content
    texts = []
    block_calls: list[Mapping[str, Any]] = []
    for position, block in enumerate([content] if isinstance(content, str) else content):
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = _block_type(block) if isinstance(block, Mapping) else ""
        if kind == "text":
            texts.append(_block_text(block, f"{where}.content[{position}]"))
        elif kind == "tool_call":
            block_calls.append(block)
        elif kind not in _ASSISTANT_SKIPPED:
            raise InvalidInputError(
                f"{where}.content[{position}]: an assistant message carries text and "
                f"tool calls only, got a {kind or type(block).__name__!r} block"
            )
    text = "".join(texts)
    tool_calls = _wire_tool_calls(message, block_calls, where)
    # A turn of tool calls only sends null content, as OpenAI does (and the LlamaIndex
    # adapter): the form every OpenAI-compatible host accepts.
    wire["content"] = text if text or not tool_calls else None
    if tool_calls:
        wire["tool_calls"] = tool_calls
    return _named(wire, message)


def _wire_tool_call(call_id: Any, name: Any, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _arguments_json(args: Any, where: str, name: Any) -> str:
    try:
        return json.dumps(args, ensure_ascii=False)
    except TypeError as error:
        raise InvalidInputError(
            f"{where}: the arguments of tool call {name!r} are not JSON ({error})"
        ) from None


def _wire_tool_calls(
    message: AIMessage, block_calls: list[Mapping[str, Any]], where: str
) -> list[dict[str, Any]]:
    calls = [
        _wire_tool_call(
            call["id"], call["name"], _arguments_json(call["args"], where, call["name"])
        )
        for call in message.tool_calls
    ]
    # A call the model made with unparsable arguments still happened: the tool message that
    # answers it refers to its id, so it goes back with the raw argument text.
    calls.extend(
        _wire_tool_call(call["id"], call["name"], call["args"] or "")
        for call in message.invalid_tool_calls
    )
    # v1 content may carry ``tool_call`` blocks that ``tool_calls`` lacks.
    seen = {call["id"] for call in calls}
    for block in block_calls:
        call_id, name = block.get("id"), block.get("name")
        if call_id not in seen:
            seen.add(call_id)
            arguments = _arguments_json(block.get("args") or {}, where, name)
            calls.append(_wire_tool_call(call_id, name, arguments))
    return calls


def _tool_message(message: ToolMessage, where: str, max_bytes: int) -> dict[str, Any]:
    content = message.content
    parts = _content_parts(
        [content] if isinstance(content, str) else content, where, max_bytes, tool=True
    )
    wire_content: str | list[dict[str, Any]] = parts
    if all(part["type"] == "text" for part in parts):
        wire_content = "".join(part["text"] for part in parts)
    if message.status == "error":
        # The service has no error flag for tool results: say it in the text, the way
        # LangChain's ToolNode phrases tool errors, unless the text already does.
        if isinstance(wire_content, str):
            if not wire_content.lstrip().lower().startswith("error"):
                wire_content = f"Error: {wire_content}"
        else:
            wire_content = [{"type": "text", "text": "Error:"}, *wire_content]
    return {"role": "tool", "tool_call_id": message.tool_call_id, "content": wire_content}


# ----------------------------------------------------------------------- messages out


def usage_to_metadata(usage: Usage) -> UsageMetadata:
    """LangChain ``UsageMetadata`` from the wire usage, with cache and reasoning details."""
    metadata = UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )
    input_details = _reported(
        cache_read=usage.cached_tokens, audio=_audio_tokens(usage.prompt_tokens_details)
    )
    if input_details:
        metadata["input_token_details"] = cast("InputTokenDetails", input_details)
    output_details = _reported(
        reasoning=usage.reasoning_tokens, audio=_audio_tokens(usage.completion_tokens_details)
    )
    if output_details:
        metadata["output_token_details"] = cast("OutputTokenDetails", output_details)
    return metadata


def _reported(**counts: int | None) -> dict[str, int]:
    """The token counts the service reported (``None``: not reported)."""
    return {name: count for name, count in counts.items() if count is not None}


def _audio_tokens(details: Mapping[str, Any] | None) -> int | None:
    audio = details.get("audio_tokens") if details else None
    return audio if isinstance(audio, int) else None


def response_metadata(
    completion: ChatCompletion | ChatCompletionChunk,
    finish_reason: str | None,
    requested_model: str = "",
) -> dict[str, Any]:
    """``response_metadata`` of a message: what the service said about the response.
    ``model_name`` is the model the service says it ran (the requested one for hosts that
    omit it); ``timing`` is the service's own, present only when it sent one."""
    metadata: dict[str, Any] = {
        "model_provider": PROVIDER,
        "model_name": completion.model or requested_model,
        "finish_reason": finish_reason,
    }
    metadata.update(completion.header_metadata())
    if completion.timing is not None:
        metadata["timing"] = completion.timing.as_dict()
    return metadata


def missing_call_id(response_id: str, position: int) -> str:
    """The id of a call a host sent without one (the LlamaIndex adapter's): agents answer
    each call by its id."""
    return f"call_{response_id or '0'}_{position}"


def parse_tool_calls(
    message: ResponseMessage, response_id: str = ""
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Tool calls of a response message; a call whose arguments are not complete, valid
    JSON holding an object (``parse_tool_arguments``) becomes an ``invalid_tool_calls``
    entry, with the raw text and the reason, that no agent runs."""
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for position, call in enumerate(message.tool_calls or ()):
        name, raw = call.function.name, call.function.arguments
        call_id = call.id or missing_call_id(response_id, position)
        try:
            args = parse_tool_arguments(raw)
        except ValueError as error:
            invalid.append(invalid_tool_call(name=name, args=raw, id=call_id, error=str(error)))
        else:
            valid.append(tool_call(name=name, args=args, id=call_id))
    return valid, invalid


def logprobs_of(choice: BaseModel) -> Any:
    """The ``logprobs`` a choice carries (sent when the request asks for them), or None."""
    return (choice.model_extra or {}).get("logprobs")


def refusal_of(part: BaseModel) -> str | None:
    """Why the host gave no answer (OpenAI's ``refusal`` of a message or delta), or None."""
    refusal = (part.model_extra or {}).get("refusal")
    return refusal if isinstance(refusal, str) and refusal else None


def _additional_kwargs(reasoning: str | None, refusal: str | None = None) -> dict[str, Any]:
    kwargs = {"reasoning_content": reasoning} if reasoning else {}
    if refusal:  # where ChatOpenAI keeps it
        kwargs["refusal"] = refusal
    return kwargs


def completion_to_chat_result(completion: ChatCompletion, requested_model: str = "") -> ChatResult:
    """A whole response as a ``ChatResult``: one generation per choice."""
    usage = usage_to_metadata(completion.usage) if completion.usage is not None else None
    generations = []
    for choice in completion.choices:
        message = choice.message
        tool_calls, invalid_tool_calls = parse_tool_calls(message, completion.id)
        metadata = response_metadata(completion, choice.finish_reason, requested_model)
        info: dict[str, Any] = {"finish_reason": choice.finish_reason}
        if (logprobs := logprobs_of(choice)) is not None:  # where ChatOpenAI puts them
            metadata["logprobs"] = info["logprobs"] = logprobs
        ai_message = AIMessage(
            content=message.text,
            additional_kwargs=_additional_kwargs(message.reasoning_text, refusal_of(message)),
            tool_calls=tool_calls,
            invalid_tool_calls=invalid_tool_calls,
            usage_metadata=usage,
            response_metadata=metadata,
        )
        generations.append(ChatGeneration(message=ai_message, generation_info=info))
    llm_output: dict[str, Any] = {
        "model_name": completion.model or requested_model,
        "model_provider": PROVIDER,
    }
    if completion.usage is not None:
        llm_output["token_usage"] = token_usage(completion.usage)
    return ChatResult(generations=generations, llm_output=llm_output)


def token_usage(usage: Usage) -> dict[str, int]:
    """The ``token_usage`` of an ``llm_output`` (both models) or ``generation_info``."""
    return {key: getattr(usage, key) for key in _USAGE_KEYS}


def summed_usage(usages: list[dict[str, int]]) -> dict[str, int]:
    """Several requests' ``token_usage``, added up."""
    return {key: sum(usage.get(key) or 0 for usage in usages) for key in _USAGE_KEYS}
