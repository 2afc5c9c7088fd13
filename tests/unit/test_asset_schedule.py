"""Download retries: doubling waits, capped, never past the URL's expiry."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from receiver.assets.schedule import RetryPolicy, next_attempt, retry_deadline

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(first=10, maximum=300, jitter=0)


def wait(attempts: int, deadline: datetime = NOW + timedelta(days=1)) -> float | None:
    at = next_attempt(attempts, NOW, deadline, POLICY, random.Random(0))
    return None if at is None else (at - NOW).total_seconds()


def test_waits_double_up_to_the_maximum() -> None:
    assert [wait(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_the_last_try_is_at_the_deadline_and_then_it_gives_up() -> None:
    assert wait(5, NOW + timedelta(seconds=30)) == 30
    assert wait(1, NOW) is None
    assert wait(1, NOW - timedelta(seconds=1)) is None


def test_the_deadline_is_the_providers_expiry_else_the_horizon() -> None:
    expires = NOW + timedelta(hours=24)
    assert retry_deadline(expires, NOW, timedelta(hours=1)) == expires
    assert retry_deadline(None, NOW, timedelta(hours=1)) == NOW + timedelta(hours=1)


@given(st.integers(1, 50), st.integers(0, 10**6), st.integers(0, 2**32))
def test_jittered_waits_stay_in_bounds(attempts: int, seconds_left: int, seed: int) -> None:
    policy = RetryPolicy(first=10, maximum=300, jitter=0.2)
    deadline = NOW + timedelta(seconds=seconds_left)
    at = next_attempt(attempts, NOW, deadline, policy, random.Random(seed))
    if seconds_left == 0:
        assert at is None
        return
    assert at is not None
    assert NOW < at <= deadline
    assert (at - NOW).total_seconds() <= 300 * 1.2
