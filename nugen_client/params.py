"""What a caller can ask of the clients: the defaults, the keyword arguments of a call
(``Unpack[ChatParams]``: body fields, sent only when given and not None, plus the per-call
:class:`RequestOptions`), the header rules (:func:`redact_headers`), and the strict request
wire models, with the one declaration of the sampling fields (:class:`SamplingFields`) that
the adapters inherit. The part types of the request models (:class:`ImageURL`, :class:`TextPart`,
...) are public as the types of those models' fields, whose validation messages name them.
"""

import base64
import binascii
import difflib
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import Required, TypedDict

from nugen_client._errors import InvalidInputError, is_credential_header, redact_headers
from nugen_client._retry import OnRetry

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BODY_KEYWORDS",
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatParams",
    "CompletionParams",
    "EmbeddingFields",
    "EmbeddingParams",
    "EmbeddingRequest",
    "GenerationFields",
    "OnRetry",
    "ReasoningConfig",
    "RequestOptions",
    "RerankMethod",
    "RerankParams",
    "RerankRequest",
    "SamplingFields",
    "ScoringFields",
    "Stop",
    "TextCompletionFields",
    "TextCompletionRequest",
    "Tool",
    "check_no_credential_keywords",
    "check_no_userinfo",
    "check_texts_to_embed",
    "is_credential_header",
    "redact_headers",
]

DEFAULT_BASE_URL = "https://api.nugen.in/api/v3/inference"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
DEFAULT_DEADLINE = 600.0
RerankMethod = Literal["fast", "standard", "optimal", "best"]


class RequestOptions(TypedDict, total=False):
    """Per-call options of every request.

    ``session_id`` is sent as ``X-Session-ID`` for this call, ``provider`` as
    ``X-Provider``; ``extra_headers`` are added to it; ``extra_body`` is merged into the
    JSON body unvalidated (for fields this client does not know); ``timeout`` (seconds)
    replaces the client's for this call; ``on_retry`` (see :data:`OnRetry`) is called
    before each retry (awaited if async).
    """

    session_id: str | None
    provider: str | None
    extra_headers: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None
    timeout: "float | httpx.Timeout | None"
    on_retry: OnRetry | None


class _GenerationParams(RequestOptions, total=False):
    """What chat and text completion requests share: the model, the sampling fields of
    :class:`GenerationFields` (written out for type checkers; a test keeps them the same),
    ``include_usage`` (streams; default True: usage on an OpenAI-compatible last chunk)."""

    model: Required[str]
    include_usage: bool
    max_tokens: int | None
    prompt_truncate_len: int | None
    temperature: float | None
    top_p: float | None
    top_k: int | None
    n: int | None
    stop: str | list[str] | None
    stream_options: Mapping[str, Any] | None


class ChatParams(_GenerationParams, total=False):
    """A chat request; ``endpoint="vision"`` posts to ``/chat/vision``."""

    messages: Required[Sequence[Mapping[str, Any]]]
    endpoint: Literal["chat", "vision"]
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    reasoning: Mapping[str, Any] | None
    response_format: Mapping[str, Any] | None


class CompletionParams(_GenerationParams, total=False):
    """A text completion request (``POST /completions``): the model, sampling fields and
    per-call options of :class:`ChatParams`, with ``prompt`` instead of chat's ``messages``
    (several prompts get one choice each, or ``n`` each, numbered in prompt order by
    ``index``)."""

    prompt: Required[str | Sequence[str]]


class EmbeddingParams(RequestOptions, total=False):
    """An embeddings request."""

    model: Required[str]
    input: Required[str | Sequence[str]]
    dimensions: int | None


class RerankParams(RequestOptions, total=False):
    """A reranking request (``POST /reranker``): ``documents`` are strings or objects, the
    fields of :class:`ScoringFields` say how they are scored."""

    model: Required[str]
    query: Required[str]
    documents: Required[Sequence[str | Mapping[str, Any]]]
    top_n: int | None
    method: RerankMethod | None
    model_cross: str | None
    stage1_top_k: int | None
    max_tokens_per_doc: int | None
    batch_size: int | None
    return_documents: bool | None


# A word of a keyword (snake, kebab or camel case) that names a credential: ``openai_api_key``,
# ``nugen_api_key``, ``api_token``, ``accessToken``, ``client_secret``, ``password``, ...;
# headers (``headers``, ``http_headers``), whose values a body field would show, never send;
# or a proxy (ChatOpenAI's ``openai_proxy``), whose URL may hold a password.
_CREDENTIAL_WORD = re.compile(
    r"(?:^|_)(?:api_?key|(?:access|secret|private|auth|subscription)_key|token|secret|password|"
    r"passwd|credentials?|auth|authorization|bearer|headers|(?P<proxy>prox(?:y|ies)))(?:_|$)"
)

# What a call may be given by keyword (a near miss of one of these is a typo).
_CALL_KEYWORDS = frozenset(
    name
    for params in (ChatParams, CompletionParams, EmbeddingParams, RerankParams)
    for name in params.__annotations__
)
# What an extra_body's names may be a near miss of: the body fields (no option is one there).
BODY_KEYWORDS = _CALL_KEYWORDS - RequestOptions.__annotations__.keys()


def check_no_credential_keywords(
    names: Iterable[str], known: Collection[str] = _CALL_KEYWORDS, *, body: bool = False
) -> None:
    """Refuse a keyword that looks like a credential (``api_key`` itself only if ``body``:
    names bound for the body; the key goes to the constructor) or names a proxy.

    Unknown keywords become body fields, where a key under a wrong name would be shown. A
    near miss of one of ``known`` (``max_token``) is refused as a typo, naming the name
    meant, never the value. Public for the adapters (constructor and call keywords).
    """
    for name in names:
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("-", "_")
        if name == "api_key" and body:
            raise InvalidInputError(
                "'api_key' is not a call keyword or a body field (it would be sent in the "
                "request body): give the key to the model or client, api_key=... (or NUGEN_API_KEY)"
            )
        if name == "api_key" or name in known or not (word := _CREDENTIAL_WORD.search(words)):
            continue
        if word["proxy"]:
            raise InvalidInputError(
                f"{name!r} is not a parameter: set the proxy in the environment (HTTPS_PROXY, "
                "ALL_PROXY), which requests to other machines go through; as a body field, "
                "no request would use it and its URL (a password too) would be sent and shown"
            )
        meant = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
        if meant:
            raise InvalidInputError(f"{name!r} is not a parameter; did you mean {meant[0]!r}?")
        raise InvalidInputError(
            f"{name!r} is not a parameter and looks like a credential or headers: pass the "
            "API key as api_key= (or set NUGEN_API_KEY), and headers as extra_headers= for "
            "one call (default_headers= of a client or model for all its calls)"
        )


def check_no_userinfo(base_url: str) -> None:
    """Refuse a URL with ``user:password@``, without echoing it: the userinfo may hold a
    password, and httpx would send it as Basic auth in place of the Bearer key. Public for
    the adapters, which refuse it at construction, before a ``repr`` could show it."""
    netloc = urlsplit(base_url).netloc
    if "@" in netloc:
        raise InvalidInputError(
            f"base_url must not hold a user name or password (user:pass@"
            f"{netloc.rpartition('@')[2]}): the API key is the credential; pass it as api_key="
        )


# ----------------------------------------------------------------------------- requests

_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(?:;[\w-]+=[^;,]*)*)"
    r";(?P<base64>(?i:base64)),(?P<data>.*)$",
    re.S,
)


class _Open(BaseModel):
    # Extra fields pass through: forward-compatible with what hosts add (``cache_control``...).
    # Built on first use (``defer_build``): a process builds only the models it uses.
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", frozen=True, defer_build=True)


# ASCII whitespace, which line-wrapped base64 holds (``base64.encodebytes``, MIME's 76-column
# lines) and the stdlib's lenient decoder skips.
_BASE64_WHITESPACE = str.maketrans("", "", " \t\n\r\v\f")


def unwrapped_base64(data: str) -> str:
    """Base64 text without the whitespace of its line breaks: what is sent of it."""
    return data.translate(_BASE64_WHITESPACE)


def check_image_url(url: str, *, decode: bool = True) -> str:
    """Accept what the service documents: an https URL, or a decodable base64 data URL.
    Public for the adapters' image conversion, which checks a URL early with ``decode=False``
    (skip decoding the payload: the client's check of the request decodes it once)."""
    scheme = url[: url.find(":") + 1].lower()  # case-insensitive, sent in lower case
    if scheme in ("https:", "data:") and not url.startswith(scheme):
        url = scheme + url[len(scheme) :]
    if url.startswith("https://"):
        if len(url) <= len("https://"):
            raise ValueError("image URL has no host")
        return url
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if match is None:
            raise ValueError("data URL must look like data:<mime>;base64,<data>")
        mime = match["mime"].lower()
        if mime != match["mime"] or match["base64"] != "base64":  # sent in lower case
            url = f"data:{mime}{match['params']};base64,{match['data']}"
        if not mime.startswith("image/"):
            raise ValueError(f"data URL has mime type {match['mime']!r}, not an image/* type")
        if not decode:
            return url
        try:
            decoded = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            # Line-wrapped, perhaps: sent unwrapped, if that is all that was wrong.
            data = unwrapped_base64(match["data"])
            try:
                decoded = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("data URL payload is not valid base64") from None
            url = f"data:{mime}{match['params']};base64,{data}"
        if not decoded:
            raise ValueError("data URL holds no image bytes")
        return url
    shown = url if len(url) <= 60 else url[:57] + "..."
    raise ValueError(f"image URL must be https:// or a data:image/...;base64 URL, got {shown!r}")


class ImageURL(_Open):
    """The ``image_url`` of an image part: an https or ``data:image/...;base64`` URL."""

    url: Annotated[str, Field(min_length=1), AfterValidator(check_image_url)]
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(_Open):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str


class ImagePart(_Open):
    """An image part of a message's content."""

    type: Literal["image_url"]
    image_url: ImageURL


_ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCallParam(_Open):
    """The function of an assistant message's tool call: its name and JSON arguments."""

    name: str = Field(min_length=1)
    arguments: str


class ToolCallParam(_Open):
    """A tool call of an assistant message, as sent back in the conversation."""

    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCallParam


class ChatMessage(_Open):
    """One message of the conversation, as sent."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[_ContentPart] | None = None
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")] | None = None
    tool_calls: list[ToolCallParam] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> "ChatMessage":
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
    """The function a :class:`Tool` offers: name, description, JSON Schema parameters."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_parameters(self) -> "FunctionDefinition":
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
    """A tool the model may call (the OpenAI function format)."""

    type: Literal["function"] = "function"
    function: FunctionDefinition


class _NamedFunction(_Open):
    name: str = Field(min_length=1)


class ToolChoiceFunction(_Open):
    """The ``tool_choice`` that forces a call of one named tool."""

    type: Literal["function"] = "function"
    function: _NamedFunction


class ReasoningConfig(BaseModel):
    """The ``reasoning`` object: unknown keys are refused, they are almost always typos."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    effort: Literal["xhigh", "high", "medium", "low", "minimal", "none"] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    exclude: bool | None = None
    enabled: bool | None = None


Stop = Annotated[
    str | list[str] | None, Field(description="Stop sequences: the text ends before any of them.")
]
"""The type of a ``stop`` field (LangChain's adds its alias ``stop_sequences`` to it)."""


class SamplingFields(BaseModel):
    """The sampling fields of a generation request, declared once: for the wire models,
    both adapters' chat classes and (a typed mirror, checked by a test) :class:`ChatParams`.
    ``None`` means unset, and unset fields are not sent (the service's defaults apply).
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
    def _check_tool_choice(self) -> "ChatCompletionRequest":
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


class EmbeddingFields(BaseModel):
    """The field of an embeddings request besides its model and texts, declared once: for
    the wire model and both adapters' embedding classes."""

    dimensions: int | None = Field(
        default=None, ge=1, description="Length of the vectors, for models that can shorten them."
    )


class _EmbeddingHead(_Open):
    model: str = Field(min_length=1)
    input: str | list[str]


class EmbeddingRequest(EmbeddingFields, _EmbeddingHead):
    """The body of ``POST /embeddings``."""

    @field_validator("input")
    @classmethod
    def _check_input(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not texts:
            raise ValueError("input must hold at least one text")
        check_texts_to_embed(texts)
        return value


class ScoringFields(BaseModel):
    """How a rerank request scores, declared once: for the wire model, both adapters'
    rerankers and (a typed mirror, checked by a test) :class:`RerankParams`."""

    method: RerankMethod | None = Field(
        default=None,
        description="fast (bi-encoder, the service's default), standard (cross-encoder), "
        "optimal (both), best; standard and optimal need model_cross.",
    )
    model_cross: str | None = Field(
        default=None,
        min_length=1,
        description="The cross-encoder of the standard and optimal methods.",
    )
    stage1_top_k: int | None = Field(
        default=None, ge=1, description="Candidates the first stage keeps (hybrid methods)."
    )
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="Tokens of each document the model reads."
    )
    batch_size: int | None = Field(
        default=None, ge=1, description="Documents the service scores at a time."
    )


class _RerankHead(_Open):
    model: str = Field(min_length=1)
    query: str = Field(min_length=1)
    documents: list[str | dict[str, Any]] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)


class RerankRequest(ScoringFields, _RerankHead):
    """The body of ``POST /reranker``: documents scored against a query."""

    return_documents: bool | None = None

    @model_validator(mode="after")
    def _check_cross_encoder(self) -> "RerankRequest":
        if self.method in ("standard", "optimal") and self.model_cross is None:
            raise ValueError(
                f"method {self.method!r} needs model_cross, the cross-encoder that rescores"
            )
        return self


def check_texts_to_embed(texts: Sequence[str]) -> None:
    """Refuse an empty string (the service does) or one that is not UTF-8 (a lone
    surrogate) with an ``InvalidInputError`` naming its position, for batched callers too;
    and one string given as ``texts``, which would be embedded letter by letter."""
    if isinstance(texts, str):
        raise InvalidInputError(
            "the texts to embed must be a list of strings, not one str: pass [text]"
        )
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            problem = f"is {'None' if text is None else type(text).__name__}, not a string"
        elif not text:
            problem = "is an empty string, which cannot be embedded"
        elif not text.isascii() and re.search(r"[\ud800-\udfff]", text):
            problem = "is not valid UTF-8 text (it holds a surrogate), which cannot be sent"
        else:
            continue
        raise InvalidInputError(f"input[{position}] {problem}")
