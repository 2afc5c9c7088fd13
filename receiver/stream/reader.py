"""Reading the outbox in ``seq`` order: where a reader starts, and the next events.

Start. With ``Last-Event-ID``: right after that event. With a task filter and no
id: the task's whole history, then live (what ``watch`` needs). Otherwise: live from
now; rows already there are marked seen, so an event still being committed behind
them is not lost either (see :mod:`receiver.stream.position` for holes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from receiver import clock, fitting
from receiver.errors import EventNotFoundError
from receiver.stream.position import EventFilter, Position, advance
from storage.engine import READ_ONLY, SessionFactory
from storage.models import OutboxEvent

BATCH = 500
LOOKBACK = 1000  # rows before "now" re-checked for late commits on a live start


@dataclass(frozen=True, slots=True)
class StreamedEvent:
    """An outbox event as readers hand it on; ``data`` is its JSON, encoded once."""

    seq: int
    id: str
    task_id: str | None  # None for operational events (subscriber.disabled)
    type: str
    payload: dict[str, Any]
    data: str

    @classmethod
    def of(cls, row: OutboxEvent) -> StreamedEvent:
        assert row.seq is not None
        return cls(row.seq, row.id, row.task_id, row.type, row.payload, _json(row.payload))


def _json(payload: dict[str, Any]) -> str:
    # never raises: a payload stored by an older version may hold values orjson refuses
    return fitting.dumps(payload).decode()


class OutboxReader:
    def __init__(self, sessions: SessionFactory, *, gap_seconds: float, batch: int = BATCH) -> None:
        self._sessions = sessions
        self._gap = timedelta(seconds=gap_seconds)
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

    async def read(
        self,
        position: Position,
        filters: EventFilter,
        *,
        upto: int | None = None,
        load: bool = True,
    ) -> list[StreamedEvent]:
        """One look: the next settled events that match (up to seq ``upto``, when
        given), advancing ``position``; with ``load=False`` only the position moves."""
        async with self._sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            query = (
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
            if upto is not None:
                query = query.where(col(OutboxEvent.seq) <= upto)
            rows = (await session.exec(query)).all()
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
            if not emit or not load:
                return []
            events = await session.exec(
                select(OutboxEvent)
                .where(col(OutboxEvent.seq).in_(emit))
                .order_by(col(OutboxEvent.seq))
            )
            return [StreamedEvent.of(row) for row in events.all()]
