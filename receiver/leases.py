"""Holding leases while a pass works, and giving them back when the process stops.

Leases are short (``GENHOOK_*_LEASE_SECONDS``, 20 s by default) so that another
worker takes a crashed one's work over quickly; a pass that may run longer (a slow
subscriber, a large image, a provider retrying) keeps what it claimed by renewing
it every third of the lease while it runs. A process that stops cleanly lets its
leases run out at once (:func:`release`), so the others carry on without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import SQLModel

from receiver import clock
from storage import claims
from storage.engine import SessionFactory

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def renewing(
    sessions: SessionFactory,
    model: type[SQLModel],
    keys: Sequence[Any],
    *,
    holder: str,
    lease: timedelta,
) -> AsyncIterator[None]:
    """Keep ``holder``'s leases on ``keys`` alive for the duration of the block."""
    if not keys:
        yield
        return
    every = lease.total_seconds() / 3
    held = list(keys)

    async def keep() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                async with sessions() as session, session.begin():
                    await claims.renew(
                        session, model, held, holder=holder, until=clock.utcnow() + lease
                    )
            except Exception as exc:  # the lease may lapse; the work is then done twice
                log.warning(
                    "renewing %d %s leases failed: %s: %s",
                    len(held),
                    model.__tablename__,
                    type(exc).__name__,
                    exc,
                )

    keeper = asyncio.create_task(keep(), name=f"genhook-renew-{model.__tablename__}")
    try:
        yield
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def release(
    sessions: SessionFactory, models: Sequence[type[SQLModel]], *, holder: str
) -> int:
    """Let every lease ``holder`` still holds on ``models`` run out now."""
    now = clock.utcnow()
    async with sessions() as session, session.begin():
        released = 0
        for model in models:
            released += await claims.release_held(session, model, holder=holder, now=now)
    if released:
        log.info("released %d leases held by %s", released, holder)
    return released
