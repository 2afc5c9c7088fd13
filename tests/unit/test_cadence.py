"""Poll cadence: the pure schedule behind the poller."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.cadence import Cadence, PollOutcome, first_poll_at, next_poll_at, next_poll_delay
from receiver.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAR = T0 + timedelta(hours=1)
DEFAULTS = Settings(_env_file=None)


def test_apimart_first_poll_is_10_to_20_seconds_then_every_3_to_5() -> None:
    cadence = DEFAULTS.cadence("apimart")
    rng = random.Random(4)
    firsts = [(first_poll_at(cadence, T0, FAR, rng) - T0).total_seconds() for _ in range(500)]
    assert min(firsts) >= 9 and max(firsts) <= 22
    intervals = [
        next_poll_delay(cadence, attempts=n, last=PollOutcome.UNCHANGED, rng=rng)
        for n in range(1, 60)
    ]
    assert min(intervals) >= 2.7 and max(intervals) <= 5.5


def test_callback_provider_waits_a_grace_period_then_backs_off() -> None:
    cadence = DEFAULTS.cadence("apimodels")
    rng = random.Random(1)
    assert (first_poll_at(cadence, T0, FAR, rng) - T0).total_seconds() >= 54
    delays = [
        next_poll_delay(cadence, attempts=n, last=PollOutcome.UNCHANGED, rng=random.Random(0))
        for n in (1, 2, 3, 4, 10)
    ]
    assert delays == sorted(delays)
    assert delays[-1] <= 300 * 1.1


def test_apimall_polls_every_few_seconds_and_backs_off_with_age() -> None:
    cadence = DEFAULTS.cadence("apimall")
    rng = random.Random(2)
    assert (first_poll_at(cadence, T0, FAR, rng) - T0).total_seconds() <= 5.5
    early = next_poll_delay(cadence, attempts=1, last=PollOutcome.UNCHANGED, rng=random.Random(0))
    late = next_poll_delay(cadence, attempts=12, last=PollOutcome.UNCHANGED, rng=random.Random(0))
    assert early < 6 and early < late <= 30 * 1.1


def test_a_change_keeps_the_base_pace() -> None:
    cadence = DEFAULTS.cadence("apimall")
    changed = next_poll_delay(cadence, attempts=12, last=PollOutcome.CHANGED, rng=random.Random(0))
    assert changed < 6


def test_errors_back_off_faster_than_unchanged_results() -> None:
    cadence = Cadence(first_delay=(1, 1), interval=(2, 2), growth=1.0, max_interval=100, jitter=0)
    error = next_poll_delay(cadence, attempts=4, last=PollOutcome.ERROR, rng=random.Random(0))
    same = next_poll_delay(cadence, attempts=4, last=PollOutcome.UNCHANGED, rng=random.Random(0))
    assert (error, same) == (16, 2)


@given(
    attempts=st.integers(0, 1000),
    last=st.sampled_from(list(PollOutcome)),
    seed=st.integers(0, 2**32),
    deadline_in=st.floats(0, 10_000),
    provider=st.sampled_from(["apimodels", "apimall", "apimart"]),
)
def test_never_past_the_deadline_never_negative_never_past_the_cap(
    attempts: int, last: PollOutcome, seed: int, deadline_in: float, provider: str
) -> None:
    cadence = DEFAULTS.cadence(provider)
    deadline = T0 + timedelta(seconds=deadline_in)
    at = next_poll_at(T0, deadline, cadence, attempts=attempts, last=last, rng=random.Random(seed))
    assert T0 <= at <= max(deadline, T0)
    delay = next_poll_delay(cadence, attempts=attempts, last=last, rng=random.Random(seed))
    assert 0 <= delay <= cadence.max_interval * (1 + cadence.jitter)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_delay": (5, 1)},
        {"interval": (-1, 2)},
        {"growth": 0.5},
        {"jitter": 1.0},
    ],
)
def test_nonsense_cadences_are_refused(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {
        "first_delay": (1, 2),
        "interval": (1, 2),
        "growth": 1.0,
        "max_interval": 5,
        **kwargs,
    }
    with pytest.raises(ValueError):
        Cadence(**values)  # type: ignore[arg-type]
