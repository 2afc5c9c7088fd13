"""Chaos: a misbehaving provider, a flaky subscriber, and every task must end right.

The simulator drops 30% of apimodels callbacks, sends every callback twice and
reorders them, answers 10% of provider requests 5xx and 10% 429, and fails 10% of
generations. A subscriber verifies every signature and fails 5% of deliveries.
Tasks are submitted over the three gateways through ``POST /api/tasks`` of a real
``genhook serve``; then the run waits until every task is terminal and no
delivery is pending, and checks against the simulator's own records:

* every task is in its right state: the simulator's outcome where it has the job;
  ``failed`` where it never took the create (a 5xx before the job existed; genhook
  cannot know, and settles it by its provider's rule as ``create_unconfirmed``);
* every task has exactly one terminal event id, in genhook and at the subscriber;
* every event reached the subscriber, and no signature was rejected;
* genhook answered no 5xx and logged no traceback; and how long tasks took to settle.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from scripts.trust.processes import (
    PROVIDERS,
    free_port,
    genhook_env,
    migrate,
    serve_genhook,
    simulator,
    simulator_env,
    stop,
)
from scripts.trust.subscriber import Subscriber, register, serving

MODELS = {
    "apimodels": "gemini-3-pro-image-lite",
    "apimall": "nano-banana",
    "apimart": "gemini-2.5-flash-image-preview",
}
TERMINAL = ("task.completed", "task.failed", "task.expired")


@dataclass(frozen=True)
class ChaosScale:
    tasks_per_gateway: int = 50
    time_factor: float = 0.2  # simulated seconds x this = real seconds
    deadline_seconds: float = 60
    concurrency: int = 8
    seed: int = 16


FULL = ChaosScale()
SMALL = ChaosScale(tasks_per_gateway=7, deadline_seconds=20)

SIMULATOR_FAULTS = (
    "--callback-drop-rate", "0.3",
    "--callback-duplicates", "1",
    "--callback-reorder",
    "--server-error-rate", "0.1",
    "--rate-limit-rate", "0.1",
    "--retry-after", "1",
    "--failure-rate", "0.1",
)  # fmt: skip


def genhook_settings(scale: ChaosScale) -> dict[str, str]:
    """Fast cadences so a run takes minutes; every rule is the production one."""
    return {
        "GENHOOK_TASK_DEADLINE_SECONDS": str(scale.deadline_seconds),
        "GENHOOK_EXPIRE_GRACE_SECONDS": "10",
        "GENHOOK_RECONCILE_EVERY_SECONDS": "2",
        "GENHOOK_APIMART_UNCONFIRMED_GRACE_SECONDS": "5",
        "GENHOOK_APIMODELS_POLL_FIRST": "[8, 8]",
        "GENHOOK_APIMODELS_POLL_INTERVAL": "[2, 3]",
        "GENHOOK_APIMODELS_POLL_MAX_INTERVAL": "6",
        "GENHOOK_APIMART_POLL_FIRST": "[2, 4]",
        "GENHOOK_APIMALL_POLL_FIRST": "[1, 2]",
        "GENHOOK_CIRCUIT_COOLDOWN_SECONDS": "2",
        "GENHOOK_CIRCUIT_MAX_COOLDOWN_SECONDS": "5",
        "GENHOOK_DELIVERY_SCHEDULE": "[0.5, 1, 2, 4, 8, 8, 8]",
        "GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS": "true",
        "GENHOOK_ASSETS_ALLOW_PRIVATE": "true",
    }


@dataclass
class ChaosResult:
    tasks: int = 0
    right: int = 0
    wrong: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    unconfirmed: int = 0
    one_terminal_event: int = 0
    duplicate_terminal: int = 0
    received_duplicate_terminal: int = 0
    events: int = 0
    events_missing: int = 0
    rejected_signatures: int = 0
    failed_on_purpose: int = 0
    settle: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    server_5xx: int = 0
    tracebacks: int = 0
    unsettled: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.wrong
            and self.duplicate_terminal == 0
            and self.received_duplicate_terminal == 0
            and self.events_missing == 0
            and self.rejected_signatures == 0
            and self.server_5xx == 0
            and self.tracebacks == 0
            and self.unsettled == 0
        )

    def rows(self) -> list[tuple[str, str]]:
        quantiles = statistics.quantiles(self.settle, n=20) if len(self.settle) > 1 else [0.0] * 19
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        return [
            ("tasks submitted (three gateways)", f"{self.tasks}"),
            ("in their right state", f"{self.right} / {self.tasks} ({states})"),
            ("  of them failed as create_unconfirmed", f"{self.unconfirmed}"),
            ("not settled in time", f"{self.unsettled}"),
            ("terminal event ids per task: exactly one", f"{self.one_terminal_event}"),
            ("duplicate terminal events (genhook / subscriber)",
             f"{self.duplicate_terminal} / {self.received_duplicate_terminal}"),
            ("events delivered / missing", f"{self.events - self.events_missing} / "
             f"{self.events_missing}"),
            ("rejected signatures", f"{self.rejected_signatures}"),
            ("deliveries failed by the subscriber (retried)", f"{self.failed_on_purpose}"),
            ("time to settle p50 / p95 / max",
             f"{statistics.median(self.settle) if self.settle else 0:.1f} / "
             f"{quantiles[18]:.1f} / {max(self.settle, default=0):.1f} s"),
            ("all settled after", f"{self.wall_seconds:.1f} s"),
            ("5xx answered by genhook", f"{self.server_5xx}"),
            ("tracebacks in genhook's log", f"{self.tracebacks}"),
        ]  # fmt: skip


async def run(database_url: str, workdir: Path, scale: ChaosScale = FULL) -> ChaosResult:
    result = ChaosResult()
    faults = (*SIMULATOR_FAULTS, "--time-factor", str(scale.time_factor), "--seed", str(scale.seed))
    with simulator(workdir / "simulator.log", *faults) as sim:
        async with serving(Subscriber(failure_rate=0.05)) as subscriber:
            port = free_port()
            env = genhook_env(workdir / "data", database_url, port)
            env.update({**simulator_env(sim.url), **genhook_settings(scale)})
            if database_url.startswith("postgresql"):
                migrate(env)
            server = serve_genhook(env, workdir / "genhook.log")
            try:
                async with server.admin(timeout=60) as client:
                    await register(client, subscriber)
                    started = time.monotonic()
                    submitted = await _submit_all(client, scale, result)
                    result.unsettled = await _wait_settled(
                        client, submitted, scale.deadline_seconds + 90
                    )
                    result.wall_seconds = time.monotonic() - started
                    await asyncio.sleep(1)  # duplicates still on their way would show now
                    details = [await _detail(client, task_id, result) for task_id in submitted]
                async with httpx.AsyncClient(base_url=sim.url, timeout=30) as sim_client:
                    truth = (await sim_client.get("/_sim/tasks")).json()["tasks"]
            finally:
                stop(server)
            result.tracebacks = server.tracebacks()
            _judge(result, submitted, details, truth, subscriber)
    return result


async def _submit_all(
    client: httpx.AsyncClient, scale: ChaosScale, result: ChaosResult
) -> dict[str, str]:
    """Submit every task; returns our task id -> its prompt."""
    jobs = [
        (provider, f"chaos {provider} {i}")
        for i in range(scale.tasks_per_gateway)
        for provider in PROVIDERS
    ]
    limit = asyncio.Semaphore(scale.concurrency)
    submitted: dict[str, str] = {}

    async def one(provider: str, prompt: str) -> None:
        async with limit:
            response = await client.post(
                "/api/tasks",
                json={"provider": provider, "model": MODELS[provider], "prompt": prompt},
            )
        if response.status_code >= 500:
            result.server_5xx += 1
            return
        body = response.json()
        task_id = body["id"] if response.status_code == 201 else body["error"].get("task_id")
        if task_id:
            submitted[task_id] = prompt

    await asyncio.gather(*(one(provider, prompt) for provider, prompt in jobs))
    result.tasks = len(jobs)
    return submitted


async def _wait_settled(client: httpx.AsyncClient, submitted: dict[str, str], within: float) -> int:
    """Until every task is terminal and no delivery pending; returns how many were not."""
    deadline = time.monotonic() + within
    unsettled = len(submitted)
    while time.monotonic() < deadline:
        statuses = await _statuses(client)
        unsettled = sum(
            1 for t in submitted if statuses.get(t) not in ("completed", "failed", "expired")
        )
        pending = await client.get("/api/deliveries", params={"status": "pending", "limit": 1})
        if unsettled == 0 and not pending.json()["deliveries"]:
            return 0
        await asyncio.sleep(0.5)
    return unsettled or 1  # pending deliveries never drained: count it


async def _statuses(client: httpx.AsyncClient) -> dict[str, str]:
    statuses: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/tasks", params=params)).json()
        statuses.update({t["id"]: t["status"] for t in page["tasks"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return statuses


async def _detail(client: httpx.AsyncClient, task_id: str, result: ChaosResult) -> dict[str, Any]:
    response = await client.get(f"/api/tasks/{task_id}")
    if response.status_code >= 500:
        result.server_5xx += 1
    detail: dict[str, Any] = response.json()
    return detail


def _judge(
    result: ChaosResult,
    submitted: dict[str, str],
    details: list[dict[str, Any]],
    truth: list[dict[str, Any]],
    subscriber: Subscriber,
) -> None:
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for sim_task in truth:
        by_prompt.setdefault(str(sim_task["params"].get("prompt")), []).append(sim_task)
    received = subscriber.distinct()
    terminal_received: Counter[str] = Counter(
        r.task_id for r in received.values() if r.type in TERMINAL and r.task_id
    )
    for task in details:
        prompt = submitted[task["id"]]
        jobs = by_prompt.get(prompt, [])
        mine = [j for j in jobs if j["id"] == task["provider_task_id"]]
        if mine:
            expected = mine[0]["state"]
        elif not jobs:
            expected = "failed"  # the provider never took the create
        else:
            expected = f"one of {[j['id'] for j in jobs]} (genhook has {task['provider_task_id']})"
        result.statuses[task["status"]] += 1
        if (task.get("error") or {}).get("code") == "create_unconfirmed":
            result.unconfirmed += 1
        if task["status"] == expected:
            result.right += 1
        else:
            result.wrong.append(
                f"{task['id']} ({task['provider']}): {task['status']} != {expected}"
            )
        terminal = {e["id"] for e in task["events"] if e["type"] in TERMINAL}
        result.one_terminal_event += len(terminal) == 1
        result.duplicate_terminal += len(terminal) > 1
        result.received_duplicate_terminal += terminal_received[task["id"]] > 1
        result.events += len(task["events"])
        result.events_missing += sum(1 for e in task["events"] if e["id"] not in received)
        if task.get("terminal_at"):
            took = _at(task["terminal_at"]) - _at(task["created_at"])
            result.settle.append(took.total_seconds())
    result.rejected_signatures = subscriber.rejected_signatures
    result.failed_on_purpose = subscriber.failed_on_purpose


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
