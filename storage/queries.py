"""Read queries shared by the API and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Asset, Delivery, OutboxEvent, Snapshot, Task


class TaskFilter(Protocol):
    """Which tasks to list; ``None`` for a field means any (receiver's ``TaskQuery``)."""

    @property
    def status(self) -> str | None: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def created_since(self) -> datetime | None: ...
    @property
    def created_until(self) -> datetime | None: ...


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


async def assets_for(session: AsyncSession, task_id: str) -> Sequence[Asset]:
    query = select(Asset).where(Asset.task_id == task_id).order_by(col(Asset.position))
    return (await session.exec(query)).all()


async def deliveries_for(session: AsyncSession, task_id: str) -> list[tuple[Delivery, str]]:
    """The task's webhook deliveries, oldest first, each with its event type."""
    query = (
        select(Delivery, OutboxEvent.type)
        .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
        .where(col(Delivery.task_id) == task_id)
        .order_by(col(Delivery.id))
    )
    return [(delivery, event_type) for delivery, event_type in (await session.exec(query)).all()]


async def stored_assets_for(session: AsyncSession, task_ids: Sequence[str]) -> dict[str, Asset]:
    """The first stored image of each of ``task_ids`` that has one (for thumbnails)."""
    if not task_ids:
        return {}
    query = (
        select(Asset)
        .where(col(Asset.task_id).in_(task_ids), col(Asset.status) == "stored")
        .order_by(col(Asset.task_id), col(Asset.position))
    )
    first: dict[str, Asset] = {}
    for asset in (await session.exec(query)).all():
        first.setdefault(asset.task_id, asset)
    return first
