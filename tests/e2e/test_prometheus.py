"""A real Prometheus scrapes a live genhook: callbacks sent to genhook are read back
through Prometheus' query API, and every query of the Grafana dashboard runs there.

Debian's ``prometheus`` package provides the server (``.ci/run`` installs it). genhook
runs as its own process (``genhook serve``) with an API token, so the scrape also
proves that ``/metrics`` takes the same bearer token as the admin API.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.apimodels import callback_body
from tests.support.grafana import load, queries
from tests.support.process import free_port, genhook_env, genhook_server

PROMETHEUS = Path("/usr/bin/prometheus")
TOKEN = "prometheus-test-token"

if not PROMETHEUS.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{PROMETHEUS} is missing; .ci/run installs the prometheus package")
    pytest.skip(f"{PROMETHEUS} not installed (apt-get install prometheus)", allow_module_level=True)


@contextlib.contextmanager
def prometheus(tmp_path: Path, target_port: int) -> Iterator[str]:
    """Prometheus scraping ``127.0.0.1:target_port`` every second; yields its URL."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "genhook",
                        "authorization": {"type": "Bearer", "credentials": TOKEN},
                        "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                    }
                ],
            }
        )
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=output,
            stderr=output,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"prometheus exited:\n{log.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus did not become ready:\n{log.read_text()}")
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    body = response.json()
    assert body["status"] == "success", f"{promql}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for(url: str, promql: str, expected: float, within: float = 30) -> None:
    deadline = time.monotonic() + within
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = query(url, promql)
        if seen and float(seen[0]["value"][1]) == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"{promql} never became {expected}: {seen}")


def test_prometheus_reads_back_the_callbacks_genhook_received(tmp_path: Path) -> None:
    port = free_port()
    env = genhook_env(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        port,
        GENHOOK_API_TOKEN=TOKEN,
        GENHOOK_METRICS_CACHE_SECONDS="0",
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with genhook_server(env, tmp_path / "genhook.log"), prometheus(tmp_path, port) as url:
        wait_for(url, 'up{job="genhook"}', 1)  # scraped, with the token
        paths = []
        for _ in range(3):
            created = httpx.post(
                f"{base}/api/callback-urls", json={"provider": "apimodels"}, headers=auth
            )
            paths.append(urlsplit(created.json()["callback_url"]).path)
        for n, path in enumerate(paths):
            body = callback_body(task_id=f"p-{n}")
            assert httpx.post(base + path, content=body).json()["status"] == "applied"
        assert httpx.post(base + paths[0], content=callback_body(task_id="p-0")).json() == {
            "status": "duplicate",
            "task_id": paths[0].rsplit("/", 1)[1].split(".")[0],
        }

        wait_for(url, 'genhook_callbacks_received_total{outcome="applied"}', 3)
        wait_for(url, 'genhook_callbacks_received_total{outcome="duplicate"}', 1)
        wait_for(url, 'genhook_tasks{status="completed"}', 3)
        wait_for(url, "sum(genhook_task_duration_seconds_count)", 3)

        # Every dashboard query is valid PromQL over series Prometheus now holds.
        answered = 0
        for promql in queries(load()):
            if promql.startswith("label_values("):
                continue  # a Grafana function, not PromQL
            concrete = promql.replace("$__rate_interval", "1m").replace("$job", ".+")
            answered += bool(query(url, concrete))
        assert answered >= 5  # most panels already have data after four callbacks
