"""The durable write path for task snapshots (callbacks now, polls later).

Each snapshot is written as one transaction: the inbox row, the task update decided
by ``lifecycle.apply`` and the outbox event, so a caller that answers the provider
after :meth:`Ingestor.record` returns has a durable commit behind its 2xx.

:func:`ingest_in_session` does the work inside a caller's transaction and commits
nothing, so a batching writer can put many snapshots into one commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock
from receiver.events import record_event
from receiver.lifecycle import (
    Outcome,
    Source,
    Status,
    TaskSnapshot,
    TaskState,
    apply,
)
from storage.engine import SessionFactory
from storage.models import Snapshot, Task

log = logging.getLogger("genhook.ingest")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a provider told us about a task, ready to be written.

    ``snapshot`` is None when the body could not be read at all: it is then kept in
    quarantine with ``detail`` saying why.
    """

    task_id: str
    provider: str
    source: Source
    snapshot: TaskSnapshot | None
    body: bytes | None = None
    parse_errors: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    task_id: str
    event_id: str | None = None
    detail: str | None = None


class Ingestor:
    """Writes :class:`Inbound` items, one transaction each."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, inbound: Inbound) -> IngestResult:
        try:
            async with self._sessions() as session, session.begin():
                return await ingest_in_session(session, inbound)
        except IntegrityError as exc:
            # The only constraint a snapshot can break is the provider task id being
            # claimed by another task already: keep the body, apply nothing.
            detail = f"provider task id already belongs to another task ({exc.orig})"
            log.warning("callback for %s kept as anomaly: %s", inbound.task_id, detail)
            anomaly = Inbound(
                task_id=inbound.task_id,
                provider=inbound.provider,
                source=inbound.source,
                snapshot=None,
                body=inbound.body,
                parse_errors=inbound.parse_errors,
                detail=detail,
            )
            async with self._sessions() as session, session.begin():
                return await ingest_in_session(session, anomaly, outcome=Outcome.ANOMALY)


async def ingest_in_session(
    session: AsyncSession, inbound: Inbound, *, outcome: Outcome = Outcome.QUARANTINED
) -> IngestResult:
    """Write ``inbound`` inside the caller's transaction; ``outcome`` is for unreadable ones."""
    now = clock.utcnow()
    task = await session.get(Task, inbound.task_id, with_for_update=True)

    if task is None or inbound.snapshot is None:
        detail = inbound.detail if task is not None else f"no task {inbound.task_id!r}"
        session.add(_inbox_row(inbound, task, outcome, now, detail))
        log.warning("%s %s body for task %s: %s", outcome, inbound.source, inbound.task_id, detail)
        return IngestResult(outcome, inbound.task_id, detail=detail)

    transition = apply(task_state(task), inbound.snapshot)
    if transition.outcome is Outcome.IGNORED:
        log.warning("task %s: %s", task.id, transition.detail)

    event_id: str | None = None
    if transition.changes:
        _apply_changes(task, transition.changes, now)
        session.add(task)
    if transition.event is not None:
        event_id = (await record_event(session, task, transition.event, now)).id
    session.add(_inbox_row(inbound, task, transition.outcome, now, transition.detail))
    return IngestResult(transition.outcome, task.id, event_id, transition.detail)


def task_state(task: Task) -> TaskState:
    """The lifecycle's view of a stored task."""
    return TaskState(
        status=Status(task.status),
        provider_task_id=task.provider_task_id,
        result_urls=tuple(task.result_urls),
        error_code=task.error_code,
        error_message=task.error_message,
        credits_used=task.credits_used,
        credits_refunded=task.credits_refunded,
        remaining_credits=task.remaining_credits,
        provider_created_at=task.provider_created_at,
        provider_completed_at=task.provider_completed_at,
        provider_cost_ms=task.provider_cost_ms,
        result_expires_at=task.result_expires_at,
        terminal_at=task.terminal_at,
        last_source=Source(task.last_source) if task.last_source else None,
        anomalies=tuple(task.anomalies),
    )


def _apply_changes(task: Task, changes: Any, now: Any) -> None:
    for name, value in changes.items():
        if isinstance(value, tuple):
            value = list(value)
        setattr(task, name, value)
    task.updated_at = now
    if Status(task.status).is_terminal:
        task.terminal_at = task.terminal_at or now
        # Nothing left to poll for: drop out of the poller's index range.
        task.next_poll_at = None
        task.lease_holder = None
        task.lease_expires_at = None


def _inbox_row(
    inbound: Inbound, task: Task | None, outcome: Outcome, now: Any, detail: str | None
) -> Snapshot:
    snapshot = inbound.snapshot
    return Snapshot(
        task_id=task.id if task is not None else None,
        provider=inbound.provider,
        source=inbound.source.value,
        received_at=now,
        outcome=outcome.value,
        state=snapshot.state[:64] if snapshot else None,
        provider_task_id=snapshot.provider_task_id if snapshot else None,
        body=inbound.body,
        parse_errors=list(inbound.parse_errors),
        detail=detail,
    )
