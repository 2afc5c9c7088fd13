"""Aggregate reads for the metrics gauges and the dashboard's stats page.

Each is one statement over an index range: tasks by status (``ix_tasks_status``),
deliveries by status (``ix_deliveries_status``), and a window of tasks or
deliveries by creation time (``ix_tasks_created_at``, ``ix_deliveries_created_at``).
Rows come back as plain tuples; what they mean is decided above storage
(``receiver.stats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Delivery, Task

SAMPLE_LIMIT = 5_000  # newest rows a window's percentiles are computed from


async def count_tasks_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(select(Task.status, func.count()).group_by(col(Task.status)))
    return {status: count for status, count in rows.all()}


async def count_deliveries_by_status(session: AsyncSession) -> dict[str, int]:
    """Pending and dead deliveries (succeeded ones are not counted: they only grow)."""
    rows = await session.exec(
        select(Delivery.status, func.count())
        .where(col(Delivery.status).in_(("pending", "dead")))
        .group_by(col(Delivery.status))
    )
    return {status: count for status, count in rows.all()}


@dataclass(frozen=True, slots=True)
class TaskGroup:
    """Tasks created in a window that share provider, model, status, how they ended
    and their error code, with the credits they reported."""

    provider: str
    model: str | None
    status: str
    last_source: str | None
    error_code: str | None
    count: int
    credits_used: float | None
    credits_refunded: float | None
    with_credits: int


@dataclass(frozen=True, slots=True)
class Finished:
    provider: str
    started_at: datetime
    terminal_at: datetime


async def task_groups(session: AsyncSession, since: datetime) -> list[TaskGroup]:
    keys = (
        col(Task.provider),
        col(Task.model),
        col(Task.status),
        col(Task.last_source),
        col(Task.error_code),
    )
    # sqlmodel's exec() is typed for at most four columns; this is a plain Core select
    rows = await session.exec(  # type: ignore[call-overload]
        select_columns(
            *keys,
            func.count(),
            func.sum(col(Task.credits_used)),
            func.sum(col(Task.credits_refunded)),
            func.count(col(Task.credits_used)),
        )
        .where(col(Task.created_at) >= since)
        .group_by(*keys)
    )
    return [TaskGroup(*row) for row in rows.all()]


async def completed_tasks(
    session: AsyncSession, since: datetime, limit: int = SAMPLE_LIMIT
) -> list[Finished]:
    """The newest ``limit`` completed tasks of the window, with their start and end."""
    rows = await session.exec(
        select(Task.provider, Task.submitted_at, Task.created_at, Task.terminal_at)
        .where(col(Task.created_at) >= since, col(Task.status) == "completed")
        .where(col(Task.terminal_at).is_not(None))
        .order_by(col(Task.created_at).desc())
        .limit(limit)
    )
    return [
        Finished(provider, submitted or created, terminal)
        for provider, submitted, created, terminal in rows.all()
        if terminal is not None
    ]


async def deliveries_by_status(session: AsyncSession, since: datetime) -> dict[str, int]:
    rows = await session.exec(
        select(Delivery.status, func.count())
        .where(col(Delivery.created_at) >= since)
        .group_by(col(Delivery.status))
    )
    return {status: count for status, count in rows.all()}


async def delivered(
    session: AsyncSession, since: datetime, limit: int = SAMPLE_LIMIT
) -> Sequence[tuple[datetime, datetime]]:
    """``(created_at, delivered_at)`` of the window's newest ``limit`` deliveries."""
    rows = await session.exec(
        select(Delivery.created_at, Delivery.delivered_at)
        .where(col(Delivery.created_at) >= since, col(Delivery.status) == "succeeded")
        .where(col(Delivery.delivered_at).is_not(None))
        .order_by(col(Delivery.created_at).desc())
        .limit(limit)
    )
    return [(created, done) for created, done in rows.all() if done is not None]
