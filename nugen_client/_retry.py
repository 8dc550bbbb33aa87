"""When to retry, and how long to wait: one policy for the sync and async clients.

The loop itself is tenacity's (``Retrying`` / ``AsyncRetrying``), so the retry state handed
to callbacks is tenacity's ``RetryCallState``, which is also what LangChain's run managers
take in ``on_retry``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tenacity import RetryCallState

from nugen_client._errors import APIConnectionError, APIStatusError

__all__ = ["RetryPolicy", "is_retryable", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 409, 429})


def is_retryable(error: BaseException) -> bool:
    """Connection errors, timeouts, 408, 409, 429 and 5xx; never other 4xx."""
    if isinstance(error, APIStatusError):
        return error.status_code in RETRY_STATUSES or error.status_code >= 500
    return isinstance(error, APIConnectionError)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP
    date; None when absent or unreadable."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, or the server's ``Retry-After`` (capped)."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt_number: int, error: BaseException | None) -> float:
        """Seconds to wait before attempt ``attempt_number + 1``."""
        if isinstance(error, APIStatusError):
            retry_after = parse_retry_after(error.headers)
            if retry_after is not None:
                return min(retry_after, self.max_retry_after)
        base = min(self.initial_delay * 2.0 ** (attempt_number - 1), self.max_delay)
        # "Equal jitter": never less than half the backoff, never in lock-step with peers.
        return base / 2.0 + random.uniform(0.0, base / 2.0)

    def wait(self, state: RetryCallState) -> float:
        """tenacity ``wait=`` callback."""
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number, error)
