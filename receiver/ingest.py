"""The durable write path for task snapshots: callbacks, polls and submissions.

A snapshot is written with its inbox row, the task update decided by
``lifecycle.apply`` and the outbox event in one transaction (:mod:`receiver.writes`),
so a caller that answers the provider after :meth:`Ingestor.record` returns has a
durable commit behind its 2xx. :class:`Ingestor` groups concurrent snapshots into
one commit; :func:`ingest_batch` does the work inside a caller's own transaction,
for the poller and the submitter.

Nothing a provider sends can make a write fail for good: every snapshot is fitted
to its columns first (:mod:`receiver.fitting`; what had to be dropped is recorded
as a parse error next to the raw body), and an item that still cannot be written
is kept in quarantine with the reason rather than answered with an error the
provider would retry forever. Only a database that does not answer is an error.

A task's callback URL speaks only for that task: a snapshot naming a provider task
id that another task holds is applied to its own task without the id, and kept as
an anomaly there; the other task is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock, fitting, metrics
from receiver.errors import DatabaseUnavailableError
from receiver.lifecycle import Outcome
from receiver.routes.costs import EMPTY_LEDGER, Ledger
from receiver.writes import Inbound, IngestResult, Written, write_batch
from storage.engine import SessionFactory
from storage.errors import is_unavailable
from storage.sqlite_thread import SqliteWriterThread
from storage.wakeups import OnTopics, mark

__all__ = [
    "BatchWriter",
    "Inbound",
    "IngestResult",
    "Ingestor",
    "SessionWriter",
    "SqliteThreadWriter",
    "ingest_batch",
    "ingest_in_session",
]

log = logging.getLogger(__name__)

# A database that did not answer (storage.errors.is_unavailable): the caller should
# retry (503), nothing is kept. Anything else that fails a write is about the item,
# and the item is quarantined.


class BatchWriter(Protocol):
    """Writes one batch in one transaction and commits it (waking who must know)."""

    async def write(self, inbounds: Sequence[Inbound], *, unreadable: Outcome) -> Written: ...


class SessionWriter:
    """Each batch in a session of the shared engine (aiosqlite or asyncpg)."""

    def __init__(self, sessions: SessionFactory, ledger: Ledger = EMPTY_LEDGER) -> None:
        self._sessions = sessions
        self._ledger = ledger

    async def write(self, inbounds: Sequence[Inbound], *, unreadable: Outcome) -> Written:
        async with self._sessions() as session, session.begin():
            return await _write_in(session, inbounds, unreadable, self._ledger)


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

    A database that does not answer must not hold callers: each waits at most
    ``write_timeout`` seconds (``GENHOOK_DB_WRITE_TIMEOUT_SECONDS``) and then gets
    :class:`~receiver.errors.DatabaseUnavailableError` (the callback route answers
    503, the provider retries). Its item is then dropped from the queue if it was
    not yet being written, so an error answer means "not stored" wherever it can;
    a batch the database refused for being unavailable fails as a whole at once
    (retrying it item by item would hold the queue for as many timeouts).
    """

    def __init__(
        self, writer: BatchWriter, *, max_batch: int = 256, write_timeout: float | None = None
    ) -> None:
        self._writer = writer
        self._max_batch = max_batch
        self._write_timeout = write_timeout
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def record(self, inbound: Inbound) -> IngestResult:
        """Write ``inbound``; returns once it is durably committed."""
        pending = _Pending(inbound, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_forever(), name="genhook-ingest")
        # shield: a caller that goes away must not cancel a write others share
        try:
            async with asyncio.timeout(self._write_timeout):
                return await asyncio.shield(pending.result)
        except TimeoutError:
            pending.abandoned = not pending.taken
            pending.result.add_done_callback(_retrieved)  # nobody awaits it any more
            raise DatabaseUnavailableError(
                f"the database did not take the write within {self._write_timeout:g} s"
            ) from None

    async def aclose(self) -> None:
        """Finish what is queued, then stop the writer."""
        if self._task is None:
            return
        if not self._task.done():
            await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _write_forever(self) -> None:
        while True:
            taken = [await self._queue.get()]
            while len(taken) < self._max_batch and not self._queue.empty():
                taken.append(self._queue.get_nowait())
            batch = [p for p in taken if not p.abandoned]
            for pending in batch:
                pending.taken = True
            try:
                if batch:
                    await self._write(batch)
            finally:
                for _ in taken:
                    self._queue.task_done()

    async def _write(self, batch: list[_Pending]) -> None:
        batch.sort(key=lambda p: p.inbound.task_id)
        began = time.perf_counter()
        try:
            written = await self._writer.write(
                [p.inbound for p in batch], unreadable=Outcome.QUARANTINED
            )
        except Exception as exc:
            if not is_unavailable(exc):
                await self._write_each(batch)
                return
            log.warning(
                "the database did not take a batch of %d: %s: %s",
                len(batch),
                type(exc).__name__,
                exc,
            )
            for pending in batch:
                if not pending.result.done():
                    pending.result.set_exception(exc)
            return
        metrics.ingest_committed(len(batch), time.perf_counter() - began)
        for pending, result in zip(batch, written.results, strict=True):
            if not pending.result.done():
                pending.result.set_result(result)

    async def _write_each(self, batch: list[_Pending]) -> None:
        if len(batch) > 1:
            log.warning("a batch of %d failed; writing its items one by one", len(batch))
        for pending in batch:
            await self._write_alone(pending)

    async def _write_alone(self, pending: _Pending) -> None:
        try:
            result = await self._write_one(pending.inbound)
        except Exception as exc:
            if not pending.result.done():
                pending.result.set_exception(exc)
        else:
            if not pending.result.done():
                pending.result.set_result(result)

    async def _write_one(self, inbound: Inbound) -> IngestResult:
        try:
            written = await self._writer.write([inbound], unreadable=Outcome.QUARANTINED)
        except IntegrityError as exc:
            # The only constraint a snapshot can break is the provider task id being
            # claimed by another process's task a moment ago: keep the body, apply
            # nothing (a retry of the callback is then applied without the id).
            detail = f"provider task id already belongs to another task ({exc.orig})"
            outcome = Outcome.ANOMALY
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.exception("snapshot for %s could not be written; quarantined", inbound.task_id)
            detail = f"could not be stored: {type(exc).__name__}: {exc}"
            outcome = Outcome.QUARANTINED
        else:
            [result] = written.results
            return result
        log.warning(
            "%s for %s kept as %s: %s",
            inbound.source,
            inbound.task_id,
            outcome,
            detail,
            extra={"task_id": inbound.task_id, "provider": inbound.provider},
        )
        kept = replace(inbound, snapshot=None, detail=fitting.cut(detail, fitting.DETAIL_LENGTH))
        [result] = (await self._writer.write([kept], unreadable=outcome)).results
        return result


def _retrieved(result: asyncio.Future[IngestResult]) -> None:
    """Take the outcome of a write whose caller gave up (asyncio would log it unread)."""
    if not result.cancelled():
        result.exception()


@dataclass(slots=True)
class _Pending:
    inbound: Inbound
    result: asyncio.Future[IngestResult]
    taken: bool = False  # in a batch being written
    abandoned: bool = False  # its caller was answered with an error before that


async def ingest_batch(
    session: AsyncSession,
    inbounds: Sequence[Inbound],
    *,
    unreadable: Outcome = Outcome.QUARANTINED,
    ledger: Ledger = EMPTY_LEDGER,
) -> list[IngestResult]:
    """Write ``inbounds`` in order inside the caller's transaction; commits nothing."""
    return (await _write_in(session, inbounds, unreadable, ledger)).results


async def ingest_in_session(
    session: AsyncSession,
    inbound: Inbound,
    *,
    outcome: Outcome = Outcome.QUARANTINED,
    ledger: Ledger = EMPTY_LEDGER,
) -> IngestResult:
    """Write ``inbound`` inside the caller's transaction; ``outcome`` is for unreadable ones."""
    [result] = await ingest_batch(session, [inbound], unreadable=outcome, ledger=ledger)
    return result


async def _write_in(
    session: AsyncSession, inbounds: Sequence[Inbound], unreadable: Outcome, ledger: Ledger
) -> Written:
    now = clock.utcnow()

    def write(sync: OrmSession) -> Written:
        sync.flush()  # the caller's pending ORM changes are what the batch reads
        return write_batch(sync.connection(), inbounds, now, unreadable=unreadable, ledger=ledger)

    written = await session.run_sync(write)
    for topic in written.topics:
        mark(session, topic)
    for count in written.counts:
        metrics.on_commit(session, count)
    return written


class SqliteThreadWriter:
    """Each batch in one hop to a dedicated SQLite writer thread (its own connection);
    ``on_commit`` announces what it wrote, as a session's commit would."""

    def __init__(
        self, thread: SqliteWriterThread, on_commit: OnTopics, ledger: Ledger = EMPTY_LEDGER
    ) -> None:
        self._thread = thread
        self._on_commit = on_commit
        self._ledger = ledger

    async def write(self, inbounds: Sequence[Inbound], *, unreadable: Outcome) -> Written:
        now = clock.utcnow()
        ledger = self._ledger
        written = await self._thread.run(
            lambda connection: write_batch(
                connection, inbounds, now, unreadable=unreadable, ledger=ledger
            )
        )
        if written.topics:
            self._on_commit(written.topics)
        for count in written.counts:  # committed: what a session does after its commit
            count()
        return written
