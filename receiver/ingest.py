"""The durable write path for task snapshots: callbacks, polls and submissions.

A snapshot is written with its inbox row, the task update decided by
``lifecycle.apply`` and the outbox event in one transaction, so a caller that
answers the provider after :meth:`Ingestor.record` returns has a durable commit
behind its 2xx. :class:`Ingestor` groups concurrent snapshots into one commit;
:func:`ingest_batch` does the work inside a caller's transaction and commits
nothing, for the poller and the submitter, which write in their own transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock, metrics
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

SNAPSHOTS = Snapshot.__table__  # type: ignore[attr-defined]

log = logging.getLogger(__name__)


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
    """Writes :class:`Inbound` items with group commit.

    Every concurrent :meth:`record` call joins a queue; one writer task takes
    everything waiting (up to ``max_batch``), writes it in ONE transaction, commits
    once and only then answers each caller. While it commits, the next batch
    gathers, so under load many callbacks share one fsync and, on SQLite, callers
    never fight over the write lock (SQLite resolves that by sleeping). A batch that
    fails is retried item by item, so one bad row cannot fail its neighbours.

    Items of one batch are written in task-id order (stable, so one task's items
    keep their arrival order): concurrent writers in other processes then lock rows
    in the same order and cannot deadlock.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        max_batch: int = 256,
        on_events: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._on_events = on_events  # told after a commit that wrote events
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def record(self, inbound: Inbound) -> IngestResult:
        """Write ``inbound``; returns once it is durably committed."""
        pending = _Pending(inbound, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="genhook-ingest")
        # shield: a caller that goes away must not cancel a write others share
        return await asyncio.shield(pending.result)

    async def aclose(self) -> None:
        """Finish what is queued, then stop the writer."""
        if self._writer is None:
            return
        if not self._writer.done():
            await self._queue.join()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Pending]) -> None:
        batch.sort(key=lambda p: p.inbound.task_id)
        began = time.perf_counter()
        try:
            async with self._sessions() as session, session.begin():
                results = await ingest_batch(session, [p.inbound for p in batch])
        except Exception:
            if len(batch) > 1:
                log.warning("a batch of %d failed; writing its items one by one", len(batch))
            for pending in batch:
                await self._write_alone(pending)
            return
        metrics.ingest_committed(len(batch), time.perf_counter() - began)
        for pending, result in zip(batch, results, strict=True):
            if not pending.result.done():
                pending.result.set_result(result)
        if self._on_events is not None and any(r.event_id for r in results):
            self._on_events()

    async def _write_alone(self, pending: _Pending) -> None:
        try:
            result = await self._write_one(pending.inbound)
        except Exception as exc:
            if not pending.result.done():
                pending.result.set_exception(exc)
        else:
            if not pending.result.done():
                pending.result.set_result(result)
            if self._on_events is not None and result.event_id:
                self._on_events()

    async def _write_one(self, inbound: Inbound) -> IngestResult:
        try:
            async with self._sessions() as session, session.begin():
                return await ingest_in_session(session, inbound)
        except IntegrityError as exc:
            # The only constraint a snapshot can break is the provider task id being
            # claimed by another task already: keep the body, apply nothing.
            detail = f"provider task id already belongs to another task ({exc.orig})"
            log.warning(
                "callback for %s kept as anomaly: %s",
                inbound.task_id,
                detail,
                extra={"task_id": inbound.task_id, "provider": inbound.provider},
            )
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


@dataclass(frozen=True, slots=True)
class _Pending:
    inbound: Inbound
    result: asyncio.Future[IngestResult]


async def ingest_in_session(
    session: AsyncSession, inbound: Inbound, *, outcome: Outcome = Outcome.QUARANTINED
) -> IngestResult:
    """Write ``inbound`` inside the caller's transaction; ``outcome`` is for unreadable ones."""
    [result] = await ingest_batch(session, [inbound], unreadable=outcome)
    return result


async def ingest_batch(
    session: AsyncSession,
    inbounds: Sequence[Inbound],
    *,
    unreadable: Outcome = Outcome.QUARANTINED,
) -> list[IngestResult]:
    """Write ``inbounds`` in order inside the caller's transaction; commits nothing.

    The statements are batched, not just the transaction: all tasks are loaded (and
    locked, on PostgreSQL) by one ``SELECT ... IN``, nothing is flushed while the
    items are applied, and the session's single flush at commit sends the rows as
    multi-row statements. Each statement is a round trip (to aiosqlite's thread, or
    to PostgreSQL), so this, not the commit, is what bounds a batch's cost.
    """
    if not inbounds:  # an empty parameter list would INSERT one row of defaults
        return []
    now = clock.utcnow()
    ids = sorted({inbound.task_id for inbound in inbounds})
    rows = await session.exec(
        select(Task)
        .where(col(Task.id).in_(ids))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    tasks = {task.id: task for task in rows.all()}
    results = []
    inbox: list[dict[str, Any]] = []
    with session.no_autoflush:
        for raw in inbounds:
            inbound = _storable(raw)
            task = tasks.get(inbound.task_id)
            result = await _ingest_one(session, inbound, task, now, unreadable)
            inbox.append(_inbox_row(inbound, task, result, now))
            results.append(result)
    # Inbox rows are plain dicts in one multi-row INSERT: building an ORM object per
    # row costs more than everything else a callback does.
    await session.exec(insert(SNAPSHOTS), params=inbox)
    return results


async def _ingest_one(
    session: AsyncSession, inbound: Inbound, task: Task | None, now: datetime, unreadable: Outcome
) -> IngestResult:
    if task is None or inbound.snapshot is None:
        detail = inbound.detail if task is not None else f"no task {inbound.task_id!r}"
        log.warning(
            "%s %s body for task %s: %s",
            unreadable,
            inbound.source,
            inbound.task_id,
            detail,
            extra={"task_id": inbound.task_id, "provider": inbound.provider},
        )
        return IngestResult(unreadable, inbound.task_id, detail=detail)

    transition = apply(task_state(task), inbound.snapshot)
    if transition.outcome is Outcome.IGNORED:
        log.warning(
            "task %s: %s",
            task.id,
            transition.detail,
            extra={"task_id": task.id, "provider": task.provider},
        )

    event_id: str | None = None
    if transition.changes:
        _apply_changes(task, transition.changes, now)
        session.add(task)
        if "status" in transition.changes:
            metrics.task_transitioned(session, task, inbound.source.value)
    if transition.event is not None:
        event_id = (await record_event(session, task, transition.event, now)).id
    return IngestResult(transition.outcome, task.id, event_id, transition.detail)


def _storable(inbound: Inbound) -> Inbound:
    """Drop NUL characters a provider may send: PostgreSQL text cannot hold them, and a
    write that always fails would leave the provider retrying for nothing. The raw
    body (bytes) keeps them."""
    snapshot = inbound.snapshot
    if snapshot is None:
        return inbound
    texts: dict[str, Any] = {
        name: value.replace("\x00", "")
        for name in ("state", "provider_task_id", "error_code", "error_message")
        if isinstance(value := getattr(snapshot, name), str) and "\x00" in value
    }
    if any("\x00" in url for url in snapshot.result_urls):
        texts["result_urls"] = tuple(url.replace("\x00", "") for url in snapshot.result_urls)
    return replace(inbound, snapshot=replace(snapshot, **texts)) if texts else inbound


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
        model=task.model,
        request=task.request,
    )


def _apply_changes(task: Task, changes: Any, now: Any) -> None:
    for name, value in changes.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        setattr(task, name, value)
    task.updated_at = now
    if Status(task.status).is_terminal:
        task.terminal_at = task.terminal_at or now
        # Nothing left to poll for: drop out of the poller's index range.
        task.next_poll_at = None
        task.lease_holder = None
        task.lease_expires_at = None


def _inbox_row(
    inbound: Inbound, task: Task | None, result: IngestResult, now: datetime
) -> dict[str, Any]:
    snapshot = inbound.snapshot
    return {
        "task_id": task.id if task is not None else None,
        "provider": inbound.provider,
        "source": inbound.source.value,
        "received_at": now,
        "outcome": result.outcome.value,
        "state": snapshot.state[:64] if snapshot else None,
        "provider_task_id": snapshot.provider_task_id if snapshot else None,
        "body": inbound.body,
        "parse_errors": list(inbound.parse_errors),
        "detail": result.detail,
    }
