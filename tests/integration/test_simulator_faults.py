"""Fault injection and the ``/_sim/`` control surface, observed over real HTTP.

Callback faults (drop, duplicate, delay, reorder) are watched from a real receiver app;
HTTP faults (429 with Retry-After, 5xx, slowness) from the client, per scope.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from receiver.simulator import Simulator, SimulatorConfig, create_simulator_app
from tests.support.recorder import CallbackRecorder
from tests.support.servers import serve
from tests.support.waiting import eventually, timed

pytestmark = pytest.mark.asyncio(loop_scope="module")

AUTH = {"Authorization": "Bearer test-key"}
BASELINE = SimulatorConfig(time_factor=0.01, seed=42)
APIMODELS = "/api/v1/images/generations"
APIMALL = "/api/v1/images/generate"
APIMART = "/v1/images/generations"
MODEL = "gemini-3-pro-image-lite"
LONG_TASK = {"model": "gpt-image-2", "prompt": "x [sim:duration=1000]"}  # pending for 2 s


@contextlib.asynccontextmanager
async def with_callbacks(
    **config: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator, CallbackRecorder, str]]:
    """A fresh simulator plus a receiver; yields (client, simulator, receiver, hook URL)."""
    receiver = CallbackRecorder()
    app = create_simulator_app(BASELINE.updated(config))
    async with (
        serve(receiver.app()) as hook_base,
        serve(app) as base,
        httpx.AsyncClient(base_url=base, headers=AUTH) as client,
    ):
        yield client, app.state.simulator, receiver, f"{hook_base}/hook"


async def submit_apimodels(client: httpx.AsyncClient, prompt: str, hook: str) -> str:
    body = {"model": MODEL, "prompt": prompt, "callback_url": hook}
    response = await client.post(APIMODELS, json=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["taskId"]
    return task_id


# -- callback faults ----------------------------------------------------------------------


async def test_dropped_callbacks_are_logged_and_never_sent() -> None:
    async with with_callbacks(callback_drop_rate=1.0) as (client, sim, receiver, hook):
        task_id = await submit_apimodels(client, "x [sim:duration=1]", hook)
        await eventually(lambda: len(sim.callbacks.attempts) == 1)
        await asyncio.sleep(0.1)
        status = await client.get(APIMODELS, params={"task_id": task_id})
        log = (await client.get("/_sim/callbacks")).json()
    assert status.json()["data"]["state"] == "completed"  # only the callback is lost
    assert receiver.calls == []
    [entry] = log["attempts"]
    assert (entry["task_id"], entry["outcome"], entry["attempt"]) == (task_id, "dropped", 0)
    assert (log["pending"], log["in_flight"]) == (0, 0)


async def test_drop_directive_drops_only_its_own_callback() -> None:
    async with with_callbacks() as (client, sim, receiver, hook):
        dropped = await submit_apimodels(client, "x [sim:drop] [sim:duration=1]", hook)
        kept = await submit_apimodels(client, "y [sim:duration=1]", hook)
        await eventually(lambda: len(sim.callbacks.attempts) == 2)
    assert receiver.task_ids() == [kept]
    outcomes = {a.task_id: a.outcome for a in sim.callbacks.attempts}
    assert outcomes == {dropped: "dropped", kept: "delivered"}


async def test_duplicated_callbacks_are_identical_copies() -> None:
    async with with_callbacks(callback_duplicates=2) as (client, _, receiver, hook):
        task_id = await submit_apimodels(client, "x [sim:duration=1]", hook)
        await eventually(lambda: len(receiver.calls) == 3)
        await asyncio.sleep(0.1)
        log = (await client.get("/_sim/callbacks")).json()["attempts"]
    assert len(receiver.calls) == 3
    bodies = receiver.bodies()
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["data"]["taskId"] == task_id
    assert sorted(entry["copy"] for entry in log) == [0, 1, 2]
    assert {entry["outcome"] for entry in log} == {"delivered"}


async def test_delayed_callbacks_arrive_after_the_delay() -> None:
    config = {"time_factor": 0.04, "callback_delay": 5.0}  # 200 ms
    async with with_callbacks(**config) as (client, _, receiver, hook):
        await submit_apimodels(client, "x [sim:duration=1]", hook)
        await eventually(lambda: len(receiver.calls) == 1)
    (call,) = receiver.calls
    late = call.at - call.json()["data"]["completeTime"] / 1000
    assert 0.19 <= late < 1.0


async def test_reordered_callbacks_arrive_shuffled() -> None:
    config = {"time_factor": 0.02, "callback_reorder": True, "callback_reorder_window": 40.0}
    async with with_callbacks(**config) as (client, sim, receiver, hook):
        created = [await submit_apimodels(client, f"{i} [sim:duration=2]", hook) for i in range(6)]
        await eventually(lambda: len(receiver.calls) == 6)
    arrived = receiver.task_ids()
    assert sorted(arrived) == sorted(created)
    assert arrived != created
    # They became due in creation order, 40 ms apart; without the fault, they would
    # have arrived in that order.
    assert [a.task_id for a in sim.callbacks.attempts] == arrived


async def test_failure_rate_reaches_callbacks() -> None:
    async with with_callbacks(failure_rate=1.0) as (client, _, receiver, hook):
        await submit_apimodels(client, "x [sim:duration=1]", hook)
        await submit_apimodels(client, "x [sim:duration=1] [sim:succeed]", hook)
        await eventually(lambda: len(receiver.calls) == 2)
    states = sorted(body["data"]["state"] for body in receiver.bodies())
    assert states == ["completed", "failed"]


# -- HTTP faults on a shared simulator ---------------------------------------------------


async def create_everywhere(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    return {
        "apimodels": await client.post(APIMODELS, json={"model": MODEL, "prompt": "x"}),
        "apimall": await client.post(APIMALL, json={"prompt": "x"}),
        "apimart": await client.post(APIMART, json={"model": "gpt-image-2", "prompt": "x"}),
    }


async def test_rate_limit_on_one_gateway_with_retry_after(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.configure(rate_limit_rate=1.0, retry_after=250.0, fault_scope=["apimart"])
    answers = await create_everywhere(client)
    limited = answers["apimart"]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"  # 250 s x 0.01, rounded up
    assert limited.json() == {
        "code": 429,
        "error": {"message": "Rate limit exceeded", "type": "rate_limit_exceeded"},
    }
    assert answers["apimodels"].status_code == answers["apimall"].status_code == 200
    assert len(sim.tasks) == 2
    assert sim.stats.statuses["apimart.create"][429] == 1


async def test_rate_limit_shapes_per_gateway(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.configure(rate_limit_rate=1.0)
    answers = await create_everywhere(client)
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 429)
    assert all(r.headers["retry-after"] == "1" for r in answers.values())
    assert answers["apimodels"].json()["code"] == 429
    assert answers["apimodels"].json()["data"] is None
    mall = answers["apimall"].json()
    assert mall["success"] is False and mall["error"]["code"] == "rate_limit_exceeded"


async def test_server_errors_on_a_path_prefix(client: httpx.AsyncClient, sim: Simulator) -> None:
    task_id = (await client.post(APIMART, json={"model": "gpt-image-2", "prompt": "x"})).json()[
        "data"
    ][0]["task_id"]
    sim.configure(server_error_rate=1.0, fault_scope=["/v1/tasks/batch"])
    batch = await client.post("/v1/tasks/batch", json={"task_ids": [task_id]})
    assert batch.status_code == 500
    assert batch.json()["code"] == 500 and batch.json()["error"]["message"]
    assert (await client.get(f"/v1/tasks/{task_id}")).status_code == 200
    assert sim.stats.polls(task_id) == 1  # the failed batch answered nothing about it


async def test_server_error_shapes_per_gateway(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.configure(server_error_rate=1.0)
    answers = await create_everywhere(client)
    assert answers["apimodels"].status_code == 500
    assert answers["apimodels"].json()["code"] == 500
    assert answers["apimall"].status_code == 503
    assert answers["apimall"].json()["error"]["code"] == "upstream_unavailable"
    assert answers["apimart"].status_code == 500
    assert len(sim.tasks) == 0


async def test_seeded_faults_repeat_exactly(client: httpx.AsyncClient, sim: Simulator) -> None:
    async def run() -> list[int]:
        sim.configure(seed=1234, rate_limit_rate=0.3, server_error_rate=0.3)
        return [(await client.get("/v1/tasks/task_unknown")).status_code for _ in range(15)]

    first, second = await run(), await run()
    assert first == second
    assert {429, 500, 404} <= set(first)


async def test_slow_responses_only_in_scope(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.configure(slow_response=20.0, fault_scope=["apimodels"])  # 200 ms

    _, slow = await timed(client.get(APIMODELS, params={"task_id": "cl_x"}))
    _, fast = await timed(client.get("/v1/tasks/task_x"))
    assert slow >= 0.2
    assert fast < slow - 0.1


async def test_result_downloads_are_faulted_only_when_named(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    response = await client.post(APIMODELS, json={"model": MODEL, "prompt": "x [sim:duration=0]"})
    task_id = response.json()["data"]["taskId"]
    url = f"/files/{task_id}/0.png"
    sim.configure(server_error_rate=1.0, fault_scope=[])
    assert (await client.get(url)).status_code == 200
    sim.configure(fault_scope=["/files"])
    assert (await client.get(url)).status_code == 503
    assert (await client.get(APIMODELS, params={"task_id": task_id})).status_code == 200
    sim.configure(fault_scope=["/"])
    assert (await client.get("/_sim/stats")).status_code == 200  # control is never faulted


# -- /_sim control over HTTP ------------------------------------------------------------


async def test_runtime_config_changes(client: httpx.AsyncClient, sim: Simulator) -> None:
    changed = await client.patch("/_sim/config", json={"rate_limit_rate": 1, "api_key": "k"})
    assert changed.status_code == 200
    assert changed.json()["rate_limit_rate"] == 1 and changed.json()["api_key"] == "***"
    assert sim.config.api_key == "k"
    assert (await client.post(APIMALL, json={"prompt": "x"})).status_code == 429

    for bad in ({"rate_limit_rate": 2}, {"no_such_knob": 1}, {"fault_scope": ["nowhere"]}):
        refused = await client.patch("/_sim/config", json=bad)
        assert refused.status_code == 400
        assert refused.json()["details"][0]["field"]
    assert (await client.patch("/_sim/config", content=b"[1]")).status_code == 400
    assert sim.config.rate_limit_rate == 1  # a refused change changes nothing

    await client.patch("/_sim/config", json={"rate_limit_rate": 0})
    assert (await client.post(APIMALL, json={"prompt": "x"})).status_code == 401  # wrong key
    assert (await client.get("/_sim/config")).json()["rate_limit_rate"] == 0


async def test_stats_count_endpoints_and_polls_per_task(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    ids = [
        (await client.post(APIMART, json=LONG_TASK)).json()["data"][0]["task_id"] for _ in range(3)
    ]
    await client.post("/v1/tasks/batch", json={"task_ids": ids})
    await client.get(f"/v1/tasks/{ids[0]}")
    await client.get("/v1/tasks/task_missing")
    stats = (await client.get("/_sim/stats")).json()
    assert stats["endpoints"] == {"apimart.create": 3, "apimart.batch": 1, "apimart.status": 2}
    assert stats["statuses"]["apimart.status"] == {"200": 1, "404": 1}
    assert stats["polls"] == {ids[0]: 2, ids[1]: 1, ids[2]: 1}
    assert stats["tasks"][ids[1]] == {"apimart.create": 1, "apimart.batch": 1}

    listed = (await client.get("/_sim/tasks")).json()["tasks"]
    assert [t["id"] for t in listed] == ids
    one = (await client.get(f"/_sim/tasks/{ids[0]}")).json()
    assert (one["gateway"], one["state"]) == ("apimart", "pending")
    assert (await client.get("/_sim/tasks/nope")).status_code == 404

    assert (await client.post("/_sim/reset")).json() == {"reset": True, "tasks": False}
    assert (await client.get("/_sim/stats")).json()["endpoints"] == {}
    assert len((await client.get("/_sim/tasks")).json()["tasks"]) == 3
    await client.post("/_sim/reset", json={"tasks": True})
    assert (await client.get("/_sim/tasks")).json()["tasks"] == []


async def test_index_lists_every_gateway_endpoint(client: httpx.AsyncClient) -> None:
    index = (await client.get("/_sim")).json()
    assert set(index["endpoints"]) == {
        "POST /api/v1/images/generations",
        "GET /api/v1/images/generations",
        "POST /api/v1/images/generate",
        "GET /api/v1/images/{task_id}",
        "POST /v1/images/generations",
        "GET /v1/tasks/{task_id}",
        "POST /v1/tasks/batch",
        "GET /files/{task_id}/{index:int}.png",
    }
    assert index["config"]["time_factor"] == 0.01
