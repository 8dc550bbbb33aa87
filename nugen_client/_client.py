"""``NugenClient`` and ``AsyncNugenClient``.

Everything but the transport call lives in :class:`_BaseClient` and in the pure modules it
uses (request validation in :mod:`nugen_client.types`, error mapping in ``_errors``, retry
policy in ``_retry``, stream decoding in ``_streaming``): the two clients differ only in
how they send a request, sleep and read a stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import ipaddress
import json
import logging
import os
import ssl
import sys
import threading
import warnings
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import PydanticSerializationError
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from typing_extensions import Required, Self, TypedDict, Unpack

from nugen_client._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    NugenError,
    error_from_response,
    redact,
)
from nugen_client._retry import RetryPolicy, is_retryable
from nugen_client._streaming import StreamDecoder, completion_to_chunks
from nugen_client._version import __version__
from nugen_client.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
)

__all__ = [
    "AsyncNugenClient",
    "ChatParams",
    "EmbeddingParams",
    "Endpoint",
    "NugenClient",
    "OnRetry",
    "RequestOptions",
]

logger = logging.getLogger("nugen_client")

DEFAULT_BASE_URL = "https://api.nugen.in/api/v3/inference"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0
)
USER_AGENT = (
    f"nugen-integrations/{__version__} (nugen_client; python "
    f"{sys.version_info.major}.{sys.version_info.minor}; httpx {httpx.__version__})"
)

Endpoint = Literal["chat", "vision"]
_PATHS: dict[str, str] = {"chat": "/chat/completions", "vision": "/chat/vision"}
OnRetry = Callable[[RetryCallState], "Awaitable[None] | None"]
_ModelT = TypeVar("_ModelT", bound=BaseModel)


class RequestOptions(TypedDict, total=False):
    """Per-call options of every request.

    ``session_id`` is sent as ``X-Session-ID`` for this call; ``extra_headers`` are added
    to it; ``extra_body`` is merged into the JSON body unvalidated (for fields this client
    does not know); ``timeout`` (seconds) replaces the client's for this call; ``on_retry``
    is called with tenacity's ``RetryCallState`` before each retry (awaited if async).
    """

    session_id: str | None
    extra_headers: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None
    timeout: float | httpx.Timeout | None
    on_retry: OnRetry | None


class ChatParams(RequestOptions, total=False):
    """A chat request: body fields (only the ones given, and not None, are sent) and options.

    ``endpoint="vision"`` posts to ``/chat/vision``; ``include_usage`` (streams only, default
    True) asks OpenAI-compatible hosts for usage on the last chunk.
    """

    model: Required[str]
    messages: Required[Sequence[Mapping[str, Any]]]
    endpoint: Endpoint
    include_usage: bool
    max_tokens: int | None
    prompt_truncate_len: int | None
    temperature: float | None
    top_p: float | None
    top_k: int | None
    n: int | None
    stop: str | list[str] | None
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    reasoning: Mapping[str, Any] | None
    response_format: Mapping[str, Any] | None
    stream_options: Mapping[str, Any] | None


class EmbeddingParams(RequestOptions, total=False):
    """An embeddings request."""

    model: Required[str]
    input: Required[str | Sequence[str]]
    dimensions: int | None


_OPTION_NAMES = frozenset(RequestOptions.__annotations__) | {"endpoint", "include_usage"}


@dataclass(frozen=True, slots=True)
class _Prepared:
    url: str
    content: bytes
    headers: dict[str, str]
    timeout: httpx.Timeout | None
    stream: bool
    on_retry: OnRetry | None


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_warned_hosts: set[str] = set()
_warned_lock = threading.Lock()


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        if not allow_insecure_http:
            raise InvalidInputError(
                f"base_url {base_url!r} is plain http to a host that is not this machine: the "
                "API key would cross the network unencrypted. Use https, or pass "
                "allow_insecure_http=True if you really mean it."
            )
        with _warned_lock:
            first = parts.hostname not in _warned_hosts
            _warned_hosts.add(parts.hostname)
        if first:
            warnings.warn(
                f"base_url {base_url!r} is plain http to a non-loopback host: the API key "
                "will cross the network unencrypted. Use https.",
                UserWarning,
                stacklevel=4,
            )
    return base_url.rstrip("/")


def _make_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if timeout <= 0:
        raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return httpx.Timeout(timeout, connect=min(timeout, 10.0))


def _error_location(loc: Sequence[int | str]) -> str:
    """``messages[0].content[1].image_url.url`` from pydantic's loc tuple, without the
    union-branch names pydantic inserts (noise to a reader)."""
    out = ""
    skip_tag = False
    in_tagged_union = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            skip_tag = in_tagged_union
            continue
        if skip_tag:
            skip_tag = in_tagged_union = False
            continue
        if part.startswith(("function-", "list[", "str", "literal[", "tagged-union", "dict[")):
            in_tagged_union = in_tagged_union or "tagged-union" in part
            continue
        out += f".{part}" if out else part
    return out


def _validation_message(what: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    located = [(_error_location(error.get("loc", ())), error) for error in errors]
    # A union reports every branch that failed; keep the deepest, most specific ones.
    locations = {loc for loc, _ in located}
    kept = [
        (loc, error)
        for loc, error in located
        if not any(other != loc and other.startswith(loc) for other in locations)
    ]
    lines = []
    for loc, error in kept[:8]:
        msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        got = error.get("input")
        if (
            isinstance(got, str | int | float | bool)
            and len(repr(got)) <= 60
            and repr(got) not in msg
        ):
            msg = f"{msg} (got {got!r})"
        lines.append(f"{loc}: {msg}" if loc else msg)
    if len(kept) > len(lines):
        lines.append(f"... and {len(kept) - len(lines)} more")
    return f"invalid {what}: " + "; ".join(lines)


def _validate(model: type[_ModelT], data: Mapping[str, Any], what: str) -> _ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(_validation_message(what, exc)) from None


def _json_body(body: Mapping[str, Any]) -> bytes:
    """The request body as strict JSON: no NaN or Infinity (which json.dumps would write
    and JSON parsers refuse), nothing that is not JSON, and valid UTF-8."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()
    except (TypeError, ValueError) as exc:
        raise _unsendable(body, exc) from None


def _unsendable(body: Mapping[str, Any], exc: Exception) -> InvalidInputError:
    """A local error naming the first body field that cannot be sent as JSON."""
    for name, value in body.items():
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError):
            return InvalidInputError(f"request field {name!r} cannot be sent as JSON: {exc}")
    return InvalidInputError(f"the request cannot be sent as JSON: {exc}")


def _map_transport_error(
    exc: httpx.TransportError, secrets: Sequence[str | None]
) -> APIConnectionError:
    kind = type(exc).__name__
    detail = redact(str(exc), secrets) or kind
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"request timed out ({kind}: {detail})")
    return APIConnectionError(f"could not reach the service ({kind}: {detail})")


def _stalled(decoder: StreamDecoder, exc: httpx.TimeoutException) -> APITimeoutError:
    return APITimeoutError(
        f"the stream stalled after {decoder.chunks_received} chunks ({type(exc).__name__}): "
        "no data within the read timeout; the answer is incomplete"
    )


def _stream_error(
    error: NugenError, response: httpx.Response, secrets: Sequence[str]
) -> NugenError:
    """An error the stream decoder raised, ready to leave the client.

    It may quote the event data, which may echo the key: its text and body are redacted.
    The decoder raises ``from None`` while handling the parser's exception, which quotes
    the data too: suppressed, that context would still travel with the error, so it is
    dropped. An error event belongs to this response: it gets the response's
    ``x-request-id``, as errors with a status get theirs.
    """
    if error.__suppress_context__:
        error.__context__ = None
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    if isinstance(getattr(error, "body", None), str):
        error.body = redact(error.body, secrets)  # type: ignore[attr-defined]
    request_id = response.headers.get("x-request-id")
    if isinstance(error, APIStatusError) and error.request_id is None and request_id:
        error.request_id = request_id
        error.message = f"{error.message} [request id: {request_id}]"
        error.args = (error.message, *error.args[1:])
    return error


@contextlib.contextmanager
def _stream_errors(
    decoder: StreamDecoder, response: httpx.Response, secrets: Sequence[str]
) -> Iterator[None]:
    """What can go wrong while a stream is read, as the errors callers get (both clients)."""
    try:
        yield
    except NugenError as exc:
        raise _stream_error(exc, response, secrets) from None
    except httpx.TimeoutException as exc:
        raise _stalled(decoder, exc) from None
    except httpx.TransportError as exc:
        raise _stream_error(decoder.interrupted(type(exc).__name__), response, secrets) from None


def _is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


class _BaseClient:
    """Configuration, request building and response parsing shared by both clients."""

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        session_id: str | None = None,
        provider: str | None = None,
        limits: httpx.Limits | None = None,
        retry_policy: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        key = key or os.environ.get("NUGEN_API_KEY")
        if not key:
            raise InvalidInputError("no API key: pass api_key=... or set NUGEN_API_KEY")
        if max_retries < 0:
            raise InvalidInputError(f"max_retries must be >= 0, got {max_retries!r}")
        self._api_key = SecretStr(key)
        self.base_url = _check_base_url(
            base_url or os.environ.get("NUGEN_BASE_URL") or DEFAULT_BASE_URL,
            allow_insecure_http=allow_insecure_http,
        )
        self.timeout = _make_timeout(timeout)
        self.max_retries = max_retries
        if limits is not None and limits.max_connections is not None and limits.max_connections < 1:
            # Zero connections would make every call wait forever.
            raise InvalidInputError(
                f"limits.max_connections must be >= 1 or None, got {limits.max_connections!r}"
            )
        self.limits = limits or DEFAULT_LIMITS
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._secrets: tuple[str, ...] = (key,)
        headers = {
            "Authorization": f"Bearer {key}",
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Accept": "application/json",
            # What httpx's client defaults would add; requests on our own pools are built
            # without them (see _build_request). gzip and deflate need only the stdlib.
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
        }
        if provider:
            headers["X-Provider"] = provider
        if session_id:
            headers["X-Session-ID"] = session_id
        headers.update(default_headers or {})
        self._headers = headers
        self._parsed_urls: dict[str, httpx.URL] = {}

    def _url(self, url: str) -> httpx.URL:
        parsed = self._parsed_urls.get(url)
        if parsed is None:
            parsed = self._parsed_urls[url] = httpx.URL(url)
        return parsed

    @property
    def api_key(self) -> SecretStr:
        return self._api_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, max_retries={self.max_retries})"

    # -- request building ------------------------------------------------------------

    def _prepare(
        self, path: str, body: dict[str, Any], options: RequestOptions, *, stream: bool
    ) -> _Prepared:
        headers = dict(self._headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        session_id = options.get("session_id")
        if session_id:
            headers["X-Session-ID"] = session_id
        extra_headers = options.get("extra_headers")
        if extra_headers:
            headers.update(extra_headers)
        extra_body = options.get("extra_body")
        if extra_body:
            body.update(extra_body)
        timeout = options.get("timeout")
        return _Prepared(
            url=self.base_url + path,
            content=_json_body(body),
            headers=headers,
            timeout=None if timeout is None else _make_timeout(timeout),
            stream=stream,
            on_retry=options.get("on_retry"),
        )

    def _prepare_chat(self, params: ChatParams, *, stream: bool) -> _Prepared:
        endpoint = params.get("endpoint", "chat")
        path = _PATHS.get(endpoint)
        if path is None:
            raise InvalidInputError(f"endpoint must be 'chat' or 'vision', got {endpoint!r}")
        # /chat/vision answers whole: a stream asked of it is served from one JSON answer.
        stream = stream and endpoint != "vision"
        fields = {
            name: value
            for name, value in params.items()
            if value is not None and name not in _OPTION_NAMES
        }
        if stream:
            fields["stream"] = True
            if params.get("include_usage", True) and "stream_options" not in fields:
                fields["stream_options"] = {"include_usage": True}
        request = _validate(ChatCompletionRequest, fields, "chat request")
        try:
            body = request.model_dump(mode="json", exclude_unset=True, by_alias=True)
        except PydanticSerializationError as exc:
            raise _unsendable(fields, exc) from None
        return self._prepare(path, body, params, stream=stream)

    def _prepare_embeddings(self, params: EmbeddingParams) -> tuple[_Prepared, int]:
        text = params["input"]
        fields: dict[str, Any] = {
            "model": params["model"],
            "input": text if isinstance(text, str) else list(text),
        }
        if params.get("dimensions") is not None:
            fields["dimensions"] = params["dimensions"]
        request = _validate(EmbeddingRequest, fields, "embeddings request")
        body = request.model_dump(mode="json", exclude_unset=True)
        count = 1 if isinstance(request.input, str) else len(request.input)
        return self._prepare("/embeddings", body, params, stream=False), count

    # -- response handling -------------------------------------------------------------

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, prepared: _Prepared, *, own: bool
    ) -> httpx.Request:
        timeout = prepared.timeout or self.timeout
        if own:
            # Our own pools carry no default headers, cookies or auth to merge, so the
            # request is built directly from a URL parsed once: httpx's build_request
            # costs ~55 us a call, this ~15 us.
            request = httpx.Request(
                "POST",
                self._url(prepared.url),
                content=prepared.content,
                headers=prepared.headers,
                extensions={"timeout": timeout.as_dict()},
            )
        else:
            request = http.build_request(
                "POST", prepared.url, content=prepared.content, headers=prepared.headers
            )
            if prepared.timeout is not None:
                request.extensions["timeout"] = prepared.timeout.as_dict()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("POST %s headers=%s", prepared.url, _redacted_headers(prepared.headers))
        return request

    def _retrying_kwargs(self, on_retry: OnRetry | None, *, is_async: bool) -> dict[str, Any]:
        policy = self.retry_policy

        def log_retry(state: RetryCallState) -> Awaitable[None] | None:
            error = state.outcome.exception() if state.outcome else None
            logger.info(
                "retrying after %s (attempt %d of %d, waiting %.2fs)",
                error,
                state.attempt_number,
                policy.max_retries + 1,
                state.upcoming_sleep,
            )
            return on_retry(state) if on_retry is not None else None

        async def alog_retry(state: RetryCallState) -> None:
            # tenacity awaits an ``async def`` before_sleep; the user's callback may be
            # either kind (LangChain's async run managers return coroutines).
            result = log_retry(state)
            if inspect.isawaitable(result):
                await result

        return {
            "stop": stop_after_attempt(policy.max_retries + 1),
            "wait": policy.wait,
            "retry": retry_if_exception(is_retryable),
            "reraise": True,
            "before_sleep": alog_retry if is_async else log_retry,
        }

    def _parse_completion(self, response: httpx.Response) -> ChatCompletion:
        completion = self._parse(ChatCompletion, response)
        if not completion.choices:
            raise APIResponseValidationError(
                "the response has no choices", body=redact(response.text[:500], self._secrets)
            )
        return completion

    def _parse_embeddings(self, response: httpx.Response, count: int) -> EmbeddingResponse:
        result = self._parse(EmbeddingResponse, response)
        if len(result.data) != count:
            raise APIResponseValidationError(
                f"asked for {count} embeddings, the response holds {len(result.data)}",
                body=None,
            )
        return result

    def _parse(self, model: type[_ModelT], response: httpx.Response) -> _ModelT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            problem = _validation_message("response", exc)
        # Raised outside the except block: pydantic's error quotes the whole body, and even
        # as a suppressed __context__ it would carry the body (and any key the server
        # echoed) along with ours.
        text = redact(response.text[:500], self._secrets)
        raise APIResponseValidationError(
            redact(
                f"could not read the {model.__name__} response: {problem} (body: {text!r})",
                self._secrets,
            ),
            body=text,
        )

    def _status_error(self, response: httpx.Response) -> NugenError:
        return error_from_response(response, secrets=self._secrets)


def _redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    secret_names = {"authorization", "x-api-key", "api-key", "proxy-authorization"}
    return {k: ("***" if k.lower() in secret_names else v) for k, v in headers.items()}


class NugenClient(_BaseClient):
    """Synchronous client for the Nugen inference API (and OpenAI-compatible hosts).

    One ``httpx.Client`` per object, created on first use and reused (keep-alive,
    pooled connections); pass ``http_client=`` to bring your own (proxies, transports).
    Close with :meth:`close` or use as a context manager.

    Example::

        with NugenClient() as client:  # NUGEN_API_KEY from the environment
            reply = client.chat_completion(
                model="nugen-flash-instruct",
                messages=[{"role": "user", "content": "Hello"}],
            )
            print(reply.choices[0].message.content)
    """

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        session_id: str | None = None,
        provider: str | None = None,
        http_client: httpx.Client | None = None,
        limits: httpx.Limits | None = None,
        retry_policy: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            session_id=session_id,
            provider=provider,
            limits=limits,
            retry_policy=retry_policy,
            allow_insecure_http=allow_insecure_http,
        )
        self._injected = http_client
        self._http: httpx.Client | None = http_client
        self._lock = threading.Lock()
        self._sleep = sleep

    def _client(self) -> httpx.Client:
        http = self._http
        if http is None:
            with self._lock:
                if self._http is None:
                    self._http = self._new_http()
                http = self._http
        return http

    def _new_http(self) -> httpx.Client:
        http = httpx.Client(timeout=self.timeout, limits=self.limits, follow_redirects=False)
        # A client dropped without close() still releases its sockets when collected.
        weakref.finalize(self, http.close)
        return http

    def close(self) -> None:
        """Close the connection pool (not an ``http_client`` you passed in)."""
        http, self._http = self._http, self._injected
        if http is not None and http is not self._injected:
            http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, prepared: _Prepared) -> httpx.Response:
        kwargs = self._retrying_kwargs(prepared.on_retry, is_async=False)
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        for attempt in Retrying(**kwargs):
            with attempt:
                return self._send_once(prepared)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, prepared: _Prepared) -> httpx.Response:
        http = self._client()
        request = self._build_request(http, prepared, own=http is not self._injected)
        try:
            response = http.send(request, stream=prepared.stream)
        except httpx.TransportError as exc:
            raise _map_transport_error(exc, self._secrets) from None
        if response.is_success:
            return response
        try:
            response.read()
        except httpx.TransportError as exc:
            raise _map_transport_error(exc, self._secrets) from None
        finally:
            response.close()
        raise self._status_error(response)

    def _read(self, response: httpx.Response) -> httpx.Response:
        try:
            response.read()
        except httpx.TransportError as exc:
            raise _map_transport_error(exc, self._secrets) from None
        return response

    def chat_completion(self, **params: Unpack[ChatParams]) -> ChatCompletion:
        """``POST /chat/completions`` (or ``/chat/vision`` with ``endpoint="vision"``).

        Keyword arguments are the body fields of :class:`ChatParams` and the per-call
        :class:`RequestOptions`.
        """
        prepared = self._prepare_chat(params, stream=False)
        return self._parse_completion(self._read(self._send(prepared)))

    def stream_chat_completion(self, **params: Unpack[ChatParams]) -> Iterator[ChatCompletionChunk]:
        """Stream a chat completion as chunks.

        The request is validated now and sent when iteration starts. The iterator raises
        :class:`~nugen_client.StreamInterruptedError` if the stream ends before ``[DONE]``
        or a ``finish_reason``; it is never retried once it has started. ``/chat/vision``
        answers whole, so with ``endpoint="vision"`` the answer arrives as one chunk per
        choice.
        """
        return self._iter_stream(self._prepare_chat(params, stream=True))

    def _iter_stream(self, prepared: _Prepared) -> Iterator[ChatCompletionChunk]:
        response = self._send(prepared)
        try:
            if not _is_event_stream(response):
                yield from completion_to_chunks(self._parse_completion(self._read(response)))
                return
            decoder = StreamDecoder(self._secrets)
            with _stream_errors(decoder, response, self._secrets):
                for event in EventSource(response).iter_sse():
                    chunk = decoder.decode(event)
                    if chunk is not None:
                        yield chunk
                    elif decoder.done:
                        return
                decoder.check_complete()
        finally:
            response.close()

    def embeddings(self, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
        """``POST /embeddings``; vectors come back in input order (``.embeddings``)."""
        prepared, count = self._prepare_embeddings(params)
        return self._parse_embeddings(self._read(self._send(prepared)), count)


class AsyncNugenClient(_BaseClient):
    """Asynchronous client for the Nugen inference API (and OpenAI-compatible hosts).

    It keeps one ``httpx.AsyncClient`` per event loop: a client object used from a second
    ``asyncio.run(...)`` opens a fresh pool there instead of reusing connections bound to
    a closed loop (the "Event loop is closed" failure of other integrations). Close with
    :meth:`aclose` or ``async with``. An ``http_client=`` you pass in is used as is.
    """

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        session_id: str | None = None,
        provider: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        limits: httpx.Limits | None = None,
        retry_policy: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            session_id=session_id,
            provider=provider,
            limits=limits,
            retry_policy=retry_policy,
            allow_insecure_http=allow_insecure_http,
        )
        self._injected = http_client
        # One pool per event loop; each pool is closed by its own loop's async-generator
        # shutdown (asyncio.run's last step), while that loop can still close sockets.
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )
        self._sleep = sleep
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._ssl_context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext:
        # One TLS context for every shard of every loop's pool: building one loads the CA
        # bundle (~50 ms of CPU), which the shards of each new event loop would otherwise
        # pay again at every asyncio.run.
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            if self._injected is not None:
                pool = _LoopPool.single(self._injected)
            else:
                # The factory must not hold this object: the pool outlives it (see below).
                pool = _LoopPool(
                    _shard_factory(self.timeout, self._tls()), _shard_limits(self.limits)
                )
                guard = _close_with_loop(pool)
                await guard.__anext__()
                pool.guard = guard
                # The guard must outlive this object: if it were collected with it, its
                # close would be a task that asyncio.run may cancel before it runs.
                _LIVE_GUARDS.setdefault(loop, set()).add(guard)
                if self._finalizer is None:
                    self._finalizer = weakref.finalize(self, _close_pools_soon, self._pools)
            self._pools[loop] = pool
        return pool

    async def aclose(self) -> None:
        """Close the connection pool of the running loop (not an injected client)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None and pool.guard is not None:
            await _close_guard(pool.guard)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(
        self, prepared: _Prepared, http: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """Send with retries: on ``http`` (a stream's leased connection) or on a connection
        leased for this request alone."""
        kwargs = self._retrying_kwargs(prepared.on_retry, is_async=True)
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        async for attempt in AsyncRetrying(**kwargs):
            with attempt:
                if http is not None:
                    return await self._send_once(prepared, http)
                pool = await self._pool()
                async with pool.lease() as leased:
                    return await self._send_once(prepared, leased)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, prepared: _Prepared, http: httpx.AsyncClient) -> httpx.Response:
        request = self._build_request(http, prepared, own=http is not self._injected)
        try:
            response = await http.send(request, stream=prepared.stream)
        except httpx.TransportError as exc:
            raise _map_transport_error(exc, self._secrets) from None
        if response.is_success:
            return response
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise _map_transport_error(exc, self._secrets) from None
        finally:
            await response.aclose()
        raise self._status_error(response)

    async def _read(self, response: httpx.Response) -> httpx.Response:
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise _map_transport_error(exc, self._secrets) from None
        return response

    async def chat_completion(self, **params: Unpack[ChatParams]) -> ChatCompletion:
        """``POST /chat/completions`` (or ``/chat/vision`` with ``endpoint="vision"``)."""
        prepared = self._prepare_chat(params, stream=False)
        return self._parse_completion(await self._read(await self._send(prepared)))

    def stream_chat_completion(
        self, **params: Unpack[ChatParams]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Async form of :meth:`NugenClient.stream_chat_completion` (validated now, sent on
        first iteration)."""
        return self._iter_stream(self._prepare_chat(params, stream=True))

    async def _iter_stream(self, prepared: _Prepared) -> AsyncIterator[ChatCompletionChunk]:
        pool = await self._pool()
        # A stream holds its connection's lease for as long as it is read, and gives it
        # back only once the response is closed (aclosing: even when the caller stops
        # early, the inner generator closes here, not later in a task of its own).
        async with (
            pool.lease() as http,
            contextlib.aclosing(self._iter_stream_response(prepared, http)) as chunks,
        ):
            async for chunk in chunks:
                yield chunk

    async def _iter_stream_response(
        self, prepared: _Prepared, http: httpx.AsyncClient
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        response = await self._send(prepared, http)
        try:
            if not _is_event_stream(response):
                completion = self._parse_completion(await self._read(response))
                for whole in completion_to_chunks(completion):
                    yield whole
                return
            decoder = StreamDecoder(self._secrets)
            with _stream_errors(decoder, response, self._secrets):
                async for event in EventSource(response).aiter_sse():
                    chunk = decoder.decode(event)
                    if chunk is not None:
                        yield chunk
                    elif decoder.done:
                        return
                decoder.check_complete()
        finally:
            await response.aclose()

    async def embeddings(self, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
        """``POST /embeddings``; vectors come back in input order (``.embeddings``)."""
        prepared, count = self._prepare_embeddings(params)
        return self._parse_embeddings(await self._read(await self._send(prepared)), count)


_SHARD_CONNECTIONS = 2


def _shard_limits(limits: httpx.Limits) -> list[httpx.Limits]:
    """Split a connection budget into pools of about two connections each.

    httpcore re-scans every connection of a pool (polling idle sockets) for every queued
    request whenever one changes state, so one pool's cost grows with connections x
    requests: 1,000 concurrent calls cost 35 s of CPU through one 100-connection pool,
    2.8 ms a call through pools of 25, 0.84 ms through pools of two (benchmarks/NOTES.md).
    The budget is split exactly (connections and keep-alive add up to the given limits);
    there are never more pools than keep-alive connections, so each pool keeps at least
    one connection alive.
    """
    total = limits.max_connections
    if total is None or total <= _SHARD_CONNECTIONS:
        return [limits]
    keepalive = limits.max_keepalive_connections
    count = -(-total // _SHARD_CONNECTIONS)
    if keepalive:
        count = min(count, keepalive)
    return [
        httpx.Limits(
            max_connections=_share(total, count, i),
            max_keepalive_connections=None if keepalive is None else _share(keepalive, count, i),
            keepalive_expiry=limits.keepalive_expiry,
        )
        for i in range(count)
    ]


def _shard_factory(
    timeout: httpx.Timeout, verify: ssl.SSLContext
) -> Callable[[httpx.Limits], httpx.AsyncClient]:
    def make(limits: httpx.Limits) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, verify=verify
        )

    return make


def _share(total: int, count: int, i: int) -> int:
    """The ``i``-th of ``count`` near-equal integer shares of ``total``."""
    return total // count + (1 if i < total % count else 0)


class _LoopPool:
    """The connections of one event loop: small httpx pools (shards) and leases on them.

    Every connection of the budget is a token naming the shard it belongs to. A request,
    or a whole stream, holds one token (a lease) while it runs, so no shard is ever asked
    for more connections than it has and waiting requests queue here, where waking one is
    O(1), rather than in httpcore. Tokens go out last-released-first, so light traffic
    stays on the warm connections of a few shards; a shard is created when first leased.
    """

    __slots__ = ("_limits", "_make", "_shards", "_tokens", "guard")

    def __init__(
        self,
        make: Callable[[httpx.Limits], httpx.AsyncClient],
        limits: list[httpx.Limits],
    ) -> None:
        self._make = make
        self._limits = limits
        self._shards: list[httpx.AsyncClient | None] = [None] * len(limits)
        self.guard: AsyncGenerator[None, None] | None = None
        self._tokens: _Tokens | None = None
        if limits[0].max_connections is not None:
            # Stacked last-shard-first, so the first shard's tokens are on top.
            self._tokens = _Tokens(
                [
                    index
                    for index in reversed(range(len(limits)))
                    for _ in range(limits[index].max_connections or 0)
                ]
            )

    @classmethod
    def single(cls, http: httpx.AsyncClient) -> _LoopPool:
        """A pool of one given client (an injected one: its own limits apply)."""
        pool = cls(lambda _: http, [httpx.Limits(max_connections=None)])
        pool._shards[0] = http
        return pool

    def clients(self) -> list[httpx.AsyncClient]:
        """The shards created so far."""
        return [http for http in self._shards if http is not None]

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[httpx.AsyncClient]:
        """A shard with a connection free for this request (waiting for one if need be)."""
        tokens = self._tokens
        index = 0 if tokens is None else await tokens.get()
        try:
            http = self._shards[index]
            if http is None:
                http = self._shards[index] = self._make(self._limits[index])
            yield http
        finally:
            if tokens is not None:
                tokens.put(index)


class _Tokens:
    """Free connection tokens: handed out last-released-first (warm connections), to
    waiters in the order they came (a task that releases and asks again at once must not
    overtake them, as it could with ``asyncio.LifoQueue``)."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, tokens: list[int]) -> None:
        self._free = tokens  # a stack: the top is the end
        self._waiters: collections.deque[asyncio.Future[int]] = collections.deque()

    async def get(self) -> int:
        if self._free and not self._waiters:
            return self._free.pop()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put(waiter.result())  # handed one as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def put(self, token: int) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(token)
                return
        self._free.append(token)


# Open pools' guards, per event loop (see AsyncNugenClient._pool); a loop's entry goes
# when the loop itself is collected.
_LIVE_GUARDS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, set[AsyncGenerator[None, None]]
] = weakref.WeakKeyDictionary()
_CLOSING: set[asyncio.Task[None]] = set()


async def _close_guard(guard: AsyncGenerator[None, None]) -> None:
    try:
        await guard.aclose()
    finally:
        guards = _LIVE_GUARDS.get(asyncio.get_running_loop())
        if guards is not None:
            guards.discard(guard)


def _close_pools_soon(
    pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool],
) -> None:
    """Finalizer of a collected AsyncNugenClient: close its pools on their own loops.

    A loop that has already closed took its pools with it (its async-generator shutdown);
    one that is shutting down will close any guard this cannot reach in time.
    """
    for loop, pool in list(pools.items()):
        if pool.guard is None or loop.is_closed():
            continue
        guard = pool.guard

        def start(guard: AsyncGenerator[None, None] = guard) -> None:
            task = asyncio.ensure_future(_close_guard(guard))
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)

        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(start)


async def _close_with_loop(pool: _LoopPool) -> AsyncGenerator[None, None]:
    """Suspends until its event loop shuts down its async generators, then closes the
    pool's shards.

    Started inside a loop, this generator is registered with it (asyncio's firstiter hook);
    ``asyncio.run`` closes every such generator before it closes the loop, which is the last
    moment the pool's connections can be closed cleanly.
    """
    try:
        yield
    finally:
        for http in pool.clients():
            await http.aclose()
