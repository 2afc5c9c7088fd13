"""Is this process doing its work? The job board, lateness, and heartbeats.

:class:`JobBoard` is what a process knows of its own background jobs: when each last
ran, whether it succeeded. ``receiver.worker`` writes it around every run; ``/readyz``
asks it which jobs are late (:func:`late_jobs`, pure), and :class:`Heartbeat` (itself
a background job) copies it into the ``workers`` table, where ``genhook workers``
and the dashboard find every live process with what it holds.

A job is late when its last successful run is older than three of its intervals plus
``GENHOOK_HEALTH_JOB_GRACE_SECONDS``. A run still in progress counts from its start,
so a long pass is not late until it has itself lasted that long, and a job that
fails every time is late however often it runs. Before a job's first run, the
board's start is the reference.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any

from receiver import clock, resources, views
from receiver.settings import HealthSettings
from storage import workers
from storage.engine import READ_ONLY, SessionFactory

log = logging.getLogger(__name__)

LATE_AFTER_INTERVALS = 3
PRUNE_AFTER = timedelta(days=1)  # rows of workers that died silently are removed then
ERROR_TEXT_LIMIT = 300


@dataclass(slots=True)
class JobState:
    name: str
    every_seconds: float
    registered_at: datetime
    started_at: datetime | None = None
    running: bool = False
    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LateJob:
    name: str
    age_seconds: float
    limit_seconds: float


def late_jobs(jobs: list[JobState], now: datetime, grace_seconds: float) -> list[LateJob]:
    """The jobs that have not done their work in time (see the module docstring)."""
    late = []
    for job in jobs:
        reference = job.last_ok_at or job.registered_at
        age = (now - reference).total_seconds()
        if job.running and job.started_at is not None:
            age = min(age, (now - job.started_at).total_seconds())
        limit = LATE_AFTER_INTERVALS * job.every_seconds + grace_seconds
        if age > limit:
            late.append(LateJob(job.name, age, limit))
    return late


class JobBoard:
    """This process's background jobs and how their runs went."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobState] = {}

    def register(self, name: str, every_seconds: float) -> None:
        self._jobs[name] = JobState(name, every_seconds, clock.utcnow())

    def unregister_all(self) -> None:
        self._jobs.clear()

    @property
    def runs_jobs(self) -> bool:
        return bool(self._jobs)

    def started(self, name: str) -> None:
        job = self._jobs.get(name)
        if job is not None:  # None: a run still in flight after the jobs stopped
            job.started_at, job.running = clock.utcnow(), True

    def finished(self, name: str, error: BaseException | None = None) -> None:
        job = self._jobs.get(name)
        if job is None:
            return
        job.running = False
        if error is None:
            job.last_ok_at = clock.utcnow()
        else:
            job.last_error = f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]
            job.last_error_at = clock.utcnow()

    def late(self, grace_seconds: float) -> list[LateJob]:
        return late_jobs(list(self._jobs.values()), clock.utcnow(), grace_seconds)

    def describe(self) -> dict[str, dict[str, Any]]:
        """The jobs as JSON-able data, as the heartbeat stores them."""
        return {
            job.name: {
                "every_seconds": job.every_seconds,
                "last_ok_at": clock.iso(job.last_ok_at),
                "last_error": job.last_error,
                "last_error_at": clock.iso(job.last_error_at),
            }
            for job in self._jobs.values()
        }


class Heartbeat:
    """Writes this process's row in ``workers`` on every :meth:`beat`."""

    def __init__(
        self,
        sessions: SessionFactory,
        board: JobBoard,
        settings: HealthSettings,
        *,
        worker_id: str,
        kind: str,
    ) -> None:
        self._sessions = sessions
        self._board = board
        self._settings = settings
        self._worker_id = worker_id
        self._kind = kind
        self._started_at = clock.utcnow()
        self._beats = 0

    async def beat(self) -> None:
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            await workers.beat(
                session,
                worker_id=self._worker_id,
                kind=self._kind,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                version=version("genhook"),
                started_at=self._started_at,
                now=now,
                jobs=self._board.describe(),
            )
            if self._beats % 100 == 0:
                await workers.prune(session, now - PRUNE_AFTER)
        self._beats += 1

    async def stop(self) -> None:
        """A clean stop: this worker is no longer listed at all."""
        async with self._sessions() as session, session.begin():
            await workers.forget(session, self._worker_id)


def live_since(settings: HealthSettings, now: datetime) -> datetime:
    """Workers whose last heartbeat is newer than this are live."""
    return now - timedelta(seconds=settings.heartbeat_seconds * settings.live_after_missed)


async def list_live(sessions: SessionFactory, settings: HealthSettings) -> list[resources.Worker]:
    """Every live worker, with the leases it holds now."""
    now = clock.utcnow()
    async with sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        rows = await workers.live_workers(session, live_since(settings, now))
        held = await workers.held_by(session, [row.id for row in rows], now)
    return [views.worker(row, held[row.id]) for row in rows]
