"""From outbox events to delivery rows, and the per-task order they are sent in.

:func:`enqueue_deliveries` runs inside :func:`receiver.events.record_event`, in the
transaction that writes the event, so an event and its deliveries commit together
or not at all: a crash can never leave an event that nobody will deliver.

Per-task order. A task's events must reach a subscriber in the order they happened,
so a delivery waits while an earlier delivery of the same (task, subscriber) is
still pending. The dispatcher's claim enforces it (it only claims a delivery with
no earlier pending one, see :mod:`receiver.delivery.dispatcher`), which holds under
any interleaving. To keep waiting rows out of the claim's index range, a delivery
that starts behind another gets the other's due time, followers are moved along
when their leader is rescheduled, and the next follower is made due when its
leader finishes (:func:`reschedule_followers`, :func:`release_next`). Other tasks
and other subscribers are never held up: the wait is per (task, subscriber).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.delivery.schedule import DeliveryStatus
from receiver.delivery.subscribers import active_subscribers_for
from storage.models import Delivery, OutboxEvent

PENDING = DeliveryStatus.PENDING.value


async def enqueue_deliveries(
    session: AsyncSession, event: OutboxEvent, now: datetime
) -> list[Delivery]:
    """One delivery per active subscriber that wants ``event``, in the caller's transaction."""
    subscribers = await active_subscribers_for(session, event.type, event.task_id)
    if not subscribers:
        return []
    ids = [s.id for s in subscribers]
    # Where this task already has pending deliveries, the new one goes after them.
    waiting = await session.exec(
        select(col(Delivery.subscriber_id), func.max(Delivery.next_attempt_at))
        .where(
            col(Delivery.task_id) == event.task_id,
            col(Delivery.subscriber_id).in_(ids),
            col(Delivery.status) == PENDING,
        )
        .group_by(col(Delivery.subscriber_id))
    )
    leader_due: dict[str, datetime | None] = {row[0]: row[1] for row in waiting.all()}
    deliveries = []
    for subscriber in subscribers:
        due = now
        behind = leader_due.get(subscriber.id)
        if behind is not None and behind > now:
            due = behind
        delivery = Delivery(
            event=event,
            event_id=event.id,
            subscriber_id=subscriber.id,
            task_id=event.task_id,
            status=PENDING,
            next_attempt_at=due,
            created_at=now,
        )
        session.add(delivery)
        deliveries.append(delivery)
    return deliveries


async def reschedule_followers(
    session: AsyncSession, leader: Delivery, next_attempt_at: datetime
) -> None:
    """Followers that only wait for ``leader`` cannot go before its next attempt."""
    await session.exec(
        update(Delivery)
        .where(
            col(Delivery.task_id) == leader.task_id,
            col(Delivery.subscriber_id) == leader.subscriber_id,
            col(Delivery.status) == PENDING,
            col(Delivery.id) > leader.id,
            col(Delivery.attempts) == 0,
        )
        .values(next_attempt_at=next_attempt_at)
    )


async def release_next(session: AsyncSession, finished: Delivery, now: datetime) -> None:
    """``finished`` is done: make the next pending delivery of its (task, subscriber) due."""
    query = (
        select(Delivery)
        .where(
            col(Delivery.task_id) == finished.task_id,
            col(Delivery.subscriber_id) == finished.subscriber_id,
            col(Delivery.status) == PENDING,
            col(Delivery.id) != finished.id,
        )
        .order_by(col(Delivery.id))
        .limit(1)
    )
    follower = (await session.exec(query)).first()
    if follower is None or follower.attempts > 0:
        return  # none, or it is on its own retry schedule
    if follower.next_attempt_at is None or follower.next_attempt_at > now:
        follower.next_attempt_at = now
        session.add(follower)
