"""Submitting jobs to providers, adopting tasks, receiver-only tasks, and reconciling
unconfirmed creates.

The order of writes is what makes a crash harmless:

1. the task row is committed as ``submitting`` (with the exact request and a lease
   naming this submitter) *before* the provider is called;
2. the provider's answer goes through the ingest path like any callback or poll
   (snapshot row, task change, event in one transaction).

A crash between 1 and 2, a timeout or a 5xx leaves a ``submitting`` task: the
provider may or may not have the job. :meth:`Submitter.reconcile_unconfirmed`
settles each such task by the rule of its provider (:mod:`receiver.settlement`):
resubmitted where the create is idempotent (API Mall, same ``Idempotency-Key``,
nothing is billed twice), left to its callback where one can still confirm it
(apimodels.app: the token in the URL names our task), failed with
``create_unconfirmed`` where nothing can (APIMart, after a grace period), unless
the operator accepted the risk of paying twice. A task that cannot be settled is
that task's problem: the others are still settled, and it is tried again on the
next pass. :meth:`Submitter.settle` is the operator's word on a task left
unconfirmed (``genhook tasks settle ID --failed|--resubmit``).

Idempotent submission. A submit may carry an ``Idempotency-Key`` (the Python client
always sends one): the task keeps it with a fingerprint of the request, and the same
key with the same request returns that task instead of creating (and paying for) a
second one; with a different request it is refused. The key is unique in the
database, so two concurrent retries cannot both insert.

Task webhooks. A submit may name a URL to call with that task's events
(:class:`TaskWebhook`): a subscriber scoped to the task, written in the same
transaction as the task, so the first event already reaches it, signed and retried
like any subscriber's.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from receiver import clock, fitting
from receiver.budgets import Budgets, seconds_to_next_day
from receiver.cadence import Cadence, first_poll_at
from receiver.delivery.subscribers import Subscribers
from receiver.errors import (
    AlreadyTrackedError,
    BudgetExceededError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    NoCallbacksError,
    NotSettleableError,
    SubmissionRefusedError,
    TaskNotFoundError,
    TrackRefusedError,
)
from receiver.ingest import Inbound, Ingestor, ingest_in_session
from receiver.lifecycle import Source, Status, TaskSnapshot
from receiver.params import Settlement
from receiver.providers.base import ProviderAdapter
from receiver.providers.errors import (
    ContentRejectedError,
    ProviderBadRequestError,
    ProviderCallError,
    ProviderNotFoundError,
    ProviderRejectedError,
    ProviderValidationError,
)
from receiver.providers.registry import get_adapter
from receiver.routes.costs import EMPTY_LEDGER, Ledger
from receiver.settlement import (
    UNCONFIRMED,
    UNCONFIRMED_CODE,
    Action,
    Rule,
    decide,
    failure,
    last_error,
)
from receiver.tokens import CallbackUrls
from receiver.wakeups import Topic
from storage.claims import claim_due_noting
from storage.engine import SessionFactory
from storage.models import Attempt, Subscriber, Task
from storage.wakeups import mark

log = logging.getLogger(__name__)

SUBMIT_LEASE = timedelta(seconds=120)
RECONCILE_BATCH = 100  # unconfirmed submissions one reconcile pass takes on


SETTLED_CODE = "settled_by_operator"


@dataclass(frozen=True, slots=True)
class TaskWebhook:
    """Where to send one task's events (a subscriber scoped to the task)."""

    url: str
    event_types: Sequence[str] = ()
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    provider: str
    model: str
    prompt: str
    params: Mapping[str, Any]
    webhook: TaskWebhook | None = field(default=None, kw_only=True)
    # A job for a route (receiver.routing): provider and model are then its first
    # target's, and the request kept is the route's (route, prompt, params).
    route: str | None = field(default=None, kw_only=True)

    def as_json(self) -> dict[str, Any]:
        if self.route is not None:
            return {"route": self.route, "prompt": self.prompt, "params": dict(self.params)}
        return {"model": self.model, "prompt": self.prompt, "params": dict(self.params)}

    def fingerprint(self) -> str:
        """A hash of everything the request asks for: equal for a retry of it."""
        hook = self.webhook
        document = {
            "provider": None if self.route is not None else self.provider,
            **self.as_json(),
            "webhook": None
            if hook is None
            else {"url": hook.url, "event_types": sorted(hook.event_types), "secret": hook.secret},
        }
        return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class CreatedCallbackUrl:
    task_id: str
    provider: str
    callback_url: str


class Submitter:
    def __init__(
        self,
        sessions: SessionFactory,
        adapters: Mapping[str, ProviderAdapter],
        ingestor: Ingestor,
        callback_urls: CallbackUrls,
        cadences: Mapping[str, Cadence],
        subscribers: Subscribers,
        rules: Mapping[str, Rule],
        *,
        deadline_seconds: float,
        budgets: Budgets | None = None,
        ledger: Ledger = EMPTY_LEDGER,
        holder: str = "submit",
        reconcile_lease_seconds: float = 20,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._adapters = adapters
        self._ingestor = ingestor
        self._callback_urls = callback_urls
        self._cadences = cadences
        self._subscribers = subscribers
        self._rules = rules
        self._budgets = budgets or Budgets({}, ledger)
        self._ledger = ledger
        self._deadline = timedelta(seconds=deadline_seconds)
        self._holder = holder
        self._reconcile_lease = timedelta(seconds=reconcile_lease_seconds)
        self._rng = rng or random.Random()

    async def submit(self, request: SubmitRequest, *, idempotency_key: str | None = None) -> Task:
        """Create the task at the provider; returns the stored task.

        Raises :class:`SubmissionRefusedError` (after recording a failed task) when our
        validation refuses the request, :class:`InvalidRequestError` (recording
        nothing) for a value that could not be stored as given (an integer beyond 64
        bits, ``NaN``, nesting past :data:`receiver.fitting.MAX_JSON_DEPTH`...), and
        :class:`~receiver.errors.InvalidSubscriberError` (recording nothing) for an
        unusable webhook. Provider refusals are not raised: the task is returned
        ``failed`` with the provider's code and message. An unconfirmed create (the
        provider's answer was lost) is returned ``submitting``, with error code
        ``create_unconfirmed``.

        With an ``idempotency_key`` already used for the same request, the task it
        made is returned as it stands now and nothing is sent anywhere.
        """
        adapter = get_adapter(self._adapters, request.provider)
        check_storable(request)
        fingerprint = request.fingerprint()
        if idempotency_key is not None:
            earlier = await self.by_key(idempotency_key)
            if earlier is not None:
                return self._replayed(adapter, earlier, idempotency_key, request, fingerprint)
        webhook = await self.prepare_webhook(request)
        try:
            task = await self._insert(request, idempotency_key, fingerprint, webhook)
        except IntegrityError:  # a concurrent retry with the same key won the insert
            assert idempotency_key is not None
            earlier = await self.by_key(idempotency_key)
            if earlier is None:
                raise
            return self._replayed(adapter, earlier, idempotency_key, request, fingerprint)
        try:
            adapter.validate(request.model, {"prompt": request.prompt, **request.params})
        except ProviderValidationError as exc:
            await self.fail(task.id, request.provider, "invalid_request", str(exc))
            raise SubmissionRefusedError(task.id, str(exc), field=exc.field) from None
        return await self.create_at(adapter, task.id, request)

    async def prepare_webhook(self, request: SubmitRequest) -> Subscriber | None:
        hook = request.webhook
        if hook is None:
            return None
        return await self._subscribers.prepare(hook.url, hook.event_types, hook.secret)

    async def settle(self, task_id: str, settlement: Settlement) -> Task:
        """An operator settles an unconfirmed create: as failed, or by resubmitting it.

        Only a ``submitting`` task whose create is not in flight (its lease free or
        run out) qualifies; the task is leased to this submitter first, so a
        reconcile pass cannot resubmit it at the same moment. Resubmitting sends
        the stored request again with the same idempotency key: for providers whose
        create is not idempotent the operator asserts that the provider has no job.
        """
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            task = await session.get(Task, task_id, with_for_update=True)
            if task is None:
                raise TaskNotFoundError(task_id)
            if task.status != Status.SUBMITTING.value:
                raise NotSettleableError(
                    task_id, f"it is {task.status}; only an unconfirmed submission can be"
                )
            if task.lease_expires_at is not None and task.lease_expires_at > now:
                raise NotSettleableError(
                    task_id, f"its create is in flight ({task.lease_holder}); try again shortly"
                )
            if settlement is Settlement.RESUBMIT and task.request is None:
                raise NotSettleableError(task_id, "no request is stored to resubmit")
            task.lease_holder = self._holder
            task.lease_expires_at = now + SUBMIT_LEASE
            session.add(task)
            provider, stored = task.provider, task.request
        log.warning("task %s: an operator settles its unconfirmed create: %s", task_id, settlement)
        if settlement is Settlement.FAILED:
            await self.fail(
                task_id,
                provider,
                SETTLED_CODE,
                "an operator settled the unconfirmed create as failed",
            )
            return await self.reload(task_id)
        assert stored is not None
        request = await self._stored_request(task_id)
        return await self.create_at(get_adapter(self._adapters, provider), task_id, request)

    async def _stored_request(self, task_id: str) -> SubmitRequest:
        """What to send again for the task's current attempt: its own request, or for a
        routed task the current target's mapped one."""
        task = await self.reload(task_id)
        return stored_request(task)

    async def by_key(self, key: str) -> Task | None:
        async with self._sessions() as session:
            query = select(Task).where(Task.idempotency_key == key)
            return (await session.exec(query)).first()

    @staticmethod
    def _replayed(
        adapter: ProviderAdapter, earlier: Task, key: str, request: SubmitRequest, fingerprint: str
    ) -> Task:
        """The task a retried submit made, or the refusal the first try got."""
        if earlier.request_fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(key, earlier.id)
        try:
            adapter.validate(request.model, {"prompt": request.prompt, **request.params})
        except ProviderValidationError as exc:  # the same refusal, nothing recorded again
            raise SubmissionRefusedError(earlier.id, str(exc), field=exc.field) from None
        return earlier

    async def webhook_of(self, task_id: str) -> Subscriber | None:
        """The webhook given with the task's submission, if any."""
        found = await self._subscribers.list(task_id=task_id)
        return found[0] if found else None

    async def track(self, provider: str, provider_task_id: str, model: str | None) -> Task:
        """Adopt a task created elsewhere; refused when the provider does not know it, or
        when genhook follows it already."""
        adapter = get_adapter(self._adapters, provider)
        if await self._tracked(provider, provider_task_id):
            raise AlreadyTrackedError(provider, provider_task_id)
        snapshot: TaskSnapshot | None
        try:
            snapshot = await adapter.fetch(provider_task_id)
        except ProviderNotFoundError:
            raise TrackRefusedError(
                f"{provider} does not know task {provider_task_id!r}; nothing was adopted"
            ) from None
        except ProviderCallError as exc:
            if not exc.retryable:
                raise TrackRefusedError(f"{provider} refused the lookup: {exc}") from None
            log.warning("adopting %s/%s unchecked: %s", provider, provider_task_id, exc)
            snapshot = None
        now = clock.utcnow()
        task = Task(
            provider=provider,
            provider_task_id=provider_task_id,
            origin="track",
            model=model,
            status=Status.PENDING.value,
            created_at=now,
            updated_at=now,
            submitted_at=now,
            deadline_at=self._deadline_at(now),
            next_poll_at=now,  # adopted tasks are looked at right away
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(task)
                await session.flush()
                session.add(self._adopted_attempt(task, now))
                mark(session, Topic.TASKS)  # due for its first poll now
        except IntegrityError:  # adopted by someone else a moment ago
            raise AlreadyTrackedError(provider, provider_task_id) from None
        if snapshot is not None:
            await self._record(Inbound(task.id, provider, Source.POLL, snapshot))
        return await self.reload(task.id)

    async def callback_url(self, provider: str) -> CreatedCallbackUrl:
        """Receiver-only mode: the application submits the job itself and gives the
        provider this URL.

        The task is created ``pending`` with no provider task id; the first callback
        tells us the id (``lifecycle.apply`` fills it). No event is emitted at
        creation: nothing has happened at the provider yet that downstream systems
        could act on.
        """
        if not get_adapter(self._adapters, provider).has_callbacks:
            raise NoCallbacksError(provider)
        now = clock.utcnow()
        deadline = self._deadline_at(now)
        task = Task(
            provider=provider,
            origin="receiver",
            status=Status.PENDING.value,
            created_at=now,
            updated_at=now,
            deadline_at=deadline,
            # It cannot be polled before a callback tells us its provider task id, so
            # only its deadline wakes the poller (to expire it if no callback came).
            next_poll_at=deadline,
        )
        async with self._sessions() as session, session.begin():
            session.add(task)
            await session.flush()
            session.add(self._adopted_attempt(task, now))
        return CreatedCallbackUrl(
            task.id, provider, self._callback_urls.for_task(provider, task.id)
        )

    async def reconcile_unconfirmed(self) -> list[tuple[str, str]]:
        """Settle ``submitting`` tasks whose submitter is gone (lease free or expired).

        The pass first leases the tasks it takes on (``GENHOOK_RECONCILE_LEASE_SECONDS``,
        ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers reconciling at the same
        moment never settle, or resubmit, one task twice; a resubmitted create that is
        again unconfirmed keeps the lease until it runs out, so no other worker resends
        it right behind this one. Tasks that wait are given back at the end of the pass.

        Returns ``(task id, what was done)`` for each task acted on: ``resubmitted``,
        ``failed``, ``still unconfirmed`` (resubmitted, and again without an answer)
        or ``not settled: <why>``; tasks that wait (for a callback, or their grace
        period) are not listed.
        """
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            claimed = await claim_due_noting(
                session,
                Task,
                due_column=None,
                now=now,
                holder=self._holder,
                lease=self._reconcile_lease,
                limit=RECONCILE_BATCH,
                extra_filters=(
                    col(Task.status) == Status.SUBMITTING.value,
                    col(Task.reroute_at).is_(None),  # waiting for the rerouter, not unconfirmed
                ),
            )
            ids = [key for key, _ in claimed]
            stranded = (
                (
                    await session.exec(select(Task).where(col(Task.id).in_(ids)).order_by(Task.id))
                ).all()
                if ids
                else []
            )

        done: list[tuple[str, str]] = []
        waiting: list[str] = []
        for task in stranded:
            try:
                verdict = await self._settle_unconfirmed(task, now)
            except Exception as exc:  # this task's problem: the others are still settled
                log.exception("task %s: settling its unconfirmed create failed", task.id)
                verdict = f"not settled: {type(exc).__name__}: {exc}"
            if verdict is not None:
                done.append((task.id, verdict))
            else:
                waiting.append(task.id)
        if waiting:
            await self._give_back(waiting)
        return done

    async def _give_back(self, task_ids: list[str]) -> None:
        """Leases on tasks this pass took on and left waiting, free again."""
        async with self._sessions() as session, session.begin():
            await session.exec(
                update(Task)
                .where(col(Task.id).in_(task_ids), col(Task.lease_holder) == self._holder)
                .values(lease_holder=None, lease_expires_at=None)
            )

    async def _settle_unconfirmed(self, task: Task, now: datetime) -> str | None:
        rule = self._rules[task.provider]
        verdict = decide(
            rule,
            create_attempts=task.create_attempts,
            unconfirmed_since=task.updated_at,
            deadline=task.deadline_at,
            now=now,
        )
        if verdict.action is Action.WAIT:
            return None
        if verdict.action is Action.FAIL:
            snapshot = failure(rule, verdict, last_error(task.error_message), now)
            result = await self._ingestor.record(
                Inbound(task.id, task.provider, Source.SUBMIT, snapshot)
            )
            log.warning("task %s failed as %s: %s", task.id, UNCONFIRMED_CODE, verdict.reason)
            return "failed" if result.event_id else None
        if task.request is None:
            return None  # nothing to resubmit (cannot happen for a task we submitted)
        adapter = get_adapter(self._adapters, task.provider)
        request = stored_request(task)
        if not await self._count_attempt(task.id):
            return None  # settled meanwhile (a callback, another worker)
        log.info("task %s: resubmitting its unconfirmed create: %s", task.id, verdict.reason)
        created = await self.create_at(adapter, task.id, request, hold=self._reconcile_lease)
        return _reconcile_verdict(created)

    async def _count_attempt(self, task_id: str) -> bool:
        """One more create is about to be sent; False if the task is no longer ours to."""
        async with self._sessions() as session, session.begin():
            task = await session.get(Task, task_id, with_for_update=True)
            if task is None or task.status != Status.SUBMITTING.value:
                return False
            held_by_other = task.lease_holder != self._holder
            if held_by_other and task.lease_expires_at and task.lease_expires_at > clock.utcnow():
                return False
            task.create_attempts += 1
            task.lease_holder = self._holder
            task.lease_expires_at = clock.utcnow() + SUBMIT_LEASE
            session.add(task)
        return True

    async def _tracked(self, provider: str, provider_task_id: str) -> bool:
        async with self._sessions() as session:
            query = select(Task.id).where(
                Task.provider == provider, Task.provider_task_id == provider_task_id
            )
            return (await session.exec(query)).first() is not None

    async def _record(self, inbound: Inbound) -> None:
        """Through the shared writer, which tells the dispatcher about its events."""
        await self._ingestor.record(inbound)

    async def _insert(
        self,
        request: SubmitRequest,
        idempotency_key: str | None,
        fingerprint: str,
        webhook: Subscriber | None,
    ) -> Task:
        now = clock.utcnow()
        task = Task(
            provider=request.provider,
            origin="submit",
            model=request.model,
            request=request.as_json(),
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            status=Status.SUBMITTING.value,
            created_at=now,
            updated_at=now,
            deadline_at=self._deadline_at(now),
            next_poll_at=self._deadline_at(now),  # until confirmed, only the deadline wakes it
            lease_holder=self._holder,
            lease_expires_at=now + SUBMIT_LEASE,
            create_attempts=1,
        )
        async with self._sessions() as session, session.begin():
            images = requested_images(request.params)
            verdict = await self._budgets.check(
                session, request.provider, request.model, images, now
            )
            if not verdict.allowed:
                raise BudgetExceededError(
                    verdict.reason(request.provider, self._budgets.unit(request.provider)),
                    provider=request.provider,
                    retry_after=seconds_to_next_day(now),
                )
            session.add(task)
            await session.flush()  # the task row first: the attempt and webhook refer to it
            session.add(self.attempt_row(task.id, 1, request, verdict.estimate or None, now))
            if webhook is not None:
                webhook.task_id = task.id
                session.add(webhook)
        return task

    def _adopted_attempt(self, task: Task, now: datetime) -> Attempt:
        """Attempt 1 of a task genhook did not send: the ledger counts it all the same."""
        return Attempt(
            task_id=task.id,
            number=1,
            provider=task.provider,
            model=task.model,
            provider_task_id=task.provider_task_id,
            cost_unit=self._budgets.unit(task.provider),
            started_at=now,
        )

    def attempt_row(
        self,
        task_id: str,
        number: int,
        request: SubmitRequest,
        estimate: float | None,
        now: datetime,
    ) -> Attempt:
        """A new attempt's ledger row, before its create is sent."""
        return Attempt(
            task_id=task_id,
            number=number,
            provider=request.provider,
            model=request.model,
            estimate=estimate,
            cost_unit=self._budgets.unit(request.provider),
            started_at=now,
        )

    async def create_at(
        self,
        adapter: ProviderAdapter,
        task_id: str,
        request: SubmitRequest,
        *,
        hold: timedelta | None = None,
        routed: bool = False,
    ) -> Task:
        """Send the create; ``hold``: keep an unconfirmed task leased that long (the
        reconciler's resubmits), instead of leaving it to the reconciler at once.

        A ``routed`` task is never left unconfirmed: a create without an answer is a
        failed attempt, and the route's next target takes the job (a late result of
        this one is kept on its attempt)."""
        callback_url = (
            self._callback_urls.for_task(adapter.name, task_id) if adapter.has_callbacks else None
        )
        try:
            created = await adapter.create(
                request.model,
                request.prompt,
                request.params,
                idempotency_key=task_id,
                callback_url=callback_url,
            )
        except ProviderRejectedError as exc:
            await self.fail(
                task_id,
                adapter.name,
                exc.code or str(exc.status_code),
                exc.message,
                retry_elsewhere=not isinstance(exc, FAILS_EVERYWHERE),
            )
        except ProviderCallError as exc:
            if routed:
                code = UNCONFIRMED_CODE if exc.status_code is None else str(exc.status_code)
                await self.fail(task_id, adapter.name, code, str(exc), retry_elsewhere=True)
            else:
                await self._unconfirmed(task_id, adapter.name, exc, hold=hold)
        else:
            await self._confirm(task_id, adapter.name, created.provider_task_id, created.snapshot)
        return await self.reload(task_id)

    async def _confirm(
        self, task_id: str, provider: str, provider_task_id: str, snapshot: TaskSnapshot
    ) -> None:
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            task = await session.get(Task, task_id, with_for_update=True)
            assert task is not None
            task.submitted_at = task.submitted_at or now
            task.lease_holder = None
            task.lease_expires_at = None
            task.reroute_at = None
            task.next_poll_at = first_poll_at(
                self._cadences[provider], now, task.deadline_at, self._rng
            )
            if task.error_code == UNCONFIRMED_CODE:
                task.error_code = task.error_message = None
            session.add(task)
            inbound = Inbound(
                task_id,
                provider,
                Source.SUBMIT,
                _with_provider_id(snapshot, provider_task_id),
            )
            await ingest_in_session(session, inbound, ledger=self._ledger)

    async def fail(
        self,
        task_id: str,
        provider: str,
        code: str,
        message: str,
        *,
        retry_elsewhere: bool | None = None,
    ) -> None:
        """The current attempt failed before the provider took it (a routed task moves
        on when ``retry_elsewhere`` and a target is left: the lifecycle decides)."""
        snapshot = TaskSnapshot(
            state="failed",
            source=Source.SUBMIT,
            error_code=code,
            error_message=message,
            observed_at=clock.utcnow(),
            retry_elsewhere=retry_elsewhere,
        )
        await self._record(Inbound(task_id, provider, Source.SUBMIT, snapshot))

    async def _unconfirmed(
        self, task_id: str, provider: str, exc: ProviderCallError, *, hold: timedelta | None
    ) -> None:
        """The provider may or may not have the task: keep it ``submitting``.

        Its lease is released at once so the reconciler takes it on its next pass,
        unless ``hold`` keeps it with this (reconciling) holder for that long.
        """
        log.warning("task %s: %s: %s", task_id, UNCONFIRMED, exc)
        async with self._sessions() as session, session.begin():
            task = await session.get(Task, task_id, with_for_update=True)
            assert task is not None
            now = clock.utcnow()
            task.lease_holder = self._holder if hold is not None else None
            task.lease_expires_at = now + hold if hold is not None else None
            task.error_code = UNCONFIRMED_CODE
            task.error_message = f"{UNCONFIRMED}: {exc}"
            task.updated_at = clock.utcnow()
            session.add(task)

    async def reload(self, task_id: str) -> Task:
        async with self._sessions() as session:
            task = await session.get(Task, task_id)
        assert task is not None
        return task

    def _deadline_at(self, now: datetime) -> datetime:
        return now + self._deadline


def check_storable(request: SubmitRequest) -> None:
    """Refuse, before anything is written, a request whose values no column could hold:
    stored, they would fail every later read and event of the task."""
    problems = fitting.json_problems(request.as_json())
    if problems:
        where = problems[0].split(":", 1)[0]
        raise InvalidRequestError(
            f"{problems[0]}: a request can hold integers within 64 bits, finite numbers, "
            f"text without NUL characters and at most {fitting.MAX_JSON_DEPTH} levels of nesting",
            field=where,
        )


# Refusals another gateway would repeat: the request itself is at fault.
FAILS_EVERYWHERE = (ContentRejectedError, ProviderBadRequestError)


def stored_request(task: Task) -> SubmitRequest:
    """The request of the task's current attempt, as stored: a routed task's is its
    current target's (provider, model, params mapped for it)."""
    assert task.request is not None
    if task.route_plan:
        target = task.route_plan[task.attempt - 1]
        return SubmitRequest(
            target["provider"], target["model"], task.request["prompt"], target["params"]
        )
    return SubmitRequest(
        task.provider, task.request["model"], task.request["prompt"], task.request.get("params", {})
    )


def requested_images(params: Mapping[str, Any]) -> int:
    """How many images a request asks for, whatever the gateway calls the field."""
    for name in ("num_images", "n"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def _reconcile_verdict(task: Task) -> str:
    if task.status == Status.SUBMITTING.value:
        return "still unconfirmed"
    return "failed" if task.status == Status.FAILED.value else "resubmitted"


def _with_provider_id(snapshot: TaskSnapshot, provider_task_id: str) -> TaskSnapshot:
    if snapshot.provider_task_id == provider_task_id:
        return snapshot
    return replace(snapshot, provider_task_id=provider_task_id)
