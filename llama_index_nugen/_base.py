"""Fields and plumbing shared by ``Nugen``, ``NugenMultiModal`` and ``NugenEmbedding``.

Two pydantic mixins: :class:`NugenConnection` (credentials, endpoint, retries, the lazily
built clients) and :class:`NugenChatSettings` (sampling fields, request assembly, and the
four undecorated chat calls the framework classes wrap). Sync and async differ only in
which client method they await; everything before and after is the same function.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
)
from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_serializer, field_validator

from llama_index_nugen import _convert
from nugen_client import DEFAULT_BASE_URL, AsyncNugenClient, ChatParams, NugenClient
from nugen_client._pickling import PicklesWithoutKey
from nugen_client.images import DEFAULT_MAX_IMAGE_BYTES
from nugen_client.types import ReasoningConfig

__all__ = ["NugenChatSettings", "NugenConnection"]

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2

# Body fields and request options of a client chat call: per-call kwargs (and
# additional_kwargs) with these names go to the client as they are.
_CHAT_PARAMS = (ChatParams.__optional_keys__ | ChatParams.__required_keys__) - {
    "messages",
    "extra_body",
}
# Keyword arguments LlamaIndex passes around that are not for the service, and ``stream``
# and ``messages``, which the call itself decides.
_FRAMEWORK_KWARGS = frozenset(
    {
        "formatted",
        "use_chat_completions",
        "tool_required",
        "allow_parallel_tool_calls",
        "verbose",
        "strict",
        "error_on_no_tool_call",
        "stream",
        "messages",
    }
)
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})


def _api_key_from_env() -> SecretStr | None:
    key = os.environ.get("NUGEN_API_KEY")
    return SecretStr(key) if key else None


def _base_url_from_env() -> str:
    return os.environ.get("NUGEN_BASE_URL") or DEFAULT_BASE_URL


class _Clients:
    """The lazily built clients of one object, one per connection configuration.

    Keyed by the connection fields, so changing ``base_url`` (say) takes effect at the next
    call, and shallow copies (``model_copy``), which share this holder, share pools only
    where their configuration agrees. Never deep-copied or pickled: such a copy starts
    empty and opens its own connections, so the framework object stays a plain value.
    """

    __slots__ = ("__weakref__", "_async", "_lock", "_sync")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: dict[tuple[Any, ...], NugenClient] = {}
        self._async: dict[tuple[Any, ...], AsyncNugenClient] = {}

    def __reduce__(self) -> tuple[type[_Clients], tuple[()]]:
        return (_Clients, ())

    def __deepcopy__(self, memo: dict[int, Any]) -> _Clients:
        return _Clients()

    def sync(self, key: tuple[Any, ...], settings: NugenConnection) -> NugenClient:
        client = self._sync.get(key)
        if client is None:
            with self._lock:
                client = self._sync.get(key)
                if client is None:
                    client = self._sync[key] = NugenClient(**settings._client_kwargs())
                    # Pools close when this holder goes (not before: a stream may be
                    # reading from one whose configuration is no longer current).
                    weakref.finalize(self, client.close)
        return client

    def async_(self, key: tuple[Any, ...], settings: NugenConnection) -> AsyncNugenClient:
        client = self._async.get(key)
        if client is None:
            with self._lock:
                client = self._async.get(key)
                if client is None:
                    # Its per-loop pools close with their event loops (see AsyncNugenClient).
                    client = self._async[key] = AsyncNugenClient(**settings._client_kwargs())
        return client


class NugenConnection(PicklesWithoutKey, BaseModel):
    """Where and how to reach the service (shared by every Nugen LlamaIndex class).

    A pickle never holds the API key (see ``nugen_client._pickling``).
    """

    api_key: SecretStr | None = Field(
        default_factory=_api_key_from_env,
        exclude=True,  # never in to_dict() / to_json()
        description="API key (env NUGEN_API_KEY).",
    )
    base_url: str = Field(
        default_factory=_base_url_from_env,
        description="Base URL of the inference API (env NUGEN_BASE_URL).",
    )
    timeout: float | None = Field(
        default=DEFAULT_TIMEOUT, gt=0, description="Seconds per request; None waits forever."
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        description="Retries of connection errors, 408/409/429 and 5xx.",
    )
    default_headers: dict[str, str] | None = Field(
        default=None,
        repr=False,  # may hold credentials; serialised with those redacted
        description="Headers sent with every request.",
    )
    session_id: str | None = Field(
        default=None, description="Sent as X-Session-ID; a per-call session_id overrides it."
    )
    provider: str | None = Field(default=None, description="Sent as X-Provider.")
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow a plain-http base_url to a host other than this machine (the key "
        "would cross the network unencrypted).",
    )

    _clients: _Clients = PrivateAttr(default_factory=_Clients)

    @field_validator("base_url", mode="before")
    @classmethod
    def _default_base_url(cls, value: Any) -> Any:
        return _base_url_from_env() if value is None else value

    @field_serializer("default_headers")
    def _redact_headers(self, headers: dict[str, str] | None) -> dict[str, str] | None:
        if headers is None:
            return None
        return {k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}

    def _client_key(self) -> tuple[Any, ...]:
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        headers = tuple(sorted(self.default_headers.items())) if self.default_headers else ()
        return (
            key,
            self.base_url,
            self.timeout,
            self.max_retries,
            self.provider,
            headers,
            self.allow_insecure_http,
        )

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "default_headers": self.default_headers,
            "provider": self.provider,
            "allow_insecure_http": self.allow_insecure_http,
        }

    def _sync_client(self) -> NugenClient:
        return self._clients.sync(self._client_key(), self)

    def _async_client(self) -> AsyncNugenClient:
        return self._clients.async_(self._client_key(), self)


class NugenChatSettings(NugenConnection):
    """Sampling fields and the chat calls shared by ``Nugen`` and ``NugenMultiModal``."""

    model: str
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop: str | list[str] | None = None
    max_image_bytes: int = Field(
        default=DEFAULT_MAX_IMAGE_BYTES,
        ge=1,
        description="Largest image accepted; larger ones are refused before any upload.",
    )
    prompt_truncate_len: int | None = Field(default=None, ge=1)
    reasoning: dict[str, Any] | None = Field(
        default=None,
        description='{"effort": "xhigh|high|medium|low|minimal|none", "max_tokens": int, '
        '"exclude": bool, "enabled": bool}',
    )
    use_vision_endpoint: bool = Field(
        default=False, description="Send chat requests to /chat/vision."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra body fields sent with every request."
    )

    def _wire_messages(self, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return _convert.to_wire_messages(messages, max_image_bytes=self.max_image_bytes)

    @field_validator("reasoning")
    @classmethod
    def _check_reasoning(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            ReasoningConfig.model_validate(value)  # unknown keys are typos: refuse them now
        return value

    # -- request assembly --------------------------------------------------------------

    def _request(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Keyword arguments of a client chat call: fields, then ``additional_kwargs``,
        then the call's kwargs (later wins). Unknown names become extra body fields."""
        request: dict[str, Any] = {
            "endpoint": "vision" if self.use_vision_endpoint else "chat",
            "session_id": self.session_id,
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "stop": self.stop,
            "prompt_truncate_len": self.prompt_truncate_len,
            "reasoning": self.reasoning,
        }
        extra_body: dict[str, Any] = {}
        for source in (self.additional_kwargs, kwargs):
            for name, value in source.items():
                if name in _CHAT_PARAMS:
                    request[name] = value
                elif name == "use_vision_endpoint":
                    request["endpoint"] = "vision" if value else "chat"
                elif name == "extra_body":
                    extra_body.update(value or {})
                elif name not in _FRAMEWORK_KWARGS and value is not None:
                    extra_body[name] = value
        if extra_body:
            request["extra_body"] = extra_body
        choice = request.get("tool_choice")
        if isinstance(choice, str) and choice not in ("auto", "none"):
            # A tool name (or "required"/"any") given straight to chat(): the wire form.
            names = [
                tool["function"]["name"]
                for tool in request.get("tools") or ()
                if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping)
            ]
            request["tool_choice"] = _convert.tool_choice_to_wire(choice, False, names)
        return request

    # -- the calls (undecorated: the framework classes add callbacks) ---------------------

    def _chat_wire(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> ChatResponse:
        completion = self._sync_client().chat_completion(**self._request(messages, kwargs))
        return _convert.completion_to_chat_response(completion)

    async def _achat_wire(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> ChatResponse:
        client = self._async_client()
        completion = await client.chat_completion(**self._request(messages, kwargs))
        return _convert.completion_to_chat_response(completion)

    def _stream_chat_wire(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> ChatResponseGen:
        # Validated here, before the caller iterates: bad input fails at the call.
        chunks = self._sync_client().stream_chat_completion(**self._request(messages, kwargs))
        return _convert.stream_chat_responses(chunks)

    def _astream_chat_wire(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> ChatResponseAsyncGen:
        client = self._async_client()
        chunks = client.stream_chat_completion(**self._request(messages, kwargs))
        return _convert.astream_chat_responses(chunks)

    def _stream_complete_wire(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> CompletionResponseGen:
        chunks = self._sync_client().stream_chat_completion(**self._request(messages, kwargs))
        return _convert.stream_completion_responses(chunks)

    def _astream_complete_wire(
        self, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any]
    ) -> CompletionResponseAsyncGen:
        client = self._async_client()
        chunks = client.stream_chat_completion(**self._request(messages, kwargs))
        return _convert.astream_completion_responses(chunks)
