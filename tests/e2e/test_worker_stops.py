"""Workers stopped by real signals, on PostgreSQL, with a subscriber that holds requests.

* SIGTERM: the delivery pass in flight finishes (the subscriber holds it for 3 s,
  well inside the 10 s grace), the worker exits 0 with a clean log and gives back
  what it held, no webhook-id reaches the subscriber twice, and the other worker
  delivers what arrives meanwhile at once.
* ``kill -9``: the other worker takes the delivery over when its lease runs out
  (``GENHOOK_DISPATCH_LEASE_SECONDS``), and the attempt that died with the process
  is in the delivery's history, recorded as interrupted; a poll the provider holds
  when the worker dies is taken over when the poll lease runs out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook

from tests.support import database
from tests.support.downstream import Downstream, Received, Reply, downstream
from tests.support.fleet import (
    AUTH,
    TOKEN,
    Proc,
    clean_log,
    completed_by_callback,
    start_web,
    start_worker,
)
from tests.support.process import free_port, genhook_env
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

HOUR = "3600"


@pytest.fixture
def pg(postgres_url: str) -> str:
    database.truncate_postgres(postgres_url)
    return postgres_url


def fleet_env(tmp_path: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    return genhook_env(
        tmp_path / "data",
        database_url,
        port,
        GENHOOK_SECRET="stop-test-secret-0123456789",
        GENHOOK_API_TOKEN=TOKEN,
        GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",
        GENHOOK_POLL_TICK_SECONDS="0.5",
        GENHOOK_RECONCILE_EVERY_SECONDS=HOUR,
        **extra,
    )


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn(url))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


def task_of(received: Received) -> str:
    import json

    return str(json.loads(received.body)["data"]["id"])


async def subscribe(client: httpx.AsyncClient, receiver: Downstream) -> str:
    response = await client.post(
        "/api/subscribers", json={"url": receiver.url(), "event_types": ["task.completed"]}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


async def in_flight(receiver: Downstream) -> bool:
    return sum(receiver.in_flight.values()) > 0


async def test_sigterm_finishes_the_pass_in_flight_and_the_other_worker_carries_on(
    tmp_path: Path, pg: str
) -> None:
    port = free_port()
    env = fleet_env(tmp_path, pg, port)
    hold = {"seconds": 3.0}
    procs: list[Proc] = []
    async with downstream(lambda request, n: Reply(200, delay=hold["seconds"])) as receiver:
        try:
            procs.append(start_web("web", env, tmp_path, port, "--no-background"))
            worker_a = start_worker("worker-a", env, tmp_path)
            procs.append(worker_a)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30
            ) as client:
                secret = await subscribe(client, receiver)
                first = [await completed_by_callback(client) for _ in range(6)]
                await eventually(lambda: in_flight(receiver), within=10)
                worker_b = await asyncio.to_thread(start_worker, "worker-b", env, tmp_path)
                procs.append(worker_b)

                signalled = time.monotonic()
                worker_a.process.send_signal(signal.SIGTERM)
                hold["seconds"] = 0  # what comes next is answered at once
                sent_second = time.monotonic()
                second = [await completed_by_callback(client) for _ in range(6)]
                code = await asyncio.to_thread(worker_a.process.wait, 30)
                stop_seconds = time.monotonic() - signalled

                everything = set(first + second)

                async def all_delivered() -> bool:
                    return {task_of(r) for r in receiver.received} >= everything

                await eventually(all_delivered, within=30, every=0.1)
                await asyncio.sleep(1)  # a duplicate would arrive now

        finally:
            for proc in reversed(procs):
                proc.ensure_stopped()

    print(
        f"\nSIGTERM: the worker exited {code} after {stop_seconds:.1f} s (a 3 s delivery in flight)"
    )
    assert code == 0, worker_a.text()
    assert stop_seconds < 10 + 3, f"stopped after {stop_seconds:.1f} s"
    assert clean_log(worker_a.text()) == [], worker_a.text()
    assert "stopping: waiting up to 10 s for dispatch" in worker_a.text()
    # no webhook-id twice, every delivery verifies with the reference library
    counts = Counter(r.event_id for r in receiver.received)
    assert len(counts) == len(everything) and set(counts.values()) == {1}, counts
    for received in receiver.received:
        Webhook(secret).verify(received.body, received.headers)
    # the other worker went on at once: the second batch did not wait for a lease
    later = [r.at for r in receiver.received if task_of(r) in set(second)]
    assert max(later) - sent_second < 8, max(later) - sent_second
    # nothing is held by the stopped worker, and nothing was interrupted
    held = await fetch(
        pg,
        "SELECT count(*) FROM deliveries WHERE lease_holder = $1 AND lease_expires_at > now()",
        worker_a.holder,
    )
    assert held[0][0] == 0
    interrupted = await fetch(
        pg, "SELECT count(*) FROM delivery_attempts WHERE error LIKE 'interrupted%'"
    )
    assert interrupted[0][0] == 0


async def test_kill_9_is_taken_over_when_the_lease_runs_out_and_the_attempt_is_recorded(
    tmp_path: Path, pg: str
) -> None:
    # TAKEOVER_LEASE_SECONDS=20 measures the default lease (the README's figure)
    lease = float(os.environ.get("TAKEOVER_LEASE_SECONDS", "4"))
    port = free_port()
    env = fleet_env(tmp_path, pg, port, GENHOOK_DISPATCH_LEASE_SECONDS=str(lease))
    hold = {"seconds": lease + 4}  # longer than the lease; over before the test ends
    procs: list[Proc] = []
    async with downstream(lambda request, n: Reply(200, delay=hold["seconds"])) as receiver:
        try:
            procs.append(start_web("web", env, tmp_path, port, "--no-background"))
            worker_a = start_worker("worker-a", env, tmp_path)
            procs.append(worker_a)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30
            ) as client:
                await subscribe(client, receiver)
                task_id = await completed_by_callback(client)
                await eventually(lambda: in_flight(receiver), within=10)
                worker_b = await asyncio.to_thread(start_worker, "worker-b", env, tmp_path)
                procs.append(worker_b)

                killed = time.monotonic()
                worker_a.process.send_signal(signal.SIGKILL)
                worker_a.process.wait(10)
                hold["seconds"] = 0

                async def resent() -> bool:
                    return len(receiver.received) >= 2

                await eventually(resent, within=lease + 15, every=0.05)
                takeover = receiver.received[1].at - killed

                async def recorded() -> bool:
                    rows = await fetch(
                        pg,
                        "SELECT status FROM deliveries WHERE task_id = $1",
                        task_id,
                    )
                    return [row[0] for row in rows] == ["succeeded"]

                await eventually(recorded, within=10, every=0.1)
        finally:
            for proc in reversed(procs):
                proc.ensure_stopped()

    print(f"\nkill -9: delivery taken over after {takeover:.1f} s (lease {lease:g} s)")
    assert takeover < lease + 3, f"taken over after {takeover:.1f} s"
    assert receiver.received[0].event_id == receiver.received[1].event_id
    attempts = await fetch(
        pg,
        "SELECT a.number, a.error FROM delivery_attempts a JOIN deliveries d "
        "ON d.id = a.delivery_id WHERE d.task_id = $1 ORDER BY a.number",
        task_id,
    )
    assert [row[0] for row in attempts] == [1, 2]
    assert attempts[0][1].startswith("interrupted") and worker_a.holder in attempts[0][1]
    assert attempts[1][1] is None
    assert clean_log(worker_b.text()) == [], worker_b.text()


async def test_kill_9_mid_poll_is_taken_over_when_the_poll_lease_runs_out(
    tmp_path: Path, pg: str
) -> None:
    """A worker killed while its poll of a slow provider is in flight: the other
    worker polls the task once the poll lease (renewed while the call lasted) runs out."""
    from scripts.trust.processes import SIM_KEY, simulator

    lease = float(os.environ.get("TAKEOVER_LEASE_SECONDS", "4"))
    port = free_port()
    procs: list[Proc] = []
    with simulator(tmp_path / "simulator.log") as sim:
        env = fleet_env(
            tmp_path,
            pg,
            port,
            GENHOOK_POLL_LEASE_SECONDS=str(lease),
            GENHOOK_APIMALL_BASE_URL=sim.url,
            GENHOOK_APIMALL_API_KEY=SIM_KEY,
            GENHOOK_APIMALL_POLL_FIRST="[0.5, 0.5]",
            GENHOOK_APIMALL_POLL_INTERVAL="[0.5, 0.5]",
            GENHOOK_PROVIDER_RETRY_ATTEMPTS="1",
        )
        try:
            procs.append(start_web("web", env, tmp_path, port, "--no-background"))
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client,
                httpx.AsyncClient(base_url=sim.url, timeout=10) as sim_client,
            ):
                created = await client.post(
                    "/api/tasks",
                    json={"provider": "apimall", "model": "nano-banana", "prompt": "[sim:never]"},
                    timeout=30,
                )
                assert created.status_code == 201, created.text
                task_id = created.json()["id"]
                # from now on every status answer takes far longer than the lease
                slow = {"slow_response": lease * 2, "fault_scope": ["apimall"]}
                assert (await sim_client.patch("/_sim/config", json=slow)).status_code == 200
                worker_a = await asyncio.to_thread(start_worker, "worker-a", env, tmp_path)
                procs.append(worker_a)

                async def holder() -> str | None:
                    rows = await fetch(
                        pg,
                        "SELECT lease_holder FROM tasks WHERE id = $1 AND lease_expires_at > now()",
                        task_id,
                    )
                    return rows[0][0] if rows else None

                async def held_by_a() -> bool:
                    return await holder() == worker_a.holder

                await eventually(held_by_a, within=15, every=0.1)
                await asyncio.sleep(lease / 2)  # renewed meanwhile: the call still runs
                assert await holder() == worker_a.holder
                worker_b = await asyncio.to_thread(start_worker, "worker-b", env, tmp_path)
                procs.append(worker_b)
                killed = time.monotonic()
                worker_a.process.send_signal(signal.SIGKILL)
                worker_a.process.wait(10)

                async def held_by_b() -> bool:
                    return await holder() == worker_b.holder

                await eventually(held_by_b, within=lease + 15, every=0.1)
                takeover = time.monotonic() - killed
                worker_b.process.kill()  # its own poll hangs too; nothing to wait for
        finally:
            for proc in reversed(procs):
                proc.ensure_stopped()

    print(f"\nkill -9 mid-poll: poll taken over after {takeover:.1f} s (lease {lease:g} s)")
    assert takeover < lease + 3, f"taken over after {takeover:.1f} s"
