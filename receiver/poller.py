"""The fallback poller: every task reaches its true terminal state, callback or not.

:meth:`Poller.poll_once` is one bounded pass (the APScheduler job only calls it):

1. claim due tasks with a lease (``storage.claims.claim_due``), so any number of
   workers on one database never poll the same task at the same time;
2. per provider, ask :class:`~receiver.pressure.ProviderPressure` whether it may be
   called; if not, park the tasks until it may (an outage delays polls, it never
   fails a task);
3. fetch the provider's view in as few requests as its API allows (APIMart's batch
   endpoint, in chunks); the adapter bounds its parallel requests per provider
   (``GENHOOK_POLL_CONCURRENCY``);
4. write each answer exactly like a callback: snapshot row with ``source=poll``,
   the change ``lifecycle.apply`` decides, the outbox event — so a task completed by
   a poll and then by a late callback emits one terminal event, not two;
5. schedule the next poll from :mod:`receiver.cadence`, or expire the task at its
   deadline after one last poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock, fitting, metrics, settlement
from receiver.cadence import Cadence, PollOutcome, next_poll_at, next_poll_delay
from receiver.ingest import Inbound, IngestResult, ingest_batch, ingest_in_session
from receiver.leases import renewing
from receiver.lifecycle import Outcome, Source, Status, TaskSnapshot, normalize_state
from receiver.pressure import CircuitState, ProviderPressure
from receiver.providers.base import ProviderAdapter
from receiver.providers.errors import ProviderCallError, ProviderRateLimitedError
from receiver.routes.costs import EMPTY_LEDGER, Ledger
from receiver.settings import PollSettings
from storage.claims import claim_due_rows, worker_id
from storage.engine import SessionFactory
from storage.models import Task

log = logging.getLogger(__name__)

DEADLINE_CODE = "deadline_exceeded"


@dataclass
class PollReport:
    """What one pass did; tests and benchmarks read it, the scheduler ignores it."""

    claimed: int = 0
    polled: int = 0
    applied: int = 0
    expired: int = 0
    deferred: int = 0
    failed_calls: int = 0
    requests_by_provider: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Poller:
    def __init__(
        self,
        sessions: SessionFactory,
        adapters: Mapping[str, ProviderAdapter],
        settings: PollSettings,
        cadences: Mapping[str, Cadence],
        *,
        expire_grace_seconds: float,
        pressure: ProviderPressure,
        ledger: Ledger = EMPTY_LEDGER,
        holder: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._adapters = adapters
        self._settings = settings
        self._cadences = cadences
        self._grace = timedelta(seconds=expire_grace_seconds)
        self._pressure = pressure
        self._holder = holder or worker_id()
        self._rng = rng or random.Random()

    @property
    def pressure(self) -> ProviderPressure:
        return self._pressure

    async def poll_once(self) -> PollReport:
        report = PollReport()
        now = clock.utcnow()
        tasks = await self._claim(now)
        report.claimed = len(tasks)
        by_provider: dict[str, list[Task]] = defaultdict(list)
        for task in tasks:
            by_provider[task.provider].append(task)
        lease = timedelta(seconds=self._settings.lease_seconds)
        keys = [task.id for task in tasks]
        async with renewing(self._sessions, Task, keys, holder=self._holder, lease=lease):
            outcomes = await asyncio.gather(
                *(self._poll_provider(p, group, now, report) for p, group in by_provider.items()),
                return_exceptions=True,
            )
        for provider, outcome in zip(by_provider, outcomes, strict=True):
            if isinstance(outcome, Exception):  # one provider's failure is not the others'
                log.error("polling %s failed unexpectedly", provider, exc_info=outcome)
        return report

    async def _claim(self, now: datetime) -> list[Task]:
        async with self._sessions() as session, session.begin():
            return await claim_due_rows(
                session,
                Task,
                due_column="next_poll_at",
                now=now,
                holder=self._holder,
                lease=timedelta(seconds=self._settings.lease_seconds),
                limit=self._settings.batch_size,
            )

    async def _poll_provider(
        self, provider: str, tasks: list[Task], now: datetime, report: PollReport
    ) -> None:
        pollable = [t for t in tasks if t.provider_task_id and t.status != Status.SUBMITTING]
        unpollable = [t for t in tasks if t not in pollable]
        if unpollable:
            # No provider task id yet (waiting for a callback, or a submission the
            # reconciler owns): nothing to ask; only the deadline can end them.
            await self._settle(provider, unpollable, {}, now, report, pollable=False)

        if not pollable:
            return
        gate = self._pressure.gate(provider, now)
        if not gate.allowed:
            assert gate.wait_until is not None
            await self._park(pollable, gate.wait_until, report)
            return
        if gate.probe_only:
            pollable, waiting = pollable[:1], pollable[1:]
            if waiting:
                await self._park(waiting, now + timedelta(seconds=1), report)

        adapter = self._adapters[provider]
        ids = [t.provider_task_id for t in pollable if t.provider_task_id]
        try:
            report.requests_by_provider[provider] += 1
            snapshots = await adapter.fetch_many(ids)
        except ProviderRateLimitedError as exc:
            report.failed_calls += 1
            self._pressure.record_rate_limit(provider, exc.retry_after, now)
            log.warning(
                "%s rate-limited the poller; waiting %ss",
                provider,
                exc.retry_after,
                extra={"provider": provider},
            )
            await self._defer_after_error(provider, pollable, now, report)
            return
        except ProviderCallError as exc:
            report.failed_calls += 1
            self._pressure.record_failure(provider, now)
            metrics.circuit(
                provider, self._pressure.state(provider, now) is not CircuitState.CLOSED
            )
            log.warning(
                "polling %s failed (%s); backing off", provider, exc, extra={"provider": provider}
            )
            await self._defer_after_error(provider, pollable, now, report)
            return
        except Exception:  # an answer the adapter could not read: these tasks wait, no others
            report.failed_calls += 1
            log.exception("reading %s's poll answer failed; backing off its tasks", provider)
            await self._defer_after_error(provider, pollable, now, report)
            return
        self._pressure.record_success(provider)
        metrics.circuit(provider, False)
        report.polled += len(pollable)
        await self._settle(provider, pollable, snapshots, now, report, pollable=True)

    async def _settle(
        self,
        provider: str,
        tasks: Sequence[Task],
        snapshots: dict[str, TaskSnapshot],
        now: datetime,
        report: PollReport,
        *,
        pollable: bool,
    ) -> None:
        """Write every answer and the next poll time, one transaction for the batch.

        If the batch cannot be written, each task is written alone, and a task that
        still fails is that task's problem (:meth:`_settle_failed`): its neighbours'
        answers are kept. Unpollable tasks (no provider task id) are only woken again
        at their deadline.
        """
        try:
            async with self._sessions() as session, session.begin():
                applied, expired = await self._write_answers(
                    session, provider, tasks, snapshots, now, pollable=pollable
                )
        except Exception as exc:
            if len(tasks) == 1:
                await self._settle_failed(provider, tasks[0], exc, now, report)
                return
            log.exception(
                "writing %d %s poll answers together failed; writing each alone",
                len(tasks),
                provider,
            )
            for task in tasks:
                await self._settle(provider, [task], snapshots, now, report, pollable=pollable)
            return
        report.applied += applied
        report.expired += expired

    async def _write_answers(
        self,
        session: AsyncSession,
        provider: str,
        tasks: Sequence[Task],
        snapshots: dict[str, TaskSnapshot],
        now: datetime,
        *,
        pollable: bool,
    ) -> tuple[int, int]:
        """The answers and next poll times, in the caller's transaction; returns how
        many answers changed a task and how many tasks expired."""
        cadence = self._cadences[provider]
        expired = 0
        inbounds = [
            Inbound(task.id, provider, Source.POLL, snapshot)
            for task in tasks
            if (snapshot := snapshots.get(task.provider_task_id or "")) is not None
        ]
        batch = await ingest_batch(session, inbounds, ledger=self._ledger)
        results = {r.task_id: r for r in batch}
        if self._adapters[provider].has_callbacks:  # a poll, not a callback, finished these
            metrics.callback_lost(session, provider, _finished(inbounds, batch))
        applied = sum(r.outcome is Outcome.APPLIED for r in results.values())
        for task in await self._still_held(session, tasks):
            task.lease_holder = task.lease_expires_at = None
            if Status(task.status).is_terminal or task.reroute_at is not None:
                task.next_poll_at = None  # ended, or waiting for its route's next target
                continue
            result = results.get(task.id)
            if result is None:
                outcome = PollOutcome.NOT_FOUND
            else:
                task.poll_attempts += 1
                changed = result.outcome is Outcome.APPLIED
                outcome = PollOutcome.CHANGED if changed else PollOutcome.UNCHANGED
            if now >= task.deadline_at:
                await self._expire(session, task, now)
                expired += 1
            elif pollable:
                task.next_poll_at = next_poll_at(
                    now,
                    task.deadline_at,
                    cadence,
                    attempts=task.poll_attempts,
                    last=outcome,
                    rng=self._rng,
                )
            else:
                task.next_poll_at = task.deadline_at
        return applied, expired

    async def _settle_failed(
        self, provider: str, task: Task, exc: Exception, now: datetime, report: PollReport
    ) -> None:
        """One task's answer cannot be written: keep the reason in its inbox and poll it
        again on its error back-off, as if the provider had failed."""
        log.error("task %s: its poll answer could not be written: %r", task.id, exc)
        reason = fitting.cut(f"poll answer not stored: {type(exc).__name__}: {exc}", 2000)
        delay = next_poll_delay(
            self._cadences[provider],
            attempts=task.poll_attempts + 1,
            last=PollOutcome.ERROR,
            rng=self._rng,
        )
        try:
            async with self._sessions() as session, session.begin():
                for held in await self._still_held(session, [task]):
                    held.lease_holder = held.lease_expires_at = None
                    held.next_poll_at = now + timedelta(seconds=delay)
                    inbound = Inbound(task.id, provider, Source.POLL, None, detail=reason)
                    await ingest_in_session(session, inbound, ledger=self._ledger)
        except Exception:
            log.exception(
                "task %s: not even that could be written; it is polled again when its "
                "lease expires",
                task.id,
            )
            return
        report.deferred += 1

    async def _still_held(self, session: AsyncSession, tasks: Sequence[Task]) -> list[Task]:
        """The claimed tasks, locked and loaded in one query, minus any whose lease ran
        out meanwhile (another worker has them now, or they were deleted)."""
        rows = await session.exec(
            select(Task)
            .where(col(Task.id).in_([t.id for t in tasks]))
            .with_for_update()
            .execution_options(populate_existing=True)  # as the batch just left them
        )
        return [task for task in rows.all() if task.lease_holder == self._holder]

    async def _expire(self, session: AsyncSession, task: Task, now: datetime) -> None:
        """The last poll still found no terminal state: the task expires, with its event.

        A create never confirmed by then did not expire (nothing was known to run): it
        fails with ``create_unconfirmed`` (:mod:`receiver.settlement`).
        """
        if task.status == Status.SUBMITTING:
            cause = settlement.last_error(task.error_message)
            snapshot = settlement.deadline_failure(task.provider, cause, task.deadline_at, now)
            inbound = Inbound(task.id, task.provider, Source.SUBMIT, snapshot)
            await ingest_in_session(session, inbound, ledger=self._ledger)
            log.info("task %s: its create was never confirmed by its deadline", task.id)
            return
        snapshot = TaskSnapshot(
            state=Status.EXPIRED.value,
            source=Source.POLL,
            error_code=DEADLINE_CODE,
            error_message=f"no terminal state by the deadline {task.deadline_at.isoformat()}",
            observed_at=now,
        )
        await ingest_in_session(
            session, Inbound(task.id, task.provider, Source.POLL, snapshot), ledger=self._ledger
        )
        log.info(
            "task %s expired at its deadline",
            task.id,
            extra={"task_id": task.id, "provider": task.provider},
        )

    async def _defer_after_error(
        self, provider: str, tasks: Sequence[Task], now: datetime, report: PollReport
    ) -> None:
        """The provider could not answer: try again later, never fail the task for it.

        Past the deadline plus ``expire_grace_seconds`` a task expires even so: by then
        it has been given every chance and someone should look at it.
        """
        gate = self._pressure.gate(provider, now)
        cadence = self._cadences[provider]
        grace = self._grace
        async with self._sessions() as session, session.begin():
            for task in await self._still_held(session, tasks):
                task.lease_holder = task.lease_expires_at = None
                if Status(task.status).is_terminal:
                    continue
                if now >= task.deadline_at + grace:
                    await self._expire(session, task, now)
                    report.expired += 1
                    continue
                # the task's own back-off; the provider-wide gate may ask for longer
                delay = next_poll_delay(
                    cadence, attempts=task.poll_attempts + 1, last=PollOutcome.ERROR, rng=self._rng
                )
                retry_at = now + timedelta(seconds=delay)
                if gate.wait_until is not None:
                    retry_at = max(retry_at, gate.wait_until)
                task.next_poll_at = retry_at
                report.deferred += 1

    async def _park(self, tasks: Sequence[Task], until: datetime, report: PollReport) -> None:
        """Hand tasks back untouched, due again when the provider may be called."""
        async with self._sessions() as session, session.begin():
            for task in await self._still_held(session, tasks):
                task.lease_holder = task.lease_expires_at = None
                task.next_poll_at = until + timedelta(seconds=self._rng.uniform(0, 1))
                report.deferred += 1


def _finished(inbounds: Sequence[Inbound], results: Sequence[IngestResult]) -> int:
    """How many of ``inbounds`` made their task terminal."""
    return sum(
        result.outcome is Outcome.APPLIED
        and inbound.snapshot is not None
        and (status := normalize_state(inbound.snapshot.state)) is not None
        and status.is_terminal
        for inbound, result in zip(inbounds, results, strict=True)
    )
