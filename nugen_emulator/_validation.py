"""Request validation the way the service documents it, with FastAPI-shaped error details.

Deliberately written from the provider's documentation and NOT shared with
``nugen_client``'s own local validation: the emulator exists to check the client, so the
two must be able to disagree. Errors mimic what FastAPI + pydantic v2 produce for a bad
body (``{"type", "loc", "msg", "input", "ctx"?}`` with ``loc`` starting at ``"body"``),
and integer/number/boolean fields are coerced in pydantic's lax mode (the provider's own
example sends ``"max_tokens": "2000"``). Fields the service does not document are ignored,
as FastAPI ignores unknown fields.
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
    literal_msg,
)

ROLES = ("system", "user", "assistant", "tool")
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
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None = None
    encoding_format: str = "float"


def parse_image_url(url: str) -> ImageRef | str:
    """Parse an image part's URL: an :class:`ImageRef`, or the reason it is unacceptable.

    Only ``https://`` URLs (never fetched) and ``data:image/...;base64,`` URLs whose payload
    decodes are accepted, as the service documents.
    """
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


def _top_level(body: Any) -> dict[str, Any]:
    errors = Errors()
    if not isinstance(body, dict):
        errors.add(
            "model_attributes_type",
            (),
            "Input should be a valid dictionary or object to extract fields from",
            body,
        )
        errors.raise_if_any()
    assert isinstance(body, dict)
    return body


def _model_field(errors: Errors, body: dict[str, Any]) -> str:
    value = body.get("model", MISSING)
    if value is MISSING:
        errors.missing(("model",), body)
        return ""
    return as_str(errors, ("model",), value) or ""


def _stop(errors: Errors, body: dict[str, Any]) -> list[str]:
    value = body.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    items = as_list(errors, ("stop",), value)
    if items is None:
        return []
    result = []
    for i, item in enumerate(items):
        text = as_str(errors, ("stop", i), item)
        if text:
            result.append(text)
    return result


def _include_usage(errors: Errors, body: dict[str, Any], stream: bool, strict: bool) -> bool:
    """``stream_options.include_usage``. The Nugen service does not document the field (so
    it is ignored, like any unknown field); vLLM-style hosts reject it without ``stream``."""
    options = body.get("stream_options")
    if options is None or not strict:
        return False
    mapping = as_dict(errors, ("stream_options",), options)
    if mapping is None:
        return False
    if not stream:
        errors.add(
            "value_error",
            ("stream_options",),
            "Value error, stream_options can only be set when stream is true",
            options,
        )
        return False
    flag = mapping.get("include_usage")
    if flag is None:
        return False
    return bool(lax_bool(errors, ("stream_options", "include_usage"), flag))


def _validate_content(errors: Errors, loc: Loc, content: Any, images: list[ImageRef]) -> None:
    if isinstance(content, str):
        return
    parts = as_list(errors, loc, content)
    if parts is None:
        # pydantic reports a failed ``str | list`` union once per member; one is clearer.
        return
    for j, part in enumerate(parts):
        part_loc = (*loc, j)
        mapping = as_model_dict(errors, part_loc, part)
        if mapping is None:
            continue
        kind = mapping.get("type", MISSING)
        if kind is MISSING:
            errors.missing((*part_loc, "type"), mapping)
        elif kind == "text":
            text = mapping.get("text", MISSING)
            if text is MISSING:
                errors.missing((*part_loc, "text"), mapping)
            else:
                as_str(errors, (*part_loc, "text"), text)
        elif kind == "image_url":
            holder = mapping.get("image_url", MISSING)
            if holder is MISSING:
                errors.missing((*part_loc, "image_url"), mapping)
                continue
            holder_map = as_model_dict(errors, (*part_loc, "image_url"), holder)
            if holder_map is None:
                continue
            url = holder_map.get("url", MISSING)
            url_loc = (*part_loc, "image_url", "url")
            if url is MISSING:
                errors.missing(url_loc, holder_map)
                continue
            url_text = as_str(errors, url_loc, url)
            if url_text is None:
                continue
            parsed = parse_image_url(url_text)
            if isinstance(parsed, str):
                errors.add("value_error", url_loc, f"Value error, {parsed}", url_text)
            else:
                images.append(parsed)
        else:
            errors.add(
                "union_tag_invalid",
                (*part_loc,),
                f"Input tag '{kind}' found using 'type' does not match any of the expected "
                "tags: 'text', 'image_url'",
                mapping,
                {
                    "discriminator": "'type'",
                    "tag": str(kind),
                    "expected_tags": "'text', 'image_url'",
                },
            )


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
        if "type" in mapping and mapping["type"] != "function":
            errors.add(
                "literal_error", (*call_loc, "type"), "Input should be 'function'", mapping["type"]
            )
        function = mapping.get("function")
        if function is None:
            continue
        fn = as_model_dict(errors, (*call_loc, "function"), function)
        if fn is None:
            continue
        for key in ("name", "arguments"):
            if key not in fn:
                errors.missing((*call_loc, "function", key), fn)
            else:
                as_str(errors, (*call_loc, "function", key), fn[key])


def _validate_messages(errors: Errors, body: dict[str, Any]) -> list[list[ImageRef]]:
    images: list[list[ImageRef]] = []
    value = body.get("messages", MISSING)
    if value is MISSING:
        errors.missing(("messages",), body)
        return images
    messages = as_list(errors, ("messages",), value, min_len=1)
    if messages is None:
        return images
    for i, message in enumerate(messages):
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
            errors.add(
                "literal_error",
                (*loc, "role"),
                literal_msg(ROLES),
                role,
                {"expected": literal_msg(ROLES).removeprefix("Input should be ")},
            )
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
                errors.add(
                    "string_pattern_mismatch",
                    (*loc, "name"),
                    f"String should match pattern '{NAME_PATTERN}'",
                    text,
                    {"pattern": NAME_PATTERN},
                )
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
    value = body.get("tools")
    if value is None:
        return []
    tools = as_list(errors, ("tools",), value)
    if tools is None:
        return []
    valid: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        loc: Loc = ("tools", i)
        mapping = as_model_dict(errors, loc, tool)
        if mapping is None:
            continue
        kind = mapping.get("type", "function")
        if kind != "function":
            errors.add("literal_error", (*loc, "type"), "Input should be 'function'", kind)
            continue
        function = mapping.get("function", MISSING)
        if function is MISSING:
            errors.missing((*loc, "function"), mapping)
            continue
        fn = as_model_dict(errors, (*loc, "function"), function)
        if fn is None:
            continue
        ok = True
        name = fn.get("name", MISSING)
        if name is MISSING:
            errors.missing((*loc, "function", "name"), fn)
            ok = False
        elif as_str(errors, (*loc, "function", "name"), name) is None:
            ok = False
        elif not _TOOL_NAME_RE.match(name):
            errors.add(
                "string_pattern_mismatch",
                (*loc, "function", "name"),
                f"String should match pattern '{TOOL_NAME_PATTERN}'",
                name,
                {"pattern": TOOL_NAME_PATTERN},
            )
            ok = False
        description = fn.get("description")
        if (
            description is not None
            and as_str(errors, (*loc, "function", "description"), description) is None
        ):
            ok = False
        parameters = fn.get("parameters")
        if parameters is not None:
            params = as_dict(errors, (*loc, "function", "parameters"), parameters)
            if params is None:
                ok = False
            elif params.get("type", "object") != "object":
                errors.add(
                    "value_error",
                    (*loc, "function", "parameters"),
                    "Value error, a tool's parameters must be a JSON schema of type 'object'",
                    params,
                )
                ok = False
        if ok:
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
            errors.add("literal_error", loc, "Input should be 'auto', 'none' or 'required'", value)
            return None
        if value == "required" and not tools:
            errors.add("value_error", loc, "Value error, tool_choice 'required' needs tools", value)
        return value
    mapping = as_dict(errors, loc, value)
    if mapping is None:
        return None
    function = mapping.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if mapping.get("type", "function") != "function" or not isinstance(name, str):
        errors.add(
            "value_error",
            loc,
            "Value error, a specific tool_choice must look like "
            '{"type": "function", "function": {"name": "..."}}',
            value,
        )
        return None
    if name not in {tool.get("name") for tool in tools}:
        errors.add(
            "value_error",
            loc,
            f"Value error, tool_choice names the tool {name!r}, which is not in tools",
            value,
        )
        return None
    return mapping


def _validate_response_format(errors: Errors, body: dict[str, Any]) -> dict[str, Any] | None:
    value = body.get("response_format")
    if value is None:
        return None
    loc: Loc = ("response_format",)
    mapping = as_dict(errors, loc, value)
    if mapping is None:
        return None
    kind = mapping.get("type", MISSING)
    if kind is MISSING:
        errors.missing((*loc, "type"), mapping)
        return None
    if kind not in ("text", "json_object", "json_schema"):
        errors.add(
            "literal_error",
            (*loc, "type"),
            "Input should be 'text', 'json_object' or 'json_schema'",
            kind,
        )
        return None
    if kind == "json_schema":
        holder = mapping.get("json_schema", MISSING)
        if holder is MISSING:
            errors.missing((*loc, "json_schema"), mapping)
            return None
        holder_map = as_dict(errors, (*loc, "json_schema"), holder)
        if holder_map is None:
            return None
        schema = holder_map.get("schema", MISSING)
        if schema is MISSING:
            errors.missing((*loc, "json_schema", "schema"), holder_map)
            return None
        if as_dict(errors, (*loc, "json_schema", "schema"), schema) is None:
            return None
    return mapping


def _validate_reasoning(errors: Errors, body: dict[str, Any]) -> dict[str, Any] | None:
    value = body.get("reasoning")
    if value is None:
        return None
    loc: Loc = ("reasoning",)
    mapping = as_model_dict(errors, loc, value)
    if mapping is None:
        return None
    result: dict[str, Any] = {}
    effort = mapping.get("effort")
    if effort is not None:
        if effort not in EFFORTS:
            errors.add("literal_error", (*loc, "effort"), literal_msg(EFFORTS), effort)
        else:
            result["effort"] = effort
    if mapping.get("max_tokens") is not None:
        result["max_tokens"] = lax_int(errors, (*loc, "max_tokens"), mapping["max_tokens"], ge=1)
    for key in ("exclude", "enabled"):
        if mapping.get(key) is not None:
            result[key] = lax_bool(errors, (*loc, key), mapping[key])
    return result


def _common_ints(errors: Errors, body: dict[str, Any]) -> tuple[int | None, int, bool]:
    max_tokens = None
    if body.get("max_tokens") is not None:
        max_tokens = lax_int(errors, ("max_tokens",), body["max_tokens"], ge=1)
    n = 1
    if body.get("n") is not None:
        n = lax_int(errors, ("n",), body["n"], ge=1) or 1
        if n > 16:
            errors.add(
                "less_than_equal", ("n",), "Input should be less than or equal to 16", n, {"le": 16}
            )
            n = 1
    stream = False
    if body.get("stream") is not None:
        stream = bool(lax_bool(errors, ("stream",), body["stream"]))
    return max_tokens, n, stream


def validate_chat(body: Any, *, vision: bool = False, openai: bool = False) -> ChatRequest:
    """Validate a ``/chat/completions`` (or ``/chat/vision``) body; raise :class:`InvalidBody`.

    ``openai``: the OpenAI-compatible dialect, which knows ``stream_options``.

    On ``/chat/vision`` only the documented fields (model, messages, max_tokens,
    prompt_truncate_len, temperature) take effect; the rest are ignored, as FastAPI ignores
    fields its model does not declare.
    """
    body = _top_level(body)
    errors = Errors()
    model = _model_field(errors, body)
    images = _validate_messages(errors, body)
    max_tokens, n, stream = _common_ints(errors, body)
    temperature = None
    if body.get("temperature") is not None:
        temperature = lax_float(errors, ("temperature",), body["temperature"], ge=0, le=2)
    if body.get("top_p") is not None:
        lax_float(errors, ("top_p",), body["top_p"], ge=0, le=1)
    if body.get("top_k") is not None:
        lax_int(errors, ("top_k",), body["top_k"], ge=0)
    prompt_truncate_len = 1500
    if body.get("prompt_truncate_len") is not None:
        prompt_truncate_len = (
            lax_int(errors, ("prompt_truncate_len",), body["prompt_truncate_len"], ge=1) or 1500
        )
    if vision:
        errors.raise_if_any()
        return ChatRequest(
            model=model,
            messages=body["messages"],
            images=images,
            max_tokens=max_tokens,
            temperature=temperature,
            prompt_truncate_len=prompt_truncate_len,
        )
    stop = _stop(errors, body)
    tools = _validate_tools(errors, body)
    tool_choice = _validate_tool_choice(errors, body, tools)
    parallel = None
    if body.get("parallel_tool_calls") is not None:
        parallel = lax_bool(errors, ("parallel_tool_calls",), body["parallel_tool_calls"])
    response_format = _validate_response_format(errors, body)
    reasoning = _validate_reasoning(errors, body)
    include_usage = _include_usage(errors, body, stream, strict=openai)
    errors.raise_if_any()
    return ChatRequest(
        model=model,
        messages=body["messages"],
        images=images,
        max_tokens=max_tokens,
        temperature=temperature,
        stream=stream,
        n=n,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=response_format,
        reasoning=reasoning,
        include_usage=include_usage,
        prompt_truncate_len=prompt_truncate_len,
    )


def _texts(errors: Errors, body: dict[str, Any], name: str) -> list[str]:
    """A required field that is a string or a non-empty list of strings, as a list."""
    value = body.get(name, MISSING)
    if value is MISSING:
        errors.missing((name,), body)
        return []
    if isinstance(value, str):
        return [value]
    texts: list[str] = []
    for i, item in enumerate(as_list(errors, (name,), value, min_len=1) or []):
        text = as_str(errors, (name, i), item)
        if text is not None:
            texts.append(text)
    return texts


def validate_completion(body: Any, *, openai: bool = False) -> CompletionRequest:
    """Validate a ``/completions`` body (``prompt`` is a string or a list of strings)."""
    body = _top_level(body)
    errors = Errors()
    model = _model_field(errors, body)
    prompts = _texts(errors, body, "prompt")
    max_tokens, n, stream = _common_ints(errors, body)
    if body.get("temperature") is not None:
        lax_float(errors, ("temperature",), body["temperature"], ge=0, le=2)
    stop = _stop(errors, body)
    include_usage = _include_usage(errors, body, stream, strict=openai)
    errors.raise_if_any()
    return CompletionRequest(
        model=model,
        prompts=prompts,
        max_tokens=max_tokens,
        stream=stream,
        n=n,
        stop=stop,
        include_usage=include_usage,
    )


def validate_embeddings(body: Any) -> EmbeddingRequest:
    """Validate an ``/embeddings`` body (``input`` is a string or a non-empty list of them)."""
    body = _top_level(body)
    errors = Errors()
    model = _model_field(errors, body)
    inputs = _texts(errors, body, "input")
    dimensions = None
    if body.get("dimensions") is not None:
        dimensions = lax_int(errors, ("dimensions",), body["dimensions"], ge=1)
        if dimensions is not None and dimensions > MAX_EMBEDDING_DIMENSIONS:
            errors.add(
                "less_than_equal",
                ("dimensions",),
                f"Input should be less than or equal to {MAX_EMBEDDING_DIMENSIONS}",
                dimensions,
                {"le": MAX_EMBEDDING_DIMENSIONS},
            )
            dimensions = None
    encoding_format = "float"
    if body.get("encoding_format") is not None:
        if body["encoding_format"] not in ("float", "base64"):
            errors.add(
                "literal_error",
                ("encoding_format",),
                "Input should be 'float' or 'base64'",
                body["encoding_format"],
            )
        else:
            encoding_format = body["encoding_format"]
    errors.raise_if_any()
    return EmbeddingRequest(
        model=model, inputs=inputs, dimensions=dimensions, encoding_format=encoding_format
    )
