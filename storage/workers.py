"""Worker heartbeats, and what each worker holds.

Only the process named by a row writes it, so a heartbeat is a plain read-then-write
of its own row: no dialect-specific upsert is needed. What a worker holds is read
from the claimable tables by lease holder name. A leased row was claimed because it
was due and a claim does not move its due column, so every live lease sits inside
the due range of its table's index (``next_poll_at`` / ``next_attempt_at`` up to
now): the same small range the claims scan, never the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Asset, Delivery, Task, Worker

HELD_KINDS: dict[str, tuple[type[SQLModel], str]] = {
    "tasks": (Task, "next_poll_at"),
    "deliveries": (Delivery, "next_attempt_at"),
    "assets": (Asset, "next_attempt_at"),
}


async def beat(
    session: AsyncSession,
    *,
    worker_id: str,
    kind: str,
    hostname: str,
    pid: int,
    version: str,
    started_at: datetime,
    now: datetime,
    jobs: dict[str, Any],
) -> None:
    """Write this worker's row (created on its first heartbeat)."""
    row = await session.get(Worker, worker_id)
    if row is None:
        row = Worker(
            id=worker_id,
            kind=kind,
            hostname=hostname,
            pid=pid,
            version=version,
            started_at=started_at,
            heartbeat_at=now,
            jobs=jobs,
        )
    else:
        row.heartbeat_at = now
        row.jobs = jobs
    session.add(row)


async def forget(session: AsyncSession, worker_id: str) -> None:
    await session.exec(delete(Worker).where(col(Worker.id) == worker_id))


async def prune(session: AsyncSession, older_than: datetime) -> None:
    """Rows of workers that died without saying so, long ago."""
    await session.exec(delete(Worker).where(col(Worker.heartbeat_at) < older_than))


async def live_workers(session: AsyncSession, seen_since: datetime) -> Sequence[Worker]:
    rows = await session.exec(
        select(Worker).where(col(Worker.heartbeat_at) >= seen_since).order_by(col(Worker.id))
    )
    return rows.all()


async def held_by(
    session: AsyncSession, holders: Sequence[str], now: datetime
) -> dict[str, dict[str, int]]:
    """``{holder: {"tasks": n, "deliveries": n, "assets": n}}`` of live leases."""
    held: dict[str, dict[str, int]] = {h: dict.fromkeys(HELD_KINDS, 0) for h in holders}
    if not holders:
        return held
    for kind, (model, due_column) in HELD_KINDS.items():
        table = model.__table__  # type: ignore[attr-defined]
        rows = await session.exec(
            select(table.c.lease_holder, func.count())
            .where(
                table.c[due_column] <= now,
                table.c.lease_holder.in_(holders),
                table.c.lease_expires_at > now,
            )
            .group_by(table.c.lease_holder)
        )
        for holder, count in rows.all():
            held[holder][kind] = count
    return held
