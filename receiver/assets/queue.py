"""Noting a completed task's result images as assets to mirror. No I/O but the session.

:func:`enqueue_assets` runs inside :func:`receiver.events.record_event` when a
``task.completed`` event is written, in that same transaction, so a completed task
and its "images to keep" commit together: a crash cannot leave a completed task
whose images nobody will fetch. The rows are written whether or not mirroring is
switched on (a few bytes per image); with it off nothing claims them, and turning it
on later catches up with every image whose URL has not expired yet.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from receiver.assets.schedule import AssetStatus
from storage.models import Asset, Task

log = logging.getLogger(__name__)

# Gateways return one to six images; a longer list is a provider bug, not a result.
MAX_IMAGES_PER_TASK = 100


async def enqueue_assets(session: AsyncSession, task: Task, now: datetime) -> list[Asset]:
    """One pending asset per result URL of ``task``, due now.

    No read first: this is on the ingest hot path, and the lifecycle emits
    ``task.completed`` at most once per task; the unique (task, position)
    constraint backs that up.
    """
    urls = list(task.result_urls)[:MAX_IMAGES_PER_TASK]
    if len(task.result_urls) > MAX_IMAGES_PER_TASK:
        log.warning(
            "task %s has %d result URLs; mirroring the first %d",
            task.id,
            len(task.result_urls),
            MAX_IMAGES_PER_TASK,
        )
    if not urls:
        return []
    added = []
    for position, url in enumerate(urls):
        asset = Asset(
            task_id=task.id,
            position=position,
            source_url=url,
            status=AssetStatus.PENDING.value,
            next_attempt_at=now,
            expires_at=task.result_expires_at,
            created_at=now,
            updated_at=now,
        )
        session.add(asset)
        added.append(asset)
    return added
