"""Values no column can hold, from providers and clients: nobody else is stalled.

Each test replays one way a single value used to stop genhook for everyone, through
the real parts (uvicorn on loopback, the simulator over HTTP, SQLite and PostgreSQL):
an integer beyond 64 bits in a submission (every dispatch pass and SSE stream failed
on it), one APIMart answer with ``actual_time`` of 10^16 (the poll pass rolled back
for all its tasks), and callback bodies whose numbers or nesting made the callback
route answer 500 and store nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from receiver.lifecycle import EventType, Status
from receiver.submit import SubmitRequest
from storage.models import OutboxEvent, Snapshot, Task
from tests.conftest import FakeClock, make_settings
from tests.fixtures.apimodels import callback_body
from tests.support.callbacks import new_callback_path
from tests.support.cdn import running_cdn
from tests.support.delivery import attempts, deliveries, emit, make_task
from tests.support.downstream import Reply, always, downstream
from tests.support.harness import Harness, running_genhook
from tests.support.simulated import Simulated

BIG = 10**20  # beyond 64 bits


def nested(depth: int, leaf: str) -> str:
    return "[" * depth + leaf + "]" * depth


def with_raw_field(name: str, raw: str) -> bytes:
    """The documented callback with ``data.<name>`` replaced by raw JSON text."""
    document = json.loads(callback_body())
    document["data"][name] = "__RAW__"
    return json.dumps(document).replace('"__RAW__"', raw).encode()


POISON_CALLBACKS = {
    "costTime 2^63": with_raw_field("costTime", str(2**63)),
    "costTime 1e300": with_raw_field("costTime", "1e300"),
    "costTime numeric string": with_raw_field("costTime", '"99999999999999999999"'),
    "costTime 2^31 (PostgreSQL INTEGER)": with_raw_field("costTime", str(2**31)),
    "failCode nested 300 deep": with_raw_field("failCode", nested(300, '"x"')),
    "taskId nested 300 deep": with_raw_field("taskId", nested(300, '"x"')),
    "model nested 300 deep": with_raw_field("model", nested(300, '"x"')),
    "completeTime nested 1000 deep": with_raw_field("completeTime", nested(1000, "1")),
    "createTime nested 1000 deep": with_raw_field("createTime", nested(1000, "1")),
    "taskId of 300 characters": with_raw_field("taskId", json.dumps("t" * 300)),
    "failMsg of 100 kB": with_raw_field("failMsg", json.dumps("m" * 100_000)),
    "resultJson nested 2000 deep": with_raw_field("resultJson", json.dumps(nested(2000, "1"))),
}


@pytest.mark.parametrize("body", POISON_CALLBACKS.values(), ids=POISON_CALLBACKS.keys())
async def test_a_valid_token_is_always_applied_or_quarantined(
    genhook: Harness, body: bytes
) -> None:
    task_id, path = await new_callback_path(genhook)
    response = await genhook.client.post(path, content=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("applied", "quarantined")
    async with genhook.services.sessions() as session:
        [row] = (await session.exec(select(Snapshot))).all()
        task = await session.get(Task, task_id)
    assert row.body == body  # the raw body is kept byte for byte
    assert task is not None
    if response.json()["status"] == "applied":
        assert task.status == Status.COMPLETED
        if b'"model"' not in body.split(b"[[", 1)[0][-12:]:  # model is not read at all
            assert row.parse_errors, "what was dropped is said"
    # the provider's retry is answered the same way, not with an error
    again = await genhook.client.post(path, content=body)
    assert again.status_code == 200


async def test_an_out_of_range_cost_is_dropped_and_said(genhook: Harness) -> None:
    task_id, path = await new_callback_path(genhook)
    await genhook.client.post(path, content=POISON_CALLBACKS["costTime 2^63"])
    task = (await genhook.client.get(f"/api/tasks/{task_id}")).json()
    assert task["status"] == "completed"
    assert task["provider_timing"]["cost_ms"] is None
    assert task["provider_timing"]["completed_at"] is not None  # the rest is kept
    [snapshot] = task["snapshots"]
    assert any("provider_cost_ms" in e and "out of range" in e for e in snapshot["parse_errors"])


async def test_an_integer_beyond_64_bits_in_a_submission_blocks_nobody(
    tmp_path: Path, database_url: str
) -> None:
    """It used to be stored with the failed task; then every dispatch pass failed
    (``Integer exceeds 64-bit range`` in the claim), other tasks' webhooks stopped
    and SSE streams were cut, across restarts."""
    settings = make_settings(tmp_path, database_url, delivery_allow_private_targets=True)
    async with downstream() as receiver, running_genhook(settings) as genhook:
        added = await genhook.client.post("/api/subscribers", json={"url": receiver.url()})
        assert added.status_code == 201
        poisoned = await genhook.client.post(
            "/api/tasks",
            json={
                "provider": "apimart",
                "model": "gpt-image-2",
                "prompt": "x",
                "params": {"n": BIG},
            },
        )
        assert poisoned.status_code == 422
        assert poisoned.json()["error"]["field"] == "params.n"
        services = genhook.services
        other = await make_task(services)
        event_id = await emit(services, other, EventType.PROCESSING)

        report = await services.dispatcher(holder="d").dispatch_once()
        assert report.verdicts == {"succeeded": 1}
        assert [r.event_id for r in receiver.received] == [event_id]
        assert (await genhook.client.get("/api/tasks")).status_code == 200
        assert await stream_ids(genhook, {"task_id": other}) == [event_id]


async def test_a_poison_row_from_before_the_fix_blocks_nobody(
    tmp_path: Path, database_url: str
) -> None:
    """A database written before values were fitted may hold an event payload that
    cannot be encoded as it is (the json module wrote what orjson refuses): it is
    delivered (fitted), and so is everything after."""
    settings = make_settings(tmp_path, database_url, delivery_allow_private_targets=True)
    async with downstream() as receiver, running_genhook(settings) as genhook:
        await genhook.client.post("/api/subscribers", json={"url": receiver.url()})
        services = genhook.services
        old = await make_task(services)
        poison_id = await emit(services, old, EventType.FAILED)
        sqlite = services.engine.dialect.name == "sqlite"
        async with services.sessions() as session, session.begin():
            row = (await session.exec(select(OutboxEvent))).one()
            # PostgreSQL's json type refuses Infinity; SQLite kept whatever was written.
            legacy = {"n": BIG, "ratio": float("inf")} if sqlite else {"n": BIG}
            payload = {**row.payload, "data": {**row.payload["data"], "request": legacy}}
            value = ":payload" if sqlite else "CAST(:payload AS JSON)"
            connection = await session.connection()  # raw text: past the engine's encoder
            await connection.execute(
                text(f"UPDATE outbox SET payload = {value} WHERE seq = :seq"),
                {"payload": json.dumps(payload), "seq": row.seq},
            )
        fine_id = await emit(services, await make_task(services), EventType.PROCESSING)

        report = await services.dispatcher(holder="d").dispatch_once()
        assert report.verdicts == {"succeeded": 2}
        delivered = {r.event_id: r for r in receiver.received}
        assert set(delivered) == {poison_id, fine_id}
        request = json.loads(delivered[poison_id].body)["data"]["request"]
        # orjson reads an integer beyond 64 bits as the nearest float; a payload with
        # Infinity is read by the json module instead, and its values fitted.
        assert request == ({"n": str(BIG), "ratio": None} if sqlite else {"n": float(BIG)})
        assert await stream_ids(genhook, {"task_id": old}) == [poison_id]
        detail = await genhook.client.get(f"/api/tasks/{old}")
        assert detail.status_code == 200


async def test_a_subscriber_answering_nul_bytes_is_recorded(
    tmp_path: Path, database_url: str
) -> None:
    """An answer body with NUL bytes (a PNG, a binary error page) was kept as the
    attempt's response text; PostgreSQL refused it, the pass's record failed and the
    delivery was sent again at every lease, forever."""
    settings = make_settings(tmp_path, database_url, delivery_allow_private_targets=True)
    async with (
        downstream(always(Reply(200, body=b"\x89PNG\x00\x00binary"))) as receiver,
        running_genhook(settings) as genhook,
    ):
        services = genhook.services
        await services.subscribers.add(receiver.url())
        await emit(services, await make_task(services))
        report = await services.dispatcher(holder="d").dispatch_once()
        assert report.verdicts == {"succeeded": 1}
        [delivery] = await deliveries(services)
        assert delivery.id is not None
        [attempt] = await attempts(services, delivery.id)
    assert delivery.status == "succeeded"
    assert attempt.response_body is not None and "\x00" not in attempt.response_body


async def stream_ids(genhook: Harness, params: dict[str, str], within: float = 3) -> list[str]:
    """The event ids the live stream serves for ``params`` within ``within`` seconds."""
    ids: list[str] = []
    try:
        async with asyncio.timeout(within):
            async with genhook.client.stream("GET", "/api/events", params=params) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("id:"):
                        ids.append(line.split(":", 1)[1].strip())
                        return ids
    except TimeoutError:
        pass
    return ids


async def test_one_bad_poll_answer_stalls_nobody(polled: Simulated, fake_clock: FakeClock) -> None:
    """APIMart answering ``actual_time: 10**16`` for one of five tasks used to roll
    back the whole pass (``OverflowError`` on the SQLite INTEGER): all five stayed
    pending and the pass repeated after every lease."""
    services = polled.genhook.services
    submitter = services.submitter(rng=random.Random(1))
    prompts = [f"fox {i}" for i in range(4)] + ["fox [sim:answer=actual_time:10000000000000000]"]
    ids = []
    for prompt in prompts:
        task = await submitter.submit(
            SubmitRequest("apimart", "gemini-2.5-flash-image-preview", prompt, {})
        )
        ids.append(task.id)
    fake_clock.advance(25)  # every task finished and due (first poll 10-20 s)
    report = await services.poller(holder="p", rng=random.Random(0)).poll_once()
    assert report.claimed == 5
    async with services.sessions() as session:
        tasks = (await session.exec(select(Task).where(col(Task.id).in_(ids)))).all()
        bad = await session.get(Task, ids[-1])
        [snapshot] = (
            await session.exec(
                select(Snapshot).where(Snapshot.task_id == ids[-1], Snapshot.source == "poll")
            )
        ).all()
    assert {t.status for t in tasks} == {Status.COMPLETED}
    assert bad is not None and bad.provider_cost_ms is None
    assert any("provider_cost_ms" in e for e in snapshot.parse_errors)
    assert all(t.lease_holder is None for t in tasks)


async def test_a_late_result_url_is_still_mirrored(tmp_path: Path, database_url: str) -> None:
    """A task that completed without URLs and learned them from a later duplicate
    never mirrored them."""
    settings = make_settings(tmp_path, database_url, assets_allow_private=True)
    async with running_cdn() as images, running_genhook(settings) as genhook:
        task_id, path = await new_callback_path(genhook)
        await genhook.client.post(path, content=callback_body(result_json=None))
        late = callback_body(result_json=json.dumps({"resultUrls": [f"{images.url}/png"]}))
        duplicate = await genhook.client.post(path, content=late)
        assert duplicate.json()["status"] == "duplicate"
        report = await genhook.services.mirror(holder="m").mirror_once()
        assert report.stored == 1 and report.tasks_ready == 1
        task = (await genhook.client.get(f"/api/tasks/{task_id}")).json()
    assert task["result_urls"] == [f"{images.url}/png"]
    assert task["asset_urls"] and task["assets"][0]["status"] == "stored"
    assert [e["type"] for e in task["events"]] == ["task.completed", "task.assets_ready"]


async def test_nan_in_a_submission_is_refused_before_anything_is_stored(
    genhook: Harness,
) -> None:
    body = b'{"provider": "apimart", "model": "gpt-image-2", "prompt": "x", "params": {"x": NaN}}'
    response = await genhook.client.post("/api/tasks", content=body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "params.x"
    assert (await genhook.counts())["tasks"] == 0
