"""The live event stream: the outbox, in order, as it grows.

``GET /api/events`` (Server-Sent Events), ``genhook watch`` and ``genhook submit
--wait`` all read the same :class:`EventStream`, so they agree on order, filters and
resumption. Events come in outbox ``seq`` order; the SSE ``id`` is the event id, and
a client that reconnects with ``Last-Event-ID`` continues right after that event.

A stream reads its past from the database (:mod:`receiver.stream.reader`), then the
present from the process's one outbox reader (:mod:`receiver.stream.hub`), so an
idle stream costs nothing and a thousand cost one query per wake-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from receiver import resources, views
from receiver.errors import TaskNotFoundError
from receiver.settings import EventsSettings
from receiver.stream.hub import QUEUE_LIMIT, EventHub
from receiver.stream.position import EventFilter, Position, advance
from receiver.stream.reader import OutboxReader, StreamedEvent
from receiver.wakeups import Wakeups
from storage.engine import READ_ONLY, SessionFactory
from storage.models import Task

__all__ = ["EventFilter", "EventStream", "Position", "StreamedEvent", "advance"]


class EventStream:
    def __init__(
        self,
        sessions: SessionFactory,
        settings: EventsSettings,
        wakeups: Wakeups,
        *,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self._sessions = sessions
        self._reader = OutboxReader(sessions, gap_seconds=settings.gap_seconds)
        self._hub = EventHub(
            self._reader, wakeups, poll_seconds=settings.poll_seconds, queue_limit=queue_limit
        )

    @property
    def open_streams(self) -> int:
        return self._hub.streams

    async def start(self, filters: EventFilter, last_event_id: str | None = None) -> Position:
        """Where a new reader starts (see :mod:`receiver.stream.reader`). A live start
        (no id to resume after, no task's history) is the hub's cursor: no query."""
        if last_event_id is None and filters.task_id is None:
            return await self._hub.live_position()
        return await self._reader.start(filters, last_event_id)

    async def read(self, position: Position, filters: EventFilter) -> list[StreamedEvent]:
        """One look at the database: the next settled events that match."""
        return await self._reader.read(position, filters)

    async def follow(
        self, position: Position, filters: EventFilter, *, until: float | None = None
    ) -> AsyncGenerator[StreamedEvent, None]:
        """Every matching event from ``position`` on, until the caller stops or the
        event loop's clock passes ``until``.

        The past up to the hub's cursor comes from the database, the rest from the
        hub; a stream that fell behind the hub's queue limit goes back to the
        database from where it is and joins again. A read is never interrupted
        half-way: cancelling a database call in flight leaves its connection
        unusable, so a reader that is cancelled lets it finish, shielded.
        """
        loop = asyncio.get_running_loop()
        while True:
            subscription, joined_at = await self._hub.subscribe(filters)
            try:
                while position.cursor < joined_at:
                    past = await asyncio.shield(
                        self._reader.read(position, filters, upto=joined_at)
                    )
                    for earlier in past:
                        yield earlier
                    if not position.more:
                        position.passed(joined_at)  # the hub settled everything up to it
                while True:
                    remaining = None if until is None else until - loop.time()
                    if remaining is not None and remaining <= 0:
                        return
                    try:
                        event = await asyncio.wait_for(subscription.queue.get(), remaining)
                    except TimeoutError:
                        return
                    if event is None:
                        break  # fell behind: catch up from the database and join again
                    if position.fresh(event.seq):
                        yield event
                    position.passed(event.seq)
            finally:
                self._hub.unsubscribe(subscription)

    async def follow_task(
        self,
        task_id: str,
        *,
        within: float,
        on_update: Callable[[resources.Task, str | None], None] | None = None,
    ) -> resources.Task:
        """The task once it is terminal, or as it stands after ``within`` seconds.

        ``on_update(task, event_type)`` is called with the current state first (event
        type None), then for every event of the task. What ``genhook watch`` and
        ``submit --wait`` follow.
        """
        notify = on_update or (lambda task, event_type: None)
        filters = EventFilter(task_id=task_id)
        # The position first, then the state: an event committed in between is then
        # both in the state and on the stream, never in neither.
        position = await self.start(filters)
        current = await self._task(task_id)
        notify(current, None)
        if current.status.is_terminal:
            return current
        until = asyncio.get_running_loop().time() + within
        async for event in self.follow(position, filters, until=until):
            seen = resources.Event.model_validate(event.payload).data
            notify(seen, event.type)
            if seen.status.is_terminal:
                break
        return await self._task(task_id)

    async def aclose(self) -> None:
        await self._hub.aclose()

    async def _task(self, task_id: str) -> resources.Task:
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            row = await session.get(Task, task_id)
        if row is None:
            raise TaskNotFoundError(task_id)
        return views.task(row)
