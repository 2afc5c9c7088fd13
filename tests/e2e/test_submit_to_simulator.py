"""Issues 3 and 4, "done when", through real processes: ``genhook simulate`` with every
callback dropped, ``genhook serve`` with its poller, and ``genhook submit`` to all
three gateways. Every task still completes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.support.process import (
    GENHOOK,
    free_port,
    genhook_env,
    genhook_server,
    run_cli,
    wait_healthy,
)
from tests.support.simulated import MODELS


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
            GENHOOK_APIMODELS_POLL_FIRST="[2,2]",
            GENHOOK_APIMART_POLL_FIRST="[1,2]",
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

            deadline = time.monotonic() + 45
            statuses: dict[str, dict[str, object]] = {}
            while time.monotonic() < deadline:
                listing = run_cli(env, "tasks", "--json")
                statuses = {
                    (row := json.loads(line))["provider"]: row
                    for line in listing.stdout.splitlines()
                }
                if all(s["status"] == "completed" for s in statuses.values()):
                    break
                time.sleep(0.5)
        assert {p: s["status"] for p, s in statuses.items()} == dict.fromkeys(MODELS, "completed")
        assert all(s["last_source"] == "poll" for s in statuses.values())  # no callback came
        assert {s["id"] for s in statuses.values()} == set(task_ids.values())
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
