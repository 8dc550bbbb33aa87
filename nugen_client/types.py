"""Typed models of what the service answers, and :class:`Stream` / :class:`AsyncStream`,
what the stream methods return (what is sent is in :mod:`nugen_client.params`).

Responses are lenient: float ``created``, missing or wrong ``object``, null ``usage``,
reasoning as ``reasoning_content`` or ``reasoning``, and undocumented fields (kept in
``model_extra``) are all accepted.
"""

import array
import base64
import binascii
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from typing_extensions import Self

from nugen_client._stream_wrappers import AsyncStream, Stream

__all__ = [
    "RESPONSE_METADATA_FIELDS",
    "AlignedModel",
    "AlignedModelList",
    "AsyncStream",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "FunctionCall",
    "FunctionCallDelta",
    "RerankMeta",
    "RerankResponse",
    "RerankResult",
    "ResponseHeader",
    "ResponseMessage",
    "Stream",
    "TextChoice",
    "TextCompletion",
    "TextCompletionChunk",
    "Timing",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "parse_tool_arguments",
    "response_timing",
]

# ---------------------------------------------------------------------------- responses


def _json_text(value: Any) -> Any:
    # Some OpenAI-compatible hosts send tool arguments as an object rather than a string,
    # or null for a call without arguments.
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else value


# Text a host may send as null, read as "" (a stream's fragments take null there too).
_Text = Annotated[str, BeforeValidator(lambda value: "" if value is None else value)]


def _unpack_floats(value: Any) -> Any:
    """A vector sent as base64 (``encoding_format="base64"``): little-endian float32s."""
    if not isinstance(value, str):
        return value
    try:
        vector = array.array("f", base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("a base64 embedding must hold little-endian float32 values") from None
    if sys.byteorder == "big":
        vector.byteswap()
    return vector.tolist()


# A token count: null reads as 0; a negative or fractional count is a broken answer and is
# refused with it, however large a whole count is.
_Count = Annotated[int, BeforeValidator(lambda value: 0 if value is None else value), Field(ge=0)]
# A number, or None when the host sent null, NaN or an infinity (JSON parsers accept the
# last two, and no reading of them is right). Tried left to right, so a finite number costs
# what ``float | None`` does; a value that is no number at all is still an error.
_FiniteOrAbsent = Annotated[
    Annotated[float, Field(allow_inf_nan=False)]
    | Annotated[float, AfterValidator(lambda _: None)]
    | None,
    Field(union_mode="left_to_right"),
]


class _Lenient(BaseModel):
    # Built on first use (``defer_build``): a process builds only the models it uses.
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", defer_build=True)


class Usage(_Lenient):
    prompt_tokens: _Count = 0
    completion_tokens: _Count = 0
    total_tokens: _Count = 0
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _total_of_the_parts(self) -> Self:
        # A host sending no total (null, or none) has still counted the parts.
        if not self.total_tokens:
            self.total_tokens = self.prompt_tokens + self.completion_tokens
        return self

    @property
    def reasoning_tokens(self) -> int | None:
        value = (self.completion_tokens_details or {}).get("reasoning_tokens")
        return value if isinstance(value, int) else None

    @property
    def cached_tokens(self) -> int | None:
        value = (self.prompt_tokens_details or {}).get("cached_tokens")
        return value if isinstance(value, int) else None


class FunctionCall(_Lenient):
    name: _Text = ""
    arguments: Annotated[str, BeforeValidator(_json_text)] = ""


def parse_tool_arguments(arguments: str) -> dict[str, Any]:
    """The arguments of a finished tool call as a dict, by the one rule both adapters
    follow: a call runs only when its arguments are complete, valid JSON holding an object
    (empty text: no arguments), so a call cut off by ``max_tokens`` fails here, however
    plausible the part that arrived; raw newlines in strings are read, as LangChain reads
    them. Raises ``ValueError`` saying why (an invalid call)."""
    if not arguments.strip():
        return {}
    try:
        parsed = json.loads(arguments, strict=False)
    except ValueError as error:
        raise ValueError(f"the arguments are not complete, valid JSON ({error})") from None
    except RecursionError:
        raise ValueError("the arguments are nested too deeply to read") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"the arguments must be a JSON object, got {type(parsed).__name__}")
    return parsed


class ToolCall(_Lenient):
    id: _Text = ""
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class _CarriesReasoning(_Lenient):
    """The reasoning fields of a message or a streamed delta: hosts put the text in either
    ``reasoning_content`` or ``reasoning``; another shape (an object, a list) is kept."""

    reasoning_content: Any = None
    reasoning: Any = None

    @property
    def reasoning_text(self) -> str | None:
        """Reasoning, whichever field the host put it in (an empty one does not hide the
        other)."""
        # Read for every streamed delta: the common "neither" case costs three checks.
        content = self.reasoning_content
        if content and isinstance(content, str):
            return content
        reasoning = self.reasoning
        if isinstance(reasoning, str) and (reasoning or not isinstance(content, str)):
            return reasoning
        return content if isinstance(content, str) else None


def _parts_text(parts: list[Any]) -> str:
    """Content parts' text parts, joined (a part whose ``text`` is no string adds nothing)."""
    texts = (p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "text")
    return "".join(text for text in texts if isinstance(text, str))


class ResponseMessage(_CarriesReasoning):
    role: str | None = "assistant"
    content: str | list[Any] | None = None
    tool_calls: list[ToolCall] | None = None

    @property
    def text(self) -> str:
        """The content as text: a list of parts gives its text parts, joined."""
        content = self.content
        return _parts_text(content) if isinstance(content, list) else content or ""


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

    def merged(self, other: "Timing") -> "Timing":
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

    def _read_either_confidence(self) -> None:
        """``confidence`` when ``"confidence_score": null`` came beside it (the alias takes
        the first name present); called per answer and by the stream decoder."""
        extra = self.__pydantic_extra__
        if extra and self.confidence_score is None and "confidence" in extra:
            sent = {"confidence": extra.pop("confidence")}
            self.confidence_score = ResponseHeader.model_validate(sent).confidence_score

    def header_metadata(self) -> dict[str, Any]:
        """The :data:`RESPONSE_METADATA_FIELDS` the host sent (not None, not empty), in
        that order."""
        values = {name: getattr(self, name) for name in RESPONSE_METADATA_FIELDS}
        return {name: value for name, value in values.items() if value not in (None, "")}


class _Answer(ResponseHeader):
    @model_validator(mode="after")
    def _either_confidence(self) -> Self:
        self._read_either_confidence()
        return self


class ChatCompletion(_Answer):
    """A whole response (``object`` is ``chat.completion`` when the host says it)."""

    choices: list[Choice] = Field(default_factory=list)


class FunctionCallDelta(_Lenient):
    name: str | None = None
    arguments: Annotated[str | None, BeforeValidator(_json_text)] = None


class ToolCallDelta(_Lenient):
    """One streamed fragment of a tool call: its id, type and name come on the call's first
    fragment, its arguments in pieces (``ToolCallAccumulator`` joins them)."""

    index: int | None = None  # the call it continues (omitted: the accumulator matches ids)
    id: str | None = None
    type: str | None = None
    function: FunctionCallDelta | None = None


class Delta(_CarriesReasoning):
    role: str | None = None
    if TYPE_CHECKING:
        content: str | None = None
    else:  # parts (as whole answers may send) read as text; a str matched in pydantic-core
        content: str | Annotated[list[Any], AfterValidator(_parts_text)] | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Lenient):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None


class _StreamEvent(ResponseHeader):
    """What every streamed event may carry besides its choices, including the live
    service's events that are no chunks (:attr:`is_chunk`): ``{"_timing": {...}}`` first
    (read into :attr:`gpu_timing`), ``{"object": "timing", "timing": {...}}`` last."""

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
    text: _Text = ""
    logprobs: Any = None
    finish_reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_shape(cls, data: Any) -> Any:
        data = _refuse_other_shape(data, "text", "message", "/completions")
        return _refuse_other_shape(data, "text", "delta", "/completions")


class TextCompletion(_Answer):
    """A whole text completion (``object`` is ``text_completion`` when the host says it)."""

    choices: list[TextChoice] = Field(default_factory=list)


class TextCompletionChunk(_StreamEvent):
    """One streamed chunk of a text completion (``usage`` usually only on the last one)."""

    choices: list[TextChoice] = Field(default_factory=list)


def response_timing(header: ResponseHeader) -> dict[str, Any] | None:
    """The service's ``timing`` object of a response or chunk (``ttft_seconds``,
    ``throughput_tokens_per_second``, ``total_seconds``), or None when it sent none."""
    return header.timing.as_dict() if header.timing is not None else None


class Embedding(_Lenient):
    index: int = 0
    embedding: Annotated[
        list[Annotated[float, Field(strict=True, allow_inf_nan=False)]],  # true, "1.5": refused
        BeforeValidator(_unpack_floats),
    ]
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
    def _check_vectors(self) -> "EmbeddingResponse":
        # Each vector must stay with its text: the indices number the inputs exactly once
        # (a gateway renumbering sub-batches would otherwise swap vectors silently).
        indices = sorted(item.index for item in self.data)
        if indices != list(range(len(indices))):
            missing = sum("index" not in item.model_fields_set for item in self.data)
            got = f"{missing} of them have no index" if missing else f"got {indices[:20]}"
            raise ValueError(f"the vectors' indices must be 0..{len(indices) - 1} each once; {got}")
        sizes = {len(item.embedding) for item in self.data}
        if len(sizes) > 1:
            raise ValueError(f"the vectors differ in length ({sorted(sizes)})")
        if sizes == {0}:
            raise ValueError("the vectors are empty")
        return self

    @property
    def embeddings(self) -> list[list[float]]:
        """The vectors in input order (the service's ``index``, not its list order)."""
        return [item.embedding for item in sorted(self.data, key=lambda item: item.index)]


class RerankResult(_Lenient):
    """One scored document: ``index`` is its position in the request's ``documents``."""

    index: int
    relevance_score: Annotated[float, Field(allow_inf_nan=False)]
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
