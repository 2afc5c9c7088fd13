"""What the stats page reports, computed from aggregate rows. Pure: no I/O.

The rows are read by ``storage.stats`` for one window (the last hour, day or week,
by task creation time); here they become the numbers a person asks about: how the
tasks of each provider and model ended, how long completion took (p50/p95), what
share of finished tasks learned their end from a callback and what share from a
poll, the most frequent failure codes, what became of the webhooks and how late
they arrived, and the credits providers reported.

Percentiles are computed from the window's newest completed tasks and deliveries,
at most ``storage.stats.SAMPLE_LIMIT`` of each; ``sampled`` says when the cap was
reached.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from receiver.lifecycle import Status


class Window(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"

    @property
    def span(self) -> timedelta:
        return SPANS[self]


SPANS = {
    Window.HOUR: timedelta(hours=1),
    Window.DAY: timedelta(days=1),
    Window.WEEK: timedelta(days=7),
}


class GroupRow(Protocol):
    """One group of tasks (``storage.stats.TaskGroup``)."""

    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def last_source(self) -> str | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def count(self) -> int: ...
    @property
    def credits_used(self) -> float | None: ...
    @property
    def credits_refunded(self) -> float | None: ...
    @property
    def with_credits(self) -> int: ...


class FinishedRow(Protocol):
    """One completed task (``storage.stats.Finished``)."""

    @property
    def provider(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def terminal_at(self) -> datetime: ...


OUTCOMES = ("completed", "failed", "expired", "unfinished")
SOURCES = ("callback", "poll", "submit")
TOP_FAILURES = 10
NO_MODEL = "(none)"
NO_CODE = "(no code)"


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    provider: str
    model: str
    counts: dict[str, int]  # by OUTCOMES

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Timing:
    provider: str
    count: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class FinishShare:
    """Finished tasks of one provider by what told genhook they finished."""

    provider: str
    counts: dict[str, int]  # by SOURCES

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, source: str) -> float:
        return self.counts.get(source, 0) / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class FailureCode:
    provider: str
    code: str
    count: int


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    counts: dict[str, int]  # pending, succeeded, dead
    delivered: int
    lag_p50: float | None
    lag_p95: float | None
    sampled: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class CreditRow:
    provider: str
    model: str
    tasks: int  # tasks that reported credits
    used: float
    refunded: float


@dataclass(frozen=True, slots=True)
class Report:
    window: Window
    since: datetime
    tasks: int
    outcomes: list[OutcomeRow]
    timings: list[Timing]
    timings_sampled: bool
    shares: list[FinishShare]
    failures: list[FailureCode]
    deliveries: DeliverySummary
    credits: list[CreditRow]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0 to 1) of ``values``, linearly interpolated; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def outcome_of(status: str) -> str:
    try:
        parsed = Status(status)
    except ValueError:
        return "unfinished"
    return parsed.value if parsed.is_terminal else "unfinished"


def build_report(
    window: Window,
    since: datetime,
    groups: Iterable[GroupRow],
    completed: Sequence[FinishedRow],
    delivery_counts: dict[str, int],
    delivered: Sequence[tuple[datetime, datetime]],
    *,
    sample_limit: int,
) -> Report:
    groups = list(groups)
    return Report(
        window=window,
        since=since,
        tasks=sum(g.count for g in groups),
        outcomes=_outcomes(groups),
        timings=_timings(completed),
        timings_sampled=len(completed) >= sample_limit,
        shares=_shares(groups),
        failures=_failures(groups),
        deliveries=_deliveries(delivery_counts, delivered, sample_limit),
        credits=_credits(groups),
    )


def _outcomes(groups: list[GroupRow]) -> list[OutcomeRow]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for group in groups:
        counts[(group.provider, group.model or NO_MODEL)][outcome_of(group.status)] += group.count
    return [OutcomeRow(p, m, c) for (p, m), c in sorted(counts.items())]


def _timings(completed: Sequence[FinishedRow]) -> list[Timing]:
    durations: dict[str, list[float]] = defaultdict(list)
    for task in completed:
        seconds = (task.terminal_at - task.started_at).total_seconds()
        durations[task.provider].append(max(seconds, 0.0))
    return [
        Timing(provider, len(values), percentile(values, 0.5), percentile(values, 0.95))
        for provider, values in sorted(durations.items())
    ]


def _shares(groups: list[GroupRow]) -> list[FinishShare]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SOURCES, 0))
    for group in groups:
        if outcome_of(group.status) in ("completed", "failed") and group.last_source in SOURCES:
            counts[group.provider][group.last_source] += group.count
    return [FinishShare(p, c) for p, c in sorted(counts.items())]


def _failures(groups: list[GroupRow]) -> list[FailureCode]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for group in groups:
        if outcome_of(group.status) in ("failed", "expired"):
            counts[(group.provider, group.error_code or NO_CODE)] += group.count
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [FailureCode(p, code, n) for (p, code), n in ranked[:TOP_FAILURES]]


def _deliveries(
    counts: dict[str, int], delivered: Sequence[tuple[datetime, datetime]], sample_limit: int
) -> DeliverySummary:
    lags = [max((done - created).total_seconds(), 0.0) for created, done in delivered]
    return DeliverySummary(
        counts={status: counts.get(status, 0) for status in ("succeeded", "pending", "dead")},
        delivered=len(lags),
        lag_p50=percentile(lags, 0.5),
        lag_p95=percentile(lags, 0.95),
        sampled=len(delivered) >= sample_limit,
    )


def _credits(groups: list[GroupRow]) -> list[CreditRow]:
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for group in groups:
        if group.with_credits:
            row = totals[(group.provider, group.model or NO_MODEL)]
            row[0] += group.with_credits
            row[1] += group.credits_used or 0.0
            row[2] += group.credits_refunded or 0.0
    return [
        CreditRow(p, m, int(tasks), used, refunded)
        for (p, m), (tasks, used, refunded) in sorted(totals.items())
    ]
