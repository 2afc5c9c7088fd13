"""Reading the cost ledger (the attempts table): one task's attempts, and sums.

The sums run in the database (``GROUP BY``), so ``/api/usage`` over a year of
attempts reads a few rows, not the year. An attempt counts on the day it started,
with its settled cost, or its estimate while it runs (what budgets count too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, literal_column, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Attempt

GROUPINGS = ("provider", "model", "day")


@dataclass(frozen=True, slots=True)
class UsageSum:
    key: str
    provider: str
    unit: str
    attempts: int
    images: int
    cost: float


async def attempts_for(session: AsyncSession, task_id: str) -> list[Attempt]:
    query = select(Attempt).where(col(Attempt.task_id) == task_id).order_by(col(Attempt.number))
    return list((await session.exec(query)).scalars().all())  # type: ignore[call-overload]


async def usage(
    session: AsyncSession,
    *,
    group_by: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[UsageSum]:
    """What attempts started in ``[since, until)`` cost, grouped by provider, by
    provider and model, or by UTC day and provider; one row per unit."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    day = _utc_day(session)
    groupings: dict[str, list[Any]] = {
        "provider": [col(Attempt.provider)],
        "model": [col(Attempt.provider), col(Attempt.model)],
        "day": [day, col(Attempt.provider)],
    }
    keys = groupings[group_by]
    cost = func.coalesce(func.sum(func.coalesce(Attempt.cost, Attempt.estimate, 0.0)), 0.0)
    query = select(
        *keys,
        col(Attempt.cost_unit),
        func.count(),
        func.coalesce(func.sum(Attempt.images), 0),
        cost,
    ).group_by(*keys, col(Attempt.cost_unit))
    if since is not None:
        query = query.where(col(Attempt.started_at) >= since)
    if until is not None:
        query = query.where(col(Attempt.started_at) < until)
    query = query.order_by(*keys, col(Attempt.cost_unit))
    sums = []
    for row in (await session.exec(query)).all():  # type: ignore[call-overload]
        *grouped, unit, attempts, images, total = row
        if group_by == "provider":
            key, provider = grouped[0], grouped[0]
        elif group_by == "model":
            provider = grouped[0]
            key = f"{grouped[0]}/{grouped[1] or '-'}"
        else:
            key, provider = str(grouped[0]), grouped[1]
        sums.append(UsageSum(key, provider, unit, int(attempts), int(images), float(total)))
    return sums


def _utc_day(session: AsyncSession) -> Any:
    """``YYYY-MM-DD`` of an attempt's start in UTC, in the engine's own SQL."""
    if session.get_bind().dialect.name == "postgresql":
        utc: Any = literal_column("attempts.started_at AT TIME ZONE 'UTC'")
        return func.to_char(utc, "YYYY-MM-DD").label("day")
    # SQLite keeps UTC as naive ISO text (storage.types.UTCDateTime)
    return cast(func.date(Attempt.started_at), String).label("day")
