"""Admin API over real HTTP: callback URLs, task reads, listing, auth."""

from __future__ import annotations

from pathlib import Path

import httpx

from receiver.web.auth import AdminAuthMiddleware
from receiver.web.http import JSONResponse
from tests.conftest import make_settings
from tests.fixtures.apimodels import DOC_CALLBACK
from tests.support.harness import Harness, running_genhook


async def test_callback_url_for_a_provider(genhook: Harness) -> None:
    response = await genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
    assert response.status_code == 201
    body = response.json()
    assert body["task_id"].startswith("tsk_")
    assert body["callback_url"].startswith("http://127.0.0.1:9/callbacks/apimodels/")
    task = (await genhook.client.get(f"/api/tasks/{body['task_id']}")).json()
    assert task["status"] == "pending"
    assert task["origin"] == "receiver"
    assert task["events"] == []


async def test_callback_url_refusals_are_clear(genhook: Harness) -> None:
    cases = [
        ({"provider": "nosuch"}, 404, "unknown_provider"),
        ({"provider": "apimall"}, 422, "no_callbacks"),
        ({}, 422, "invalid_request"),
        ([1], 422, "invalid_request"),
    ]
    for body, status, code in cases:
        response = await genhook.client.post("/api/callback-urls", json=body)
        assert response.status_code == status, body
        assert response.json()["error"]["code"] == code
    response = await genhook.client.post("/api/callback-urls", content=b"{nope")
    assert response.status_code == 400
    assert (await genhook.counts())["tasks"] == 0


async def test_unknown_task_is_404(genhook: Harness) -> None:
    response = await genhook.client.get("/api/tasks/tsk_nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "task_not_found"


async def test_list_filters_and_paginates(genhook: Harness) -> None:
    ids = []
    for _ in range(5):
        ids.append(
            (await genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
        )
    completed_path = "/callbacks/apimodels/" + ids[0]["callback_url"].rsplit("/", 1)[1]
    await genhook.client.post(completed_path, content=DOC_CALLBACK)

    page = (await genhook.client.get("/api/tasks", params={"limit": 2})).json()
    assert [t["id"] for t in page["tasks"]] == [ids[4]["task_id"], ids[3]["task_id"]]
    seen = [t["id"] for t in page["tasks"]]
    while page["next_cursor"]:
        page = (
            await genhook.client.get(
                "/api/tasks", params={"limit": 2, "cursor": page["next_cursor"]}
            )
        ).json()
        seen += [t["id"] for t in page["tasks"]]
    assert seen == [c["task_id"] for c in reversed(ids)]

    done = (await genhook.client.get("/api/tasks", params={"status": "completed"})).json()
    assert [t["id"] for t in done["tasks"]] == [ids[0]["task_id"]]
    assert (await genhook.client.get("/api/tasks", params={"limit": 0})).status_code == 422
    bad_time = await genhook.client.get("/api/tasks", params={"created_since": "yesterday"})
    assert bad_time.status_code == 422


async def test_health_and_readiness(genhook: Harness) -> None:
    assert (await genhook.client.get("/healthz")).json() == {"status": "ok"}
    assert (await genhook.client.get("/readyz")).json() == {"status": "ready"}


async def test_api_token_is_required_when_set(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, api_token="s3cret-token")
    async with running_genhook(settings) as genhook:
        response = await genhook.client.get("/api/tasks")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = await genhook.client.get("/api/tasks", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await genhook.client.get(
            "/api/tasks", headers={"Authorization": "Bearer s3cret-token"}
        )
        assert ok.status_code == 200
        # callbacks carry their own credential and never need the admin token
        assert (await genhook.client.get("/healthz")).status_code == 200


async def test_without_token_only_loopback_clients_reach_the_api() -> None:
    async def inner(scope, receive, send):
        await JSONResponse({"ok": True})(scope, receive, send)

    app = AdminAuthMiddleware(inner, api_token=None)
    for client_host, expected in (("127.0.0.1", 200), ("::1", 200), ("203.0.113.9", 403)):
        transport = httpx.ASGITransport(app=app, client=(client_host, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/tasks")).status_code == expected, client_host
            assert (await client.get("/callbacks/apimodels/x")).status_code == 200
