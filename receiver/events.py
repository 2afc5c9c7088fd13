"""Recording task events: the one place an outbox row is written.

Every event is written inside the transaction of the change that caused it, through
:func:`record_event`, so downstream fan-out (webhook deliveries) added here is in
the same commit too and nothing can be lost between a change and its event. The
transaction is marked for the wake-up path (:mod:`receiver.wakeups`): once it
commits, the event stream, the dispatcher and the mirror hear of it at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.assets.queue import enqueue_assets
from receiver.delivery.outbox import enqueue_deliveries
from receiver.lifecycle import EventType
from receiver.views import event_payload
from receiver.wakeups import Topic
from storage.models import OutboxEvent, Task, new_event_id
from storage.wakeups import mark


async def record_event(
    session: AsyncSession, task: Task, event_type: EventType, now: datetime
) -> OutboxEvent:
    """Add the event for ``task`` (as it is now) to the caller's transaction, with one
    webhook delivery per active subscriber that wants it (and, for a completion, one
    asset row per result image to mirror)."""
    event_id = new_event_id()
    event = OutboxEvent(
        id=event_id,
        task_id=task.id,
        type=event_type.value,
        created_at=now,
        payload=event_payload(event_id, event_type, task, now),
    )
    session.add(event)
    mark(session, Topic.EVENTS)
    if await enqueue_deliveries(session, event, now):
        mark(session, Topic.DELIVERIES)
    if event_type is EventType.COMPLETED and await enqueue_assets(session, task, now):
        mark(session, Topic.ASSETS)  # its result images, for the mirror
    return event
