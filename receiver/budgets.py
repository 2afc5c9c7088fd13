"""Daily budgets per provider: whether one more attempt may be sent.

The day is the UTC day. What a provider has cost today is the sum over its attempts
started today of their settled cost, or of their estimate while they run (so two
jobs sent a moment apart both count before either has finished). The check runs in
the transaction that records the attempt: on PostgreSQL it first takes a
transaction-scoped advisory lock per provider, so concurrent submitters in any
process check and record one after the other and cannot both squeeze under the
budget; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.routes.costs import BudgetCheck, Ledger, check_budget
from storage.models import Attempt


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_to_next_day(now: datetime) -> float:
    return (day_start(now) + timedelta(days=1) - now).total_seconds()


class Budgets:
    """The configured daily budgets and the prices that estimate an attempt."""

    def __init__(self, limits: Mapping[str, float | None], ledger: Ledger) -> None:
        self._limits = limits
        self._ledger = ledger

    def unit(self, provider: str) -> str:
        return self._ledger.prices_of(provider).unit

    def estimate(self, provider: str, model: str | None, images: int) -> float | None:
        return self._ledger.prices_of(provider).estimate(model, images)

    async def check(
        self,
        session: AsyncSession,
        provider: str,
        model: str | None,
        images: int,
        now: datetime,
    ) -> BudgetCheck:
        """The verdict on sending an attempt now, inside the caller's transaction."""
        estimate = self.estimate(provider, model, images)
        budget = self._limits.get(provider)
        if budget is None:
            return check_budget(None, 0.0, estimate)
        if session.get_bind().dialect.name == "postgresql":
            key = zlib.crc32(f"genhook-budget:{provider}".encode())
            await session.exec(select(func.pg_advisory_xact_lock(key)))
        return check_budget(budget, await spent(session, provider, now), estimate)


async def spent(session: AsyncSession, provider: str, now: datetime) -> float:
    """What ``provider``'s attempts started today cost (estimates while they run)."""
    total = func.coalesce(func.sum(func.coalesce(Attempt.cost, Attempt.estimate, 0.0)), 0.0)
    query = select(total).where(
        col(Attempt.provider) == provider, col(Attempt.started_at) >= day_start(now)
    )
    return float((await session.exec(query)).one())
