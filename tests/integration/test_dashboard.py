"""The dashboard and the read API over real HTTP: pages, fragments, access rules.

The browser test (``tests/e2e/test_dashboard_browser.py``) proves the page works
for a person; these prove what the server answers, on both databases.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from tests.support.callbacks import completed_receiver_task
from tests.support.cdn import Cdn
from tests.support.harness import running_genhook

HTML = {"Accept": "text/html"}


async def test_task_detail_api_carries_deliveries_and_images(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    settings = make_settings(
        tmp_path, database_url, assets_allow_private=True, delivery_allow_private_targets=True
    )
    async with running_genhook(settings) as harness:
        subscriber = await harness.client.post(
            "/api/subscribers", json={"url": "http://127.0.0.1:9/hook"}
        )
        assert subscriber.status_code == 201
        task_id = await completed_receiver_task(harness, [f"{cdn.url}/png", f"{cdn.url}/html"])
        await harness.services.mirror(holder="t").mirror_once()

        detail = (await harness.client.get(f"/api/tasks/{task_id}")).json()
        assert [(d["event_type"], d["status"]) for d in detail["deliveries"]] == [
            ("task.completed", "pending")
        ]
        assert detail["deliveries"][0]["subscriber_id"] == subscriber.json()["id"]
        assert [(a["position"], a["status"]) for a in detail["assets"]] == [
            (1, "stored"),
            (2, "refused"),
        ]
        assert detail["assets"][0]["url"] == f"{settings.public_url}/assets/{task_id}/1.png"
        assert detail["asset_urls"] == []  # not every image could be kept


async def test_pages_list_tasks_and_show_one_in_detail(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    settings = make_settings(tmp_path, database_url, assets_allow_private=True)
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(harness, [f"{cdn.url}/png", f"{cdn.url}/svg"])
        before = await harness.client.get(f"/tasks/{task_id}/row")
        assert f'src="{cdn.url}/png"' in before.text  # the provider's image until mirrored
        await harness.services.mirror(holder="t").mirror_once()

        index = await harness.client.get("/", headers=HTML)
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert f'data-task-id="{task_id}"' in index.text
        assert f'src="/assets/{task_id}/1.png"' in index.text  # our copy as the thumbnail
        # issue 14: a receiver task shows the prompt its callback echoed (it used to show none)
        assert "A futuristic cityscape at sunset with flying cars" in index.text
        assert "callback" in index.text  # how it finished

        row = await harness.client.get(f"/tasks/{task_id}/row")
        assert row.text.lstrip().startswith("<tr") and f'src="/assets/{task_id}/1.png"' in row.text

        page = await harness.client.get(f"/tasks/{task_id}", headers=HTML)
        assert page.status_code == 200
        assert f'src="/assets/{task_id}/1.png"' in page.text
        assert "What went wrong" in page.text and "not_an_image" not in page.text
        assert "is not an image" in page.text  # the refusal, in words
        assert "callback applied" in page.text and "task.completed" in page.text

        assert (await harness.client.get("/tasks/tsk_nope", headers=HTML)).status_code == 404
        assert (await harness.client.get("/tasks/tsk_nope/row")).status_code == 404
        filtered = await harness.client.get("/", params={"status": "failed"})
        assert f'data-task-id="{task_id}"' not in filtered.text
        css = await harness.client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def test_with_a_token_the_dashboard_wants_a_session_and_reads_only(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, api_token="s3cret-token")
    async with running_genhook(settings) as harness, harness.anonymous() as client:
        page = await client.get("/tasks/tsk_x", headers=HTML)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/tasks/tsk_x"
        assert (await client.get("/assets/tsk_x/0.png")).status_code == 401
        assert (await client.get("/tasks/tsk_x/row")).status_code == 401
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/dashboard/static/dashboard.js")).status_code == 200

        wrong = await client.post("/login", data={"token": "nope", "next": "/"})
        assert wrong.status_code == 401 and "genhook_session" not in wrong.headers.get(
            "set-cookie", ""
        )
        right = await client.post("/login", data={"token": "s3cret-token", "next": "//evil/x"})
        assert right.status_code == 303 and right.headers["location"] == "/"
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "s3cret-token" not in cookie

        # the session cookie (kept by the client now) opens every read...
        assert (await client.get("/", headers=HTML)).status_code == 200
        assert (await client.get("/api/tasks")).status_code == 200
        assert (await client.get("/assets/tsk_x/0.png")).status_code == 404
        # ...and no write: a cross-site form could otherwise use it
        submit = await client.post("/api/callback-urls", json={"provider": "apimodels"})
        assert submit.status_code == 401
        await client.get("/logout")
        assert (await client.get("/api/tasks")).status_code == 401


async def test_the_printed_login_link_signs_a_browser_in(tmp_path: Path) -> None:
    """Issue 14: no loopback mode any more (the dashboard and /assets used to answer
    loopback clients without a token); the link `genhook serve` prints,
    ``/login?token=...``, signs a browser in with one click."""
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with running_genhook(settings) as harness, harness.anonymous() as client:
        assert (await client.get("/", headers=HTML)).status_code == 303  # to the login form
        assert (await client.get("/assets/tsk_x/0.png")).status_code == 401
        # public either way: health, the API description, the login page
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/login")).status_code == 200

        wrong = await client.get("/login", params={"token": "nope"})
        assert wrong.status_code == 401 and "genhook_session" not in wrong.headers.get(
            "set-cookie", ""
        )
        link = await client.get("/login", params={"token": harness.token, "next": "/tasks/x"})
        assert link.status_code == 303 and link.headers["location"] == "/tasks/x"
        assert harness.token not in link.headers["set-cookie"]
        assert (await client.get("/", headers=HTML)).status_code == 200
        assert (await client.get("/assets/tsk_x/0.png")).status_code == 404
        refused = await client.post("/api/callback-urls", json={"provider": "apimodels"})
        assert refused.status_code == 401  # the cookie still reads only
