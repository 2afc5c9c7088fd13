"""One poller pass in a process of its own: ``python -m tests.support.poll_pass HOLDER``.

For tests of what leases promise across real processes. Settings come from the
environment (``GENHOOK_*``, no ``.env``). The process opens its services, prints
``ready``, waits for a line on stdin (so that every process starts its pass at the
same moment), runs one ``poll_once()`` and prints its report and timing as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from receiver.services import open_services
from receiver.settings import Settings


async def main(holder: str) -> None:
    settings = Settings(_env_file=None)
    async with open_services(settings) as services:
        poller = services.poller(holder=holder)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started = time.time()
        report = await poller.poll_once()
        ended = time.time()
    result = {
        "holder": holder,
        "claimed": report.claimed,
        "polled": report.polled,
        "failed_calls": report.failed_calls,
        "started": started,
        "ended": ended,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
