"""Hostile or broken servers, through both clients: what a reply can do to us (issue 15).

Each test fails on the client as it was before its fix: ``Retry-After: nan`` reached the
sleep (``ValueError`` from ``time.sleep``), ``inf`` waited the longest cap.
"""

from __future__ import annotations

import math

import pytest

from nugen_client import RateLimitError, RetryPolicy
from tests.support.harness import Harness, Reply, completion_body

OK = Reply(json=completion_body())


# ------------------------------------------------------------------ Retry-After (item 7)


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
