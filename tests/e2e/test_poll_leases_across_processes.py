"""Poll leases across real processes: pollers on one database never poll a task twice.

The in-process test (``tests/integration/test_poller.py``) shares one engine; here
three separate Python processes, each with its own services and connection pool,
start one poller pass at the same moment on the same database (SQLite file or
PostgreSQL) against the simulator, whose answers are slowed so the passes overlap.
With a batch of 4 and 12 due tasks, every process must claim its own 4: none may
poll a task another holds.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, select

from receiver import clock
from receiver.lifecycle import Status
from receiver.simulator.config import SimulatorConfig
from receiver.submit import SubmitRequest
from storage.models import Task
from tests.conftest import TEST_SECRET, make_settings
from tests.support.process import free_port, genhook_env
from tests.support.simulated import MODELS, SIM_KEY, simulated_genhook

ROOT = Path(__file__).parents[2]
PROCESSES, BATCH = 3, 4


async def test_pollers_in_separate_processes_each_claim_their_own_tasks(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    config = SimulatorConfig(api_key=SIM_KEY, time_factor=1, task_duration=600, seed=1)
    async with simulated_genhook(settings, config) as world:
        submitter = world.genhook.services.submitter(rng=random.Random(1))
        ids = []
        for i in range(PROCESSES * BATCH):
            task = await submitter.submit(
                SubmitRequest("apimall", MODELS["apimall"], f"fox {i}", {})
            )
            assert task.status == Status.PENDING, task.error_message
            ids.append(task.id)
        async with world.genhook.services.sessions() as session, session.begin():
            await session.exec(
                update(Task).values(next_poll_at=clock.utcnow() - timedelta(seconds=1))
            )
        world.sim.reset()
        world.sim.configure(slow_response=0.5)  # every status answer takes half a second

        env = genhook_env(
            tmp_path / "data",
            database_url,
            free_port(),
            GENHOOK_SECRET=TEST_SECRET,
            GENHOOK_APIMALL_BASE_URL=world.sim_url,
            GENHOOK_APIMALL_API_KEY=SIM_KEY,
            GENHOOK_POLL_BATCH_SIZE=str(BATCH),
            GENHOOK_RUN_BACKGROUND="false",
        )
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.one_pass",
                "poll",
                f"poller-{n}",
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for n in range(PROCESSES)
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                ready = await asyncio.wait_for(process.stdout.readline(), 60)
                assert ready == b"ready\n", (ready, await process.stderr.read())  # type: ignore[union-attr]
            for process in processes:  # all at once
                assert process.stdin is not None
                process.stdin.write(b"go\n")
            await asyncio.gather(*(p.stdin.drain() for p in processes if p.stdin))
            reports = []
            for process in processes:
                out, err = await asyncio.wait_for(process.communicate(), 60)
                assert process.returncode == 0, err.decode()
                reports.append(json.loads(out))
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

        assert [r["claimed"] for r in reports] == [BATCH] * PROCESSES  # everyone had work
        assert [r["polled"] for r in reports] == [BATCH] * PROCESSES
        assert max(r["started"] for r in reports) < min(r["ended"] for r in reports)  # at once
        async with world.genhook.services.sessions() as session:
            tasks = (await session.exec(select(Task).where(col(Task.id).in_(ids)))).all()
        polls = [world.sim.stats.polls(t.provider_task_id or "") for t in tasks]
        assert polls == [1] * len(ids)  # each task polled once, by exactly one process
        assert all(t.lease_holder is None and t.poll_attempts == 1 for t in tasks)
