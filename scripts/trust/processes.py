"""Real processes for the chaos sections: ``genhook serve``, ``genhook simulate``.

Each runs with its output in a log file (read afterwards for tracebacks) and is
stopped with the block, by its own pid; :func:`kill_9` is the crash under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

GENHOOK = str(Path(sys.executable).with_name("genhook"))
SECRET = "chaos-secret-0123456789abcdef"
API_TOKEN = "chaos-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
SIM_KEY = "chaos-key"
PROVIDERS = ("apimodels", "apimall", "apimart")
TRACEBACK = "Traceback (most recent call last)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running process, where it listens, and its log."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def rss_kib(self) -> int:
        """Resident memory of the process now (``VmRSS``), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def admin(self, **options: Any) -> httpx.AsyncClient:
        """A client of this server's admin API, with its token."""
        return httpx.AsyncClient(base_url=self.url, headers=ADMIN, **options)

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count(TRACEBACK) if self.log.exists() else 0


def genhook_env(data_dir: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_DATA_DIR=str(data_dir),
        GENHOOK_DATABASE_URL=database_url,
        GENHOOK_PORT=str(port),
        GENHOOK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        GENHOOK_SECRET=SECRET,
        GENHOOK_API_TOKEN=API_TOKEN,
        GENHOOK_LOG_LEVEL="info",
        **extra,
    )
    return env


def simulator_env(sim_url: str) -> dict[str, str]:
    """genhook settings that point every gateway at the simulator."""
    env = {}
    for provider in PROVIDERS:
        env[f"GENHOOK_{provider.upper()}_BASE_URL"] = sim_url
        env[f"GENHOOK_{provider.upper()}_API_KEY"] = SIM_KEY
    return env


@contextlib.contextmanager
def running(
    args: list[str], env: dict[str, str], log: Path, url: str, health: str
) -> Iterator[Server]:
    server = start(args, env, log, url, health)
    try:
        yield server
    finally:
        stop(server)


def start(args: list[str], env: dict[str, str], log: Path, url: str, health: str) -> Server:
    handle = log.open("ab")
    process = subprocess.Popen(args, env=env, stdout=handle, stderr=handle)
    handle.close()
    server = Server(process, url, log, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[1]} exited early:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{health}", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"{args[1]} did not become healthy:\n{log.read_text(errors='replace')}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def kill_9(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)


def serve_genhook(env: dict[str, str], log: Path) -> Server:
    return start([GENHOOK, "serve"], env, log, env["GENHOOK_PUBLIC_URL"], "/healthz")


@contextlib.contextmanager
def simulator(log: Path, *flags: str) -> Iterator[Server]:
    port = free_port()
    args = [
        GENHOOK,
        "simulate",
        "--port",
        str(port),
        "--api-key",
        SIM_KEY,
        "--log-level",
        "warning",
        *flags,
    ]
    url = f"http://127.0.0.1:{port}"
    with running(args, dict(os.environ), log, url, "/_sim/stats") as server:
        yield server


def migrate(env: dict[str, str]) -> None:
    """``genhook db upgrade`` (PostgreSQL is migrated only by this, as in production)."""
    subprocess.run([GENHOOK, "db", "upgrade"], env=env, check=True, capture_output=True)
