"""Issue 14's server-side contracts over real HTTP, against the simulator:
idempotent submission, a webhook per task, and settling an unconfirmed create."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select
from standardwebhooks import Webhook

from receiver.settings import Settings
from storage.models import Subscriber, Task
from tests.support.downstream import downstream
from tests.support.events import event_types
from tests.support.simulated import MODELS, Simulated, simulated_genhook
from tests.support.waiting import eventually


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[Simulated]:
    wired = settings.updated(
        run_background=True,
        dispatch_tick_seconds=0.05,
        poll_tick_seconds=0.1,
        apimall_poll_first=(0.1, 0.2),
        apimall_poll_interval=(0.1, 0.2),
        delivery_allow_private_targets=True,
    )
    async with simulated_genhook(wired) as simulated:
        yield simulated


def job(provider: str = "apimall", prompt: str = "a red fox", **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "model": MODELS[provider], "prompt": prompt, **extra}


async def post(world: Simulated, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await world.genhook.client.post("/api/tasks", json=body, headers=headers)


async def tasks_in_db(world: Simulated) -> list[Task]:
    async with world.genhook.services.sessions() as session:
        return list((await session.exec(select(Task))).all())


async def test_the_same_key_and_body_is_the_same_task_and_one_provider_job(
    world: Simulated,
) -> None:
    first = await post(world, job(), key="order-17")
    again = await post(world, job(), key="order-17")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len(world.sim.tasks) == 1  # one job at the provider, billed once

    other = await post(world, job(prompt="a blue fox"), key="order-17")
    assert other.status_code == 409
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused" and error["task_id"] == first.json()["id"]

    fresh = await post(world, job(), key="order-18")  # a new key is a new job
    assert fresh.json()["id"] != first.json()["id"]
    assert len(await tasks_in_db(world)) == 2 and len(world.sim.tasks) == 2


async def test_concurrent_retries_with_one_key_make_one_task(world: Simulated) -> None:
    answers = await asyncio.gather(*(post(world, job(), key="burst") for _ in range(6)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await tasks_in_db(world)) == 1 and len(world.sim.tasks) == 1


async def test_a_refused_submit_replays_its_refusal_and_records_it_once(world: Simulated) -> None:
    body = job("apimart", params={"n": 9})
    first = await post(world, body, key="bad-n")
    again = await post(world, body, key="bad-n")
    assert first.status_code == again.status_code == 422
    assert again.json()["error"]["task_id"] == first.json()["error"]["task_id"]
    assert again.json()["error"]["field"] == "n"
    assert len(await tasks_in_db(world)) == 1
    assert await event_types(world.genhook.services, first.json()["error"]["task_id"]) == [
        "task.failed"
    ]


async def test_unusable_idempotency_keys_are_refused_naming_the_header(world: Simulated) -> None:
    for key in ("", "has space", "x" * 201, "caf\u00e9"):
        headers = {b"Idempotency-Key": key.encode()}
        response = await world.genhook.client.post("/api/tasks", json=job(), headers=headers)
        assert response.status_code == 422, key
        assert response.json()["error"]["field"] == "Idempotency-Key"
    assert await tasks_in_db(world) == []


async def test_a_task_webhook_gets_that_tasks_events_signed(world: Simulated) -> None:
    async with downstream() as receiver:
        hook = {"url": receiver.url("mine"), "events": ["task.completed", "task.failed"]}
        answer = await post(world, job(webhook=hook))
        assert answer.status_code == 201
        created = answer.json()
        webhook = created["webhook"]
        assert webhook["task_id"] == created["id"] and webhook["secret"].startswith("whsec_")
        assert webhook["event_types"] == ["task.completed", "task.failed"]
        await post(world, job(prompt="someone else's job"))  # not sent to this webhook

        await world.wait_terminal(created["id"])

        async def arrived() -> bool:
            return bool(receiver.received)

        await eventually(arrived)
        await asyncio.sleep(0.3)  # anything else that would (wrongly) arrive
        (request,) = receiver.received
        event = Webhook(webhook["secret"]).verify(request.body, request.headers)
        assert (event["type"], event["data"]["id"]) == ("task.completed", created["id"])

    client = world.genhook.client
    everyone = (await client.get("/api/subscribers")).json()["subscribers"]
    assert everyone == []  # a task's webhook is not a subscriber for all tasks
    mine = await client.get("/api/subscribers", params={"task_id": created["id"]})
    assert [s["id"] for s in mine.json()["subscribers"]] == [webhook["id"]]


async def test_an_unusable_webhook_refuses_the_submit_and_records_nothing(
    world: Simulated,
) -> None:
    for hook, field in (
        ({"url": "ftp://x/y"}, None),
        ({"url": "http://127.0.0.1:9/h", "events": ["task.nope"]}, "webhook.events"),
        ({"url": "http://127.0.0.1:9/h", "secret": "whsec_short"}, None),
    ):
        response = await post(world, job(webhook=hook))
        assert response.status_code == 422, hook
        if field:
            assert response.json()["error"]["field"] == field
    assert await tasks_in_db(world) == []
    async with world.genhook.services.sessions() as session:
        assert (await session.exec(select(Subscriber))).all() == []
    assert len(world.sim.tasks) == 0


async def test_an_unconfirmed_create_is_settled_by_an_operator(world: Simulated) -> None:
    world.sim.configure(server_error_rate=1.0, fault_scope=["apimart"])
    lost = (await post(world, job("apimart"))).json()
    assert lost["status"] == "submitting"
    assert lost["error"]["code"] == "create_unconfirmed"
    client = world.genhook.client

    failed = await client.post(f"/api/tasks/{lost['id']}/settle", json={"outcome": "failed"})
    assert failed.status_code == 200
    assert failed.json()["status"] == "failed"
    assert failed.json()["error"]["code"] == "settled_by_operator"
    assert await event_types(world.genhook.services, lost["id"]) == ["task.failed"]
    again = await client.post(f"/api/tasks/{lost['id']}/settle", json={"outcome": "failed"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_settleable"

    second = (await post(world, job("apimart", prompt="again"))).json()
    world.sim.configure(server_error_rate=0.0)
    resubmitted = await client.post(
        f"/api/tasks/{second['id']}/settle", json={"outcome": "resubmit"}
    )
    assert resubmitted.status_code == 200
    assert resubmitted.json()["status"] == "pending" and resubmitted.json()["error"] is None
    assert len(world.sim.tasks) == 1  # created once, on the operator's word

    for task_id, body, status in (
        ("tsk_01M8VG4NA17JEGJCNX92WYYTKY", {"outcome": "failed"}, 404),
        (second["id"], {"outcome": "maybe"}, 422),
        (second["id"], {"outcome": "resubmit"}, 409),  # pending now: nothing to settle
    ):
        response = await client.post(f"/api/tasks/{task_id}/settle", json=body)
        assert response.status_code == status, body


async def test_settle_leaves_a_create_in_flight_alone(world: Simulated) -> None:
    world.sim.configure(slow_response=5.0, fault_scope=["apimart"])
    client = world.genhook.client
    submitting = asyncio.create_task(post(world, job("apimart")))

    async def inserted() -> bool:
        return bool(await tasks_in_db(world))

    await eventually(inserted)
    found = await tasks_in_db(world)
    refused = await client.post(f"/api/tasks/{found[0].id}/settle", json={"outcome": "failed"})
    assert refused.status_code == 409
    assert "in flight" in refused.json()["error"]["message"]
    assert (await submitting).json()["status"] == "pending"
