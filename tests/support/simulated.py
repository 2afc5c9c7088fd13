"""genhook wired to a running provider simulator, both on real loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from receiver.lifecycle import Status
from receiver.settings import Settings
from receiver.simulator.app import create_simulator_app
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.runtime import Simulator
from storage.models import Task
from tests.support.harness import Harness, running_genhook
from tests.support.servers import serve

SIM_KEY = "sim-test-key"
PROVIDERS = ("apimodels", "apimall", "apimart")
# One valid request per gateway.
MODELS = {
    "apimodels": "gemini-3-pro-image-lite",
    "apimall": "nano-banana",
    "apimart": "gemini-2.5-flash-image-preview",
}


@dataclass
class Simulated:
    genhook: Harness
    sim: Simulator
    sim_url: str

    async def wait_terminal(self, task_id: str, within: float = 10) -> Task:
        """Wait (reading genhook's database) until the task is terminal."""
        async with asyncio.timeout(within):
            while True:
                async with self.genhook.services.sessions() as session:
                    task = await session.get(Task, task_id)
                assert task is not None
                if Status(task.status).is_terminal:
                    return task
                await asyncio.sleep(0.05)


def simulator_settings(settings: Settings, sim_url: str) -> Settings:
    updates: dict[str, Any] = {}
    for provider in PROVIDERS:
        updates[f"{provider}_base_url"] = sim_url
        updates[f"{provider}_api_key"] = SecretStr(SIM_KEY)
    return settings.updated(**updates)


@contextlib.asynccontextmanager
async def simulated_genhook(
    settings: Settings, config: SimulatorConfig | None = None
) -> AsyncIterator[Simulated]:
    config = config or SimulatorConfig(api_key=SIM_KEY, time_factor=0.02, seed=1)
    sim_app = create_simulator_app(config)
    async with serve(sim_app) as sim_url:
        wired = simulator_settings(settings, sim_url)
        async with running_genhook(wired, own_public_url=True) as genhook:
            yield Simulated(genhook, sim_app.state.simulator, sim_url)
