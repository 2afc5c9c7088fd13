"""When to try a failed image download again, and when to stop. Pure.

A result URL is only worth retrying while it can still work: until the provider's
``expires_at`` when it told us one (APIMart: completion + 24 h), else until a
default horizon after the task completed. Within that window the waits double from
``first`` up to ``maximum`` with ± ``jitter``, so a CDN outage is not hammered and a
short blip costs seconds. The last try is made at the deadline itself; a failure
then is final.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class AssetStatus(StrEnum):
    """One result image: still to fetch (or retrying), kept, refused for good, or given up."""

    PENDING = "pending"
    STORED = "stored"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: float  # seconds before the second attempt
    maximum: float  # longest wait between attempts
    jitter: float = 0.2


def retry_deadline(
    expires_at: datetime | None, completed_at: datetime, horizon: timedelta
) -> datetime:
    """The last moment a download is attempted."""
    return expires_at if expires_at is not None else completed_at + horizon


def next_attempt(
    attempts: int,
    now: datetime,
    deadline: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> datetime | None:
    """After ``attempts`` failed attempts, when to try again; None: give up."""
    if now >= deadline:
        return None
    delay = min(policy.maximum, policy.first * 2 ** max(attempts - 1, 0))
    delay *= 1 + rng.uniform(-policy.jitter, policy.jitter)
    return min(now + timedelta(seconds=max(delay, 0.0)), deadline)
