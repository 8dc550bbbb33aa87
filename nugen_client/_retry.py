"""When to retry, and how long to wait: one policy for the sync and async clients.

The loop is tenacity's (:func:`retrying`; tenacity is imported by the first retry), so the
callbacks get tenacity's ``RetryCallState`` (see :data:`OnRetry`). The clients make the
first attempt outside it (most calls need no loop); one that failed with a retryable error
starts the loop, which takes that failure as its first outcome.
"""

from __future__ import annotations

import datetime
import email.utils
import inspect
import logging
import math
import numbers
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from nugen_client._errors import APIConnectionError, APIStatusError, InvalidInputError, reword

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState, Retrying

logger = logging.getLogger("nugen_client")

OnRetry = Callable[["RetryCallState"], "Awaitable[None] | None"]
"""Called before each retry with tenacity's ``RetryCallState`` (awaited if it returns an
awaitable): ``attempt_number`` (the attempt that just failed, from 1), ``outcome.exception()``
(the ``NugenError`` it failed with) and ``upcoming_sleep`` (seconds until the next attempt).

tenacity's own type: LangChain's ``BaseCallbackHandler.on_retry(retry_state)`` takes exactly
this object, so ``ChatNugen`` hands it on unchanged rather than forging one.
"""

_RetryingT = TypeVar("_RetryingT", "Retrying", "AsyncRetrying")


def is_retryable(error: BaseException) -> bool:
    """Connection errors, timeouts, 408, 409, 429 and 5xx; never other 4xx, nor a call
    whose client was closed under it."""
    if isinstance(error, APIStatusError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return isinstance(error, APIConnectionError) and not error._client_closed


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP
    date; None when absent or unreadable (``nan`` and ``inf`` included: the backoff then
    applies, never a NaN sleep or the longest cap)."""
    for name, per_second in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) / per_second
        except ValueError:  # absent, or not a number (Retry-After may be a date)
            continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after", ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000", no zone stated: an HTTP date is GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, or the server's ``Retry-After`` (capped)."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        # Refused now, not at the first retry (after a request already failed).
        for name in (field.name for field in fields(self)):
            value: float = getattr(self, name)
            kind = numbers.Integral if name == "max_retries" else numbers.Real
            if isinstance(value, bool) or not (
                isinstance(value, kind) and math.isfinite(value) and value >= 0
            ):
                what = "a whole number" if name == "max_retries" else "a finite number of seconds"
                raise InvalidInputError(f"RetryPolicy {name} must be {what} >= 0, got {value!r}")

    def delay(self, attempt_number: int, error: BaseException | None) -> float:
        """Seconds to wait before attempt ``attempt_number + 1``."""
        if isinstance(error, APIStatusError):
            retry_after = parse_retry_after(error.headers)
            if retry_after is not None:
                return min(retry_after, self.max_retry_after)
        base = min(self.initial_delay * 2.0 ** (attempt_number - 1), self.max_delay)
        # "Equal jitter": never less than half the backoff, never in lock-step with peers.
        return base / 2.0 + random.uniform(0.0, base / 2.0)


def retrying(
    cls: type[_RetryingT],
    policy: RetryPolicy,
    on_retry: OnRetry | None,
    sleep: Callable[[float], Any] | None,
    deadline: float | None,
) -> _RetryingT:
    """tenacity's ``Retrying`` or ``AsyncRetrying`` for one request: the policy's stop and
    wait, retryable errors only, a log line and the caller's ``on_retry`` before each retry,
    ``sleep`` if given. A retry whose wait would reach ``deadline`` (``time.monotonic()``)
    is not waited for: the call ends with that attempt's error (a 429 stays a
    ``RateLimitError``), its message saying why it was not retried."""
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        delay = policy.delay(state.attempt_number, error)
        if (
            deadline is not None
            and state.attempt_number <= policy.max_retries  # a retry is coming
            and time.monotonic() + delay >= deadline
            and error is not None
        ):
            raise reword(
                error,
                suffix=f" (not retried: the next attempt could start only after {delay:.1f} s, "
                "past the call's deadline)",
            )
        return delay

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
        await _awaited(log_retry(state))

    async def asleep(seconds: float) -> None:
        await _awaited(sleep(seconds) if sleep is not None else None)  # either kind too

    is_async = issubclass(cls, AsyncRetrying)
    kwargs: dict[str, Any] = {
        "stop": stop_after_attempt(policy.max_retries + 1),
        "wait": wait,
        "retry": retry_if_exception(is_retryable),
        "reraise": True,
        "before_sleep": alog_retry if is_async else log_retry,
    }
    if sleep is not None:
        kwargs["sleep"] = asleep if is_async else sleep
    return cls(**kwargs)


async def _awaited(result: object) -> None:
    if inspect.isawaitable(result):
        await result
