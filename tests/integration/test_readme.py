"""The README's "Use from Python" examples run, as written, against a real server
and the simulator: the five-line submit-and-wait in a separate Python process
whose environment holds only GENHOOK_URL and the token, and the Starlette webhook
receiver served on loopback, receiving a real signed delivery."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.settings import Settings
from tests.support.delivery import deliveries
from tests.support.process import client_env
from tests.support.servers import serve
from tests.support.simulated import Simulated, simulated_genhook
from tests.support.waiting import eventually

README = Path(__file__).parents[2] / "README.md"


def example(name: str) -> str:
    """The fenced Python block after ``<!-- example: name -->``."""
    found = re.search(
        rf"<!-- example: {re.escape(name)} -->\n```python\n(.*?)```", README.read_text(), re.S
    )
    assert found, f"README has no example {name!r}"
    return found.group(1)


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[Simulated]:
    wired = settings.updated(
        run_background=True,
        poll_tick_seconds=0.1,
        dispatch_tick_seconds=0.05,
        apimart_poll_first=(0.2, 0.3),
        apimart_poll_interval=(0.2, 0.3),
        delivery_allow_private_targets=True,
    )
    async with simulated_genhook(wired) as simulated:
        yield simulated


async def test_the_submit_and_wait_example_runs(world: Simulated, tmp_path: Path) -> None:
    env = client_env(world.genhook.base_url, world.genhook.token)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        example("submit-and-wait"),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    status, urls = out.decode().strip().split(" ", 1)
    assert status == "completed" and urls.startswith("['http")


async def test_the_webhook_receiver_example_verifies_a_real_delivery(
    world: Simulated, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = world.genhook.client
    namespace: dict[str, Any] = {}
    exec(compile(example("webhook-receiver"), "README.md", "exec"), namespace)
    async with serve(namespace["app"]) as receiver_url:
        subscriber = (
            await client.post(
                "/api/subscribers",
                json={"url": f"{receiver_url}/hooks/genhook", "event_types": ["task.completed"]},
            )
        ).json()
        monkeypatch.setenv("GENHOOK_WEBHOOK_SECRET", subscriber["secret"])
        async with httpx.AsyncClient() as anyone:
            forged = await anyone.post(
                f"{receiver_url}/hooks/genhook",
                content=b"{}",
                headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
            )
        assert forged.status_code == 400
        task = (
            await client.post(
                "/api/tasks",
                json={"provider": "apimall", "model": "nano-banana", "prompt": "a fox"},
            )
        ).json()

        async def delivered() -> bool:
            found = await deliveries(world.genhook.services)
            return bool(found) and found[0].status == "succeeded"

        await eventually(delivered, within=30)
    (delivery,) = await deliveries(world.genhook.services)
    assert delivery.last_status_code == 204  # verified by the example's own code
    printed = capsys.readouterr().out
    assert f"task.completed {task['id']} [" in printed
