"""Retry policy: pure functions, no I/O."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from time import time

__all__ = ["RETRYABLE_STATUS", "is_retryable_method", "retry_delay"]

RETRYABLE_STATUS = frozenset({502, 503, 504})
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 30.0


def is_retryable_method(method: str) -> bool:
    """Only reads are retried: InvokeAI has no idempotency keys for writes."""
    return method.upper() in {"GET", "HEAD"}


def retry_delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to sleep before retry number ``attempt`` (0-based).

    A server's ``Retry-After`` (seconds or an HTTP date) is honoured, capped at 30 s;
    otherwise the delay doubles from 0.5 s up to 8 s, with up to 25 % jitter off.
    """
    hinted = _parse_retry_after(retry_after)
    if hinted is not None and hinted >= 0:
        return float(min(hinted, MAX_RETRY_AFTER))
    delay = min(INITIAL_DELAY * 2.0**attempt, MAX_DELAY)
    return delay * (1 - 0.25 * random.random())


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return float(parsedate_to_datetime(value).timestamp()) - time()
    except (TypeError, ValueError):
        return None
