"""Where a reader of the outbox is, and how it moves on. Pure: no I/O.

No gaps. On PostgreSQL ``seq`` comes from a sequence: numbers are taken when a row
is inserted but become visible when its transaction commits, so seq 11 can be
visible while seq 10 is still being committed, and a rolled-back insert leaves a
hole for good. A reader that moved its cursor past 11 would never see 10. A reader
therefore only moves past a missing number once it is old: when the event after
the hole was created more than ``events_gap_seconds`` ago (genhook's write
transactions last milliseconds), the hole is taken as a rollback. Until then it
waits for it, holding back the events behind it (:func:`advance`). On SQLite
writers are serialised, so numbers appear in order and this never waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a reader wants: one task's, and/or some types (empty = all)."""

    task_id: str | None = None
    types: frozenset[str] = frozenset()

    def matches(self, task_id: str | None, event_type: str) -> bool:
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

    def fresh(self, seq: int) -> bool:
        """Whether an event with ``seq`` is still to be emitted from here."""
        return seq > self.cursor and seq not in self.seen

    def passed(self, seq: int) -> None:
        """The event ``seq`` was emitted (or skipped on purpose)."""
        self.cursor = max(self.cursor, seq)
        self.seen = {s for s in self.seen if s > self.cursor}


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
