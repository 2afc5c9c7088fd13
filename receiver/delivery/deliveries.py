"""Delivery rows: created with their event, listed, replayed. No HTTP here.

:func:`enqueue_deliveries` runs inside :func:`receiver.events.record_event`, in the
transaction that writes the event, so an event and its deliveries commit together
or not at all: a crash can never leave an event that nobody will deliver.

Per-task order. A task's events must reach a subscriber in the order they happened,
so a delivery waits while an earlier delivery of the same (task, subscriber) is
still pending. The dispatcher's claim enforces it (it only claims a delivery with
no earlier pending one, see :data:`receiver.delivery.dispatcher`), which holds under any
interleaving. To keep waiting rows out of the claim's index range, a delivery
that starts behind another gets the other's due time, followers are moved along
when their leader is rescheduled, and the next follower is made due when its
leader finishes (:func:`reschedule_followers`, :func:`release_next`). Other tasks
and other subscribers are never held up: the wait is per (task, subscriber).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.delivery.subscribers import active_subscribers_for
from receiver.errors import DeliveryNotFoundError, EventNotFoundError, SubscriberNotFoundError
from receiver.views import iso
from storage.models import Delivery, DeliveryAttempt, OutboxEvent, Subscriber

if TYPE_CHECKING:  # services → ingest → events → here: import for types only
    from receiver.services import Services

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

PENDING = "pending"
SUCCEEDED = "succeeded"
DEAD = "dead"
STATUSES = (PENDING, SUCCEEDED, DEAD)


async def enqueue_deliveries(
    session: AsyncSession, event: OutboxEvent, now: datetime
) -> list[Delivery]:
    """One delivery per active subscriber that wants ``event``, in the caller's transaction."""
    subscribers = await active_subscribers_for(session, event.type)
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


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    subscriber_id: str | None = None
    status: str | None = None
    task_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """Which deliveries of one subscriber to send again."""

    subscriber_id: str
    since: datetime | None = None  # events created at or after
    event_id: str | None = None
    dead_only: bool = False


def parse_since(value: str, now: datetime) -> datetime:
    """``--since``: an ISO 8601 time with a zone, or an age such as ``30m``, ``2h``, ``3d``."""
    text = value.strip()
    try:
        match = _DURATION.match(text.lower())
        if match:
            return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} needs a time zone (e.g. a trailing Z)")
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None
    except ValueError as exc:
        if "time zone" in str(exc):
            raise
        raise ValueError(
            f"{value!r} is neither an ISO 8601 time nor an age like 30m, 2h or 3d"
        ) from None


def delivery_view(delivery: Delivery, event_type: str | None = None) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": event_type,
        "subscriber_id": delivery.subscriber_id,
        "task_id": delivery.task_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
    }


def attempt_view(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "attempted_at": iso(attempt.attempted_at),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
        "response_body": attempt.response_body,
    }


class Deliveries:
    """Delivery reads and replay on the shared services (API and CLI)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def list(
        self, filters: DeliveryFilter, *, limit: int, before_id: int | None = None
    ) -> list[tuple[Delivery, str]]:
        """Newest first, with each delivery's event type."""
        query = (
            select(Delivery, OutboxEvent.type)
            .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
            .order_by(col(Delivery.id).desc())
            .limit(limit)
        )
        if filters.subscriber_id:
            query = query.where(col(Delivery.subscriber_id) == filters.subscriber_id)
        if filters.status:
            query = query.where(col(Delivery.status) == filters.status)
        if filters.task_id:
            query = query.where(col(Delivery.task_id) == filters.task_id)
        if filters.event_id:
            query = query.where(col(Delivery.event_id) == filters.event_id)
        if before_id is not None:
            query = query.where(col(Delivery.id) < before_id)
        async with self._services.sessions() as session:
            rows = (await session.exec(query)).all()
        return [(delivery, event_type) for delivery, event_type in rows]

    async def get(self, delivery_id: int) -> tuple[Delivery, str, Sequence[DeliveryAttempt]]:
        async with self._services.sessions() as session:
            row = (
                await session.exec(
                    select(Delivery, OutboxEvent.type)
                    .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
                    .where(col(Delivery.id) == delivery_id)
                )
            ).first()
            if row is None:
                raise DeliveryNotFoundError(delivery_id)
            attempts = (
                await session.exec(
                    select(DeliveryAttempt)
                    .where(col(DeliveryAttempt.delivery_id) == delivery_id)
                    .order_by(col(DeliveryAttempt.id))
                )
            ).all()
        return row[0], row[1], attempts

    async def replay(self, request: ReplayRequest, now: datetime) -> int:
        """Re-queue matching deliveries as new runs, due now; returns how many.

        A delivery being attempted right now (lease held) is left alone. The event id
        stays the same, so a receiver that already has the event recognises it.
        """
        async with self._services.sessions() as session, session.begin():
            if await session.get(Subscriber, request.subscriber_id) is None:
                raise SubscriberNotFoundError(request.subscriber_id)
            if request.event_id is not None:
                found = await session.exec(
                    select(OutboxEvent.seq).where(col(OutboxEvent.id) == request.event_id)
                )
                if found.first() is None:
                    raise EventNotFoundError(request.event_id)
            statement = (
                update(Delivery)
                .where(
                    col(Delivery.subscriber_id) == request.subscriber_id,
                    or_(
                        col(Delivery.status) != PENDING,
                        col(Delivery.lease_expires_at).is_(None),
                        col(Delivery.lease_expires_at) <= now,
                    ),
                )
                .values(
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    lease_holder=None,
                    lease_expires_at=None,
                    delivered_at=None,
                )
            )
            if request.dead_only:
                statement = statement.where(col(Delivery.status) == DEAD)
            if request.since is not None:
                statement = statement.where(col(Delivery.created_at) >= request.since)
            if request.event_id is not None:
                statement = statement.where(col(Delivery.event_id) == request.event_id)
            result = await session.exec(statement)
            return int(getattr(result, "rowcount", 0) or 0)
