"""Routes through the simulator over real HTTP: failover, late results, budgets, the
ledger (issue 15). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select

from receiver import clock
from receiver.errors import ConfigurationError
from receiver.routes import BUILTIN_ROUTES
from receiver.services import open_services
from receiver.settings import Settings
from receiver.simulator.config import SimulatorConfig
from storage.models import OutboxEvent
from tests.support.events import event_types, terminal_events
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook
from tests.support.waiting import eventually

# A create that keeps failing gives up fast (the default retry budget is 20 s).
FAST_RETRIES: dict[str, Any] = {"provider_retry_attempts": 2, "provider_retry_budget_seconds": 0.2}


def sim_config(**changes: Any) -> SimulatorConfig:
    return SimulatorConfig(**{"api_key": SIM_KEY, "time_factor": 0.02, "seed": 1, **changes})


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[Simulated]:
    async with simulated_genhook(settings.updated(**FAST_RETRIES)) as simulated:
        yield simulated


async def submit_route(
    world: Simulated, route: str = "nano-banana", prompt: str = "a red fox", **params: Any
) -> dict[str, Any]:
    response = await world.genhook.client.post(
        "/api/tasks", json={"route": route, "prompt": prompt, "params": params}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def detail(world: Simulated, task_id: str) -> dict[str, Any]:
    response = await world.genhook.client.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def outcomes(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in task["attempts"]]


async def test_a_gateway_answering_only_5xx_is_left_for_the_next(settings: Settings) -> None:
    config = sim_config(server_error_rate=1.0, fault_scope=("apimall",))
    async with simulated_genhook(settings.updated(**FAST_RETRIES), config) as world:
        task = await submit_route(world)
        assert task["route"] == "nano-banana"
        assert task["provider"] == "apimodels"  # its second target took the job
        done = await world.wait_terminal(task["id"])
        assert done.status == "completed"
        shown = await detail(world, task["id"])
        assert shown["id"] == task["id"]
        assert outcomes(shown) == [("apimall", "failed"), ("apimodels", "completed")]
        assert shown["attempt"]["number"] == 2
        assert shown["error"] is None  # attempt 1's error stays on attempt 1
        assert shown["attempts"][0]["error_code"]
        events = await event_types(world.genhook.services, task["id"])
        assert events == ["task.attempt_failed", "task.rerouted", "task.completed"]
        assert all(status >= 500 for status in world.sim.stats.statuses["apimall.create"])
        # the terminal event carries the attempt that produced it
        terminal = await _payload(world, task["id"], "task.completed")
        assert terminal["data"]["attempt"]["provider"] == "apimodels"
        assert terminal["data"]["attempt"]["number"] == 2


async def test_insufficient_credits_moves_on(settings: Settings) -> None:
    async with simulated_genhook(settings, sim_config(apimall_credits=0)) as world:
        task = await submit_route(world)
        done = await world.wait_terminal(task["id"])
        assert done.status == "completed"
        shown = await detail(world, task["id"])
        assert outcomes(shown) == [("apimall", "failed"), ("apimodels", "completed")]
        assert shown["attempts"][0]["error_code"] == "insufficient_credits"


async def test_a_content_policy_refusal_ends_the_task_without_failover(world: Simulated) -> None:
    task = await submit_route(world, prompt="something [sim:blocked]")
    assert task["status"] == "failed"
    shown = await detail(world, task["id"])
    assert outcomes(shown) == [("apimall", "failed")]
    assert await terminal_events(world.genhook.services, task["id"]) == ["task.failed"]
    assert "apimodels.create" not in world.sim.stats.statuses


async def test_an_open_circuit_is_skipped(world: Simulated) -> None:
    pressure = world.genhook.services.pressure
    for _ in range(world.genhook.services.settings.circuit.failures):
        pressure.record_failure("apimall", clock.utcnow())
    task = await submit_route(world)
    shown = await detail(world, task["id"])
    assert shown["attempts"][0]["outcome"] == "refused"
    assert shown["attempts"][0]["error_code"] == "circuit_open"
    assert "apimall.create" not in world.sim.stats.statuses  # nothing was sent there
    assert (await world.wait_terminal(task["id"])).provider == "apimodels"


async def test_a_budget_moves_a_route_on_and_refuses_a_direct_submission(
    settings: Settings,
) -> None:
    budgeted = settings.updated(
        apimall_daily_budget=10, apimall_prices={"nano-banana": 8}, **FAST_RETRIES
    )
    async with simulated_genhook(budgeted) as world:
        client = world.genhook.client
        first = await client.post(
            "/api/tasks", json={"provider": "apimall", "model": "nano-banana", "prompt": "p"}
        )
        assert first.status_code == 201, first.text  # 0 + 8 <= 10
        second = await client.post(
            "/api/tasks", json={"provider": "apimall", "model": "nano-banana", "prompt": "p"}
        )
        assert second.status_code == 429
        error = second.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert "apimall's daily budget of 10 credits" in error["message"]
        assert 0 < int(second.headers["Retry-After"]) <= 86_400
        assert world.sim.stats.statuses["apimall.create"] == {200: 1}  # the refused one not sent

        routed = await submit_route(world)
        shown = await detail(world, routed["id"])
        assert shown["attempts"][0]["outcome"] == "refused"
        assert shown["attempts"][0]["error_code"] == "budget_exceeded"
        assert (await world.wait_terminal(routed["id"])).provider == "apimodels"


async def test_a_late_result_of_an_abandoned_attempt_changes_nothing(settings: Settings) -> None:
    """apimodels.app's attempt passes the deadline, the task moves on to API Mall; the
    apimodels task finishes afterwards and calls back: recorded on attempt 1 only."""
    route = (
        "[routes.late]\ntargets = ["
        '{ provider = "apimodels", model = "gemini-2.5-flash-image" }, '
        '{ provider = "apimall", model = "nano-banana" }]'
    )
    timed = settings.updated(
        routes=route,
        run_background=True,
        task_deadline_seconds=1.0,
        expire_grace_seconds=0,
        poll_tick_seconds=0.1,
        apimall_poll_first=(0.1, 0.1),
        apimall_poll_interval=(0.1, 0.1),
        **FAST_RETRIES,
    )
    # apimodels takes 1.6 s (past its 1 s deadline); API Mall's attempt then takes 1.6 s
    # too, past its own: the task ends expired, and apimodels' result arrives in between.
    config = sim_config(time_factor=1.0)
    async with simulated_genhook(timed, config) as world:
        task = await submit_route(world, route="late", prompt="fox [sim:duration=1.6]")
        assert task["provider"] == "apimodels"
        done = await world.wait_terminal(task["id"], within=15)
        await eventually(lambda: _late_recorded(world, task["id"]))
        shown = await detail(world, task["id"])
        first, second = shown["attempts"]
        assert (first["provider"], first["outcome"]) == ("apimodels", "expired")
        assert first["late_outcome"] == "completed"
        assert first["result_urls"]  # kept on the attempt...
        assert done.result_urls == []  # ...never on the task
        assert second["provider"] == "apimall"
        assert done.status == second["outcome"] == "expired"
        assert await terminal_events(world.genhook.services, task["id"]) == ["task.expired"]
        inbox = [s["outcome"] for s in shown["snapshots"]]
        assert "late" in inbox


@pytest.mark.parametrize(
    ("route", "index"),
    [
        (name, index)
        for name, route in sorted(BUILTIN_ROUTES.items())
        for index in range(len(route.targets))
    ],
)
async def test_each_target_receives_a_request_its_gateway_accepts(
    settings: Settings, route: str, index: int
) -> None:
    """The targets before ``index`` answer only 5xx, so target ``index`` is the one
    that takes the job; the simulator validates it by the gateway's documented rules."""
    targets = BUILTIN_ROUTES[route].targets
    earlier = tuple(t.provider for t in targets[:index])
    config = sim_config(server_error_rate=1.0 if earlier else 0.0, fault_scope=earlier)
    async with simulated_genhook(settings.updated(**FAST_RETRIES), config) as world:
        task = await submit_route(
            world,
            route,
            aspect_ratio="16:9",
            num_images=1,
            resolution="1K",
            image_urls=[f"{world.sim_url}/files/ref.png"],
        )
        target = targets[index]
        shown = await detail(world, task["id"])
        assert shown["attempts"][-1]["provider"] == target.provider
        assert shown["attempts"][-1]["outcome"] in ("running", "completed"), shown["attempts"]
        [received] = [t for t in world.sim.tasks if t.gateway == target.provider]
        assert received.model == target.model
        assert any(ratio == "16:9" for ratio in received.params.values())


async def test_usage_sums_match_the_simulators_billing(settings: Settings) -> None:
    polled = settings.updated(
        run_background=True,
        poll_tick_seconds=0.1,
        apimall_poll_first=(0.05, 0.05),
        apimall_poll_interval=(0.05, 0.05),
        apimart_poll_first=(0.05, 0.05),
        apimart_poll_interval=(0.05, 0.05),
        apimart_prices={"gemini-2.5-flash-image-preview": 0.04},
    )
    async with simulated_genhook(polled) as world:
        client = world.genhook.client
        ids = []
        for prompt in ("one", "two [sim:fail]", "three"):
            made = await client.post(
                "/api/tasks",
                json={"provider": "apimall", "model": "nano-banana", "prompt": prompt},
            )
            ids.append(made.json()["id"])
        made = await client.post(
            "/api/tasks",
            json={
                "provider": "apimart",
                "model": "gemini-2.5-flash-image-preview",
                "prompt": "p",
                "params": {"n": 2},
            },
        )
        ids.append(made.json()["id"])
        for task_id in ids:
            await world.wait_terminal(task_id)
        usage = (await client.get("/api/usage", params={"group_by": "provider"})).json()
        by_key = {row["key"]: row for row in usage["rows"]}
        ledger = world.sim.ledger
        billed = ledger.charged - ledger.refunded(clock.utcnow())
        assert billed == 16  # 3 x 8 credits charged, 8 refunded for the failed one
        assert by_key["apimall"]["cost"] == billed
        assert by_key["apimall"]["unit"] == "credits"
        assert by_key["apimall"]["attempts"] == 3
        assert by_key["apimart"]["cost"] == pytest.approx(0.08)  # two images at 0.04
        assert by_key["apimart"]["unit"] == "USD"
        by_model = (await client.get("/api/usage", params={"group_by": "model"})).json()
        assert {row["key"] for row in by_model["rows"]} == {
            "apimall/nano-banana",
            "apimart/gemini-2.5-flash-image-preview",
        }
        by_day = (await client.get("/api/usage", params={"group_by": "day"})).json()
        today = clock.utcnow().date().isoformat()
        assert {row["key"] for row in by_day["rows"]} == {today}
        future = (await client.get("/api/usage", params={"since": "2099-01-01T00:00:00Z"})).json()
        assert future["rows"] == []


async def _payload(world: Simulated, task_id: str, event_type: str) -> dict[str, Any]:
    events = (await detail(world, task_id))["events"]
    [found] = [e for e in events if e["type"] == event_type]
    return dict(found)


async def _late_recorded(world: Simulated, task_id: str) -> bool:
    attempts = (await detail(world, task_id))["attempts"]
    return bool(attempts and attempts[0]["late_outcome"])


async def test_concurrent_submissions_cannot_squeeze_past_a_budget(settings: Settings) -> None:
    budgeted = settings.updated(apimall_daily_budget=16, apimall_prices={"nano-banana": 8})
    async with simulated_genhook(budgeted) as world:
        body = {"provider": "apimall", "model": "nano-banana", "prompt": "p"}
        answers = await asyncio.gather(
            *(world.genhook.client.post("/api/tasks", json=body) for _ in range(6))
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201, 201, 429, 429, 429, 429]
        assert world.sim.stats.statuses["apimall.create"] == {200: 2}


async def test_a_low_balance_is_announced_once(settings: Settings) -> None:
    low = settings.updated(apimall_credits_low=15)
    async with simulated_genhook(low, sim_config(apimall_credits=30)) as world:
        body = {"provider": "apimall", "model": "nano-banana", "prompt": "p"}
        for _ in range(3):  # balance 22, 14 (below 15: announced), 6 (still below: not again)
            made = await world.genhook.client.post("/api/tasks", json=body)
            assert made.status_code == 201, made.text
        async with world.genhook.services.sessions() as session:
            rows = await session.exec(
                select(OutboxEvent).where(OutboxEvent.type == "provider.credits_low")
            )
            announced = [event.payload["data"] for event in rows.all()]
    assert announced == [
        {"provider": "apimall", "remaining_credits": 14, "threshold": 15, "unit": "credits"}
    ]


async def test_routes_come_from_the_data_dir_file_and_the_setting(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "routes.toml").write_text(
        '[routes.cheap]\ndescription = "APIMart first"\n'
        'targets = [{ provider = "apimart", model = "gemini-2.5-flash-image-preview" }]\n'
    )
    extra = (
        "[routes.nano-banana]\n"
        'targets = [{ provider = "apimodels", model = "gemini-2.5-flash-image" }]'
    )
    async with simulated_genhook(settings.updated(routes=extra)) as world:
        listed = (await world.genhook.client.get("/api/routes")).json()["routes"]
        by_name = {route["name"]: route for route in listed}
        assert by_name["cheap"]["description"] == "APIMart first"
        # the setting replaced the built-in of the same name
        assert [t["provider"] for t in by_name["nano-banana"]["targets"]] == ["apimodels"]
        assert [t["provider"] for t in by_name["nano-banana-pro"]["targets"]] == [
            "apimall",
            "apimodels",
        ]
        unknown = await world.genhook.client.post(
            "/api/tasks", json={"route": "nope", "prompt": "p"}
        )
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == "unknown_route"
        assert "cheap" in unknown.json()["error"]["message"]
        unfit = await world.genhook.client.post(
            "/api/tasks", json={"route": "cheap", "prompt": "p", "params": {"resolution": "4K"}}
        )
        assert unfit.status_code == 422
        assert "resolution" in unfit.json()["error"]["message"]


async def test_a_broken_routes_file_stops_the_start_naming_it(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "routes.toml").write_text(
        '[routes.r]\ntargets = [{ provider = "nowhere", model = "m" }]\n'
    )
    with pytest.raises(ConfigurationError, match=r"routes\.toml, route 'r', target 0"):
        async with open_services(settings):
            pass
