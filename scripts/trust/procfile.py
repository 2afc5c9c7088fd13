"""The Procfile deployment on PostgreSQL, under faults: every process as production
runs it.

``release`` (``genhook db upgrade``), two ``web`` processes (``serve
--no-background``) and two ``worker`` processes on one database; the simulator
drops 30% of apimodels callbacks, sends every callback twice, reorders them and
fails 10% of generations. Tasks over the three gateways go through both web
processes in turn (each hands out callback URLs on itself); a subscriber verifies
every delivery with the ``standardwebhooks`` library. Judged as ``chaos`` is
(:func:`scripts.trust.chaos._judge`: right terminal state, one terminal event id
each, every event delivered), plus: no task was polled more often than one poller
could at its cadence (two workers polling one task at once would double it), and
no process logged a traceback.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from scripts.trust.chaos import MODELS, ChaosResult, _detail, _judge, _wait_settled
from scripts.trust.processes import (
    GENHOOK,
    PROVIDERS,
    Server,
    free_port,
    genhook_env,
    migrate,
    simulator,
    simulator_env,
    start,
    stop,
)
from scripts.trust.subscriber import Subscriber, register, serving

FAULTS = (
    "--callback-drop-rate", "0.3",
    "--callback-duplicates", "1",
    "--callback-reorder",
    "--failure-rate", "0.1",
)  # fmt: skip

# The cadence the run uses (fast, so it takes a minute): the lower bounds are what
# the per-task poll ceiling is computed from.
POLL_FIRST = {"apimodels": 4.0, "apimall": 1.0, "apimart": 2.0}
POLL_INTERVAL = {"apimodels": 2.0, "apimall": 1.5, "apimart": 1.5}
JITTER = 0.1


@dataclass(frozen=True)
class ProcfileScale:
    tasks_per_gateway: int = 70
    time_factor: float = 0.1
    deadline_seconds: float = 40
    concurrency: int = 16
    seed: int = 12


FULL = ProcfileScale(tasks_per_gateway=200)
SMALL = ProcfileScale()


@dataclass
class ProcfileResult(ChaosResult):
    over_polled: list[str] = field(default_factory=list)
    through_web: dict[str, int] = field(default_factory=dict)
    processes: int = 0
    transport_retries: int = 0

    @property
    def ok(self) -> bool:
        return super().ok and not self.over_polled and self.right == self.tasks > 0

    def rows(self) -> list[tuple[str, str]]:
        per_web = ", ".join(f"{n}" for n in self.through_web.values())
        return [
            ("processes (web + worker)", f"{self.processes}"),
            ("tasks submitted per web process", per_web),
            *super().rows(),
            ("tasks polled beyond one poller's cadence", f"{len(self.over_polled)}"),
            ("submits retried after a dropped connection", f"{self.transport_retries}"),
        ]  # fmt: skip


def settings(scale: ProcfileScale) -> dict[str, str]:
    env = {
        "GENHOOK_TASK_DEADLINE_SECONDS": str(scale.deadline_seconds),
        "GENHOOK_EXPIRE_GRACE_SECONDS": "10",
        "GENHOOK_RECONCILE_EVERY_SECONDS": "2",
        "GENHOOK_APIMART_UNCONFIRMED_GRACE_SECONDS": "5",
        "GENHOOK_POLL_JITTER": str(JITTER),
        "GENHOOK_DELIVERY_SCHEDULE": "[0.5, 1, 2, 4, 8, 8, 8]",
        "GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS": "true",
        "GENHOOK_ASSETS_ALLOW_PRIVATE": "true",
        "GENHOOK_ASSETS_MIRROR": "false",  # a worker's disk is not the web's (issue 12 S3)
    }
    for provider in PROVIDERS:
        first, every = POLL_FIRST[provider], POLL_INTERVAL[provider]
        env[f"GENHOOK_{provider.upper()}_POLL_FIRST"] = f"[{first}, {first * 1.5}]"
        env[f"GENHOOK_{provider.upper()}_POLL_INTERVAL"] = f"[{every}, {every * 1.5}]"
        env[f"GENHOOK_{provider.upper()}_POLL_GROWTH"] = "1.0"
        env[f"GENHOOK_{provider.upper()}_POLL_MAX_INTERVAL"] = f"{every * 1.5}"
    return env


async def run(database_url: str, workdir: Path, scale: ProcfileScale = SMALL) -> ProcfileResult:
    result = ProcfileResult()
    faults = (*FAULTS, "--time-factor", str(scale.time_factor), "--seed", str(scale.seed))
    servers: list[Server] = []
    with simulator(workdir / "simulator.log", *faults) as sim:
        async with serving(Subscriber(failure_rate=0.05)) as subscriber:
            web_ports = [free_port(), free_port()]
            common = {**simulator_env(sim.url), **settings(scale)}
            release = genhook_env(workdir / "data", database_url, web_ports[0], **common)
            migrate(release)  # the Procfile's release step
            try:
                for n, port in enumerate(web_ports):
                    env = genhook_env(workdir / "data", database_url, port, **common)
                    servers.append(
                        start(
                            [GENHOOK, "serve", "--no-background", "--port", str(port)],
                            env,
                            workdir / f"web{n + 1}.log",
                            f"http://127.0.0.1:{port}",
                            "/healthz",
                        )
                    )
                for n in range(2):
                    metrics = free_port()
                    env = genhook_env(workdir / "data", database_url, web_ports[0], **common)
                    servers.append(
                        start(
                            [GENHOOK, "worker", "--metrics-port", str(metrics)],
                            env,
                            workdir / f"worker{n + 1}.log",
                            f"http://127.0.0.1:{metrics}",
                            "/healthz",
                        )
                    )
                result.processes = len(servers)
                webs = [servers[0].admin(timeout=60), servers[1].admin(timeout=60)]
                async with webs[0] as first, webs[1] as second:
                    await register(first, subscriber)
                    started = time.monotonic()
                    submitted = await _submit_through([first, second], scale, result, web_ports)
                    result.unsettled = await _wait_settled(
                        first, submitted, scale.deadline_seconds + 60
                    )
                    result.wall_seconds = time.monotonic() - started
                    await asyncio.sleep(1)  # duplicates still on their way would show now
                    details = [await _detail(second, task_id, result) for task_id in submitted]
                async with httpx.AsyncClient(base_url=sim.url, timeout=30) as sim_client:
                    truth = (await sim_client.get("/_sim/tasks")).json()["tasks"]
                    polls = (await sim_client.get("/_sim/stats")).json()["polls"]
            finally:
                for server in reversed(servers):
                    stop(server)
            result.tracebacks = sum(server.tracebacks() for server in servers)
            _judge(result, submitted, details, truth, subscriber)
            result.over_polled = _over_polled(details, polls)
    return result


async def _submit_through(
    clients: list[httpx.AsyncClient],
    scale: ProcfileScale,
    result: ProcfileResult,
    ports: list[int],
) -> dict[str, str]:
    """Every task, through the web processes in turn; our task id -> its prompt."""
    jobs = [
        (n, provider, f"procfile {provider} {i}")
        for i in range(scale.tasks_per_gateway)
        for n, provider in enumerate(PROVIDERS)
    ]
    limit = asyncio.Semaphore(scale.concurrency)
    submitted: dict[str, str] = {}
    through = {f"web on {port}": 0 for port in ports}

    async def one(index: int, provider: str, prompt: str) -> None:
        web = index % len(clients)
        async with limit:
            for attempt in range(3):  # a kept-alive connection the server just closed
                try:
                    response = await clients[web].post(
                        "/api/tasks",
                        json={"provider": provider, "model": MODELS[provider], "prompt": prompt},
                        # a retry makes no second task
                        headers={"Idempotency-Key": prompt.replace(" ", "-")},
                    )
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
                    result.transport_retries += 1
        if response.status_code >= 500:
            result.server_5xx += 1
            return
        body = response.json()
        task_id = body["id"] if response.status_code == 201 else body["error"].get("task_id")
        if task_id:
            submitted[task_id] = prompt
            through[f"web on {ports[web]}"] += 1

    await asyncio.gather(*(one(i, p, prompt) for i, (_, p, prompt) in enumerate(jobs)))
    result.tasks = len(jobs)
    result.through_web = through
    return submitted


def _over_polled(details: list[dict[str, Any]], polls: dict[str, int]) -> list[str]:
    """Tasks asked about more often than one poller at the cadence's fastest could.

    One poller asks at most once per ``interval * (1 - jitter)`` after the first
    poll; two workers polling one task at once would ask about twice as often.
    """
    over = []
    for task in details:
        provider_id = task.get("provider_task_id")
        if not provider_id or not task.get("submitted_at"):
            continue
        end = task.get("terminal_at") or task["updated_at"]
        lived = (_at(end) - _at(task["submitted_at"])).total_seconds()
        first = POLL_FIRST[task["provider"]] * (1 - JITTER)
        every = POLL_INTERVAL[task["provider"]] * (1 - JITTER)
        ceiling = max(0.0, lived - first) / every + 2  # + the deadline's last poll
        if polls.get(provider_id, 0) > ceiling:
            over.append(f"{task['id']}: {polls[provider_id]} polls in {lived:.1f} s")
    return over


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
