"""The dispatcher: due deliveries out to subscribers as signed webhooks.

:meth:`Dispatcher.dispatch_once` is one bounded pass, the unit the APScheduler job
runs and tests call directly:

1. **claim** up to ``dispatch_batch_size`` due deliveries with
   :func:`storage.claims.claim_due`, exactly as the poller claims tasks (leases;
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so any number of dispatchers share the
   work and never send one delivery twice at the same time. The claim only takes a
   delivery with no earlier pending delivery for the same (task, subscriber), which
   keeps each task's events in order per subscriber (see :mod:`receiver.delivery.outbox`);
2. **send** them concurrently: the event's JSON, signed per Standard Webhooks, to
   the subscriber's URL, with ``follow_redirects=False`` and the delivery timeout,
   connecting only to an address checked for that very connection
   (:func:`receiver.netguard.guarded_client`: DNS answers change);
3. **record** the attempts, one transaction for the pass: the attempt row (status
   code, latency, error, the first KiB of the answer) and what
   :func:`receiver.delivery.schedule.decide` makes of it: succeeded, retry at a
   time, dead-lettered, or subscriber gone (410). A subscriber whose failures have
   lasted ``delivery_disable_after_seconds`` is disabled.

A delivery that fails is that delivery's problem, never its neighbours': one whose
event cannot be read or encoded is recorded as a failed attempt with the reason
(and retried on its schedule) instead of failing the claim, and when the pass's
outcomes cannot be recorded together each is recorded alone.

A dispatcher that dies mid-pass loses nothing: its leases (``GENHOOK_DISPATCH_LEASE_SECONDS``,
renewed while a pass sends) expire and another one sends the deliveries again, with
the same ``webhook-id`` (delivery is at least once; the id lets receivers drop the
duplicate). The attempt that died with it is recorded by the one that takes the
delivery over, as ``interrupted``, so the delivery's history has every attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import exists
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock, fitting, metrics, netguard
from receiver.delivery.outbox import release_next, reschedule_followers
from receiver.delivery.schedule import (
    AttemptResult,
    Decision,
    DeliveryStatus,
    Policy,
    Verdict,
    decide,
)
from receiver.delivery.signing import secrets_in_use, webhook_headers
from receiver.delivery.subscribers import disable_in_session
from receiver.errors import TargetRefusedError
from receiver.leases import renewing
from receiver.settings import DeliverySettings, DispatchSettings
from storage.claims import claim_due_noting
from storage.engine import SessionFactory
from storage.models import Delivery, DeliveryAttempt, OutboxEvent, Subscriber

log = logging.getLogger(__name__)

PENDING = DeliveryStatus.PENDING.value
USER_AGENT = "genhook-webhooks/1"
RESPONSE_BODY_LIMIT = 1024  # bytes of each answer kept with the attempt
INTERRUPTED = "interrupted: its dispatcher ({holder}) stopped before the outcome was recorded"


@dataclass(frozen=True, slots=True)
class Claimed:
    """Everything needed to send one delivery, read when it was claimed."""

    delivery_id: int
    subscriber_id: str
    attempt_number: int
    event_id: str
    body: bytes
    url: str
    secrets: tuple[str, ...]
    problem: str | None = None  # why it cannot be sent; recorded as a failed attempt


@dataclass
class PassReport:
    """What one pass did (tests and logs read it)."""

    claimed: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)

    def count(self, verdict: Verdict) -> None:
        self.verdicts[verdict.value] = self.verdicts.get(verdict.value, 0) + 1


class Dispatcher:
    def __init__(
        self,
        sessions: SessionFactory,
        http: httpx.AsyncClient,
        settings: DeliverySettings,
        passes: DispatchSettings,
        *,
        holder: str,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._http = http
        self._settings = settings
        self._batch_size = passes.batch_size
        self._holder = holder
        self._rng = rng or random.Random()
        self._policy = Policy(
            schedule=tuple(settings.schedule),
            jitter=settings.jitter,
            retry_after_max=settings.retry_after_max_seconds,
        )
        self._timeout = settings.timeout_seconds
        self._lease = timedelta(seconds=passes.lease_seconds)

    @property
    def policy(self) -> Policy:
        return self._policy

    async def dispatch_once(self) -> PassReport:
        """Claim one batch of due deliveries, send them, record the outcomes."""
        report = PassReport()
        batch = await self._claim(clock.utcnow())
        report.claimed = len(batch)
        if batch:
            keys = [item.delivery_id for item in batch]
            async with renewing(
                self._sessions, Delivery, keys, holder=self._holder, lease=self._lease
            ):
                sent = await asyncio.gather(*(self._send(item) for item in batch))
                for verdict in await self._record_isolated(sent):
                    report.count(verdict)
        return report

    async def _record_isolated(self, sent: Sequence[_Sent]) -> list[Verdict]:
        """All outcomes in one transaction; if that fails, each in its own, so one
        outcome that cannot be written costs only its own delivery a resend."""
        try:
            return await self._record_all(sent)
        except Exception:
            if len(sent) == 1:
                log.exception(
                    "delivery %s: its outcome could not be recorded; it is sent again "
                    "when its lease expires",
                    sent[0].item.delivery_id,
                )
                return []
            log.exception("recording %d delivery outcomes failed; recording each alone", len(sent))
        verdicts: list[Verdict] = []
        for one in sent:
            verdicts.extend(await self._record_isolated([one]))
        return verdicts

    async def drain(self, max_passes: int = 20) -> int:
        """Passes until a batch comes back short (the background job's unit)."""
        total = 0
        for _ in range(max_passes):
            report = await self.dispatch_once()
            total += report.claimed
            if report.claimed < self._batch_size:
                break
        return total

    async def _claim(self, now: datetime) -> list[Claimed]:
        earlier = aliased(Delivery)
        waits_for_earlier = exists().where(
            col(earlier.task_id) == col(Delivery.task_id),
            col(earlier.subscriber_id) == col(Delivery.subscriber_id),
            col(earlier.status) == PENDING,
            col(earlier.id) < col(Delivery.id),
        )
        active = select(Subscriber.id).where(col(Subscriber.active))
        async with self._sessions() as session, session.begin():
            claimed = await claim_due_noting(
                session,
                Delivery,
                due_column="next_attempt_at",
                now=now,
                holder=self._holder,
                lease=self._lease,
                limit=self._batch_size,
                extra_filters=(
                    col(Delivery.status) == PENDING,
                    ~waits_for_earlier,
                    col(Delivery.subscriber_id).in_(active),
                ),
            )
            if not claimed:
                return []
            ids = [key for key, _ in claimed]
            interrupted = {key: holder for key, holder in claimed if holder is not None}
            rows = await session.exec(
                select(Delivery, OutboxEvent.payload, Subscriber)
                .join(OutboxEvent, col(OutboxEvent.id) == col(Delivery.event_id))
                .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
                .where(col(Delivery.id).in_(ids))
                .order_by(col(Delivery.id))
            )
            found = rows.all()
            for delivery, _, _ in found:
                if delivery.id in interrupted:
                    _record_interrupted(session, delivery, interrupted[delivery.id], now)
            return [
                _claimed(delivery, payload, subscriber, now)
                for delivery, payload, subscriber in found
            ]

    async def _send(self, item: Claimed) -> _Sent:
        started = clock.utcnow()
        began = time.monotonic()
        if item.problem is not None:
            return _Sent(item, started, 0, AttemptResult(error=item.problem), None)
        result, response_body = await self._post(item)
        latency_ms = round((time.monotonic() - began) * 1000)
        return _Sent(item, started, latency_ms, result, response_body)

    async def _record_all(self, sent: Sequence[_Sent]) -> list[Verdict]:
        """Record a pass's outcomes in ONE transaction (each is a handful of statements,
        and on SQLite every transaction waits its turn for the write lock)."""
        subscriber_ids = sorted({s.item.subscriber_id for s in sent})
        delivery_ids = sorted(s.item.delivery_id for s in sent)
        async with self._sessions() as session, session.begin():
            # Lock order subscriber → delivery, as in disabling, so the two cannot deadlock.
            subscribers = {
                sub.id: sub
                for sub in (
                    await session.exec(
                        select(Subscriber)
                        .where(col(Subscriber.id).in_(subscriber_ids))
                        .with_for_update()
                    )
                ).all()
            }
            deliveries = {
                d.id: d
                for d in (
                    await session.exec(
                        select(Delivery).where(col(Delivery.id).in_(delivery_ids)).with_for_update()
                    )
                ).all()
            }
            # Autoflush stays on: release_next, reschedule_followers and disabling run
            # set-based UPDATEs that must see the outcomes recorded before them.
            verdicts = [
                await self._record(
                    session,
                    outcome,
                    subscribers.get(outcome.item.subscriber_id),
                    deliveries.get(outcome.item.delivery_id),
                )
                for outcome in sent
            ]
        return verdicts

    async def _post(self, item: Claimed) -> tuple[AttemptResult, str | None]:
        """One attempt. ``self._http`` is :func:`receiver.netguard.guarded_client`: it
        connects only to addresses it checked, so a refused target is refused here."""
        try:
            netguard.split_http_url(item.url)
        except ValueError as exc:
            return AttemptResult(error=f"target refused: {exc}"), None
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **webhook_headers(item.event_id, clock.utcnow(), item.body, item.secrets),
        }
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.stream(
                    "POST",
                    item.url,
                    content=item.body,
                    headers=headers,
                    follow_redirects=False,
                    timeout=self._timeout,
                ) as response:
                    kept = await _read_prefix(response, RESPONSE_BODY_LIMIT)
        except TargetRefusedError as exc:
            return AttemptResult(error=f"target refused: {exc}"), None
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(error=f"timed out after {self._timeout:g} s"), None
        except httpx.HTTPError as exc:
            return AttemptResult(error=f"{type(exc).__name__}: {exc}".rstrip(": ")), None
        except Exception as exc:  # a failed attempt, whatever broke: never the whole pass
            log.exception("delivery %s: unexpected error while sending", item.delivery_id)
            return AttemptResult(error=f"{type(exc).__name__}: {exc}".rstrip(": ")), None
        return (
            AttemptResult(
                status_code=response.status_code,
                retry_after=response.headers.get("retry-after"),
            ),
            kept.decode("utf-8", errors="replace"),
        )

    async def _record(
        self,
        session: AsyncSession,
        sent: _Sent,
        subscriber: Subscriber | None,
        delivery: Delivery | None,
    ) -> Verdict:
        item, result = sent.item, sent.result
        now = clock.utcnow()
        decision = decide(result, item.attempt_number, self._policy, now, self._rng)
        if subscriber is None or delivery is None:
            log.info("delivery %s: its subscriber was removed meanwhile", item.delivery_id)
            return decision.verdict
        session.add(
            DeliveryAttempt(
                delivery_id=item.delivery_id,
                number=item.attempt_number,
                attempted_at=sent.started,
                status_code=result.status_code,
                latency_ms=sent.latency_ms,
                error=_storable(result.error),
                response_body=_storable(sent.response_body),
            )
        )
        if delivery.lease_holder != self._holder:
            log.warning("delivery %s: lease lost before its outcome was recorded", item.delivery_id)
            return decision.verdict
        # Health first: if this outcome disables the subscriber, the delivery (still
        # leased, so disabling leaves it to us) is dead rather than rescheduled.
        await self._track_health(session, subscriber, decision, now)
        if decision.verdict is Verdict.RETRY and not subscriber.active:
            decision = Decision(Verdict.DEAD, reason=f"{decision.reason}; subscriber disabled")
        self._apply(delivery, decision, result, now)
        session.add(delivery)
        metrics.delivery_recorded(session, decision.verdict.value, delivery, now)
        if decision.verdict is Verdict.RETRY:
            assert decision.next_attempt_at is not None
            await reschedule_followers(session, delivery, decision.next_attempt_at)
        else:
            await release_next(session, delivery, now)
        level = logging.INFO if decision.verdict is Verdict.SUCCEEDED else logging.WARNING
        log.log(
            level,
            "delivery %s (%s → %s) attempt %d: %s%s",
            item.delivery_id,
            item.event_id,
            item.subscriber_id,
            item.attempt_number,
            decision.verdict.value,
            f" ({decision.reason})" if decision.reason else "",
            extra={
                "delivery_id": item.delivery_id,
                "event_id": item.event_id,
                "task_id": delivery.task_id,
            },
        )
        return decision.verdict

    @staticmethod
    def _apply(
        delivery: Delivery, decision: Decision, result: AttemptResult, now: datetime
    ) -> None:
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_error = _storable(decision.reason)
        delivery.lease_holder = None
        delivery.lease_expires_at = None
        if decision.verdict is Verdict.SUCCEEDED:
            delivery.status = DeliveryStatus.SUCCEEDED.value
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif decision.verdict is Verdict.RETRY:
            delivery.next_attempt_at = decision.next_attempt_at
        else:
            delivery.status = DeliveryStatus.DEAD.value
            delivery.next_attempt_at = None

    async def _track_health(
        self, session: AsyncSession, subscriber: Subscriber, decision: Decision, now: datetime
    ) -> None:
        """A success ends a failing run; a run that lasts too long disables the subscriber."""
        if decision.verdict is Verdict.SUCCEEDED:
            if subscriber.failing_since is not None:
                subscriber.failing_since = None
                session.add(subscriber)
            return
        if not subscriber.active:
            return
        if decision.verdict is Verdict.GONE:
            await disable_in_session(session, subscriber, decision.reason or "HTTP 410", now)
            return
        if subscriber.failing_since is None:
            subscriber.failing_since = now
            session.add(subscriber)
            return
        limit = timedelta(seconds=self._settings.disable_after_seconds)
        if now - subscriber.failing_since >= limit:
            await disable_in_session(
                session,
                subscriber,
                f"failing continuously since {subscriber.failing_since.isoformat()}",
                now,
            )


def _record_interrupted(
    session: AsyncSession, delivery: Delivery, holder: str, now: datetime
) -> None:
    """The attempt a stopped dispatcher made and never recorded: in the history, counted.

    Whether the subscriber got it is unknown; it is sent again now, with the same
    ``webhook-id``.
    """
    assert delivery.id is not None
    delivery.attempts += 1
    reason = INTERRUPTED.format(holder=holder)
    delivery.last_error = reason
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            attempted_at=now,
            latency_ms=0,
            error=reason,
        )
    )
    session.add(delivery)
    log.warning("delivery %s: attempt %d was %s", delivery.id, delivery.attempts, reason)


def _storable(text: str | None) -> str | None:
    """What a subscriber answered (or an error quoting it), as a text column holds it:
    without NUL characters (PostgreSQL refuses them) and bounded."""
    return fitting.cut(text, fitting.DETAIL_LENGTH) if text is not None else None


def _claimed(delivery: Delivery, payload: Any, subscriber: Subscriber, now: datetime) -> Claimed:
    """What sending ``delivery`` needs; a row that cannot give it is claimed with the
    problem, to be recorded as a failed attempt rather than fail the whole claim."""
    assert delivery.id is not None
    try:
        body = fitting.dumps(payload)
        secrets = tuple(
            secrets_in_use(
                subscriber.secret,
                subscriber.previous_secret,
                subscriber.previous_secret_expires_at,
                now,
            )
        )
        problem = None
    except Exception as exc:
        log.exception("delivery %s cannot be prepared", delivery.id)
        body, secrets, problem = b"", (), f"cannot be prepared: {type(exc).__name__}: {exc}"
    return Claimed(
        delivery_id=delivery.id,
        subscriber_id=delivery.subscriber_id,
        attempt_number=delivery.attempts + 1,
        event_id=delivery.event_id,
        body=body,
        url=subscriber.url,
        secrets=secrets,
        problem=problem,
    )


@dataclass(frozen=True, slots=True)
class _Sent:
    """One attempt, sent and not yet recorded."""

    item: Claimed
    started: datetime
    latency_ms: int
    result: AttemptResult
    response_body: str | None


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body; the rest is not downloaded."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    return bytes(kept)
