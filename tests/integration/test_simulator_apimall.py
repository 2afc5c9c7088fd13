"""The simulator's API Mall contract, over real HTTP, checked against the docs.

Docs: ``provider-docs/apimall-generate-images.txt`` and ``apimall-nano-banana-pro.txt``.
Time is a fake clock (``receiver.clock.utcnow`` patched), so progression is exact.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from receiver.simulator import Simulator, SimulatorConfig
from tests.conftest import FakeClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

AUTH = {"Authorization": "Bearer test-key"}
CREATE = "/api/v1/images/generate"
CLOCK_START = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
BASELINE = SimulatorConfig(time_factor=1.0, task_duration=10.0, pending_share=0.2, seed=3)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

SAMPLE_NANO_BANANA = {
    "model": "nano-banana",
    "type": "text-to-image",
    "prompt": "A cinematic portrait of a cyberpunk fox in neon rain.",
    "num_images": 1,
    "aspect_ratio": "1:1",
    "output_format": "png",
}
SAMPLE_NANO_BANANA_PRO = {
    "model": "nano-banana-pro",
    "type": "text-to-image",
    "prompt": "A luxury skincare product shot on warm marble with soft golden light.",
    "num_images": 1,
    "aspect_ratio": "1:1",
    "resolution": "2K",
    "output_format": "png",
}


async def create(client: httpx.AsyncClient, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = await client.post(CREATE, json=body, **kw)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def status(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/images/{task_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and isinstance(body["request_id"], str)
    data: dict[str, Any] = body["data"]
    return data


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status
    body = response.json()
    assert body.keys() == {"success", "error", "request_id"}
    assert body["success"] is False
    assert body["error"].keys() == {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["request_id"], str) and body["request_id"].startswith("req_")
    if code is not None:
        assert body["error"]["code"] == code


# -- the documented samples ----------------------------------------------------------


@pytest.mark.parametrize("sample", [SAMPLE_NANO_BANANA, SAMPLE_NANO_BANANA_PRO])
async def test_create_samples_answer_like_the_docs(
    client: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    response = await client.post(CREATE, json=sample)
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == {"success", "data", "request_id"}
    assert body["success"] is True
    assert body["request_id"].startswith("req_")
    data = body["data"]
    assert data.keys() == {"task_id", "request_id", "credits_used", "remaining_credits", "model"}
    assert data["task_id"].startswith("img_")
    assert data["request_id"].startswith("provider_req_")
    assert data["credits_used"] == 8  # the docs' sample price for one image
    assert data["remaining_credits"] == 1000 - 8
    assert data["model"] == sample["model"]


async def test_status_walks_pending_processing_completed(
    client: httpx.AsyncClient, fake_clock: FakeClock
) -> None:
    created_at = fake_clock.now
    task_id = (await create(client, {**SAMPLE_NANO_BANANA, "num_images": 2}))["task_id"]

    pending = await status(client, task_id)
    assert pending["status"] == "pending"
    assert pending["output"] == {"resultUrls": []}
    assert pending["primary_url"] is None and pending["image_url"] is None
    assert pending["completed_at"] is None and pending["error_message"] is None
    assert pending["created_at"] == pending["updated_at"] == "2026-03-12T09:30:00.000Z"

    fake_clock.advance(2.0)  # 20 % of 10 s
    processing = await status(client, task_id)
    assert processing["status"] == "processing"
    assert processing["updated_at"] == "2026-03-12T09:30:02.000Z"

    fake_clock.advance(8.0)
    done = await status(client, task_id)
    # Field by field against the docs' status sample.
    assert done.keys() == {
        "task_id", "model", "status", "output", "primary_url", "image_url", "error_message",
        "credits_used", "credits_refunded", "created_at", "updated_at", "completed_at",
    }  # fmt: skip
    assert done["task_id"] == task_id and done["model"] == "nano-banana"
    assert done["status"] == "completed"
    urls = done["output"]["resultUrls"]
    assert len(urls) == 2 and all(isinstance(u, str) for u in urls)
    assert done["primary_url"] == urls[0] and done["image_url"] == urls[0]
    assert done["error_message"] is None
    assert (done["credits_used"], done["credits_refunded"]) == (16, 0)
    for name in ("created_at", "updated_at", "completed_at"):
        assert ISO_MS.match(done[name]), done[name]
    assert done["completed_at"] == done["updated_at"] == "2026-03-12T09:30:10.000Z"
    assert created_at.isoformat().startswith(done["created_at"][:19])

    image = await client.get(done["primary_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")


async def test_failed_task_refunds_its_credits(
    client: httpx.AsyncClient, fake_clock: FakeClock
) -> None:
    failing = await create(client, {**SAMPLE_NANO_BANANA, "num_images": 3, "prompt": "[sim:fail]"})
    assert (failing["credits_used"], failing["remaining_credits"]) == (24, 976)
    assert (await status(client, failing["task_id"]))["credits_refunded"] == 0

    fake_clock.advance(10)
    failed = await status(client, failing["task_id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == "Simulated generation failure"
    assert failed["output"] == {"resultUrls": []} and failed["primary_url"] is None
    assert (failed["credits_used"], failed["credits_refunded"]) == (24, 24)
    assert failed["completed_at"] == "2026-03-12T09:30:10.000Z"
    # The refund is back in the balance.
    assert (await create(client, SAMPLE_NANO_BANANA))["remaining_credits"] == 1000 - 8


async def test_failure_rate_with_succeed_directive(
    client: httpx.AsyncClient, sim: Simulator, fake_clock: FakeClock
) -> None:
    sim.configure(failure_rate=1.0)
    doomed = await create(client, SAMPLE_NANO_BANANA)
    saved = await create(client, {**SAMPLE_NANO_BANANA, "prompt": "x [sim:succeed]"})
    fake_clock.advance(10)
    assert (await status(client, doomed["task_id"]))["status"] == "failed"
    assert (await status(client, saved["task_id"]))["status"] == "completed"


# -- Idempotency-Key -------------------------------------------------------------------


async def test_same_idempotency_key_gives_the_same_task_and_one_charge(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post(CREATE, json=SAMPLE_NANO_BANANA, headers=headers)
    again = await client.post(CREATE, json=SAMPLE_NANO_BANANA, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(sim.tasks) == 1
    # Charged once: a fresh request sees 1000 - 8 - 8.
    assert (await create(client, SAMPLE_NANO_BANANA))["remaining_credits"] == 984


async def test_idempotency_key_with_another_body_is_409(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    headers = {"Idempotency-Key": "order-43"}
    await create(client, SAMPLE_NANO_BANANA, headers=headers)
    other = {**SAMPLE_NANO_BANANA, "prompt": "something else"}
    assert_error(
        await client.post(CREATE, json=other, headers=headers), 409, "idempotency_conflict"
    )
    assert len(sim.tasks) == 1


async def test_idempotency_keys_belong_to_one_api_key(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    key = {"Idempotency-Key": "shared-key"}
    one = await create(client, SAMPLE_NANO_BANANA, headers={**key, **AUTH})
    two = await create(client, SAMPLE_NANO_BANANA, headers={**key, "Authorization": "Bearer other"})
    assert one["task_id"] != two["task_id"]
    assert len(sim.tasks) == 2


async def test_request_without_key_is_not_deduplicated(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    await create(client, SAMPLE_NANO_BANANA)
    await create(client, SAMPLE_NANO_BANANA)
    assert len(sim.tasks) == 2


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "api_key", "code"),
    [
        ({}, None, "api_key_required"),
        ({"Authorization": "Token abc"}, None, "api_key_required"),
        ({"Authorization": "Bearer wrong"}, "right", "invalid_api_key"),
    ],
)
async def test_unauthorized(
    client: httpx.AsyncClient,
    sim: Simulator,
    headers: dict[str, str],
    api_key: str | None,
    code: str,
) -> None:
    sim.configure(api_key=api_key)
    client.headers.pop("Authorization")
    assert_error(await client.post(CREATE, json=SAMPLE_NANO_BANANA, headers=headers), 401, code)
    assert_error(await client.get("/api/v1/images/img_x", headers=headers), 401, code)


@pytest.mark.parametrize(
    "changes",
    [
        {"num_images": 0},
        {"num_images": 7},
        {"num_images": "2"},
        {"num_images": 1.5},
        {"scale": 5},
        {"scale": 0},
        {"resolution": "8K"},
        {"quality": "ultra"},
        {"background": "glass"},
        {"output_format": "gif"},
        {"type": "outpaint"},
        {"model": "dall-e-3"},
        {"model": "nano-banana-pro", "type": "upscale"},
        {"prompt": None},
        {"prompt": ""},
        {"image_urls": ["https://example.com/a.png", 3]},
        {"google_search": "yes"},
        {"seed": "42"},
        {"prompt": "x [sim:unknown]"},
    ],
)
async def test_invalid_parameters_are_400(
    client: httpx.AsyncClient, sim: Simulator, changes: dict[str, Any]
) -> None:
    body = {k: v for k, v in {**SAMPLE_NANO_BANANA, **changes}.items() if v is not None}
    assert_error(await client.post(CREATE, json=body), 400)
    assert len(sim.tasks) == 0


async def test_documented_ranges_are_accepted(client: httpx.AsyncClient) -> None:
    for body in (
        {**SAMPLE_NANO_BANANA, "num_images": 6, "scale": 4, "quality": "high"},
        {"prompt": "model defaults to nano-banana", "type": "upscale", "scale": 1},
        {**SAMPLE_NANO_BANANA_PRO, "type": "image-to-image", "image_urls": ["https://x/a.png"]},
        {**SAMPLE_NANO_BANANA, "model": "z-image", "background": "transparent", "seed": 7},
    ):
        await create(client, body)


async def test_insufficient_credits_is_402(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.configure(apimall_credits=20)
    await create(client, {**SAMPLE_NANO_BANANA, "num_images": 2})  # 16 of 20
    response = await client.post(CREATE, json=SAMPLE_NANO_BANANA)
    assert_error(response, 402, "insufficient_credits")
    assert len(sim.tasks) == 1


async def test_blocked_prompt_is_451(client: httpx.AsyncClient, sim: Simulator) -> None:
    body = {**SAMPLE_NANO_BANANA, "prompt": "x [sim:blocked]"}
    assert_error(await client.post(CREATE, json=body), 451)
    assert len(sim.tasks) == 0


async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/images/img_01NOTATASK"), 404, "task_not_found")
    # APIMart's ids are not API Mall's.
    other = await client.post(
        "/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}
    )
    assert_error(await client.get(f"/api/v1/images/{other.json()['data'][0]['task_id']}"), 404)


async def test_body_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(CREATE, content=b"[]"), 400)
    assert_error(await client.post(CREATE, content=b""), 400)
