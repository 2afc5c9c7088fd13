"""The live stream never moves past an event number that may still be committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.params import parse_event_types
from receiver.stream import EventFilter, Position, advance

NOW = datetime(2030, 1, 1, tzinfo=UTC)
GAP = timedelta(seconds=5)
OLD = NOW - timedelta(seconds=60)
FRESH = NOW - timedelta(seconds=1)


def test_contiguous_rows_are_emitted_in_order() -> None:
    position = Position(0)
    assert advance(position, [(1, FRESH), (2, FRESH), (3, FRESH)], NOW, GAP) == [1, 2, 3]
    assert position.cursor == 3


def test_a_fresh_hole_holds_back_what_follows() -> None:
    position = Position(3)
    # seq 5 is visible but 4 is not yet: wait, emit nothing past 3
    assert advance(position, [(5, FRESH), (6, FRESH)], NOW, GAP) == []
    assert position.cursor == 3
    # 4 commits: all three come out, in order
    assert advance(position, [(4, FRESH), (5, FRESH), (6, FRESH)], NOW, GAP) == [4, 5, 6]
    assert position.cursor == 6


def test_an_old_hole_is_a_rollback_and_is_skipped() -> None:
    position = Position(3)
    assert advance(position, [(5, OLD), (7, FRESH)], NOW, GAP) == [5]
    assert position.cursor == 5


def test_seen_rows_settle_without_being_emitted() -> None:
    position = Position(10, {11, 13})
    # 12 is missing and 13 is fresh: stop after 11
    assert advance(position, [(11, FRESH), (13, FRESH)], NOW, GAP) == []
    assert position.cursor == 11
    # 12 was being committed when the reader started: it is not lost
    assert advance(position, [(12, FRESH), (13, FRESH), (14, FRESH)], NOW, GAP) == [12, 14]
    assert position.seen == set()


def test_filters() -> None:
    assert EventFilter().matches("tsk_a", "task.completed")
    assert EventFilter(task_id="tsk_a").matches("tsk_a", "task.failed")
    assert not EventFilter(task_id="tsk_a").matches("tsk_b", "task.failed")
    only = EventFilter(types=frozenset({"task.completed"}))
    assert only.matches("tsk_b", "task.completed")
    assert not only.matches("tsk_b", "task.failed")
    assert set(parse_event_types(["task.completed, task.failed", "task.expired", ""])) == {
        "task.completed",
        "task.failed",
        "task.expired",
    }
