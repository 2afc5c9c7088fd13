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
