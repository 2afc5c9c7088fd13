"""Read queries shared by the API and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OutboxEvent, Snapshot, Task


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: str | None = None
    provider: str | None = None
    model: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None


async def list_tasks(
    session: AsyncSession, filters: TaskFilter, *, limit: int, before_id: str | None = None
) -> Sequence[Task]:
    """Newest first. Task ids are ULIDs, so ordering by id is ordering by creation,
    and ``before_id`` is a stable cursor that survives concurrent inserts."""
    query = select(Task).order_by(col(Task.id).desc()).limit(limit)
    if filters.status:
        query = query.where(Task.status == filters.status)
    if filters.provider:
        query = query.where(Task.provider == filters.provider)
    if filters.model:
        query = query.where(Task.model == filters.model)
    if filters.created_since:
        query = query.where(Task.created_at >= filters.created_since)
    if filters.created_until:
        query = query.where(Task.created_at < filters.created_until)
    if before_id:
        query = query.where(Task.id < before_id)
    return (await session.exec(query)).all()


async def snapshots_for(session: AsyncSession, task_id: str) -> Sequence[Snapshot]:
    query = select(Snapshot).where(Snapshot.task_id == task_id).order_by(col(Snapshot.id))
    return (await session.exec(query)).all()


async def events_for(session: AsyncSession, task_id: str) -> Sequence[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.task_id == task_id).order_by(col(OutboxEvent.seq))
    return (await session.exec(query)).all()
