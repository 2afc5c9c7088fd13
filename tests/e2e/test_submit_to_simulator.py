"""Issues 3 and 4, "done when", through real processes: ``genhook simulate`` with every
callback dropped, ``genhook serve`` with its poller, and ``genhook submit`` to all
three gateways. Every task still completes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.support.process import (
    GENHOOK,
    api_headers,
    free_port,
    genhook_env,
    genhook_server,
    run_cli,
    wait_healthy,
)
from tests.support.simulated import MODELS
from tests.support.waiting import eventually_blocking


def test_submit_to_all_gateways_completes_with_every_callback_lost(
    tmp_path: Path, database_url: str
) -> None:
    sim_port = free_port()
    sim_log = tmp_path / "sim.log"
    with sim_log.open("wb") as log:
        simulator = subprocess.Popen(
            [
                GENHOOK,
                "simulate",
                "--port",
                str(sim_port),
                "--time-factor",
                "0.05",
                "--callback-drop-rate",
                "1",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        sim_url = f"http://127.0.0.1:{sim_port}"
        wait_healthy(f"{sim_url}/_sim", simulator, sim_log, path="")
        env = genhook_env(
            tmp_path / "data",
            database_url,
            free_port(),
            **{
                f"GENHOOK_{p.upper()}_{what}": value
                for p in MODELS
                for what, value in (("POLL_FIRST", "[1,1.5]"), ("POLL_INTERVAL", "[0.5,0.5]"))
            },
            GENHOOK_POLL_TICK_SECONDS="0.2",
            **{
                f"GENHOOK_{p.upper()}_{what}": value
                for p in MODELS
                for what, value in (("BASE_URL", sim_url), ("API_KEY", "any"))
            },
        )
        with genhook_server(env, tmp_path / "serve.log"):
            task_ids = {}
            for provider, model in MODELS.items():
                submitted = run_cli(env, "submit", provider, "--model", model, "--prompt", "a fox")
                assert submitted.returncode == 0, submitted.stderr
                task = json.loads(submitted.stdout)
                assert task["status"] == "pending", task
                task_ids[provider] = task["id"]

            # wait on the API (cheap), then read the outcome once through the CLI
            base, auth = env["GENHOOK_PUBLIC_URL"], api_headers(env)

            def all_completed() -> bool:
                tasks = httpx.get(f"{base}/api/tasks", headers=auth).json()["tasks"]
                return len(tasks) == 3 and all(t["status"] == "completed" for t in tasks)

            eventually_blocking(all_completed, within=45, every=0.1, what="three completed")
            listing = run_cli(env, "tasks", "--json")
            assert listing.returncode == 0, listing.stderr
            statuses = {
                (row := json.loads(line))["provider"]: row for line in listing.stdout.splitlines()
            }
        assert {p: s["status"] for p, s in statuses.items()} == dict.fromkeys(MODELS, "completed")
        assert all(s["last_source"] == "poll" for s in statuses.values())  # no callback came
        assert {s["id"] for s in statuses.values()} == set(task_ids.values())
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
