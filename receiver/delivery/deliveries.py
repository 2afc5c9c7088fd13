"""Delivery reads and replay, shared by ``/api/deliveries`` and ``genhook deliveries``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import col, select

from receiver.delivery.schedule import DeliveryStatus
from receiver.errors import DeliveryNotFoundError, EventNotFoundError, SubscriberNotFoundError
from receiver.params import DeliveryQuery
from receiver.wakeups import Topic
from storage.engine import READ_ONLY, SessionFactory
from storage.models import Delivery, DeliveryAttempt, OutboxEvent, Subscriber
from storage.wakeups import mark


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """Which deliveries of one subscriber to send again."""

    subscriber_id: str
    since: datetime | None = None  # events created at or after
    event_id: str | None = None
    dead_only: bool = False


class Deliveries:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def list(self, query: DeliveryQuery) -> list[tuple[Delivery, str]]:
        """Newest first, with each delivery's event type."""
        statement = (
            select(Delivery, OutboxEvent.type)
            .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
            .order_by(col(Delivery.id).desc())
            .limit(query.limit)
        )
        if query.subscriber:
            statement = statement.where(col(Delivery.subscriber_id) == query.subscriber)
        if query.status:
            statement = statement.where(col(Delivery.status) == query.status.value)
        if query.task_id:
            statement = statement.where(col(Delivery.task_id) == query.task_id)
        if query.event:
            statement = statement.where(col(Delivery.event_id) == query.event)
        if query.cursor is not None:
            statement = statement.where(col(Delivery.id) < query.cursor)
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            rows = (await session.exec(statement)).all()
        return [(delivery, event_type) for delivery, event_type in rows]

    async def get(self, delivery_id: int) -> tuple[Delivery, str, Sequence[DeliveryAttempt]]:
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
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
        async with self._sessions() as session, session.begin():
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
                        col(Delivery.status) != DeliveryStatus.PENDING.value,
                        col(Delivery.lease_expires_at).is_(None),
                        col(Delivery.lease_expires_at) <= now,
                    ),
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    lease_holder=None,
                    lease_expires_at=None,
                    delivered_at=None,
                )
            )
            if request.dead_only:
                statement = statement.where(col(Delivery.status) == DeliveryStatus.DEAD.value)
            if request.since is not None:
                statement = statement.where(col(Delivery.created_at) >= request.since)
            if request.event_id is not None:
                statement = statement.where(col(Delivery.event_id) == request.event_id)
            result = await session.exec(statement)
            requeued = int(getattr(result, "rowcount", 0) or 0)
            if requeued:
                mark(session, Topic.DELIVERIES)
            return requeued
