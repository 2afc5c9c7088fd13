"""The retry schedule for provider calls, as pure functions.

Kept apart from the loop that sleeps (``receiver.providers.transport``) so every decision
can be tested without time passing: given the attempt that just failed, its error,
whether the call is idempotent and how much of the budget is spent, :func:`next_delay`
answers "wait this long, then try again" or "give up" (``None``).

Schedule (defaults of :class:`RetryPolicy`):

* at most 4 attempts in all (1 + 3 retries), and at most 20 s of waiting in all;
* exponential backoff 0.5 s, 1 s, 2 s... capped at 8 s, with "equal jitter": the wait
  is drawn uniformly from the upper half of that step, so concurrent workers spread
  out but never retry sooner than half the step;
* a ``Retry-After`` from the provider replaces the backoff step exactly (it is the
  provider's own word); when it asks for more than the remaining budget we give up
  at once and the caller gets the error, with ``retry_after`` on it, to reschedule;
* only errors whose :attr:`~receiver.providers.errors.ProviderError.retryable` is true
  for this call are retried (see ``errors.py`` for which those are).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from receiver.providers.errors import ProviderCallError, RetrySafety


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one provider call is retried before the error reaches the caller."""

    max_attempts: int = 4
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 8.0
    budget: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.budget) < 0 or self.multiplier < 1:
            raise ValueError("delays and budget must be >= 0 and multiplier >= 1")


NO_RETRY = RetryPolicy(max_attempts=1)


def may_retry(error: BaseException, *, idempotent: bool) -> bool:
    """Whether ``error`` on a call of this idempotency is worth repeating at all."""
    if not isinstance(error, ProviderCallError):
        return False
    if error.safety is RetrySafety.ALWAYS:
        return True
    return error.safety is RetrySafety.IF_IDEMPOTENT and idempotent


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """The jittered wait after failed attempt number ``attempt`` (1-based)."""
    step = min(policy.max_delay, policy.base_delay * policy.multiplier ** (attempt - 1))
    return step / 2 + rng.uniform(0, step / 2)


def next_delay(
    attempt: int,
    error: BaseException,
    *,
    idempotent: bool,
    policy: RetryPolicy,
    waited: float,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or ``None`` to give up.

    ``attempt`` is the 1-based number of the attempt that just failed with ``error``;
    ``waited`` is the time already spent waiting between earlier attempts of this call.
    """
    if attempt >= policy.max_attempts or not may_retry(error, idempotent=idempotent):
        return None
    retry_after = error.retry_after if isinstance(error, ProviderCallError) else None
    if retry_after is not None:
        delay = max(0.0, retry_after)
    else:
        delay = backoff_delay(attempt, policy, rng)
    if waited + delay > policy.budget:
        return None
    return delay


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Read a ``Retry-After`` header: delta-seconds or an HTTP-date, relative to ``now``.

    Returns seconds (never negative) or ``None`` when absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
