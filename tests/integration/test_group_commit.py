"""Group commit: concurrent callbacks share transactions; one bad row fails alone."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from sqlalchemy import event
from sqlalchemy.engine import Connection

from tests.fixtures.apimodels import callback_body
from tests.support.harness import Harness


async def callback_paths(genhook: Harness, count: int) -> list[tuple[str, str]]:
    paths = []
    for _ in range(count):
        created = (
            await genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
        ).json()
        paths.append((created["task_id"], urlsplit(created["callback_url"]).path))
    return paths


async def test_concurrent_callbacks_share_commits(genhook: Harness) -> None:
    paths = await callback_paths(genhook, 60)
    commits = 0

    def count(_: Connection) -> None:
        nonlocal commits
        commits += 1

    event.listen(genhook.services.engine.sync_engine, "commit", count)
    try:
        responses = await asyncio.gather(
            *(
                genhook.client.post(path, content=callback_body(task_id=f"p-{i}"))
                for i, (_, path) in enumerate(paths)
            )
        )
    finally:
        event.remove(genhook.services.engine.sync_engine, "commit", count)
    assert [r.json()["status"] for r in responses] == ["applied"] * 60
    assert commits < 60  # several callbacks rode on each commit
    assert (await genhook.counts())["outbox"] == 60


async def test_one_bad_row_does_not_fail_its_batch(genhook: Harness) -> None:
    paths = await callback_paths(genhook, 30)
    _, first_path = paths[0]
    await genhook.client.post(first_path, content=callback_body(task_id="taken"))
    # Task 7 claims a provider task id that task 0 owns: a unique violation that
    # fails any transaction it is in. Its 28 neighbours must still be applied.
    bodies = [callback_body(task_id="taken" if i == 7 else f"p-{i}") for i in range(1, len(paths))]
    responses = await asyncio.gather(
        *(
            genhook.client.post(path, content=body)
            for (_, path), body in zip(paths[1:], bodies, strict=True)
        )
    )
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("applied") == 28
    assert statuses[6] == "anomaly"
    assert all(r.status_code == 200 for r in responses)
