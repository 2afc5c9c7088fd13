"""Recording task events: one outbox row (with its deliveries and images) per change.

Every event is written inside the transaction of the change that caused it, so
downstream fan-out (webhook deliveries, images to mirror) is in the same commit too
and nothing can be lost between a change and its event. The batch writer
(:mod:`receiver.writes`) records the events of callbacks and polls;
:func:`record_event` is the same fan-out for the other writers (the mirror's
``task.assets_ready``, an operator's anomaly), which hold an ORM task in a session.
The transaction is marked for the wake-up path (:mod:`receiver.wakeups`): once it
commits, the event stream, the dispatcher and the mirror hear of it at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session as OrmSession
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.lifecycle import EventType
from receiver.views import subscriber_event_payload, task_row
from receiver.writes import Fanout, Rows, execute
from storage.models import Subscriber, Task
from storage.wakeups import mark


async def record_event(
    session: AsyncSession, task: Task, event_type: EventType, now: datetime
) -> str:
    """Add the event for ``task`` (as it is now, unflushed changes included) to the
    caller's transaction; returns its id."""
    row = task_row(task)

    def write(sync: OrmSession) -> tuple[str, set[str]]:
        sync.flush()  # the task row first: deliveries and assets refer to it
        rows = Rows()
        event_id = Fanout(sync.connection(), now, [task.id]).event(row, event_type, rows)
        return event_id, execute(sync.connection(), rows)

    event_id, topics = await session.run_sync(write)
    for topic in topics:
        mark(session, topic)
    return event_id


async def record_subscriber_event(
    session: AsyncSession, subscriber: Subscriber, event_type: EventType, now: datetime
) -> str:
    """An operational event about ``subscriber`` (no task), in the caller's transaction:
    on the live stream, and to the active subscribers that list its type; returns its id."""

    def payload_of(event_id: str) -> dict[str, Any]:
        return subscriber_event_payload(event_id, event_type, subscriber, now)

    def write(sync: OrmSession) -> tuple[str, set[str]]:
        sync.flush()
        rows = Rows()
        event_id = Fanout(sync.connection(), now, []).operational(event_type, payload_of, rows)
        return event_id, execute(sync.connection(), rows)

    event_id, topics = await session.run_sync(write)
    for topic in topics:
        mark(session, topic)
    return event_id
