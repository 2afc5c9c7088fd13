"""Fixtures for tests that talk to one provider simulator shared by their module.

A module sets ``BASELINE`` (its ``SimulatorConfig``); every test then starts from that
config with no tasks and no counters, on a simulator served once per module (starting
uvicorn per test would dominate these tests' time).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from receiver.simulator.app import create_simulator_app
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.runtime import Simulator
from tests.conftest import FakeClock, make_settings
from tests.support.servers import serve
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook

SIM_AUTH = {"Authorization": "Bearer test-key"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator]]:
    baseline: SimulatorConfig = request.module.BASELINE
    app = create_simulator_app(baseline)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, headers=SIM_AUTH) as client:
        yield client, app.state.simulator


@pytest.fixture
def sim(request: pytest.FixtureRequest, shared: tuple[httpx.AsyncClient, Simulator]) -> Simulator:
    """The module's simulator, back to its baseline config with no tasks."""
    simulator = shared[1]
    simulator.configure(request.module.BASELINE.model_dump())
    simulator.reset(tasks=True)
    return simulator


@pytest.fixture
def client(shared: tuple[httpx.AsyncClient, Simulator], sim: Simulator) -> httpx.AsyncClient:
    """A client of the module's simulator, with the test key (a test may have changed it)."""
    client = shared[0]
    client.headers.update(SIM_AUTH)
    return client


@pytest.fixture
async def polled(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> AsyncIterator[Simulated]:
    """genhook on the simulator (tasks take 10 s), one provider try per call: the
    world of the tests whose poll passes meet a bad row."""
    settings = make_settings(
        tmp_path, database_url, provider_retry_attempts=1, provider_retry_budget_seconds=0
    )
    config = SimulatorConfig(api_key=SIM_KEY, task_duration=10, seed=3)
    async with simulated_genhook(settings, config) as simulated:
        yield simulated
