"""The simulator's APIMart contract, over real HTTP, checked against the docs.

Docs: ``provider-docs/apimart-gemini-2.5-flash-image.txt`` and ``apimart-gpt-image-2.txt``.
Time is a fake clock (``receiver.clock.utcnow`` patched), so progression is exact.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from receiver.simulator import Simulator, SimulatorConfig
from tests.conftest import FakeClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

AUTH = {"Authorization": "Bearer test-key"}
CREATE = "/v1/images/generations"
BATCH = "/v1/tasks/batch"
BASELINE = SimulatorConfig(time_factor=1.0, task_duration=50.0, pending_share=0.2, seed=5)
CLOCK_START = START = datetime(2026, 4, 21, 5, 17, 54, tzinfo=UTC)

GEMINI_SAMPLE: dict[str, Any] = {
    "model": "gemini-2.5-flash-image-preview",
    "prompt": "A bamboo forest path under moonlight",
    "size": "1:1",
    "n": 1,
    "image_urls": ["https://openai-documentation.vercel.app/images/cat_and_otter.png"],
}
GPT_SAMPLES: list[dict[str, Any]] = [
    {
        "model": "gpt-image-2",
        "prompt": "A ginger cat sitting on a windowsill watching the sunset, watercolor style",
        "n": 1,
        "size": "16:9",
    },
    {
        "model": "gpt-image-2",
        "prompt": "A ginger cat sitting on a windowsill watching the sunset, watercolor style",
    },
    {
        "model": "gpt-image-2",
        "prompt": "a corgi astronaut on the moon, cinematic, 8k",
        "size": "16:9",
        "n": 1,
    },
    {
        "model": "gpt-image-2",
        "prompt": "Turn this photo into a watercolor painting",
        "size": "1:1",
        "image_urls": ["https://example.com/photo.jpg"],
    },
    {
        "model": "gpt-image-2",
        "prompt": "Turn this photo into a watercolor painting",
        "image_urls": ["data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA..."],
    },
    {
        "model": "gpt-image-2",
        "prompt": "Fuse these two photos into a single poster",
        "size": "4:3",
        "image_urls": [
            "https://example.com/photo-a.jpg",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA...",
        ],
    },
]


async def submit(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post(CREATE, json=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"][0]["task_id"]
    return task_id


async def query(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.keys() == {"code", "data"} and body["code"] == 200
    data: dict[str, Any] = body["data"]
    return data


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["code"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["type"], str)
    if message is not None:
        assert body["error"]["message"] == message


# -- the documented samples ----------------------------------------------------------


@pytest.mark.parametrize("sample", [GEMINI_SAMPLE, *GPT_SAMPLES])
async def test_create_samples_answer_like_the_docs(
    client: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    response = await client.post(CREATE, json=sample)
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == {"code", "data"}
    assert body["code"] == 200
    assert isinstance(body["data"], list) and len(body["data"]) == 1
    assert body["data"][0].keys() == {"status", "task_id"}
    assert body["data"][0]["status"] == "submitted"
    assert body["data"][0]["task_id"].startswith("task_")


async def test_task_query_walks_the_documented_statuses(
    client: httpx.AsyncClient, fake_clock: FakeClock
) -> None:
    task_id = await submit(client, GPT_SAMPLES[0])

    pending = await query(client, task_id)
    assert (pending["status"], pending["progress"]) == ("pending", 0)
    assert pending["created"] == int(START.timestamp())
    assert pending["estimated_time"] == 50
    assert not {"completed", "actual_time", "result", "error"} & pending.keys()

    fake_clock.advance(30)  # 10 s pending, then 20 of 40 s processing
    processing = await query(client, task_id)
    assert processing["status"] == "processing"
    assert processing["progress"] == 50
    assert not {"completed", "actual_time", "result"} & processing.keys()

    fake_clock.advance(22)
    done = await query(client, task_id)
    # Field by field against the docs' success sample.
    assert done.keys() == {
        "id", "status", "progress", "created", "completed", "actual_time", "estimated_time",
        "result",
    }  # fmt: skip
    assert done["id"] == task_id
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["completed"] == done["created"] + 50
    assert done["actual_time"] == 50
    assert all(isinstance(done[k], int) for k in ("created", "completed", "actual_time"))
    [image] = done["result"]["images"]
    assert image.keys() == {"url", "expires_at"}
    assert image["expires_at"] == done["completed"] + 24 * 3600
    [url] = image["url"]
    png = await client.get(url, headers={"Authorization": ""})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and png.content[12:16] == b"IHDR"
    assert struct.unpack(">II", png.content[16:24]) == (64, 64)


async def test_gemini_n_gives_one_image_entry_per_image(
    client: httpx.AsyncClient, sim: Simulator, fake_clock: FakeClock
) -> None:
    sim.configure(image_size=32)
    task_id = await submit(client, {**GEMINI_SAMPLE, "n": 4})
    fake_clock.advance(50)
    images = (await query(client, task_id))["result"]["images"]
    assert len(images) == 4
    urls = [image["url"][0] for image in images]
    assert len(set(urls)) == 4
    for url in urls:
        content = (await client.get(url)).content
        assert struct.unpack(">II", content[16:24]) == (32, 32)


async def test_failed_task_has_error_message(
    client: httpx.AsyncClient, fake_clock: FakeClock
) -> None:
    task_id = await submit(client, {**GPT_SAMPLES[1], "prompt": "x [sim:fail=upstream refused]"})
    fake_clock.advance(50)
    failed = await query(client, task_id)
    assert failed["status"] == "failed"
    assert failed["error"]["message"] == "upstream refused"
    assert "result" not in failed and "completed" not in failed


# -- batch ------------------------------------------------------------------------------


async def test_batch_answers_each_known_task_once_in_request_order(
    client: httpx.AsyncClient, sim: Simulator, fake_clock: FakeClock
) -> None:
    first = await submit(client, GPT_SAMPLES[0])
    fake_clock.advance(50)
    second = await submit(client, {**GPT_SAMPLES[0], "prompt": "x [sim:fail]"})
    third = await submit(client, GPT_SAMPLES[1])
    fake_clock.advance(50)
    fourth = await submit(client, GPT_SAMPLES[1])
    ids = [third, "task_unknown", first, second, fourth, third]
    response = await client.post(BATCH, json={"task_ids": ids})
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == {"code", "data"} and body["code"] == 200
    assert [t["id"] for t in body["data"]] == [third, first, second, fourth]
    assert [t["status"] for t in body["data"]] == ["completed", "completed", "failed", "pending"]
    # Each object is what the single query answers.
    assert body["data"][1] == await query(client, first)
    polls = sim.stats.snapshot()["tasks"]
    assert polls[third]["apimart.batch"] == 1  # listed twice, answered once
    assert sim.stats.endpoints["apimart.batch"] == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"task_ids": []}, {"task_ids": "task_x"}, {"task_ids": [1, 2]}, {"ids": ["task_x"]}],
)
async def test_batch_rejects_bad_bodies(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_error(await client.post(BATCH, json=body), 400)


async def test_batch_limit(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.configure(apimart_batch_limit=2)
    assert_error(await client.post(BATCH, json={"task_ids": ["a", "b", "c"]}), 400)
    assert (await client.post(BATCH, json={"task_ids": ["a", "b"]})).json() == {
        "code": 200,
        "data": [],
    }


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**GEMINI_SAMPLE, "n": 5}, None),
        ({**GEMINI_SAMPLE, "n": 0}, None),
        ({**GEMINI_SAMPLE, "n": "1"}, None),  # "do not use quotes"
        ({**GEMINI_SAMPLE, "prompt": "x" * 1001}, None),
        ({**GEMINI_SAMPLE, "image_urls": [f"https://x/{i}.png" for i in range(15)]}, None),
        ({**GEMINI_SAMPLE, "image_urls": None, "mask_url": "https://x/mask.png"}, None),
        ({**GEMINI_SAMPLE, "mask_url": ["https://x/m1.png", "https://x/m2.png"]}, None),
        ({**GEMINI_SAMPLE, "size": "7:3"}, None),
        ({**GEMINI_SAMPLE, "size": "1024x1024"}, None),
        ({**GEMINI_SAMPLE, "resolution": "2K"}, None),
        (
            {
                **GEMINI_SAMPLE,
                "model": "gemini-2.5-flash-image-preview-official",
                "official_fallback": True,
            },
            None,
        ),
        ({**GPT_SAMPLES[0], "n": 2}, None),
        ({**GPT_SAMPLES[0], "size": "1024x1024"}, "build_request_failed: invalid size"),
        ({**GPT_SAMPLES[0], "size": "auto"}, "build_request_failed: invalid size"),
        ({**GPT_SAMPLES[0], "model": "dall-e-3"}, None),
        ({"model": "gpt-image-2"}, None),
        ({"prompt": "no model"}, None),
        ({**GPT_SAMPLES[0], "prompt": "x [sim:blocked]"}, None),
    ],
)
async def test_invalid_requests_are_400(
    client: httpx.AsyncClient, sim: Simulator, body: dict[str, Any], message: str | None
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(await client.post(CREATE, json=body), 400, message)
    assert len(sim.tasks) == 0


async def test_documented_limits_are_accepted(client: httpx.AsyncClient) -> None:
    for body in (
        {**GEMINI_SAMPLE, "n": 4, "prompt": "x" * 1000, "resolution": "1K", "size": "auto"},
        {**GEMINI_SAMPLE, "image_urls": [f"https://x/{i}.png" for i in range(14)]},
        {**GEMINI_SAMPLE, "mask_url": "https://x/mask.png", "official_fallback": True},
        {**GEMINI_SAMPLE, "model": "gemini-2.5-flash-image-preview-official"},
        {**GPT_SAMPLES[0], "size": "9:21", "prompt": "y" * 5000},
        {**GPT_SAMPLES[0], "quality": "hd", "style": "vivid", "response_format": "b64_json"},
    ):
        await submit(client, body)


@pytest.mark.parametrize(
    ("headers", "api_key"),
    [({}, None), ({"Authorization": "Bearer nope"}, "secret")],
)
async def test_unauthorized(
    client: httpx.AsyncClient, sim: Simulator, headers: dict[str, str], api_key: str | None
) -> None:
    sim.configure(api_key=api_key)
    client.headers.pop("Authorization")
    assert_error(await client.post(CREATE, json=GPT_SAMPLES[0], headers=headers), 401)
    assert_error(await client.get("/v1/tasks/task_x", headers=headers), 401)
    assert_error(await client.post(BATCH, json={"task_ids": ["task_x"]}, headers=headers), 401)


async def test_unknown_task_is_404_with_the_docs_message(client: httpx.AsyncClient) -> None:
    message = "task does not exist or has expired"
    assert_error(await client.get("/v1/tasks/task_01NOPE"), 404, message)
    # An API Mall id is not an APIMart task.
    other = await client.post("/api/v1/images/generate", json={"prompt": "x"})
    assert_error(await client.get(f"/v1/tasks/{other.json()['data']['task_id']}"), 404, message)
