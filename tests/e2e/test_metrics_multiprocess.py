"""Metrics across processes: two real ``genhook serve`` processes share one
``PROMETHEUS_MULTIPROC_DIR`` (as ``serve --workers N`` children do), and either one's
``/metrics`` reports what both counted."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from receiver.exposition import process_exited
from tests.fixtures.apimodels import callback_body
from tests.support.process import api_headers, free_port, genhook_env, genhook_server


def scrape(port: int, headers: dict[str, str]) -> dict[str, float]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    text = response.text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


APPLIED = "genhook_callbacks_received_total{outcome=applied,provider=apimodels}"
DUPLICATE = "genhook_callbacks_received_total{outcome=duplicate,provider=apimodels}"
REFUSED = "genhook_callbacks_received_total{outcome=refused,provider=apimodels}"
STREAMS = "genhook_sse_streams{}"


async def test_two_processes_add_up_in_either_ones_metrics(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    database = f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}"
    ports = free_port(), free_port()
    envs = [
        genhook_env(
            tmp_path / "data",
            database,
            port,
            GENHOOK_SECRET="shared-secret-0123456789",
            GENHOOK_RUN_BACKGROUND="false",
            PROMETHEUS_MULTIPROC_DIR=str(shared),
        )
        for port in ports
    ]
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    with contextlib.ExitStack() as stack:
        stack.enter_context(genhook_server(envs[0], tmp_path / "a.log"))
        second = stack.enter_context(genhook_server(envs[1], tmp_path / "b.log"))
        auth = api_headers(envs[0])  # one data dir: both use the token generated there
        async with httpx.AsyncClient(timeout=10, headers=auth) as client:
            paths = []
            for _ in range(2):
                created = await client.post(
                    f"{a}/api/callback-urls", json={"provider": "apimodels"}
                )
                paths.append(urlsplit(created.json()["callback_url"]).path)
            body = callback_body()
            assert (await client.post(a + paths[0], content=body)).json()["status"] == "applied"
            assert (await client.post(b + paths[0], content=body)).json()["status"] == "duplicate"
            other = callback_body(task_id="p-2")
            assert (await client.post(b + paths[1], content=other)).json()["status"] == "applied"
            forged = paths[1].rsplit(".", 1)[0] + ".forged"
            assert (await client.post(a + forged, content=body)).status_code == 401

            async with client.stream("GET", f"{b}/api/events") as stream:
                assert stream.status_code == 200
                await asyncio.sleep(0.3)  # the generator has started
                for port in ports:  # whichever process is scraped sees both
                    samples = await asyncio.to_thread(scrape, port, auth)
                    assert (samples[APPLIED], samples[DUPLICATE], samples[REFUSED]) == (2, 1, 1)
                    assert samples[STREAMS] == 1  # open on B, seen from A too
                    assert samples["genhook_tasks{status=completed}"] == 2
                    assert not any(name.startswith("process_") for name in samples)

        pid = second.pid
        second.terminate()
        second.wait(timeout=10)
        process_exited(pid, str(shared))  # what the supervisor of serve --workers does
        samples = await asyncio.to_thread(scrape, ports[0], auth)
        assert (samples[APPLIED], samples[DUPLICATE]) == (2, 1)  # counters are history
        assert samples[STREAMS] == 0  # a dead process holds no stream
    assert {p.name.split("_")[0] for p in shared.glob("*.db")} >= {"counter", "gauge"}
