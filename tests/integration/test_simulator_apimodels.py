"""The simulator's apimodels.app contract, over real HTTP, checked against the docs.

Docs: ``provider-docs/apimodels-images-and-callbacks.txt``. Callbacks are received by a
small real ASGI app served next to the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from receiver.simulator import Simulator, SimulatorConfig, create_simulator_app
from tests.support.recorder import CallbackRecorder, Hooks
from tests.support.servers import serve
from tests.support.waiting import eventually

AUTH = {"Authorization": "Bearer test-key"}
CREATE = "/api/v1/images/generations"

# The docs' two create samples.
TEXT_TO_IMAGE = {
    "model": "gemini-3-pro-image-lite",
    "prompt": "A futuristic cityscape at sunset with flying cars",
    "aspect_ratio": "16:9",
    "resolution": "2k",
}
IMAGE_EDIT = {
    "model": "gemini-3-pro-image",
    "prompt": "Add dramatic storm clouds to the sky",
    "image_url": "https://example.com/photo.jpg",
    "aspect_ratio": "16:9",
}
CALLBACK_KEYS = {
    "taskId", "model", "state", "param", "resultJson", "failCode", "failMsg",
    "costTime", "completeTime", "createTime",
}  # fmt: skip


BASELINE = SimulatorConfig(time_factor=0.01, seed=7)
pytestmark = pytest.mark.asyncio(loop_scope="module")


@contextlib.asynccontextmanager
async def simulator(**config: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator]]:
    """A simulator of its own, for tests whose callbacks must not meet another's."""
    app = create_simulator_app(BASELINE.updated(config))
    async with serve(app) as base, httpx.AsyncClient(base_url=base, headers=AUTH) as client:
        yield client, app.state.simulator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hooks() -> AsyncIterator[Hooks]:
    registry = Hooks()
    async with serve(registry.app()) as base:
        registry.base = base
        yield registry


def png_size(data: bytes) -> tuple[int, int]:
    """Check a PNG's signature, IHDR and pixel data; return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 2)
    idat_length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    pixels = zlib.decompress(data[41 : 41 + idat_length])
    assert len(pixels) == height * (1 + 3 * width)
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


async def wait_for_state(client: httpx.AsyncClient, task_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        data: dict[str, Any] = (await client.get(CREATE, params={"task_id": task_id})).json()[
            "data"
        ]
        if data["state"] == state:
            return data
        assert time.monotonic() < deadline, f"task never reached {state}: {data}"
        await asyncio.sleep(0.01)


# -- the documented samples ----------------------------------------------------------


@pytest.mark.parametrize("request_body", [TEXT_TO_IMAGE, IMAGE_EDIT])
async def test_create_samples_answer_like_the_docs(
    client: httpx.AsyncClient, request_body: dict[str, Any]
) -> None:
    response = await client.post(CREATE, json=request_body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body.keys() == {"code", "msg", "data"}
    assert (body["code"], body["msg"]) == (200, "success")
    assert body["data"].keys() == {"taskId", "state"}
    assert body["data"]["state"] == "pending"
    assert isinstance(body["data"]["taskId"], str) and body["data"]["taskId"].startswith("cl")


async def test_task_moves_pending_processing_completed_and_serves_pngs(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.configure(pending_share=0.5)
    created = await client.post(
        CREATE, json={**TEXT_TO_IMAGE, "n": 3, "prompt": "x [sim:duration=30]"}
    )
    task_id = created.json()["data"]["taskId"]
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while not seen or seen[-1] != "completed":
        answer = (await client.get(CREATE, params={"task_id": task_id})).json()
        assert answer["code"] == 200 and answer["msg"] == "success"
        if not seen or seen[-1] != answer["data"]["state"]:
            seen.append(answer["data"]["state"])
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    data = answer["data"]
    assert seen == ["pending", "processing", "completed"]
    # The docs' completed sample: taskId, state, resultUrls, createTime, completeTime.
    assert {"taskId", "state", "resultUrls", "createTime", "completeTime"} <= data.keys()
    assert isinstance(data["createTime"], int) and isinstance(data["completeTime"], int)
    assert 250 <= data["completeTime"] - data["createTime"] <= 400  # 30 s x 0.01
    assert len(data["resultUrls"]) == 3
    images = []
    for url in data["resultUrls"]:
        assert url.startswith(str(client.base_url))
        image = await client.get(url, headers={"Authorization": ""})  # a CDN link needs no key
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
        assert png_size(image.content) == (64, 64)
        images.append(image.content)
    assert len(set(images)) == 3
    assert (await client.get(f"/files/{task_id}/3.png")).status_code == 404


async def test_failed_task_reports_fail_msg_like_the_docs(client: httpx.AsyncClient) -> None:
    prompt = "x [sim:fail=Content policy violation] [sim:duration=1]"
    created = await client.post(CREATE, json={**TEXT_TO_IMAGE, "prompt": prompt})
    task_id = created.json()["data"]["taskId"]
    data = await wait_for_state(client, task_id, "failed")
    assert data["failMsg"] == "Content policy violation"
    assert "resultUrls" not in data
    # No image exists for a failed task.
    assert (await client.get(f"/files/{task_id}/0.png")).status_code == 404


async def test_blocked_prompt_fails_with_the_docs_message(client: httpx.AsyncClient) -> None:
    prompt = "x [sim:blocked] [sim:duration=1]"
    created = await client.post(CREATE, json={**TEXT_TO_IMAGE, "prompt": prompt})
    data = await wait_for_state(client, created.json()["data"]["taskId"], "failed")
    assert data["failMsg"] == "Content policy violation"


async def test_never_directive_keeps_the_task_processing(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    prompt = "x [sim:never] [sim:duration=1]"
    body = {**TEXT_TO_IMAGE, "prompt": prompt, "callback_url": "http://127.0.0.1:9/hook"}
    task_id = (await client.post(CREATE, json=body)).json()["data"]["taskId"]
    await wait_for_state(client, task_id, "processing")
    await asyncio.sleep(0.1)  # ten times its duration
    data = await wait_for_state(client, task_id, "processing")
    assert "completeTime" not in data
    assert sim.callbacks.pending == 0  # nothing will ever be sent


# -- errors ---------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body.keys() == {"code", "msg", "data"}
    assert body["code"] == status and body["data"] is None
    assert isinstance(body["msg"], str) and body["msg"]


@pytest.mark.parametrize(
    ("headers", "api_key"),
    [
        ({}, None),
        ({"Authorization": "Bearer"}, None),
        ({"Authorization": "Basic dGVzdA=="}, None),
        ({"Authorization": "Bearer wrong"}, "right"),
    ],
)
async def test_unauthorized(
    client: httpx.AsyncClient, sim: Simulator, headers: dict[str, str], api_key: str | None
) -> None:
    sim.configure(api_key=api_key)
    client.headers.pop("Authorization")
    assert_error(await client.post(CREATE, json=TEXT_TO_IMAGE, headers=headers), 401)
    assert_error(await client.get(CREATE, params={"task_id": "x"}, headers=headers), 401)
    assert len(sim.tasks) == 0


async def test_configured_key_is_accepted(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.configure(api_key="right")
    response = await client.post(
        CREATE, json=TEXT_TO_IMAGE, headers={"Authorization": "Bearer right"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "no model"},
        {"model": "gemini-3-pro-image"},
        {"model": "gemini-3-pro-image", "prompt": "   "},
        {"model": 3, "prompt": "x"},
        {**TEXT_TO_IMAGE, "callback_url": "ftp://example.com/hook"},
        {**TEXT_TO_IMAGE, "callback_url": "http://"},
        {**TEXT_TO_IMAGE, "callback_url": "https://[::1"},
        {**TEXT_TO_IMAGE, "callback_url": "/relative/hook"},
        {**TEXT_TO_IMAGE, "n": 0},
        {**TEXT_TO_IMAGE, "n": "2"},
        {**TEXT_TO_IMAGE, "image_urls": "https://example.com/a.png"},
        {**TEXT_TO_IMAGE, "prompt": "x [sim:explode]"},
        {**TEXT_TO_IMAGE, "prompt": "x [sim:duration=soon]"},
        [TEXT_TO_IMAGE],
    ],
)
async def test_invalid_create_is_400(client: httpx.AsyncClient, sim: Simulator, body: Any) -> None:
    assert_error(await client.post(CREATE, json=body), 400)
    assert len(sim.tasks) == 0


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(CREATE, content=b"{nope"), 400)


async def test_status_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(CREATE), 400)
    assert_error(await client.get(CREATE, params={"task_id": "clnothere"}), 404)
    # Another gateway's task id is not an apimodels task.
    other = await client.post(
        "/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}
    )
    apimart_id = other.json()["data"][0]["task_id"]
    assert_error(await client.get(CREATE, params={"task_id": apimart_id}), 404)


# -- callbacks ------------------------------------------------------------------------


async def test_completed_callback_is_the_documented_body(hooks: Hooks) -> None:
    receiver = CallbackRecorder()
    hook = hooks.url(receiver)
    async with simulator() as (client, sim):
        request_body = {**TEXT_TO_IMAGE, "n": 2, "callback_url": hook}
        task_id = (await client.post(CREATE, json=request_body)).json()["data"]["taskId"]
        await eventually(lambda: len(receiver.calls) == 1)
        content_type, raw = receiver.calls[0].content_type, receiver.calls[0].body
        assert content_type == "application/json"
        body = orjson.loads(raw)
        assert (body["code"], body["msg"]) == (200, "success")
        data = body["data"]
        assert data.keys() == CALLBACK_KEYS
        assert data["taskId"] == task_id
        assert data["state"] == "completed"
        assert data["model"] == "google/gemini-3-pro-image-lite"
        assert isinstance(data["param"], str) and orjson.loads(data["param"]) == request_body
        assert isinstance(data["resultJson"], str)
        urls = orjson.loads(data["resultJson"])["resultUrls"]
        assert len(urls) == 2
        assert data["failCode"] is None and data["failMsg"] is None
        assert data["costTime"] == data["completeTime"] - data["createTime"] >= 0
        # The callback agrees with the status endpoint.
        polled = await wait_for_state(client, task_id, "completed")
        assert polled["resultUrls"] == urls
        assert polled["completeTime"] == data["completeTime"]
        image = await client.get(urls[1])
        assert png_size(image.content) == (64, 64)
        await asyncio.sleep(0.05)
        assert len(receiver.calls) == 1  # one POST on the terminal state, no more
        [attempt] = sim.callbacks.attempts
        assert (attempt.outcome, attempt.status_code, attempt.attempt) == ("delivered", 200, 1)


async def test_failed_callback_has_null_result_and_the_reason(hooks: Hooks) -> None:
    receiver = CallbackRecorder()
    hook = hooks.url(receiver)
    async with simulator() as (client, _):
        request_body = {
            "model": "gpt-image-2-lite",
            "prompt": "x [sim:fail=Content policy violation]",
            "callback_url": hook,
        }
        await client.post(CREATE, json=request_body)
        await eventually(lambda: len(receiver.calls) == 1)
        data = receiver.bodies()[0]["data"]
        assert data["state"] == "failed"
        assert data["resultJson"] is None
        assert data["failMsg"] == "Content policy violation"
        assert isinstance(data["failCode"], str)
        assert data["model"] == "openai/gpt-image-2-lite"
        assert orjson.loads(data["param"])["prompt"] == request_body["prompt"]


async def test_callback_retries_with_backoff_until_2xx(hooks: Hooks) -> None:
    receiver = CallbackRecorder(statuses=[500, 503])
    hook = hooks.url(receiver)
    async with simulator(time_factor=0.05) as (client, sim):
        body = {
            **TEXT_TO_IMAGE,
            "prompt": "x [sim:duration=0]",
            "callback_url": hook,
        }
        await client.post(CREATE, json=body)
        await eventually(lambda: len(receiver.calls) == 3)
        await asyncio.sleep(0.2)
        assert len(receiver.calls) == 3
    times = [call.monotonic for call in receiver.calls]
    assert times[1] - times[0] >= 0.045  # 1 s x 0.05
    assert times[2] - times[1] >= 0.095  # 2 s x 0.05
    assert len({call.body for call in receiver.calls}) == 1  # the same body every time
    log = [(a.attempt, a.phase, a.outcome, a.status_code) for a in sim.callbacks.attempts]
    assert log == [
        (1, "immediate", "failed", 500),
        (2, "immediate", "failed", 503),
        (3, "immediate", "delivered", 200),
    ]


async def test_callback_moves_to_background_retries_then_delivers(hooks: Hooks) -> None:
    receiver = CallbackRecorder(statuses=[500] * 5)
    config = {"time_factor": 0.02, "callback_background_interval": 5.0}
    hook = hooks.url(receiver)
    async with simulator(**config) as (client, sim):
        body = {
            **TEXT_TO_IMAGE,
            "prompt": "x [sim:duration=0]",
            "callback_url": hook,
        }
        await client.post(CREATE, json=body)
        await eventually(lambda: any(a.outcome == "delivered" for a in sim.callbacks.attempts))
    phases = [(a.phase, a.outcome) for a in sim.callbacks.attempts]
    assert phases == [("immediate", "failed")] * 4 + [
        ("background", "failed"),
        ("background", "delivered"),
    ]
    gap = receiver.calls[5].monotonic - receiver.calls[4].monotonic
    assert gap >= 0.095  # background interval 5 s x 0.02


async def test_callback_gives_up_after_the_retry_horizon(hooks: Hooks) -> None:
    receiver = CallbackRecorder(statuses=[500] * 100)
    config = {
        "time_factor": 0.02,
        "callback_background_interval": 4.0,
        "callback_retry_horizon": 20.0,
    }
    hook = hooks.url(receiver)
    async with simulator(**config) as (client, sim):
        body = {
            **TEXT_TO_IMAGE,
            "prompt": "x [sim:duration=0]",
            "callback_url": hook,
        }
        await client.post(CREATE, json=body)

        # the delivery records "abandoned" and then ends: its task leaves in_flight a
        # moment after the record, so both are waited for (not read in between)
        def abandoned_and_gone() -> bool:
            abandoned = any(a.outcome == "abandoned" for a in sim.callbacks.attempts)
            return abandoned and sim.callbacks.in_flight == 0

        await eventually(abandoned_and_gone)
    outcomes = [(a.phase, a.outcome) for a in sim.callbacks.attempts]
    # 4 immediate attempts end ~7 s in; background ones every 4 s while inside 20 s.
    assert outcomes[:4] == [("immediate", "failed")] * 4
    assert outcomes[4:-1] == [("background", "failed")] * (len(outcomes) - 5)
    assert 2 <= len(outcomes) - 5 <= 3
    assert outcomes[-1] == ("abandoned", "abandoned")
    assert len(receiver.calls) == len(outcomes) - 1


async def test_callback_attempt_times_out_and_is_retried(hooks: Hooks) -> None:
    receiver = CallbackRecorder(delays=[0.5])
    config = {"time_factor": 0.02, "callback_timeout": 5.0}  # 100 ms per attempt
    hook = hooks.url(receiver)
    async with simulator(**config) as (client, sim):
        body = {
            **TEXT_TO_IMAGE,
            "prompt": "x [sim:duration=0]",
            "callback_url": hook,
        }
        await client.post(CREATE, json=body)
        await eventually(lambda: any(a.outcome == "delivered" for a in sim.callbacks.attempts))
    first, second = sim.callbacks.attempts
    assert (first.outcome, first.error, first.status_code) == ("failed", "timeout", None)
    assert 90 <= first.elapsed_ms < 400
    assert (second.attempt, second.outcome) == (2, "delivered")


def sender_tasks() -> set[asyncio.Task[Any]]:
    return {
        t
        for t in asyncio.all_tasks()
        if t.get_coro().__qualname__.startswith("CallbackSender.")  # type: ignore[union-attr]
    }


async def test_shutdown_cancels_pending_deliveries(hooks: Hooks) -> None:
    receiver = CallbackRecorder(statuses=[500] * 100)
    hook = hooks.url(receiver)
    before = sender_tasks()  # the module's shared simulator runs its own sender
    async with simulator(time_factor=1.0) as (client, sim):
        body = {**TEXT_TO_IMAGE, "prompt": "x [sim:duration=0]", "callback_url": hook}
        await client.post(CREATE, json=body)
        await client.post(CREATE, json={**body, "prompt": "y [sim:duration=60]"})
        await eventually(lambda: len(receiver.calls) == 1)
        # One delivery waiting out its 1 s backoff, one callback not yet due.
        assert sim.callbacks.in_flight == 1 and sim.callbacks.pending == 1
        assert len(sender_tasks() - before) == 2
    assert sim.callbacks.in_flight == 0
    assert sender_tasks() == before


async def test_unreachable_receiver_is_logged_and_retried() -> None:
    async with simulator(callback_retry_horizon=0.0) as (client, sim):
        body = {
            **TEXT_TO_IMAGE,
            "prompt": "x [sim:duration=0]",
            "callback_url": "http://127.0.0.1:9/hook",  # nothing listens on discard
        }
        await client.post(CREATE, json=body)
        await eventually(lambda: any(a.outcome == "abandoned" for a in sim.callbacks.attempts))
    failed = [a for a in sim.callbacks.attempts if a.outcome == "failed"]
    assert [a.attempt for a in failed] == [1, 2, 3, 4]  # no background phase: horizon 0
    assert all(a.error and a.error.startswith("ConnectError") for a in failed)
