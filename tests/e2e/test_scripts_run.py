"""``scripts/run`` as a newcomer runs it, then stops it with ``kill <pid>``: the
server and the simulator it started go with it (they used to keep running)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.process import free_port
from tests.support.waiting import eventually_blocking

ROOT = Path(__file__).parents[2]


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_sigterm_stops_the_server_and_the_simulator(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_PORT=str(port),
        GENHOOK_SIM_PORT=str(sim_port),
        GENHOOK_DATA_DIR=str(tmp_path / "data"),
        GENHOOK_NO_DEMO="1",
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        # its own session, so that cleanup can end the whole group if the test fails
        script = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run")],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    server, simulator = f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{sim_port}/_sim"
    try:
        deadline = time.monotonic() + 60
        while not (answers(server) and answers(simulator)):
            assert script.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert f"127.0.0.1:{port}/login?token=" in log.read_text()  # the printed link

        script.send_signal(signal.SIGTERM)  # what `kill <pid>` sends
        assert script.wait(timeout=20) != 0
        assert not answers(server) and not answers(simulator)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)


def test_the_first_run_completes_one_task_per_gateway(tmp_path: Path) -> None:
    """The README's first run: ``scripts/run`` with no keys starts the simulator and
    ``genhook demo``, which submits one job to each gateway; all three complete (the
    apimodels.app one by its callback, the others by polling) and the demo's
    subscriber verifies their webhooks."""
    port, sim_port = free_port(), free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_PORT=str(port),
        GENHOOK_SIM_PORT=str(sim_port),
        GENHOOK_DATA_DIR=str(data),
        GENHOOK_SIM_TIME_FACTOR="0.05",
        **{
            f"GENHOOK_{p}_{what}": value
            for p in ("APIMALL", "APIMART")
            for what, value in (("POLL_FIRST", "[1,1.5]"), ("POLL_INTERVAL", "[0.5,0.5]"))
        },
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        script = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run")],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def finished() -> list[dict[str, object]]:  # empty until all three completed
            assert script.poll() is None, log.read_text()
            token_file = data / "api-token"
            if not token_file.exists():
                return []
            auth = {"Authorization": f"Bearer {token_file.read_text()}"}
            try:
                tasks = httpx.get(f"{base}/api/tasks", headers=auth, timeout=2).json()["tasks"]
            except httpx.HTTPError:
                return []
            done = len(tasks) == 3 and all(t["status"] == "completed" for t in tasks)
            return tasks if done else []

        tasks = eventually_blocking(finished, within=90, every=0.2, what="the demo's tasks")
        by_provider = {t["provider"]: t["last_source"] for t in tasks}
        assert by_provider == {"apimodels": "callback", "apimall": "poll", "apimart": "poll"}
        eventually_blocking(
            lambda: "signature verified" in log.read_text(), within=30, what="verified webhooks"
        )
        script.send_signal(signal.SIGTERM)
        script.wait(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)
