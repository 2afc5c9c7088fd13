"""The stats page's numbers, from aggregate rows (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.stats import Window, build_report, percentile

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Group:
    provider: str
    model: str | None
    status: str
    last_source: str | None
    error_code: str | None
    count: int
    credits_used: float | None = None
    credits_refunded: float | None = None
    with_credits: int = 0


@dataclass(frozen=True)
class Done:
    provider: str
    started_at: datetime
    terminal_at: datetime


def done(provider: str, seconds: float) -> Done:
    return Done(provider, NOW, NOW + timedelta(seconds=seconds))


def test_percentiles_interpolate_and_handle_the_edges() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.0) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 1.0) == 4.0


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0, 1))
def test_a_percentile_lies_within_the_values(values: list[float], q: float) -> None:
    found = percentile(values, q)
    assert found is not None
    assert min(values) <= found <= max(values)


@given(st.lists(st.floats(0, 1e6), min_size=1))
def test_p50_never_exceeds_p95(values: list[float]) -> None:
    assert percentile(values, 0.5) <= percentile(values, 0.95)  # type: ignore[operator]


def report(groups: list[Group], completed: list[Done] | None = None, **kw: object):
    return build_report(
        Window.DAY,
        NOW - timedelta(days=1),
        groups,
        completed or [],
        kw.get("deliveries", {}),  # type: ignore[arg-type]
        kw.get("delivered", []),  # type: ignore[arg-type]
        sample_limit=int(kw.get("limit", 1000)),  # type: ignore[call-overload]
    )


GROUPS = [
    Group("apimodels", "m1", "completed", "callback", None, 8, 16.0, 0.0, 8),
    Group("apimodels", "m1", "completed", "poll", None, 2),
    Group("apimodels", "m1", "failed", "callback", "500", 3, 3.0, 3.0, 3),
    Group("apimodels", "m1", "expired", "poll", "deadline_exceeded", 1),
    Group("apimodels", None, "pending", None, None, 4),
    Group("apimall", "nano", "failed", "submit", "402", 5),
    Group("apimall", "nano", "processing", "poll", None, 1),
]


def test_outcomes_per_provider_and_model() -> None:
    found = report(GROUPS)
    assert found.tasks == 24
    rows = {(r.provider, r.model): r.counts for r in found.outcomes}
    assert rows == {
        ("apimall", "nano"): {"completed": 0, "failed": 5, "expired": 0, "unfinished": 1},
        ("apimodels", "(none)"): {"completed": 0, "failed": 0, "expired": 0, "unfinished": 4},
        ("apimodels", "m1"): {"completed": 10, "failed": 3, "expired": 1, "unfinished": 0},
    }


def test_finish_shares_count_completed_and_failed_tasks_by_what_told_us() -> None:
    shares = {s.provider: s for s in report(GROUPS).shares}
    assert shares["apimodels"].counts == {"callback": 11, "poll": 2, "submit": 0}
    assert shares["apimodels"].share("poll") == 2 / 13
    assert shares["apimall"].counts == {"callback": 0, "poll": 0, "submit": 5}
    # an expired task is our deadline, not a provider's answer; unfinished ones have none


def test_failure_codes_are_ranked_most_frequent_first() -> None:
    failures = [(f.provider, f.code, f.count) for f in report(GROUPS).failures]
    assert failures == [
        ("apimall", "402", 5),
        ("apimodels", "500", 3),
        ("apimodels", "deadline_exceeded", 1),
    ]


def test_at_most_ten_failure_codes() -> None:
    many = [Group("apimart", "m", "failed", "poll", f"E{i:02}", i + 1) for i in range(15)]
    failures = report(many).failures
    assert len(failures) == 10
    assert failures[0].code == "E14" and failures[-1].code == "E05"


def test_completion_times_per_provider() -> None:
    completed = [done("apimodels", s) for s in (10, 20, 30, 40, 200)] + [done("apimall", 5)]
    timings = {t.provider: t for t in report(GROUPS, completed).timings}
    assert timings["apimodels"].count == 5
    assert timings["apimodels"].p50 == 30
    assert timings["apimodels"].p95 == pytest.approx(168)  # 40 + 0.8 * (200 - 40)
    assert timings["apimall"].p50 == timings["apimall"].p95 == 5


def test_a_capped_sample_is_said_to_be_one() -> None:
    completed = [done("apimodels", 1)] * 3
    assert report(GROUPS, completed, limit=3).timings_sampled
    assert not report(GROUPS, completed, limit=4).timings_sampled


def test_deliveries_and_their_lag() -> None:
    delivered = [(NOW, NOW + timedelta(seconds=s)) for s in (0.1, 0.2, 0.3, 5.0)]
    summary = report(
        GROUPS, deliveries={"succeeded": 4, "pending": 2, "dead": 1}, delivered=delivered
    ).deliveries
    assert summary.counts == {"succeeded": 4, "pending": 2, "dead": 1}
    assert summary.total == 7
    assert summary.delivered == 4
    assert summary.lag_p50 is not None and abs(summary.lag_p50 - 0.25) < 1e-9


def test_credits_only_where_providers_report_them() -> None:
    credits = [(c.provider, c.model, c.tasks, c.used, c.refunded) for c in report(GROUPS).credits]
    assert credits == [("apimodels", "m1", 11, 19.0, 3.0)]


def test_an_empty_window() -> None:
    found = report([])
    assert (found.tasks, found.outcomes, found.timings, found.shares, found.failures) == (
        0,
        [],
        [],
        [],
        [],
    )
    assert found.deliveries.total == 0 and found.deliveries.lag_p50 is None


def test_windows_span_an_hour_a_day_and_a_week() -> None:
    assert [w.span for w in Window] == [
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=7),
    ]
