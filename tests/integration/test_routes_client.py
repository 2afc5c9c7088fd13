"""Routes through the Python client, against a real genhook server (SQLite and
PostgreSQL) and the provider simulator: the built-in routes as listed, a job
submitted to a route completing on its first target, failing over to the next one
when API Mall has no credits left (402) (and the dashboard's task page showing both
attempts), and the cost ledger added up.

The blocking :class:`Genhook` runs in a thread (the server shares the test's event
loop); :class:`AsyncGenhook` runs in the loop itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from receiver.client import ApiError, ApiRequestError, AsyncGenhook, Genhook
from receiver.lifecycle import Status
from receiver.settings import Settings
from receiver.simulator.config import SimulatorConfig
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook

FAST = {
    "run_background": True,
    "poll_tick_seconds": 0.1,
    "events_poll_seconds": 0.05,
    "apimall_poll_first": (0.1, 0.2),
    "apimall_poll_interval": (0.1, 0.2),
}


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[Simulated]:
    async with simulated_genhook(settings.updated(**FAST)) as simulated:
        yield simulated


@pytest.fixture
async def budgeted(settings: Settings) -> AsyncIterator[Simulated]:
    """API Mall may cost 10 credits a day, and a nano-banana image is priced at 8."""
    wired = settings.updated(**FAST, apimall_daily_budget=10.0, apimall_prices={"nano-banana": 8.0})
    async with simulated_genhook(wired) as simulated:
        yield simulated


@pytest.fixture
async def broke(settings: Settings) -> AsyncIterator[Simulated]:
    """API Mall, the first target of nano-banana, has no credits: it answers 402."""
    config = SimulatorConfig(api_key=SIM_KEY, time_factor=0.02, seed=1, apimall_credits=0)
    async with simulated_genhook(settings.updated(**FAST), config) as simulated:
        yield simulated


def client(world: Simulated) -> Genhook:
    return Genhook(world.genhook.base_url, world.genhook.token)


def async_client(world: Simulated) -> AsyncGenhook:
    return AsyncGenhook(world.genhook.base_url, world.genhook.token)


async def test_the_built_in_routes_are_listed_with_their_targets_in_order(
    world: Simulated,
) -> None:
    def listed() -> dict[str, list[str]]:
        with client(world) as genhook:
            return {
                r.name: [f"{t.provider}/{t.model}" for t in r.targets] for r in genhook.routes()
            }

    routes = await asyncio.to_thread(listed)
    assert routes["nano-banana"] == [
        "apimall/nano-banana",
        "apimodels/gemini-2.5-flash-image",
        "apimart/gemini-2.5-flash-image-preview",
    ]
    assert routes["nano-banana-pro"] == ["apimall/nano-banana-pro", "apimodels/gemini-3-pro-image"]


async def test_a_routed_job_completes_on_its_first_target(world: Simulated) -> None:
    def flow() -> tuple[Any, Any, Any]:
        with client(world) as genhook:
            task = genhook.submit(
                route="nano-banana", prompt="a fox", params={"aspect_ratio": "1:1"}
            )
            done = genhook.wait(task.id, timeout=30)
            return task, done, genhook.get(task.id)

    task, done, detail = await asyncio.to_thread(flow)
    assert task.route == "nano-banana"
    assert done.status is Status.COMPLETED and task.provider == "apimall"
    assert detail.route == "nano-banana" and detail.attempt.number == 1
    (attempt,) = detail.attempts
    assert (attempt.number, attempt.provider, attempt.model) == (1, "apimall", "nano-banana")
    assert attempt.outcome == "completed" and attempt.late_outcome is None
    assert attempt.provider_task_id == detail.provider_task_id
    assert attempt.cost_unit == "credits" and attempt.ended_at is not None


async def test_a_routed_job_fails_over_when_the_first_gateway_has_no_credits(
    broke: Simulated,
) -> None:
    async with async_client(broke) as genhook:
        task = await genhook.submit(route="nano-banana", prompt="a fox")
        done = await genhook.wait(task.id, timeout=30)
        detail = await genhook.get(task.id)
    assert done.status is Status.COMPLETED and done.result_urls
    first, second = detail.attempts
    assert first.provider == "apimall" and first.outcome == "failed"
    assert first.error_code == "insufficient_credits"
    assert (second.provider, second.model, second.outcome) == (
        "apimodels",
        "gemini-2.5-flash-image",
        "completed",
    )
    assert detail.attempt.number == 2 and detail.provider == "apimodels"
    types = [str(e.type) for e in detail.events]
    assert "task.attempt_failed" in types and "task.rerouted" in types
    assert types.count("task.completed") == 1


async def test_the_task_page_shows_the_route_and_each_attempt(broke: Simulated) -> None:
    async with async_client(broke) as genhook:
        task = await genhook.submit(route="nano-banana", prompt="a fox")
        await genhook.wait(task.id, timeout=30)
    page = await broke.genhook.client.get(f"/tasks/{task.id}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert 'data-route="nano-banana"' in html and ">Attempts</h2>" in html
    assert html.count("<tr data-attempt=") == 2
    assert '<tr data-attempt="2" data-current="true">' in html
    assert "apimall/nano-banana" in html and "apimodels/gemini-2.5-flash-image" in html
    assert "insufficient_credits" in html


async def test_a_spent_budget_refuses_a_direct_submit_and_moves_a_routed_one_on(
    budgeted: Simulated,
) -> None:
    async with async_client(budgeted) as genhook:
        first = await genhook.submit("apimall", model="nano-banana", prompt="a fox")
        await genhook.wait(first.id, timeout=30)
        with pytest.raises(ApiError) as refused:
            await genhook.submit("apimall", model="nano-banana", prompt="a fox")
        routed = await genhook.submit(route="nano-banana", prompt="a fox")
        done = await genhook.wait(routed.id, timeout=30)
        detail = await genhook.get(routed.id)
    assert (refused.value.status, refused.value.code) == (429, "budget_exceeded")
    assert "apimall" in str(refused.value)
    raw = await budgeted.genhook.client.post(
        "/api/tasks", json={"provider": "apimall", "model": "nano-banana", "prompt": "a fox"}
    )
    assert raw.status_code == 429 and 0 < int(raw.headers["Retry-After"]) <= 86400
    assert done.status is Status.COMPLETED
    skipped, second = detail.attempts
    assert (skipped.provider, skipped.outcome, skipped.error_code) == (
        "apimall",
        "refused",
        "budget_exceeded",
    )
    assert skipped.provider_task_id is None  # never sent
    assert second.provider == "apimodels" and second.outcome == "completed"


async def test_route_and_provider_are_exclusive_and_an_unknown_route_is_refused(
    world: Simulated,
) -> None:
    async with async_client(world) as genhook:
        with pytest.raises(TypeError):
            await genhook.submit("apimall", route="nano-banana", prompt="a fox")
        with pytest.raises(ApiRequestError) as refused:
            await genhook.submit(route="no-such-route", prompt="a fox")
    assert refused.value.status == 422


async def test_usage_adds_up_what_the_attempts_cost(world: Simulated) -> None:
    async with async_client(world) as genhook:
        task = await genhook.submit(route="nano-banana", prompt="a fox")
        await genhook.wait(task.id, timeout=30)
        by_provider = await genhook.usage()
        by_model = await genhook.usage(group_by="model")
        by_day = await genhook.usage(group_by="day")
    (row,) = [r for r in by_provider.rows if r.provider == "apimall"]
    assert (row.key, row.unit, row.attempts, row.images) == ("apimall", "credits", 1, 1)
    assert row.cost > 0
    assert [r.key for r in by_model.rows if r.provider == "apimall"] == ["apimall/nano-banana"]
    assert all(len(r.key) == len("YYYY-MM-DD") for r in by_day.rows)
