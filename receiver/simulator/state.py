"""Simulated tasks: what each one will do, decided once, and where it is at any moment.

A task's whole future is planned at creation (:func:`plan_task`): when it starts
processing, when it finishes, and whether it completes or fails. Its state at a given
instant is then a pure function of the clock (:meth:`SimTask.phase_at`), so status
answers, callbacks and credit refunds can never disagree with each other, and no
background job is needed to "move" tasks along.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from receiver.simulator.config import SimulatorConfig
from receiver.simulator.directives import Directives

DEFAULT_FAIL_MESSAGE = "Simulated generation failure"


class Phase(StrEnum):
    """The four states every gateway's task goes through (names shared by all three)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Phase.COMPLETED, Phase.FAILED)


@dataclass(frozen=True, slots=True)
class Plan:
    """A task's future: ``finishes_at`` None means it never leaves ``processing``.

    ``duration`` is the planned run time in real seconds (what it would have been for a
    task that never finishes), the gateways' "estimated time".
    """

    processing_at: datetime
    finishes_at: datetime | None
    outcome: Phase
    duration: float
    fail_message: str | None = None


def plan_task(
    config: SimulatorConfig, directives: Directives, rng: random.Random, created_at: datetime
) -> Plan:
    """Decide timing and outcome from the config, the prompt directives and the dice."""
    duration = config.task_duration if directives.duration is None else directives.duration
    real = config.scaled(duration)
    processing_at = created_at + timedelta(seconds=real * config.pending_share)
    finishes_at = None if directives.never else created_at + timedelta(seconds=real)
    if directives.fail:
        message = directives.fail_message or DEFAULT_FAIL_MESSAGE
        return Plan(processing_at, finishes_at, Phase.FAILED, real, message)
    # Only roll when failures are configured, so the dice sequence (and thus every
    # other seeded decision) does not depend on whether failure_rate is zero.
    if not directives.succeed and config.failure_rate > 0 and rng.random() < config.failure_rate:
        return Plan(processing_at, finishes_at, Phase.FAILED, real, DEFAULT_FAIL_MESSAGE)
    return Plan(processing_at, finishes_at, Phase.COMPLETED, real)


@dataclass(slots=True)
class SimTask:
    """One task as a gateway would store it, plus the simulator's plan for it."""

    id: str
    gateway: str
    model: str
    params: dict[str, Any]
    image_count: int
    created_at: datetime
    plan: Plan
    base_url: str
    directives: Directives = field(default_factory=Directives)
    callback_url: str | None = None
    credits_used: int = 0

    def phase_at(self, now: datetime) -> Phase:
        """The task's state at ``now``."""
        if self.plan.finishes_at is not None and now >= self.plan.finishes_at:
            return self.plan.outcome
        if now >= self.plan.processing_at:
            return Phase.PROCESSING
        return Phase.PENDING

    def finished_at(self, now: datetime) -> datetime | None:
        """When the task reached its terminal state, if it has by ``now``."""
        return self.plan.finishes_at if self.phase_at(now).terminal else None

    def updated_at(self, now: datetime) -> datetime:
        """When the state last changed, as of ``now``."""
        phase = self.phase_at(now)
        if phase.terminal and self.plan.finishes_at is not None:
            return self.plan.finishes_at
        if phase is Phase.PROCESSING:
            return self.plan.processing_at
        return self.created_at

    def progress_at(self, now: datetime) -> int:
        """Percent done: 0 while pending, 1-99 while processing, 100 when finished."""
        phase = self.phase_at(now)
        if phase.terminal:
            return 100
        if phase is Phase.PENDING or self.plan.finishes_at is None:
            return 0 if phase is Phase.PENDING else 50
        span = (self.plan.finishes_at - self.plan.processing_at).total_seconds()
        done = (now - self.plan.processing_at).total_seconds() / span if span > 0 else 1.0
        return max(1, min(99, int(done * 100)))

    def result_urls(self, base_url: str | None = None) -> list[str]:
        """URLs of the result PNGs, served by this simulator under ``/files/``."""
        base = (base_url or self.base_url).rstrip("/")
        return [f"{base}/files/{self.id}/{index}.png" for index in range(self.image_count)]

    def summary(self, now: datetime) -> dict[str, Any]:
        """A gateway-neutral view for ``/_sim/tasks``."""
        finished = self.finished_at(now)
        return {
            "id": self.id,
            "gateway": self.gateway,
            "model": self.model,
            "state": self.phase_at(now).value,
            "outcome": self.plan.outcome.value if self.plan.finishes_at else None,
            "fail_message": self.plan.fail_message,
            "image_count": self.image_count,
            "created_at": self.created_at.isoformat(),
            "finishes_at": self.plan.finishes_at.isoformat() if self.plan.finishes_at else None,
            "finished_at": finished.isoformat() if finished else None,
            "callback_url": self.callback_url,
            "params": self.params,
        }


class TaskStore:
    """Every task the simulator has created, by id; in memory, gone on restart."""

    def __init__(self) -> None:
        self._tasks: dict[str, SimTask] = {}

    def add(self, task: SimTask) -> None:
        if task.id in self._tasks:
            raise ValueError(f"duplicate task id {task.id!r}")
        self._tasks[task.id] = task

    def get(self, task_id: str, gateway: str) -> SimTask | None:
        """The task, if it exists *and* belongs to ``gateway`` (ids are not shared)."""
        task = self._tasks.get(task_id)
        return task if task is not None and task.gateway == gateway else None

    def find(self, task_id: str) -> SimTask | None:
        return self._tasks.get(task_id)

    def clear(self) -> None:
        self._tasks.clear()

    def __iter__(self) -> Iterator[SimTask]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)
