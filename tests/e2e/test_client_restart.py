"""``Genhook.wait`` across a server restart, with real processes: ``genhook
simulate`` and ``genhook serve``, stopped with SIGTERM in the middle of the wait and
started again. The wait resumes the event stream after the last event it saw
(``Last-Event-ID``) and returns the completed task; no event is seen twice."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.client import Genhook
from receiver.lifecycle import Status
from tests.support.process import GENHOOK, free_port, genhook_env, genhook_server, wait_healthy


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "sim.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [GENHOOK, "simulate", "--port", str(port)], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}/_sim", process, log, path="")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_wait_survives_the_server_restarting_mid_wait(
    tmp_path: Path, database_url: str, simulator: str
) -> None:
    env = genhook_env(
        tmp_path / "data",
        database_url,
        free_port(),
        GENHOOK_APIMALL_BASE_URL=simulator,
        GENHOOK_APIMALL_API_KEY="any",
        GENHOOK_APIMALL_POLL_FIRST="[0.3,0.3]",
        GENHOOK_APIMALL_POLL_INTERVAL="[0.3,0.3]",
        GENHOOK_POLL_TICK_SECONDS="0.1",
        # a poll lease the stopped server held must not outlast the test
        GENHOOK_POLL_LEASE_SECONDS="2",
        GENHOOK_EVENTS_POLL_SECONDS="0.05",
    )
    url = f"http://127.0.0.1:{env['GENHOOK_PORT']}"
    seen: list[tuple[str, str | None]] = []
    waiting = threading.Event()
    outcome: dict[str, Any] = {}

    def record(task: Any, event_type: str | None) -> None:
        seen.append((task.status, event_type))
        waiting.set()

    with genhook_server(env, tmp_path / "serve-1.log"):
        token = (tmp_path / "data" / "api-token").read_text()
        genhook = Genhook(url, token)
        task = genhook.submit("apimall", model="nano-banana", prompt="[sim:duration=5] a fox")
        assert task.status is Status.PENDING

        def wait() -> None:
            try:
                outcome["task"] = genhook.wait(task.id, timeout=60, on_update=record)
            except Exception as exc:  # handed to the test thread
                outcome["error"] = exc

        waiter = threading.Thread(target=wait)
        waiter.start()
        assert waiting.wait(10)
        time.sleep(0.5)  # the stream is open and has given the history
    # SIGTERM'd: the server is gone while the wait goes on
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=1)
    assert waiter.is_alive() and "task" not in outcome
    time.sleep(1)

    with genhook_server(env, tmp_path / "serve-2.log"):
        waiter.join(45)
        assert not waiter.is_alive()
    genhook.close()
    assert "error" not in outcome, outcome
    done = outcome["task"]
    assert done.id == task.id and done.status is Status.COMPLETED and done.result_urls
    events = [event for _, event in seen if event is not None]
    assert events.count("task.submitted") == 1  # resumed after it, not replayed
    assert events[-1] == "task.completed"
