"""Examples of every lifecycle rule (ARCHITECTURE.md, "Domain")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receiver.lifecycle import (
    EventType,
    Outcome,
    Source,
    Status,
    TaskSnapshot,
    TaskState,
    apply,
    normalize_state,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def snap(state: str, **fields: object) -> TaskSnapshot:
    return TaskSnapshot(state=state, source=Source.CALLBACK, observed_at=NOW, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("pending", Status.PENDING),
        ("waiting", Status.PENDING),
        ("queuing", Status.PENDING),
        ("processing", Status.PROCESSING),
        ("generating", Status.PROCESSING),
        ("completed", Status.COMPLETED),
        ("success", Status.COMPLETED),
        ("SUCCESS", Status.COMPLETED),
        ("failed", Status.FAILED),
        ("fail", Status.FAILED),
        ("cancelled", Status.FAILED),
        ("teleporting", None),
    ],
)
def test_provider_vocabularies_map_onto_our_statuses(raw: str, status: Status | None) -> None:
    assert normalize_state(raw) == status


def test_forward_move_applies_fields_and_emits_the_status_event() -> None:
    task = TaskState(status=Status.PENDING)
    transition = apply(
        task, snap("success", result_urls=("https://x/1.png",), provider_task_id="p1")
    )
    assert transition.outcome is Outcome.APPLIED
    assert transition.event is EventType.COMPLETED
    assert transition.changes["status"] is Status.COMPLETED
    assert transition.changes["result_urls"] == ("https://x/1.png",)
    assert transition.changes["provider_task_id"] == "p1"
    assert transition.changes["terminal_at"] == NOW
    assert transition.changes["last_source"] is Source.CALLBACK


@pytest.mark.parametrize("state", ["pending", "processing", "completed"])
def test_equal_or_lower_rank_after_completion_changes_nothing(state: str) -> None:
    task = TaskState(status=Status.COMPLETED, result_urls=("u",), provider_task_id="p")
    transition = apply(task, snap(state, provider_task_id="p"))
    assert transition.event is None
    assert not transition.changes
    assert transition.outcome is (Outcome.DUPLICATE if state == "completed" else Outcome.STALE)


def test_duplicate_may_fill_fields_still_empty() -> None:
    task = TaskState(status=Status.COMPLETED)  # e.g. first callback's resultJson was unreadable
    transition = apply(task, snap("completed", result_urls=("u",), provider_cost_ms=12))
    assert transition.outcome is Outcome.DUPLICATE
    assert transition.event is None
    assert transition.changes == {"result_urls": ("u",), "provider_cost_ms": 12}


def test_a_different_terminal_report_is_an_anomaly_recorded_once() -> None:
    task = TaskState(status=Status.COMPLETED, result_urls=("u",))
    first = apply(task, snap("failed", error_message="boom"))
    assert first.outcome is Outcome.ANOMALY
    assert first.event is EventType.ANOMALY
    assert "status" not in first.changes
    task = task.evolve(first.changes)
    assert task.status is Status.COMPLETED
    again = apply(task, snap("failed", error_message="boom"))
    assert again.outcome is Outcome.DUPLICATE
    assert again.event is None


def test_cancelled_is_a_failure_with_code_cancelled() -> None:
    transition = apply(TaskState(status=Status.PROCESSING), snap("cancelled"))
    assert transition.changes["status"] is Status.FAILED
    assert transition.changes["error_code"] == "cancelled"
    assert transition.event is EventType.FAILED


def test_failed_report_does_not_take_result_urls() -> None:
    transition = apply(TaskState(status=Status.PENDING), snap("failed", result_urls=("preview",)))
    assert "result_urls" not in transition.changes


def test_unknown_state_is_ignored() -> None:
    transition = apply(TaskState(status=Status.PENDING), snap("teleporting"))
    assert transition.outcome is Outcome.IGNORED
    assert not transition.changes and transition.event is None


def test_snapshot_for_another_provider_task_is_an_anomaly_and_changes_nothing() -> None:
    transition = apply(
        TaskState(status=Status.PENDING, provider_task_id="a"),
        snap("completed", provider_task_id="b"),
    )
    assert transition.outcome is Outcome.ANOMALY
    assert not transition.changes and transition.event is None


def test_pending_and_processing_emit_their_events() -> None:
    submitted = apply(TaskState(status=Status.SUBMITTING), snap("queuing"))
    assert submitted.event is EventType.SUBMITTED
    processing = apply(TaskState(status=Status.PENDING), snap("generating"))
    assert processing.event is EventType.PROCESSING
