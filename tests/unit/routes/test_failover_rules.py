"""The route rules of ``lifecycle.apply`` (pure): who moves on, who is late, and that
a routed task still ends exactly once, whatever its attempts report in any order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.lifecycle import EventType, Outcome, Source, Status, TaskSnapshot, TaskState, apply
from receiver.routes.costs import PriceList, attempt_cost, check_budget
from receiver.routes.failover import can_fail_over

PLAN = (
    {"provider": "apimall", "model": "nano-banana"},
    {"provider": "apimodels", "model": "gemini-2.5-flash-image"},
    {"provider": "apimart", "model": "gemini-2.5-flash-image-preview"},
)
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def routed(attempt: int = 1, status: Status = Status.PENDING) -> TaskState:
    entry = PLAN[attempt - 1]
    return TaskState(
        status=status,
        provider=entry["provider"],
        model=entry["model"],
        provider_task_id=f"p-{attempt}",
        attempt=attempt,
        route_plan=PLAN,
    )


def failed(code: str | None = "GENERATION_FAILED", message: str | None = None) -> TaskSnapshot:
    return TaskSnapshot(
        "failed", Source.CALLBACK, error_code=code, error_message=message, observed_at=NOW
    )


@pytest.mark.parametrize(
    ("code", "message", "moves_on"),
    [
        ("GENERATION_FAILED", "upstream model error", True),
        ("insufficient_credits", None, True),
        ("500", "server error", True),
        ("create_unconfirmed", None, True),
        ("budget_exceeded", None, True),
        ("GENERATION_FAILED", "Content policy violation", False),
        ("content_blocked", None, False),
        ("content_policy_violation", None, False),
        ("invalid_request", "size must be one of ...", False),
        ("cancelled", None, False),
    ],
)
def test_which_failures_another_gateway_can_fix(
    code: str, message: str | None, moves_on: bool
) -> None:
    assert can_fail_over(expired=False, error_code=code, error_message=message) is moves_on


def test_an_expiry_always_moves_on_and_a_typed_verdict_wins() -> None:
    assert can_fail_over(expired=True, error_code="content_blocked", error_message=None)
    assert not can_fail_over(
        expired=False, error_code="x", error_message=None, retry_elsewhere=False
    )
    assert can_fail_over(
        expired=False, error_code="invalid", error_message=None, retry_elsewhere=True
    )


def test_a_fixable_failure_reroutes_to_the_next_target() -> None:
    transition = apply(routed(1), failed(), provider="apimall")
    assert transition.outcome is Outcome.REROUTED
    assert transition.event is EventType.ATTEMPT_FAILED
    assert transition.changes["status"] is Status.SUBMITTING
    assert transition.changes["provider"] == "apimodels"
    assert transition.changes["attempt"] == 2
    assert transition.changes["provider_task_id"] is None
    assert transition.changes["reroute_at"] == NOW


def test_the_last_target_fails_the_task() -> None:
    transition = apply(routed(3), failed(), provider="apimart")
    assert transition.outcome is Outcome.APPLIED
    assert transition.event is EventType.FAILED


def test_a_request_fault_fails_the_task_at_once() -> None:
    transition = apply(routed(1), failed("content_blocked"), provider="apimall")
    assert transition.event is EventType.FAILED


def test_the_next_targets_acceptance_is_rerouted_not_submitted() -> None:
    waiting = routed(2, Status.SUBMITTING).evolve(
        {"provider_task_id": None, "error_code": "insufficient_credits"}
    )
    accepted = TaskSnapshot("pending", Source.SUBMIT, "p-2", observed_at=NOW)
    transition = apply(waiting, accepted, provider="apimodels")
    assert transition.event is EventType.REROUTED
    assert transition.changes["error_code"] is None  # attempt 1's, kept on attempt 1
    first = routed(1, Status.SUBMITTING).evolve({"provider_task_id": None})
    assert apply(first, accepted, provider="apimall").event is EventType.SUBMITTED


def test_a_report_of_a_left_attempt_is_late_and_changes_nothing() -> None:
    done = TaskSnapshot("completed", Source.CALLBACK, "p-1", result_urls=("u",))
    transition = apply(routed(2), done, provider="apimall")
    assert transition.outcome is Outcome.LATE
    assert not transition.changes and transition.event is None


# Reports any attempt of a three-target route could send: which attempt, and what.
reports = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["processing", "completed", "failed", "expired"]),
        st.sampled_from(["GENERATION_FAILED", "content_blocked"]),
    ),
    max_size=12,
)


@given(reports)
def test_a_routed_task_ends_at_most_once_and_only_by_its_current_attempt(
    sent: list[tuple[int, str, str]],
) -> None:
    task = routed(1)
    terminal_events = 0
    for index, state, code in sent:
        provider = PLAN[index]["provider"]
        snapshot = TaskSnapshot(
            state,
            Source.CALLBACK,
            result_urls=("u",) if state == "completed" else (),
            error_code=code if state == "failed" else None,
            observed_at=NOW,
        )
        before = task
        transition = apply(task, snapshot, provider=provider)
        if provider != before.provider:
            assert transition.outcome is Outcome.LATE and not transition.changes
        if transition.outcome is Outcome.REROUTED:
            assert transition.changes["attempt"] == before.attempt + 1
            assert transition.changes["provider"] == PLAN[before.attempt]["provider"]
        if transition.event in (EventType.COMPLETED, EventType.FAILED, EventType.EXPIRED):
            terminal_events += 1
            assert provider == before.provider  # only the current attempt decides
        task = task.evolve(dict(transition.changes))
        if task.status is Status.SUBMITTING:  # the rerouter's send, accepted
            accept = TaskSnapshot("pending", Source.SUBMIT, f"p-{task.attempt}", observed_at=NOW)
            task = task.evolve(dict(apply(task, accept, provider=task.provider).changes))
    assert terminal_events <= 1
    assert task.attempt <= len(PLAN)


def test_costs_and_budgets() -> None:
    prices = PriceList("USD", {"m": 0.04})
    assert attempt_cost(
        prices, "m", completed=True, images=2, credits_used=None, credits_refunded=None
    ) == pytest.approx(0.08)
    assert (
        attempt_cost(
            prices, "m", completed=False, images=0, credits_used=None, credits_refunded=None
        )
        == 0
    )
    assert (
        attempt_cost(prices, "m", completed=False, images=0, credits_used=8, credits_refunded=8)
        == 0
    )
    assert (
        attempt_cost(
            prices, "x", completed=True, images=1, credits_used=None, credits_refunded=None
        )
        is None
    )
    assert check_budget(None, 1e9, 5).allowed
    assert check_budget(10, 2, 8).allowed and not check_budget(10, 3, 8).allowed
    assert check_budget(10, 9, None).allowed and not check_budget(10, 10, None).allowed
