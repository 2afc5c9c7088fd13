"""What a webhook attempt's outcome means, and when to try again. Pure: no I/O.

The dispatcher hands every attempt's result to :func:`decide` and stores what it
returns, so the whole retry policy is here and tested without a network or a clock:

* 2xx is success;
* 410 Gone means the subscriber asks us to stop: the delivery is dead and the
  subscriber disabled;
* 429 and 503 with a ``Retry-After`` are retried when the subscriber asked (capped at
  ``retry_after_max``), instead of on the schedule;
* everything else (3xx, which is never followed; 4xx; 5xx; a timeout; a connection
  error; a refused target) is retried on the schedule;
* each retry, whatever the wait before it, uses one entry of the schedule; when the
  attempt after the last entry fails, the delivery is dead-lettered.

The first attempt is immediate (the dispatcher's next tick after the event); the
schedule lists the wait before each retry. The default
``(5, 300, 1800, 7200, 18000, 36000, 36000)`` makes "immediately, 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h": eight attempts over about 28 hours. Every wait is
spread by ±``jitter`` so that a subscriber coming back from an outage is not hit
by every retry in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)


class DeliveryStatus(StrEnum):
    """Where a delivery stands: waiting or being retried, delivered, or dead-lettered."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    DEAD = "dead"
    GONE = "gone"  # dead, and the subscriber is disabled


@dataclass(frozen=True, slots=True)
class Policy:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    retry_after_max: float = 3600

    def __post_init__(self) -> None:
        if any(delay < 0 for delay in self.schedule):
            raise ValueError("delivery schedule delays cannot be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per schedule entry."""
        return len(self.schedule) + 1


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one POST produced: a status code, or an error (timeout, refused...)."""

    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None  # the raw header, if any


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    next_attempt_at: datetime | None = None
    reason: str | None = None  # why it failed, for ``last_error`` and the log


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def describe_failure(result: AttemptResult) -> str | None:
    """The human reason an attempt failed (None when it succeeded)."""
    if result.error is not None:
        return result.error
    code = result.status_code
    if is_success(code):
        return None
    if code is not None and 300 <= code < 400:
        return f"HTTP {code}: redirects are not followed"
    return f"HTTP {code}"


def jittered(delay: float, jitter: float, rng: random.Random) -> float:
    """``delay`` spread uniformly over ±``jitter`` of itself."""
    if delay <= 0 or jitter <= 0:
        return max(delay, 0.0)
    return delay * rng.uniform(1 - jitter, 1 + jitter)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def decide(
    result: AttemptResult,
    attempts_made: int,
    policy: Policy,
    now: datetime,
    rng: random.Random,
) -> Decision:
    """What to do after an attempt; ``attempts_made`` counts it (1 after the first)."""
    code = result.status_code
    if result.error is None and is_success(code):
        return Decision(Verdict.SUCCEEDED)
    reason = describe_failure(result)
    if result.error is None and code == 410:
        return Decision(Verdict.GONE, reason=f"{reason}: the subscriber asked to stop")
    if attempts_made >= policy.max_attempts:
        return Decision(
            Verdict.DEAD, reason=f"{reason} (after {attempts_made} attempts; dead-lettered)"
        )
    delay: float | None = None
    if result.error is None and code in (429, 503):
        asked = retry_after_seconds(result.retry_after, now)
        if asked is not None:
            delay = min(asked, policy.retry_after_max)
    if delay is None:
        delay = jittered(policy.schedule[attempts_made - 1], policy.jitter, rng)
    return Decision(Verdict.RETRY, now + timedelta(seconds=delay), reason)


def schedule_bounds(policy: Policy) -> Sequence[tuple[float, float]]:
    """For each retry, the earliest and latest wait before it: what tests check."""
    return [(d * (1 - policy.jitter), d * (1 + policy.jitter)) for d in policy.schedule]
