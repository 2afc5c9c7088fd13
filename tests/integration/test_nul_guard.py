"""NUL characters are refused at the edge instead of breaking a PostgreSQL query."""

from __future__ import annotations

from tests.fixtures.apimodels import callback_body
from tests.support.harness import Harness


async def test_nul_in_urls_and_admin_bodies_is_a_client_error(genhook: Harness) -> None:
    for path in [
        "/api/tasks/tsk_%00",
        "/api/tasks?cursor=%00",
        "/api/deliveries?task_id=x%00",
        "/api/subscribers/sub_%00",
        "/tasks/%00",
        "/?provider=%00",
    ]:
        response = await genhook.client.get(path)
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "invalid_request"
    for path, body in [
        ("/api/tasks", {"provider": "apimodels", "model": "a\u0000b", "prompt": "x"}),
        ("/api/tasks/track", {"provider": "apimall", "provider_task_id": "a\u0000"}),
        ("/api/callback-urls", {"provider": "apimodels", "x": ["\u0000"]}),
    ]:
        response = await genhook.client.post(path, json=body)
        assert response.status_code == 422, path
    assert (await genhook.counts())["tasks"] == 0
    # the literal text "\u0000" (an escaped backslash) is not a NUL and passes
    literal = rb'{"provider": "apimodels", "note": "\\u0000"}'  # JSON text: "\\u0000"
    created = await genhook.client.post("/api/callback-urls", content=literal)
    assert created.status_code == 201
    # callbacks are stored byte for byte, NUL or not: not this guard's business
    path = "/callbacks/apimodels/" + created.json()["callback_url"].rsplit("/", 1)[1]
    answered = await genhook.client.post(path, content=callback_body(task_id="p-1"))
    assert answered.status_code == 200
