"""Submitting and tracking through genhook, against the simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from receiver import clock
from receiver.lifecycle import Status
from receiver.settings import Settings
from receiver.simulator.config import SimulatorConfig
from storage.models import Task
from tests.conftest import FakeClock, make_settings
from tests.support.crash import crash_submit, expire_leases
from tests.support.events import event_types
from tests.support.simulated import MODELS, SIM_KEY, Simulated, simulated_genhook


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[Simulated]:
    async with simulated_genhook(settings) as simulated:
        yield simulated


async def submit(world: Simulated, provider: str, prompt: str = "a red fox", **params: object):
    return await world.genhook.client.post(
        "/api/tasks",
        json={"provider": provider, "model": MODELS[provider], "prompt": prompt, "params": params},
    )


async def test_apimodels_task_completes_by_callback_without_polling(world: Simulated) -> None:
    response = await submit(world, "apimodels")
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["status"] == "pending"
    assert task["provider_task_id"]
    assert task["request"]["prompt"] == "a red fox"

    done = await world.wait_terminal(task["id"])
    assert done.status == "completed"
    assert done.last_source == "callback"
    assert done.result_urls and all(u.startswith(world.sim_url) for u in done.result_urls)
    assert world.sim.stats.polls(task["provider_task_id"]) == 0
    assert await event_types(world.genhook.services, task["id"]) == [
        "task.submitted",
        "task.completed",
    ]


@pytest.mark.parametrize("provider", ["apimall", "apimart"])
async def test_callbackless_providers_are_submitted(world: Simulated, provider: str) -> None:
    response = await submit(world, provider)
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["status"] == "pending"
    assert task["provider_task_id"]
    assert task["submitted_at"]
    sim_task = world.sim.tasks.find(task["provider_task_id"])
    assert sim_task is not None and sim_task.callback_url is None


async def test_apimall_create_carries_our_task_id_as_idempotency_key(world: Simulated) -> None:
    task = (await submit(world, "apimall")).json()
    assert task["credits"]["used"] == 8
    assert task["credits"]["remaining"] == 992
    answer = world.sim.idempotency.get(SIM_KEY, task["id"])
    assert answer is not None
    assert answer.payload["data"]["task_id"] == task["provider_task_id"]


async def test_validation_refusal_records_a_failed_task_and_calls_nobody(world: Simulated) -> None:
    before = dict(world.sim.stats.endpoints)
    response = await world.genhook.client.post(
        "/api/tasks",
        json={"provider": "apimart", "model": "gpt-image-2", "prompt": "x", "params": {"n": 3}},
    )
    assert response.status_code == 422
    problem = response.json()["error"]
    assert problem["field"] == "n"
    assert "n" in problem["message"]
    assert dict(world.sim.stats.endpoints) == before  # no request reached the provider

    async with world.genhook.services.sessions() as session:
        task = await session.get(Task, problem["task_id"])
    assert task is not None and task.status == "failed"
    assert task.error_code == "invalid_request"
    assert await event_types(world.genhook.services, task.id) == ["task.failed"]


@pytest.mark.parametrize(
    ("provider", "prompt", "http_status", "code"),
    [
        ("apimall", "a fox [sim:blocked]", 451, "content_blocked"),
        # 400s (the README: "402 credits, 451 moderation, 400..."): a parameter the
        # gateway refuses, though genhook's own checks let it through
        ("apimall", "a fox [sim:duration=soon]", 400, "invalid_directive"),
        ("apimart", "a fox [sim:blocked]", 400, "content_policy_violation"),
        ("apimodels", "a fox [sim:duration=soon]", 400, "400"),  # its code is the status
    ],
)
async def test_provider_refusal_leaves_a_failed_task_with_its_code(
    world: Simulated, provider: str, prompt: str, http_status: int, code: str
) -> None:
    response = await submit(world, provider, prompt=prompt)
    assert response.status_code == 201
    task = response.json()
    assert task["status"] == "failed"
    assert task["error"]["code"] == code
    assert task["error"]["message"]  # the provider's own words
    assert await event_types(world.genhook.services, task["id"]) == ["task.failed"]
    sent = world.sim.stats.statuses[f"{provider}.create"]
    assert sent == {http_status: 1}  # refused once, and not retried


async def test_insufficient_credits_is_a_failed_task(settings: Settings) -> None:
    config = SimulatorConfig(api_key=SIM_KEY, time_factor=0.02, apimall_credits=0)
    async with simulated_genhook(settings, config) as world:
        task = (await submit(world, "apimall")).json()
    assert task["status"] == "failed"
    assert task["error"]["code"] == "insufficient_credits"


async def test_unknown_provider_and_bad_bodies(world: Simulated) -> None:
    client = world.genhook.client
    nosuch = await client.post("/api/tasks", json={"provider": "x", "model": "m", "prompt": "p"})
    assert nosuch.status_code == 404
    missing = await client.post("/api/tasks", json={"provider": "apimall"})
    assert missing.status_code == 422
    assert "prompt" in missing.json()["error"]["message"]
    no_model = await client.post("/api/tasks", json={"provider": "apimall", "prompt": "p"})
    assert no_model.status_code == 422
    assert "model" in no_model.json()["error"]["message"]
    both = await client.post(
        "/api/tasks",
        json={"provider": "apimall", "model": "nano-banana", "route": "nano-banana", "prompt": "p"},
    )
    assert both.status_code == 422
    assert "not both" in both.json()["error"]["message"]
    not_json = await client.post("/api/tasks", content=b"{nope")
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")
    assert (await world.genhook.counts())["tasks"] == 0


def remaining_credits(world: Simulated) -> int:
    return world.sim.ledger.remaining(world.sim.config.apimall_credits, clock.utcnow())


async def test_crash_apimall_is_resubmitted_with_the_same_idempotency_key(
    world: Simulated,
) -> None:
    task_id = await crash_submit(world, "apimall")
    assert len(world.sim.tasks) == 1
    balance = remaining_credits(world)

    await expire_leases(world)
    verdicts = await world.genhook.services.submitter().reconcile_unconfirmed()
    assert verdicts == [(task_id, "resubmitted")]

    assert len(world.sim.tasks) == 1  # the same provider task, not a second job
    assert remaining_credits(world) == balance  # billed once
    async with world.genhook.services.sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None and task.status == "pending"
    assert task.provider_task_id == next(iter(world.sim.tasks)).id
    assert await event_types(world.genhook.services, task_id) == ["task.submitted"]


async def test_crash_apimart_is_failed_after_its_grace_not_resubmitted(
    world: Simulated,
) -> None:
    """A non-idempotent create nothing can confirm later: failed, truthfully, soon."""
    task_id = await crash_submit(world, "apimart")
    await expire_leases(world)
    submitter = world.genhook.services.submitter()
    assert await submitter.reconcile_unconfirmed() == []  # within the grace: it waits
    async with world.genhook.services.sessions() as session, session.begin():
        task = await session.get(Task, task_id)
        assert task is not None
        task.updated_at -= timedelta(seconds=61)  # GENHOOK_APIMART_UNCONFIRMED_GRACE_SECONDS
        session.add(task)
    assert await submitter.reconcile_unconfirmed() == [(task_id, "failed")]
    assert await submitter.reconcile_unconfirmed() == []  # settled once
    assert len(world.sim.tasks) == 1  # never resubmitted
    async with world.genhook.services.sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None and task.status == "failed"
    assert task.error_code == "create_unconfirmed"
    assert "may still have the job" in (task.error_message or "")
    assert task.anomalies == []
    assert await event_types(world.genhook.services, task_id) == ["task.failed"]


async def test_crash_apimodels_is_rescued_by_its_callback(world: Simulated) -> None:
    task_id = await crash_submit(world, "apimodels")
    done = await world.wait_terminal(task_id)
    assert done.status == Status.COMPLETED
    assert done.provider_task_id == next(iter(world.sim.tasks)).id  # learned from the callback
    assert await event_types(world.genhook.services, task_id) == ["task.completed"]


async def test_reconcile_leaves_live_submissions_alone(world: Simulated) -> None:
    await crash_submit(world, "apimart")  # lease still held: its submitter may be alive
    assert await world.genhook.services.submitter().reconcile_unconfirmed() == []


async def test_track_adopts_a_task_created_elsewhere(world: Simulated) -> None:
    created = await world.genhook.services.http.post(
        f"{world.sim_url}/v1/images/generations",
        # never done: the simulator's tasks take 0.2 s here, and a slower track call
        # would find it completed (a flake on a loaded machine, not a different answer)
        json={"model": "gpt-image-2", "prompt": "made elsewhere [sim:never]"},
        headers={"Authorization": f"Bearer {SIM_KEY}"},
    )
    provider_task_id = created.json()["data"][0]["task_id"]
    response = await world.genhook.client.post(
        "/api/tasks/track", json={"provider": "apimart", "provider_task_id": provider_task_id}
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["origin"] == "track"
    assert task["provider_task_id"] == provider_task_id
    assert task["status"] in ("pending", "processing")
    again = await world.genhook.client.post(
        "/api/tasks/track", json={"provider": "apimart", "provider_task_id": provider_task_id}
    )
    assert again.status_code == 409


async def test_track_refuses_an_unknown_provider_task(world: Simulated) -> None:
    response = await world.genhook.client.post(
        "/api/tasks/track", json={"provider": "apimall", "provider_task_id": "img_nope"}
    )
    assert response.status_code == 422
    assert "does not know" in response.json()["error"]["message"]
    assert (await world.genhook.counts())["tasks"] == 0


@pytest.fixture
async def failing_creates(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> AsyncIterator[Simulated]:
    """Every create answered 500 before the provider takes it (10% of creates in the
    chaos run): the gateway has no job, genhook cannot know."""
    settings = make_settings(
        tmp_path, database_url, provider_retry_attempts=1, provider_retry_budget_seconds=0
    )
    config = SimulatorConfig(
        api_key=SIM_KEY,
        time_factor=0.02,
        server_error_rate=1.0,
        fault_scope=("/v1/images/generations", "/api/v1/images/generations"),
    )
    async with simulated_genhook(settings, config) as simulated:
        yield simulated


async def test_a_create_answered_5xx_ends_by_its_providers_rule(
    failing_creates: Simulated, fake_clock: FakeClock
) -> None:
    """It used to stay ``submitting`` with a ``task.anomaly`` until the deadline and then
    read ``expired``. Now: APIMart fails after the grace, apimodels.app waits for the
    callback its URL would bring until its deadline, each with ``create_unconfirmed``."""
    world = failing_creates
    services = world.genhook.services
    apimart = (await submit(world, "apimart")).json()
    apimodels = (await submit(world, "apimodels")).json()
    assert apimart["status"] == apimodels["status"] == "submitting"
    assert apimart["error"]["code"] == "create_unconfirmed"

    submitter = services.submitter()
    fake_clock.advance(61)
    assert await submitter.reconcile_unconfirmed() == [(apimart["id"], "failed")]
    assert await event_types(world.genhook.services, apimart["id"]) == ["task.failed"]

    fake_clock.advance(30 * 60)  # apimodels.app: no callback came by its deadline
    await services.poller(holder="p").poll_once()
    async with services.sessions() as session:
        task = await session.get(Task, apimodels["id"])
    assert task is not None and task.status == "failed"
    assert task.error_code == "create_unconfirmed"
    assert "deadline" in (task.error_message or "")
    assert await event_types(world.genhook.services, apimodels["id"]) == ["task.failed"]
    assert await submitter.reconcile_unconfirmed() == []


async def test_accepting_the_risk_resubmits_an_unconfirmed_create_once(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        provider_retry_attempts=1,
        provider_retry_budget_seconds=0,
        apimart_resubmit_unconfirmed=True,
    )
    config = SimulatorConfig(
        api_key=SIM_KEY, server_error_rate=1.0, fault_scope=("/v1/images/generations",)
    )
    async with simulated_genhook(settings, config) as world:
        task = (await submit(world, "apimart")).json()
        assert task["status"] == "submitting"
        submitter = world.genhook.services.submitter()
        assert await submitter.reconcile_unconfirmed() == [(task["id"], "still unconfirmed")]
        assert await submitter.reconcile_unconfirmed() == []  # two creates at most
        assert world.sim.stats.endpoints["apimart.create"] == 2
        world.sim.configure({"server_error_rate": 0.0})
        fake_clock.advance(61)
        assert await submitter.reconcile_unconfirmed() == [(task["id"], "failed")]
        assert world.sim.stats.endpoints["apimart.create"] == 2
