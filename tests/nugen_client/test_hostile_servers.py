"""Hostile or broken servers, through both clients: what a reply can do to us.

Each test covers what such a reply would do to a client that took it at its word:
``Retry-After: nan`` would reach the sleep (``ValueError`` from ``time.sleep``), ``inf``
would wait the longest cap; a deeply nested error body would end in a bare
``RecursionError``; a key echoed back across the cut of an error text would show its
first characters.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.parse
from typing import Any

import pytest

from nugen_client import (
    APIResponseValidationError,
    InternalServerError,
    NugenError,
    RateLimitError,
    RetryPolicy,
)
from tests.support.harness import API_KEY, Harness, Reply, chunk, completion_body, sse

OK = Reply(json=completion_body())
# Deeper than any parser or recursive walk tolerates (the default recursion limit is 1,000).
DEEP = "[" * 100_000 + "]" * 100_000
KEY_HEAD = API_KEY[: len(API_KEY) // 2]


# -------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "nan"},
        {"retry-after": "NaN"},
        {"retry-after": "inf"},
        {"retry-after": "-Infinity"},
        {"retry-after": "1e999"},
        {"retry-after-ms": "NaN"},
        {"retry-after-ms": "inf"},
    ],
)
def test_a_retry_after_that_is_not_a_finite_number_is_ignored(
    kind: str, headers: dict[str, str]
) -> None:
    policy = RetryPolicy(max_retries=1)
    h = Harness(kind, [Reply(status=429, json={}, headers=headers), OK], retry_policy=policy)
    h.chat()
    assert len(h.requests) == 2
    # The backoff: at most the first delay, never NaN and never the Retry-After cap.
    assert len(h.sleeps) == 1
    assert math.isfinite(h.sleeps[0])
    assert policy.initial_delay / 2 <= h.sleeps[0] <= policy.initial_delay


def test_a_nan_retry_after_does_not_crash_the_real_sleep() -> None:
    # sleep=None: tenacity's own time.sleep, which raises ValueError for NaN.
    policy = RetryPolicy(max_retries=1, initial_delay=0.01)
    h = Harness(
        "sync",
        [Reply(status=429, json={}, headers={"retry-after": "nan"}), OK],
        retry_policy=policy,
        sleep=None,
    )
    assert h.chat().choices[0].message.text == "Hi there"


def test_a_finite_retry_after_next_to_a_nan_one_is_still_used(kind: str) -> None:
    h = Harness(
        kind,
        [Reply(status=429, json={}, headers={"retry-after-ms": "nan", "retry-after": "2"}), OK],
    )
    h.chat()
    assert h.sleeps == [2.0]


def test_an_exhausted_nan_retry_after_ends_in_the_rate_limit_error(kind: str) -> None:
    h = Harness(kind, [Reply(status=429, json={}, headers={"retry-after": "nan"})], max_retries=2)
    with pytest.raises(RateLimitError):
        h.chat()
    assert len(h.requests) == 3


# ---------------------------------------------------------------- deeply nested JSON


def test_a_deeply_nested_5xx_body_is_a_retryable_nugen_error(kind: str) -> None:
    h = Harness(kind, [Reply(status=503, body=DEEP.encode())], max_retries=2)
    with pytest.raises(InternalServerError) as info:
        h.chat()
    assert len(h.requests) == 3  # retried like any 5xx
    assert info.value.status_code == 503
    assert len(str(info.value)) < 1_000


def test_a_deeply_nested_5xx_body_then_success(kind: str) -> None:
    h = Harness(kind, [Reply(status=500, body=DEEP.encode()), OK], max_retries=1)
    assert h.chat().choices[0].message.text == "Hi there"


def test_a_nested_error_body_within_the_parser_limit_is_still_an_error(kind: str) -> None:
    # Parses (under the recursion limit) but too deep to walk safely: shown as text.
    body = '{"detail": ' + "[" * 900 + "]" * 900 + "}"
    h = Harness(kind, [Reply(status=400, body=body.encode())])
    with pytest.raises(NugenError) as info:
        h.chat()
    assert info.value.status_code == 400  # type: ignore[attr-defined]


def test_a_deeply_nested_error_event_is_a_nugen_error(kind: str) -> None:
    event = '{"error": ' + DEEP + "}"
    h = Harness(kind, [Reply.stream(sse(chunk("Hel"), event))])
    got, error = h.stream_until_error()
    assert [c.choices[0].delta.content for c in got] == ["Hel"]
    assert isinstance(error, NugenError)


def test_an_explicit_error_event_with_deep_data_is_a_server_error(kind: str) -> None:
    body = f"event: error\ndata: {DEEP}\n\n".encode()
    h = Harness(kind, [Reply.stream(body)])
    _, error = h.stream_until_error()
    assert isinstance(error, InternalServerError)


def test_a_deeply_nested_success_body_is_a_response_error(kind: str) -> None:
    h = Harness(kind, [Reply(body=('{"choices": ' + DEEP + "}").encode())])
    with pytest.raises(APIResponseValidationError):
        h.chat()


# ---------------------------------------------------------- a key echoed at the cut


def _cut_at(limit: int, prefix: str = "", suffix: str = "") -> str:
    """Text whose first ``limit`` characters end halfway through the key."""
    pad = limit - len(prefix) - len(KEY_HEAD)
    return prefix + "x" * pad + API_KEY + suffix


def _leaks(text: str | None) -> bool:
    return text is not None and KEY_HEAD in text


@pytest.mark.parametrize("status", [400, 500])
def test_a_key_at_the_cut_of_an_error_message_is_redacted_whole(kind: str, status: int) -> None:
    # Plain-text bodies are shown up to 500 characters.
    h = Harness(kind, [Reply(status=status, body=_cut_at(500).encode())], max_retries=0)
    with pytest.raises(NugenError) as info:
        h.chat()
    assert not _leaks(str(info.value))
    assert not _leaks(repr(info.value.args))


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param('{"choices": "', id="unreadable"),  # fails validation
        pytest.param('{"choices": [], "id": "', id="no-choices"),  # valid, but no answer
    ],
)
def test_a_key_at_the_cut_of_a_quoted_response_is_redacted_whole(kind: str, prefix: str) -> None:
    # A response the client cannot use is quoted up to 500 characters (message and body).
    text = _cut_at(500, prefix=prefix, suffix='"}')
    h = Harness(kind, [Reply(body=text.encode(), headers={"content-type": "application/json"})])
    with pytest.raises(APIResponseValidationError) as info:
        h.chat()
    assert not _leaks(str(info.value))
    assert not _leaks(info.value.body)  # type: ignore[arg-type]


def test_a_key_at_the_cut_of_a_malformed_stream_event_is_redacted_whole(kind: str) -> None:
    # Malformed events are quoted up to 200 characters.
    event = _cut_at(200, prefix='{"choices": "', suffix='"}')
    h = Harness(kind, [Reply.stream(sse(chunk("Hel"), event))])
    _, error = h.stream_until_error()
    assert isinstance(error, APIResponseValidationError)
    assert not _leaks(str(error))
    assert not _leaks(error.body)


# ---------------------------------------------------------- NaN and infinities


def _with_numbers(text: str, **numbers: str) -> bytes:
    # json.dumps cannot write NaN into a chosen field, so the literal is put in by hand.
    for name, literal in numbers.items():
        text = text.replace(f'"{name}": 0', f'"{name}": {literal}')
    return text.encode()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_an_answer_read_as_absent(kind: str, literal: str) -> None:
    text = json.dumps(completion_body(created=0, confidence_score=0))
    body = _with_numbers(text, created=literal, confidence_score=literal)
    h = Harness(kind, [Reply(body=body, headers={"content-type": "application/json"})])
    completion = h.chat()
    assert completion.created is None
    assert completion.confidence_score is None
    assert completion.header_metadata() == {"id": "nugen-1"}


def test_non_finite_numbers_in_a_stream_read_as_absent(kind: str) -> None:
    last = json.dumps({**chunk(finish="stop"), "created": 0, "confidence_score": 0})
    event = _with_numbers(last, created="NaN", confidence_score="Infinity").decode()
    h = Harness(kind, [Reply.stream(sse(chunk("Hi"), event))])
    chunks = h.stream()
    assert chunks[-1].created is None
    assert chunks[-1].confidence_score is None


def test_finite_numbers_and_nulls_are_read_as_before(kind: str) -> None:
    body = completion_body(created=1783497981, confidence_score=None)
    completion = Harness(kind, [Reply(json=body)]).chat()
    assert completion.created == 1783497981.0
    assert completion.confidence_score is None


def test_a_created_that_is_no_number_is_still_an_error(kind: str) -> None:
    h = Harness(kind, [Reply(json=completion_body(created="soon"))])
    with pytest.raises(APIResponseValidationError, match="created"):
        h.chat()


# ---------------------------------------------------------- huge error bodies

HUGE = "y" * 200_000


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"detail": HUGE}, id="detail"),
        pytest.param(
            {"detail": [{"loc": ["body", i], "msg": "bad"} for i in range(20_000)]}, id="list"
        ),
        pytest.param({"detail": [HUGE]}, id="list-of-text"),
        pytest.param({"error": {"message": HUGE}}, id="error-message"),
        pytest.param({"error": {"message": {"nested": HUGE}}}, id="error-message-object"),
        pytest.param({"error": HUGE}, id="error"),
        pytest.param({"message": HUGE}, id="message"),
    ],
)
def test_a_huge_error_body_gives_a_message_of_bounded_size(kind: str, body: object) -> None:
    # Every form of error body is cut in the message (the whole body stays on .body), as a
    # body of any other form is: a message is logged and traced whole.
    h = Harness(kind, [Reply(status=400, json=body)], max_retries=0)
    with pytest.raises(NugenError) as info:
        h.chat()
    assert len(str(info.value)) < 3_000
    assert str(info.value).startswith("400 Bad Request: ")
    assert info.value.body == body  # type: ignore[attr-defined]


# ---------------------------------------------------------- a key echoed encoded

ODD_KEY = "sk-Ab+cD/eF=gH0123456789"


def _encoded_echoes() -> list[Any]:
    bearer = f"Bearer {ODD_KEY}".encode()
    return [
        pytest.param(urllib.parse.quote(ODD_KEY, safe=""), id="url-encoded"),
        pytest.param(urllib.parse.quote_plus(ODD_KEY), id="form-encoded"),
        pytest.param(ODD_KEY.replace("/", "\\/"), id="json-escaped-slash"),
        pytest.param(base64.b64encode(bearer).decode(), id="base64-bearer"),
        pytest.param(base64.b64encode(ODD_KEY.encode()).decode(), id="base64"),
        pytest.param(base64.b64encode(b"Authorization: " + bearer).decode(), id="base64-header"),
        pytest.param(base64.urlsafe_b64encode(b"x:" + ODD_KEY.encode()).decode(), id="urlsafe"),
    ]


def _b64_cores(text: str) -> bool:
    """Whether ``text`` holds 12 characters in a row of any base64 form of the key."""
    forms = []
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(b"\0" * offset + ODD_KEY.encode()).decode()[4:-4])
    return any(form[i : i + 12] in text for form in forms for i in range(len(form) - 11))


@pytest.mark.parametrize("echo", _encoded_echoes())
@pytest.mark.parametrize("status", [200, 401])
def test_a_key_echoed_encoded_is_redacted(kind: str, echo: str, status: int) -> None:
    # A server (or a proxy in front of it) that quotes the request back in an error may
    # quote the key URL-encoded, JSON-escaped or in base64 (an Authorization header).
    body = f'{{"error": "invalid credentials {echo}", "choices": 1}}'.encode()
    h = Harness(kind, [Reply(status=status, body=body)], api_key=ODD_KEY, max_retries=0)
    with pytest.raises(NugenError) as info:
        h.chat()
    for text in (str(info.value), repr(info.value.body)):  # type: ignore[attr-defined]
        assert echo not in text
        assert ODD_KEY not in text.replace("\\", "")  # JSON-escaped, then quoted by repr
        assert not _b64_cores(text)


GATEWAY_SECRET = "gw-secret-0123456789"


@pytest.mark.parametrize("status", [200, 401, 500])
def test_a_credential_header_value_echoed_is_redacted(kind: str, status: int) -> None:
    # default_headers values are never shown (but for a few safe names): a gateway that
    # echoes its credential header in an error must not put it in the exception either.
    body = json.dumps({"error": f"bad X-Auth-Key {GATEWAY_SECRET}", "choices": 1})
    h = Harness(
        kind,
        [Reply(status=status, body=body.encode())],
        max_retries=0,
        default_headers={"X-Auth-Key": GATEWAY_SECRET, "X-Trace-Tag": "on"},
    )
    with pytest.raises(NugenError) as info:
        h.chat()
    assert GATEWAY_SECRET not in str(info.value)
    assert GATEWAY_SECRET not in repr(info.value.body)  # type: ignore[attr-defined]


def test_a_credential_header_value_echoed_in_a_stream_error_is_redacted(kind: str) -> None:
    event = {"error": {"message": f"gateway rejected {GATEWAY_SECRET}", "code": 401}}
    h = Harness(
        kind,
        [Reply.stream(sse(chunk("Hel"), event))],
        default_headers={"X-Auth-Key": GATEWAY_SECRET},
    )
    _, error = h.stream_until_error()
    assert isinstance(error, NugenError)
    assert GATEWAY_SECRET not in str(error)


# ---------------------------------------------------------- an error body we cannot read


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(status=502, body=b"<html>" + b"x" * 5_000, piece=1_000), id="too-big"),
        pytest.param(
            Reply(status=503, body=b"\x0b\x02\x80", headers={"content-encoding": "br"}, piece=9),
            id="encoding-not-asked-for",
        ),
        pytest.param(
            Reply(status=500, body=b"not gzip", headers={"content-encoding": "gzip"}, piece=9),
            id="undecodable",
        ),
    ],
)
def test_an_unreadable_error_body_keeps_its_status_and_is_retried(kind: str, reply: Reply) -> None:
    # The status says what happened before the body is read: a 5xx whose body is over
    # max_response_bytes or cannot be decoded is still that 5xx, retried as any other.
    h = Harness(kind, [reply, OK], max_retries=1, max_response_bytes=1_000)
    assert h.chat().choices[0].message.text == "Hi there"
    assert len(h.requests) == 2
    h = Harness(kind, [reply], max_retries=0, max_response_bytes=1_000)
    with pytest.raises(InternalServerError) as info:
        h.chat()
    assert info.value.status_code == reply.status
    assert "body" in str(info.value)


@pytest.mark.parametrize("status", [401, 500])
def test_a_call_credential_header_value_echoed_is_redacted(kind: str, status: int) -> None:
    # The same for a credential given to one call (extra_headers).
    body = json.dumps({"error": f"bad X-Auth-Key {GATEWAY_SECRET}"})
    h = Harness(kind, [Reply(status=status, body=body.encode())], max_retries=0)
    with pytest.raises(NugenError) as info:
        h.chat(extra_headers={"X-Auth-Key": GATEWAY_SECRET})
    assert GATEWAY_SECRET not in str(info.value)
    assert GATEWAY_SECRET not in repr(info.value.body)  # type: ignore[attr-defined]


def test_a_call_credential_header_value_echoed_in_a_stream_is_redacted(kind: str) -> None:
    event = {"error": {"message": f"gateway rejected {GATEWAY_SECRET}", "code": 401}}
    h = Harness(kind, [Reply.stream(sse(chunk("Hel"), event))])
    _, error = h.stream_until_error(extra_headers={"X-Auth-Key": GATEWAY_SECRET})
    assert isinstance(error, NugenError)
    assert GATEWAY_SECRET not in str(error)
    assert GATEWAY_SECRET not in repr(error.body)  # type: ignore[attr-defined]


def test_a_call_credential_header_value_echoed_in_an_unreadable_answer_is_redacted(
    kind: str,
) -> None:
    # A 200 that is not the answer asked for (no choices) quotes its body in the error.
    body = json.dumps({"echo": f"X-Auth-Key: {GATEWAY_SECRET}"})
    h = Harness(kind, [Reply(status=200, body=body.encode())], max_retries=0)
    with pytest.raises(NugenError) as info:
        h.chat(extra_headers={"X-Auth-Key": GATEWAY_SECRET})
    assert GATEWAY_SECRET not in str(info.value)
    assert GATEWAY_SECRET not in repr(info.value.body)  # type: ignore[attr-defined]


@pytest.mark.parametrize("header", ["Proxy-Authorization", "Authorization", "X-Auth-Key"])
def test_the_token_of_a_credential_header_with_a_scheme_echoed_alone_is_redacted(
    kind: str, header: str
) -> None:
    # "Bearer <token>" / "Basic <token>": a gateway rejecting the token quotes the token,
    # not the header value.
    body = json.dumps({"error": f"invalid token {GATEWAY_SECRET}"})
    h = Harness(kind, [Reply(status=401, body=body.encode())], max_retries=0)
    with pytest.raises(NugenError) as info:
        h.chat(extra_headers={header: f"Basic {GATEWAY_SECRET}"})
    assert GATEWAY_SECRET not in str(info.value)
    assert GATEWAY_SECRET not in repr(info.value.body)  # type: ignore[attr-defined]
