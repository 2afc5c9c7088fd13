"""What the outbox holds for a task: how tests prove which events a change wrote."""

from __future__ import annotations

from sqlmodel import col, select

from receiver.services import Services
from storage.models import OutboxEvent

TERMINAL = ("task.completed", "task.failed", "task.expired")


async def event_types(services: Services, task_id: str) -> list[str]:
    """The task's event types, in the order they were written."""
    async with services.sessions() as session:
        rows = await session.exec(
            select(OutboxEvent).where(OutboxEvent.task_id == task_id).order_by(col(OutboxEvent.seq))
        )
        return [e.type for e in rows.all()]


async def terminal_events(services: Services, task_id: str) -> list[str]:
    """Only its terminal events: a task must have exactly one."""
    return [t for t in await event_types(services, task_id) if t in TERMINAL]
