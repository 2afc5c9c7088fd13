"""Background work on APScheduler: the jobs ``genhook serve`` and ``genhook worker`` run.

Each job is a coroutine that does one bounded pass (``poll_once``, ``dispatch_once``...)
and returns; APScheduler only decides *when* it runs. ``max_instances=1`` and
``coalesce`` mean a slow pass is never overlapped by the next one and missed runs
collapse into one, so a stalled database cannot pile up work in memory. Tests call
the passes directly and never need the scheduler.

Every run is written on the process's :class:`~receiver.heartbeat.JobBoard` (what
``/readyz`` judges), and the heartbeat job copies the board into the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from receiver import clock
from receiver.heartbeat import JobBoard
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
    at_start: bool = False  # run once right away instead of after the first interval
    on_stop: Callable[[], Awaitable[object]] | None = None  # when the jobs stop cleanly


def background_jobs(services: Services, *, kind: str = "worker") -> list[PeriodicJob]:
    """Everything a worker process does, with the cadence from settings; ``kind``
    (``serve`` or ``worker``) is how its heartbeat names the process."""
    settings = services.settings
    holder = worker_id()
    heartbeat = services.heartbeat(worker_id=holder, kind=kind)
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
        PeriodicJob(
            "heartbeat",
            settings.health.heartbeat_seconds,
            heartbeat.beat,
            at_start=True,
            on_stop=heartbeat.stop,
        ),
    ]


@contextlib.asynccontextmanager
async def running_jobs(
    jobs: Sequence[PeriodicJob], wakeups: Wakeups, board: JobBoard | None = None
) -> AsyncIterator[AsyncIOScheduler]:
    """Run ``jobs`` on a scheduler for the duration of the block, woken by ``wakeups``
    and noting every run on ``board``."""
    scheduler = AsyncIOScheduler()
    board = board or JobBoard()
    for job in jobs:
        board.register(job.name, job.every_seconds)
    # one lock per job: a woken run and a scheduled run never overlap
    runs = {job.name: _guarded(job, asyncio.Lock(), board) for job in jobs}
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
            **({"next_run_time": clock.utcnow()} if job.at_start else {}),
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
        board.unregister_all()
        for job in jobs:
            if job.on_stop is not None:
                try:
                    await job.on_stop()
                except Exception:
                    log.warning("stopping background job %s failed", job.name, exc_info=True)


async def _follow(wakeups: Wakeups, topic: Topic, run: Callable[[], Awaitable[None]]) -> None:
    woken = wakeups.subscribe(topic)
    try:
        while True:
            await woken.wait()
            woken.clear()  # commits during the run wake it once more, not once each
            await run()
    finally:
        wakeups.unsubscribe(topic, woken)


def _guarded(
    job: PeriodicJob, lock: asyncio.Lock, board: JobBoard
) -> Callable[[], Awaitable[None]]:
    """A failing pass is logged and retried at the next tick, never fatal."""

    async def run() -> None:
        async with lock:
            board.started(job.name)
            try:
                await job.run()
            except Exception as exc:
                board.finished(job.name, exc)
                log.exception("background job %s failed; retrying next tick", job.name)
            else:
                board.finished(job.name)

    run.__name__ = job.name
    return run
