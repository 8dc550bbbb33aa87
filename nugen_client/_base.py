"""What the sync and async clients share: everything but the transport call.

A call goes: ``_prepare_*`` (call keywords -> checked wire model -> a :class:`Prepared`),
the client's ``_send`` (retries around ``_send_once``, which sends
:meth:`_BaseClient._build_request`), then ``_parse_*``, or for a stream a
:class:`StreamCall` read under :func:`stream_errors`.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import PydanticSerializationError

from nugen_client._chunks import (
    StreamDecoder,
    TextStreamDecoder,
    completion_to_chunks,
    text_completion_to_chunks,
)
from nugen_client._errors import (
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    NugenError,
    _redact_obj,
    add_request_id,
    describe_error_body,
    loads_error_json,
    make_status_error,
    redact,
    secret_forms,
)
from nugen_client._input import (
    check_base_url,
    check_header,
    check_hook,
    header_secrets,
    is_number,
    json_body,
    make_timeout,
    mapping_or_none,
    refuse_stream_keyword,
    unsendable,
    validation_message,
    with_headers,
)
from nugen_client._limits import DeadlineExceeded
from nugen_client._retry import OnRetry, RetryPolicy
from nugen_client._stream import StreamCall
from nugen_client._version import __version__
from nugen_client.params import (
    BODY_KEYWORDS,
    DEFAULT_BASE_URL,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ChatCompletionRequest,
    ChatParams,
    CompletionParams,
    EmbeddingParams,
    EmbeddingRequest,
    RequestOptions,
    RerankParams,
    RerankRequest,
    TextCompletionRequest,
    check_no_credential_keywords,
    redact_headers,
)
from nugen_client.types import (
    AlignedModel,
    AlignedModelList,
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingResponse,
    RerankResponse,
    TextCompletion,
    TextCompletionChunk,
)

logger = logging.getLogger("nugen_client")

_ModelT = TypeVar("_ModelT", bound=BaseModel)
# What differs between the clients' constructors: the kind of httpx client one may pass
# in, and of ``sleep`` (a function or a coroutine function).
_HttpT = TypeVar("_HttpT", bound=httpx.Client | httpx.AsyncClient)
_SleepT = TypeVar("_SleepT")
_AnswerT = TypeVar("_AnswerT", ChatCompletion, TextCompletion)
# Body fields a caller may give as any sequence; sent as JSON lists.
_LISTS = frozenset({"prompt", "input", "documents"})
# The keyword arguments of a call that are not body fields.
_OPTIONS = frozenset(RequestOptions.__annotations__) | {"endpoint", "include_usage"}
_PATHS = {"chat": "/chat/completions", "vision": "/chat/vision"}
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0
)
# The URLs of requests on our own pools, each parsed once per process (a client has a few).
_parsed_url = functools.lru_cache(maxsize=256)(httpx.URL)
_USER_AGENT = (
    f"nugen-integrations/{__version__} (nugen_client; python "
    f"{sys.version_info.major}.{sys.version_info.minor}; httpx {httpx.__version__})"
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked request, ready to send (and to send again on a retry)."""

    url: str
    content: bytes
    headers: httpx.Headers
    timeout: httpx.Timeout | None
    stream: bool
    on_retry: OnRetry | None
    wants_usage: bool = False
    method: str = "POST"
    # What its errors never show: the key, and the credential headers it carries.
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Crash reporters capture traceback locals by repr, and the debug log shows it: the
        # headers carry the key. Shown as sent (names in their own case), credentials redacted.
        headers = redact_headers(
            {name.decode(): value.decode() for name, value in self.headers.raw}
        )
        return (
            f"Prepared(method={self.method!r}, url={self.url!r}, "
            f"content=<{len(self.content)} bytes>, headers={headers!r}, stream={self.stream!r})"
        )


class _BaseClient(Generic[_HttpT, _SleepT]):
    """Configuration, request building and response parsing shared by both clients, and
    their constructor (one keyword list, so that they cannot drift apart); each client sets
    up its connections in :meth:`_init_transport`."""

    # Whether the client awaits what ``on_retry`` and ``sleep`` return (the async client does).
    _awaits_on_retry: ClassVar[bool] = False

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
        http_client: _HttpT | None = None,
        limits: httpx.Limits | None = None,
        retry_policy: RetryPolicy | None = None,
        allow_insecure_http: bool = False,
        sleep: _SleepT | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        deadline: float | None = DEFAULT_DEADLINE,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        key = key or os.environ.get("NUGEN_API_KEY")
        if not key:
            raise InvalidInputError("no API key: pass api_key=... or set NUGEN_API_KEY")
        check_header("api_key", key)  # sent as a header: refused here, not at the first send
        self._api_key = SecretStr(key)
        self.base_url: str = check_base_url(
            base_url or os.environ.get("NUGEN_BASE_URL") or DEFAULT_BASE_URL,
            allow_insecure_http=allow_insecure_http,
        )
        self.timeout: httpx.Timeout = make_timeout(timeout)
        if limits is not None and limits.max_connections is not None and limits.max_connections < 1:
            # Zero connections would make every call wait forever.
            raise InvalidInputError(
                f"limits.max_connections must be >= 1 or None, got {limits.max_connections!r}"
            )
        self.limits: httpx.Limits = limits or DEFAULT_LIMITS
        for name, value, least in (
            ("max_retries", max_retries, 0),
            ("max_response_bytes", max_response_bytes, 1),
            ("max_event_bytes", max_event_bytes, 1),
        ):
            if not (is_number(value, whole=True) and value >= least):
                raise InvalidInputError(f"{name} must be a whole number >= {least}, got {value!r}")
        if deadline is not None and not (is_number(deadline) and deadline > 0):
            raise InvalidInputError(
                f"deadline must be a positive number of seconds or None, got {deadline!r}"
            )
        self.max_response_bytes = max_response_bytes
        self.max_event_bytes = max_event_bytes
        self.deadline = deadline
        self.retry_policy: RetryPolicy = retry_policy or RetryPolicy(max_retries=max_retries)
        headers = httpx.Headers(
            {
                "Authorization": f"Bearer {key}",
                "User-Agent": _USER_AGENT,
                "Content-Type": "application/json",
                "Accept": "application/json",
                # What httpx's client defaults would add; requests on our own pools are built
                # without them (see _build_request). gzip and deflate need only the stdlib.
                "Accept-Encoding": "gzip, deflate",
                "Connection": "keep-alive",
            }
        )
        with_headers(headers, session_id, provider, default_headers, "default_headers")
        # What errors never show, should a server echo them.
        self._secrets = secret_forms(key) + header_secrets(default_headers)
        # The headers of a call that adds none, plain and streamed: built once, never
        # changed (httpx copies them into each request, a call adding headers into its own).
        streamed = httpx.Headers(headers)
        streamed["Accept"] = "text/event-stream"
        self._headers = {False: headers, True: streamed}
        self._injected: _HttpT | None = http_client
        if sleep is not None:
            check_hook("sleep", sleep, awaited=self._awaits_on_retry)
        self._sleep: _SleepT | None = sleep
        # Set once the client opens connections of its own, which it closes when collected.
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._init_transport()

    def __reduce__(self) -> tuple[Any, ...]:
        # Said plainly, instead of "cannot pickle '_thread.RLock' object".
        raise TypeError(
            f"{type(self).__name__} holds connections and cannot be pickled or copied: "
            "create one in each worker process (the adapters' model objects pickle)"
        )

    def _init_transport(self) -> None:
        """Set up how this client holds its connections (each client's own)."""
        raise NotImplementedError

    @property
    def api_key(self) -> SecretStr:
        return self._api_key

    @property
    def max_retries(self) -> int:
        """``retry_policy``'s; assigned, it replaces the policy's (checked)."""
        return self.retry_policy.max_retries

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        self.retry_policy = replace(self.retry_policy, max_retries=value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, max_retries={self.max_retries})"

    # -- request building ------------------------------------------------------------

    def _prepare_chat(self, params: ChatParams, *, stream: bool) -> Prepared:
        endpoint = params.get("endpoint", "chat")
        path = _PATHS.get(endpoint)
        if path is None:
            raise InvalidInputError(f"endpoint must be 'chat' or 'vision', got {endpoint!r}")
        if endpoint == "vision":
            # It takes no tools and no stop sequences: it would answer without calling one,
            # or past one, and the caller would read that answer rather than the reason.
            names = ("tools", "tool_choice", "response_format", "stop")
            given = [name for name in names if params.get(name)]
            if given:
                raise InvalidInputError(
                    f"the vision endpoint (/chat/vision) takes no {', '.join(given)}: to use "
                    "them with images, send the request to the chat endpoint "
                    "(/chat/completions, which takes image parts too: "
                    "use_vision_endpoint=False, or endpoint='chat' on the client)"
                )
        if not stream and params.get("stream"):
            refuse_stream_keyword("stream_chat_completion")
        # /chat/vision answers whole: a stream asked of it is served from one JSON answer.
        stream = stream and endpoint != "vision"
        return self._prepare_body(ChatCompletionRequest, path, params, "chat request", stream)[0]

    def _prepare_text_completion(self, params: CompletionParams, *, stream: bool) -> Prepared:
        if not stream and params.get("stream"):
            refuse_stream_keyword("stream_completion")
        request = TextCompletionRequest
        return self._prepare_body(request, "/completions", params, "completion request", stream)[0]

    def _prepare_embeddings(self, params: EmbeddingParams) -> tuple[Prepared, int]:
        """The request, and how many vectors the answer must hold."""
        prepared, request = self._prepare_body(
            EmbeddingRequest, "/embeddings", params, "embeddings request"
        )
        return prepared, 1 if isinstance(request.input, str) else len(request.input)

    def _prepare_rerank(self, params: RerankParams) -> tuple[Prepared, RerankRequest]:
        """The request, and its checked body (what the answer is read against)."""
        return self._prepare_body(RerankRequest, "/reranker", params, "rerank request")

    def _prepare_aligned_models(self, options: RequestOptions) -> Prepared:
        """``GET /models/aligned`` beside the inference base (``/api/v3/inference`` ->
        ``/api/v3/models/aligned``)."""
        prepared = self._prepare("", {}, options, stream=False)
        headers = httpx.Headers(prepared.headers)
        del headers["Content-Type"]
        # The path's last part replaced, never the host's (a base URL may have no path).
        parts = urlsplit(self.base_url)
        url = parts._replace(path=parts.path.rsplit("/", 1)[0] + "/models/aligned").geturl()
        return replace(prepared, url=url, content=b"", headers=headers, method="GET")

    def _prepare_body(
        self,
        request_type: type[_ModelT],
        path: str,
        params: Mapping[str, Any],
        what: str,
        stream: bool = False,
    ) -> tuple[Prepared, _ModelT]:
        """The body rules of every request: only what is given (and not None) is sent,
        checked against ``request_type``; a stream asks for usage unless
        ``include_usage=False``."""
        fields = {
            name: list(value)
            if name in _LISTS and isinstance(value, Sequence) and not isinstance(value, str)
            else value
            for name, value in params.items()
            if value is not None and name not in _OPTIONS
        }
        if stream:
            fields["stream"] = True
            if params.get("include_usage", True) and "stream_options" not in fields:
                fields["stream_options"] = {"include_usage": True}
        try:
            request = request_type.model_validate(fields)
        except ValidationError as exc:
            raise InvalidInputError(validation_message(what, exc)) from None
        # Keywords this client does not know, and extra_body's, go in the body; among the
        # latter no call keyword is one (extra_headers there would be a body field).
        check_no_credential_keywords(request.model_extra or (), body=True)
        extra_body = mapping_or_none("extra_body", params.get("extra_body"))
        check_no_credential_keywords(extra_body or (), BODY_KEYWORDS, body=True)
        try:
            body = request.model_dump(mode="json", exclude_unset=True)
        except PydanticSerializationError as exc:
            raise unsendable(fields, exc) from None
        return self._prepare(path, body, params, stream=stream), request

    def _prepare(
        self, path: str, body: dict[str, Any], options: Mapping[str, Any], *, stream: bool
    ) -> Prepared:
        session_id, provider = options.get("session_id"), options.get("provider")
        extra = options.get("extra_headers")
        secrets = self._secrets
        sent = self._headers[stream]
        if session_id is not None or provider is not None or extra:
            sent = with_headers(httpx.Headers(sent), session_id, provider, extra, "extra_headers")
            secrets += header_secrets(extra)
        body.update(options.get("extra_body") or {})
        timeout, on_retry = options.get("timeout"), options.get("on_retry")
        if on_retry is not None:
            # Found now, not at the first retry, after a request already failed.
            check_hook("on_retry", on_retry, awaited=self._awaits_on_retry)
        usage = body.get("stream_options") if stream else None
        return Prepared(
            url=self.base_url + path,
            content=json_body(body),
            headers=sent,
            timeout=None if timeout is None else make_timeout(timeout),
            stream=stream,
            on_retry=on_retry,
            wants_usage=isinstance(usage, dict) and bool(usage.get("include_usage")),
            secrets=secrets,
        )

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, prepared: Prepared, deadline: float | None
    ) -> httpx.Request:
        own = http is not self._injected
        if not own and http.is_closed:  # no retry could change it
            raise InvalidInputError("the http_client passed in is closed: pass an open one")
        timeout = (prepared.timeout or (self.timeout if own else http.timeout)).as_dict()
        if deadline is not None:
            # None longer than what is left: no wait (connecting, headers, a read) outlasts it.
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded
            timeout = {
                kind: left if value is None or value > left else value
                for kind, value in timeout.items()
            }
        if own:
            # Our own pools carry no default headers, cookies or auth to merge, so the
            # request is built directly from a URL parsed once, skipping build_request's
            # per-call URL parsing and merging.
            request = httpx.Request(
                prepared.method,
                _parsed_url(prepared.url),
                content=prepared.content,
                headers=prepared.headers,
                extensions={"timeout": timeout},
            )
        else:
            request = http.build_request(
                prepared.method, prepared.url, content=prepared.content, headers=prepared.headers
            )
            request.extensions["timeout"] = timeout
        if logger.isEnabledFor(logging.DEBUG):  # text only: handlers may keep the arguments
            logger.debug("sending %s", repr(prepared))
        return request

    def _deadline_at(self) -> float | None:
        return None if self.deadline is None else time.monotonic() + self.deadline

    def _deadline_error(self, exc: DeadlineExceeded, prepared: Prepared) -> NugenError:
        message = f"the call did not finish within its deadline ({self.deadline:g} s)"
        return add_request_id(APITimeoutError(message), exc.request_id, prepared.secrets)

    # -- response handling -------------------------------------------------------------

    def _parse_answer(self, model: type[_AnswerT], response: httpx.Response) -> _AnswerT:
        """A chat or text completion: it must hold a choice."""
        return self._parse(model, response, lambda c: "" if c.choices else "it has no choices")

    def _parse_text_completion(
        self, response: httpx.Response, params: CompletionParams
    ) -> TextCompletion:
        """A text completion: with several prompts, ``n`` choices for each of them."""
        prompt = params["prompt"]
        expected = 1 if isinstance(prompt, str) else len(prompt) * (params.get("n") or 1)

        def problem(completion: TextCompletion) -> str:
            if not completion.choices:
                return "it has no choices"
            indexes = {choice.index for choice in completion.choices}
            if isinstance(prompt, str) or indexes == set(range(expected)):
                return ""
            return (
                f"asked for {expected} choices ({len(prompt)} prompts), the response "
                f"holds indexes {sorted(indexes)}"
            )

        return self._parse(TextCompletion, response, problem)

    def _stream_chat(self, params: ChatParams) -> StreamCall[ChatCompletionChunk]:
        prepared = self._prepare_chat(params, stream=True)
        return StreamCall(
            prepared,
            StreamDecoder(prepared.secrets),
            lambda response: completion_to_chunks(self._parse_answer(ChatCompletion, response)),
        )

    def _stream_text_completion(self, params: CompletionParams) -> StreamCall[TextCompletionChunk]:
        prepared = self._prepare_text_completion(params, stream=True)
        return StreamCall(
            prepared,
            TextStreamDecoder(prepared.secrets),
            lambda response: text_completion_to_chunks(
                self._parse_answer(TextCompletion, response)
            ),
        )

    def _parse_embeddings(self, response: httpx.Response, count: int) -> EmbeddingResponse:
        def problem(result: EmbeddingResponse) -> str:
            found = len(result.data)
            return "" if found == count else f"asked for {count} embeddings, it holds {found}"

        return self._parse(EmbeddingResponse, response, problem)

    def _parse_rerank(self, response: httpx.Response, request: RerankRequest) -> RerankResponse:
        """The answer, its order kept; every ``index`` names one of the request's
        documents, each at most once. At most ``top_n`` results: a host that ignores it
        (the cookbook sends ``top_k``) answers every document, best first."""
        count, top_n = len(request.documents), request.top_n

        def problem(result: RerankResponse) -> str:
            seen: set[int] = set()
            for index in (item.index for item in result.results):
                if index in seen or index not in range(count):
                    problem = "repeated" if index in seen else "out of range"
                    return (
                        f"its result index {index} is {problem} (the request held {count} "
                        "documents)"
                    )
                seen.add(index)
            return ""

        result = self._parse(RerankResponse, response, problem)
        if top_n is not None and len(result.results) > top_n:
            result = result.model_copy(update={"results": result.results[:top_n]})
        return result

    def _parse_aligned_models(self, response: httpx.Response) -> list[AlignedModel]:
        return self._parse(AlignedModelList, response).domain_aligned_models

    def _parse(
        self,
        model: type[_ModelT],
        response: httpx.Response,
        problem: Callable[[_ModelT], str] = lambda _: "",
    ) -> _ModelT:
        """``response`` read as ``model``, or an ``APIResponseValidationError`` saying why
        it cannot be (pydantic's report, or the ``problem`` found in what it holds)."""
        try:
            result = model.model_validate_json(response.content)
        except ValidationError as exc:
            found, quote = validation_message("response", exc), True
        else:
            found, quote = problem(result), False
            if not found:
                return result
            # An error a host answered with a 200 ({"error": ...}, {"detail": ...}).
            extra = result.model_extra or {}
            if extra.keys() & {"error", "detail"}:  # redacted before describing cuts it
                extra = _redact_obj(extra, [*self._secrets_of(response)])
                found = f"{found} (it said: {describe_error_body(extra)})"
        # Raised outside the except block: pydantic's error quotes the whole body, and even
        # as a suppressed __context__ it would carry the body (and any key the server
        # echoed) along with ours. Redacted before the cut: a key echoed across it would keep
        # its first characters.
        secrets = self._secrets_of(response)
        text = redact(response.text, secrets)[:500]
        message = f"could not read the {model.__name__} response: {found}"
        if quote:
            message = f"{message} (body: {text!r})"
        error = APIResponseValidationError(redact(message, secrets), body=text)
        raise self._answer_error(error, response)

    def _answer_error(self, error: NugenError, response: httpx.Response) -> NugenError:
        """``error``, about what ``response`` holds, given its request id (in place)."""
        request_id = response.headers.get("x-request-id")
        return add_request_id(error, request_id, self._secrets_of(response))

    def _secrets_of(self, response: httpx.Response) -> tuple[str, ...]:
        """What an error quoting ``response`` never shows: the client's secrets and the
        credential header values of the request it answers (a call's own included)."""
        return self._secrets + header_secrets(response.request.headers)

    def _status_error(self, response: httpx.Response, unread: str = "") -> APIStatusError:
        """The error of ``response``'s status; ``unread``: why its body was not read."""
        text = "" if unread else response.text
        try:
            body = loads_error_json(text) if text else None
        except ValueError:
            body = text
        url, hint = response.request.url, ""
        if response.status_code == 404:  # most often a base_url without its base path
            hint = (
                f"{url} answered 404: check base_url (the Nugen service's ends in "
                "/api/v3/inference, an OpenAI-compatible host's usually in /v1)"
            )
        elif response.is_redirect:
            hint = (
                f"{url} redirects to {response.headers['location']}, which is not followed "
                "(the key would go along): point base_url there if you trust it"
            )
        return make_status_error(
            response.status_code,
            body,
            secrets=self._secrets_of(response),
            request_id=response.headers.get("x-request-id"),
            headers=response.headers,
            context=unread and f"body not read: {unread}",
            hint=hint,
        )
