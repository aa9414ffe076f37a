"""When to retry a GitHub request and how long to wait, following GitHub's rate-limit guidance."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

SECONDARY_LIMIT_TEXT = "secondary rate limit"


@dataclass(frozen=True)
class ClientOptions:
    """Knobs of the REST client; tests shrink the waits or inject `sleep`/`clock`/`now`."""

    max_attempts: int = 5
    backoff: float = 1.0  # first exponential backoff, doubled per attempt
    max_wait: float = 60.0  # cap on one backoff; a server asking for longer is not retried
    total_wait: float = 180.0  # budget for all the waits of one request
    secondary_wait: float = 60.0  # GitHub: wait ≥ 1 min after a secondary limit that names no time
    min_write_interval: float = 1.0  # GitHub: ≥ 1 s between writes
    timeout: float = 30.0  # per HTTP request (connect and read)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)  # epoch, for resets

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        waits = (self.backoff, self.max_wait, self.total_wait, self.secondary_wait, self.min_write_interval)
        if min(waits) < 0:
            raise ValueError("waits and intervals must not be negative")


@dataclass(frozen=True)
class Wait:
    seconds: float
    reason: str
    dictated: bool  # the server named the time: waiting less is pointless, so longer than max_wait → stop


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value.strip() if value else None


def _retry_after(value: str, now: float) -> float | None:
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:  # RFC 9110 also allows an HTTP date
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def is_secondary_limit(status: int, headers: Mapping[str, str], body: str) -> bool:
    return status in (403, 429) and (
        SECONDARY_LIMIT_TEXT in body.lower() or _header(headers, "retry-after") is not None
    )


def is_primary_limit(status: int, headers: Mapping[str, str]) -> bool:
    return status in (403, 429) and _header(headers, "x-ratelimit-remaining") == "0"


def is_retryable(status: int, headers: Mapping[str, str], body: str) -> bool:
    return (
        status >= 500 or status == 429 or is_secondary_limit(status, headers, body) or is_primary_limit(status, headers)
    )


def backoff(options: ClientOptions, attempt: int) -> float:
    return min(options.backoff * 2.0 ** (attempt - 1), options.max_wait)


def wait_for(options: ClientOptions, attempt: int, status: int | None, headers: Mapping[str, str], body: str) -> Wait:
    """Retry-After first, then x-ratelimit-reset when the quota is used up, then GitHub's secondary-limit
    minimum, else exponential backoff (`status` None: a network error)."""
    retry_after = _header(headers, "retry-after")
    if retry_after is not None:
        seconds = _retry_after(retry_after, options.now())
        if seconds is not None:
            return Wait(seconds, f"{status}, Retry-After: {retry_after}", dictated=True)
    reset = _header(headers, "x-ratelimit-reset")
    if status is not None and is_primary_limit(status, headers) and reset is not None:
        try:
            seconds = max(float(reset) - options.now(), 0.0)
        except ValueError:
            pass
        else:
            return Wait(seconds, f"{status}, quota used up until x-ratelimit-reset {reset}", dictated=True)
    if status is not None and is_secondary_limit(status, headers, body):
        return Wait(options.secondary_wait, f"{status}, secondary rate limit", dictated=True)
    return Wait(backoff(options, attempt), f"{status or 'network error'}, backoff", dictated=False)
