"""Request validation as the service documents it, with FastAPI + pydantic v2 errors.

Written from the provider's documentation, NOT shared with ``nugen_client``'s own checks:
the emulator exists to check the client, so the two must be able to disagree. Numbers and
booleans are coerced in lax mode (the provider's example sends ``"max_tokens": "2000"``);
undocumented fields are ignored, as FastAPI ignores them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from nugen_emulator._lax import (
    MISSING,
    Errors,
    Loc,
    as_dict,
    as_list,
    as_model_dict,
    as_str,
    lax_bool,
    lax_float,
    lax_int,
    optional,
    required,
)

ROLES = ("system", "user", "assistant", "tool")
RERANK_METHODS = ("fast", "standard", "optimal", "best")
CROSS_ENCODER_METHODS = ("standard", "optimal")
EFFORTS = ("xhigh", "high", "medium", "low", "minimal", "none")
NAME_PATTERN = "^[A-Za-z0-9_]{1,64}$"
TOOL_NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_NAME_RE = re.compile(NAME_PATTERN)
_TOOL_NAME_RE = re.compile(TOOL_NAME_PATTERN)
_DATA_URL_RE = re.compile(
    r"^data:(?P<mime>[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+)"
    r"(?P<params>(?:;[A-Za-z0-9_.+-]+=[^;,]*)*);base64,(?P<data>.*)$",
    re.DOTALL,
)
MAX_EMBEDDING_DIMENSIONS = 8192


@dataclass(frozen=True)
class ImageRef:
    """An image part as the emulator understood it (for the model's description)."""

    url_kind: str  # "data" or "url"
    mime: str | None = None
    size: int | None = None  # decoded bytes, data URLs only
    host: str | None = None  # https URLs only


@dataclass
class ChatRequest:
    """A validated, normalised chat request (lax values already coerced)."""

    model: str
    messages: list[dict[str, Any]]
    images: list[list[ImageRef]]  # per message, in part order
    max_tokens: int | None = None
    temperature: float | None = None
    stream: bool = False
    n: int = 1
    stop: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    include_usage: bool = False
    prompt_truncate_len: int = 1500


@dataclass
class CompletionRequest:
    model: str
    prompts: list[str]
    max_tokens: int | None = None
    stream: bool = False
    n: int = 1
    stop: list[str] = field(default_factory=list)
    include_usage: bool = False


@dataclass
class RerankRequest:
    model: str
    query: str
    documents: list[str | dict[str, Any]]
    method: str = "fast"
    model_cross: str | None = None
    top_n: int | None = None
    stage1_top_k: int = 100
    return_documents: bool = False


@dataclass
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None = None
    encoding_format: str = "float"


def parse_image_url(url: str) -> ImageRef | str:
    """An :class:`ImageRef` for an ``https://`` URL (never fetched) or a decodable
    ``data:image/...;base64,`` URL, else the reason it is refused."""
    if url.startswith("data:"):
        match = _DATA_URL_RE.match(url)
        if match is None:
            return "a data URL must look like data:<mime>;base64,<data>"
        mime = match.group("mime").lower()
        if not mime.startswith("image/"):
            return f"a data URL must carry an image, not {mime}"
        try:
            data = base64.b64decode(match.group("data"), validate=True)
        except (binascii.Error, ValueError):
            return "the data URL's base64 payload does not decode"
        if not data:
            return "the data URL's payload is empty"
        return ImageRef(url_kind="data", mime=mime, size=len(data))
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" and parts.hostname:
        return ImageRef(url_kind="url", host=parts.hostname)
    return "image_url.url must be an https:// URL or a data:<mime>;base64, URL"


def _start(body: Any) -> tuple[dict[str, Any], Errors, str]:
    """The body as an object (else a 422 at once), the error list, and ``model``."""
    errors = Errors()
    if as_model_dict(errors, (), body) is None:
        errors.raise_if_any()
    return body, errors, required(errors, (), body, "model", as_str) or ""


def _stop(errors: Errors, body: dict[str, Any]) -> list[str]:
    value = body.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    items = as_list(errors, ("stop",), value) or []
    texts = [as_str(errors, ("stop", i), item) for i, item in enumerate(items)]
    return [text for text in texts if text]


def _include_usage(errors: Errors, body: dict[str, Any], stream: bool, strict: bool) -> bool:
    """``stream_options.include_usage``. The Nugen service does not document the field (so
    it is ignored, like any unknown field); vLLM-style hosts reject it without ``stream``."""
    if not strict:
        return False
    mapping = optional(errors, body, "stream_options", as_dict)
    if mapping is None:
        return False
    if not stream:
        message = "stream_options can only be set when stream is true"
        errors.value_error(("stream_options",), message, mapping)
        return False
    flag = mapping.get("include_usage")
    return flag is not None and bool(lax_bool(errors, ("stream_options", "include_usage"), flag))


def _validate_content(errors: Errors, loc: Loc, content: Any, images: list[ImageRef]) -> None:
    if isinstance(content, str):
        return
    parts = as_list(errors, loc, content)
    if parts is None:
        # pydantic reports a failed ``str | list`` union once per member; one is clearer.
        return
    for j, part in enumerate(parts):
        image = _content_part(errors, (*loc, j), part)
        if image is not None:
            images.append(image)


def _content_part(errors: Errors, loc: Loc, part: Any) -> ImageRef | None:
    """One part of a content list (text or image); the image it refers to, if any."""
    mapping = as_model_dict(errors, loc, part)
    if mapping is None:
        return None
    kind = mapping.get("type", MISSING)
    if kind is MISSING:
        errors.missing((*loc, "type"), mapping)
    elif kind == "text":
        required(errors, loc, mapping, "text", as_str)
    elif kind == "image_url":
        return _image_part(errors, loc, mapping)
    else:
        tags = "'text', 'image_url'"
        message = f"Input tag '{kind}' found using 'type' does not match any of the expected "
        ctx = {"discriminator": "'type'", "tag": str(kind), "expected_tags": tags}
        errors.add("union_tag_invalid", loc, f"{message}tags: {tags}", mapping, ctx)
    return None


def _image_part(errors: Errors, loc: Loc, part: dict[str, Any]) -> ImageRef | None:
    holder = required(errors, loc, part, "image_url", as_model_dict)
    url = None if holder is None else required(errors, (*loc, "image_url"), holder, "url", as_str)
    if url is None:
        return None
    parsed = parse_image_url(url)
    if isinstance(parsed, str):
        errors.value_error((*loc, "image_url", "url"), parsed, url)
        return None
    return parsed


def _validate_tool_calls(errors: Errors, loc: Loc, value: Any) -> None:
    calls = as_list(errors, loc, value)
    for k, call in enumerate(calls or []):
        call_loc = (*loc, k)
        mapping = as_model_dict(errors, call_loc, call)
        if mapping is None:
            continue
        for key in ("id", "function"):
            if key not in mapping:
                errors.missing((*call_loc, key), mapping)
        if "id" in mapping:
            as_str(errors, (*call_loc, "id"), mapping["id"])
        if mapping.get("type", "function") != "function":
            errors.literal((*call_loc, "type"), ("function",), mapping["type"])
        function = mapping.get("function")
        if (
            function is None
            or (fn := as_model_dict(errors, (*call_loc, "function"), function)) is None
        ):
            continue
        for key in ("name", "arguments"):
            if key not in fn:
                errors.missing((*call_loc, "function", key), fn)
            else:
                as_str(errors, (*call_loc, "function", key), fn[key])


def _validate_messages(errors: Errors, body: dict[str, Any]) -> list[list[ImageRef]]:
    images: list[list[ImageRef]] = []
    messages = required(errors, (), body, "messages", as_list, min_len=1)
    for i, message in enumerate(messages or []):
        loc: Loc = ("messages", i)
        message_images: list[ImageRef] = []
        images.append(message_images)
        mapping = as_model_dict(errors, loc, message)
        if mapping is None:
            continue
        role = mapping.get("role", MISSING)
        if role is MISSING:
            errors.missing((*loc, "role"), mapping)
        elif role not in ROLES:
            errors.literal((*loc, "role"), ROLES, role, ctx=True)
        content = mapping.get("content", MISSING)
        has_tool_calls = bool(mapping.get("tool_calls"))
        if content is MISSING or content is None:
            # An assistant turn may carry only tool calls; everyone else must say something.
            if not (role == "assistant" and (has_tool_calls or content is None)):
                errors.missing((*loc, "content"), mapping)
        else:
            _validate_content(errors, (*loc, "content"), content, message_images)
        name = mapping.get("name")
        if name is not None:
            text = as_str(errors, (*loc, "name"), name)
            if text is not None and not _NAME_RE.match(text):
                errors.pattern((*loc, "name"), NAME_PATTERN, text)
        if mapping.get("tool_calls") is not None:
            _validate_tool_calls(errors, (*loc, "tool_calls"), mapping["tool_calls"])
        if role == "tool":
            call_id = mapping.get("tool_call_id", MISSING)
            if call_id is MISSING or call_id is None:
                errors.missing((*loc, "tool_call_id"), mapping)
            else:
                as_str(errors, (*loc, "tool_call_id"), call_id)
    return images


def _validate_tools(errors: Errors, body: dict[str, Any]) -> list[dict[str, Any]]:
    valid: list[dict[str, Any]] = []
    for i, tool in enumerate(optional(errors, body, "tools", as_list) or []):
        loc: Loc = ("tools", i)
        mapping = as_model_dict(errors, loc, tool)
        if mapping is None:
            continue
        kind = mapping.get("type", "function")
        if kind != "function":
            errors.literal((*loc, "type"), ("function",), kind)
            continue
        fn = required(errors, loc, mapping, "function", as_model_dict)
        if fn is None:
            continue
        before = len(errors.items)  # the tool is valid when it adds no error
        where = (*loc, "function")
        name = required(errors, where, fn, "name", as_str)
        if name is not None and not _TOOL_NAME_RE.match(name):
            errors.pattern((*where, "name"), TOOL_NAME_PATTERN, name)
        if fn.get("description") is not None:
            as_str(errors, (*where, "description"), fn["description"])
        params = fn.get("parameters")
        params = None if params is None else as_dict(errors, (*where, "parameters"), params)
        if params is not None and params.get("type", "object") != "object":
            message = "a tool's parameters must be a JSON schema of type 'object'"
            errors.value_error((*where, "parameters"), message, params)
        if len(errors.items) == before:
            valid.append(fn)
    return valid


def _validate_tool_choice(
    errors: Errors, body: dict[str, Any], tools: list[dict[str, Any]]
) -> str | dict[str, Any] | None:
    value = body.get("tool_choice")
    if value is None:
        return None
    loc: Loc = ("tool_choice",)
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            errors.literal(loc, ("auto", "none", "required"), value)
            return None
        if value == "required" and not tools:
            errors.value_error(loc, "tool_choice 'required' needs tools", value)
        return value
    mapping = as_dict(errors, loc, value)
    if mapping is None:
        return None
    function = mapping.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if mapping.get("type", "function") != "function" or not isinstance(name, str):
        shape = '{"type": "function", "function": {"name": "..."}}'
        errors.value_error(loc, f"a specific tool_choice must look like {shape}", value)
        return None
    if name not in {tool.get("name") for tool in tools}:
        message = f"tool_choice names the tool {name!r}, which is not in tools"
        errors.value_error(loc, message, value)
        return None
    return mapping


def _validate_response_format(errors: Errors, body: dict[str, Any]) -> dict[str, Any] | None:
    mapping = optional(errors, body, "response_format", as_dict)
    if mapping is None:
        return None
    loc: Loc = ("response_format",)
    kind = mapping.get("type", MISSING)
    if kind is MISSING:
        errors.missing((*loc, "type"), mapping)
        return None
    if kind not in ("text", "json_object", "json_schema"):
        errors.literal((*loc, "type"), ("text", "json_object", "json_schema"), kind)
        return None
    if kind == "json_schema":
        holder = required(errors, loc, mapping, "json_schema", as_dict)
        if (
            holder is None
            or required(errors, (*loc, "json_schema"), holder, "schema", as_dict) is None
        ):
            return None
    return mapping


def _validate_reasoning(errors: Errors, body: dict[str, Any]) -> dict[str, Any] | None:
    mapping = optional(errors, body, "reasoning", as_model_dict)
    if mapping is None:
        return None
    loc: Loc = ("reasoning",)
    result: dict[str, Any] = {}
    effort = mapping.get("effort")
    if effort is not None:
        if effort not in EFFORTS:
            errors.literal((*loc, "effort"), EFFORTS, effort)
        else:
            result["effort"] = effort
    if mapping.get("max_tokens") is not None:
        result["max_tokens"] = lax_int(errors, (*loc, "max_tokens"), mapping["max_tokens"], ge=1)
    for key in ("exclude", "enabled"):
        if mapping.get(key) is not None:
            result[key] = lax_bool(errors, (*loc, key), mapping[key])
    return result


def _common_ints(
    errors: Errors, body: dict[str, Any], *, min_tokens: int = 1
) -> tuple[int | None, int, bool]:
    max_tokens = optional(errors, body, "max_tokens", lax_int, ge=min_tokens)
    n = optional(errors, body, "n", lax_int, ge=1) or 1
    if n > 16:
        errors.bound(("n",), "le", 16, n)
        n = 1
    stream = bool(optional(errors, body, "stream", lax_bool))
    return max_tokens, n, stream


def validate_chat(body: Any, *, vision: bool = False, openai: bool = False) -> ChatRequest:
    """Validate a ``/chat/completions`` (or ``/chat/vision``) body; raise :class:`InvalidBody`.

    ``openai``: the dialect that knows ``stream_options``. ``vision``: only the fields
    ``/chat/vision`` documents count; FastAPI ignores the rest.
    """
    body, errors, model = _start(body)
    images = _validate_messages(errors, body)
    max_tokens, n, stream = _common_ints(errors, body)
    temperature = optional(errors, body, "temperature", lax_float, ge=0, le=2)
    # Checked, though the emulator's model does not use them.
    optional(errors, body, "top_p", lax_float, ge=0, le=1)
    optional(errors, body, "top_k", lax_int, ge=0)
    prompt_truncate_len = optional(errors, body, "prompt_truncate_len", lax_int, ge=1) or 1500
    # Returned only once the whole body proved valid (``messages`` a list of messages).
    chat = ChatRequest(
        model=model,
        messages=body.get("messages"),
        images=images,
        max_tokens=max_tokens,
        temperature=temperature,
        prompt_truncate_len=prompt_truncate_len,
    )
    if not vision:
        chat.stream = stream
        chat.n = n
        chat.stop = _stop(errors, body)
        chat.tools = _validate_tools(errors, body)
        chat.tool_choice = _validate_tool_choice(errors, body, chat.tools)
        chat.parallel_tool_calls = optional(errors, body, "parallel_tool_calls", lax_bool)
        chat.response_format = _validate_response_format(errors, body)
        chat.reasoning = _validate_reasoning(errors, body)
        chat.include_usage = _include_usage(errors, body, stream, strict=openai)
    errors.raise_if_any()
    return chat


def _texts(errors: Errors, body: dict[str, Any], name: str) -> list[str]:
    """A required field that is a string or a non-empty list of strings, as a list."""
    value = body.get(name, MISSING)
    if value is MISSING:
        errors.missing((name,), body)
        return []
    if isinstance(value, str):
        return [value]
    items = as_list(errors, (name,), value, min_len=1) or []
    texts = [as_str(errors, (name, i), item) for i, item in enumerate(items)]
    return [text for text in texts if text is not None]


def validate_completion(body: Any, *, openai: bool = False) -> CompletionRequest:
    """Validate a ``/completions`` body (``prompt`` is a string or a list of strings)."""
    body, errors, model = _start(body)
    prompts = _texts(errors, body, "prompt")
    # Documented as ``max_tokens >= 0`` here (chat says nothing): 0 asks for no text at all.
    max_tokens, n, stream = _common_ints(errors, body, min_tokens=0)
    optional(errors, body, "temperature", lax_float, ge=0, le=2)
    # As in validate_chat: built, then returned once the body proved valid. The keywords
    # are in validation order, the order the errors are reported in.
    completion = CompletionRequest(
        model=model,
        prompts=prompts,
        max_tokens=max_tokens,
        stream=stream,
        n=n,
        stop=_stop(errors, body),
        include_usage=_include_usage(errors, body, stream, strict=openai),
    )
    errors.raise_if_any()
    return completion


def validate_embeddings(body: Any) -> EmbeddingRequest:
    """Validate an ``/embeddings`` body (``input`` is a string or a non-empty list of them)."""
    body, errors, model = _start(body)
    inputs = _texts(errors, body, "input")
    dimensions = optional(errors, body, "dimensions", lax_int, ge=1)
    if dimensions is not None and dimensions > MAX_EMBEDDING_DIMENSIONS:
        errors.bound(("dimensions",), "le", MAX_EMBEDDING_DIMENSIONS, dimensions)
        dimensions = None
    encoding_format = body.get("encoding_format")
    if encoding_format is not None and encoding_format not in ("float", "base64"):
        errors.literal(("encoding_format",), ("float", "base64"), encoding_format)
    errors.raise_if_any()
    return EmbeddingRequest(
        model=model,
        inputs=inputs,
        dimensions=dimensions,
        encoding_format=encoding_format or "float",
    )


def _document(errors: Errors, loc: Loc, value: Any) -> str | dict[str, Any] | None:
    if isinstance(value, (str, dict)):
        return value
    # pydantic reports a failed ``str | dict`` union once per member; one is clearer.
    errors.add("string_type", loc, "Input should be a valid string or object", value)
    return None


def validate_rerank(body: Any) -> RerankRequest:
    """Validate a ``/reranker`` body (``documents`` are strings or objects)."""
    body, errors, model = _start(body)
    query = required(errors, (), body, "query", as_str) or ""
    documents = [
        document
        for i, value in enumerate(required(errors, (), body, "documents", as_list) or [])
        if (document := _document(errors, ("documents", i), value)) is not None
    ]
    method = optional(errors, body, "method", as_str) or "fast"
    if method not in RERANK_METHODS:
        errors.literal(("method",), RERANK_METHODS, method, ctx=True)
    model_cross = optional(errors, body, "model_cross", as_str)
    if method in CROSS_ENCODER_METHODS and body.get("model_cross") is None:
        message = f"model_cross (a cross-encoder) is required for method '{method}'"
        errors.value_error(("model_cross",), message, None)
    top_n = optional(errors, body, "top_n", lax_int, ge=1)
    stage1_top_k = optional(errors, body, "stage1_top_k", lax_int, ge=1) or 100
    # Checked, though scoring does not depend on them.
    optional(errors, body, "max_tokens_per_doc", lax_int, ge=1)
    optional(errors, body, "batch_size", lax_int, ge=1)
    return_documents = bool(optional(errors, body, "return_documents", lax_bool))
    errors.raise_if_any()
    return RerankRequest(
        model=model,
        query=query,
        documents=documents,
        method=method,
        model_cross=model_cross,
        top_n=top_n,
        stage1_top_k=stage1_top_k,
        return_documents=return_documents,
    )
