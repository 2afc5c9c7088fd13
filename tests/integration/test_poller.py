"""The poller against the simulator over HTTP, on SQLite and PostgreSQL.

Time is a :class:`FakeClock` shared by genhook and the simulator (both read
``receiver.clock.utcnow``), so "60 s of grace" costs nothing and every assertion
about cadence is exact. Tests call ``poll_once()`` directly, as the issue asks.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from receiver.lifecycle import Status
from receiver.poller import Poller
from receiver.simulator.config import SimulatorConfig
from receiver.submit import SubmitRequest
from storage.models import Task
from tests.conftest import FakeClock, make_settings
from tests.fixtures.apimodels import callback_body
from tests.support.events import terminal_events
from tests.support.simulated import MODELS, SIM_KEY, Simulated, simulated_genhook

FAST_RETRIES = {"provider_retry_attempts": 1, "provider_retry_budget_seconds": 0}


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> AsyncIterator[Simulated]:
    settings = make_settings(tmp_path, database_url, **FAST_RETRIES)
    config = SimulatorConfig(api_key=SIM_KEY, task_duration=10, seed=3, retry_after=0)
    async with simulated_genhook(settings, config) as simulated:
        yield simulated


def poller(world: Simulated, holder: str = "test-poller") -> Poller:
    return world.genhook.services.poller(holder=holder, rng=random.Random(0))


async def submit_many(
    world: Simulated, provider: str, count: int, prompt: str = "a fox"
) -> list[str]:
    submitter = world.genhook.services.submitter(rng=random.Random(1))
    ids = []
    for i in range(count):
        task = await submitter.submit(
            SubmitRequest(provider, MODELS[provider], f"{prompt} {i}", {})
        )
        assert task.status == Status.PENDING, task.error_message
        ids.append(task.id)
    return ids


async def load(world: Simulated, ids: list[str]) -> list[Task]:
    async with world.genhook.services.sessions() as session:
        rows = await session.exec(select(Task).where(Task.id.in_(ids)))  # type: ignore[attr-defined]
        return sorted(rows.all(), key=lambda t: ids.index(t.id))


async def run_until(world: Simulated, clock: FakeClock, seconds: float, step: float = 1.0) -> None:
    """Advance time in steps, running one poller pass per step."""
    p = poller(world)
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(step)
        elapsed += step
        await p.poll_once()


async def test_every_apimodels_task_completes_by_poll_when_all_callbacks_are_lost(
    world: Simulated, fake_clock: FakeClock
) -> None:
    world.sim.configure(callback_drop_rate=1.0)
    ids = await submit_many(world, "apimodels", 5)
    settings = world.genhook.services.settings
    earliest_grace = settings.apimodels.poll_first[0] * (1 - settings.poll.jitter)
    latest_grace = settings.apimodels.poll_first[1] * (1 + settings.poll.jitter)
    interval = settings.apimodels.poll_interval[1] * (1 + settings.poll.jitter)

    await run_until(world, fake_clock, earliest_grace - 1)
    assert all(t.status == "pending" for t in await load(world, ids))  # grace is respected
    assert sum(world.sim.stats.polls(t.provider_task_id or "") for t in await load(world, ids)) == 0

    await run_until(world, fake_clock, latest_grace - earliest_grace + interval + 2)
    tasks = await load(world, ids)
    assert [t.status for t in tasks] == ["completed"] * 5
    assert all(t.last_source == "poll" and t.result_urls for t in tasks)
    assert not any(a.outcome == "delivered" for a in world.sim.callbacks.attempts)


@pytest.mark.parametrize("provider", ["apimall", "apimart"])
async def test_callbackless_providers_complete_by_polling(
    world: Simulated, fake_clock: FakeClock, provider: str
) -> None:
    ids = await submit_many(world, provider, 6)
    await run_until(world, fake_clock, 40)
    tasks = await load(world, ids)
    assert [t.status for t in tasks] == ["completed"] * 6
    assert all(t.last_source == "poll" for t in tasks)
    for task in tasks:
        assert await terminal_events(world.genhook.services, task.id) == ["task.completed"]
    endpoints = world.sim.stats.endpoints
    if provider == "apimart":
        assert endpoints["apimart.batch"] > 0
        assert endpoints["apimart.status"] == 0  # every poll went through the batch endpoint
    else:
        assert endpoints["apimall.status"] > 0


async def test_apimart_tasks_due_together_share_one_batch_request(
    world: Simulated, fake_clock: FakeClock
) -> None:
    ids = await submit_many(world, "apimart", 7)
    fake_clock.advance(25)  # past every first poll (10-20 s) and the 10 s generation
    report = await poller(world).poll_once()
    assert report.claimed == 7
    assert world.sim.stats.endpoints["apimart.batch"] == 1
    assert [t.status for t in await load(world, ids)] == ["completed"] * 7


async def test_first_apimart_poll_waits_10_to_20_seconds(world: Simulated) -> None:
    [task_id] = await submit_many(world, "apimart", 1)
    [task] = await load(world, [task_id])
    assert task.submitted_at and task.next_poll_at
    wait = (task.next_poll_at - task.submitted_at).total_seconds()
    assert 10 * 0.9 <= wait <= 20 * 1.1


async def test_two_pollers_never_poll_one_task_twice_in_a_tick(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    """A batch of 6 for 12 due tasks: both pollers must claim (it used to split 12/0
    and pass), and neither may poll what the other holds. Across real processes:
    ``tests/e2e/test_poll_leases_across_processes.py``."""
    settings = make_settings(tmp_path, database_url, poll_batch_size=6, **FAST_RETRIES)
    config = SimulatorConfig(api_key=SIM_KEY, task_duration=10, seed=3, retry_after=0)
    async with simulated_genhook(settings, config) as world:
        ids = await submit_many(world, "apimall", 12)
        fake_clock.advance(6)  # every task is due
        world.sim.reset()
        first, second = poller(world, "worker-a"), poller(world, "worker-b")
        reports = await asyncio.gather(first.poll_once(), second.poll_once())
        assert [r.claimed for r in reports] == [6, 6]
        tasks = await load(world, ids)
        assert [world.sim.stats.polls(t.provider_task_id or "") for t in tasks] == [1] * 12
        # and all leases were handed back with a next poll in the future
        assert all(
            t.lease_holder is None and t.next_poll_at and t.next_poll_at > fake_clock.now
            for t in tasks
        )


async def test_a_held_lease_is_respected_until_it_expires(
    world: Simulated, fake_clock: FakeClock
) -> None:
    [task_id] = await submit_many(world, "apimall", 1)
    fake_clock.advance(6)
    async with world.genhook.services.sessions() as session, session.begin():
        task = await session.get(Task, task_id)
        assert task is not None
        task.lease_holder = "crashed-worker"
        task.lease_expires_at = fake_clock.now + timedelta(seconds=30)
        session.add(task)
    assert (await poller(world).poll_once()).claimed == 0
    fake_clock.advance(31)  # the crashed worker's lease ran out
    assert (await poller(world).poll_once()).claimed == 1


async def test_rate_limit_backs_off_the_whole_provider_and_fails_nothing(
    world: Simulated, fake_clock: FakeClock
) -> None:
    ids = await submit_many(world, "apimall", 5)
    world.sim.configure(rate_limit_rate=1.0, retry_after=30, fault_scope=("apimall",))
    p = poller(world)
    fake_clock.advance(6)
    report = await p.poll_once()
    assert report.failed_calls == 1
    assert world.sim.stats.endpoints["apimall.status"] <= 5  # not one request per task per tick

    calls = world.sim.stats.endpoints["apimall.status"]
    for _ in range(20):  # inside Retry-After: nobody calls the provider
        fake_clock.advance(1)
        await p.poll_once()
    assert world.sim.stats.endpoints["apimall.status"] == calls

    world.sim.configure(rate_limit_rate=0.0)
    for _ in range(40):
        fake_clock.advance(2)
        await p.poll_once()
    tasks = await load(world, ids)
    assert [t.status for t in tasks] == ["completed"] * 5


async def test_outage_opens_the_circuit_then_recovers_without_failing_tasks(
    world: Simulated, fake_clock: FakeClock
) -> None:
    ids = await submit_many(world, "apimart", 4)
    world.sim.configure(server_error_rate=1.0, fault_scope=("apimart",))
    p = poller(world)
    failures = 0
    for _ in range(120):
        fake_clock.advance(2)
        failures += (await p.poll_once()).failed_calls
    settings = world.genhook.services.settings
    assert failures >= settings.circuit.failures
    # the circuit spaces calls out: far fewer than one per pass
    assert world.sim.stats.endpoints["apimart.batch"] < 60
    assert all(t.status == "pending" for t in await load(world, ids))  # never failed for it

    world.sim.configure(server_error_rate=0.0)
    for _ in range(200):
        fake_clock.advance(2)
        await p.poll_once()
        if all(t.status == "completed" for t in await load(world, ids)):
            break
    assert [t.status for t in await load(world, ids)] == ["completed"] * 4


async def test_a_task_that_never_finishes_expires_with_one_event(
    world: Simulated, fake_clock: FakeClock
) -> None:
    [task_id] = await submit_many(world, "apimart", 1, prompt="stuck [sim:never]")
    deadline = world.genhook.services.settings.task_deadline_seconds
    # 30 s steps (the pass count is not the point: 60 passes, not 360, to its deadline)
    await run_until(world, fake_clock, deadline + 30, step=30)
    [task] = await load(world, [task_id])
    assert task.status == "expired"
    assert task.error_code == "deadline_exceeded"
    assert await terminal_events(world.genhook.services, task_id) == ["task.expired"]
    polls_at_expiry = world.sim.stats.polls(task.provider_task_id or "")
    await run_until(world, fake_clock, 30, step=5)
    assert world.sim.stats.polls(task.provider_task_id or "") == polls_at_expiry  # left alone


async def test_receiver_task_without_callback_expires_at_its_deadline(
    world: Simulated, fake_clock: FakeClock
) -> None:
    created = await world.genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
    task_id = created.json()["task_id"]
    deadline = world.genhook.services.settings.task_deadline_seconds
    fake_clock.advance(deadline - 1)
    await poller(world).poll_once()
    assert (await load(world, [task_id]))[0].status == "pending"
    fake_clock.advance(2)
    await poller(world).poll_once()
    [task] = await load(world, [task_id])
    assert task.status == "expired"


async def test_late_callback_after_poll_completion_emits_one_terminal_event(
    world: Simulated, fake_clock: FakeClock
) -> None:
    world.sim.configure(callback_drop_rate=1.0)
    [task_id] = await submit_many(world, "apimodels", 1)
    await run_until(world, fake_clock, 90)
    [task] = await load(world, [task_id])
    assert task.status == "completed" and task.last_source == "poll"

    path = (
        "/callbacks/apimodels/"
        + world.genhook.services.callback_urls.for_task("apimodels", task_id).rsplit("/", 1)[1]
    )
    late = await world.genhook.client.post(
        path,
        content=callback_body(
            task_id=task.provider_task_id or "", result_json={"resultUrls": task.result_urls}
        ),
    )
    assert late.json()["status"] == "duplicate"
    assert await terminal_events(world.genhook.services, task_id) == ["task.completed"]


async def test_stuck_tasks_say_why(world: Simulated, fake_clock: FakeClock) -> None:
    from receiver.stuck import stuck_reason, stuck_tasks

    [polled] = await submit_many(world, "apimart", 1, prompt="slow [sim:never]")
    [quiet] = await submit_many(world, "apimodels", 1, prompt="quiet [sim:never]")
    receiver_only = (
        await world.genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
    ).json()["task_id"]
    settings = world.genhook.services.settings
    fake_clock.advance(settings.stuck_after_seconds - 30)
    await poller(world).poll_once()  # the APIMart task gets polled once

    async def reasons() -> dict[str, str]:
        async with world.genhook.services.sessions() as session:
            rows = await stuck_tasks(session, settings, fake_clock.now, limit=10)
            return {t.id: stuck_reason(t, settings, fake_clock.now) for t in rows}

    assert await reasons() == {}  # nothing is past its expected time yet
    fake_clock.advance(40)
    found = await reasons()
    assert found[polled].startswith("polling (1 polls")
    assert found[quiet].startswith("polling (1 polls")  # its grace (60 s) is long over
    assert found[receiver_only].startswith("waiting for callback (nothing to poll")

    world.sim.configure(rate_limit_rate=1.0, retry_after=120, fault_scope=("apimart",))
    fake_clock.advance(10)
    await poller(world).poll_once()
    assert (await reasons())[polled].startswith("provider backing off")


async def test_a_failing_last_poll_is_retried_for_the_expire_grace_then_expires(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    """``GENHOOK_EXPIRE_GRACE_SECONDS``: past the deadline, a provider that cannot
    answer the last poll gets the grace (the task may have finished there); then the
    task expires even so."""
    settings = make_settings(
        tmp_path, database_url, task_deadline_seconds=60, expire_grace_seconds=120, **FAST_RETRIES
    )
    config = SimulatorConfig(api_key=SIM_KEY, task_duration=10, seed=3, retry_after=0)
    async with simulated_genhook(settings, config) as world:
        [task_id] = await submit_many(world, "apimall", 1, prompt="slow [sim:never]")
        [task] = await load(world, [task_id])
        assert task.deadline_at is not None
        world.sim.configure(server_error_rate=1.0, fault_scope=("apimall",))
        p = poller(world)
        calls_at_deadline = 0
        while fake_clock.now < task.deadline_at + timedelta(seconds=115):
            fake_clock.advance(5)
            await p.poll_once()
            if fake_clock.now <= task.deadline_at:
                calls_at_deadline = world.sim.stats.endpoints["apimall.status"]
        [task] = await load(world, [task_id])
        assert task.status == "pending"  # within the grace: not expired
        assert world.sim.stats.endpoints["apimall.status"] > calls_at_deadline  # still asking

        # the provider's circuit is open by now: the expiry comes with its next probe
        # (cool-downs are at most GENHOOK_CIRCUIT_MAX_COOLDOWN_SECONDS)
        await run_until(world, fake_clock, settings.circuit.max_cooldown_seconds + 10, step=5)
        [task] = await load(world, [task_id])
        assert (task.status, task.error_code) == ("expired", "deadline_exceeded")
        assert await terminal_events(world.genhook.services, task_id) == ["task.expired"]
