"""The per-task order deliveries are sent in.

Deliveries are written with their event, in the same transaction
(:class:`receiver.writes.Fanout`), so a crash can never leave an event that nobody
will deliver.

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

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.delivery.schedule import DeliveryStatus
from receiver.wakeups import Topic
from storage.models import Delivery
from storage.wakeups import mark

PENDING = DeliveryStatus.PENDING.value


async def reschedule_followers(
    session: AsyncSession, leader: Delivery, next_attempt_at: datetime
) -> None:
    """Followers that only wait for ``leader`` cannot go before its next attempt."""
    if leader.task_id is None:
        return  # operational events are not ordered behind each other
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
    if finished.task_id is None:
        return
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
    mark(session, Topic.DELIVERIES)
