"""A dispatcher killed mid-request: its lease expires, another sends the event again.

The README: delivery is at least once; "a dispatcher that dies mid-request lets its
lease expire and another sends the event again with the same ``webhook-id``", and
every attempt is signed afresh (a new ``webhook-timestamp``) so the retry verifies
with the reference Standard Webhooks library. The first dispatcher is a real
process, killed with SIGKILL while the subscriber holds its request; the second runs
in the test with a :class:`FakeClock` moved past the first one's lease.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta
from pathlib import Path

from standardwebhooks import Webhook

from receiver.lifecycle import EventType
from tests.conftest import TEST_SECRET, FakeClock, make_settings
from tests.support.delivery import deliveries, emit, make_task
from tests.support.downstream import Received, Reply, downstream
from tests.support.harness import running_genhook
from tests.support.process import free_port, genhook_env
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[2]
TIMEOUT = 5


async def test_a_killed_dispatchers_delivery_is_sent_again_with_the_same_id(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    def answer(request: Received, n: int) -> Reply:
        return Reply(200, delay=2.0) if n == 0 else Reply(200)  # hold the first one

    settings = make_settings(
        tmp_path,
        database_url,
        delivery_allow_private_targets=True,
        delivery_timeout_seconds=TIMEOUT,
    )
    async with downstream(answer) as receiver, running_genhook(settings) as harness:
        services = harness.services
        sub = await services.subscribers.add(receiver.url(), "")
        event_id = await emit(services, await make_task(services), EventType.PROCESSING)

        env = genhook_env(
            tmp_path / "data",
            database_url,
            free_port(),
            GENHOOK_SECRET=TEST_SECRET,
            GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",
            GENHOOK_DELIVERY_TIMEOUT_SECONDS=str(TIMEOUT),
            GENHOOK_RUN_BACKGROUND="false",
        )
        first = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.one_pass",
            "dispatch",
            "doomed",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert first.stdout is not None and first.stdin is not None
            assert await asyncio.wait_for(first.stdout.readline(), 60) == b"ready\n"
            first.stdin.write(b"go\n")
            await first.stdin.drain()

            async def in_flight() -> bool:
                return len(receiver.received) == 1

            await eventually(in_flight, within=30)
            first.send_signal(signal.SIGKILL)  # dies holding the request and the lease
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        assert first.returncode == -signal.SIGKILL

        (held,) = await deliveries(services)
        assert (held.status, held.lease_holder) == ("pending", "doomed")  # nothing recorded
        second = services.dispatcher(holder="survivor")
        assert (await second.dispatch_once()).claimed == 0  # the lease still holds

        assert held.lease_expires_at is not None
        # the lease outlasts a request that runs into its timeout
        assert held.lease_expires_at > fake_clock.now + timedelta(seconds=TIMEOUT)
        fake_clock.now = max(fake_clock.now, held.lease_expires_at) + timedelta(seconds=1)
        report = await second.dispatch_once()
        assert report.claimed == 1
        (done,) = await deliveries(services)
        assert (done.status, done.lease_holder) == ("succeeded", None)

        lost, resent = receiver.for_event(event_id)
        assert lost.headers["webhook-id"] == resent.headers["webhook-id"] == event_id
        assert int(resent.headers["webhook-timestamp"]) > int(lost.headers["webhook-timestamp"])
        assert lost.body == resent.body  # the same event, signed again
        for request in (lost, resent):
            payload = Webhook(sub.secret).verify(request.body, request.headers)
            assert payload["id"] == event_id
