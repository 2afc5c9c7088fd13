"""The live event stream: the outbox, in order, as it grows.

``GET /api/events`` (Server-Sent Events), ``genhook watch`` and ``genhook submit
--wait`` all read the same :class:`EventStream`, so they agree on order, filters and
resumption. Events come in outbox ``seq`` order; the SSE ``id`` is the event id,
and a client that reconnects with ``Last-Event-ID`` continues right after that
event.

No gaps. On PostgreSQL ``seq`` comes from a sequence: numbers are taken when a row
is inserted but become visible when its transaction commits, so seq 11 can be
visible while seq 10 is still being committed, and a rolled-back insert leaves a
hole for good. A reader that moved its cursor past 11 would never see 10. The
stream therefore only moves past a missing number once it is old: when the event
after the hole was created more than ``events_gap_seconds`` ago (genhook's write
transactions last milliseconds), the hole is taken as a rollback. Until then it
waits for it, holding back the events behind it (:func:`advance`, pure). On SQLite
writers are serialised, so numbers appear in order and this never waits.

Start. With ``Last-Event-ID``: right after that event. With a task filter and no
id: the task's whole history, then live (what ``watch`` needs). Otherwise: live from
now; rows already there are marked seen, so an event still being committed behind
them is not lost either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from receiver import clock, resources, views
from receiver.errors import EventNotFoundError, TaskNotFoundError
from receiver.settings import EventsSettings
from storage.engine import READ_ONLY, SessionFactory
from storage.models import OutboxEvent, Task

BATCH = 500
LOOKBACK = 1000  # rows before "now" re-checked for late commits on a live start
PING_SECONDS = 15  # SSE comment lines that keep idle connections (and proxies) open


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a reader wants: one task's, and/or some types (empty = all)."""

    task_id: str | None = None
    types: frozenset[str] = frozenset()

    def matches(self, task_id: str, event_type: str) -> bool:
        if self.task_id is not None and task_id != self.task_id:
            return False
        return not self.types or event_type in self.types


@dataclass(slots=True)
class Position:
    """Where a reader is: every seq up to ``cursor`` is settled; ``seen`` are later
    seqs that exist but must not be emitted (they predate a live start)."""

    cursor: int
    seen: set[int] = field(default_factory=set)
    more: bool = False  # the last read was a full batch: read again before sleeping


def advance(
    position: Position,
    rows: Sequence[tuple[int, datetime]],
    now: datetime,
    gap: timedelta,
) -> list[int]:
    """Move ``position`` over ``rows`` (``(seq, created_at)`` after the cursor,
    ascending); return the seqs to emit, in order.

    A missing seq before a row stops the walk while that row is younger than
    ``gap``: the missing one may still commit. Older holes are rollbacks.
    """
    emit: list[int] = []
    expected = position.cursor + 1
    for seq, created_at in rows:
        if seq > expected and now - created_at < gap:
            break
        if seq in position.seen:
            position.seen.discard(seq)
        else:
            emit.append(seq)
        position.cursor = seq
        expected = seq + 1
    position.seen = {s for s in position.seen if s > position.cursor}
    return emit


class EventStream:
    def __init__(
        self, sessions: SessionFactory, settings: EventsSettings, *, batch: int = BATCH
    ) -> None:
        self._sessions = sessions
        self._poll = settings.poll_seconds
        self._gap = timedelta(seconds=settings.gap_seconds)
        self._batch = batch

    async def start(self, filters: EventFilter, last_event_id: str | None = None) -> Position:
        """The position a new reader starts from (see the module docstring)."""
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            if last_event_id:
                found = await session.exec(
                    select(OutboxEvent.seq).where(col(OutboxEvent.id) == last_event_id)
                )
                seq = found.first()
                if seq is None:
                    raise EventNotFoundError(last_event_id)
                return Position(seq)
            if filters.task_id is not None:
                first = await session.exec(
                    select(func.min(OutboxEvent.seq)).where(
                        col(OutboxEvent.task_id) == filters.task_id
                    )
                )
                first_seq = first.one()
                if first_seq is not None:
                    return Position(first_seq - 1)
            newest = (await session.exec(select(func.max(OutboxEvent.seq)))).one() or 0
            cursor = max(newest - LOOKBACK, 0)
            present = await session.exec(
                select(OutboxEvent.seq).where(col(OutboxEvent.seq) > cursor)
            )
            return Position(cursor, {s for s in present.all() if s is not None})

    async def read(self, position: Position, filters: EventFilter) -> list[OutboxEvent]:
        """One look: the next settled events that match, advancing ``position``."""
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            rows = (
                await session.exec(
                    select(
                        OutboxEvent.seq,
                        OutboxEvent.task_id,
                        OutboxEvent.type,
                        OutboxEvent.created_at,
                    )
                    .where(col(OutboxEvent.seq) > position.cursor)
                    .order_by(col(OutboxEvent.seq))
                    .limit(self._batch)
                )
            ).all()
            position.more = len(rows) == self._batch
            if not rows:
                return []
            wanted = {
                seq for seq, task_id, event_type, _ in rows if filters.matches(task_id, event_type)
            }
            settled = advance(
                position,
                [(seq, created_at) for seq, _, _, created_at in rows if seq is not None],
                clock.utcnow(),
                self._gap,
            )
            emit = [seq for seq in settled if seq in wanted]
            if not emit:
                return []
            events = await session.exec(
                select(OutboxEvent)
                .where(col(OutboxEvent.seq).in_(emit))
                .order_by(col(OutboxEvent.seq))
            )
            return list(events.all())

    async def follow(
        self, position: Position, filters: EventFilter, *, until: float | None = None
    ) -> AsyncIterator[OutboxEvent]:
        """Every matching event from ``position`` on, until the caller stops or the
        event loop's clock passes ``until``.

        A read is never interrupted half-way: cancelling a database call in flight
        leaves its connection unusable, so a cancelled reader (an SSE client that
        went away) lets the current read finish, shielded, and stops after it.
        """
        loop = asyncio.get_running_loop()
        while True:
            before = position.cursor
            for event in await asyncio.shield(self.read(position, filters)):
                yield event
            if position.more and position.cursor != before:
                continue
            if until is None:
                await asyncio.sleep(self._poll)
                continue
            remaining = until - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(self._poll, remaining))

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
            seen = views.event(event).data
            notify(seen, event.type)
            if seen.status.is_terminal:
                break
        return await self._task(task_id)

    async def _task(self, task_id: str) -> resources.Task:
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            row = await session.get(Task, task_id)
        if row is None:
            raise TaskNotFoundError(task_id)
        return views.task(row)
