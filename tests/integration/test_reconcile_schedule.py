"""When unconfirmed creates are settled: on restart, and every
``GENHOOK_RECONCILE_EVERY_SECONDS`` (the README), not only when a test calls
``reconcile_unconfirmed()`` (``tests/integration/test_submit.py`` covers each rule).

An API Mall create whose answer was lost (the process "died" right after the
provider took it) is left ``submitting``; its rule resubmits it with the same
``Idempotency-Key``, so the same provider task is adopted and nothing is billed twice.
"""

from __future__ import annotations

from pathlib import Path

from receiver.lifecycle import Status
from receiver.simulator.app import create_simulator_app
from receiver.simulator.config import SimulatorConfig
from storage.models import Task
from tests.conftest import make_settings
from tests.support.crash import crash_submit, expire_leases
from tests.support.harness import Harness, running_genhook
from tests.support.servers import serve
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook, simulator_settings
from tests.support.waiting import eventually

HOUR = 3600.0


async def load(harness: Harness, task_id: str) -> Task:
    async with harness.services.sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def test_a_restart_settles_what_the_crashed_process_left_unconfirmed(
    tmp_path: Path, database_url: str
) -> None:
    # Only processes that run background work reconcile (a web-only one calls no
    # provider); every tick is an hour, so only the start-up reconcile can settle it.
    settings = make_settings(
        tmp_path,
        database_url,
        run_background=True,
        reconcile_every_seconds=HOUR,
        poll_tick_seconds=HOUR,
        dispatch_tick_seconds=HOUR,
        assets_tick_seconds=HOUR,
    )
    sim_app = create_simulator_app(SimulatorConfig(api_key=SIM_KEY, time_factor=0.02, seed=1))
    async with serve(sim_app) as sim_url:
        wired = simulator_settings(settings, sim_url)
        async with running_genhook(wired, own_public_url=True) as before:
            world = Simulated(before, sim_app.state.simulator, sim_url)
            task_id = await crash_submit(world, "apimall")
            await expire_leases(world)  # its lease ran out while it was down
            assert (await load(before, task_id)).status == Status.SUBMITTING

        async with running_genhook(wired, own_public_url=True) as after:  # the restart

            async def settled() -> bool:
                return (await load(after, task_id)).status == Status.PENDING

            await eventually(settled, within=10)  # by the start-up reconcile
            task = await load(after, task_id)
            (provider_task,) = list(sim_app.state.simulator.tasks)  # still one job
            assert task.provider_task_id == provider_task.id


async def test_the_reconciler_settles_on_its_interval(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        run_background=True,
        reconcile_every_seconds=0.2,
        poll_tick_seconds=HOUR,
        dispatch_tick_seconds=HOUR,
        assets_tick_seconds=HOUR,
    )
    async with simulated_genhook(settings) as world:
        task_id = await crash_submit(world, "apimall")  # after the start-up reconcile
        await expire_leases(world)

        async def settled() -> bool:
            return (await load(world.genhook, task_id)).status == Status.PENDING

        await eventually(settled, within=10)  # nobody called reconcile_unconfirmed()
        assert len(world.sim.tasks) == 1
