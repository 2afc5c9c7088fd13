"""One background pass in a process of its own: ``python -m tests.support.one_pass
poll|dispatch HOLDER``.

For tests of what leases promise across real processes (several pollers at once; a
dispatcher killed mid-request). Settings come from the environment (``GENHOOK_*``,
no ``.env``). The process opens its services, prints ``ready``, waits for a line on
stdin (so that every process starts its pass at the same moment), runs one
``poll_once()`` or ``dispatch_once()`` and prints its report and timing as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from receiver.services import open_services
from receiver.settings import Settings


async def main(job: str, holder: str) -> None:
    settings = Settings(_env_file=None)
    async with open_services(settings) as services:
        poller = services.poller(holder=holder)
        dispatcher = services.dispatcher(holder=holder)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started = time.time()
        report = await (poller.poll_once() if job == "poll" else dispatcher.dispatch_once())
        ended = time.time()
    result = {"holder": holder, **vars(report), "started": started, "ended": ended}
    print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
