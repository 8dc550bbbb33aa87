"""LlamaIndex <-> wire conversion for ``Nugen`` and ``NugenMultiModal`` (streams:
:mod:`llama_index_nugen._stream`): pure functions that do no I/O but read the image files
a message points at, and never mutate what the caller passed in."""

from __future__ import annotations

import contextlib
import json
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from io import IOBase
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json
from llama_index.core.output_parsers.utils import extract_json_str
from llama_index.core.schema import BaseNode, ImageDocument, ImageNode
from llama_index.core.utils import resolve_binary

from nugen_client import APIResponseValidationError, InvalidInputError
from nugen_client import types as api
from nugen_shared.images import (
    DEFAULT_MAX_IMAGE_BYTES,
    guess_image_mime_type,
    image_part,
)

# LlamaIndex has more roles than the service; each maps onto the one the service knows
# (a MessageRole is a str: a role given as text is found too).
_ROLES: dict[str, str] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}

# ---------------------------------------------------------------------------- messages in


def to_wire_messages(
    messages: Sequence[ChatMessage], *, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> list[dict[str, Any]]:
    """The ``messages`` of a request body; images over ``max_image_bytes`` are refused."""
    return [
        to_wire_message(message, index, max_image_bytes=max_image_bytes)
        for index, message in enumerate(messages)
    ]


def to_wire_message(
    message: ChatMessage, index: int = 0, *, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> dict[str, Any]:
    """One LlamaIndex message as the service takes it.

    Text-only content is sent as a string (text blocks joined with newlines, as
    ``ChatMessage.content`` joins them) so hosts that refuse content lists for system,
    assistant or tool turns accept it; a user turn with images becomes a list of parts.
    Reasoning (``ThinkingBlock``) is not sent back: the service documents no input field
    for it and some OpenAI-compatible hosts reject one.
    """
    if not isinstance(message, ChatMessage):
        raise InvalidInputError(
            f"messages[{index}] must be a ChatMessage, got {type(message).__name__}"
        )
    role = _ROLES.get(message.role) if isinstance(message.role, str) else None
    if role is None:
        raise InvalidInputError(f"messages[{index}]: role {message.role!r} is not supported")
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    has_image = False
    tool_calls: list[dict[str, Any]] = []
    for position, block in enumerate(message.blocks):
        if isinstance(block, TextBlock):
            text: str | None = block.text
        else:  # the block's place is formatted for a non-text block only
            text = _document_text(block, f"messages[{index}].blocks[{position}]")
        if text is not None:
            texts.append(text)
            parts.append({"type": "text", "text": text})
        elif isinstance(block, ImageBlock):
            # Tool results may carry images too (a screenshot tool); system and assistant
            # turns cannot, on the service or on OpenAI-compatible hosts.
            if role not in ("user", "tool"):
                raise InvalidInputError(
                    f"messages[{index}].blocks[{position}]: images are only accepted in user "
                    f"and tool messages, not in a {role} message"
                )
            has_image = True
            try:
                parts.append(image_block_to_part(block, max_bytes=max_image_bytes))
            except InvalidInputError as exc:
                raise InvalidInputError(f"messages[{index}].blocks[{position}]: {exc}") from None
        elif isinstance(block, ToolCallBlock):
            if role != "assistant":
                raise InvalidInputError(
                    f"messages[{index}].blocks[{position}]: a ToolCallBlock belongs in an "
                    f"assistant message, not in a {role} message"
                )
            where = f"messages[{index}]: ToolCallBlock {block.tool_name!r}"
            tool_calls.append(
                _wire_tool_call(
                    block.tool_call_id, block.tool_name, block.tool_kwargs, where, "tool_call_id"
                )
            )
        elif isinstance(block, ThinkingBlock) and role == "assistant":
            continue
        elif isinstance(block, CachePoint):
            continue  # a prompt-caching marker of other providers; it carries no content
        else:
            raise InvalidInputError(
                f"messages[{index}].blocks[{position}]: {type(block).__name__} is not "
                "supported by Nugen (supported: TextBlock, a text/plain DocumentBlock with data or "
                "path, ImageBlock in user and tool messages, ThinkingBlock and ToolCallBlock in "
                "assistant messages)"
            )

    wire: dict[str, Any] = {"role": role, "content": parts if has_image else "\n".join(texts)}

    kwargs = message.additional_kwargs
    if role == "assistant":
        # OpenAI-style tool calls (dicts, or SDK objects), unless the blocks hold calls.
        openai_calls = () if tool_calls else kwargs.get("tool_calls") or ()
        listed = f"messages[{index}].additional_kwargs['tool_calls']"
        if not isinstance(openai_calls, list | tuple):
            raise InvalidInputError(
                f"{listed} must be a list of tool calls, got {type(openai_calls).__name__}"
            )
        for n, call in enumerate(openai_calls):
            where = f"{listed}[{n}]"
            tool_calls.append(_wire_tool_call(*_openai_call(call, where), where, "id"))
        if tool_calls:
            wire["tool_calls"] = tool_calls
            if not wire.get("content"):
                wire["content"] = None  # a turn of calls only: null content, as OpenAI sends
    if role == "tool":
        tool_call_id = kwargs.get("tool_call_id")
        if not tool_call_id:
            raise InvalidInputError(
                f"messages[{index}]: a tool message needs additional_kwargs['tool_call_id'] "
                "(the id of the call it answers)"
            )
        # Paired with its call by id. The tool's name some agents keep beside the id is no
        # message name (a tool name may hold a hyphen, which a message name may not).
        wire["tool_call_id"] = str(tool_call_id)
    elif name := kwargs.get("name"):
        wire["name"] = name
    return wire


def _document_text(block: ContentBlock, where: str) -> str | None:
    """A text/plain ``DocumentBlock``'s text (its bytes or file, as LangChain's
    ``text-plain`` block is text); None for any other block. A file given no type has it
    guessed from its name: LlamaIndex's guess reads binary signatures, none for text."""
    if not isinstance(block, DocumentBlock):
        return None
    mime = block.document_mimetype or (block.path and mimetypes.guess_type(block.path)[0])
    if mime != "text/plain":
        return None
    if not (block.data or block.path):
        return None  # a URL: not fetched, refused with the other unsupported blocks
    try:
        return cast(bytes, block.resolve_document().read()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"{where}: a text/plain DocumentBlock must hold UTF-8 text"
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{where}: cannot read the DocumentBlock: {exc}") from None


def check_text_only(messages: Sequence[ChatMessage]) -> None:
    """Refuse what a ``/completions`` prompt, one string, cannot carry (an image, audio, a
    document), which ``messages_to_prompt`` would leave out in silence, and what is no
    conversation, as the chat endpoint refuses it."""
    if not messages:
        raise InvalidInputError("messages: at least one message is needed")
    for index, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise InvalidInputError(
                f"messages[{index}] must be a ChatMessage, got {type(message).__name__}"
            )
        for position, block in enumerate(message.blocks):
            if not isinstance(block, TextBlock | ThinkingBlock | ToolCallBlock | CachePoint):
                raise InvalidInputError(
                    f"messages[{index}].blocks[{position}]: {type(block).__name__} cannot go "
                    "to /completions, which takes text only (is_chat_model=False): use the "
                    "chat endpoint"
                )


def _wire_tool_call(
    call_id: Any, name: str, arguments: Any, where: str, id_name: str
) -> dict[str, Any]:
    """An assistant turn's tool call as the service takes it; ``where`` names it in errors."""
    if not call_id:
        raise InvalidInputError(
            f"{where} has no {id_name}; the service pairs every call with its result by id"
        )
    if not isinstance(arguments, str):
        try:
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{where}: the tool-call arguments are not JSON ({exc})"
            ) from None
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# ---------------------------------------------------------------------------------- images


def image_block_to_part(
    block: ImageBlock, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> dict[str, Any]:
    """An ``ImageBlock`` (bytes, path or URL) as an ``image_url`` content part."""
    # Passed on as given: an unknown detail is refused by the client's validation, which
    # names the field and the value.
    detail = cast(Any, block.detail)
    if block.image is not None:
        raw = block.image
        if isinstance(raw, IOBase):
            try:
                # Whole and left where it was, or (a pipe, a response body) what is left.
                position = raw.tell() if raw.seekable() else None
                if position is not None:
                    raw.seek(0)
                read = raw.read()
                if position is not None:
                    raw.seek(position)
            except (OSError, ValueError) as exc:  # closed, or not readable
                raise InvalidInputError(f"cannot read the image stream: {exc}") from None
            raw = read.encode() if isinstance(read, str) else read
        # ImageBlock stores bytes base64-encoded after validation; raw bytes set later are
        # not: LlamaIndex's resolver decodes only the former.
        data = resolve_binary(raw_bytes=raw).getvalue()
    elif block.path is not None or str(block.url).startswith("file://"):
        path = block.path or unquote(urlsplit(str(block.url)).path)
        return image_part(path=path, detail=detail, max_bytes=max_bytes)
    elif block.url is not None:
        return image_part(url=str(block.url), detail=detail, max_bytes=max_bytes)
    else:
        raise InvalidInputError("ImageBlock has no image: set image=, path= or url=")
    # The type the bytes announce wins over a declared one (which LlamaIndex often guessed
    # from a file suffix); the declared one covers formats we cannot sniff.
    mime = guess_image_mime_type(data) or block.image_mimetype
    return image_part(data=data, mime_type=mime, detail=detail, max_bytes=max_bytes)


# What a multimodal completion takes (an ImageDocument is a Document, not an ImageNode).
ImageInput = ImageDocument | ImageNode | ImageBlock


def image_document_to_part(
    document: ImageInput, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> dict[str, Any]:
    """An ``ImageDocument`` / ``ImageNode`` (or ``ImageBlock``) as an ``image_url`` part.

    Sources, in order: base64 text or bytes (``image``), a path, a URL. URLs are passed to
    the service as they are (https or data URLs), never fetched here.
    """
    if isinstance(document, ImageBlock):
        return image_block_to_part(document, max_bytes=max_bytes)
    mime = getattr(document, "image_mimetype", None)
    encoded = getattr(document, "image", None)
    if encoded:
        # Documented as base64 text; raw image bytes are accepted too. Either way the type
        # the bytes announce wins over a declared one, as for an ImageBlock.
        if isinstance(encoded, bytes) and guess_image_mime_type(encoded):
            return image_part(data=encoded, max_bytes=max_bytes)
        declared = mime if mime and mime.lower().startswith("image/") else None
        return image_part(base64_data=encoded, mime_type=declared, max_bytes=max_bytes)
    path = getattr(document, "image_path", None)
    if path:
        return image_part(path=path, max_bytes=max_bytes)
    url = getattr(document, "image_url", None)
    if url:
        return image_part(url=str(url), max_bytes=max_bytes)
    if not isinstance(document, BaseNode):  # a URL or path given bare, say
        raise InvalidInputError(
            f"a {type(document).__name__} is not an ImageDocument, ImageNode or ImageBlock"
        )
    raise InvalidInputError(
        f"{type(document).__name__} {document.id_!r} has no image (image, image_path or image_url)"
    )


def prompt_with_images(
    prompt: str,
    image_documents: Sequence[ImageInput],
    *,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> dict[str, Any]:
    """The user message of a multimodal completion: the prompt, then each image."""
    # A single document (a pydantic model iterates over its fields; an ImageDocument is a
    # Document, not an ImageNode) or a path is no list.
    if isinstance(image_documents, str | bytes | BaseNode | ImageBlock) or not isinstance(
        image_documents, Iterable
    ):
        raise InvalidInputError(
            "image_documents must be a list of ImageDocument, ImageNode or ImageBlock, got "
            f"{type(image_documents).__name__}"
        )
    parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    for position, document in enumerate(image_documents):
        try:
            parts.append(image_document_to_part(document, max_bytes=max_image_bytes))
        except InvalidInputError as exc:
            raise InvalidInputError(f"image_documents[{position}]: {exc}") from None
    return {"role": "user", "content": parts}


# ----------------------------------------------------------------------------------- tools


def _lenient_arguments(arguments: Any) -> dict[str, Any]:
    """Arguments of a call that is still streaming: partial JSON must not raise."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = parse_partial_json(str(arguments))
    except (ValueError, TypeError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _complete_arguments(arguments: Any, name: str, finish_reason: Any) -> dict[str, Any]:
    """Arguments of a finished call: a call that cannot run is an error, never a guess."""
    if isinstance(arguments, dict):
        return arguments
    try:
        return api.parse_tool_arguments(arguments or "")
    except ValueError as error:
        cut = (
            " (the answer was cut off: finish_reason 'length')" if finish_reason == "length" else ""
        )
        raise APIResponseValidationError(
            f"the model's call of tool {name!r} cannot be run{cut}: {error}",
            body=arguments,
        ) from None


def check_whole_json(response: ChatResponse | CompletionResponse) -> None:
    """Raise when a finished answer asked to be JSON holds no complete JSON object (what
    LlamaIndex's parser reads): a stream's lenient parse would read a cut one as shorter.
    The live service may say finish_reason "stop" for an answer max_tokens cut."""
    finish_reason = response.additional_kwargs.get("finish_reason")
    if finish_reason is None:
        return  # still streaming
    text = response.text if isinstance(response, CompletionResponse) else response.message.content
    try:
        json.loads(extract_json_str(text or ""), strict=False)
    except ValueError:
        cut = " (finish_reason 'length')" if finish_reason == "length" else ""
        raise APIResponseValidationError(
            f"the answer is not complete JSON (cut off by max_tokens{cut}, or malformed):"
            " raise max_tokens if it was cut",
            body=text,
        ) from None


def tool_selections(response: ChatResponse, error_on_no_tool_call: bool) -> list[ToolSelection]:
    """The tool calls of a response as ``ToolSelection`` objects. Mid-stream, arguments
    are read leniently (they are still arriving); once the answer is complete, a call whose
    arguments are not complete, valid JSON raises ``APIResponseValidationError``."""
    calls: list[tuple[str | None, str, Any]] = [
        (block.tool_call_id, block.tool_name, block.tool_kwargs)
        for block in response.message.blocks
        if isinstance(block, ToolCallBlock)
    ]
    if not calls:
        for n, call in enumerate(response.message.additional_kwargs.get("tool_calls") or ()):
            calls.append(_openai_call(call, f"additional_kwargs['tool_calls'][{n}]"))
    if not calls and error_on_no_tool_call:
        raise ValueError("Expected at least one tool call, but got 0 tool calls.")
    finish_reason = response.additional_kwargs.get("finish_reason")
    complete = response.delta is None or finish_reason is not None
    return [
        ToolSelection(
            tool_id=call_id or "",
            tool_name=name,
            tool_kwargs=(
                _complete_arguments(raw, name, finish_reason)
                if complete
                else _lenient_arguments(raw)
            ),
        )
        for call_id, name, raw in calls
    ]


def _openai_call(call: Any, where: str) -> tuple[Any, str, Any]:
    """The id, name and arguments of an OpenAI-style tool call (a dict, or an SDK object)."""
    dump = getattr(call, "model_dump", None)
    if isinstance(call, Mapping):
        mapping: Any = call
    elif callable(dump):
        mapping = dump()
    else:
        mapping = getattr(call, "__dict__", None)
    function = (mapping.get("function") or {}) if isinstance(mapping, Mapping) else None
    if not isinstance(function, Mapping):
        raise InvalidInputError(
            f"{where} is not a tool call (a dict with 'id' and 'function': "
            f"{{'name', 'arguments'}}), got {type(call).__name__}"
        )
    return mapping.get("id"), function.get("name") or "", function.get("arguments")


def check_tool_names(response: ChatResponse, names: Sequence[str]) -> None:
    """Each tool call of a response names one of the tools given: LlamaIndex looks the
    tool up by name and would fail with a bare ``KeyError``."""
    for block in response.message.blocks:
        if isinstance(block, ToolCallBlock) and block.tool_name not in names:
            given = ", ".join(map(repr, names)) or "none"
            raise APIResponseValidationError(
                f"the model called tool {block.tool_name!r}, which is not among the tools "
                f"given ({given})",
                body=block.tool_kwargs,
            )


def force_single_tool_call(response: ChatResponse) -> None:
    """Keep only the first tool call of a response the framework just received."""
    message = response.message
    calls = [block for block in message.blocks if isinstance(block, ToolCallBlock)]
    if len(calls) > 1:
        message.blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock)]
        message.blocks.append(calls[0])
    wire_calls = message.additional_kwargs.get("tool_calls")
    if isinstance(wire_calls, list) and len(wire_calls) > 1:
        message.additional_kwargs = {**message.additional_kwargs, "tool_calls": wire_calls[:1]}


# ------------------------------------------------------------------------- responses out


def _tool_outputs(
    calls: Sequence[api.ToolCall], id_prefix: str, *, complete: bool
) -> tuple[list[ToolCallBlock], list[dict[str, Any]]]:
    """``ToolCallBlock``s and OpenAI-style dicts for the calls of one message.

    A host that sends no call id gets a deterministic one: the framework answers each call
    by id, and the service refuses a tool result without one.
    """
    blocks: list[ToolCallBlock] = []
    dicts: list[dict[str, Any]] = []
    for n, call in enumerate(calls):
        call_id = call.id or f"call_{id_prefix}_{n}"
        name, arguments = call.function.name, call.function.arguments
        kwargs: dict[str, Any] | str = arguments
        if complete:  # read as a dict; text that does not parse stays text
            with contextlib.suppress(ValueError):
                kwargs = api.parse_tool_arguments(arguments)
        blocks.append(ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=kwargs))
        function = {"name": name, "arguments": arguments}
        dicts.append({"id": call_id, "type": "function", "function": function})
    return blocks, dicts


def _response_extras(
    usage: api.Usage | None,
    confidence_score: float | None,
    finish_reason: str | None,
    timing: api.Timing | None,
) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if usage is not None:
        extras["prompt_tokens"] = usage.prompt_tokens
        extras["completion_tokens"] = usage.completion_tokens
        extras["total_tokens"] = usage.total_tokens
        reasoning_tokens = usage.reasoning_tokens
        if reasoning_tokens is not None:
            extras["reasoning_tokens"] = reasoning_tokens
    if confidence_score is not None:
        extras["confidence_score"] = confidence_score
    if finish_reason is not None:
        extras["finish_reason"] = finish_reason
    if timing is not None:
        extras["timing"] = timing.as_dict()
    return extras


def _message(
    text: str,
    reasoning: str | None,
    tool_blocks: Sequence[ToolCallBlock],
    tool_dicts: list[dict[str, Any]] | None,
    usage: api.Usage | None = None,
) -> ChatMessage:
    # Plain constructors: with pydantic 2.x these small models validate faster than
    # model_construct builds them, and this runs once per streamed chunk.
    blocks: list[ContentBlock] = []
    if reasoning:
        tokens = usage.reasoning_tokens if usage is not None else None
        blocks.append(ThinkingBlock(content=reasoning, num_tokens=tokens))
    if text or not tool_blocks:
        blocks.append(TextBlock(text=text))
    blocks.extend(tool_blocks)
    return ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=blocks,
        additional_kwargs={"tool_calls": tool_dicts} if tool_dicts else {},
    )


def completion_to_chat_response(
    completion: api.ChatCompletion | api.TextCompletion,
) -> ChatResponse:
    """A whole answer, chat or text completion (its first choice, whatever the order the
    host lists them in, as a stream's), as a ``ChatResponse``; ``raw`` is the answer as a
    dict."""
    raw = completion.model_dump(exclude_none=True)
    raw.setdefault("usage", None)
    usage = completion.usage
    choice = min(completion.choices, key=lambda choice: choice.index, default=None)
    if isinstance(choice, api.Choice):
        blocks, dicts = _tool_outputs(
            choice.message.tool_calls or (), completion.id or "0", complete=True
        )
        message = _message(choice.message.text, choice.message.reasoning_text, blocks, dicts, usage)
    else:  # a text completion's choice, or none
        message = _message(choice.text if choice else "", None, (), None)
    return ChatResponse(
        message=message,
        raw=raw,
        delta=None,
        logprobs=None,
        additional_kwargs=_response_extras(
            usage,
            completion.confidence_score,
            choice.finish_reason if choice else None,
            completion.timing,
        ),
    )


def chat_to_completion_response(response: ChatResponse) -> CompletionResponse:
    """A ``ChatResponse`` seen through the completion API."""
    extras = dict(response.additional_kwargs)
    message = response.message
    for block in message.blocks:
        if isinstance(block, ThinkingBlock) and block.content:
            extras["thinking"] = block.content
    if message.additional_kwargs.get("tool_calls"):
        extras["tool_calls"] = message.additional_kwargs["tool_calls"]
    return CompletionResponse(
        text=message.content or "",
        additional_kwargs=extras,
        raw=response.raw,
        logprobs=None,
        delta=response.delta,
    )
