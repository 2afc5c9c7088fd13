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

from receiver.services import Services
from receiver.wakeups import Topic, Wakeups
from storage.claims import worker_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A bounded pass run every ``every_seconds``, and at once whenever a commit (in
    this process or, on PostgreSQL, any other) leaves work of kind ``wake``.

    The wake-up (:mod:`receiver.wakeups`) is how work that just became due is picked
    up in milliseconds instead of at the next tick; the tick remains the safety net.
    """

    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]
    wake: Topic | None = None


def background_jobs(services: Services) -> list[PeriodicJob]:
    """Everything a worker process does, with the cadence from settings."""
    settings = services.settings
    holder = worker_id()
    return [
        PeriodicJob(
            "dispatch",
            settings.dispatch.tick_seconds,
            services.dispatcher(holder=holder).drain,
            wake=Topic.DELIVERIES,
        ),
        PeriodicJob(
            "poll",
            settings.poll.tick_seconds,
            services.poller(holder=holder).poll_once,
            wake=Topic.TASKS,
        ),
        PeriodicJob(
            "mirror",
            settings.assets.tick_seconds,
            services.mirror(holder=holder).mirror_once,
            wake=Topic.ASSETS,
        ),
        PeriodicJob(
            "reconcile",
            settings.reconcile_every_seconds,
            services.submitter(holder=holder).reconcile_unconfirmed,
        ),
    ]


@contextlib.asynccontextmanager
async def running_jobs(
    jobs: Sequence[PeriodicJob], wakeups: Wakeups
) -> AsyncIterator[AsyncIOScheduler]:
    """Run ``jobs`` on a scheduler for the duration of the block."""
    scheduler = AsyncIOScheduler()
    # one lock per job: a woken run and a scheduled run never overlap
    runs = {job.name: _guarded(job, asyncio.Lock()) for job in jobs}
    followers = [
        asyncio.create_task(
            _follow(wakeups, job.wake, runs[job.name]), name=f"genhook-wake-{job.name}"
        )
        for job in jobs
        if job.wake is not None
    ]
    for job in jobs:
        scheduler.add_job(
            runs[job.name],
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
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        await asyncio.sleep(0)  # let cancelled job tasks unwind


async def _follow(wakeups: Wakeups, topic: Topic, run: Callable[[], Awaitable[None]]) -> None:
    woken = wakeups.subscribe(topic)
    try:
        while True:
            await woken.wait()
            woken.clear()  # commits during the run wake it once more, not once each
            await run()
    finally:
        wakeups.unsubscribe(topic, woken)


def _guarded(job: PeriodicJob, lock: asyncio.Lock) -> Callable[[], Awaitable[None]]:
    """A failing pass is logged and retried at the next tick, never fatal."""

    async def run() -> None:
        async with lock:
            try:
                await job.run()
            except Exception:
                log.exception("background job %s failed; retrying next tick", job.name)

    run.__name__ = job.name
    return run
