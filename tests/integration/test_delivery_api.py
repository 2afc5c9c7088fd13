"""``/api/subscribers`` and ``/api/deliveries`` over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support.delivery import emit, make_task
from tests.support.downstream import Reply, always, downstream
from tests.support.harness import Harness, running_genhook


@pytest.fixture
async def allowing(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path, database_url, delivery_allow_private_targets=True, delivery_schedule=()
    )
    async with running_genhook(settings) as harness:
        yield harness


async def test_subscriber_life_cycle(allowing: Harness) -> None:
    client = allowing.client
    created = await client.post(
        "/api/subscribers",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["task.completed"]},
    )
    assert created.status_code == 201
    body = created.json()
    sub_id, secret = body["id"], body["secret"]
    assert sub_id.startswith("sub_") and secret.startswith("whsec_")
    assert body["event_types"] == ["task.completed"]
    assert body["active"] is True

    listing = (await client.get("/api/subscribers")).json()["subscribers"]
    assert [s["id"] for s in listing] == [sub_id]
    assert "secret" not in listing[0]
    assert (await client.get(f"/api/subscribers/{sub_id}")).json()["secret"] == secret

    disabled = (await client.post(f"/api/subscribers/{sub_id}/disable")).json()
    assert disabled["active"] is False
    assert disabled["disabled_reason"] == "disabled by an operator"
    assert disabled["dead_lettered"] == 0
    enabled = (await client.post(f"/api/subscribers/{sub_id}/enable")).json()
    assert enabled["active"] is True and enabled["disabled_reason"] is None

    rotated = (await client.post(f"/api/subscribers/{sub_id}/rotate")).json()
    assert rotated["secret"] not in (secret, None)
    assert rotated["rotating_until"] is not None
    chosen = "whsec_" + "A" * 43 + "="
    rotated = await client.post(f"/api/subscribers/{sub_id}/rotate", json={"secret": chosen})
    assert rotated.json()["secret"] == chosen

    assert (await client.delete(f"/api/subscribers/{sub_id}")).status_code == 204
    gone = await client.get(f"/api/subscribers/{sub_id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "subscriber_not_found"


async def test_bad_subscribers_are_refused_clearly(genhook: Harness) -> None:
    cases = [
        ({"url": "ftp://example.com/x"}, "invalid_url"),
        ({"url": "not a url"}, "invalid_url"),
        ({"url": "https://8.8.8.8/x", "event_types": ["task.nope"]}, "unknown_event_type"),
        ({"url": "https://8.8.8.8/x", "secret": "plain"}, "invalid_secret"),
        ({"url": "https://8.8.8.8/x", "secret": "whsec_!!"}, "invalid_secret"),
        ({"url": "http://127.0.0.1:8080/x"}, "target_refused"),  # private targets not allowed
        ({"url": "https://8.8.8.8/x", "colour": "red"}, "invalid_request"),
    ]
    for body, code in cases:
        response = await genhook.client.post("/api/subscribers", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == code, body
    assert (await genhook.counts())["subscribers"] == 0
    for method, path in (
        ("POST", "/api/subscribers/sub_nope/disable"),
        ("POST", "/api/subscribers/sub_nope/rotate"),
        ("DELETE", "/api/subscribers/sub_nope"),
        ("GET", "/api/deliveries/12345"),
        ("GET", "/api/deliveries/abc"),
    ):
        response = await genhook.client.request(method, path)
        assert response.status_code == 404, path


async def test_deliveries_list_show_and_replay(allowing: Harness) -> None:
    services = allowing.services
    client = allowing.client
    async with downstream(always(Reply(500, body=b"down"))) as receiver:
        sub = (await client.post("/api/subscribers", json={"url": receiver.url()})).json()
        task_id = await make_task(services)
        event_id = await emit(services, task_id)
        dispatcher = services.dispatcher(holder="api-test", rng=random.Random(0))
        await dispatcher.dispatch_once()  # no retries configured: dead at once

        dead = (await client.get("/api/deliveries", params={"status": "dead"})).json()
        (row,) = dead["deliveries"]
        assert row["event_id"] == event_id
        assert row["event_type"] == "task.processing"
        assert row["subscriber_id"] == sub["id"]
        assert row["last_status_code"] == 500
        assert "dead-lettered" in row["last_error"]
        shown = (await client.get(f"/api/deliveries/{row['id']}")).json()
        assert [(a["number"], a["status_code"], a["response_body"]) for a in shown["attempts"]] == [
            (1, 500, "down")
        ]

        receiver.answer = always(Reply(200))
        replay = await client.post(
            "/api/deliveries/replay", json={"subscriber": sub["id"], "dead": True, "since": "1h"}
        )
        assert replay.json() == {"requeued": 1}
        await dispatcher.dispatch_once()
        assert [r.event_id for r in receiver.received] == [event_id, event_id]
        done = (await client.get(f"/api/deliveries/{row['id']}")).json()
        assert done["status"] == "succeeded"
        assert (await client.get("/api/deliveries", params={"status": "dead"})).json()[
            "deliveries"
        ] == []

    refusals = [
        ({"subscriber": "sub_nope"}, 404, "subscriber_not_found"),
        ({"subscriber": sub["id"], "event": "evt_nope"}, 404, "event_not_found"),
        ({"subscriber": sub["id"], "since": "last tuesday"}, 422, "invalid_request"),
    ]
    for body, status, code in refusals:
        response = await client.post("/api/deliveries/replay", json=body)
        assert response.status_code == status, body
        assert response.json()["error"]["code"] == code
    assert (await client.get("/api/deliveries", params={"status": "lost"})).status_code == 422


async def test_delivery_routes_need_the_token(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, api_token="s3cret")
    async with running_genhook(settings) as harness, harness.anonymous() as client:
        for path in ("/api/subscribers", "/api/deliveries", "/api/events"):
            assert (await client.get(path)).status_code == 401
        ok = await client.get("/api/subscribers", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200


async def test_odd_parameters_are_refused_not_crashes(genhook: Harness) -> None:
    client = genhook.client
    cases = [
        ("GET", "/api/deliveries", {"params": {"cursor": str(10**18)}}, 422),
        ("GET", "/api/deliveries/99999999999999", {}, 404),
        # NUL in a URL: refused by whichever layer sees it first (400 or 422)
        ("GET", "/api/deliveries", {"params": {"subscriber": "a\x00b"}}, 4),
        ("GET", "/api/events", {"params": {"task_id": "tsk\x00"}}, 4),
        ("POST", "/api/subscribers", {"json": {"url": "http://8.8.8.8/\x00"}}, 422),
        (
            "POST",
            "/api/deliveries/replay",
            {"json": {"subscriber": "s", "since": "99999999w"}},
            422,
        ),
        ("POST", "/api/deliveries/replay", {"json": {"subscriber": "s\x00"}}, 422),
        (
            "POST",
            "/api/deliveries/replay",
            {"json": {"subscriber": "s", "since": "0001-01-01T00:00:00+10:00"}},
            422,
        ),
    ]
    for method, path, kwargs, status in cases:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        got = response.status_code // 100 if status == 4 else response.status_code
        assert got == status, (path, kwargs, response.text)
