"""The error hierarchy of the contract, the mapping from HTTP responses onto it, and what
may be shown of a secret or a header value (:func:`redact`, :func:`redact_headers`).

Messages are written for a person (``422 Unprocessable Entity: body.messages.0.name: ...``)
and pass through :func:`redact` with the key before they are stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    import httpx

_MAX_BODY_IN_MESSAGE = 500
# Deeper than any real error body; deep enough nesting would exhaust the recursion of
# whatever walks the body (describing, redacting, repr), so such a body is kept as text.
_MAX_ERROR_BODY_DEPTH = 32


class NugenError(Exception):
    """Base class of every error raised by this package."""

    # The answer's ``x-request-id``, for an error raised once one arrived (also at the end of
    # the message): what the service needs to find the call.
    request_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which the default exception pickling
        # (``cls(*self.args)``) cannot pass: rebuild from the args and the instance state.
        return (type(self).__new__, (type(self), *self.args), self.__dict__)


class InvalidInputError(NugenError, ValueError):
    """Bad input refused locally, before any request was sent; also a closed stream
    iterated. A ``ValueError`` too (as a closed file's), so ``except ValueError`` still works.
    """


class APIResponseValidationError(NugenError):
    """The service answered, but with a body (or stream event) that cannot be understood."""

    def __init__(self, message: str, *, body: object = None) -> None:
        super().__init__(message)
        self.body = body


class APIConnectionError(NugenError):
    """The request could not reach the service, or the connection broke before an answer."""

    # The call's client was closed under it (close() / aclose()): never retried.
    _client_closed = False


def client_closed(message: str) -> APIConnectionError:
    """The error of a call whose client was closed under it: it ends the call, as with the
    OpenAI SDK, rather than a retry opening connections the caller meant to be done with."""
    error = APIConnectionError(message)
    error._client_closed = True
    return error


class APITimeoutError(APIConnectionError):
    """The service did not answer (or stopped sending) within the configured timeout."""


class StreamInterruptedError(NugenError):
    """A stream ended without ``[DONE]`` or a final ``finish_reason``: the text that arrived
    is in :attr:`partial` for a caller to log, never returned as if it were a whole answer.
    """

    def __init__(self, message: str, *, partial: str = "", chunks_received: int = 0) -> None:
        super().__init__(message)
        self.partial = partial
        self.chunks_received = chunks_received


class APIStatusError(NugenError):
    """The service answered with an error status (or sent an error object in a stream)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        # Only the response headers are kept (for Retry-After and friends), never the
        # request: its Authorization header must not travel with the exception.
        if headers is None:
            import httpx  # not at module level: the errors import without httpx

            headers = httpx.Headers()
        self.headers = headers


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PaymentRequiredError(APIStatusError):
    """402: the account's quota or balance is used up (never retried)."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: wrong base URL, endpoint or model."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422: the service rejected the body; the message lists each offending field."""


class RateLimitError(APIStatusError):
    """429."""


class InternalServerError(APIStatusError):
    """Any status >= 500."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

# What a caller can do about a status whose phrase alone does not say it.
_PAYMENT_HINT = (
    "the account's quota or balance is used up: add credits or raise the quota "
    "in your Nugen account, then call again"
)


def secret_forms(secret: str) -> tuple[str, ...]:
    """``secret`` and the forms a server quoting a request back may echo it in: URL- and
    form-encoded, JSON with escaped slashes, and base64 (standard and URL-safe) of any text
    holding it: at each of the three byte alignments, the characters that depend on the
    secret alone (those at its edges mix with the bytes around it)."""
    forms = [secret, quote(secret, safe=""), quote_plus(secret), secret.replace("/", "\\/")]
    raw = secret.encode()
    for offset in range(3):
        core = slice(-(-8 * offset // 6), 8 * (offset + len(raw)) // 6)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(b"\0" * offset + raw).decode()[core])
    # The secret itself whatever its length; a form derived from it only if long enough
    # never to match text by chance.
    return tuple(dict.fromkeys([secret, *(form for form in forms if len(form) >= 8)]))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of a secret (of a plausible length) in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


# Headers whose values may be shown (logs, errors, serialised models, callbacks, traces):
# the ones this client sends itself and common transport and tracing headers. Every other
# value is redacted, so a gateway's credential header under any name stays hidden.
_SAFE_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "host",
        "traceparent",
        "tracestate",
        "user-agent",
        "x-provider",
        "x-request-id",
        "x-session-id",
    }
)


def is_credential_header(name: str) -> bool:
    """Whether a header's value must never be shown: true for every name but the few
    known to be safe (``Content-Type``, ``Accept``, ``User-Agent``, ``X-Session-ID``,
    ``X-Provider``, ...). Public for the adapters, which hide such values from callbacks
    and traces."""
    return name.lower() not in _SAFE_HEADERS


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with every value but those of safe names replaced by ``***``."""
    return {k: ("***" if is_credential_header(k) else v) for k, v in headers.items()}


def describe_error_body(body: object) -> str:
    """An error body as one readable line: FastAPI's 422 ``{"detail": [{"loc", "msg"}]}``
    lists each field, ``{"detail": "..."}`` and ``{"error": {"message": ...}}`` give their
    message, anything else is shown as it came; each shortened (the body may be huge)."""
    text, limit = body, _MAX_BODY_IN_MESSAGE
    if isinstance(body, dict):
        detail, error = body.get("detail"), body.get("error")
        if isinstance(detail, list) and detail:
            text, limit = "; ".join(map(_detail_part, detail)), 4 * _MAX_BODY_IN_MESSAGE
        elif isinstance(detail, str | int | float):
            text = str(detail)
        elif isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        elif isinstance(error, str):
            text = error
        elif isinstance(body.get("message"), str):
            text = body["message"]
    if text is None or text == "":
        return ""
    text = text if isinstance(text, str) else json.dumps(text, default=str)
    return text[:limit] + ("..." if len(text) > limit else "")


def _detail_part(item: object) -> str:
    """One entry of FastAPI's ``detail`` list: ``loc: msg``."""
    if not isinstance(item, dict):
        return str(item)
    loc, msg = item.get("loc"), item.get("msg", item.get("message", ""))
    if isinstance(loc, list | tuple):
        loc = ".".join(map(str, loc))
    return f"{loc}: {msg}" if loc else str(msg)


def loads_error_json(text: str | bytes) -> Any:
    """``json.loads`` for error bodies and events: a ``ValueError``, as for text that is not
    JSON, also when the text nests too deeply to parse or to walk safely."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # Walked without recursion, so that checking the depth cannot itself exhaust it.
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= _MAX_ERROR_BODY_DEPTH:
                raise ValueError("JSON nested too deeply")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def make_status_error(
    status_code: int,
    body: object,
    *,
    secrets: Iterable[str | None] = (),
    request_id: str | None = None,
    headers: httpx.Headers | None = None,
    context: str = "",
    hint: str = "",
) -> APIStatusError:
    """Build the error class that matches ``status_code``, with a key-free message;
    ``hint`` says what a caller can do about it."""
    import httpx  # not at module level: the errors import without httpx

    cls = InternalServerError if status_code >= 500 else _STATUS_CLASSES.get(status_code)
    # httpx's phrases, not http.HTTPStatus's: Python 3.13 renamed 413, 414, 416 and 422.
    phrase = httpx.codes.get_reason_phrase(status_code) or "Error"
    secrets = list(secrets)
    if secrets:
        # Before describing: the description is cut to length, and a key the server echoed
        # across the cut would keep its first characters.
        body = _redact_obj(body, secrets)
        # The response headers too: the server may echo the key in one (x-request-id).
        if request_id:
            request_id = redact(request_id, secrets)
        if headers is not None:
            headers = type(headers)(
                [(name, redact(value, secrets)) for name, value in headers.multi_items()]
            )
    described = describe_error_body(body)
    hint = hint or (_PAYMENT_HINT if status_code == 402 else "")
    message = redact(
        f"{status_code} {phrase}"
        + (f" ({context})" if context else "")
        + (f": {described}" if described else "")
        + (f" ({hint})" if hint else "")
        + (f" [request id: {request_id}]" if request_id else ""),
        secrets,
    )
    return (cls or APIStatusError)(
        message, status_code=status_code, body=body, request_id=request_id, headers=headers
    )


def _redact_obj(obj: Any, secrets: list[str | None]) -> Any:
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, dict):
        # Keys too: a server may echo the key as an object key.
        return {_redact_obj(k, secrets): _redact_obj(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_obj(v, secrets) for v in obj]
    return obj


def add_request_id(
    error: NugenError, request_id: str | None, secrets: Iterable[str | None]
) -> NugenError:
    """``error`` with the ``request_id`` of the answer it is about, unless it has one: as
    the attribute and at the end of the message (redacted: the server wrote it, maybe
    echoing the key)."""
    if request_id and error.request_id is None:
        error.request_id = redact(request_id, secrets)
        reword(error, suffix=f" [request id: {error.request_id}]")
    return error


def reword(error: BaseException, prefix: str = "", suffix: str = "") -> BaseException:
    """``error`` with ``prefix`` and ``suffix`` around its message (and a status error's
    ``message``), for context the raising layer did not know (which batch, why no retry)."""
    if error.args and isinstance(error.args[0], str):
        error.args = (prefix + error.args[0] + suffix, *error.args[1:])
    if isinstance(error, APIStatusError):
        error.message = prefix + error.message + suffix
    return error
