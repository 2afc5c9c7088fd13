"""Admin API over real HTTP: callback URLs, task reads, listing, auth."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from receiver.access import API_TOKEN_FILE
from receiver.web.openapi import route_operations
from tests.conftest import make_settings
from tests.fixtures.apimodels import DOC_CALLBACK, callback_body
from tests.support.callbacks import new_callback_path, post_callback
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
        assert (await anonymous.get("/healthz")).status_code == 200  # health needs none
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


def _filled(path: str) -> str:
    """A concrete path for a route template: every parameter named ``x``."""
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_every_route_of_the_real_app_wants_the_token_unless_declared_public(
    tmp_path: Path, database_url: str
) -> None:
    """The real application's route table, not a stub around the middleware: a route
    that is not declared ``public`` answers 401 to a client without the token (from
    loopback too, and whatever the client claims to forward for), and a dashboard page
    load goes to the login form. A new route the guard does not cover fails here."""
    settings = make_settings(tmp_path, database_url, api_token="s3cret-token")
    async with running_genhook(settings) as genhook, genhook.anonymous() as anonymous:
        table = list(route_operations(genhook.app.routes))
        assert len(table) > 25  # the whole table, as the OpenAPI document lists it
        guarded = 0
        for method, template, _, op in table:
            assert op is not None, f"{method} {template} declares no operation"
            path = _filled(template)
            for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}):
                async with anonymous.stream(method, path, headers=headers) as response:
                    status = response.status_code
                    challenge = response.headers.get("www-authenticate", "")
                if op.public:  # its own answer (a bad URL token is a 401 too), not the guard's
                    assert not challenge, (method, template)
                    continue
                assert (status, challenge) == (401, 'Bearer realm="genhook"'), (method, template)
            if op.public:
                continue
            guarded += 1
            async with genhook.client.stream(method, path) as response:
                assert response.status_code != 401, (method, template)  # the token opens it
            if method == "GET" and not template.startswith(("/api/", "/assets/")):
                page = await anonymous.get(path, headers={"Accept": "text/html"})
                assert page.status_code == 303, template
                assert page.headers["location"].startswith("/login?next=")
        assert guarded > 20


async def test_callbacks_need_no_admin_token_when_one_is_set(
    tmp_path: Path, database_url: str
) -> None:
    """``GENHOOK_API_TOKEN`` set is the only configuration that can bind a public
    address: a provider (which never has the admin token) must still be able to call
    back, and the admin token must not stand in for a bad URL token."""
    settings = make_settings(tmp_path, database_url, api_token="s3cret-token")
    async with running_genhook(settings) as genhook, genhook.anonymous() as provider:
        task_id, path = await new_callback_path(genhook)
        response = await post_callback(genhook, path, DOC_CALLBACK, client=provider)
        assert response.status_code == 200
        assert response.json() == {"status": "applied", "task_id": task_id}
        task = (await genhook.client.get(f"/api/tasks/{task_id}")).json()
        assert task["status"] == "completed" and task["last_source"] == "callback"

        forged = path.rsplit(".", 1)[0] + ".forgedmacforgedmac"
        refused = await genhook.client.post(forged, content=DOC_CALLBACK)  # admin token sent
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_token"


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
