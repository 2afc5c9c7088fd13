"""Background work on APScheduler: the jobs ``genhook serve`` and ``genhook worker`` run.

Each job is a coroutine that does one bounded pass (``poll_once``, ``dispatch_once``...)
and returns; APScheduler only decides *when* it runs. ``max_instances=1`` and
``coalesce`` mean a slow pass is never overlapped by the next one and missed runs
collapse into one, so a stalled database cannot pile up work in memory. Tests call
the passes directly and never need the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from receiver.dispatcher import Dispatcher
from receiver.poller import Poller
from receiver.services import Services
from receiver.submit import Submitter
from storage.claims import worker_id

log = logging.getLogger("genhook.worker")


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]


def background_jobs(services: Services) -> list[PeriodicJob]:
    """Everything a worker process does, with the cadence from settings."""
    settings = services.settings
    poller = Poller(services, holder=worker_id())
    return [
        PeriodicJob(
            "dispatch",
            settings.dispatch_tick_seconds,
            Dispatcher(services, holder=worker_id()).drain,
        ),
        PeriodicJob("poll", settings.poll_tick_seconds, poller.poll_once),
        PeriodicJob(
            "reconcile",
            settings.reconcile_every_seconds,
            Submitter(services, holder=worker_id()).reconcile_unconfirmed,
        ),
    ]


@contextlib.asynccontextmanager
async def running_jobs(jobs: Sequence[PeriodicJob]) -> AsyncIterator[AsyncIOScheduler]:
    """Run ``jobs`` on a scheduler for the duration of the block."""
    scheduler = AsyncIOScheduler()
    for job in jobs:
        scheduler.add_job(
            _guarded(job),
            "interval",
            seconds=job.every_seconds,
            id=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    scheduler.start()
    log.info("background jobs started: %s", ", ".join(j.name for j in jobs))
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # let cancelled job tasks unwind


def _guarded(job: PeriodicJob) -> Callable[[], Awaitable[None]]:
    """A failing pass is logged and retried at the next tick, never fatal."""

    async def run() -> None:
        try:
            await job.run()
        except Exception:
            log.exception("background job %s failed; retrying next tick", job.name)

    run.__name__ = job.name
    return run
