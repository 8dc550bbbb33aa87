"""The fields every adapter class shares (connection, reasoning, image limit, rerank), what
a model object caches, and where else a credential must not go: keywords that look like one
and per-call header values shown to callbacks and traces."""

import copy
import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)
from typing_extensions import Self

import nugen_client
from nugen_client import InvalidInputError
from nugen_client.params import (
    BODY_KEYWORDS,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ReasoningConfig,
    ScoringFields,
    check_no_credential_keywords,
    check_no_userinfo,
    is_credential_header,
    redact_headers,
)
from nugen_shared.images import DEFAULT_MAX_IMAGE_BYTES
from nugen_shared.models import DEFAULT_RERANK_MODEL

if TYPE_CHECKING:
    from nugen_client import AsyncNugenClient, NugenClient
    from nugen_shared.api_key import ApiKeyField

__all__ = [
    "ClientCache",
    "ConnectionFields",
    "FreshOnCopy",
    "ImageLimitField",
    "ReasoningField",
    "RerankFields",
    "accepted_names",
    "call_keywords",
    "check_call_keywords",
    "sealed_headers",
]


class FreshOnCopy:
    """Base of a cache class whose ``__init__`` takes no arguments: a copy or a pickle
    gets a fresh, empty one (``copy`` and ``deepcopy`` use ``__reduce__`` too), and it
    takes no part in equality."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self))


class ClientCache(FreshOnCopy):
    """The lazily built sync and async clients of one model object.

    A client is rebuilt only when a connection setting changed since it was built: one
    assigned (the model reports it, :meth:`changed`) or default headers changed in place
    (compared per call). A replaced client is never closed here (a stream may still be
    reading from it): its pool closes with its last user (the client's own finalizer).

    No lock: two threads building at once each get a working client and the last one
    stays cached. A lock would deadlock a process forked while another thread held it.
    A setting assigned while a client is being built makes the next call build again.
    """

    __slots__ = ("_built", "_version")

    def __init__(self) -> None:
        # Per kind: the settings version and the default headers it was built with, and it.
        self._built: dict[bool, tuple[int, dict[str, str] | None, Any]] = {}
        self._version = 0

    def changed(self) -> None:
        """A connection setting was assigned: the clients built so far are out of date."""
        self._version += 1

    def get(self, is_async: bool, model: "ConnectionFields") -> Any:
        """``model``'s sync or async client, built for its current settings."""
        built = self._built.get(is_async)
        if built is None or built[0] != self._version or built[1] != model.default_headers:
            version = self._version  # read before the settings: a change in between counts
            headers = model.default_headers
            # A copy: headers changed in place must count as a changed setting.
            seen = None if headers is None else dict(headers)
            # Looked up at call time (the first imports httpx), so tests can swap them.
            factory = nugen_client.AsyncNugenClient if is_async else nugen_client.NugenClient
            built = self._built[is_async] = (version, seen, factory(**model._client_settings()))
        return built[2]

    @property
    def built_sync_client(self) -> "NugenClient | None":
        """The sync client if one was built (for tests and introspection)."""
        built = self._built.get(False)
        return None if built is None else cast("NugenClient", built[2])


# ------------------------------------------------------------------ credentials elsewhere


@functools.cache  # per class: read by every construction
def _names(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """Each field of ``model`` with the constructor keywords that set it: its name and
    its aliases."""
    names = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names[name] = frozenset(
            choice for choice in (name, field.alias, *choices) if isinstance(choice, str)
        )
    return names


@functools.cache
def accepted_names(model: type[BaseModel]) -> frozenset[str]:
    """The constructor keywords of ``model``: its field names and their aliases."""
    return frozenset(keyword for keywords in _names(model).values() for keyword in keywords)


def sealed_headers(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` with each ``extra_headers`` value that may not be shown as a ``SecretStr``.

    Frameworks hand a call's keywords to callbacks, events and traces as they are; sealed,
    a per-call ``Authorization`` shows there as ``**********``. :func:`call_keywords`
    opens them again for the request.
    """
    headers = kwargs.get("extra_headers")
    if not isinstance(headers, Mapping) or not headers:
        return dict(kwargs)
    sealed = {
        name: SecretStr(value) if is_credential_header(name) and isinstance(value, str) else value
        for name, value in headers.items()
    }
    return {**kwargs, "extra_headers": sealed}


def check_call_keywords(kwargs: Mapping[str, Any]) -> None:
    """Refuse a call's keywords that would carry a credential into the body: credential-like
    names and ``api_key``, among the keywords or in their ``extra_body``; and the model's
    connection settings (``default_headers``, ``base_url``, ...), which as body fields would
    do nothing they say and put header values in the body."""
    for name in kwargs:
        if name in _MODEL_SETTINGS:
            meant = {"default_headers": "extra_headers", "request_timeout": "timeout"}.get(name)
            hint = f"pass {meant}= for one call" if meant else "set it on the model"
            raise InvalidInputError(f"{name!r} is a setting of the model, not of one call: {hint}")
    check_no_credential_keywords(kwargs, body=True)
    extra_body = kwargs.get("extra_body")
    if isinstance(extra_body, Mapping):  # body fields: no call keyword (extra_headers) is one
        check_no_credential_keywords(extra_body, BODY_KEYWORDS, body=True)


def call_keywords(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A call's keywords as the request takes them: credentials refused
    (:func:`check_call_keywords`), sealed header values (:func:`sealed_headers`) opened."""
    check_call_keywords(kwargs)
    call = dict(kwargs)
    headers = call.get("extra_headers")
    if isinstance(headers, Mapping) and headers:
        call["extra_headers"] = {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in headers.items()
        }
    return call


# ------------------------------------------------------------------------ connection fields


def _api_key_from_env() -> SecretStr | None:
    key = os.environ.get("NUGEN_API_KEY")
    return SecretStr(key) if key else None


class ConnectionFields(BaseModel):
    """Where and how to reach the service: the fields every adapter class shares.

    A pickle carries the API key (as a ``SecretStr``, as the process's memory does), so
    worker processes authenticate as their parent did; no other form shows it:
    ``repr``/``str`` mask it, ``model_dump`` / LlamaIndex ``to_dict`` leave it out, and
    LangChain's ``dumps`` writes a secret reference (``lc_secrets``). The client cache is
    never pickled or copied: a copy opens its own pool.
    """

    # A field's refusal never quotes what was given: it may be a key or a password.
    model_config: ClassVar[ConfigDict] = ConfigDict(
        populate_by_name=True, hide_input_in_errors=True
    )

    if TYPE_CHECKING:  # as the field takes it: a str too
        api_key: ApiKeyField = Field(default_factory=ApiKeyField)
    else:
        api_key: SecretStr | None = Field(
            default_factory=_api_key_from_env,
            exclude=True,  # never in model_dump() / to_dict() / to_json()
            description="API key; env NUGEN_API_KEY when unset. A missing key is reported at "
            "the first call.",
        )
    base_url: str | None = Field(
        default_factory=lambda: os.environ.get("NUGEN_BASE_URL") or None,
        validate_default=True,  # the environment's too
        description="Base URL of the API; env NUGEN_BASE_URL, else (None) the Nugen service.",
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        # Not alias=: type checkers and help() would show only that name.
        validation_alias=AliasChoices("timeout", "request_timeout"),
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

    @model_validator(mode="before")
    @classmethod
    def _refuse_credential_keywords(cls, values: Any) -> Any:
        """A key under a wrong name (``openai_api_key=``, ``api_token=``, or inside the
        extra body fields) is refused, not sent in the body; so is a setting given under
        two of its names (``model=`` and ``model_name=``)."""
        if isinstance(values, Mapping):
            for name, keywords in _names(cls).items():
                given = sorted(keywords & values.keys(), key=lambda k: k != name)
                if len(given) > 1:  # neither is kept in silence
                    raise ValueError(f"give {given[0]}= or its alias {given[1]}=, not both")
            known = accepted_names(cls)
            check_no_credential_keywords([name for name in values if name not in known], known)
            for extra in ("model_kwargs", "additional_kwargs"):
                fields = values.get(extra)
                nested = fields.get("extra_body") if isinstance(fields, Mapping) else None
                # Their extra_body too, merged into the body with them (a call refuses it).
                for body in (fields, nested):
                    if isinstance(body, Mapping):
                        _refuse_model_settings(extra, body)
                        check_no_credential_keywords(body, known, body=True)
        return values

    @field_validator("base_url")
    @classmethod
    def _refuse_userinfo(cls, base_url: str | None) -> str | None:
        """Refused now, not at the first call: until then the password would show in
        ``repr``, dumps and traces."""
        if base_url is not None:
            check_no_userinfo(base_url)
        return base_url

    @field_serializer("default_headers")
    def _redact_headers(self, headers: dict[str, str] | None) -> dict[str, str] | None:
        return None if headers is None else redact_headers(headers)

    def __copy__(self) -> Self:
        # pydantic shares private attributes and field containers with a shallow copy
        # (``model_copy``); a copy gets caches of its own (clients, a learnt limit) and its
        # own dicts and lists (headers, extra body fields changed in place, as a per-tenant
        # copy does), so nothing it learns or changes touches ours.
        clone = super().__copy__()
        for name, value in clone.__dict__.items():
            if isinstance(value, (dict, list)):
                clone.__dict__[name] = copy.copy(value)
        for name in type(self).__private_attributes__:
            value = getattr(clone, name, None)
            if isinstance(value, FreshOnCopy):
                setattr(clone, name, type(value)())
        return clone

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        # pydantic writes ``update`` into the copy unchecked: assigned instead, its values
        # follow the rules of assignment below (and a subclass's).
        clone = super().model_copy(deep=deep)
        for name, value in (update or {}).items():
            setattr(clone, name, value)
        return clone

    def __setattr__(self, name: str, value: Any) -> None:
        # Assignment skips the fields' validation: a key given as text would show in
        # ``repr``, and a password in a URL would show there until the first call.
        if name == "api_key" and isinstance(value, str):
            value = SecretStr(value)
        elif name == "base_url" and isinstance(value, str):
            check_no_userinfo(value)
        super().__setattr__(name, value)
        if name in _CLIENT_FIELDS:
            self._clients.changed()

    def _client_settings(self) -> dict[str, Any]:
        settings = {name: getattr(self, name) for name in _CLIENT_FIELDS}
        if self.timeout is None:
            settings["timeout"] = DEFAULT_TIMEOUT
        if not self.default_headers:
            settings["default_headers"] = None
        return settings

    def _sync_client(self) -> "NugenClient":
        return cast("NugenClient", self._clients.get(False, self))

    def _async_client(self) -> "AsyncNugenClient":
        return cast("AsyncNugenClient", self._clients.get(True, self))


# The fields the clients are built from (``_client_settings``), every connection field but
# the headers sent per call: assigning one rebuilds them.
_CLIENT_FIELDS = tuple(
    n for n in ConnectionFields.model_fields if n not in ("session_id", "provider")
)
# Settings of the model that a call cannot override (it may: timeout, session_id, provider).
_MODEL_SETTINGS = frozenset({*_CLIENT_FIELDS, "request_timeout"}) - {"timeout"}


def _refuse_model_settings(extra: str, fields: Mapping[str, Any]) -> None:
    """Headers and connection settings among the extra body fields are refused: there they
    would be sent (or put in the body) but shown unredacted by ``repr`` and serialisations."""
    for name in fields:
        if name == "extra_headers" or name in _MODEL_SETTINGS:
            setting = "default_headers" if name == "extra_headers" else name
            raise InvalidInputError(
                f"{extra}[{name!r}] is not a body field: set {setting}= on the model"
            )


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


class ReasoningField(BaseModel):
    """The ``reasoning`` field of the chat classes, checked when it is set."""

    reasoning: dict[str, Any] | None = Field(
        default=None,
        description='Reasoning configuration: {"effort": "xhigh|high|medium|low|minimal|none", '
        '"max_tokens": int, "exclude": bool, "enabled": bool}.',
    )

    @field_validator("reasoning")
    @classmethod
    def _check_reasoning(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            ReasoningConfig.model_validate(value)  # unknown keys are typos: refuse them now
        return value


class RerankFields(ScoringFields, ConnectionFields):
    """The fields of both frameworks' rerankers (``top_n`` is each framework's own, with its
    own default) and the request they make."""

    model: str = Field(
        default=DEFAULT_RERANK_MODEL,
        validation_alias=AliasChoices("model", "model_name"),
        description="The reranking model (also accepted as model_name=).",
    )

    def _rerank_request(
        self, query: str, documents: list[str], top_n: int | None
    ) -> dict[str, Any]:
        """The keyword arguments of one client rerank call: ``top_n`` at most the number
        of documents (``None``: every document comes back, scored); the headers are sent
        per call."""
        return {
            **{name: getattr(self, name) for name in ScoringFields.model_fields},
            "model": self.model,
            "query": query,
            "documents": list(documents),
            "top_n": None if top_n is None else min(top_n, len(documents)),
            "session_id": self.session_id,
            "provider": self.provider,
        }
