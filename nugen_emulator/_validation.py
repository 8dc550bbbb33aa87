"""Request validation as the service documents it, with the errors FastAPI reports.

NOT shared with ``nugen_client``'s own checks: the emulator exists to check the client, so
the two must be able to disagree. Bodies are pydantic models, as in the service's FastAPI
app; what a type cannot say is checked beside it; every problem is reported at once."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CROSS_ENCODER_METHODS = ("standard", "optimal")
NAME_PATTERN = "^[A-Za-z0-9_]{1,64}$"
TOOL_NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
MAX_EMBEDDING_DIMENSIONS = 8192
_DATA_URL_RE = re.compile(
    r"^data:(?P<mime>[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+)"
    r"(?P<params>(?:;[A-Za-z0-9_.+-]+=[^;,]*)*);base64,(?P<data>.*)$",
    re.DOTALL,
)
_MAX_ECHOED_INPUT = 1000
_MISSING: Any = object()  # a field absent from the body (``None`` is a value sent as null)
Body = TypeVar("Body", bound=BaseModel)
Model = TypeVar("Model", bound=BaseModel)


class InvalidBody(Exception):
    """Raised with the FastAPI-style ``detail`` list of everything wrong with a body; its
    message is the one line vLLM-style hosts answer with, ``where`` each error's field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.where = [".".join(str(part) for part in e["loc"][1:]) for e in errors]
        pairs = zip(self.where, errors, strict=True)
        super().__init__("; ".join(f"{w}: {e['msg']}" if w else e["msg"] for w, e in pairs))


def describe_image_url(url: str) -> str:
    """What an image URL holds (``image/png, 68 bytes (inline base64)``, ``a URL image
    hosted at example.com``: never fetched); ``ValueError`` for one that is neither an
    ``https://`` URL nor a decodable ``data:image/...;base64,`` URL."""
    if url.startswith("data:"):
        match = _DATA_URL_RE.match(url)
        if match is None:
            raise ValueError("a data URL must look like data:<mime>;base64,<data>")
        mime = match.group("mime").lower()
        if not mime.startswith("image/"):
            raise ValueError(f"a data URL must carry an image, not {mime}")
        try:
            data = base64.b64decode(match.group("data"), validate=True)
        except ValueError:  # binascii.Error included
            raise ValueError("the data URL's base64 payload does not decode") from None
        if not data:
            raise ValueError("the data URL's payload is empty")
        return f"{mime}, {len(data)} bytes (inline base64)"
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" and parts.hostname:
        return f"a URL image hosted at {parts.hostname}"
    raise ValueError("image_url.url must be an https:// URL or a data:<mime>;base64, URL")


# -- the bodies, as the service's FastAPI app would declare them ------------------------------

Positive = Annotated[int, Field(ge=1)] | None
Choices = Annotated[int, Field(ge=1, le=16)] | None
Temperature = Annotated[float, Field(ge=0, le=2)] | None
Stop = str | list[str] | None


class _Model(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(allow_inf_nan=False)


class _AsSent(_Model):
    # Undocumented fields are kept, unchecked, so a hook sees messages and tools as sent.
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow")


class TextPart(_Model):
    type: Literal["text"]
    text: str


class ImageURL(_Model):
    url: str

    @field_validator("url")
    @classmethod
    def _an_image(cls, url: str) -> str:
        describe_image_url(url)
        return url


class ImagePart(_Model):
    type: Literal["image_url"]
    image_url: ImageURL


_PARTS: dict[Any, type[_Model]] = {"text": TextPart, "image_url": ImagePart}


class CalledFunction(_AsSent):
    name: str
    arguments: str


class ToolCall(_AsSent):
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class Message(_AsSent):
    role: Literal["system", "user", "assistant", "tool"]
    content: Any = None  # a string or a list of parts: checked beside it (see _messages)
    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class Function(_AsSent):
    name: Annotated[str, Field(pattern=TOOL_NAME_PATTERN)]
    description: str | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("parameters")
    @classmethod
    def _an_object_schema(cls, parameters: dict[str, Any] | None) -> dict[str, Any] | None:
        if parameters is not None and parameters.get("type", "object") != "object":
            raise ValueError("a tool's parameters must be a JSON schema of type 'object'")
        return parameters


class Tool(_Model):
    type: Literal["function"] = "function"
    function: Function


class JsonSchema(_Model):
    schema_: dict[str, Any] = Field(alias="schema")


class ResponseFormat(_Model):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None


class Reasoning(_Model):
    effort: Literal["xhigh", "high", "medium", "low", "minimal", "none"] | None = None
    max_tokens: Positive = None
    exclude: bool | None = None
    enabled: bool | None = None


class StreamOptions(_Model):
    include_usage: bool | None = None


class VisionBody(_Model):
    """``/chat/vision`` documents only these (no tools, no streaming)."""

    model: str
    messages: Annotated[list[Message], Field(min_length=1)]
    max_tokens: Positive = None
    n: Choices = None
    stream: bool | None = None
    temperature: Temperature = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None  # checked, though unused
    top_k: Annotated[int, Field(ge=0)] | None = None
    prompt_truncate_len: Positive = None


class ChatBody(VisionBody):
    stop: Stop = None
    tools: list[Tool] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None


class CompletionBody(_Model):
    model: str
    prompt: Any = None
    # The reference's default when not sent, as OpenAI's; 0 asks for no text at all.
    max_tokens: Annotated[int, Field(ge=0)] | None = 16
    n: Choices = None
    stream: bool | None = None
    temperature: Temperature = None
    stop: Stop = None


# The Nugen service does not document ``stream_options`` (so it is ignored, like any
# unknown field); vLLM-style hosts reject it without ``stream``. Nor ``max_completion_tokens``,
# OpenAI's newer name for ``max_tokens`` (ChatOpenAI sends it), which wins over it there.
class OpenAIChatBody(ChatBody):
    stream_options: StreamOptions | None = None
    max_completion_tokens: Positive = None


class OpenAICompletionBody(CompletionBody):
    stream_options: StreamOptions | None = None


class EmbeddingsBody(_Model):
    model: str
    input: Any = None
    dimensions: Annotated[int, Field(ge=1, le=MAX_EMBEDDING_DIMENSIONS)] | None = None
    encoding_format: Literal["float", "base64"] | None = None


class RerankBody(_Model):
    model: str
    query: str
    documents: list[Any]
    method: Literal["fast", "standard", "optimal", "best"] | None = None
    model_cross: str | None = None
    top_n: Positive = None
    stage1_top_k: Positive = None
    max_tokens_per_doc: Positive = None  # checked, though scoring does not depend on them
    batch_size: Positive = None
    return_documents: bool | None = None


# -- validation ----------------------------------------------------------------------------


class _Check(Generic[Body]):
    """One body's problems: pydantic's, then those of the rules its types cannot say."""

    def __init__(self, body: Any, cls: type[Body]) -> None:
        self.body = body
        self.errors: list[dict[str, Any]] = []
        self.cls = cls
        self.parsed = self.parse(cls, body)

    def parse(self, cls: type[Model], value: Any, *loc: str | int) -> Model | None:
        """``value`` as ``cls``, or None with its errors recorded at ``loc``; a body that is
        not an object is a 422 at once."""
        try:
            return cls.model_validate(value, from_attributes=True)
        except ValidationError as invalid:
            for error in invalid.errors(include_url=False):
                ctx = error.get("ctx")
                if ctx and isinstance(ctx.get("error"), Exception):
                    ctx = None  # a validator's message, already in ``msg``
                self.add(error["type"], (*loc, *error["loc"]), error["msg"], error["input"], ctx)
            if not isinstance(self.body, dict):
                self.done()
            return None

    def add(self, kind: str, loc: tuple[Any, ...], msg: str, value: Any, ctx: Any = None) -> None:
        if isinstance(value, str) and len(value) > _MAX_ECHOED_INPUT:
            value = value[:_MAX_ECHOED_INPUT] + "..."
        error = {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}
        self.errors.append(error | ({"ctx": ctx} if ctx else {}))

    def missing(self, parent: Any, *loc: str | int) -> None:
        self.add("missing", loc, "Field required", parent)

    def value_error(self, message: str, value: Any, *loc: str | int) -> None:
        self.add("value_error", loc, f"Value error, {message}", value)

    def texts(self, name: str, *, non_empty: bool = False) -> None:
        """A required string or non-empty list of strings (``non_empty``: none of them ``""``)."""
        value = self.body.get(name, _MISSING)
        if value is _MISSING:
            self.missing(self.body, name)
        elif not isinstance(value, (str, list)):
            self.add("list_type", (name,), "Input should be a valid list", value)
        elif value == []:
            msg = "List should have at least 1 item after validation, not 0"
            ctx = {"field_type": "List", "min_length": 1, "actual_length": 0}
            self.add("too_short", (name,), msg, value, ctx)
        listed = isinstance(value, list)
        for i, item in enumerate(value if listed else [value]):
            where = (name, i) if listed else (name,)
            if listed and not isinstance(item, str):
                self.add("string_type", where, "Input should be a valid string", item)
            elif non_empty and item == "":
                msg = "String should have at least 1 character"
                self.add("string_too_short", where, msg, item, {"min_length": 1})

    def done(self) -> Body:
        """The parsed body; or :class:`InvalidBody` with the problems found, in the order of
        the fields."""
        at = {name: i for i, name in enumerate(self.cls.model_fields)}
        if self.errors:
            self.errors.sort(key=lambda e: at.get(e["loc"][1], -1) if len(e["loc"]) > 1 else -1)
            raise InvalidBody(self.errors)
        assert self.parsed is not None
        return self.parsed


def _messages(check: _Check[Any], messages: Any) -> None:
    """What each message must carry for its role, and its content's parts."""
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        # An assistant turn may carry only tool calls; everyone else must say something.
        if content is None and not (
            role == "assistant" and (message.get("tool_calls") or "content" in message)
        ):
            check.missing(message, "messages", i, "content")
        elif content is not None and not isinstance(content, (str, list)):
            # pydantic reports a failed ``str | list`` union once per member; one is clearer.
            check.add(
                "list_type", ("messages", i, "content"), "Input should be a valid list", content
            )
        for j, part in enumerate(content if isinstance(content, list) else []):
            loc = ("messages", i, "content", j)
            kind = part.get("type", _MISSING) if isinstance(part, dict) else "text"
            if kind in _PARTS:
                check.parse(_PARTS[kind], part, *loc)
            elif kind is _MISSING:
                check.missing(part, *loc, "type")
            else:
                tags = "'text', 'image_url'"
                msg = f"Input tag '{kind}' found using 'type' does not match any of the expected "
                ctx = {"discriminator": "'type'", "tag": str(kind), "expected_tags": tags}
                check.add("union_tag_invalid", loc, f"{msg}tags: {tags}", part, ctx)
        if role == "tool" and message.get("tool_call_id") is None:
            check.missing(message, "messages", i, "tool_call_id")


def _tool_choice(check: _Check[Any], value: Any, tools: Any) -> None:
    """``tool_choice``: a mode, or a tool among ``tools`` by name."""
    tools = tools if isinstance(tools, list) else []
    functions = [tool.get("function") for tool in tools if isinstance(tool, dict)]
    names = {fn.get("name") for fn in functions if isinstance(fn, dict)}
    if isinstance(value, str) and value not in ("auto", "none", "required"):
        expected = "'auto', 'none' or 'required'"
        check.add("literal_error", ("tool_choice",), f"Input should be {expected}", value)
    elif value == "required" and not names:
        check.value_error("tool_choice 'required' needs tools", value, "tool_choice")
    elif value is not None and not isinstance(value, (str, dict)):
        check.add("dict_type", ("tool_choice",), "Input should be a valid dictionary", value)
    elif isinstance(value, dict):
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if value.get("type", "function") != "function" or not isinstance(name, str):
            shape = '{"type": "function", "function": {"name": "..."}}'
            message = f"a specific tool_choice must look like {shape}"
            check.value_error(message, value, "tool_choice")
        elif name not in names:
            message = f"tool_choice names the tool {name!r}, which is not in tools"
            check.value_error(message, value, "tool_choice")


def include_usage(body: BaseModel) -> bool:
    """``stream_options.include_usage`` (only the openai dialect knows the field)."""
    options = getattr(body, "stream_options", None)
    return bool(options and options.include_usage)


def _stream_options(check: _Check[Body]) -> _Check[Body]:
    parsed: Any = check.parsed
    if getattr(parsed, "stream_options", None) is not None and not parsed.stream:
        message = "stream_options can only be set when stream is true"
        check.value_error(message, check.body["stream_options"], "stream_options")
    return check


def as_list(value: str | list[Any]) -> list[Any]:
    """A field that is one string or a list of them, as a list."""
    return [value] if isinstance(value, str) else value


def validate_chat(body: Any, *, vision: bool = False, openai: bool = False) -> ChatBody:
    """Validate a ``/chat/completions`` (or ``/chat/vision``) body; raise :class:`InvalidBody`.
    For ``vision``, only the fields ``/chat/vision`` documents count, as FastAPI ignores the
    rest (left unset); ``openai``: the dialect that knows ``stream_options``."""
    check = _Check(body, VisionBody if vision else OpenAIChatBody if openai else ChatBody)
    _messages(check, body.get("messages"))
    if not vision:
        _tool_choice(check, body.get("tool_choice"), body.get("tools"))
        form = body.get("response_format")
        wants_schema = isinstance(form, dict) and form.get("type") == "json_schema"
        if wants_schema and not form.get("json_schema"):
            check.missing(form, "response_format", "json_schema")
    parsed = _stream_options(check).done()
    return parsed if isinstance(parsed, ChatBody) else ChatBody.model_construct(**dict(parsed))


def token_id_prompts(prompt: Any) -> list[Any] | None:
    """The prompts of a ``prompt`` given as token ids (a list of them, or a list of such
    lists; told by its first item), or ``None`` for a prompt of another form."""
    listed: list[Any] = prompt if isinstance(prompt, list) else []
    first = listed[0] if listed else None
    if isinstance(first, list):
        return listed
    return [listed] if isinstance(first, int) and not isinstance(first, bool) else None


def validate_completion(body: Any, *, openai: bool = False) -> CompletionBody:
    """Validate a ``/completions`` body (``prompt`` is a string, a list of strings, a list
    of token ids or a list of such lists)."""
    check = _Check(body, OpenAICompletionBody if openai else CompletionBody)
    prompt = body.get("prompt") if isinstance(body, dict) else None
    prompts = token_id_prompts(prompt)
    if prompts is None:
        check.texts("prompt")
    for i, ids in enumerate(prompts or ()):
        where = ("prompt", i) if prompts is prompt else ("prompt",)
        if not isinstance(ids, list) or not ids:
            check.add("too_short", where, "Input should be a non-empty list of token ids", ids)
        for j, token in enumerate(ids if isinstance(ids, list) else ()):
            if not isinstance(token, int) or isinstance(token, bool):
                check.add("int_type", (*where, j), "Input should be a valid integer", token)
            elif token < 0:
                msg = "Input should be greater than or equal to 0"
                check.add("greater_than_equal", (*where, j), msg, token, {"ge": 0})
    return _stream_options(check).done()


def validate_embeddings(body: Any) -> EmbeddingsBody:
    """Validate an ``/embeddings`` body (``input`` is a string or a non-empty list of them)."""
    check = _Check(body, EmbeddingsBody)
    check.texts("input", non_empty=True)  # the input "cannot be an empty string"
    return check.done()


def validate_rerank(body: Any) -> RerankBody:
    """Validate a ``/reranker`` body (``documents`` are strings or objects)."""
    check = _Check(body, RerankBody)
    documents = body.get("documents")
    for i, document in enumerate(documents if isinstance(documents, list) else []):
        if not isinstance(document, (str, dict)):
            message = "Input should be a valid string or object"
            check.add("string_type", ("documents", i), message, document)
    method = body.get("method") or "fast"
    if method in CROSS_ENCODER_METHODS and body.get("model_cross") is None:
        message = f"model_cross (a cross-encoder) is required for method '{method}'"
        check.value_error(message, None, "model_cross")
    return check.done()
