"""Admin API over real HTTP: callback URLs, task reads, listing, auth."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from receiver.access import API_TOKEN_FILE
from receiver.web.auth import AdminAuthMiddleware
from receiver.web.http import JSONResponse
from tests.conftest import make_settings
from tests.fixtures.apimodels import DOC_CALLBACK, callback_body
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
    async with running_genhook(settings) as genhook, genhook.anonymous() as anonymous:
        response = await anonymous.get("/api/tasks")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = await anonymous.get("/api/tasks", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await anonymous.get("/api/tasks", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        # health needs no token, and callbacks carry their own credential
        assert (await anonymous.get("/healthz")).status_code == 200
        assert not (settings.data_dir / API_TOKEN_FILE).exists()  # nothing generated


async def test_without_a_configured_token_one_is_generated_and_loopback_needs_it_too(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 14 removed the unauthenticated loopback mode (it used to answer loopback
    clients without a token): a reverse proxy on the same machine would have exposed
    the API. Now a token is generated once into the data dir and always required."""
    settings = make_settings(tmp_path, database_url)
    token_file = settings.data_dir / API_TOKEN_FILE
    async with running_genhook(settings) as genhook, genhook.anonymous() as anonymous:
        assert token_file.read_text() == genhook.token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert (await anonymous.get("/api/tasks")).status_code == 401  # from 127.0.0.1
        assert (await genhook.client.get("/api/tasks")).status_code == 200
        first = genhook.token
    async with running_genhook(settings) as genhook:  # a restart keeps the token
        assert genhook.token == first


async def test_the_middleware_refuses_every_client_without_the_token() -> None:
    async def inner(scope, receive, send):
        await JSONResponse({"ok": True})(scope, receive, send)

    app = AdminAuthMiddleware(inner, api_token="t0ken")
    for client_host in ("127.0.0.1", "::1", "203.0.113.9"):
        transport = httpx.ASGITransport(app=app, client=(client_host, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/tasks")).status_code == 401, client_host
            authorised = await client.get("/api/tasks", headers={"Authorization": "Bearer t0ken"})
            assert authorised.status_code == 200
            assert (await client.get("/callbacks/apimodels/x")).status_code == 200
    with pytest.raises(ValueError, match="needs a token"):
        AdminAuthMiddleware(inner, api_token="")


async def test_admin_bodies_over_the_limit_are_refused_with_413(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, api_max_body=64 * 1024)
    big = b'{"provider": "apimall", "model": "nano-banana", "prompt": "' + b"x" * 2_000_000 + b'"}'

    async def streamed():  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    async with running_genhook(settings) as genhook:
        for content in (big, streamed()):
            response = await genhook.client.post("/api/tasks", content=content)
            assert response.status_code == 413
            assert response.json()["error"] == {
                "code": "body_too_large",
                "message": "body exceeds 65536 bytes",
                "limit": 65536,
            }
        small = await genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
        assert small.status_code == 201
        assert (await genhook.counts())["tasks"] == 1  # only the small one


async def test_a_receiver_mode_task_learns_model_and_prompt_from_its_callback(
    genhook: Harness,
) -> None:
    answer = await genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
    created = answer.json()
    path = "/callbacks/apimodels/" + created["callback_url"].rsplit("/", 1)[1]
    assert (await genhook.client.post(path, content=DOC_CALLBACK)).status_code == 200
    task = (await genhook.client.get(f"/api/tasks/{created['task_id']}")).json()
    assert task["model"] == "gemini-3-pro-image-lite"
    assert task["request"] == {
        "model": "gemini-3-pro-image-lite",
        "prompt": "A futuristic cityscape at sunset with flying cars",
        "params": {"aspect_ratio": "16:9", "resolution": "2k"},
    }
    page = await genhook.client.get(f"/tasks/{created['task_id']}")
    assert "A futuristic cityscape at sunset with flying cars" in page.text
    assert "No prompt" not in page.text

    # a later report never replaces what the task already holds
    other = callback_body(param='{"model": "other", "prompt": "other"}')
    assert (await genhook.client.post(path, content=other)).status_code == 200
    again = (await genhook.client.get(f"/api/tasks/{created['task_id']}")).json()
    assert (again["model"], again["request"]) == (task["model"], task["request"])
