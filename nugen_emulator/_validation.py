"""Request validation as the service documents it, with FastAPI + pydantic v2 errors.

Written from the provider's documentation, NOT shared with ``nugen_client``'s own checks:
the emulator exists to check the client, so the two must be able to disagree. Each reader
takes a value from the body and returns it coerced as pydantic's lax mode does (the
provider's example sends ``"max_tokens": "2000"``), or records the error pydantic would
report (``type``, ``loc`` from ``"body"``, ``msg``, ``input``, ``ctx``) and returns ``None``,
so one pass over a body reports every problem at once. Undocumented fields are ignored, as
FastAPI ignores them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

Loc = tuple[str | int, ...]
T = TypeVar("T")
MISSING: Any = object()  # a field absent from the body (``None`` is a value sent as null)
ROLES = ("system", "user", "assistant", "tool")
RERANK_METHODS = ("fast", "standard", "optimal", "best")
CROSS_ENCODER_METHODS = ("standard", "optimal")
EFFORTS = ("xhigh", "high", "medium", "low", "minimal", "none")
TOOL_CHOICES = ("auto", "none", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
NAME_PATTERN = "^[A-Za-z0-9_]{1,64}$"
TOOL_NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_DATA_URL_RE = re.compile(
    r"^data:(?P<mime>[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+)"
    r"(?P<params>(?:;[A-Za-z0-9_.+-]+=[^;,]*)*);base64,(?P<data>.*)$",
    re.DOTALL,
)
MAX_EMBEDDING_DIMENSIONS = 8192
_MAX_ECHOED_INPUT = 1000
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


class InvalidBody(Exception):
    """Raised with the FastAPI-style ``detail`` list of everything wrong with a body."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        where = [".".join(str(part) for part in e["loc"][1:]) or "body" for e in errors]
        super().__init__("; ".join(f"{w}: {e['msg']}" for w, e in zip(where, errors, strict=True)))
        self.errors = errors


class Errors:
    """Collects every problem in a body, the way pydantic reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(
        self, type_: str, loc: Loc, msg: str, value: Any, ctx: dict[str, Any] | None = None
    ) -> None:
        if isinstance(value, str) and len(value) > _MAX_ECHOED_INPUT:
            value = value[:_MAX_ECHOED_INPUT] + "..."
        item: dict[str, Any] = {"type": type_, "loc": ["body", *loc], "msg": msg, "input": value}
        self.items.append(item | ({"ctx": ctx} if ctx else {}))

    def missing(self, loc: Loc, parent: Any) -> None:
        self.add("missing", loc, "Field required", parent)

    def value_error(self, loc: Loc, message: str, value: Any) -> None:
        self.add("value_error", loc, f"Value error, {message}", value)

    def literal(self, loc: Loc, options: tuple[str, ...], value: Any, *, ctx: bool = False) -> None:
        quoted = [f"'{o}'" for o in options]
        expected = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
        context = {"expected": expected} if ctx else None
        self.add("literal_error", loc, f"Input should be {expected}", value, context)

    def pattern(self, loc: Loc, pattern: str, value: Any) -> None:
        message = f"String should match pattern '{pattern}'"
        self.add("string_pattern_mismatch", loc, message, value, {"pattern": pattern})

    def bound(self, loc: Loc, key: str, limit: float, value: Any) -> None:
        """``value`` is below ``limit`` (``key`` ``"ge"``) or above it (``"le"``)."""
        kind = "greater" if key == "ge" else "less"
        shown = str(int(limit)) if float(limit).is_integer() else str(limit)
        message = f"Input should be {kind} than or equal to {shown}"
        self.add(f"{kind}_than_equal", loc, message, value, {key: limit})

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidBody(self.items)


# -- readers: the value coerced, or None with the error recorded ------------------------------


def _finite(value: Any) -> float | None:
    # pydantic refuses nan and infinities however they are written.
    if isinstance(value, (int, float)) and math.isfinite(number := float(value)):
        return number
    return None


def _number(
    errors: Errors, loc: Loc, value: Any, integer: bool, ge: float | None, le: float | None
) -> Any:
    """An int (ints, integral floats, integer strings) or a finite float, in lax mode."""
    name, noun, article = ("int", "integer", "an") if integer else ("float", "number", "a")
    result: float | None = None
    if isinstance(value, str):
        try:
            result = int(value.strip()) if integer else _finite(float(value.strip()))
        except ValueError:
            message = f"Input should be a valid {noun}, unable to parse string as {article} {noun}"
            errors.add(f"{name}_parsing", loc, message, value)
            return None
    elif integer and isinstance(value, float) and value.is_integer():
        result = int(value)
    elif not isinstance(value, bool) and (isinstance(value, int) or not integer):
        result = _finite(value) if not integer else value
    if result is None:
        errors.add(f"{name}_type", loc, f"Input should be a valid {noun}", value)
    elif ge is not None and result < ge:
        errors.bound(loc, "ge", ge, value)
    elif le is not None and result > le:
        errors.bound(loc, "le", le, value)
    else:
        return result
    return None


def lax_int(errors: Errors, loc: Loc, value: Any, *, ge: int | None = None) -> int | None:
    result: int | None = _number(errors, loc, value, True, ge, None)
    return result


def lax_float(
    errors: Errors, loc: Loc, value: Any, *, ge: float | None = None, le: float | None = None
) -> float | None:
    result: float | None = _number(errors, loc, value, False, ge, le)
    return result


def lax_bool(errors: Errors, loc: Loc, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    kind = "bool_parsing" if isinstance(value, str) else "bool_type"
    errors.add(kind, loc, "Input should be a valid boolean", value)
    return None


def as_str(errors: Errors, loc: Loc, value: Any) -> str | None:
    if isinstance(value, str):
        return value
    errors.add("string_type", loc, "Input should be a valid string", value)
    return None


def as_dict(errors: Errors, loc: Loc, value: Any, *, model: bool = False) -> dict[str, Any] | None:
    """An object: a plain dict field, or (``model``) one parsed as a pydantic model."""
    if isinstance(value, dict):
        return value
    if model:
        message = "Input should be a valid dictionary or object to extract fields from"
        errors.add("model_attributes_type", loc, message, value)
    else:
        errors.add("dict_type", loc, "Input should be a valid dictionary", value)
    return None


def as_model(errors: Errors, loc: Loc, value: Any) -> dict[str, Any] | None:
    return as_dict(errors, loc, value, model=True)


def as_list(errors: Errors, loc: Loc, value: Any, *, min_len: int = 0) -> list[Any] | None:
    if not isinstance(value, list):
        errors.add("list_type", loc, "Input should be a valid list", value)
        return None
    if len(value) < min_len:
        message = f"List should have at least {min_len} item after validation, not {len(value)}"
        ctx = {"field_type": "List", "min_length": min_len, "actual_length": len(value)}
        errors.add("too_short", loc, message, value, ctx)
        return None
    return value


def required(
    errors: Errors,
    loc: Loc,
    parent: dict[str, Any],
    key: str,
    read: Callable[..., T | None],
    **options: Any,
) -> T | None:
    """``parent[key]`` as ``read(errors, loc, value, **options)`` takes it; None when absent
    ("Field required", its ``input`` the parent) or refused (null included)."""
    value = parent.get(key, MISSING)
    if value is MISSING:
        errors.missing((*loc, key), parent)
        return None
    return read(errors, (*loc, key), value, **options)


def optional(
    errors: Errors,
    parent: dict[str, Any],
    key: str,
    read: Callable[..., T | None],
    *,
    at: Loc = (),
    **options: Any,
) -> T | None:
    """``parent[key]`` (at ``at``) when it is neither absent nor null (``Optional = None``)."""
    value = parent.get(key)
    return None if value is None else read(errors, (*at, key), value, **options)


# -- requests --------------------------------------------------------------------------------


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
    max_tokens: int | None
    stream: bool
    n: int
    stop: list[str]
    include_usage: bool


@dataclass
class RerankRequest:
    model: str
    query: str
    documents: list[str | dict[str, Any]]
    method: str
    model_cross: str | None
    top_n: int | None
    stage1_top_k: int
    return_documents: bool


@dataclass
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None
    encoding_format: str


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
    if as_model(errors, (), body) is None:
        errors.raise_if_any()
    return body, errors, required(errors, (), body, "model", as_str) or ""


def _common(
    errors: Errors, body: dict[str, Any], *, min_tokens: int = 1
) -> tuple[int | None, int, bool]:
    """``max_tokens``, ``n`` (1 to 16) and ``stream``."""
    max_tokens = optional(errors, body, "max_tokens", lax_int, ge=min_tokens)
    n = optional(errors, body, "n", lax_int, ge=1) or 1
    if n > 16:
        errors.bound(("n",), "le", 16, n)
        n = 1
    return max_tokens, n, bool(optional(errors, body, "stream", lax_bool))


def _stop(errors: Errors, body: dict[str, Any]) -> list[str]:
    value = body.get("stop")
    if value is None or isinstance(value, str):
        return [value] if value else []
    texts = [
        as_str(errors, ("stop", i), item)
        for i, item in enumerate(as_list(errors, ("stop",), value) or [])
    ]
    return [text for text in texts if text]


def _include_usage(errors: Errors, body: dict[str, Any], stream: bool, strict: bool) -> bool:
    """``stream_options.include_usage``. The Nugen service does not document the field (so
    it is ignored, like any unknown field); vLLM-style hosts reject it without ``stream``."""
    mapping = optional(errors, body, "stream_options", as_dict) if strict else None
    if mapping is None:
        return False
    if not stream:
        errors.value_error(
            ("stream_options",), "stream_options can only be set when stream is true", mapping
        )
        return False
    flag = mapping.get("include_usage")
    return flag is not None and bool(lax_bool(errors, ("stream_options", "include_usage"), flag))


def _content(errors: Errors, loc: Loc, content: Any, images: list[ImageRef]) -> None:
    """A message's content: a string, or a list of text and image parts."""
    if isinstance(content, str):
        return
    # pydantic reports a failed ``str | list`` union once per member; one is clearer.
    for j, part in enumerate(as_list(errors, loc, content) or []):
        here = (*loc, j)
        mapping = as_model(errors, here, part)
        if mapping is None:
            continue
        kind = mapping.get("type", MISSING)
        if kind is MISSING:
            errors.missing((*here, "type"), mapping)
        elif kind == "text":
            required(errors, here, mapping, "text", as_str)
        elif kind == "image_url":
            holder = required(errors, here, mapping, "image_url", as_model)
            url = (
                None
                if holder is None
                else required(errors, (*here, "image_url"), holder, "url", as_str)
            )
            parsed = None if url is None else parse_image_url(url)
            if isinstance(parsed, str):
                errors.value_error((*here, "image_url", "url"), parsed, url)
            elif parsed is not None:
                images.append(parsed)
        else:
            tags = "'text', 'image_url'"
            message = f"Input tag '{kind}' found using 'type' does not match any of the expected "
            ctx = {"discriminator": "'type'", "tag": str(kind), "expected_tags": tags}
            errors.add("union_tag_invalid", here, f"{message}tags: {tags}", mapping, ctx)


def _tool_calls(errors: Errors, loc: Loc, value: Any) -> None:
    """An assistant message's ``tool_calls``."""
    for k, call in enumerate(as_list(errors, loc, value) or []):
        here = (*loc, k)
        mapping = as_model(errors, here, call)
        if mapping is None:
            continue
        for key in ("id", "function"):
            if key not in mapping:
                errors.missing((*here, key), mapping)
        if "id" in mapping:
            as_str(errors, (*here, "id"), mapping["id"])
        if mapping.get("type", "function") != "function":
            errors.literal((*here, "type"), ("function",), mapping["type"])
        function = mapping.get("function")
        fn = None if function is None else as_model(errors, (*here, "function"), function)
        for key in ("name", "arguments"):
            if fn is None:
                break
            if key not in fn:
                errors.missing((*here, "function", key), fn)
            else:
                as_str(errors, (*here, "function", key), fn[key])


def _messages(errors: Errors, body: dict[str, Any]) -> list[list[ImageRef]]:
    """Checks ``messages``; the images of each message."""
    images: list[list[ImageRef]] = []
    for i, message in enumerate(required(errors, (), body, "messages", as_list, min_len=1) or []):
        loc: Loc = ("messages", i)
        message_images: list[ImageRef] = []
        images.append(message_images)
        mapping = as_model(errors, loc, message)
        if mapping is None:
            continue
        role = mapping.get("role", MISSING)
        if role is MISSING:
            errors.missing((*loc, "role"), mapping)
        elif role not in ROLES:
            errors.literal((*loc, "role"), ROLES, role, ctx=True)
        content = mapping.get("content", MISSING)
        if content is MISSING or content is None:
            # An assistant turn may carry only tool calls; everyone else must say something.
            if not (role == "assistant" and (mapping.get("tool_calls") or content is None)):
                errors.missing((*loc, "content"), mapping)
        else:
            _content(errors, (*loc, "content"), content, message_images)
        name = mapping.get("name")
        text = None if name is None else as_str(errors, (*loc, "name"), name)
        if text is not None and not re.match(NAME_PATTERN, text):
            errors.pattern((*loc, "name"), NAME_PATTERN, text)
        if mapping.get("tool_calls") is not None:
            _tool_calls(errors, (*loc, "tool_calls"), mapping["tool_calls"])
        if role == "tool":
            call_id = mapping.get("tool_call_id", MISSING)
            if call_id is MISSING or call_id is None:
                errors.missing((*loc, "tool_call_id"), mapping)
            else:
                as_str(errors, (*loc, "tool_call_id"), call_id)
    return images


def _tools(errors: Errors, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The valid tools' ``function`` objects."""
    valid: list[dict[str, Any]] = []
    for i, tool in enumerate(optional(errors, body, "tools", as_list) or []):
        loc: Loc = ("tools", i)
        mapping = as_model(errors, loc, tool)
        if mapping is None:
            continue
        kind = mapping.get("type", "function")
        if kind != "function":
            errors.literal((*loc, "type"), ("function",), kind)
            continue
        fn = required(errors, loc, mapping, "function", as_model)
        if fn is None:
            continue
        before = len(errors.items)  # the tool is valid when it adds no error
        where = (*loc, "function")
        name = required(errors, where, fn, "name", as_str)
        if name is not None and not re.match(TOOL_NAME_PATTERN, name):
            errors.pattern((*where, "name"), TOOL_NAME_PATTERN, name)
        optional(errors, fn, "description", as_str, at=where)
        params = optional(errors, fn, "parameters", as_dict, at=where)
        if params is not None and params.get("type", "object") != "object":
            message = "a tool's parameters must be a JSON schema of type 'object'"
            errors.value_error((*where, "parameters"), message, params)
        if len(errors.items) == before:
            valid.append(fn)
    return valid


def _tool_choice(
    errors: Errors, body: dict[str, Any], tools: list[dict[str, Any]]
) -> str | dict[str, Any] | None:
    value = body.get("tool_choice")
    loc: Loc = ("tool_choice",)
    if value is None or isinstance(value, str):
        if value is not None and value not in TOOL_CHOICES:
            errors.literal(loc, TOOL_CHOICES, value)
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


def _response_format(errors: Errors, body: dict[str, Any]) -> dict[str, Any] | None:
    mapping = optional(errors, body, "response_format", as_dict)
    if mapping is None:
        return None
    loc: Loc = ("response_format",)
    kind = mapping.get("type", MISSING)
    if kind is MISSING:
        errors.missing((*loc, "type"), mapping)
        return None
    if kind not in RESPONSE_FORMATS:
        errors.literal((*loc, "type"), RESPONSE_FORMATS, kind)
        return None
    if kind == "json_schema":
        holder = required(errors, loc, mapping, "json_schema", as_dict)
        at = (*loc, "json_schema")
        if holder is None or required(errors, at, holder, "schema", as_dict) is None:
            return None
    return mapping


def _reasoning(errors: Errors, body: dict[str, Any]) -> dict[str, Any] | None:
    mapping = optional(errors, body, "reasoning", as_model)
    if mapping is None:
        return None
    loc: Loc = ("reasoning",)
    result: dict[str, Any] = {}
    effort = mapping.get("effort")
    if effort is not None and effort not in EFFORTS:
        errors.literal((*loc, "effort"), EFFORTS, effort)
    elif effort is not None:
        result["effort"] = effort
    if mapping.get("max_tokens") is not None:
        result["max_tokens"] = lax_int(errors, (*loc, "max_tokens"), mapping["max_tokens"], ge=1)
    for key in ("exclude", "enabled"):
        if mapping.get(key) is not None:
            result[key] = lax_bool(errors, (*loc, key), mapping[key])
    return result


def validate_chat(body: Any, *, vision: bool = False, openai: bool = False) -> ChatRequest:
    """Validate a ``/chat/completions`` (or ``/chat/vision``) body; raise :class:`InvalidBody`.

    ``openai``: the dialect that knows ``stream_options``. ``vision``: only the fields
    ``/chat/vision`` documents count; FastAPI ignores the rest.
    """
    body, errors, model = _start(body)
    images = _messages(errors, body)
    max_tokens, n, stream = _common(errors, body)
    temperature = optional(errors, body, "temperature", lax_float, ge=0, le=2)
    # Checked, though the emulator's model does not use them.
    optional(errors, body, "top_p", lax_float, ge=0, le=1)
    optional(errors, body, "top_k", lax_int, ge=0)
    truncate = optional(errors, body, "prompt_truncate_len", lax_int, ge=1) or 1500
    # Returned only once the whole body proved valid (``messages`` a list of messages).
    chat = ChatRequest(model, body.get("messages"), images, max_tokens, temperature)
    chat.prompt_truncate_len = truncate
    if not vision:
        chat.stream, chat.n, chat.stop = stream, n, _stop(errors, body)
        chat.tools = _tools(errors, body)
        chat.tool_choice = _tool_choice(errors, body, chat.tools)
        chat.parallel_tool_calls = optional(errors, body, "parallel_tool_calls", lax_bool)
        chat.response_format = _response_format(errors, body)
        chat.reasoning = _reasoning(errors, body)
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
    max_tokens, n, stream = _common(errors, body, min_tokens=0)
    optional(errors, body, "temperature", lax_float, ge=0, le=2)
    # Arguments in validation order, the order the errors are reported in.
    stop = _stop(errors, body)
    include_usage = _include_usage(errors, body, stream, strict=openai)
    completion = CompletionRequest(model, prompts, max_tokens, stream, n, stop, include_usage)
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
    return EmbeddingRequest(model, inputs, dimensions, encoding_format or "float")


def validate_rerank(body: Any) -> RerankRequest:
    """Validate a ``/reranker`` body (``documents`` are strings or objects)."""
    body, errors, model = _start(body)
    query = required(errors, (), body, "query", as_str) or ""
    documents = []
    for i, value in enumerate(required(errors, (), body, "documents", as_list) or []):
        if isinstance(value, (str, dict)):
            documents.append(value)
        else:  # pydantic reports a failed ``str | dict`` union once per member
            message = "Input should be a valid string or object"
            errors.add("string_type", ("documents", i), message, value)
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
        model, query, documents, method, model_cross, top_n, stage1_top_k, return_documents
    )
