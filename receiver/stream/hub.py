"""One outbox reader per process, fanning new events out to every open stream.

An idle stream costs no query: the hub reads the outbox when a commit wakes it
(:class:`~receiver.wakeups.Topic` ``EVENTS``, from this process or, on PostgreSQL,
any other) or at its safety tick, encodes each new event once, and offers it to
every subscription whose filter wants it. A subscriber that falls more than
``queue_limit`` events behind is told so (``None`` in its queue) instead of making
the hub wait or the process buffer without bound; it then catches up from the
database, which still holds everything (:meth:`receiver.stream.EventStream.follow`).

``cursor`` is the hub's promise: every event up to it has been settled and offered,
and every later one will be. A stream that joins at ``cursor`` therefore reads the
past from the database up to ``cursor`` and the rest from its queue, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from receiver.stream.position import EventFilter, Position
from receiver.stream.reader import LOOKBACK, OutboxReader, StreamedEvent
from receiver.wakeups import Topic, Wakeups

log = logging.getLogger(__name__)

EVERYTHING = EventFilter()
QUEUE_LIMIT = 1000
RETRY_SECONDS = 1.0  # after a failed read, whatever the safety tick
CLOSE_SECONDS = 5.0


class Subscription:
    __slots__ = ("filters", "lagged", "limit", "queue")

    def __init__(self, filters: EventFilter, limit: int) -> None:
        self.filters = filters
        self.limit = limit
        self.queue: asyncio.Queue[StreamedEvent | None] = asyncio.Queue()
        self.lagged = False

    def offer(self, event: StreamedEvent) -> None:
        if self.lagged or not self.filters.matches(event.task_id, event.type):
            return
        if self.queue.qsize() >= self.limit:
            self.lagged = True
            self.queue.put_nowait(None)  # "catch up from the database"
            return
        self.queue.put_nowait(event)


class EventHub:
    def __init__(
        self,
        reader: OutboxReader,
        wakeups: Wakeups,
        *,
        poll_seconds: float,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self._reader = reader
        self._wakeups = wakeups
        self._poll = poll_seconds
        self._queue_limit = queue_limit
        self._subscriptions: set[Subscription] = set()
        self._cursor = 0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._woken: asyncio.Event | None = None

    @property
    def streams(self) -> int:
        return len(self._subscriptions)

    async def live_position(self) -> Position:
        """Where a reader that wants only what happens from now on starts: the hub's
        cursor, so it joins without reading anything from the database."""
        await self._running()
        return Position(self._cursor)

    async def subscribe(self, filters: EventFilter) -> tuple[Subscription, int]:
        """A new subscription and the hub's cursor when it began (see the docstring)."""
        await self._running()
        subscription = Subscription(filters, self._queue_limit)
        self._subscriptions.add(subscription)
        return subscription, self._cursor

    async def _running(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="genhook-event-hub")
        await self._ready.wait()

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def aclose(self) -> None:
        """Stop after the read in flight: a query cancelled half-way would leave its
        connection unusable and the engine's disposal waiting for it."""
        if self._task is None:
            return
        self._closing = True
        if self._woken is not None:
            self._woken.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        woken = self._woken = self._wakeups.subscribe(Topic.EVENTS)
        position: Position | None = None
        failing = False
        try:
            while not self._closing:
                woken.clear()  # before reading: a commit during the read wakes us again
                try:
                    if position is None:
                        position = await self._start()
                    await self._drain(position)
                    failing = False
                except Exception as exc:  # the database is away: keep streams open, retry
                    if not failing:
                        log.warning("reading the outbox failed (%s); retrying", exc)
                    failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), RETRY_SECONDS if failing else self._poll)
        finally:
            self._wakeups.unsubscribe(Topic.EVENTS, woken)

    async def _start(self) -> Position:
        """Settle the recent past without loading it: the hub offers only what comes."""
        live = await self._reader.start(EVERYTHING)
        position = Position(live.cursor)  # the rows it saw are settled below, not skipped
        while True:
            await self._reader.read(position, EVERYTHING, load=False)
            if not position.more:
                break
        self._cursor = position.cursor
        self._ready.set()
        log.debug("event hub at seq %d (looked back %d)", position.cursor, LOOKBACK)
        return position

    async def _drain(self, position: Position) -> None:
        while True:
            for event in await self._reader.read(position, EVERYTHING):
                for subscription in tuple(self._subscriptions):
                    subscription.offer(event)
            self._cursor = position.cursor
            if not position.more:
                return
