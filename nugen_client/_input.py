"""Local checks of what a caller gives the clients, before anything is sent: each failure
is an :class:`~nugen_client.InvalidInputError` naming what is wrong (the base URL, a
header, the timeout, a field of the request, a body that is not strict JSON).
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import numbers
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from nugen_client._errors import InvalidInputError, secret_forms
from nugen_client.params import check_no_userinfo, is_credential_header

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
# Hosts already warned about, so that a client built per call warns once per process.
_warned_hosts: set[str] = set()


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def direct_mounts(base_url: str) -> dict[str, None]:
    """httpx ``mounts=`` that keep a loopback ``base_url`` off any environment proxy
    (``HTTP_PROXY`` / ``ALL_PROXY``, which httpx honours for loopback too: the key would
    go to the proxy). A host pattern outranks the proxies' scheme patterns; ``None`` is
    the client's own direct transport."""
    host = urlsplit(base_url).hostname
    if host is None or not _is_loopback(host):
        return {}
    return {f"all://{f'[{host}]' if ':' in host else host}": None}


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """``base_url`` without its trailing slash, if the key may be sent there."""
    try:
        parts = urlsplit(base_url)
    except ValueError as exc:  # not echoed: it may hold a password
        raise InvalidInputError(f"base_url is not a valid URL ({exc})") from None
    check_no_userinfo(base_url)
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        # A query would be spliced before the request path (/v1?x=1/chat/completions) and a
        # fragment silently dropped. Neither is echoed: a gateway's key may be in the query.
        bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
        raise InvalidInputError(
            f"base_url must not have a ?query or #fragment (after {bare!r}): "
            "give the base path only (e.g. https://host/api/v3/inference)"
        )
    if base_url != base_url.strip():  # urlsplit skips a leading one; httpx would not
        raise InvalidInputError(f"base_url {base_url!r} has a space at either end")
    try:
        # As httpx parses it at the first call (a port, an international host name).
        _ = httpx.URL(base_url).host
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidInputError(f"base_url {base_url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        if not allow_insecure_http:
            raise InvalidInputError(
                f"base_url {base_url!r} is plain http to a host that is not this machine: the "
                "API key would cross the network unencrypted. Use https, or pass "
                "allow_insecure_http=True if you really mean it."
            )
        # No lock: two threads may both warn, and a lock held at a fork would never be
        # released in the child.
        if parts.hostname not in _warned_hosts:
            _warned_hosts.add(parts.hostname)
            warnings.warn(
                f"base_url {base_url!r} is plain http to a non-loopback host: the API key "
                "will cross the network unencrypted. Use https.",
                UserWarning,
                # Points at the caller of the client's __init__ (via _BaseClient.__init__).
                stacklevel=4,
            )
    return base_url.rstrip("/")


# Visible ASCII, space and tab, but no space or tab at either end: a CR or LF would split
# the header (httpx refuses it only at send time, after retries, as a connection error),
# a NUL or whitespace at an end is refused likewise, and non-ASCII text cannot be encoded
# as a header at all.
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_header(field: str, value: object) -> None:
    """Refuse a header value (from ``field``) that cannot be sent as one HTTP header,
    naming the field, never the value (it may be a credential)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string, got {type(value).__name__}")
    if _HEADER_VALUE.fullmatch(value) is None:
        raise InvalidInputError(
            f"{field} holds a character a header cannot carry (CR, LF, NUL, another control "
            "character, non-ASCII text, or a space or tab at either end): use printable ASCII"
        )


def header_secrets(headers: Mapping[str, str] | None) -> tuple[str, ...]:
    """The forms (:func:`~nugen_client._errors.secret_forms`) of the values of ``headers``
    that may be credentials: any header but the safe ones, if long enough to be one; and
    of the token after a value's scheme (``Bearer <token>``), which a server may quote alone."""
    return tuple(
        form
        for name, value in (headers or {}).items()
        if is_credential_header(name)
        for secret in dict.fromkeys([value, *value.split(None, 1)[1:]])
        if len(secret) >= 8
        for form in secret_forms(secret)
    )


def mapping_or_none(field: str, value: object) -> Mapping[str, Any] | None:
    """``value``, a mapping or None; anything else is refused, naming ``field``."""
    if value is None or isinstance(value, Mapping):
        return value
    raise InvalidInputError(f"{field} must be a dict, got {type(value).__name__}")


def with_headers(
    headers: httpx.Headers,
    session_id: str | None,
    provider: str | None,
    more: Mapping[str, str] | None,
    field: str,
) -> httpx.Headers:
    """``headers`` with the ``X-Session-ID`` / ``X-Provider`` of ``session_id`` /
    ``provider`` and the headers ``more`` (the caller's ``field``), all checked; a later
    value replaces one of the same name in any letter case (a header is never sent twice)."""
    for option, name, value in (
        ("session_id", "X-Session-ID", session_id),
        ("provider", "X-Provider", provider),
    ):
        if value is not None and value != "":  # 0 or False is refused, not left out
            check_header(option, value)
            headers[name] = value
    for name, value in (mapping_or_none(field, more) or {}).items():
        if not isinstance(name, str) or _HEADER_NAME.fullmatch(name) is None:
            raise InvalidInputError(f"{field} has an invalid header name {name!r}")
        check_header(f"{field}[{name!r}]", value)
        # ``***`` or a ``SecretStr``'s ``**********``: what a redacted value is shown as.
        if len(value) >= 3 and not value.strip("*"):
            raise InvalidInputError(
                f"{field}[{name!r}] is {value!r}, the placeholder a hidden value is shown as "
                "(a model rebuilt from its serialised form has it in place of the real "
                "value): set the real header value"
            )
        headers[name] = value
    return headers


def make_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    """httpx's timeout for ``timeout`` seconds (None: no limit); connecting gets at most 10."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if not (is_number(timeout) and timeout > 0):
        raise InvalidInputError(
            f"timeout must be a positive number of seconds, an httpx.Timeout or None, "
            f"got {timeout!r}"
        )
    return httpx.Timeout(timeout, connect=min(timeout, 10.0))


def is_number(value: object, *, whole: bool = False) -> bool:
    """Whether ``value`` is a real number (an integer if ``whole``), not a bool nor text."""
    kind = numbers.Integral if whole else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


_BRANCHES = ("function-", "list[", "str", "constrained-", "literal[", "tagged-union", "dict[")


def _error_location(loc: Sequence[int | str], extra: bool = False) -> str:
    """``messages[0].content[1].image_url.url`` from pydantic's loc tuple, without the
    union-branch names pydantic inserts (noise to a reader): types in lower case
    (``str``, ``constrained-str``, ``list[...]``) and model classes (``ToolChoiceFunction``),
    whose names start in upper case where a field's never does. An ``extra`` key refused
    (the last part) is the caller's own, whatever its case."""
    if extra and loc:
        return ".".join(filter(None, (_error_location(loc[:-1]), str(loc[-1]))))
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
        if part[:1].isupper() or part.startswith(_BRANCHES):
            in_tagged_union = in_tagged_union or "tagged-union" in part
            continue
        out += f".{part}" if out else part
    return out


def validation_message(what: str, exc: ValidationError) -> str:
    """``invalid <what>: loc: msg; ...`` from pydantic's report, at most eight lines."""
    errors = exc.errors(include_url=False)
    located = [
        (_error_location(error.get("loc", ()), error.get("type") == "extra_forbidden"), error)
        for error in errors
    ]
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
        shown = repr(got) if isinstance(got, str | int | float | bool) else ""
        if 0 < len(shown) <= 60 and shown not in msg:
            msg = f"{msg} (got {shown})"
        lines.append(f"{loc}: {msg}" if loc else msg)
    if len(kept) > len(lines):
        lines.append(f"... and {len(kept) - len(lines)} more")
    return f"invalid {what}: " + "; ".join(lines)


# json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False), its
# encoder made once (encoding keeps no state between calls).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_body(body: Mapping[str, Any]) -> bytes:
    """The request body as strict JSON: no NaN or Infinity (which json.dumps would write
    and JSON parsers refuse), nothing that is not JSON, and valid UTF-8."""
    try:
        return _ENCODER.encode(body).encode()
    except (TypeError, ValueError) as exc:
        raise unsendable(body, exc) from None


def unsendable(body: Mapping[str, Any], exc: Exception) -> InvalidInputError:
    """A local error naming the first body field that cannot be sent as JSON."""
    for name, value in body.items():
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError):
            return InvalidInputError(f"request field {name!r} cannot be sent as JSON: {exc}")
    return InvalidInputError(f"the request cannot be sent as JSON: {exc}")


def check_hook(name: str, hook: object, *, awaited: bool) -> None:
    """Refuse a hook (``on_retry``, ``sleep``) that is not callable, or that is a coroutine
    function where nothing awaits it (the sync client's): it would never run."""
    if not callable(hook):
        raise InvalidInputError(f"{name} must be callable, got {hook!r}")
    if not awaited and _is_async(hook):
        raise InvalidInputError(
            f"{name} {hook!r} is a coroutine function (async def), which the sync client "
            "cannot await: pass a plain function, or use AsyncNugenClient"
        )


def _is_async(function: object) -> bool:
    """``async def`` functions and methods (read from their code: LangChain passes a method
    to every call), partials of them, and objects whose ``__call__`` is one."""
    code = getattr(function, "__code__", None)
    if code is not None:
        return bool(code.co_flags & inspect.CO_COROUTINE)
    call = type(function).__call__
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def refuse_stream_keyword(method: str) -> NoReturn:
    # The service would stream an answer this method reads as one JSON body: the request
    # would be paid for and fail as an unreadable response.
    raise InvalidInputError(
        f"stream=True is not taken by this method, which reads the answer whole: "
        f"call {method}() to stream"
    )
