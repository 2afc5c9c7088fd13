"""The retry policy, pure: what each answer means and when the next attempt is."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.delivery.schedule import (
    DEFAULT_SCHEDULE,
    AttemptResult,
    Policy,
    Verdict,
    decide,
    retry_after_seconds,
    schedule_bounds,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
EXACT = Policy(schedule=(5, 300, 1800), jitter=0, retry_after_max=600)


def after(result: AttemptResult, attempts: int, policy: Policy = EXACT) -> tuple[Verdict, float]:
    decision = decide(result, attempts, policy, NOW, random.Random(0))
    wait = (decision.next_attempt_at - NOW).total_seconds() if decision.next_attempt_at else -1
    return decision.verdict, wait


def test_default_schedule_is_the_issues() -> None:
    # immediately (the first attempt), then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    assert DEFAULT_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert Policy().max_attempts == 8
    assert Policy().jitter == 0.2


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_succeeds(status: int) -> None:
    assert after(AttemptResult(status), 1) == (Verdict.SUCCEEDED, -1)


@pytest.mark.parametrize("status", [301, 302, 307, 308, 400, 401, 404, 408, 500, 502, 504])
def test_other_statuses_retry_on_the_schedule(status: int) -> None:
    assert [after(AttemptResult(status), n)[1] for n in (1, 2, 3)] == [5, 300, 1800]


def test_redirects_say_they_were_not_followed() -> None:
    decision = decide(AttemptResult(302), 1, EXACT, NOW, random.Random(0))
    assert decision.reason == "HTTP 302: redirects are not followed"


def test_errors_retry_on_the_schedule() -> None:
    verdict, wait = after(AttemptResult(error="timed out after 15 s"), 2)
    assert (verdict, wait) == (Verdict.RETRY, 300)


def test_dead_after_the_last_attempt() -> None:
    # three retries configured: attempts 1..3 retry, the 4th failure is final
    assert after(AttemptResult(500), 3)[0] is Verdict.RETRY
    decision = decide(AttemptResult(500), 4, EXACT, NOW, random.Random(0))
    assert decision.verdict is Verdict.DEAD
    assert decision.next_attempt_at is None
    assert decision.reason == "HTTP 500 (after 4 attempts; dead-lettered)"


def test_410_is_gone_at_once() -> None:
    decision = decide(AttemptResult(410), 1, EXACT, NOW, random.Random(0))
    assert decision.verdict is Verdict.GONE
    assert "410" in (decision.reason or "")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_and_clamped(status: int) -> None:
    assert after(AttemptResult(status, retry_after="42"), 1) == (Verdict.RETRY, 42)
    assert after(AttemptResult(status, retry_after="86400"), 1) == (Verdict.RETRY, 600)
    http_date = "Tue, 01 Jan 2030 12:02:00 GMT"
    assert after(AttemptResult(status, retry_after=http_date), 1) == (Verdict.RETRY, 120)
    # no usable header: the schedule
    assert after(AttemptResult(status), 2) == (Verdict.RETRY, 300)
    assert after(AttemptResult(status, retry_after="soon"), 2) == (Verdict.RETRY, 300)


def test_retry_after_counts_as_an_attempt() -> None:
    assert after(AttemptResult(429, retry_after="1"), 4)[0] is Verdict.DEAD


def test_retry_after_is_ignored_on_other_statuses() -> None:
    assert after(AttemptResult(500, retry_after="42"), 1) == (Verdict.RETRY, 5)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("0", NOW) == 0
    assert retry_after_seconds(" 7 ", NOW) == 7
    assert retry_after_seconds("Tue, 01 Jan 2030 11:00:00 GMT", NOW) == 0  # in the past
    assert retry_after_seconds("-5", NOW) is None
    assert retry_after_seconds("", NOW) is None
    assert retry_after_seconds(None, NOW) is None


@given(st.integers(min_value=1, max_value=7), st.integers(min_value=0, max_value=2**32))
def test_jitter_stays_within_twenty_percent(attempts: int, seed: int) -> None:
    policy = Policy()
    decision = decide(AttemptResult(500), attempts, policy, NOW, random.Random(seed))
    assert decision.next_attempt_at is not None
    wait = (decision.next_attempt_at - NOW).total_seconds()
    low, high = schedule_bounds(policy)[attempts - 1]
    assert low - 1e-6 <= wait <= high + 1e-6


def test_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    waits = {
        decide(AttemptResult(500), 3, Policy(), NOW, rng).next_attempt_at - NOW  # type: ignore[operator]
        for _ in range(20)
    }
    assert len(waits) > 1
    assert all(timedelta(seconds=1440) <= w <= timedelta(seconds=2160) for w in waits)


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Policy(schedule=(5, -1))
    with pytest.raises(ValueError, match="jitter"):
        Policy(jitter=1.5)
