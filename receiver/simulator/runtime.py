"""The :class:`Simulator`: everything one running simulator owns, in one object.

The app keeps it in ``app.state.simulator`` so in-process tests reach the same state the
HTTP control endpoints show: the live config, the task store, the request counters,
the callback log, API Mall's ledger, and the one seeded :class:`random.Random` that all
dice (failures, faults, callback shuffles) are rolled with.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

from receiver import clock
from receiver.simulator.billing import CreditLedger, IdempotencyCache
from receiver.simulator.callbacks import CallbackSender
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.directives import Directives
from receiver.simulator.state import SimTask, TaskStore, plan_task
from receiver.simulator.stats import RequestStats


class Simulator:
    """State and background work of one simulator app."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self.rng = random.Random(config.seed)
        self.tasks = TaskStore()
        self.stats = RequestStats()
        self.callbacks = CallbackSender(lambda: self._config, self.rng)
        self.ledger = CreditLedger()
        self.idempotency = IdempotencyCache()

    @property
    def config(self) -> SimulatorConfig:
        """The live settings; replaced whole by :meth:`configure`."""
        return self._config

    def configure(
        self, changes: Mapping[str, Any] | None = None, /, **more: Any
    ) -> SimulatorConfig:
        """Apply runtime changes (validated; raises ``pydantic.ValidationError``).

        A new ``seed`` re-seeds the dice, so a test can make the next decisions
        reproducible in the middle of a run.
        """
        changes = {**(changes or {}), **more}
        updated = self._config.updated(changes)
        if "seed" in changes:
            self.rng.seed(updated.seed)
        self._config = updated
        return updated

    def reset(self, *, tasks: bool = False) -> None:
        """Zero the counters and the callback log; with ``tasks``, forget every task,
        the credit ledger and idempotency keys too (pending callbacks still go out)."""
        self.stats.reset()
        self.callbacks.clear_log()
        if tasks:
            self.tasks.clear()
            self.ledger.reset()
            self.idempotency.clear()

    def create_task(
        self,
        *,
        task_id: str,
        gateway: str,
        model: str,
        params: dict[str, Any],
        directives: Directives,
        image_count: int,
        base_url: str,
        callback_url: str | None = None,
        credits_used: int = 0,
    ) -> SimTask:
        """Plan a task's future, store it and return it."""
        now = clock.utcnow()
        task = SimTask(
            id=task_id,
            gateway=gateway,
            model=model,
            params=params,
            image_count=image_count,
            created_at=now,
            plan=plan_task(self._config, directives, self.rng, now),
            base_url=base_url,
            directives=directives,
            callback_url=callback_url,
            credits_used=credits_used,
        )
        self.tasks.add(task)
        return task

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Simulator]:
        """Run the background parts (the callback sender) for the block's duration."""
        await self.callbacks.start()
        try:
            yield self
        finally:
            await self.callbacks.stop()
