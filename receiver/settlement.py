"""How a create the provider never confirmed is settled. Pure: no I/O.

A create that timed out, or was answered 5xx, may or may not have made a job at the
provider. The task stays ``submitting`` (nothing downstream was told it exists)
until one rule settles it, per provider and documented, so that every task ends,
truthfully and soon:

==============================  ====================================================
the provider's create is…       the task is…
==============================  ====================================================
idempotent (API Mall)           resubmitted with the same ``Idempotency-Key`` on each
                                reconcile: the key cannot make a second job
answered by callback to a URL   left waiting: the callback its URL would bring
naming the task (apimodels.app) confirms it (and completes it); failed with
                                ``create_unconfirmed`` at its deadline if none came
neither (APIMart): no callback, failed with ``create_unconfirmed`` after
no lookup by our id             ``GENHOOK_<PROVIDER>_UNCONFIRMED_GRACE_SECONDS``
==============================  ====================================================

``GENHOOK_<PROVIDER>_RESUBMIT_UNCONFIRMED=true`` accepts the risk of paying twice
for a non-idempotent gateway: such a create is resubmitted once
(:data:`MAX_RISKY_CREATES` creates in all), then settled by the table. Every task
is failed at its deadline at the latest. A failure says what is known: the create
was not confirmed, why, and that the provider may still have (and bill) the job.
An operator can settle any task by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from receiver.lifecycle import Source, Status, TaskSnapshot

UNCONFIRMED_CODE = "create_unconfirmed"
UNCONFIRMED = "create not confirmed"  # how a submitting task's error message starts
MAX_RISKY_CREATES = 2  # "paying twice": the first create and one resubmission


class Action(StrEnum):
    RESUBMIT = "resubmit"
    WAIT = "wait"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Rule:
    """What is known of one provider's creates, and what its operator accepts."""

    provider: str
    idempotent_create: bool
    has_callbacks: bool
    resubmit_unconfirmed: bool = False
    grace_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str
    until: datetime | None = None  # WAIT: when the rule decides again at the latest


def decide(
    rule: Rule,
    *,
    create_attempts: int,
    unconfirmed_since: datetime,
    deadline: datetime,
    now: datetime,
) -> Verdict:
    """What to do now with an unconfirmed create (``create_attempts`` sent so far)."""
    if now >= deadline:
        return Verdict(Action.FAIL, f"no confirmation by its deadline {deadline.isoformat()}")
    if rule.idempotent_create:
        return Verdict(
            Action.RESUBMIT, "the create is idempotent: the same key makes no second job"
        )
    if rule.resubmit_unconfirmed and create_attempts < MAX_RISKY_CREATES:
        return Verdict(
            Action.RESUBMIT,
            f"{_setting(rule, 'RESUBMIT_UNCONFIRMED')} accepts the risk of paying twice",
        )
    if rule.has_callbacks:
        return Verdict(
            Action.WAIT,
            "waiting for the callback its URL would bring, until its deadline",
            until=deadline,
        )
    grace_ends = unconfirmed_since + timedelta(seconds=rule.grace_seconds)
    if now >= grace_ends:
        return Verdict(
            Action.FAIL,
            f"{rule.provider} sends no callback and cannot look a task up by our id, so "
            f"nothing can confirm it ({_setting(rule, 'UNCONFIRMED_GRACE_SECONDS')} passed)",
        )
    return Verdict(
        Action.WAIT,
        f"the reconciler fails it as {UNCONFIRMED_CODE} at {grace_ends.isoformat()}",
        min(grace_ends, deadline),
    )


def failure(rule: Rule, verdict: Verdict, last_error: str | None, now: datetime) -> TaskSnapshot:
    """The snapshot that settles an unconfirmed create as failed, saying what is known."""
    hint = (
        ""
        if rule.idempotent_create or rule.resubmit_unconfirmed
        else f"; set {_setting(rule, 'RESUBMIT_UNCONFIRMED')}=true to resubmit such creates"
    )
    return _failed(rule.provider, verdict.reason, last_error, hint, now)


def last_error(error_message: str | None) -> str | None:
    """What went wrong with the last create, from a submitting task's error message."""
    return (error_message or "").removeprefix(f"{UNCONFIRMED}: ") or None


def deadline_failure(
    provider: str, last_error: str | None, deadline: datetime, now: datetime
) -> TaskSnapshot:
    """The same failure when the deadline comes first (the poller's last look)."""
    reason = f"no confirmation by its deadline {deadline.isoformat()}"
    return _failed(provider, reason, last_error, "", now)


def _failed(
    provider: str, reason: str, last_error: str | None, hint: str, now: datetime
) -> TaskSnapshot:
    cause = f" ({last_error})" if last_error else ""
    return TaskSnapshot(
        state=Status.FAILED.value,
        source=Source.SUBMIT,
        error_code=UNCONFIRMED_CODE,
        error_message=(
            f"the create was never confirmed{cause}: {reason}. "
            f"{provider} may still have the job, and bill it{hint}"
        ),
        observed_at=now,
    )


def _setting(rule: Rule, name: str) -> str:
    return f"GENHOOK_{rule.provider.upper()}_{name}"
