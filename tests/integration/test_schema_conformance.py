"""Every route's real answers conform to the served ``/openapi.json``.

A world with something in every table (a completed, mirrored task with callbacks,
polls and events; a subscriber with a failed delivery and its attempts), then each
operation of the document is called with real ids and its response checked by
schemathesis' own conformance checks: the body against the documented schema of its
status (resources are closed schemas, so a field sent but not described fails), the
status among the documented ones, the content type the documented one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from receiver.submit import SubmitRequest
from tests.conftest import make_settings
from tests.fixtures.apimodels import callback_body
from tests.support.simulated import Simulated, simulated_genhook

CHECKS = [response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[Simulated]:
    settings = make_settings(
        tmp_path, database_url, assets_allow_private=True, delivery_allow_private_targets=True
    )
    async with simulated_genhook(settings) as simulated:
        yield simulated


async def seed(world: Simulated) -> dict[str, Any]:
    """Ids of real rows of every kind."""
    client = world.genhook.client
    services = world.genhook.services
    subscriber = (
        await client.post("/api/subscribers", json={"url": "http://127.0.0.1:9/closed"})
    ).json()
    task = await services.submitter().submit(
        SubmitRequest("apimodels", "gemini-3-pro-image-lite", "seed", {})
    )
    done = await world.wait_terminal(task.id)
    assert (await services.mirror(holder="seed").mirror_once()).stored == 1
    await services.dispatcher(holder="seed").dispatch_once()  # a failed attempt, recorded
    delivery = (await client.get("/api/deliveries")).json()["deliveries"][0]
    asset = (await client.get(f"/api/tasks/{task.id}")).json()["assets"][0]
    track = await client.post(
        "/api/tasks/track", json={"provider": "apimall", "provider_task_id": "x"}
    )
    waiting = (await client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
    world.sim.configure(server_error_rate=1.0, fault_scope=["apimart"])
    lost = await services.submitter().submit(
        SubmitRequest("apimart", "gpt-image-2", "its answer is lost", {})
    )
    world.sim.configure(server_error_rate=0.0)
    assert lost.status == "submitting"
    await services.heartbeat(worker_id="seed:1", kind="worker").beat()  # a live worker
    return {
        "unconfirmed_task_id": lost.id,
        "callback_token": waiting["callback_url"].rsplit("/", 1)[1],
        "receiver_task_id": waiting["task_id"],
        "task_id": done.id,
        "subscriber_id": subscriber["id"],
        "delivery_id": delivery["id"],
        "asset_name": asset["local_path"].split("/", 1)[1],
        "track_status": track.status_code,
    }


def calls(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path, case arguments)``: one real call per operation, some twice."""
    task, sub = ids["task_id"], ids["subscriber_id"]
    return [
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/metrics", {}),
        ("GET", "/metrics", {"headers": {"Accept": "application/openmetrics-text;version=1.0.0"}}),
        ("GET", "/api/workers", {}),
        ("GET", "/api/routes", {}),
        ("GET", "/api/usage", {}),
        ("GET", "/api/usage", {"query": {"group_by": "day"}}),
        ("GET", "/api/usage", {"query": {"group_by": "weekly"}}),
        ("GET", "/stats", {}),
        ("GET", "/stats", {"query": {"window": "hour"}}),
        ("GET", "/api/tasks", {"query": {"limit": 1}}),
        ("GET", "/api/tasks", {"query": {"status": "bogus"}}),
        ("GET", "/api/tasks/{task_id}", {"path_parameters": {"task_id": task}}),
        ("GET", "/api/tasks/{task_id}", {"path_parameters": {"task_id": "tsk_nope"}}),
        (
            "POST",
            "/api/tasks",
            {
                "body": {
                    "provider": "apimart",
                    "model": "gpt-image-2",
                    "prompt": "x",
                    "params": {"n": 9},
                }
            },
        ),
        (
            "POST",
            "/api/tasks",
            {"body": {"provider": "apimall", "model": "nano-banana", "prompt": "a fox"}},
        ),
        (
            "POST",
            "/api/tasks",
            {
                "body": {
                    "provider": "apimall",
                    "model": "nano-banana",
                    "prompt": "a fox with a webhook",
                    "webhook": {"url": "http://127.0.0.1:9/mine", "events": ["task.completed"]},
                },
                "headers": {"Idempotency-Key": "conformance-1"},
            },
        ),
        (
            "POST",
            "/api/tasks",
            {
                "body": {"provider": "apimall", "model": "nano-banana", "prompt": "another"},
                "headers": {"Idempotency-Key": "conformance-1"},
            },
        ),
        ("POST", "/api/tasks/track", {"body": {"provider": "nope", "provider_task_id": "x"}}),
        ("GET", "/api/tasks/stuck", {"query": {"limit": 5}}),
        ("GET", "/api/tasks/stuck", {"query": {"limit": 0}}),
        (
            "POST",
            "/api/tasks/{task_id}/settle",
            {
                "path_parameters": {"task_id": ids["unconfirmed_task_id"]},
                "body": {"outcome": "failed"},
            },
        ),
        (
            "POST",
            "/api/tasks/{task_id}/settle",
            {"path_parameters": {"task_id": task}, "body": {"outcome": "resubmit"}},
        ),
        (
            "POST",
            "/api/tasks/{task_id}/settle",
            {"path_parameters": {"task_id": "tsk_nope"}, "body": {"outcome": "failed"}},
        ),
        (
            "POST",
            "/api/tasks/{task_id}/settle",
            {"path_parameters": {"task_id": task}, "body": {"outcome": "maybe"}},
        ),
        ("POST", "/api/callback-urls", {"body": {"provider": "apimodels"}}),
        ("POST", "/api/callback-urls", {"body": {"provider": "apimart"}}),
        ("GET", "/api/subscribers", {}),
        ("GET", "/api/subscribers", {"query": {"task_id": task}}),
        ("GET", "/api/subscribers/{subscriber_id}", {"path_parameters": {"subscriber_id": sub}}),
        (
            "POST",
            "/api/subscribers",
            {"body": {"url": "http://127.0.0.1:9/other", "event_types": ["task.completed"]}},
        ),
        (
            "POST",
            "/api/subscribers",
            {"body": {"url": "http://127.0.0.1:9/x", "event_types": ["task.nope"]}},
        ),
        (
            "POST",
            "/api/subscribers/{subscriber_id}/rotate",
            {"path_parameters": {"subscriber_id": sub}, "body": {}},
        ),
        (
            "POST",
            "/api/subscribers/{subscriber_id}/disable",
            {"path_parameters": {"subscriber_id": sub}, "body": {"reason": "conformance"}},
        ),
        (
            "POST",
            "/api/subscribers/{subscriber_id}/enable",
            {"path_parameters": {"subscriber_id": sub}},
        ),
        ("GET", "/api/deliveries", {"query": {"status": "pending"}}),
        ("GET", "/api/deliveries", {"query": {"cursor": "garbage"}}),
        (
            "GET",
            "/api/deliveries/{delivery_id}",
            {"path_parameters": {"delivery_id": ids["delivery_id"]}},
        ),
        ("POST", "/api/deliveries/replay", {"body": {"subscriber": sub, "dead": True}}),
        (
            "GET",
            "/assets/{task_id}/{name}",
            {"path_parameters": {"task_id": task, "name": ids["asset_name"]}},
        ),
        ("GET", "/", {}),
        ("GET", "/tasks/{task_id}", {"path_parameters": {"task_id": task}}),
        ("GET", "/tasks/{task_id}/row", {"path_parameters": {"task_id": task}}),
        ("DELETE", "/api/subscribers/{subscriber_id}", {"path_parameters": {"subscriber_id": sub}}),
        ("GET", "/api/events", {"query": {"type": "task.nope"}}),
        ("GET", "/api/events", {"query": {"task_id": "tsk_nope"}}),
        (
            "POST",
            "/callbacks/{provider}/{token}",
            {
                "path_parameters": {"provider": "apimodels", "token": ids["callback_token"]},
                "body": orjson.loads(callback_body(task_id="p-1")),
            },
        ),
        (
            "POST",
            "/callbacks/{provider}/{token}",
            {"path_parameters": {"provider": "apimodels", "token": "tsk_x.forged"}, "body": {}},
        ),
        ("GET", "/login", {}),
        ("POST", "/login", {"body": {"token": "t"}}),
        ("GET", "/logout", {}),
        ("GET", "/dashboard/static/{path}", {"path_parameters": {"path": "dashboard.css"}}),
    ]


def call_and_validate(
    schema: Any,
    base_url: str,
    auth: dict[str, str],
    method: str,
    path: str,
    arguments: dict[str, Any],
) -> int:
    operation = schema[path][method]
    case = operation.Case(**arguments)
    session = requests.Session()
    session.headers.update(auth)
    response = case.call(base_url=base_url, session=session, timeout=15)
    case.validate_response(response, checks=CHECKS)
    return int(response.status_code)


async def test_every_route_answers_as_documented(world: Simulated) -> None:
    ids = await seed(world)
    assert ids["track_status"] == 422  # the simulator does not know task "x"
    base_url = world.genhook.base_url
    document = (await world.genhook.client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    statuses: dict[tuple[str, str], list[int]] = {}
    for method, path, arguments in calls(ids):
        status = await asyncio.to_thread(
            call_and_validate, schema, base_url, world.genhook.auth, method, path, arguments
        )
        statuses.setdefault((method, path), []).append(status)
    # the calls reached what they meant to reach, answers and refusals alike
    assert statuses[("GET", "/api/tasks/{task_id}")] == [200, 404]
    assert statuses[("GET", "/api/tasks")] == [200, 422]
    assert statuses[("POST", "/api/tasks")] == [422, 201, 201, 409]
    assert statuses[("GET", "/api/tasks/stuck")] == [200, 422]
    assert statuses[("POST", "/api/tasks/{task_id}/settle")] == [200, 409, 404, 422]
    assert statuses[("GET", "/api/deliveries")] == [200, 422]
    assert statuses[("GET", "/assets/{task_id}/{name}")] == [200]
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert documented == set(statuses)
    assert statuses[("POST", "/callbacks/{provider}/{token}")] == [200, 401]
    assert statuses[("GET", "/metrics")] == [200, 200]
    assert statuses[("GET", "/api/workers")] == [200]
    assert statuses[("GET", "/api/routes")] == [200]
    assert statuses[("GET", "/api/usage")] == [200, 200, 422]
    assert statuses[("GET", "/stats")] == [200, 200]
