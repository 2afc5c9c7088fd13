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
from sqlmodel import SQLModel

from receiver import clock
from receiver.heartbeat import JobBoard
from receiver.services import Services
from receiver.wakeups import Topic, Wakeups
from storage.claims import worker_id
from storage.errors import is_unavailable
from storage.models import Asset, Delivery, Task

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
    (``serve`` or ``worker``) is how its heartbeat names the process.

    Each job that claims rows gives back, when it stops, the leases this process
    still holds on them, so a clean stop is taken over at once, not after a lease.
    """
    settings = services.settings
    holder = worker_id()
    heartbeat = services.heartbeat(worker_id=holder, kind=kind)

    def releasing(*models: type[SQLModel]) -> Callable[[], Awaitable[object]]:
        return lambda: services.release_leases(holder, models)

    return [
        PeriodicJob(
            "dispatch",
            settings.dispatch.tick_seconds,
            services.dispatcher(holder=holder).drain,
            wake=Topic.DELIVERIES,
            on_stop=releasing(Delivery),
        ),
        PeriodicJob(
            "poll",
            settings.poll.tick_seconds,
            services.poller(holder=holder).poll_once,
            wake=Topic.TASKS,
            on_stop=releasing(Task),  # the reconciler's leases too: they are on tasks
        ),
        PeriodicJob(
            "mirror",
            settings.assets.tick_seconds,
            services.mirror(holder=holder).mirror_once,
            wake=Topic.ASSETS,
            on_stop=releasing(Asset),
        ),
        PeriodicJob(
            "reroute",
            settings.reroute_every_seconds,
            services.router(holder=holder).reroute_due,
            wake=Topic.REROUTES,
            at_start=True,  # routed tasks a stopped predecessor left waiting
        ),
        PeriodicJob(
            "reconcile",
            settings.reconcile_every_seconds,
            services.submitter(holder=holder).reconcile_unconfirmed,
            at_start=True,  # settles what a crashed predecessor left unconfirmed
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
    jobs: Sequence[PeriodicJob],
    wakeups: Wakeups,
    board: JobBoard | None = None,
    *,
    grace_seconds: float = 10.0,
) -> AsyncIterator[AsyncIOScheduler]:
    """Run ``jobs`` on a scheduler for the duration of the block, woken by ``wakeups``
    and noting every run on ``board``.

    Leaving the block is the graceful stop: no pass starts any more, the passes in
    flight get ``grace_seconds`` to finish (a pass still running then is cancelled,
    and its leases run out with the ``on_stop`` of its job), then every job's
    ``on_stop`` runs (leases given back, the heartbeat row removed).
    """
    scheduler = AsyncIOScheduler()
    board = board or JobBoard()
    runner = _Runner(board)
    for job in jobs:
        board.register(job.name, job.every_seconds)
    runs = {job.name: runner.guarded(job) for job in jobs}
    followers = [
        asyncio.create_task(
            _follow(wakeups, job.wake, runs[job.name]), name=f"genhook-wake-{job.name}"
        )
        for job in jobs
        if job.wake is not None
    ]
    for job in jobs:
        scheduler.add_job(
            runner.ticked(job.name, runs[job.name]),
            "interval",
            seconds=job.every_seconds,
            id=job.name,
            name=job.name,
            # A tick that finds its pass still running returns at once (that is
            # normal, and not worth a warning), so instances never pile up.
            max_instances=3,
            coalesce=True,
            misfire_grace_time=None,
            **({"next_run_time": clock.utcnow()} if job.at_start else {}),
        )
    scheduler.start()
    log.info("background jobs started: %s", ", ".join(j.name for j in jobs))
    try:
        yield scheduler
    finally:
        runner.stopping = True
        scheduler.pause()  # no new runs; shutting down would cancel the ones in flight
        await runner.finish(grace_seconds)
        scheduler.shutdown(wait=False)
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        board.unregister_all()
        for job in jobs:
            if job.on_stop is not None:
                try:
                    await job.on_stop()
                except Exception:
                    log.warning("stopping background job %s failed", job.name, exc_info=True)
        log.info("background jobs stopped")


async def _follow(wakeups: Wakeups, topic: Topic, run: Callable[[], Awaitable[None]]) -> None:
    woken = wakeups.subscribe(topic)
    try:
        while True:
            await woken.wait()
            woken.clear()  # commits during the run wake it once more, not once each
            await run()
    finally:
        wakeups.unsubscribe(topic, woken)


class _Runner:
    """The passes of one process: one at a time per job, and a stop that waits for them."""

    def __init__(self, board: JobBoard) -> None:
        self._board = board
        self._locks: dict[str, asyncio.Lock] = {}
        # each pass in flight: a future done when it ends, with its job and task
        self._running: dict[asyncio.Future[None], tuple[str, asyncio.Task[object]]] = {}
        self._cancelled: set[asyncio.Task[object]] = set()
        self.stopping = False

    def guarded(self, job: PeriodicJob) -> Callable[[], Awaitable[None]]:
        """A failing pass is logged and retried at the next tick, never fatal."""
        lock = self._locks[job.name] = asyncio.Lock()

        async def run() -> None:
            if self.stopping:
                return
            async with lock:
                if self.stopping:
                    return
                current = asyncio.current_task()
                assert current is not None
                done = asyncio.get_running_loop().create_future()
                self._running[done] = (job.name, current)
                self._board.started(job.name)
                try:
                    await job.run()
                except asyncio.CancelledError:
                    if current not in self._cancelled:
                        raise
                    # cancelled by the stop, after the grace period: said, not an error
                    self._board.finished(job.name, None)
                except Exception as exc:
                    self._board.finished(job.name, exc)
                    if is_unavailable(exc):  # an outage, not a bug: said once, no traceback
                        log.warning(
                            "background job %s: the database is unavailable (%s: %s); "
                            "retrying next tick",
                            job.name,
                            type(exc).__name__,
                            exc,
                        )
                    else:
                        log.exception("background job %s failed; retrying next tick", job.name)
                else:
                    self._board.finished(job.name)
                finally:
                    self._running.pop(done, None)
                    done.set_result(None)

        run.__name__ = run.__qualname__ = job.name
        return run

    def ticked(
        self, name: str, run: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """The scheduler's entry: skipped while the job's pass (woken or ticked) runs."""
        lock = self._locks[name]

        async def tick() -> None:
            if lock.locked() or self.stopping:
                return
            await run()

        tick.__name__ = tick.__qualname__ = name
        return tick

    async def finish(self, grace_seconds: float) -> None:
        """Wait up to ``grace_seconds`` for the passes in flight; cancel the rest."""
        running = dict(self._running)
        if not running:
            return
        log.info(
            "stopping: waiting up to %g s for %s to finish",
            grace_seconds,
            ", ".join(sorted({name for name, _ in running.values()})),
        )
        _, late = await asyncio.wait(running, timeout=grace_seconds)
        for done in late:
            name, task = running[done]
            log.warning(
                "background job %s did not finish within %g s; cancelled (its leases are "
                "given back, and its work is taken over)",
                name,
                grace_seconds,
            )
            self._cancelled.add(task)
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=5)
