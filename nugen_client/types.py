"""Typed models of the wire format.

Two halves with opposite temperaments:

* **Requests** are strict. They are validated locally, before anything is sent, against
  what the service documents (temperature in 0..2, at least one message, ``name`` matching
  ``^[A-Za-z0-9_]{1,64}$``, image URLs that are https or decodable ``data:`` URLs, ...), so
  a mistake costs an ``InvalidInputError`` that names the field rather than a round trip.
* **Responses** are lenient. The service (and OpenAI-compatible hosts) send float
  ``created`` values, missing or wrong ``object`` fields, null ``usage``, reasoning as
  ``reasoning_content`` or ``reasoning``, and fields nobody documented: all of it is
  accepted, and unknown fields are kept (``model.model_extra``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "RESPONSE_METADATA_FIELDS",
    "AlignedModel",
    "AlignedModelList",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "Choice",
    "ChunkChoice",
    "Delta",
    "Embedding",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "FunctionCall",
    "FunctionCallDelta",
    "GenerationFields",
    "ReasoningConfig",
    "RerankMeta",
    "RerankRequest",
    "RerankResponse",
    "RerankResult",
    "ResponseHeader",
    "ResponseMessage",
    "SamplingFields",
    "Stop",
    "TextChoice",
    "TextCompletion",
    "TextCompletionChunk",
    "TextCompletionFields",
    "TextCompletionRequest",
    "Timing",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "check_texts_to_embed",
    "parse_tool_arguments",
    "response_timing",
]

NAME_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?:;[\w-]+=[^;,]*)*;base64,(?P<data>.*)$", re.S
)

# ----------------------------------------------------------------------------- requests


# Every wire model is built on its first use (``defer_build``): importing them costs only the
# classes, and a process builds only the models it uses.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Open(BaseModel):
    # Extra fields pass through: forward-compatible with what hosts add (``cache_control``...).
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


def check_image_url(url: str, *, decode: bool = True) -> str:
    """Accept what the service documents: an https URL, or a decodable base64 data URL.

    ``decode=False`` checks a data URL's form and mime type but not its payload: for a
    caller whose request is checked again, fully, when it is sent (each payload is decoded
    once per request).
    """
    if url.startswith("https://"):
        if len(url) <= len("https://"):
            raise ValueError("image URL has no host")
        return url
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if match is None:
            raise ValueError("data URL must look like data:<mime>;base64,<data>")
        if not match["mime"].startswith("image/"):
            raise ValueError(f"data URL has mime type {match['mime']!r}, not an image/* type")
        if not decode:
            return url
        try:
            decoded = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data URL payload is not valid base64") from None
        if not decoded:
            raise ValueError("data URL holds no image bytes")
        return url
    shown = url if len(url) <= 60 else url[:57] + "..."
    raise ValueError(f"image URL must be https:// or a data:image/...;base64 URL, got {shown!r}")


class ImageURL(_Open):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        return check_image_url(url)


class TextPart(_Open):
    type: Literal["text"]
    text: str


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCallParam(_Open):
    name: str = Field(min_length=1)
    arguments: str


class ToolCallParam(_Open):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCallParam


class ChatMessage(_Open):
    """One message of the conversation, as sent."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    tool_calls: list[ToolCallParam] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.role == "assistant":
            if self.content is None and not self.tool_calls:
                raise ValueError("an assistant message needs content or tool_calls")
        elif self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self


class FunctionDefinition(_Open):
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_parameters(self) -> FunctionDefinition:
        # Checked here, where the tool is named: serialising the body would only say
        # "circular reference" about the whole request.
        try:
            json.dumps(self.parameters, allow_nan=False)
        except (TypeError, ValueError) as error:
            if "ircular" in str(error):
                problem = (
                    "contains itself (a circular reference); describe recursive shapes "
                    "with a JSON Schema $ref instead"
                )
            else:
                problem = f"is not JSON ({error})"
            raise ValueError(f"tool {self.name!r}: its parameters schema {problem}") from None
        return self


class Tool(_Open):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class _NamedFunction(_Open):
    name: str = Field(min_length=1)


class ToolChoiceFunction(_Open):
    type: Literal["function"] = "function"
    function: _NamedFunction


class ReasoningConfig(_Strict):
    """The ``reasoning`` object: unknown keys are refused, they are almost always typos."""

    effort: Literal["xhigh", "high", "medium", "low", "minimal", "none"] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    exclude: bool | None = None
    enabled: bool | None = None


Stop = Annotated[
    str | list[str] | None, Field(description="Stop sequences: the text ends before any of them.")
]
"""The type of a ``stop`` field (LangChain's adds its alias ``stop_sequences`` to it)."""


class SamplingFields(BaseModel):
    """The sampling fields of a generation request, declared once.

    The wire models, the chat classes of both adapters and (as a typed mirror, checked by
    a test) :class:`nugen_client.params.ChatParams` take them from here; ``None`` means
    unset, and unset fields are not sent (the service's defaults apply).
    """

    max_tokens: int | None = Field(default=None, ge=1, description="Most tokens to generate.")
    prompt_truncate_len: int | None = Field(
        default=None,
        ge=1,
        description="Size (in tokens) to which the service truncates the prompt "
        "(its default: 1500).",
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Sampling temperature, 0 to 2 (service default 1)."
    )
    top_p: float | None = Field(
        default=None, ge=0, le=1, description="Nucleus sampling: the probability mass kept."
    )
    top_k: int | None = Field(
        default=None, ge=0, description="Top-k sampling: the candidate tokens kept."
    )
    stop: Stop = None


class GenerationFields(SamplingFields):
    """The sampling fields and ``n`` (several choices: LangChain's classes and the wire
    models; LlamaIndex's answer is one message)."""

    n: int | None = Field(
        default=None, ge=1, description="Choices per request, each a generation of its own."
    )


class TextCompletionFields(GenerationFields):
    """The fields of ``POST /completions``, where ``max_tokens`` may be 0."""

    max_tokens: int | None = Field(
        default=None,
        ge=0,
        description="Most tokens to generate (0: none, only the prompt's usage).",
    )


class _ChatHead(_Open):
    # Bases of the request models holding the fields that lead the body: the sampling
    # fields follow them on the wire, as a reader of a request expects.
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)


class ChatCompletionRequest(GenerationFields, _ChatHead):
    """The body of ``POST /chat/completions`` (and ``/chat/vision``)."""

    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceFunction | None = None
    reasoning: ReasoningConfig | None = None
    response_format: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_tool_choice(self) -> ChatCompletionRequest:
        choice = self.tool_choice
        if choice is None or choice in ("auto", "none"):
            return self
        names = {tool.function.name for tool in self.tools or ()}
        if not names:
            raise ValueError("tool_choice forces a tool call but no tools were given")
        if isinstance(choice, ToolChoiceFunction) and choice.function.name not in names:
            raise ValueError(
                f"tool_choice {choice.function.name!r} is not one of the bound tools "
                f"({', '.join(sorted(names))}), nor 'auto', 'none', 'any' or 'required'"
            )
        return self


_Prompt = Annotated[str, Field(min_length=1)]


class _TextHead(_Open):
    model: str = Field(min_length=1)
    prompt: _Prompt | Annotated[list[_Prompt], Field(min_length=1)]


class TextCompletionRequest(TextCompletionFields, _TextHead):
    """The body of ``POST /completions``: one prompt, or several (one choice each)."""

    stream: bool | None = None
    stream_options: dict[str, Any] | None = None


class EmbeddingRequest(_Open):
    """The body of ``POST /embeddings``."""

    model: str = Field(min_length=1)
    input: str | list[str]
    dimensions: int | None = Field(default=None, ge=1)

    @field_validator("input")
    @classmethod
    def _check_input(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not texts:
            raise ValueError("input must hold at least one text")
        check_texts_to_embed(texts)
        return value


_CROSS_ENCODER_METHODS = ("standard", "optimal")


class RerankRequest(_Open):
    """The body of ``POST /reranker``: documents scored against a query."""

    model: str = Field(min_length=1)
    query: str = Field(min_length=1)
    documents: list[str | dict[str, Any]] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)
    method: Literal["fast", "standard", "optimal", "best"] | None = None
    model_cross: str | None = Field(default=None, min_length=1)
    stage1_top_k: int | None = Field(default=None, ge=1)
    max_tokens_per_doc: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    return_documents: bool | None = None

    @model_validator(mode="after")
    def _check_cross_encoder(self) -> RerankRequest:
        if self.method in _CROSS_ENCODER_METHODS and self.model_cross is None:
            raise ValueError(
                f"method {self.method!r} needs model_cross, the cross-encoder that rescores"
            )
        return self


def check_texts_to_embed(texts: Sequence[str]) -> None:
    """Refuse the texts the service documents as refused: empty strings. For callers that
    send ``texts`` in several requests, so that nothing is sent when one is bad.

    Raises:
        ValueError: naming the first empty text's position in ``texts``.
    """
    for position, text in enumerate(texts):
        if not text:
            raise ValueError(f"input[{position}] is an empty string, which cannot be embedded")


# ---------------------------------------------------------------------------- responses


def _none_to_zero(value: Any) -> Any:
    return 0 if value is None else value


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


def _json_text(value: Any) -> Any:
    # Some OpenAI-compatible hosts send tool arguments as an object rather than a string.
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _absent(_: float) -> None:
    return None


# A token count: null reads as 0; a negative or fractional count is a broken answer and is
# refused with it, however large a whole count is.
_Count = Annotated[int, BeforeValidator(_none_to_zero), Field(ge=0)]
# A number, or None when the host sent null, NaN or an infinity (JSON parsers accept the
# last two, and no reading of them is right). Tried left to right, so a finite number costs
# what ``float | None`` does; a value that is no number at all is still an error.
_FiniteOrAbsent = Annotated[
    Annotated[float, Field(allow_inf_nan=False)] | Annotated[float, AfterValidator(_absent)] | None,
    Field(union_mode="left_to_right"),
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)


class Usage(_Lenient):
    prompt_tokens: _Count = 0
    completion_tokens: _Count = 0
    total_tokens: _Count = 0
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None

    @property
    def reasoning_tokens(self) -> int | None:
        details = self.completion_tokens_details
        value = details.get("reasoning_tokens") if details else None
        return value if isinstance(value, int) else None

    @property
    def cached_tokens(self) -> int | None:
        details = self.prompt_tokens_details
        value = details.get("cached_tokens") if details else None
        return value if isinstance(value, int) else None


class FunctionCall(_Lenient):
    name: str = ""
    arguments: Annotated[str, BeforeValidator(_json_text)] = ""


def parse_tool_arguments(arguments: str) -> dict[str, Any]:
    """The arguments of a finished tool call as a dict.

    The one rule both adapters follow: a call is executable only when its arguments are
    complete, valid JSON holding an object (empty text: a call without arguments). A call
    the service cut off (``finish_reason: "length"``) fails here, however plausible the
    part that arrived.

    Raises:
        ValueError: why the arguments are unusable (the call is then an invalid one).
    """
    if not arguments.strip():
        return {}
    try:
        parsed = json.loads(arguments)
    except ValueError as error:
        raise ValueError(f"the arguments are not complete, valid JSON ({error})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"the arguments must be a JSON object, got {type(parsed).__name__}")
    return parsed


class ToolCall(_Lenient):
    id: str = ""
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class _CarriesReasoning(_Lenient):
    """The reasoning fields of a message or a streamed delta: hosts put the text in either
    ``reasoning_content`` or ``reasoning`` (which may also be a structured object)."""

    reasoning_content: str | None = None
    reasoning: str | dict[str, Any] | None = None

    @property
    def reasoning_text(self) -> str | None:
        """Reasoning, whichever field the host put it in."""
        # Read for every streamed delta: the common "neither" case costs two checks.
        if self.reasoning_content is not None:
            return self.reasoning_content
        return self.reasoning if isinstance(self.reasoning, str) else None


def _content_text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "")
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


class ResponseMessage(_CarriesReasoning):
    role: str | None = "assistant"
    content: str | list[Any] | None = None
    tool_calls: list[ToolCall] | None = None

    @property
    def text(self) -> str:
        return _content_text(self.content)


def _refuse_other_shape(data: Any, expected: str, other: str, endpoint: str) -> Any:
    # A choice holding only the other endpoint's field is an answer to another request
    # (a gateway routing /completions to the chat endpoint, or the reverse): reading it
    # as this shape would give empty text.
    if isinstance(data, dict) and expected not in data and other in data:
        raise ValueError(
            f"the choice has {other!r} but no {expected!r}: an answer of another endpoint "
            f"than {endpoint}"
        )
    return data


class Choice(_Lenient):
    index: int = 0
    message: ResponseMessage = Field(default_factory=ResponseMessage)
    finish_reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _chat_shape(cls, data: Any) -> Any:
        return _refuse_other_shape(data, "message", "text", "/chat/completions")


class Timing(_Lenient):
    """The service's own timing of one answer (the live service sends it; OpenAI-compatible
    hosts do not). Fields it may add later are kept (``model_extra``) and in :meth:`as_dict`."""

    ttft_seconds: _FiniteOrAbsent = None
    throughput_tokens_per_second: _FiniteOrAbsent = None
    total_seconds: _FiniteOrAbsent = None
    gpu_processing_seconds: _FiniteOrAbsent = None
    """Streams only: from the ``{"_timing": {...}}`` event that opens a live stream."""

    def as_dict(self) -> dict[str, Any]:
        """The figures the service sent (None left out), extra ones included."""
        return self.model_dump(exclude_none=True)

    def merged(self, other: Timing) -> Timing:
        """These figures updated with the ones ``other`` sent."""
        return Timing.model_validate({**self.as_dict(), **other.as_dict()})


RESPONSE_METADATA_FIELDS: tuple[str, ...] = (
    "id",
    "created",
    "system_fingerprint",
    "service_tier",
    "confidence_score",
)
"""The header fields that describe a response to a framework (LangChain's
``response_metadata``, ...): see :meth:`ResponseHeader.header_metadata`."""


class ResponseHeader(_Lenient):
    """What a whole response and each of its streamed chunks both carry besides choices."""

    id: str = ""
    object: str | None = None
    created: _FiniteOrAbsent = None
    model: str = ""
    usage: Usage | None = None
    # The live service says ``confidence``, the reference page ``confidence_score``.
    confidence_score: _FiniteOrAbsent = Field(
        default=None, validation_alias=AliasChoices("confidence_score", "confidence")
    )
    system_fingerprint: str | None = None
    service_tier: str | None = None
    timing: Timing | None = None

    def header_metadata(self) -> dict[str, Any]:
        """The :data:`RESPONSE_METADATA_FIELDS` the host sent (not None, not empty), in
        that order."""
        metadata = {}
        for name in RESPONSE_METADATA_FIELDS:
            value = getattr(self, name)
            if value is not None and value != "":
                metadata[name] = value
        return metadata


class ChatCompletion(ResponseHeader):
    """A whole response (``object`` is ``chat.completion`` when the host says it)."""

    choices: list[Choice] = Field(default_factory=list)


class FunctionCallDelta(_Lenient):
    name: str | None = None
    arguments: Annotated[str | None, BeforeValidator(_json_text)] = None


class ToolCallDelta(_Lenient):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionCallDelta | None = None


class Delta(_CarriesReasoning):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Lenient):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None


class _StreamEvent(ResponseHeader):
    """What every streamed event of the live service may carry besides its choices.

    The live service also sends events that are no chunks: ``{"_timing": {...}}`` first
    (read into :attr:`gpu_timing`) and ``{"object": "timing", "timing": {...}}`` after the
    last chunk; see :attr:`is_chunk`.
    """

    gpu_timing: Timing | None = Field(
        default=None, validation_alias=AliasChoices("_timing", "gpu_timing")
    )

    @property
    def is_chunk(self) -> bool:
        """False for the events that carry no ``choices`` field at all (timing events):
        they are read for what they carry, never counted as chunks."""
        return "choices" in self.model_fields_set


class ChatCompletionChunk(_StreamEvent):
    """One streamed event of a chat completion (``usage`` usually only on the last one)."""

    choices: list[ChunkChoice] = Field(default_factory=list)


class TextChoice(_Lenient):
    """One choice of a text completion; in a streamed chunk ``text`` is the new piece."""

    index: int = 0
    text: Annotated[str, BeforeValidator(_none_to_empty)] = ""
    logprobs: Any = None
    finish_reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_shape(cls, data: Any) -> Any:
        data = _refuse_other_shape(data, "text", "message", "/completions")
        return _refuse_other_shape(data, "text", "delta", "/completions")


class TextCompletion(ResponseHeader):
    """A whole text completion (``object`` is ``text_completion`` when the host says it)."""

    choices: list[TextChoice] = Field(default_factory=list)


class TextCompletionChunk(_StreamEvent):
    """One streamed chunk of a text completion (``usage`` usually only on the last one)."""

    choices: list[TextChoice] = Field(default_factory=list)


def response_timing(header: ResponseHeader) -> dict[str, Any] | None:
    """The service's ``timing`` object of a response or chunk (``ttft_seconds``,
    ``throughput_tokens_per_second``, ``total_seconds``), or None when it sent none.

    """
    timing = header.timing
    return timing.as_dict() if timing is not None else None


class Embedding(_Lenient):
    index: int = 0
    embedding: list[Annotated[float, Field(allow_inf_nan=False)]]
    object: str | None = None


class EmbeddingUsage(_Lenient):
    prompt_tokens: _Count = 0
    total_tokens: _Count = 0


class EmbeddingResponse(_Lenient):
    data: list[Embedding]
    model: str = ""
    usage: EmbeddingUsage | None = None
    object: str | None = None

    @model_validator(mode="after")
    def _check_vectors(self) -> EmbeddingResponse:
        # Each vector must stay with its text: the indices number the inputs exactly once
        # (a gateway renumbering sub-batches would otherwise swap vectors silently).
        indices = sorted(item.index for item in self.data)
        if indices != list(range(len(indices))):
            shown = [item.index for item in self.data][:20]
            raise ValueError(
                f"the vectors' indices must be 0..{len(indices) - 1}, each once; got {shown}"
            )
        sizes = {len(item.embedding) for item in self.data}
        if len(sizes) > 1:
            raise ValueError(f"the vectors differ in length ({sorted(sizes)})")
        return self

    @property
    def embeddings(self) -> list[list[float]]:
        """The vectors in input order (the service's ``index``, not its list order)."""
        return [item.embedding for item in sorted(self.data, key=lambda item: item.index)]


class RerankResult(_Lenient):
    """One scored document: ``index`` is its position in the request's ``documents``."""

    index: int
    relevance_score: float
    document: str | dict[str, Any] | None = None
    """The document as sent, when ``return_documents`` asked for it."""


class RerankMeta(_Lenient):
    """How the service ranked (fields it adds are kept, ``model_extra``)."""

    method: str | None = None
    deployed_model_id: str | None = None
    model_cross: str | None = None
    stage1_top_k: int | None = None


class RerankResponse(_Lenient):
    """The answer of ``POST /reranker``: ``results`` most relevant first, as the service
    ordered them."""

    results: list[RerankResult]
    meta: RerankMeta = Field(default_factory=RerankMeta)


class AlignedModel(_Lenient):
    """One of the account's models aligned (fine-tuned) on the Nugen platform.

    ``deployment_status == "DEPLOYED"`` models answer inference calls under their ``id``
    (send them with ``provider="nugen-infer-align"``); undocumented fields are kept.
    """

    id: str
    alignment_id: str | None = None
    name: str | None = None
    base_model: str | None = None
    alignment_project: str | None = None
    created_date: str | None = None
    status: str | None = None
    deployment_status: str | None = None
    endpoint: str | None = None
    creator: str | None = None
    usage_count: int | None = None
    last_used: str | None = None
    performance_metrics: dict[str, Any] | None = None
    downloadable: bool | None = None
    evaluation_data: Any = None
    conversation_saving_enabled: bool | None = None


class AlignedModelList(_Lenient):
    """The answer of ``GET /api/v3/models/aligned``."""

    domain_aligned_models: list[AlignedModel]
