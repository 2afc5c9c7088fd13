"""Subscribers: the downstream systems genhook signs and sends events to.

One module for their whole life (add with validation, list, rotate the secret,
disable, enable, remove), shared by ``/api/subscribers`` and ``genhook subscribers``
so both refuse the same input with the same words:

* the URL must be absolute http(s) and, unless
  ``GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS`` is set, must not resolve to a private,
  loopback or link-local address (:mod:`receiver.netguard`);
* event types are checked where the request is read (:mod:`receiver.params`);
* a secret given must be ``whsec_`` + base64 (:mod:`receiver.delivery.signing`); none
  given → one is generated.

A subscriber may belong to one task (``task_id``): the webhook an application gave
with that task's submission (``POST /api/tasks {"webhook": ...}``). It is signed,
retried and managed exactly like any other, but receives that task's events only,
and listings leave it out unless asked for that task.

Disabling a subscriber (by hand, on a 410, or after failing for too long) also
dead-letters its pending deliveries: nothing is sent to it any more, and an operator
who re-enables it decides with ``genhook deliveries replay --dead`` what to resend.
Each disabling writes a ``subscriber.disabled`` event in the same transaction (as
Standard Webhooks advises: the owner should learn that its endpoint was switched
off), on the live stream and to the subscribers that list that type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock, netguard
from receiver.delivery.schedule import DeliveryStatus
from receiver.delivery.signing import generate_secret, validate_secret
from receiver.errors import InvalidSubscriberError, SubscriberNotFoundError, TargetRefusedError
from receiver.events import record_subscriber_event
from receiver.lifecycle import EventType
from receiver.params import parse_event_types
from receiver.settings import DeliverySettings
from storage.engine import READ_ONLY, SessionFactory
from storage.models import Delivery, DeliveryAttempt, Subscriber

log = logging.getLogger(__name__)

ALLOW_HINT = "set GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS=true to allow it"
MAX_URL_LENGTH = 2000


def validate_url_syntax(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidSubscriberError("invalid_url", f"URL longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidSubscriberError("invalid_url", "a URL cannot contain control characters")
    try:
        netguard.split_http_url(url)
    except ValueError as exc:
        raise InvalidSubscriberError("invalid_url", str(exc)) from None
    return url


async def validate_url(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, if it is http(s) and may be called; else a clear error."""
    url = validate_url_syntax(url)
    try:
        await netguard.check_url(url, allow_private=allow_private, allow_hint=ALLOW_HINT)
    except TargetRefusedError as exc:
        raise InvalidSubscriberError("target_refused", str(exc)) from None
    return url


async def disable_in_session(
    session: AsyncSession, subscriber: Subscriber, reason: str, now: datetime
) -> int:
    """Disable ``subscriber`` and dead-letter its pending deliveries; returns how many.

    Deliveries in flight (lease still held) are left to their dispatcher, which
    dead-letters them when it records a failure for an inactive subscriber.
    """
    subscriber.active = False
    subscriber.disabled_reason = reason
    subscriber.disabled_at = now
    session.add(subscriber)
    result = await session.exec(
        update(Delivery)
        .where(
            col(Delivery.subscriber_id) == subscriber.id,
            col(Delivery.status) == DeliveryStatus.PENDING.value,
            or_(col(Delivery.lease_expires_at).is_(None), col(Delivery.lease_expires_at) <= now),
        )
        .values(
            status=DeliveryStatus.DEAD.value,
            next_attempt_at=None,
            lease_holder=None,
            lease_expires_at=None,
            last_error=f"subscriber disabled: {reason}",
        )
    )
    dead = int(getattr(result, "rowcount", 0) or 0)
    await record_subscriber_event(session, subscriber, EventType.SUBSCRIBER_DISABLED, now)
    log.warning(
        "subscriber.disabled subscriber=%s url=%s reason=%r dead_lettered=%d",
        subscriber.id,
        subscriber.url,
        reason,
        dead,
    )
    return dead


class Subscribers:
    """Subscriber management (API and CLI)."""

    def __init__(self, sessions: SessionFactory, settings: DeliverySettings) -> None:
        self._sessions = sessions
        self._settings = settings

    async def add(
        self, url: str, event_types: Iterable[str] | str | None = None, secret: str | None = None
    ) -> Subscriber:
        """A new subscriber; no ``event_types`` means every type."""
        subscriber = await self.prepare(url, event_types, secret)
        async with self._sessions() as session, session.begin():
            session.add(subscriber)
        log.info("subscriber %s added for %s", subscriber.id, subscriber.url)
        return subscriber

    async def prepare(
        self,
        url: str,
        event_types: Iterable[str] | str | None = None,
        secret: str | None = None,
        *,
        task_id: str | None = None,
    ) -> Subscriber:
        """A validated subscriber, not stored yet (the caller adds it to its own
        transaction: a task webhook is written with its task)."""
        types = parse_event_types(event_types)
        if secret is not None:
            secret = validate_secret(secret.strip())
        url = await validate_url(url, allow_private=self._settings.allow_private_targets)
        return Subscriber(
            url=url,
            secret=secret or generate_secret(),
            event_types=types,
            task_id=task_id,
            created_at=clock.utcnow(),
        )

    async def list(self, *, task_id: str | None = None) -> Sequence[Subscriber]:
        """Every subscriber for all tasks; with ``task_id``, that task's webhooks."""
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            scope = (
                col(Subscriber.task_id).is_(None)
                if task_id is None
                else col(Subscriber.task_id) == task_id
            )
            query = select(Subscriber).where(scope).order_by(col(Subscriber.id))
            return (await session.exec(query)).all()

    async def get(self, subscriber_id: str) -> Subscriber:
        async with self._sessions() as session:
            return await _get(session, subscriber_id)

    async def remove(self, subscriber_id: str) -> None:
        """Delete the subscriber with its deliveries and their attempt history.

        Locks in the dispatcher's order (subscriber, then its deliveries by id), so a
        pass recording outcomes for this subscriber waits instead of deadlocking.
        """
        async with self._sessions() as session, session.begin():
            subscriber = await _get(session, subscriber_id, for_update=True)
            deliveries = select(Delivery.id).where(col(Delivery.subscriber_id) == subscriber_id)
            await session.exec(deliveries.order_by(col(Delivery.id)).with_for_update())
            await session.exec(
                delete(DeliveryAttempt).where(col(DeliveryAttempt.delivery_id).in_(deliveries))
            )
            await session.exec(delete(Delivery).where(col(Delivery.subscriber_id) == subscriber_id))
            await session.delete(subscriber)
        log.info("subscriber %s removed", subscriber_id)

    async def disable(self, subscriber_id: str, reason: str = "disabled by an operator") -> int:
        async with self._sessions() as session, session.begin():
            subscriber = await _get(session, subscriber_id, for_update=True)
            if not subscriber.active:
                return 0
            return await disable_in_session(session, subscriber, reason, clock.utcnow())

    async def enable(self, subscriber_id: str) -> Subscriber:
        async with self._sessions() as session, session.begin():
            subscriber = await _get(session, subscriber_id, for_update=True)
            subscriber.active = True
            subscriber.disabled_reason = None
            subscriber.disabled_at = None
            subscriber.failing_since = None
            session.add(subscriber)
        log.info("subscriber %s enabled", subscriber_id)
        return subscriber

    async def rotate(self, subscriber_id: str, secret: str | None = None) -> Subscriber:
        """Switch to a new secret; the old one keeps signing for the rotation window."""
        if secret is not None:
            secret = validate_secret(secret.strip())
        window = timedelta(seconds=self._settings.rotation_window_seconds)
        async with self._sessions() as session, session.begin():
            subscriber = await _get(session, subscriber_id, for_update=True)
            subscriber.previous_secret = subscriber.secret
            subscriber.previous_secret_expires_at = clock.utcnow() + window
            subscriber.secret = secret or generate_secret()
            session.add(subscriber)
        log.info(
            "subscriber %s secret rotated; old secret signs until %s",
            subscriber_id,
            subscriber.previous_secret_expires_at,
        )
        return subscriber


async def _get(
    session: AsyncSession, subscriber_id: str, *, for_update: bool = False
) -> Subscriber:
    subscriber = await session.get(Subscriber, subscriber_id, with_for_update=for_update)
    if subscriber is None:
        raise SubscriberNotFoundError(subscriber_id)
    return subscriber
