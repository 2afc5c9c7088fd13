"""apimodels callbacks, delivered the way the gateway documents them, with faults.

The contract: when a task reaches ``completed`` or ``failed`` the gateway POSTs one JSON
body to the task's ``callback_url``; a delivery that does not get a 2xx is retried 3
times with 1 s / 2 s / 4 s backoff and 10 s per attempt, then a background job keeps
retrying for up to 30 minutes. Here that is: attempt 1 at once, attempts 2-4 after the
backoff delays, then one attempt every ``callback_background_interval`` while the next
one still starts within ``callback_retry_horizon`` of the first (all x ``time_factor``).

Faults, decided when the task turns terminal (so runtime changes apply to callbacks
not yet due): *drop* (never sent, logged as ``dropped``), *duplicate* (extra copies of
the identical body, each retried on its own), *delay* (first attempt postponed) and
*reorder* (callbacks that become ready within ``callback_reorder_window`` of each other
are sent one after another in a shuffled order that is guaranteed to differ from the
order they became ready in, so the fault is always observable).

One loop task keeps a heap of due times; each delivery runs as its own task so a slow
receiver never holds up another. :meth:`CallbackSender.stop` cancels all of them, and
every attempt lands in :attr:`CallbackSender.attempts` for ``GET /_sim/callbacks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from receiver import clock
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.faults import roll

log = logging.getLogger(__name__)

USER_AGENT = "genhook-simulator/1 (apimodels callback)"
# The log keeps the most recent attempts only, so a long benchmark cannot exhaust memory.
ATTEMPT_LOG_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One line of the delivery log.

    ``copy`` is 0 for the original and 1.. for injected duplicates; ``attempt`` counts
    from 1 per copy (0 for a dropped callback). ``outcome`` is ``delivered`` (2xx),
    ``failed`` (anything else, will be retried), ``dropped`` (fault: never sent) or
    ``abandoned`` (retries exhausted).
    """

    task_id: str
    url: str
    copy: int
    attempt: int
    phase: str
    outcome: str
    status_code: int | None
    error: str | None
    at: datetime
    elapsed_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "url": self.url,
            "copy": self.copy,
            "attempt": self.attempt,
            "phase": self.phase,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "at": self.at.isoformat(),
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class _Job:
    task_id: str
    url: str
    body: bytes
    drop: bool = False
    copy: int = 0
    ready: bool = False  # False: the task just turned terminal; True: send it now


class CallbackSender:
    """Schedules, fault-injects and delivers callbacks; started and stopped by the app."""

    def __init__(self, config: Callable[[], SimulatorConfig], rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self.attempts: deque[CallbackAttempt] = deque(maxlen=ATTEMPT_LOG_LIMIT)
        self._heap: list[tuple[datetime, int, _Job]] = []
        self._sequence = itertools.count()
        self._batch: list[_Job] = []
        self._batch_deadline: datetime | None = None
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # -- public -----------------------------------------------------------------

    def schedule(
        self, task_id: str, url: str, body: bytes, due: datetime, *, drop: bool = False
    ) -> None:
        """Send ``body`` to ``url`` once ``due`` (the task's terminal time) has passed."""
        self._push(due, _Job(task_id, url, body, drop=drop))

    @property
    def pending(self) -> int:
        """Callbacks not yet attempted (waiting for their task, a delay or a batch)."""
        return len(self._heap) + len(self._batch)

    @property
    def in_flight(self) -> int:
        """Deliveries currently attempting or waiting between retries."""
        return len(self._deliveries)

    def clear_log(self) -> None:
        self.attempts.clear()

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._client = httpx.AsyncClient(headers={"User-Agent": USER_AGENT})
        self._loop_task = asyncio.create_task(self._run(), name="simulator-callbacks")

    async def stop(self) -> None:
        """Cancel the loop and every delivery, wait for them, close the HTTP client."""
        tasks = [t for t in (self._loop_task, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._deliveries.clear()
        self._loop_task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- scheduling loop --------------------------------------------------------

    def _push(self, at: datetime, job: _Job) -> None:
        heapq.heappush(self._heap, (at, next(self._sequence), job))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            now = clock.utcnow()
            while self._heap and self._heap[0][0] <= now:
                job = heapq.heappop(self._heap)[2]
                try:
                    self._advance(job, now)
                except Exception:  # one bad job must not stop every other callback
                    log.exception("callback for %s could not be scheduled", job.task_id)
            if self._batch_deadline is not None and now >= self._batch_deadline:
                self._flush_batch()
            wakes = [self._heap[0][0]] if self._heap else []
            if self._batch_deadline is not None:
                wakes.append(self._batch_deadline)
            timeout = (min(wakes) - now).total_seconds() if wakes else None
            if timeout is not None and timeout <= 0:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _advance(self, job: _Job, now: datetime) -> None:
        config = self._config()
        if job.ready:
            self._dispatch(job, now, config)
            return
        if job.drop or roll(self._rng, config.callback_drop_rate):
            self._record(job, 0, "dropped", "dropped", None, None, now, 0.0)
            return
        delay = config.scaled(config.callback_delay)
        for copy in range(1 + config.callback_duplicates):
            ready = replace(job, copy=copy, ready=True)
            if delay > 0:
                self._push(now + timedelta(seconds=delay), ready)
            else:
                self._dispatch(ready, now, config)

    def _dispatch(self, job: _Job, now: datetime, config: SimulatorConfig) -> None:
        if not config.callback_reorder:
            self._spawn(self._deliver(job))
            return
        self._batch.append(job)
        if self._batch_deadline is None:
            window = config.scaled(config.callback_reorder_window)
            self._batch_deadline = now + timedelta(seconds=window)

    def _flush_batch(self) -> None:
        batch, self._batch, self._batch_deadline = self._batch, [], None
        order = self._rng.sample(batch, len(batch))
        if len(order) > 1 and all(a is b for a, b in zip(order, batch, strict=True)):
            order = order[1:] + order[:1]  # a shuffle that changed nothing is no fault
        self._spawn(self._send_in_order(order))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    # -- delivery ---------------------------------------------------------------

    async def _send_in_order(self, jobs: list[_Job]) -> None:
        """First attempts one after another (so arrival order is the shuffled order);
        retries of the ones that failed continue independently."""
        for job in jobs:
            if not await self._attempt(job, 1, "immediate"):
                self._spawn(self._deliver(job, first_attempt_done=True))

    async def _deliver(self, job: _Job, *, first_attempt_done: bool = False) -> None:
        config = self._config()
        started = clock.utcnow()
        attempt = 1
        if not first_attempt_done and await self._attempt(job, attempt, "immediate"):
            return
        for backoff in config.callback_backoff:
            await asyncio.sleep(config.scaled(backoff))
            attempt += 1
            if await self._attempt(job, attempt, "immediate"):
                return
        horizon = started + timedelta(seconds=config.scaled(config.callback_retry_horizon))
        interval = config.scaled(config.callback_background_interval)
        while clock.utcnow() + timedelta(seconds=interval) <= horizon:
            await asyncio.sleep(interval)
            attempt += 1
            if await self._attempt(job, attempt, "background"):
                return
        self._record(job, attempt, "abandoned", "abandoned", None, None, clock.utcnow(), 0.0)
        log.warning("callback %s -> %s abandoned after %d attempts", job.task_id, job.url, attempt)

    async def _attempt(self, job: _Job, attempt: int, phase: str) -> bool:
        """POST the body once; True on a 2xx."""
        if self._client is None:
            raise RuntimeError("CallbackSender used before start()")
        config = self._config()
        at = clock.utcnow()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                job.url,
                content=job.body,
                headers={"Content-Type": "application/json"},
                timeout=config.scaled(config.callback_timeout),
            )
            status = response.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivered = status is not None and 200 <= status < 300
        elapsed = (time.perf_counter() - started) * 1000
        outcome = "delivered" if delivered else "failed"
        self._record(job, attempt, phase, outcome, status, error, at, elapsed)
        return delivered

    def _record(
        self,
        job: _Job,
        attempt: int,
        phase: str,
        outcome: str,
        status: int | None,
        error: str | None,
        at: datetime,
        elapsed_ms: float,
    ) -> None:
        entry = CallbackAttempt(
            job.task_id, job.url, job.copy, attempt, phase, outcome, status, error, at, elapsed_ms
        )
        self.attempts.append(entry)
        log.debug("callback %s", entry.as_dict())
