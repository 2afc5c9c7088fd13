"""Real genhook processes for the deployment tests: web, workers, their logs.

Each process writes its own log file; :func:`clean_log` is what a normal run and a
normal stop must look like (no traceback, no ERROR or CRITICAL line).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fixtures.apimodels import callback_body
from tests.support.process import GENHOOK, wait_healthy

TOKEN = "fleet-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def holder(self) -> str:
        """The lease holder name it claims work with."""
        return f"{socket.gethostname()}:{self.process.pid}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        """Send ``sig``; returns (exit code, seconds until it exited)."""
        began = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        return code, time.monotonic() - began

    def ensure_stopped(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([GENHOOK, *args], env=env, stdout=out, stderr=out)
    return Proc(name, process, log)


def start_web(name: str, env: dict[str, str], log_dir: Path, port: int, *extra: str) -> Proc:
    proc = start(name, ["serve", "--port", str(port), *extra], env, log_dir)
    wait_healthy(f"http://127.0.0.1:{port}", proc.process, proc.log)
    return proc


def start_worker(name: str, env: dict[str, str], log_dir: Path) -> Proc:
    proc = start(name, ["worker"], env, log_dir)
    deadline = time.monotonic() + 30
    while "running; Ctrl-C to stop" not in proc.text():
        assert proc.process.poll() is None, proc.text()
        assert time.monotonic() < deadline, proc.text()
        time.sleep(0.05)
    return proc


def clean_log(text: str) -> list[str]:
    """The lines of a log that a normal run must not have."""
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line or " ERROR " in line or " CRITICAL " in line
    ]


async def completed_by_callback(client: httpx.AsyncClient) -> str:
    """A receiver-only apimodels task, completed by its callback; returns its id."""
    created = (await client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
    body = callback_body(task_id=f"p-{created['task_id']}", result_json='{"resultUrls": []}')
    path = "/callbacks/apimodels/" + created["callback_url"].rsplit("/", 1)[1]
    response = await client.post(path, content=body)
    assert response.status_code == 200, response.text
    return str(created["task_id"])


def event_type(body: bytes) -> str:
    return str(json.loads(body)["type"])
