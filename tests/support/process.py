"""Run the real ``genhook`` executable as a separate process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

GENHOOK = str(Path(sys.executable).with_name("genhook"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def genhook_env(data_dir: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_DATA_DIR=str(data_dir),
        GENHOOK_DATABASE_URL=database_url,
        GENHOOK_PORT=str(port),
        GENHOOK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        **extra,
    )
    return env


def run_cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GENHOOK, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def api_headers(server_env: dict[str, str]) -> dict[str, str]:
    """The admin API's header for the server of ``server_env`` (its generated token)."""
    token = (Path(server_env["GENHOOK_DATA_DIR"]) / "api-token").read_text()
    return {"Authorization": f"Bearer {token}"}


def client_env(url: str, token: str) -> dict[str, str]:
    """Another shell's environment: only where the server is and its token (no database
    URL, no provider keys, no data dir): what a CLI or a client elsewhere has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(GENHOOK_URL=url, GENHOOK_API_TOKEN=token)
    return env


def shell_env(server_env: dict[str, str]) -> dict[str, str]:
    """:func:`client_env` for the ``genhook serve`` process of ``server_env``."""
    token = (Path(server_env["GENHOOK_DATA_DIR"]) / "api-token").read_text()
    return client_env(f"http://127.0.0.1:{server_env['GENHOOK_PORT']}", token)


@contextlib.contextmanager
def genhook_server(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``genhook serve`` in its own process, ready when ``/healthz`` answers."""
    with genhook_process(["serve"], env, log, f"http://127.0.0.1:{env['GENHOOK_PORT']}") as p:
        yield p


@contextlib.contextmanager
def genhook_process(
    args: list[str], env: dict[str, str], log: Path, ready_url: str, *, path: str = "/healthz"
) -> Iterator[subprocess.Popen[bytes]]:
    """``genhook ARGS...`` in its own process (stdout and stderr to ``log``), ready when
    ``ready_url + path`` answers 200; terminated (SIGTERM) at the end of the block."""
    with log.open("wb") as log_file:
        process = subprocess.Popen([GENHOOK, *args], env=env, stdout=log_file, stderr=log_file)
        try:
            wait_healthy(ready_url, process, log, path=path)
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log: Path, *, path: str = "/healthz"
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}{path}", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"genhook did not become healthy:\n{log.read_text()}")
