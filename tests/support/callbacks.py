"""Receiver-mode tasks over real HTTP: ask genhook for a callback URL, post to it.

Every test that plays the provider does these two steps; they live here once. The
callback URL is requested through the admin API (with the harness's token) and the
callback is posted with or without it: the URL's own token is the credential.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx

from tests.fixtures.apimodels import callback_body
from tests.support.harness import Harness


async def new_callback_path(genhook: Harness, provider: str = "apimodels") -> tuple[str, str]:
    """A new task awaiting its callback: ``(task id, path of its callback URL)``."""
    response = await genhook.client.post("/api/callback-urls", json={"provider": provider})
    assert response.status_code == 201, response.text
    created = response.json()
    return str(created["task_id"]), urlsplit(created["callback_url"]).path


async def post_callback(
    genhook: Harness, path: str, body: bytes, *, client: httpx.AsyncClient | None = None
) -> httpx.Response:
    """Post ``body`` to a callback path, as the provider would (``client``: another one)."""
    return await (client or genhook.client).post(path, content=body)


async def completed_receiver_task(genhook: Harness, urls: list[str]) -> str:
    """A receiver-mode task completed by its callback with these result URLs."""
    task_id, path = await new_callback_path(genhook)
    body = callback_body(task_id=f"p-{task_id}", result_json=json.dumps({"resultUrls": urls}))
    response = await post_callback(genhook, path, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    return task_id
