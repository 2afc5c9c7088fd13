"""When to poll a task next: a pure function of provider, age, attempts and last outcome.

Every number comes from settings (one :class:`Cadence` per provider); randomness
comes from an injected ``random.Random`` so tests can pin it. The shapes:

* callback providers (apimodels.app): the first poll only after a grace period with no
  callback, then backing off: polling is the fallback for a lost callback;
* API Mall: first poll a few seconds after submission, every few seconds, backing off
  as the task ages;
* APIMart: first poll 10-20 s after submission, then every 3-5 s, as its docs ask.

Every interval gets ±``jitter`` so tasks submitted together spread out, and no poll is
scheduled past the task's deadline, so the "one last poll" at the deadline happens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class PollOutcome(StrEnum):
    """What the previous poll of this task found."""

    CHANGED = "changed"  # the task moved on: keep the pace
    UNCHANGED = "unchanged"  # same as before: back off as the task ages
    NOT_FOUND = "not_found"  # the provider does not (yet) know the id
    ERROR = "error"  # the call failed; provider-wide pressure is handled elsewhere


@dataclass(frozen=True, slots=True)
class Cadence:
    """Poll timing for one provider; every value is a setting."""

    first_delay: tuple[float, float]  # seconds after submission, drawn uniformly
    interval: tuple[float, float]  # base seconds between polls, drawn uniformly
    growth: float  # each unchanged poll multiplies the interval by this (1 = flat)
    max_interval: float
    jitter: float = 0.1  # ± fraction applied to every delay

    def __post_init__(self) -> None:
        for name, (low, high) in (("first_delay", self.first_delay), ("interval", self.interval)):
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {low}..{high}")
        if self.growth < 1:
            raise ValueError("growth must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


def first_poll_at(
    cadence: Cadence, submitted_at: datetime, deadline: datetime, rng: random.Random
) -> datetime:
    """When a freshly submitted task is polled for the first time."""
    delay = _jittered(rng.uniform(*cadence.first_delay), cadence.jitter, rng)
    return min(submitted_at + timedelta(seconds=delay), deadline)


def next_poll_delay(
    cadence: Cadence, *, attempts: int, last: PollOutcome, rng: random.Random
) -> float:
    """Seconds until the next poll, after ``attempts`` polls of which the last gave ``last``.

    Unchanged, missing and failed results back off geometrically (``growth`` per
    attempt, failures at least doubling) up to ``max_interval``; a change keeps the
    base pace, because a task that just moved is likely to move again soon.
    """
    base = rng.uniform(*cadence.interval)
    if last is PollOutcome.CHANGED:
        delay = base
    else:
        growth = max(cadence.growth, 2.0) if last is PollOutcome.ERROR else cadence.growth
        delay = base * growth ** max(0, attempts - 1)
    return _jittered(min(delay, cadence.max_interval), cadence.jitter, rng)


def next_poll_at(
    now: datetime,
    deadline: datetime,
    cadence: Cadence,
    *,
    attempts: int,
    last: PollOutcome,
    rng: random.Random,
) -> datetime:
    delay = next_poll_delay(cadence, attempts=attempts, last=last, rng=rng)
    return min(now + timedelta(seconds=delay), max(deadline, now))


def _jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    return max(0.0, seconds * (1 + rng.uniform(-jitter, jitter)))
