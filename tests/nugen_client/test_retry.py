from __future__ import annotations

import email.utils
import time

import pytest

from nugen_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    RetryPolicy,
    StreamInterruptedError,
)
from nugen_client._errors import make_status_error
from nugen_client._retry import is_retryable, parse_retry_after
from tests.support.harness import Harness, Reply, completion_body

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "500", "retry-after": "5"}, 0.5),  # the finer one wins
        ({"retry-after-ms": "junk", "retry-after": "2"}, 2.0),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"retry-after": "next tuesday"}, None),
        # A year too large for a datetime (an OverflowError, not a ValueError, below).
        ({"retry-after": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    result = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset is Unix only")
def test_an_http_date_without_a_stated_zone_is_gmt(monkeypatch: pytest.MonkeyPatch) -> None:
    # "-0000" says no zone; an HTTP date is GMT whatever the machine's own zone.
    date = email.utils.formatdate(NOW + 30).replace("+0000", "-0000")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert parse_retry_after({"retry-after": date}, now=NOW) == pytest.approx(30.0)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (make_status_error(408, None), True),
        (make_status_error(409, None), True),
        (make_status_error(429, None), True),
        (make_status_error(500, None), True),
        (make_status_error(599, None), True),
        (make_status_error(400, None), False),
        (make_status_error(401, None), False),
        (make_status_error(403, None), False),
        (make_status_error(404, None), False),
        (make_status_error(422, None), False),
        (APIConnectionError("x"), True),
        (APITimeoutError("x"), True),
        (StreamInterruptedError("x"), False),
        (InvalidInputError("x"), False),
        (ValueError("x"), False),
    ],
)
def test_what_is_retried(error: BaseException, retry: bool) -> None:
    assert is_retryable(error) is retry


def test_delay_honours_retry_after_with_a_cap() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    error = make_status_error(429, None)
    error.headers["retry-after"] = "4"
    assert policy.delay(1, error) == 4.0
    error.headers["retry-after"] = "400"
    assert policy.delay(1, error) == 10.0


def test_backoff_bounds() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (10, 4.0)]:
        delays = {policy.delay(attempt, None) for _ in range(50)}
        assert all(base / 2 <= d <= base for d in delays)
        assert len(delays) > 1  # jittered


def test_status_error_message() -> None:
    error = make_status_error(503, {"detail": "overloaded"}, request_id="abc")
    assert isinstance(error, APIStatusError)
    assert str(error) == "503 Service Unavailable: overloaded [request id: abc]"


@pytest.mark.parametrize(
    "options",
    [
        {"max_retries": -1},
        {"max_retries": "2"},
        {"max_retries": 1.5},
        {"max_retries": True},
        {"initial_delay": -1},
        {"initial_delay": float("nan")},
        {"max_delay": float("inf")},
        {"max_retry_after": -5},
        {"max_retry_after": "60"},
    ],
)
def test_a_retry_policy_that_cannot_wait_is_refused_when_made(options: dict[str, object]) -> None:
    # Otherwise the first retry, after a request already failed, raised ValueError from
    # time.sleep (a negative or NaN wait; the async client slept none) or TypeError.
    with pytest.raises(InvalidInputError, match=next(iter(options))):
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert RetryPolicy(max_retries=0, initial_delay=0, max_delay=0, max_retry_after=0)


def test_max_retries_assigned_after_construction_is_the_one_used(kind: str) -> None:
    h = Harness(kind, [Reply(status=503)] * 4 + [Reply(json=completion_body())], max_retries=0)
    h.client.max_retries = 4
    assert h.client.retry_policy.max_retries == 4
    h.chat()
    assert len(h.requests) == 5
    with pytest.raises(InvalidInputError, match="max_retries"):
        h.client.max_retries = -1
