"""``kill -9`` the server while callbacks pour in: every 2xx'd callback survives.

"Survives" is all three things the 200 promised: the callback itself in the inbox
(byte for byte), the task's new state and its ``task.completed`` event. The test
also proves the kill landed mid-run: some callbacks were never answered.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlmodel import select

from receiver.lifecycle import Status
from storage.engine import create_engine, create_session_factory
from storage.models import OutboxEvent, Snapshot, Task
from tests.fixtures.apimodels import callback_body
from tests.support.process import api_headers, free_port, genhook_env, genhook_server


def test_acknowledged_callbacks_survive_kill_9(tmp_path: Path, database_url: str) -> None:
    env = genhook_env(tmp_path / "data", database_url, free_port())
    base_url = env["GENHOOK_PUBLIC_URL"]
    acknowledged: list[str] = []
    unanswered: list[str] = []  # no answer: the connection died with the server

    async def pour(tasks: list[dict[str, str]], server_pid_kill: asyncio.Event) -> None:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base_url, timeout=5, limits=limits) as client:

            async def one(info: dict[str, str]) -> None:
                path = urlsplit(info["callback_url"]).path
                body = callback_body(task_id=f"p-{info['task_id']}")
                try:
                    response = await client.post(path, content=body)
                except httpx.HTTPError:
                    unanswered.append(info["task_id"])
                    return
                if response.status_code == 200:
                    acknowledged.append(info["task_id"])
                    if len(acknowledged) == 30:
                        server_pid_kill.set()

            await asyncio.gather(*(one(info) for info in tasks))

    with genhook_server(env, tmp_path / "serve.log") as process:
        created = [
            httpx.post(
                f"{base_url}/api/callback-urls",
                json={"provider": "apimodels"},
                headers=api_headers(env),
            ).json()
            for _ in range(120)
        ]

        async def scenario() -> None:
            kill_now = asyncio.Event()

            async def killer() -> None:
                await kill_now.wait()
                process.send_signal(signal.SIGKILL)

            await asyncio.gather(pour(created, kill_now), killer())

        asyncio.run(scenario())
        process.wait(timeout=10)

    assert len(acknowledged) >= 30
    assert unanswered, "the kill landed after every callback was answered: nothing was tested"
    assert len(acknowledged) + len(unanswered) == len(created)

    async def check() -> list[tuple[str, str]]:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as session:
                lost = []
                for task_id in acknowledged:
                    task = await session.get(Task, task_id)
                    if task is None or task.status != Status.COMPLETED:
                        lost.append((task_id, "task not completed"))
                    inbox = (
                        await session.exec(select(Snapshot).where(Snapshot.task_id == task_id))
                    ).all()
                    body = callback_body(task_id=f"p-{task_id}")
                    if [(s.outcome, s.body) for s in inbox] != [("applied", body)]:
                        lost.append((task_id, "callback not in the inbox"))
                    events = (
                        await session.exec(
                            select(OutboxEvent).where(OutboxEvent.task_id == task_id)
                        )
                    ).all()
                    if [e.type for e in events] != ["task.completed"]:
                        lost.append((task_id, "event missing"))
                return lost
        finally:
            await engine.dispose()

    assert asyncio.run(check()) == []
