"""Property tests of ``lifecycle.apply``: order and duplication do not matter.

A provider's true history of one task is a rank-increasing sequence of snapshots
ending in at most one terminal state. Callbacks and polls can deliver any of them,
any number of times, in any order; whatever arrives, the task must end where the
ordered history ends, never leave a terminal status, and emit at most one terminal
event.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from receiver.lifecycle import (
    EVENT_FOR_STATUS,
    TERMINAL,
    Source,
    Status,
    TaskSnapshot,
    TaskState,
    apply,
    normalize_state,
)

PENDING_NAMES = ["pending", "waiting", "queuing"]
PROCESSING_NAMES = ["processing", "generating"]
TERMINAL_NAMES = {
    "completed": ["completed", "success"],
    "failed": ["failed", "fail"],
}
TERMINAL_EVENTS = {EVENT_FOR_STATUS[s] for s in TERMINAL}


@st.composite
def histories(draw: st.DrawFn) -> list[TaskSnapshot]:
    """An ordered, valid provider history for one task."""
    provider_id = draw(st.sampled_from(["p-1", "p-2"]))
    source = st.sampled_from(list(Source))
    steps: list[TaskSnapshot] = []
    if draw(st.booleans()):
        steps.append(TaskSnapshot(draw(st.sampled_from(PENDING_NAMES)), draw(source), provider_id))
    if draw(st.booleans()):
        steps.append(
            TaskSnapshot(draw(st.sampled_from(PROCESSING_NAMES)), draw(source), provider_id)
        )
    ending = draw(st.sampled_from(["completed", "failed", None]))
    if ending == "completed":
        urls = tuple(draw(st.lists(st.sampled_from(["u1", "u2", "u3"]), min_size=1, max_size=3)))
        steps.append(
            TaskSnapshot(
                draw(st.sampled_from(TERMINAL_NAMES["completed"])),
                draw(source),
                provider_id,
                result_urls=urls,
                provider_cost_ms=draw(st.integers(0, 10_000)),
            )
        )
    elif ending == "failed":
        steps.append(
            TaskSnapshot(
                draw(st.sampled_from(TERMINAL_NAMES["failed"])),
                draw(source),
                provider_id,
                error_code=draw(st.sampled_from(["500", "policy", None])),
                error_message="boom",
            )
        )
    return steps


def run(snapshots: list[TaskSnapshot]) -> tuple[TaskState, list[object]]:
    task = TaskState(status=Status.PENDING)
    events: list[object] = []
    for snapshot in snapshots:
        before = task.status
        transition = apply(task, snapshot)
        task = task.evolve(transition.changes)
        if transition.event is not None:
            events.append(transition.event)
        assert not (before.is_terminal and task.status != before), "left a terminal status"
    return task, events


def observable(task: TaskState) -> tuple[object, ...]:
    return (
        task.status,
        task.provider_task_id,
        task.result_urls,
        task.error_code,
        task.error_message,
        task.provider_cost_ms,
        task.anomalies,
    )


@given(st.data())
def test_any_order_and_duplication_ends_like_the_ordered_history(data: st.DataObject) -> None:
    history = data.draw(histories())
    delivered = data.draw(
        st.lists(st.sampled_from(history), min_size=len(history), max_size=4 * len(history) + 1)
        if history
        else st.just([])
    )
    # every snapshot arrives at least once, plus any duplicates, in any order
    delivered = data.draw(st.permutations(history + delivered))

    expected, _ = run(history)
    actual, events = run(delivered)

    assert observable(actual) == observable(expected)
    assert sum(1 for e in events if e in TERMINAL_EVENTS) <= 1
    if history and normalize_state(history[-1].state) in TERMINAL:
        assert actual.status.is_terminal


@given(
    st.lists(
        st.sampled_from(
            [
                "pending",
                "processing",
                "completed",
                "failed",
                "cancelled",
                "success",
                "fail",
                "generating",
                "bogus",
            ]
        ),
        max_size=30,
    )
)
def test_terminal_is_absorbing_and_emits_one_terminal_event(states: list[str]) -> None:
    snapshots = [TaskSnapshot(state, Source.POLL) for state in states]
    task, events = run(snapshots)
    terminal_events = [e for e in events if e in TERMINAL_EVENTS]
    assert len(terminal_events) <= 1
    first_terminal = next(
        (normalize_state(s) for s in states if normalize_state(s) in TERMINAL), None
    )
    if first_terminal is not None:
        assert task.status is first_terminal
