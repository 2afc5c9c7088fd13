"""The reconciler holds a lease: two workers reconciling at the same moment during
an API Mall outage resubmit each unconfirmed create once, not once each (the
Idempotency-Key made the doubles harmless; the lease makes them not happen)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import select

from receiver.simulator.config import SimulatorConfig
from storage.models import Task
from tests.conftest import FakeClock, make_settings
from tests.support.simulated import MODELS, SIM_KEY, simulated_genhook

TASKS = 6


async def test_two_reconcilers_resubmit_each_unconfirmed_create_once(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    settings = make_settings(
        tmp_path, database_url, provider_retry_attempts=1, provider_retry_budget_seconds=0
    )
    outage = SimulatorConfig(
        api_key=SIM_KEY, server_error_rate=1.0, fault_scope=("/api/v1/images/generate",)
    )
    async with simulated_genhook(settings, outage) as world:
        for n in range(TASKS):
            answer = await world.genhook.client.post(
                "/api/tasks",
                json={"provider": "apimall", "model": MODELS["apimall"], "prompt": f"fox {n}"},
            )
            assert answer.json()["status"] == "submitting"
        assert world.sim.stats.endpoints["apimall.create"] == TASKS

        services = world.genhook.services
        one, other = services.submitter(holder="w1"), services.submitter(holder="w2")
        first, second = await asyncio.gather(
            one.reconcile_unconfirmed(), other.reconcile_unconfirmed()
        )
        settled = [task_id for task_id, _ in first + second]
        assert sorted(settled) == sorted(set(settled)) and len(settled) == TASKS
        assert world.sim.stats.endpoints["apimall.create"] == 2 * TASKS  # one resend each

        # unconfirmed again: held for the reconcile lease, then taken on again
        assert await other.reconcile_unconfirmed() == []
        fake_clock.advance(settings.reconcile_lease_seconds + 1)
        world.sim.configure({"server_error_rate": 0.0})
        verdicts = dict(await other.reconcile_unconfirmed())
        assert set(verdicts.values()) == {"resubmitted"} and len(verdicts) == TASKS
        async with services.sessions() as session:
            statuses = {t.status for t in (await session.exec(select(Task))).all()}
        assert statuses == {"pending"}
