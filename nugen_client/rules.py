"""The request rules the LangChain and LlamaIndex adapters share, written once.

Everything both frameworks must agree on lives here, so the two cannot drift apart:

- :class:`ConnectionFields`: the connection fields of every adapter class (``api_key``,
  ``base_url``, ``timeout``, ``max_retries``, ``default_headers``, ``session_id``,
  ``provider``, ``allow_insecure_http``), their environment defaults, what ``None`` means,
  how they serialise (key excluded, credential-like header values redacted) and pickle
  (the key travels as a ``SecretStr``, the client cache does not);
- :class:`ClientCache`: the lazily built clients of one model object and when their pools
  close;
- :func:`chat_request`: a chat request from model fields, extra body fields and call
  keywords (later wins), with ``session_id`` / ``provider`` / ``extra_headers`` sent per
  call; :func:`completion_request`: the same rule for a text completion (``/completions``);
- :func:`tool_choice_to_wire`: every ``tool_choice`` form of both frameworks as the
  service's, refusing a name that is not a bound tool;
- :func:`keeping_partial`: a stream that broke off keeps its text on the error, never in a
  result that looks complete.

Nothing here imports a framework.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_serializer
from typing_extensions import Self

from nugen_client._bounded import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
)
from nugen_client._cache import FreshOnCopy
from nugen_client._checks import is_credential_header
from nugen_client._client import AsyncNugenClient, NugenClient
from nugen_client._errors import InvalidInputError, StreamInterruptedError
from nugen_client._params import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ChatParams,
    CompletionParams,
    RequestOptions,
)
from nugen_client.images import DEFAULT_MAX_IMAGE_BYTES

__all__ = [
    "CHAT_BODY_FIELDS",
    "COMPLETION_BODY_FIELDS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ClientCache",
    "ConnectionFields",
    "ImageLimitField",
    "chat_request",
    "completion_request",
    "embeddings_request",
    "is_credential_header",
    "keeping_partial",
    "redact_headers",
    "resolved_timeout",
    "tool_choice_to_wire",
]

# Body fields of a chat request the client validates; any other name given as a call
# keyword or an extra body field goes into the body as it is.
CHAT_BODY_FIELDS: frozenset[str] = frozenset(
    (ChatParams.__required_keys__ | ChatParams.__optional_keys__)
    - (RequestOptions.__required_keys__ | RequestOptions.__optional_keys__)
    - {"messages", "endpoint", "include_usage"}
)

# The same for a text completion request.
COMPLETION_BODY_FIELDS: frozenset[str] = frozenset(
    (CompletionParams.__required_keys__ | CompletionParams.__optional_keys__)
    - (RequestOptions.__required_keys__ | RequestOptions.__optional_keys__)
    - {"prompt", "include_usage"}
)
REDACTED = "***"

_FORCED = frozenset({"any", "required"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential-like names replaced by ``***``."""
    return {
        name: (REDACTED if is_credential_header(name) else value) for name, value in headers.items()
    }


def resolved_timeout(timeout: float | None) -> float:
    """What a ``timeout`` field means: seconds the client waits for the service to send
    data (connect, read, write, pool); ``None`` is the default, ``DEFAULT_TIMEOUT``."""
    return DEFAULT_TIMEOUT if timeout is None else timeout


# ------------------------------------------------------------------------------ tool_choice


def tool_choice_to_wire(
    tool_choice: str | bool | Mapping[str, Any] | None, tool_names: Sequence[str]
) -> str | dict[str, Any] | None:
    """Every ``tool_choice`` form of both frameworks as the service's ``tool_choice``.

    ``None`` / ``False``: not set (the field is left out). ``"auto"`` and ``"none"`` pass
    through. A forced call (LangChain ``"any"`` / ``True``, LlamaIndex
    ``tool_required=True``, ``"required"``) names the tool when exactly one is bound and is
    ``"required"`` with several. Any other string must be a bound tool's name and becomes
    the specific-tool form; a dict is the wire form already (its name is checked when
    tools are bound). Applying it to its own result changes nothing.

    Raises:
        InvalidInputError: a name that is not a bound tool, or a value of another type.
    """
    if tool_choice is None or tool_choice is False:
        return None
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if tool_names and isinstance(name, str) and name not in tool_names:
            raise _unknown_tool(name, tool_names)
        return dict(tool_choice)
    if tool_choice is True or tool_choice in _FORCED:
        if len(tool_names) == 1:
            return _named_tool(tool_names[0])
        return "required"
    if tool_choice in ("auto", "none"):
        return str(tool_choice)
    if isinstance(tool_choice, str):
        if tool_choice in tool_names:
            return _named_tool(tool_choice)
        raise _unknown_tool(tool_choice, tool_names)
    raise InvalidInputError(
        f"tool_choice must be a str, bool or dict, got {type(tool_choice).__name__}"
    )


def _named_tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def _unknown_tool(name: str, tool_names: Sequence[str]) -> InvalidInputError:
    return InvalidInputError(
        f"tool_choice {name!r} is not one of the bound tools "
        f"({', '.join(tool_names) or 'none bound'}), nor 'auto', 'none', 'any' or 'required'"
    )


def _tool_names(tools: Any) -> list[str]:
    return [
        tool["function"]["name"]
        for tool in tools or ()
        if isinstance(tool, Mapping)
        and isinstance(tool.get("function"), Mapping)
        and isinstance(tool["function"].get("name"), str)
    ]


# --------------------------------------------------------------------------- chat request


def chat_request(
    messages: Sequence[Mapping[str, Any]],
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of one client chat call.

    Three layers, later wins: the model's ``fields`` (``model``, the sampling fields,
    ``stop``, ``session_id``, ``provider``, ``use_vision_endpoint``), its extra body
    fields (LangChain ``model_kwargs``, LlamaIndex ``additional_kwargs``: sent as they
    are, unvalidated), then the call's keywords. A chat body field
    (:data:`CHAT_BODY_FIELDS`) among the fields or keywords is validated by the client
    (``None`` clears it: unset fields are not sent). In every layer ``session_id`` /
    ``provider`` / ``extra_headers`` become this call's headers (never a setting of the
    cached client, so changing them never builds a new pool); ``timeout`` replaces the
    model's for this call (``None``: the model's); ``extra_body`` is merged; names in
    ``ignore`` (the framework's own keywords) are dropped; any other name with a value is
    sent as an unvalidated body field. ``tool_choice`` is converted once, here, against
    the request's tools (:func:`tool_choice_to_wire`).
    """
    layered = _Layered(CHAT_BODY_FIELDS, ignore, ("messages", "stream"))
    layered.merge(fields, extra_body, call)
    body = layered.body
    body["tool_choice"] = tool_choice_to_wire(
        body.get("tool_choice"), _tool_names(body.get("tools"))
    )
    request: dict[str, Any] = {
        **body,
        "messages": messages,
        "endpoint": "vision" if layered.vision else "chat",
    }
    return layered.finish(request)


def completion_request(
    prompt: str,
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any],
    call: Mapping[str, Any],
    *,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of one client text completion call (``/completions``).

    The rule of :func:`chat_request`, with :data:`COMPLETION_BODY_FIELDS` as the
    validated body fields: any other field that has a value (a chat-only one such as
    ``reasoning`` included) is sent as an unvalidated body field, so what the user set is
    what is sent; ``use_vision_endpoint`` does not apply and is dropped.
    """
    layered = _Layered(COMPLETION_BODY_FIELDS, ignore, ("prompt", "stream", "messages"))
    layered.merge(fields, extra_body, call)
    return layered.finish({**layered.body, "prompt": prompt})


class _Layered:
    """The layers of a request (fields, extra body, call keywords) merged, later wins."""

    __slots__ = (
        "_body_fields",
        "_skip",
        "body",
        "headers",
        "provider",
        "session_id",
        "timeout",
        "unvalidated",
        "vision",
    )

    def __init__(
        self, body_fields: frozenset[str], ignore: Collection[str], skip: tuple[str, ...]
    ) -> None:
        self._body_fields = body_fields
        self._skip = frozenset(ignore) | frozenset(skip)
        self.body: dict[str, Any] = {}
        self.unvalidated: dict[str, Any] = {}
        self.headers: dict[str, str] = {}
        self.session_id: str | None = None
        self.provider: str | None = None
        self.timeout: float | None = None
        self.vision = False

    def merge(
        self, fields: Mapping[str, Any], extra_body: Mapping[str, Any], call: Mapping[str, Any]
    ) -> None:
        for layer in (fields, extra_body, call):
            for name, value in layer.items():
                if name in self._body_fields and layer is not extra_body:
                    self.body[name] = value
                    self.unvalidated.pop(name, None)
                elif name == "session_id":
                    self.session_id = value
                elif name == "provider":
                    self.provider = value
                elif name == "extra_headers":
                    self.headers.update(value or {})
                elif name == "timeout":
                    if value is not None:
                        self.timeout = value
                elif name == "extra_body":
                    self.unvalidated.update(value or {})
                elif name == "use_vision_endpoint":
                    self.vision = bool(value)
                elif name in self._skip:
                    continue
                elif value is not None:
                    self.unvalidated[name] = value

    def finish(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with this call's session id, headers, timeout and extra body."""
        request["session_id"] = self.session_id
        headers = self.headers
        if self.provider:
            headers = {"X-Provider": self.provider, **headers}
        if headers:
            request["extra_headers"] = headers
        if self.timeout is not None:
            request["timeout"] = self.timeout
        if self.unvalidated:
            request["extra_body"] = self.unvalidated
        return request


def embeddings_request(
    model: str,
    texts: Sequence[str],
    *,
    dimensions: int | None,
    session_id: str | None,
    provider: str | None,
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The keyword arguments of one client embeddings call; the headers follow the same
    rule as :func:`chat_request` (sent per call, never a setting of the cached client)."""
    request: dict[str, Any] = {
        "model": model,
        "input": list(texts),
        "dimensions": dimensions,
        "session_id": session_id,
    }
    if provider:
        request["extra_headers"] = {"X-Provider": provider}
    if extra_body:
        request["extra_body"] = dict(extra_body)
    return request


# ---------------------------------------------------------------------------- client cache


class ClientCache(FreshOnCopy):
    """The lazily built sync and async clients of one model object.

    A cache, not state (:class:`FreshOnCopy`): pickling or copying a model gives the copy
    an empty one (a fresh pool on first use), and it takes no part in equality, so two
    models with the same settings are equal whatever they have built so far. A client is
    built on first use and rebuilt only when a connection setting changed since (one dict
    comparison per call). A replaced or dropped client is never closed here: a stream may still be
    reading from it. Its pool closes when the last user lets it go (the client's own
    finalizer); the async client's per-loop pools close with their event loops.
    """

    __slots__ = ("_built", "_lock")

    def __init__(self) -> None:
        self._built: dict[str, tuple[dict[str, Any], Any]] = {}
        self._lock = threading.Lock()

    def sync_client(self, settings: Mapping[str, Any]) -> NugenClient:
        """The sync client for ``settings`` (the clients' constructor arguments)."""
        client: NugenClient = self._client("sync", settings)
        return client

    def async_client(self, settings: Mapping[str, Any]) -> AsyncNugenClient:
        """The async client for ``settings``."""
        client: AsyncNugenClient = self._client("async", settings)
        return client

    def _client(self, kind: str, settings: Mapping[str, Any]) -> Any:
        built = self._built.get(kind)
        if built is not None and built[0] == settings:
            return built[1]
        with self._lock:
            built = self._built.get(kind)
            if built is None or built[0] != settings:
                # Looked up at call time, so tests can swap the client classes.
                factory = NugenClient if kind == "sync" else AsyncNugenClient
                built = self._built[kind] = (dict(settings), factory(**settings))
            return built[1]

    @property
    def built_sync_client(self) -> NugenClient | None:
        """The sync client if one was built (for tests and introspection)."""
        built = self._built.get("sync")
        return None if built is None else cast(NugenClient, built[1])


# ------------------------------------------------------------------------ connection fields


def _api_key_from_env() -> SecretStr | None:
    key = os.environ.get("NUGEN_API_KEY")
    return SecretStr(key) if key else None


def _base_url_from_env() -> str | None:
    return os.environ.get("NUGEN_BASE_URL") or None


class ConnectionFields(BaseModel):
    """Where and how to reach the service: the fields every adapter class shares.

    A pickle carries the API key (as a ``SecretStr``, as the process's memory does), so
    worker processes authenticate as their parent did; no other form shows it:
    ``repr``/``str`` mask it, ``model_dump`` / LlamaIndex ``to_dict`` leave it out, and
    LangChain's ``dumps`` writes a secret reference (``lc_secrets``). The client cache is
    never pickled or copied: a copy opens its own pool.
    """

    model_config = ConfigDict(populate_by_name=True)

    api_key: SecretStr | None = Field(
        default_factory=_api_key_from_env,
        exclude=True,  # never in model_dump() / to_dict() / to_json()
        description="API key; env NUGEN_API_KEY when unset. A missing key is reported at "
        "the first call.",
    )
    base_url: str | None = Field(
        default_factory=_base_url_from_env,
        description="Base URL of the API; env NUGEN_BASE_URL, else (None) the Nugen service.",
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        alias="request_timeout",
        description=f"Seconds to wait for the service to send data (connecting at most 10); "
        f"None means the default, {DEFAULT_TIMEOUT:g} s. A call may override it.",
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        description="Retries of transient failures (connection errors, timeouts, 408/409/429/5xx).",
    )
    default_headers: dict[str, str] | None = Field(
        default=None,
        repr=False,  # may hold credentials; serialised with those values redacted
        description="Headers sent with every request.",
    )
    session_id: str | None = Field(
        default=None,
        description="Sent as X-Session-ID (conversation tracking); a call may override it.",
    )
    provider: str | None = Field(
        default=None,
        description="Sent as X-Provider (the service's default is fwai); a call may override it.",
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow a plain http:// base_url on another machine (the key would "
        "cross the network unencrypted); loopback addresses never need it.",
    )

    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        ge=1,
        description="Most bytes one answer may decode to (a whole stream counts too); more "
        "ends the call with an APIResponseValidationError.",
    )
    max_event_bytes: int = Field(
        default=DEFAULT_MAX_EVENT_BYTES,
        ge=1,
        description="Most bytes one server-sent event of a stream may hold.",
    )
    deadline: float | None = Field(
        default=DEFAULT_DEADLINE,
        gt=0,
        description="Seconds a whole call may take, retries included, however the bytes "
        "trickle in (APITimeoutError after it); None: no overall limit.",
    )

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    @field_serializer("default_headers")
    def _redact_headers(self, headers: dict[str, str] | None) -> dict[str, str] | None:
        return None if headers is None else redact_headers(headers)

    def __copy__(self) -> Self:
        # pydantic shares private attributes with a shallow copy (``model_copy``); a copy
        # gets clients of its own, so changing its settings never touches ours.
        clone = super().__copy__()
        clone._clients = ClientCache()
        return clone

    def _client_settings(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "timeout": resolved_timeout(self.timeout),
            "max_retries": self.max_retries,
            # A copy: headers changed in place must count as a changed setting.
            "default_headers": dict(self.default_headers) if self.default_headers else None,
            "allow_insecure_http": self.allow_insecure_http,
            "max_response_bytes": self.max_response_bytes,
            "max_event_bytes": self.max_event_bytes,
            "deadline": self.deadline,
        }

    def _sync_client(self) -> NugenClient:
        return self._clients.sync_client(self._client_settings())

    def _async_client(self) -> AsyncNugenClient:
        return self._clients.async_client(self._client_settings())


class ImageLimitField(BaseModel):
    """The local image size limit of the chat classes."""

    max_image_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Largest image (file, bytes or data URL) accepted; larger ones are "
        "refused before any request. None: 20 MiB.",
    )

    @property
    def image_limit(self) -> int:
        """The limit in effect, in bytes."""
        return self.max_image_bytes or DEFAULT_MAX_IMAGE_BYTES


class _RunningText(Protocol):
    @property
    def text(self) -> str: ...


@contextmanager
def keeping_partial(stream: _RunningText) -> Iterator[None]:
    """Put the text a stream received so far (``stream.text``) on the
    :class:`~nugen_client.StreamInterruptedError` that ends it, as ``.partial``.

    The client cannot know the text of a broken stream; the adapter's converter does. It
    stays on the error (for logs), never in a result that would look complete.
    """
    try:
        yield
    except StreamInterruptedError as error:
        if not error.partial:
            error.partial = stream.text
        raise
