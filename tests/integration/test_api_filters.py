"""The listing filters the README names, over real HTTP, on SQLite and PostgreSQL.

``GET /api/tasks`` by ``provider``, ``model``, ``created_since`` and
``created_until``; ``GET /api/deliveries`` by ``subscriber``, ``task_id`` and
``event``; the dashboard's provider filter; and removing a subscriber that has
deliveries (they go with it, nothing else does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from receiver.lifecycle import EventType, Status
from storage.models import Task
from tests.conftest import make_settings
from tests.support.delivery import deliveries, emit, make_task
from tests.support.harness import Harness, running_genhook

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HTML = {"Accept": "text/html"}


@pytest.fixture
async def harness(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path, database_url, delivery_allow_private_targets=True, delivery_schedule=()
    )
    async with running_genhook(settings) as running:
        yield running


async def add_task(harness: Harness, provider: str, model: str, created: datetime) -> str:
    task = Task(
        provider=provider,
        model=model,
        status=Status.PENDING.value,
        created_at=created,
        updated_at=created,
        deadline_at=created + timedelta(hours=1),
    )
    async with harness.services.sessions() as session, session.begin():
        session.add(task)
    return task.id


async def listed(harness: Harness, path: str, key: str, **params: str) -> list[str]:
    response = await harness.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()[key]]


async def test_tasks_filter_by_provider_model_and_creation_time(harness: Harness) -> None:
    early = await add_task(harness, "apimall", "nano-banana", T0)
    middle = await add_task(harness, "apimart", "gpt-image-2", T0 + timedelta(hours=1))
    late = await add_task(harness, "apimall", "z-image", T0 + timedelta(hours=2))

    async def tasks(**params: str) -> list[str]:
        return await listed(harness, "/api/tasks", "tasks", **params)

    assert await tasks() == [late, middle, early]
    assert await tasks(provider="apimall") == [late, early]
    assert await tasks(provider="apimodels") == []
    assert await tasks(model="gpt-image-2") == [middle]
    assert await tasks(provider="apimall", model="z-image") == [late]
    half_past = (T0 + timedelta(minutes=30)).isoformat()
    ninety = (T0 + timedelta(minutes=90)).isoformat()
    assert await tasks(created_since=half_past) == [late, middle]
    assert await tasks(created_until=ninety) == [middle, early]
    assert await tasks(created_since=half_past, created_until=ninety) == [middle]
    # the same instant in another zone is the same filter
    in_paris = (T0 + timedelta(minutes=90)).astimezone(
        datetime.fromisoformat("2026-01-01T00:00+01:00").tzinfo
    )
    assert await tasks(created_until=in_paris.isoformat()) == [middle, early]
    naive = await harness.client.get("/api/tasks", params={"created_since": "2026-11-01T12:00"})
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "created_since"


async def test_deliveries_filter_by_subscriber_task_and_event(harness: Harness) -> None:
    services = harness.services
    first = await services.subscribers.add("http://127.0.0.1:9/a", "")
    second = await services.subscribers.add("http://127.0.0.1:9/b", "task.failed")
    task_a, task_b = await make_task(services), await make_task(services)
    await emit(services, task_a, EventType.PROCESSING)  # to first only
    failed = await emit(services, task_b, EventType.FAILED, status="failed")  # to both

    assert len(await deliveries(services)) == 3

    async def ids(**params: str) -> set[tuple[str, str, str]]:
        response = await harness.client.get("/api/deliveries", params=params)
        assert response.status_code == 200, response.text
        found = response.json()["deliveries"]
        return {(d["subscriber_id"], d["task_id"], d["event_type"]) for d in found}

    assert await ids(subscriber=second.id) == {(second.id, task_b, "task.failed")}
    assert await ids(task_id=task_a) == {(first.id, task_a, "task.processing")}
    # ``event`` is an event id (the webhook-id), as in ``deliveries replay --event``
    assert await ids(event=failed) == {
        (first.id, task_b, "task.failed"),
        (second.id, task_b, "task.failed"),
    }
    assert await ids(subscriber=first.id, event=failed) == {(first.id, task_b, "task.failed")}
    assert await ids(event="evt_nothing") == set()
    assert await ids(subscriber="sub_nobody") == set()


async def test_dashboard_filters_by_provider(harness: Harness) -> None:
    mall = await add_task(harness, "apimall", "nano-banana", T0)
    mart = await add_task(harness, "apimart", "gpt-image-2", T0)
    page = await harness.client.get("/", params={"provider": "apimart"}, headers=HTML)
    assert page.status_code == 200
    assert f'data-task-id="{mart}"' in page.text
    assert f'data-task-id="{mall}"' not in page.text
    everything = await harness.client.get("/", headers=HTML)
    assert f'data-task-id="{mart}"' in everything.text
    assert f'data-task-id="{mall}"' in everything.text


async def test_deleting_a_subscriber_with_deliveries_removes_them_and_nothing_else(
    harness: Harness,
) -> None:
    services = harness.services
    leaving = await services.subscribers.add("http://127.0.0.1:9/gone", "")
    staying = await services.subscribers.add("http://127.0.0.1:9/kept", "")
    task_id = await make_task(services)
    await emit(services, task_id, EventType.PROCESSING)
    await services.dispatcher(holder="t").dispatch_once()  # attempts recorded (they fail)
    before = await harness.counts()
    assert before["deliveries"] == 2 and before["delivery_attempts"] == 2

    response = await harness.client.delete(f"/api/subscribers/{leaving.id}")
    assert response.status_code == 204
    assert [d.subscriber_id for d in await deliveries(services)] == [staying.id]
    after = await harness.counts()
    assert (after["deliveries"], after["delivery_attempts"]) == (1, 1)
    assert (after["tasks"], after["outbox"], after["subscribers"]) == (1, 1, 1)
    listing = await harness.client.get("/api/deliveries", params={"subscriber": leaving.id})
    assert listing.json()["deliveries"] == []
    assert (await harness.client.delete(f"/api/subscribers/{leaving.id}")).status_code == 404
