"""The callback route over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import col, select

from receiver.settings import Settings
from storage.models import OutboxEvent, Snapshot, Task
from tests.conftest import make_settings
from tests.fixtures.apimodels import DOC_CALLBACK, DOC_FAILED_CALLBACK, callback_body
from tests.support.callbacks import new_callback_path
from tests.support.harness import Harness, running_genhook


async def get_task(genhook: Harness, task_id: str) -> dict[str, Any]:
    response = await genhook.client.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200
    return response.json()


async def test_documented_callback_completes_the_task(genhook: Harness) -> None:
    task_id, path = await new_callback_path(genhook)
    response = await genhook.client.post(path, content=DOC_CALLBACK)
    assert response.status_code == 200
    assert response.json() == {"status": "applied", "task_id": task_id}

    task = await get_task(genhook, task_id)
    assert task["status"] == "completed"
    assert task["provider_task_id"] == "clxxx..."  # learned from the callback
    assert task["result_urls"] == ["https://r2.apimodels.app/images/xxx.png"]
    assert task["last_source"] == "callback"
    assert [e["type"] for e in task["events"]] == ["task.completed"]
    assert task["events"][0]["data"]["result_urls"] == task["result_urls"]
    assert [s["outcome"] for s in task["snapshots"]] == ["applied"]
    assert task["snapshots"][0]["body"] == DOC_CALLBACK.decode()


async def test_documented_failure_fails_the_task(genhook: Harness) -> None:
    task_id, path = await new_callback_path(genhook)
    assert (await genhook.client.post(path, content=DOC_FAILED_CALLBACK)).status_code == 200
    task = await get_task(genhook, task_id)
    assert task["status"] == "failed"
    assert task["error"] == {"code": "500", "message": "Content policy violation"}
    assert [e["type"] for e in task["events"]] == ["task.failed"]


@pytest.mark.parametrize(
    ("result_json", "urls", "parse_error"),
    [
        ({"resultUrls": ["https://a/1.png"]}, ["https://a/1.png"], False),
        (None, [], False),
        ("", [], False),
        ('{"resultUrls":[]}', [], False),
        ("{broken", [], True),
    ],
)
async def test_result_json_variants(
    genhook: Harness, result_json: object, urls: list[str], parse_error: bool
) -> None:
    task_id, path = await new_callback_path(genhook)
    response = await genhook.client.post(path, content=callback_body(result_json=result_json))
    assert response.status_code == 200
    task = await get_task(genhook, task_id)
    assert task["status"] == "completed"
    assert task["result_urls"] == urls
    assert bool(task["snapshots"][0]["parse_errors"]) is parse_error


async def test_ten_duplicate_deliveries_make_one_event(genhook: Harness) -> None:
    _, path = await new_callback_path(genhook)
    responses = await asyncio.gather(
        *(genhook.client.post(path, content=DOC_CALLBACK) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    outcomes = sorted(r.json()["status"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 9
    counts = await genhook.counts()
    assert counts["outbox"] == 1
    assert counts["snapshots"] == 10


async def test_stale_and_conflicting_callbacks_never_move_a_task_backwards(
    genhook: Harness,
) -> None:
    task_id, path = await new_callback_path(genhook)
    await genhook.client.post(path, content=DOC_CALLBACK)
    stale = await genhook.client.post(path, content=callback_body(state="processing"))
    assert stale.json()["status"] == "stale"
    conflict = await genhook.client.post(path, content=DOC_FAILED_CALLBACK)
    assert conflict.json()["status"] == "anomaly"
    again = await genhook.client.post(path, content=DOC_FAILED_CALLBACK)
    assert again.json()["status"] == "duplicate"

    task = await get_task(genhook, task_id)
    assert task["status"] == "completed"
    assert task["result_urls"] == ["https://r2.apimodels.app/images/xxx.png"]
    assert task["anomalies"] == ["failed reported after completed"]
    assert [e["type"] for e in task["events"]] == ["task.completed", "task.anomaly"]


async def test_out_of_order_processing_after_completed_is_stale(genhook: Harness) -> None:
    task_id, path = await new_callback_path(genhook)
    await genhook.client.post(path, content=DOC_CALLBACK)
    late = await genhook.client.post(path, content=callback_body(state="pending"))
    assert late.status_code == 200
    assert late.json() == {"status": "stale", "task_id": task_id}
    task = await get_task(genhook, task_id)
    assert task["status"] == "completed"
    assert [s["outcome"] for s in task["snapshots"]] == ["applied", "stale"]  # kept, as stale
    assert [e["type"] for e in task["events"]] == ["task.completed"]  # and announced nothing


@pytest.mark.parametrize(
    "path_suffix",
    [
        "tsk_01ARZ3NDEKTSV4RRFFQ69G5FAV.forgedmacforgedmacforgedmac",
        "tsk_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "nodot",
    ],
)
async def test_forged_tokens_are_refused_and_nothing_is_written(
    genhook: Harness, path_suffix: str
) -> None:
    await new_callback_path(genhook)
    before = await genhook.counts()
    response = await genhook.client.post(
        f"/callbacks/apimodels/{path_suffix}", content=DOC_CALLBACK
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert await genhook.counts() == before


async def test_token_of_one_task_cannot_be_moved_to_another(genhook: Harness) -> None:
    _, path_a = await new_callback_path(genhook)
    task_b, _ = await new_callback_path(genhook)
    mac = path_a.rsplit(".", 1)[1]
    before = await genhook.counts()
    response = await genhook.client.post(
        f"/callbacks/apimodels/{task_b}.{mac}", content=DOC_CALLBACK
    )
    assert response.status_code == 401
    assert await genhook.counts() == before


async def test_missing_token_is_not_a_route(genhook: Harness) -> None:
    before = await genhook.counts()
    response = await genhook.client.post("/callbacks/apimodels/", content=DOC_CALLBACK)
    assert response.status_code == 404
    assert await genhook.counts() == before


async def test_unknown_provider_and_provider_without_callbacks_are_404(genhook: Harness) -> None:
    task_id, path = await new_callback_path(genhook)
    token = path.rsplit("/", 1)[1]
    before = await genhook.counts()
    for provider in ("nosuch", "apimall", "apimart"):
        response = await genhook.client.post(f"/callbacks/{provider}/{token}", content=DOC_CALLBACK)
        assert response.status_code == 404, provider
    assert await genhook.counts() == before  # no table written: tasks, inbox, outbox, ...
    assert (await get_task(genhook, task_id))["status"] == "pending"


async def test_oversized_body_is_413_and_nothing_is_written(genhook: Harness) -> None:
    _, path = await new_callback_path(genhook)
    before = await genhook.counts()
    big = b"x" * (256 * 1024 + 1)
    response = await genhook.client.post(path, content=big)
    assert response.status_code == 413

    async def chunked():  # no Content-Length: counted while streaming
        for _ in range(300):
            yield b"y" * 1024

    response = await genhook.client.post(path, content=chunked())
    assert response.status_code == 413
    assert await genhook.counts() == before


async def test_body_limit_is_a_setting(tmp_path, database_url: str) -> None:
    limit = len(DOC_CALLBACK)
    settings = make_settings(tmp_path, database_url, callback_max_body=limit)
    async with running_genhook(settings) as genhook:
        refused_id, refused_path = await new_callback_path(genhook)
        before = await genhook.counts()
        response = await genhook.client.post(refused_path, content=DOC_CALLBACK + b" ")
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        assert await genhook.counts() == before  # nothing stored
        assert (await get_task(genhook, refused_id))["status"] == "pending"

        task_id, path = await new_callback_path(genhook)  # exactly the limit is accepted
        accepted = await genhook.client.post(path, content=DOC_CALLBACK)
        assert accepted.json() == {"status": "applied", "task_id": task_id}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json at all",
        b"[1,2]",
        b'{"data": "nope"}',
        b'{"data": {"taskId": "x"}}',
        b"\xff\xfe",
    ],
)
async def test_unreadable_body_is_quarantined_and_acknowledged(
    genhook: Harness, body: bytes
) -> None:
    task_id, path = await new_callback_path(genhook)
    response = await genhook.client.post(path, content=body)
    assert response.status_code == 200
    assert response.json()["status"] == "quarantined"
    async with genhook.services.sessions() as session:
        rows = (await session.exec(select(Snapshot))).all()
        task = await session.get(Task, task_id)
    assert len(rows) == 1
    assert rows[0].outcome == "quarantined"
    assert rows[0].body == body  # kept byte for byte
    assert rows[0].detail
    assert task is not None and task.status == "pending"
    assert (await genhook.counts())["outbox"] == 0


async def test_callback_for_a_task_that_does_not_exist_is_quarantined(genhook: Harness) -> None:
    token = genhook.services.callback_urls.tokens.mint(
        "apimodels", "tsk_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    )
    response = await genhook.client.post(f"/callbacks/apimodels/{token}", content=DOC_CALLBACK)
    assert response.status_code == 200
    assert response.json()["status"] == "quarantined"
    async with genhook.services.sessions() as session:
        row = (await session.exec(select(Snapshot))).one()
    assert row.task_id is None and row.body == DOC_CALLBACK


async def test_a_callback_url_speaks_only_for_its_own_task(genhook: Harness) -> None:
    """Task C's URL with task D's provider task id used to make C adopt it, and D's
    genuine callback then became an anomaly and D stayed pending. Now each URL's
    report applies to its own task; an id another task holds is not adopted and is
    an anomaly on the task whose URL was used; the holder is never changed."""
    task_c, path_c = await new_callback_path(genhook)
    task_d, path_d = await new_callback_path(genhook)
    first = await genhook.client.post(
        path_c, content=callback_body(task_id="p-d", state="processing")
    )
    assert first.json() == {"status": "applied", "task_id": task_c}  # C could not know

    genuine = await genhook.client.post(path_d, content=callback_body(task_id="p-d"))
    assert genuine.status_code == 200
    assert genuine.json() == {"status": "anomaly", "task_id": task_d}
    d = await get_task(genhook, task_d)
    assert d["status"] == "completed"  # D's own URL speaks for D
    assert d["result_urls"] == ["https://r2.apimodels.app/images/xxx.png"]
    assert d["provider_task_id"] is None  # held by C: not taken from it
    assert d["anomalies"] == [f"provider task id 'p-d' belongs to task {task_c}; not adopted"]
    assert [e["type"] for e in d["events"]] == ["task.completed", "task.anomaly"]
    assert [s["outcome"] for s in d["snapshots"]] == ["anomaly"]

    c = await get_task(genhook, task_c)
    assert c["status"] == "processing"  # D's callback changed nothing on C
    assert c["provider_task_id"] == "p-d"
    assert c["anomalies"] == []
    assert [e["type"] for e in c["events"]] == ["task.processing"]

    # The provider retries D's callback: nothing new, and still nothing on C.
    again = await genhook.client.post(path_d, content=callback_body(task_id="p-d"))
    assert again.json()["status"] == "anomaly"
    assert len((await get_task(genhook, task_d))["events"]) == 2
    assert (await get_task(genhook, task_c))["status"] == "processing"


async def test_two_new_tasks_claiming_one_id_in_one_batch(genhook: Harness) -> None:
    """Concurrent first callbacks naming one id: one task adopts it, the other keeps
    its report without it (whichever the batch wrote first)."""
    (task_a, path_a), (task_b, path_b) = [await new_callback_path(genhook) for _ in range(2)]
    answers = await asyncio.gather(
        genhook.client.post(path_a, content=callback_body(task_id="same")),
        genhook.client.post(path_b, content=callback_body(task_id="same")),
    )
    assert sorted(a.json()["status"] for a in answers) == ["anomaly", "applied"]
    tasks = [await get_task(genhook, t) for t in (task_a, task_b)]
    assert [t["status"] for t in tasks] == ["completed", "completed"]
    assert sorted(str(t["provider_task_id"]) for t in tasks) == ["None", "same"]


async def test_garbage_never_gets_a_500(genhook: Harness) -> None:
    import random

    rng = random.Random(7)
    _, path = await new_callback_path(genhook)
    token = path.rsplit("/", 1)[1]
    paths = [path, f"/callbacks/apimodels/{token[:-3]}", "/callbacks/x/y", f"{path}/extra"]
    for _ in range(60):
        body = rng.randbytes(rng.randint(0, 400))
        response = await genhook.client.post(rng.choice(paths), content=body)
        assert response.status_code < 500, (response.status_code, response.text)
    async with genhook.services.sessions() as session:
        events = (await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.seq)))).all()
    assert events == []


async def test_each_callback_is_committed_before_its_answer(
    genhook: Harness, settings: Settings
) -> None:
    """Reading with a fresh engine right after the 2xx finds the write."""
    from storage.engine import create_engine, create_session_factory

    task_id, path = await new_callback_path(genhook)
    response = await genhook.client.post(path, content=DOC_CALLBACK)
    assert response.status_code == 200
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine)() as session:
            task = await session.get(Task, task_id)
    finally:
        await engine.dispose()
    assert task is not None and task.status == "completed"


async def test_nul_characters_are_stored_without_them(genhook: Harness) -> None:
    """PostgreSQL text cannot hold NUL: the callback is still applied, not retried forever."""
    task_id, path = await new_callback_path(genhook)
    body = callback_body(
        task_id="p\u0000id",
        state="failed",
        result_json=None,
        fail_code="E\u00001",
        fail_msg="bad\u0000",
    )
    response = await genhook.client.post(path, content=body)
    assert response.status_code == 200
    assert response.json()["status"] == "applied"
    task = await get_task(genhook, task_id)
    assert task["provider_task_id"] == "pid"
    assert task["error"] == {"code": "E1", "message": "bad"}
    assert task["snapshots"][0]["body"] == body.decode()  # the raw body keeps them
