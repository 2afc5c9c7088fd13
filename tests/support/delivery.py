"""Helpers for delivery tests: tasks and events written through the real seam."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from receiver import clock
from receiver.events import record_event
from receiver.lifecycle import EventType, Status
from receiver.services import Services
from storage.models import Delivery, DeliveryAttempt, Subscriber, Task


async def make_task(services: Services) -> str:
    now = clock.utcnow()
    task = Task(
        provider="apimodels",
        provider_task_id=None,
        model="m",
        status=Status.PENDING.value,
        created_at=now,
        updated_at=now,
        deadline_at=now + timedelta(hours=1),
    )
    async with services.sessions() as session, session.begin():
        session.add(task)
    return task.id


async def emit(
    services: Services, task_id: str, event_type: EventType = EventType.PROCESSING, **changes: Any
) -> str:
    """Change the task (optionally) and record an event, as ingest does: one transaction."""
    async with services.sessions() as session, session.begin():
        task = await session.get(Task, task_id, with_for_update=True)
        assert task is not None
        for name, value in changes.items():
            setattr(task, name, value)
        session.add(task)
        event_id = await record_event(session, task, event_type, clock.utcnow())
    return event_id


async def deliveries(services: Services, **where: Any) -> list[Delivery]:
    query = select(Delivery).order_by(col(Delivery.id))
    for name, value in where.items():
        query = query.where(getattr(Delivery, name) == value)
    async with services.sessions() as session:
        return list((await session.exec(query)).all())


async def attempts(services: Services, delivery_id: int) -> list[DeliveryAttempt]:
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(col(DeliveryAttempt.id))
    )
    async with services.sessions() as session:
        return list((await session.exec(query)).all())


async def subscriber(services: Services, subscriber_id: str) -> Subscriber:
    async with services.sessions() as session:
        found = await session.get(Subscriber, subscriber_id)
    assert found is not None
    return found
