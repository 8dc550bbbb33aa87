"""What a caller can ask of the clients: their defaults and the keyword arguments of a call.

Public because these types are the clients' signatures (``Unpack[ChatParams]``) and the
adapters build their fields and requests from them. ``ChatParams``, ``CompletionParams``
and ``EmbeddingParams`` are the keyword arguments of ``chat_completion`` /
``stream_chat_completion``, ``completion`` / ``stream_completion`` and ``embeddings``:
body fields (sent only when given and not None) plus the per-call :class:`RequestOptions`,
which never reach the body. :func:`redact_headers` is the one rule for which header values
may be shown. Names not in ``__all__`` are the clients' own.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from typing_extensions import Required, TypedDict

from nugen_client._errors import InvalidInputError
from nugen_client._retry import OnRetry
from nugen_client._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ChatParams",
    "CompletionParams",
    "EmbeddingParams",
    "OnRetry",
    "RequestOptions",
    "RerankMethod",
    "RerankParams",
    "check_no_userinfo",
    "is_credential_header",
    "is_redaction_placeholder",
    "redact_headers",
]

DEFAULT_BASE_URL = "https://api.nugen.in/api/v3/inference"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024
DEFAULT_DEADLINE = 600.0
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0
)
USER_AGENT = (
    f"nugen-integrations/{__version__} (nugen_client; python "
    f"{sys.version_info.major}.{sys.version_info.minor}; httpx {httpx.__version__})"
)

Endpoint = Literal["chat", "vision"]
PATHS: dict[str, str] = {"chat": "/chat/completions", "vision": "/chat/vision"}
COMPLETIONS_PATH = "/completions"
RERANK_PATH = "/reranker"
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
    timeout: float | httpx.Timeout | None
    on_retry: OnRetry | None


class GenerationParams(RequestOptions, total=False):
    """What chat and text completion requests share: the model, the sampling fields (only
    the ones given, and not None, are sent) and ``include_usage`` (streams only, default
    True), which asks OpenAI-compatible hosts for usage on the last chunk.

    The sampling fields are declared, with their limits and meaning, in
    :class:`nugen_client.types.GenerationFields`; they are written out here as well so
    that type checkers see each keyword (a test keeps the two the same).
    """

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


class ChatParams(GenerationParams, total=False):
    """A chat request: :class:`GenerationParams`, the chat body fields and the options.

    ``endpoint="vision"`` posts to ``/chat/vision``.
    """

    messages: Required[Sequence[Mapping[str, Any]]]
    endpoint: Endpoint
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    reasoning: Mapping[str, Any] | None
    response_format: Mapping[str, Any] | None


class CompletionParams(GenerationParams, total=False):
    """A text completion request (``POST /completions``): :class:`GenerationParams` with
    ``prompt`` instead of chat's ``messages`` (several prompts get one choice each, or
    ``n`` each, numbered in prompt order by ``index``), and the per-call options."""

    prompt: Required[str | Sequence[str]]


class EmbeddingParams(RequestOptions, total=False):
    """An embeddings request."""

    model: Required[str]
    input: Required[str | Sequence[str]]
    dimensions: int | None


class RerankParams(RequestOptions, total=False):
    """A reranking request (``POST /reranker``): the documented body fields (only the ones
    given, and not None, are sent) and the per-call options. ``documents`` are strings or
    objects; ``model_cross`` (a cross-encoder) is required by the ``standard`` and
    ``optimal`` methods."""

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


OPTION_NAMES = frozenset(RequestOptions.__annotations__) | {"endpoint", "include_usage"}
"""The keyword arguments of a chat or text completion call that are not body fields."""


# Headers whose values may be shown (logs, errors, serialised models, callbacks, traces):
# the ones this client sends itself and common transport and tracing headers. Every other
# value is redacted, so a gateway's credential header under any name stays hidden.
SAFE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "traceparent",
        "tracestate",
        "user-agent",
        "x-provider",
        "x-request-id",
        "x-session-id",
    }
)
REDACTED = "***"


def check_no_userinfo(base_url: str) -> None:
    """Refuse a URL with ``user:password@``, without echoing it: the userinfo may hold a
    password, and httpx would send it as Basic auth in place of the Bearer key."""
    netloc = urlsplit(base_url).netloc
    if "@" in netloc:
        raise InvalidInputError(
            f"base_url must not hold a user name or password (user:pass@"
            f"{netloc.rpartition('@')[2]}): the API key is the credential; pass it as api_key="
        )


def is_credential_header(name: str) -> bool:
    """Whether a header's value must never be shown: true for every name but the few
    known to be safe (``Content-Type``, ``Accept``, ``User-Agent``, ``X-Session-ID``,
    ``X-Provider``, ...)."""
    return name.lower() not in SAFE_HEADERS


def is_redaction_placeholder(value: object) -> bool:
    """Whether ``value`` is what a redacted value is shown as (``***``, or a
    ``SecretStr``'s ``**********``): a model rebuilt from its serialised form holds these
    in place of the real values, and they must never be sent."""
    return isinstance(value, str) and len(value) >= 3 and value.strip("*") == ""


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with every value but those of safe names replaced by ``***``."""
    return {
        name: (REDACTED if is_credential_header(name) else value) for name, value in headers.items()
    }
