"""The asset mirror: completed tasks' result images, copied before their URLs expire.

Providers' result URLs expire (APIMart after 24 h, others after hours to days); a
completed task whose images were not copied is a lost result. :meth:`Mirror.mirror_once`
is one bounded pass (the APScheduler ``mirror`` job only calls it; tests call it
directly):

1. claim due asset rows with a lease (``storage.claims.claim_due``; the rows are
   written with the ``task.completed`` event, see :class:`receiver.writes.Fanout`), so
   any number of workers share the work without downloading an image twice;
2. download each (at most ``assets_concurrency`` at once) under the rules of
   :mod:`receiver.assets.fetch`, into a staging file, and hand it to the store
   (:mod:`receiver.assets.store`) under ``<task id>/<n>.<ext>``;
3. record the outcome: stored (source URL, path, content type, size, sha256, pixel
   size, time), refused with the reason (final), or failed and rescheduled with
   backoff until the URL's expiry (:mod:`receiver.assets.schedule`);
4. when the last image of a task is stored, set the task's ``asset_urls`` and write
   ``task.assets_ready`` in the same transaction. The task row is locked first, so
   two workers storing a task's last two images decide "all stored" one after the
   other and exactly one event is written.

Idempotent: a stored image is never claimed again, a re-download after a crash
replaces the same key atomically, and no event is written twice. Nothing in a pass
raises for one bad image: every exception, in the download or in recording it, is
recorded on that image, which is retried on its own schedule.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlmodel import col, select

from receiver import clock
from receiver.assets.fetch import Fetched, FetchPolicy, fetch_image
from receiver.assets.schedule import AssetStatus, RetryPolicy, next_attempt, retry_deadline
from receiver.assets.store import AssetStore, asset_key
from receiver.errors import AssetError, AssetFetchFailedError, AssetRefusedError
from receiver.events import record_event
from receiver.leases import renewing
from receiver.lifecycle import EventType
from receiver.settings import AssetsSettings
from storage.claims import claim_due_rows, worker_id
from storage.engine import SessionFactory
from storage.models import Asset, Task

log = logging.getLogger(__name__)

PENDING = AssetStatus.PENDING.value
STORED = AssetStatus.STORED.value


@dataclass
class MirrorReport:
    """What one pass did; tests read it, the scheduler ignores it."""

    claimed: int = 0
    stored: int = 0
    refused: int = 0
    retrying: int = 0
    failed: int = 0
    tasks_ready: int = 0


class Mirror:
    def __init__(
        self,
        sessions: SessionFactory,
        http: httpx.AsyncClient,
        store: AssetStore,
        settings: AssetsSettings,
        *,
        public_url: str,
        holder: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._http = http
        self._store = store
        self._settings = settings
        self._public_url = public_url
        self._holder = holder or worker_id()
        self._rng = rng or random.Random()
        self._fetch_policy = FetchPolicy(
            max_bytes=settings.max_bytes,
            timeout_seconds=settings.timeout_seconds,
        )
        self._retry_policy = RetryPolicy(
            first=settings.retry_first_seconds, maximum=settings.retry_max_seconds
        )
        self._horizon = timedelta(seconds=settings.retry_horizon_seconds)
        self._lease = timedelta(seconds=settings.lease_seconds)

    async def mirror_once(self) -> MirrorReport:
        report = MirrorReport()
        if not self._settings.mirror:
            return report
        claimed = await self._claim(clock.utcnow())
        report.claimed = len(claimed)
        limit = asyncio.Semaphore(self._settings.concurrency)

        async def one(asset: Asset) -> None:
            async with limit:
                await self._mirror(asset, report)

        keys = [asset.id for asset in claimed]
        async with renewing(self._sessions, Asset, keys, holder=self._holder, lease=self._lease):
            outcomes = await asyncio.gather(
                *(one(asset) for asset in claimed), return_exceptions=True
            )
        for asset, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, Exception):  # its lease expires; the others are done
                log.error(
                    "mirroring %s image %d failed", asset.task_id, asset.position, exc_info=outcome
                )
        return report

    async def _claim(self, now: datetime) -> Sequence[Asset]:
        lease = self._lease
        async with self._sessions() as session, session.begin():
            return await claim_due_rows(
                session,
                Asset,
                due_column="next_attempt_at",
                now=now,
                holder=self._holder,
                lease=lease,
                limit=self._settings.batch_size,
            )

    async def _mirror(self, asset: Asset, report: MirrorReport) -> None:
        staged = self._store.staging_file()
        try:
            fetched = await fetch_image(self._http, asset.source_url, staged, self._fetch_policy)
            key = asset_key(asset.task_id, asset.position, fetched.info.extension)
            await self._store.put(key, fetched.staged)
        except AssetError as exc:
            await self._record_problem_logged(asset, exc, report)
            return
        except Exception as exc:  # a bug or a full disk: keep it on the image, retry
            log.exception(
                "mirroring %s image %d failed unexpectedly", asset.task_id, asset.position
            )
            problem = AssetFetchFailedError("internal", f"{type(exc).__name__}: {exc}")
            await self._record_problem_logged(asset, problem, report)
            return
        finally:
            staged.unlink(missing_ok=True)
        try:
            await self._record_stored(asset, fetched, key, report)
        except Exception as exc:  # this image's problem: retried on its schedule
            log.exception("recording %s image %d failed", asset.task_id, asset.position)
            problem = AssetFetchFailedError(
                "internal", f"not recorded: {type(exc).__name__}: {exc}"
            )
            await self._record_problem_logged(asset, problem, report)

    async def _record_stored(
        self, claimed: Asset, fetched: Fetched, key: str, report: MirrorReport
    ) -> None:
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            # Task first: it serialises "are all of this task's images stored?"
            task = await session.get(Task, claimed.task_id, with_for_update=True)
            asset = await session.get(Asset, claimed.id, with_for_update=True)
            if task is None or asset is None or not self._still_ours(asset):
                return
            asset.status = STORED
            asset.local_path = key
            asset.content_type = fetched.info.media_type
            asset.byte_size = fetched.byte_size
            asset.sha256 = fetched.sha256
            asset.width = fetched.info.width
            asset.height = fetched.info.height
            asset.downloaded_at = now
            asset.attempts += 1
            asset.error_code = asset.error_message = None
            self._finish(asset, now)
            session.add(asset)
            await session.flush()
            report.stored += 1
            log.info(
                "stored %s image %d (%d bytes, %dx%d)",
                asset.task_id,
                asset.position,
                fetched.byte_size,
                fetched.info.width,
                fetched.info.height,
            )
            siblings = (
                await session.exec(
                    select(Asset).where(col(Asset.task_id) == task.id).order_by(col(Asset.position))
                )
            ).all()
            if all(s.status == STORED for s in siblings) and not task.asset_urls:
                base = self._public_url
                task.asset_urls = [f"{base}/assets/{s.local_path}" for s in siblings]
                task.updated_at = now
                session.add(task)
                await record_event(session, task, EventType.ASSETS_READY, now)
                report.tasks_ready += 1

    async def _record_problem_logged(
        self, claimed: Asset, problem: AssetError, report: MirrorReport
    ) -> None:
        try:
            await self._record_problem(claimed, problem, report)
        except Exception:
            log.exception(
                "%s image %d: its failure (%s) could not be recorded; it is tried again "
                "when its lease expires",
                claimed.task_id,
                claimed.position,
                problem,
            )

    async def _record_problem(
        self, claimed: Asset, problem: AssetError, report: MirrorReport
    ) -> None:
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            asset = await session.get(Asset, claimed.id, with_for_update=True)
            if asset is None or not self._still_ours(asset):
                return
            asset.attempts += 1
            asset.error_code = problem.code
            asset.error_message = str(problem)
            retry_at = None
            if isinstance(problem, AssetFetchFailedError):
                deadline = retry_deadline(asset.expires_at, asset.created_at, self._horizon)
                retry_at = next_attempt(
                    asset.attempts, now, deadline, self._retry_policy, self._rng
                )
            if retry_at is not None:
                asset.next_attempt_at = retry_at
                asset.lease_holder = asset.lease_expires_at = None
                asset.updated_at = now
                report.retrying += 1
                log.warning(
                    "mirroring %s image %d failed (%s); retrying at %s",
                    asset.task_id,
                    asset.position,
                    problem,
                    retry_at.isoformat(),
                )
            else:
                refused = isinstance(problem, AssetRefusedError)
                asset.status = (AssetStatus.REFUSED if refused else AssetStatus.FAILED).value
                if not refused:
                    asset.error_message = f"gave up after {asset.attempts} attempts: {problem}"
                self._finish(asset, now)
                if refused:
                    report.refused += 1
                else:
                    report.failed += 1
                log.warning(
                    "%s image %d of %s: %s",
                    asset.status,
                    asset.position,
                    asset.task_id,
                    asset.error_message,
                )
            session.add(asset)

    def _still_ours(self, asset: Asset) -> bool:
        """False when our lease ran out and another worker took the image over."""
        return asset.status == PENDING and asset.lease_holder == self._holder

    @staticmethod
    def _finish(asset: Asset, now: datetime) -> None:
        """Out of the claim's index range for good."""
        asset.next_attempt_at = None
        asset.lease_holder = asset.lease_expires_at = None
        asset.updated_at = now
