"""Ingest throughput: genhook's callback route vs a bare Starlette endpoint.

Both servers run the same way (uvicorn, one process) pinned to CPU 0; ``wrk`` runs
pinned to CPU 1 with 32 connections. Workload: distinct pre-created tasks, each
receiving its callback and then two duplicates (request ``i`` goes to task
``i mod N``, so a task's duplicates come a full round later, as provider retries
do). Printed: requests/s, p50/p99 latency, non-2xx answers and the server's peak RSS,
and genhook's ratio to the bare endpoint measured in the same run.

``--kill-check`` instead kills genhook with SIGKILL halfway through a run and checks
that every callback that got a 2xx is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from receiver.tokens import CallbackTokens
from storage.engine import create_engine
from storage.migrate import upgrade

SECRET = "bench-secret-0123456789abcdef"
TASKS = 40_000
CONNECTIONS = 32
DURATION_S = 10
SERVER_CPU, LOAD_CPU = "0", "1"
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

_LUA = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local n = #paths
local i = 0
local template = [[%(body)s]]
local acked = %(acked)s
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local k = (i %% n) + 1
  i = i + 1
  return wrk.format(nil, paths[k], nil, string.format(template, "bench-" .. k))
end
if acked then
  local out = io.open(acked, "a")
  response = function(status, headers, body)
    if status == 200 then out:write(body, "\\n"); out:flush() end
  end
end
"""

_BODY = (
    '{"code":200,"msg":"success","data":{"taskId":"%s","model":"google/gemini-3-pro-image",'
    '"state":"completed","param":"{\\"prompt\\":\\"a fox\\"}",'
    '"resultJson":"{\\"resultUrls\\":[\\"https://r2.apimodels.app/images/x.png\\"]}",'
    '"failCode":null,"failMsg":null,"costTime":12345,"completeTime":1705123465000,'
    '"createTime":1705123450000}}'
)

# One INSERT ... SELECT per dialect: pre-created receiver-mode tasks, tsk_bench_000000001...
_FILL = {
    "sqlite": """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :total)
INSERT INTO tasks (id, provider, origin, status, result_urls, anomalies, created_at,
                   updated_at, deadline_at, poll_attempts)
SELECT printf('tsk_bench_%09d', i), 'apimodels', 'receiver', 'pending', '[]', '[]',
       :now, :now, :deadline, 0
FROM n
""",
    "postgresql": """
INSERT INTO tasks (id, provider, origin, status, result_urls, anomalies, created_at,
                   updated_at, deadline_at, poll_attempts)
SELECT 'tsk_bench_' || lpad(i::text, 9, '0'), 'apimodels', 'receiver', 'pending',
       '[]'::json, '[]'::json, :now, :now, :deadline, 0
FROM generate_series(1, :total) AS i
""",
}
# ... and each one's attempt 1, as ``/api/callback-urls`` creates it (the ledger row
# every applied callback updates).
_FILL_ATTEMPTS = """
INSERT INTO attempts (task_id, number, provider, outcome, result_urls, cost_unit, started_at)
SELECT id, 1, provider, 'running', '[]', 'USD', created_at FROM tasks
WHERE id LIKE 'tsk_bench_%'
"""


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    peak_rss_mb: float
    total: int


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        print("installing wrk (Debian package)...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return wrk


async def _prepare_database(url: str, tasks: int) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        now = datetime.now(UTC)
        if engine.dialect.name == "sqlite":
            now = now.replace(tzinfo=None)  # as UTCDateTime stores it there
        async with engine.begin() as connection:
            await connection.execute(
                text(_FILL[engine.dialect.name]),
                {"total": tasks, "now": now, "deadline": now + timedelta(hours=2)},
            )
            await connection.execute(text(_FILL_ATTEMPTS))
    finally:
        await engine.dispose()


def _write_paths(path: Path, tasks: int) -> None:
    minted = CallbackTokens(SECRET.encode())
    with path.open("w") as out:
        for i in range(1, tasks + 1):
            token = minted.mint("apimodels", f"tsk_bench_{i:09d}")
            out.write(f"/callbacks/apimodels/{token}\n")


@contextlib.contextmanager
def _server(
    command: list[str], port: int, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as log_file:  # a pipe nobody reads would stall the server
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command], env=env, stdout=log_file, stderr=log_file
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server died:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"http://127.0.0.1:{port}/callbacks/x/y", timeout=1)
                break
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


def _peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _wrk(wrk: str, port: int, script: Path, duration: float) -> str:
    result = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            wrk,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _parse(output: str, rss: float) -> LoadResult:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if match is None:
            raise ValueError(f"no {label}% latency in wrk output:\n{output}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: .*timeout (\d+)", output)
    return LoadResult(
        rps,
        latency("50"),
        latency("99"),
        (int(non_2xx.group(1)) if non_2xx else 0) + (int(errors.group(1)) if errors else 0),
        rss,
        total,
    )


def _genhook_env(data_dir: Path, url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_DATA_DIR=str(data_dir),
        GENHOOK_DATABASE_URL=url,
        GENHOOK_SECRET=SECRET,
        GENHOOK_PORT=str(port),
        GENHOOK_LOG_LEVEL="warning",
        GENHOOK_RUN_BACKGROUND="false",
    )
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workload(tmp: Path, postgres_url: str | None, acked: Path | None) -> tuple[str, Path]:
    url = postgres_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    if postgres_url:
        asyncio.run(_reset_postgres(postgres_url))
    asyncio.run(_prepare_database(url, TASKS))
    paths = tmp / "paths.txt"
    _write_paths(paths, TASKS)
    script = tmp / "load.lua"
    script.write_text(
        _LUA
        % {
            "paths": paths,
            "body": _BODY,
            "acked": f'"{acked}"' if acked else "nil",
        }
    )
    return url, script


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def measure(postgres_url: str | None) -> tuple[LoadResult, LoadResult]:
    wrk = require_wrk()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url, script = _workload(tmp, postgres_url, None)

        port = _free_port()
        bare_cmd = [str(BIN / "python"), "-m", "scripts.benchmarks.bare_app", str(port)]
        bare_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with _server(bare_cmd, port, bare_env, tmp / "bare.log") as bare:
            _wrk(wrk, port, script, 2)  # warm-up
            output = _wrk(wrk, port, script, DURATION_S)
            bare_result = _parse(output, _peak_rss_mb(bare.pid))

        port = _free_port()
        env = _genhook_env(tmp / "data", url, port)
        with _server([str(BIN / "genhook"), "serve"], port, env, tmp / "genhook.log") as server:
            _wrk(wrk, port, script, 2)  # warm-up, as for the bare endpoint
            output = _wrk(wrk, port, script, DURATION_S)
            genhook_result = _parse(output, _peak_rss_mb(server.pid))
    return bare_result, genhook_result


def kill_check(postgres_url: str | None) -> tuple[int, int]:
    """SIGKILL genhook mid-run; return (acknowledged, missing from the database)."""
    wrk = require_wrk()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        acked_file = tmp / "acked.jsonl"
        url, script = _workload(tmp, postgres_url, acked_file)
        port = _free_port()
        env = _genhook_env(tmp / "data", url, port)
        with _server([str(BIN / "genhook"), "serve"], port, env, tmp / "genhook.log") as server:
            load = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    LOAD_CPU,
                    wrk,
                    "-t1",
                    f"-c{CONNECTIONS}",
                    "-d8s",
                    "-s",
                    str(script),
                    f"http://127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(4)
            os.kill(server.pid, signal.SIGKILL)
            load.wait(timeout=30)
        import orjson

        acked = {
            orjson.loads(line)["task_id"]
            for line in acked_file.read_text().splitlines()
            if line.strip()
        }
        missing = asyncio.run(_missing(url, acked))
    return len(acked), missing


async def _missing(url: str, acked: set[str]) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id FROM tasks WHERE status = 'completed'"))
            completed = {row[0] for row in rows}
    finally:
        await engine.dispose()
    return len(acked - completed)


def run(postgres_url: str | None) -> list[list[str]]:
    bare, genhook = measure(postgres_url)
    ratio = genhook.requests_per_s / bare.requests_per_s
    rows = []
    for name, result in (("bare Starlette", bare), ("genhook callbacks", genhook)):
        rows.append(
            [
                f"ingest, {name} ({CONNECTIONS} conns)",
                f"{result.requests_per_s:,.0f} req/s",
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                f"peak RSS {result.peak_rss_mb:.0f} MB, non-2xx {result.non_2xx}",
                "x1.00" if result is bare else f"x{ratio:.2f} of bare",
            ]
        )
    return rows


def run_kill_check(postgres_url: str | None) -> list[list[str]]:
    acked, missing = kill_check(postgres_url)
    verdict = "OK" if missing == 0 and acked > 0 else "LOST CALLBACKS"
    return [["kill -9 mid-run", f"{acked:,} acknowledged", f"{missing} missing", verdict]]
