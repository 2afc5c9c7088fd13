"""Three real processes with ``GENHOOK_LOG_FORMAT=json`` for a short run: the provider
simulator, a web-only ``genhook serve`` and a ``genhook worker --metrics-port``. Every
line each one writes, from start-up to SIGTERM, is one JSON object.

The same run checks the worker's own health and metrics endpoints (with the admin
token) and ``genhook workers``, which asks the server over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.process import free_port, genhook_env, genhook_process, run_cli

TOKEN = "json-logs-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_terminal(base: str, task_id: str, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        task: dict[str, Any] = httpx.get(f"{base}/api/tasks/{task_id}", headers=AUTH).json()
        if task["status"] in ("completed", "failed", "expired"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"{task_id} did not finish: {task}")


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of ``log`` as a JSON object; fails naming the first line that is not."""
    parsed = []
    for number, line in enumerate(log.read_text().splitlines(), 1):
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"{log.name} line {number} is not JSON: {line!r}") from None
        assert isinstance(document, dict), f"{log.name} line {number}: {line!r}"
        assert {"time", "level", "logger", "message"} <= set(document), line
        parsed.append(document)
    assert parsed, f"{log.name} is empty"
    return parsed


def test_every_line_of_every_process_is_json(tmp_path: Path) -> None:
    sim_port, web_port, metrics_port = free_port(), free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    web = f"http://127.0.0.1:{web_port}"
    worker_metrics = f"http://127.0.0.1:{metrics_port}"
    common = {
        "GENHOOK_LOG_FORMAT": "json",
        "GENHOOK_API_TOKEN": TOKEN,
        "GENHOOK_SECRET": "json-logs-secret-0123456789",
        "GENHOOK_RUN_BACKGROUND": "false",
        "GENHOOK_ASSETS_ALLOW_PRIVATE": "true",
        "GENHOOK_POLL_TICK_SECONDS": "0.3",
        "GENHOOK_APIMALL_POLL_FIRST": "[0.5, 0.5]",
        "GENHOOK_APIMALL_POLL_INTERVAL": "[0.5, 0.5]",
        "GENHOOK_HEALTH_HEARTBEAT_SECONDS": "1",
        "GENHOOK_URL": web,
        **{f"GENHOOK_{p}_BASE_URL": sim for p in ("APIMODELS", "APIMALL", "APIMART")},
        **{f"GENHOOK_{p}_API_KEY": "sim" for p in ("APIMODELS", "APIMALL", "APIMART")},
    }
    env = genhook_env(
        tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}", web_port, **common
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("simulator", "serve", "worker")}
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            genhook_process(
                ["simulate", "--port", str(sim_port), "--time-factor", "0.05"],
                env,
                logs["simulator"],
                sim,
                path="/_sim",
            )
        )
        stack.enter_context(genhook_process(["serve"], env, logs["serve"], web))
        stack.enter_context(
            genhook_process(
                ["worker", "--metrics-port", str(metrics_port)],
                env,
                logs["worker"],
                worker_metrics,
            )
        )
        called_back = httpx.post(
            f"{web}/api/tasks",
            json={"provider": "apimodels", "model": "gemini-3-pro-image-lite", "prompt": "a fox"},
            headers=AUTH,
        ).json()
        polled = httpx.post(
            f"{web}/api/tasks",
            json={"provider": "apimall", "model": "nano-banana", "prompt": "a cat"},
            headers=AUTH,
        ).json()
        waiting = httpx.post(
            f"{web}/api/callback-urls", json={"provider": "apimodels"}, headers=AUTH
        ).json()
        unreadable = httpx.post(web + urlsplit(waiting["callback_url"]).path, content=b"<xml/>")
        assert unreadable.json()["status"] == "quarantined"  # logged with its task id
        assert wait_terminal(web, called_back["id"])["last_source"] == "callback"
        assert wait_terminal(web, polled["id"])["last_source"] == "poll"  # by the worker

        # the worker's own endpoints, behind the same token as the admin API
        assert httpx.get(f"{worker_metrics}/metrics").status_code == 401
        scraped = httpx.get(f"{worker_metrics}/metrics", headers=AUTH).text
        assert 'genhook_provider_requests_total{endpoint="status",provider="apimall"' in scraped
        assert httpx.get(f"{worker_metrics}/readyz").json() == {"status": "ready"}

        listed = run_cli(env, "workers", "--json")
        assert listed.returncode == 0, listed.stderr
        [worker] = json.loads(listed.stdout)["workers"]
        assert worker["kind"] == "worker"
        assert {job["name"] for job in worker["jobs"]} >= {"poll", "dispatch", "heartbeat"}
        table = run_cli(env, "workers")
        assert worker["id"] in table.stdout

    lines = {name: json_lines(log) for name, log in logs.items()}
    everything = [line for found in lines.values() for line in found]
    loggers = {line["logger"] for line in everything}
    assert {"uvicorn.error", "receiver.cli.serve"} <= loggers  # uvicorn's lines too
    assert any(line["message"].startswith("Shutting down") for line in lines["serve"])
    quarantined = [line for line in lines["serve"] if line.get("task_id") == waiting["task_id"]]
    assert quarantined and quarantined[0]["level"] == "WARNING"
    assert quarantined[0]["provider"] == "apimodels"
    # no line per request: httpx's and uvicorn's access lines are DEBUG, not shown at INFO
    assert not [line for line in everything if line["message"].startswith("HTTP Request")]
    assert "uvicorn.access" not in loggers
    assert all(line["level"] != "DEBUG" for line in everything)
